//! Rebalancing labelled data before supervised training: random
//! undersampling, random oversampling (with replacement) and SMOTE.
//!
//! Conventions, shared by every function here:
//! - `y[i]` labels row `i` of `x`; the *minority* class is the label with fewer
//!   rows (`true` when both have as many);
//! - `ratio` is the share the result should have, `n_minority / n_majority`
//!   **after** resampling, in (0, 1], as imbalanced-learn's float
//!   `sampling_strategy`. Row counts are rounded to the nearest integer:
//!   undersampling keeps `round(n_minority / ratio)` majority rows,
//!   oversampling and SMOTE grow the minority to `round(ratio * n_majority)`
//!   rows. A ratio that would need the other direction (fewer minority rows,
//!   more majority rows) is an error;
//! - draws come from a ChaCha8 generator seeded with `seed`: the same seed
//!   gives the same rows on every platform.
//!
//! For a stratified train/validation/test split use
//! [`crate::datasets::stratified_split`].

use ndarray::{Array2, ArrayView2, Axis};
use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{OddityError, Result};
use crate::validate::check_data;

/// Row indices of each class, after the input checks.
struct Classes {
    minority: bool,
    min_rows: Vec<usize>,
    maj_rows: Vec<usize>,
}

fn classes(x: &ArrayView2<f32>, y: &[bool], ratio: f64) -> Result<Classes> {
    check_data(x, "resampling input")?;
    if x.nrows() != y.len() {
        return Err(OddityError::param("y", format!("has {} labels for {} rows", y.len(), x.nrows())));
    }
    if !(ratio > 0.0 && ratio <= 1.0) {
        return Err(OddityError::param("ratio", format!("minority/majority must be in (0, 1], got {ratio}")));
    }
    let positives = y.iter().filter(|&&b| b).count();
    let minority = positives <= y.len() - positives;
    let (min_rows, maj_rows): (Vec<usize>, Vec<usize>) = (0..y.len()).partition(|&i| y[i] == minority);
    if min_rows.is_empty() {
        return Err(OddityError::param("y", "only one class present; resampling needs both"));
    }
    Ok(Classes { minority, min_rows, maj_rows })
}

/// Minority rows wanted after oversampling; an error if below the current count.
fn minority_target(c: &Classes, ratio: f64) -> Result<usize> {
    let target = (ratio * c.maj_rows.len() as f64).round() as usize;
    if target < c.min_rows.len() {
        return Err(OddityError::param(
            "ratio",
            format!(
                "{ratio} asks for {target} minority rows but there are already {} ({} majority); oversampling cannot remove rows",
                c.min_rows.len(),
                c.maj_rows.len()
            ),
        ));
    }
    Ok(target)
}

/// Keeps every minority row and `round(n_minority / ratio)` majority rows
/// drawn without replacement; the rows keep their original order.
pub fn random_undersample(x: ArrayView2<f32>, y: &[bool], ratio: f64, seed: u64) -> Result<(Array2<f32>, Vec<bool>)> {
    let c = classes(&x, y, ratio)?;
    let keep_majority = (c.min_rows.len() as f64 / ratio).round() as usize;
    if keep_majority > c.maj_rows.len() {
        return Err(OddityError::param(
            "ratio",
            format!(
                "{ratio} needs {keep_majority} majority rows but there are only {} ({} minority); undersampling cannot add rows",
                c.maj_rows.len(),
                c.min_rows.len()
            ),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rows: Vec<usize> = index::sample(&mut rng, c.maj_rows.len(), keep_majority)
        .into_iter()
        .map(|k| c.maj_rows[k])
        .chain(c.min_rows.iter().copied())
        .collect();
    rows.sort_unstable();
    let labels = rows.iter().map(|&i| y[i]).collect();
    Ok((x.select(Axis(0), &rows), labels))
}

/// Keeps every row and appends minority rows drawn uniformly with replacement
/// until the minority has `round(ratio * n_majority)` rows.
pub fn random_oversample(x: ArrayView2<f32>, y: &[bool], ratio: f64, seed: u64) -> Result<(Array2<f32>, Vec<bool>)> {
    let c = classes(&x, y, ratio)?;
    let extra = minority_target(&c, ratio)? - c.min_rows.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let drawn: Vec<usize> = (0..extra).map(|_| c.min_rows[rng.random_range(0..c.min_rows.len())]).collect();
    append(x, y, x.select(Axis(0), &drawn), c.minority)
}

/// SMOTE (Chawla et al., 2002): keeps every row and appends synthetic minority
/// rows until the minority has `round(ratio * n_majority)` rows.
///
/// Each synthetic row picks a minority row `a` uniformly, one of its `k`
/// nearest minority neighbours `b` (Euclidean, itself excluded, ties broken by
/// row order) uniformly, and a gap `u` uniform in [0, 1): the row is
/// `a + u (b - a)`, a point on the segment from `a` to `b`. `k` must be in
/// 1..=n_minority-1.
///
/// The neighbours are found by brute force: O(m² F) time and O(m k) memory
/// for m minority rows of F features, which is fine for a small minority
/// (m = 300, F = 30: under a millisecond; m = 10,000: a few seconds).
pub fn smote(x: ArrayView2<f32>, y: &[bool], ratio: f64, k: usize, seed: u64) -> Result<(Array2<f32>, Vec<bool>)> {
    let c = classes(&x, y, ratio)?;
    let m = c.min_rows.len();
    if k == 0 || k >= m {
        return Err(OddityError::param("k", format!("must be in 1..={} (minority rows - 1), got {k}", m - 1)));
    }
    let extra = minority_target(&c, ratio)? - m;
    let minority = x.select(Axis(0), &c.min_rows);
    let neighbours = nearest_neighbours(&minority.view(), k);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut synthetic = Array2::<f32>::zeros((extra, x.ncols()));
    for mut row in synthetic.rows_mut() {
        let a = rng.random_range(0..m);
        let b = neighbours[a * k + rng.random_range(0..k)];
        let u: f32 = rng.random();
        let (xa, xb) = (minority.row(a), minority.row(b));
        for ((dst, &va), &vb) in row.iter_mut().zip(xa.iter()).zip(xb.iter()) {
            *dst = va + u * (vb - va);
        }
    }
    append(x, y, synthetic, c.minority)
}

/// The `k` nearest other rows of each row of `x`, nearest first, as a flat
/// `[rows * k]` list of row indices. Squared distances are summed in f64.
fn nearest_neighbours(x: &ArrayView2<f32>, k: usize) -> Vec<usize> {
    let m = x.nrows();
    let mut out = Vec::with_capacity(m * k);
    let mut dist: Vec<(f64, usize)> = Vec::with_capacity(m);
    for i in 0..m {
        dist.clear();
        let xi = x.row(i);
        for j in (0..m).filter(|&j| j != i) {
            let d: f64 = xi.iter().zip(x.row(j).iter()).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum();
            dist.push((d, j));
        }
        let by_distance = |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        dist.select_nth_unstable_by(k - 1, by_distance);
        let nearest = &mut dist[..k];
        nearest.sort_unstable_by(by_distance);
        out.extend(nearest.iter().map(|&(_, j)| j));
    }
    out
}

/// `x` followed by `new` rows, all labelled `label`.
fn append(x: ArrayView2<f32>, y: &[bool], new: Array2<f32>, label: bool) -> Result<(Array2<f32>, Vec<bool>)> {
    let mut labels = y.to_vec();
    labels.resize(y.len() + new.nrows(), label);
    let rows =
        ndarray::concatenate(Axis(0), &[x.view(), new.view()]).map_err(|e| OddityError::Numerical(e.to_string()))?;
    Ok((rows, labels))
}
