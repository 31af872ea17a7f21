//! Drawing batches and splits from labelled data.
//!
//! [`create_outlier_batch`] follows Alibi Detect's `create_outlier_batch`
//! (the size of each group, when it samples with replacement, the final
//! shuffle), but draws from a [`ChaCha8Rng`] seeded with `seed`: the same seed
//! gives the same batch on every platform, yet not the rows numpy would pick.

use ndarray::{Array2, ArrayView2, Axis};
use rand::seq::{index, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{OddityError, Result};

/// Draw a shuffled batch of about `n_samples` rows of which `perc_outlier` % are outliers.
///
/// As in Alibi: `n_outlier = floor(perc_outlier * 0.01 * n_samples)` and
/// `n_normal = floor((100 - perc_outlier) * 0.01 * n_samples)` (so the batch can
/// be one row short of `n_samples`); with `n_samples == 1` a single coin flip with
/// probability `perc_outlier / 100` picks the group. Each group is sampled
/// without replacement unless more rows are asked for than it has. Returns the
/// rows and their outlier flags.
pub fn create_outlier_batch(
    x: ArrayView2<f32>,
    is_outlier: &[bool],
    n_samples: usize,
    perc_outlier: f64,
    seed: u64,
) -> Result<(Array2<f32>, Vec<bool>)> {
    if x.nrows() != is_outlier.len() {
        return Err(OddityError::param("is_outlier", format!("has {} flags for {} rows", is_outlier.len(), x.nrows())));
    }
    if !(0.0..=100.0).contains(&perc_outlier) {
        return Err(OddityError::param("perc_outlier", format!("must be in [0, 100], got {perc_outlier}")));
    }
    if n_samples == 0 {
        return Err(OddityError::param("n_samples", "must be at least 1"));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (n_outlier, n_normal) = if n_samples == 1 {
        let out = rng.random_bool(perc_outlier / 100.0);
        (usize::from(out), usize::from(!out))
    } else {
        let n = n_samples as f64;
        ((perc_outlier * 0.01 * n) as usize, ((100.0 - perc_outlier) * 0.01 * n) as usize)
    };

    let mut picked: Vec<(usize, bool)> = Vec::with_capacity(n_normal + n_outlier);
    for (flag, want) in [(false, n_normal), (true, n_outlier)] {
        if want == 0 {
            continue;
        }
        let pool: Vec<usize> = (0..is_outlier.len()).filter(|&i| is_outlier[i] == flag).collect();
        if pool.is_empty() {
            let group = if flag { "outlier" } else { "normal" };
            return Err(OddityError::param(
                "is_outlier",
                format!("{want} {group} rows asked for, but the data has none"),
            ));
        }
        if want > pool.len() {
            picked.extend((0..want).map(|_| (pool[rng.random_range(0..pool.len())], flag)));
        } else {
            picked.extend(index::sample(&mut rng, pool.len(), want).into_iter().map(|k| (pool[k], flag)));
        }
    }
    picked.shuffle(&mut rng);
    let rows: Vec<usize> = picked.iter().map(|&(i, _)| i).collect();
    Ok((select_rows(&x, &rows)?, picked.into_iter().map(|(_, f)| f).collect()))
}

/// Split row indices into sets of the given `fractions` (summing to 1), separately per class.
///
/// Each class is shuffled and cut at the rounded cumulative fractions, so every
/// set gets its share of each class (within one row); each set is then
/// shuffled. `[0.6, 0.2, 0.2]` gives train / validation / test index sets.
pub fn stratified_split(labels: &[bool], fractions: &[f64], seed: u64) -> Result<Vec<Vec<usize>>> {
    if labels.is_empty() {
        return Err(OddityError::EmptyInput("stratified_split: no labels".into()));
    }
    check_fractions(fractions)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut sets: Vec<Vec<usize>> = vec![Vec::new(); fractions.len()];
    for class in [false, true] {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        members.shuffle(&mut rng);
        let n = members.len() as f64;
        let mut start = 0;
        let mut cum = 0.0;
        for (k, f) in fractions.iter().enumerate() {
            cum += f;
            let end = if k + 1 == fractions.len() {
                members.len()
            } else {
                ((cum * n).round() as usize).clamp(start, members.len())
            };
            sets[k].extend_from_slice(&members[start..end]);
            start = end;
        }
    }
    for set in &mut sets {
        set.shuffle(&mut rng);
    }
    Ok(sets)
}

/// Random (not stratified) split of `0..n` into `(train, test)`, with `ceil(test_fraction * n)` test rows.
pub fn train_test_split(n: usize, test_fraction: f64, seed: u64) -> Result<(Vec<usize>, Vec<usize>)> {
    if n == 0 {
        return Err(OddityError::EmptyInput("train_test_split: n is 0".into()));
    }
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(OddityError::param("test_fraction", format!("must be in (0, 1), got {test_fraction}")));
    }
    let n_test = (test_fraction * n as f64).ceil() as usize;
    if n_test >= n {
        return Err(OddityError::param(
            "test_fraction",
            format!("{test_fraction} of {n} rows leaves no training rows"),
        ));
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let train = idx.split_off(n_test);
    Ok((train, idx))
}

/// The rows `idx` of `x`, in that order (repeats allowed); an index past the
/// last row is an error naming it.
pub fn select_rows(x: &ArrayView2<f32>, idx: &[usize]) -> Result<Array2<f32>> {
    if let Some(&bad) = idx.iter().find(|&&i| i >= x.nrows()) {
        return Err(OddityError::param("idx", format!("row {bad} is out of range for {} rows", x.nrows())));
    }
    Ok(x.select(Axis(0), idx))
}

fn check_fractions(fractions: &[f64]) -> Result<()> {
    if fractions.is_empty() {
        return Err(OddityError::param("fractions", "needs at least one fraction"));
    }
    if let Some(bad) = fractions.iter().find(|f| !(f.is_finite() && **f >= 0.0)) {
        return Err(OddityError::param("fractions", format!("each must be a number >= 0, got {bad}")));
    }
    let sum: f64 = fractions.iter().sum();
    if (sum - 1.0).abs() > 1e-6 {
        return Err(OddityError::param("fractions", format!("must sum to 1, got {sum}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use std::collections::HashSet;

    /// 100 rows, row i = [i, i]; rows 0..10 are outliers.
    fn data() -> (Array2<f32>, Vec<bool>) {
        let x = Array2::from_shape_fn((100, 2), |(i, _)| i as f32);
        let y = (0..100).map(|i| i < 10).collect();
        (x, y)
    }

    #[test]
    fn outlier_batch_sizes_follow_alibi() {
        let (x, y) = data();
        let (b, t) = create_outlier_batch(x.view(), &y, 50, 10.0, 0).unwrap();
        assert_eq!(b.nrows(), 50);
        assert_eq!(t.iter().filter(|&&o| o).count(), 5);
        // flags match the rows they came from, and without replacement rows are distinct
        for (row, &flag) in b.rows().into_iter().zip(&t) {
            assert_eq!(flag, row[0] < 10.0);
        }
        let distinct: HashSet<u32> = b.column(0).iter().map(|v| *v as u32).collect();
        assert_eq!(distinct.len(), 50);
        // floor of both parts: 33 % of 10 gives 3 outliers + 6 normals
        let (b, t) = create_outlier_batch(x.view(), &y, 10, 33.0, 0).unwrap();
        assert_eq!((b.nrows(), t.iter().filter(|&&o| o).count()), (9, 3));
    }

    #[test]
    fn outlier_batch_replaces_only_when_needed_and_is_seeded() {
        let (x, y) = data();
        let (b, t) = create_outlier_batch(x.view(), &y, 1000, 50.0, 7).unwrap();
        assert_eq!(b.nrows(), 1000);
        assert_eq!(t.iter().filter(|&&o| o).count(), 500);
        let (b2, t2) = create_outlier_batch(x.view(), &y, 1000, 50.0, 7).unwrap();
        assert_eq!((b, t), (b2, t2));
        let (b3, _) = create_outlier_batch(x.view(), &y, 1000, 50.0, 8).unwrap();
        let (b4, _) = create_outlier_batch(x.view(), &y, 1000, 50.0, 7).unwrap();
        assert_ne!(b3, b4);
        // the result is shuffled, not grouped
        let (_, t) = create_outlier_batch(x.view(), &y, 40, 50.0, 1).unwrap();
        assert!(t[..20].iter().any(|&o| !o) && t[..20].iter().any(|&o| o));
    }

    #[test]
    fn outlier_batch_single_sample_and_zero_percent() {
        let (x, y) = data();
        let (b, t) = create_outlier_batch(x.view(), &y, 1, 100.0, 3).unwrap();
        assert_eq!((b.nrows(), t), (1, vec![true]));
        let (_, t) = create_outlier_batch(x.view(), &y, 80, 0.0, 3).unwrap();
        assert!(t.iter().all(|&o| !o) && t.len() == 80);
    }

    #[test]
    fn outlier_batch_rejects_bad_input() {
        let (x, y) = data();
        for (n, p) in [(10, -1.0), (10, 100.5), (10, f64::NAN), (0, 5.0)] {
            let err = create_outlier_batch(x.view(), &y, n, p, 0).unwrap_err();
            assert!(matches!(err, OddityError::InvalidParameter { .. }), "{err}");
        }
        assert!(create_outlier_batch(x.view(), &y[..5], 10, 5.0, 0).is_err());
        let no_outliers = vec![false; 100];
        assert!(create_outlier_batch(x.view(), &no_outliers, 10, 50.0, 0).is_err());
    }

    #[test]
    fn stratified_split_keeps_class_shares() {
        let labels: Vec<bool> = (0..1000).map(|i| i % 10 == 0).collect();
        let sets = stratified_split(&labels, &[0.6, 0.2, 0.2], 42).unwrap();
        let sizes: Vec<usize> = sets.iter().map(Vec::len).collect();
        assert_eq!(sizes, [600, 200, 200]);
        let pos: Vec<usize> = sets.iter().map(|s| s.iter().filter(|&&i| labels[i]).count()).collect();
        assert_eq!(pos, [60, 20, 20]);
        let all: HashSet<usize> = sets.iter().flatten().copied().collect();
        assert_eq!(all.len(), 1000);
        assert_eq!(sets, stratified_split(&labels, &[0.6, 0.2, 0.2], 42).unwrap());
        // shuffled: not in increasing order
        assert!(sets[0].windows(2).any(|w| w[0] > w[1]));
    }

    #[test]
    fn stratified_split_rejects_bad_fractions() {
        let labels = [true, false, false];
        for f in [&[0.5, 0.6][..], &[][..], &[1.2, -0.2][..], &[f64::NAN, 1.0][..]] {
            let err = stratified_split(&labels, f, 0).unwrap_err();
            assert!(matches!(err, OddityError::InvalidParameter { .. }), "{err}");
        }
        assert!(matches!(stratified_split(&[], &[1.0], 0), Err(OddityError::EmptyInput(_))));
    }

    #[test]
    fn train_test_split_partitions() {
        let (train, test) = train_test_split(10, 0.25, 1).unwrap();
        assert_eq!((train.len(), test.len()), (7, 3));
        let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(train_test_split(10, 0.25, 1).unwrap(), (train, test));
        for f in [0.0, 1.0, -0.1, f64::NAN] {
            assert!(matches!(train_test_split(10, f, 0), Err(OddityError::InvalidParameter { .. })));
        }
        assert!(train_test_split(1, 0.5, 0).is_err());
    }

    #[test]
    fn select_rows_picks_in_order() {
        let (x, _) = data();
        let s = select_rows(&x.view(), &[5, 1, 5]).unwrap();
        assert!(select_rows(&x.view(), &[100]).is_err());
        assert_eq!(s.column(0).to_vec(), [5.0, 1.0, 5.0]);
    }
}
