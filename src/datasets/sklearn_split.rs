//! scikit-learn's stratified `train_test_split`, index for index.
//!
//! `sklearn_stratified_split(labels, 0.4, seed)` returns the same train and
//! test indices, in the same order, as scikit-learn's
//! `train_test_split(range(n), test_size=0.4, random_state=seed,
//! stratify=labels)` (StratifiedShuffleSplit over numpy's legacy
//! `RandomState`, a Mersenne Twister). So a table split here and a table
//! split by a Python benchmark (PyOD's, `../shared/peers/odds_suite.py`)
//! are the same rows, and figures compare row for row. Checked against
//! scikit-learn 1.9.1 and numpy 2.4.6 in `tests/sklearn_split.rs`.

use crate::error::{OddityError, Result};

/// numpy's legacy `RandomState(seed)`: MT19937 seeded with `init_genrand`.
struct Mt19937 {
    state: [u32; 624],
    pos: usize,
}

impl Mt19937 {
    fn new(seed: u32) -> Self {
        let mut state = [0u32; 624];
        state[0] = seed;
        for i in 1..624 {
            let prev = state[i - 1];
            state[i] = 1_812_433_253u32.wrapping_mul(prev ^ (prev >> 30)).wrapping_add(i as u32);
        }
        Mt19937 { state, pos: 624 }
    }

    fn next_u32(&mut self) -> u32 {
        if self.pos >= 624 {
            for i in 0..624 {
                let y = (self.state[i] & 0x8000_0000) | (self.state[(i + 1) % 624] & 0x7fff_ffff);
                let mut v = self.state[(i + 397) % 624] ^ (y >> 1);
                if y & 1 == 1 {
                    v ^= 0x9908_b0df;
                }
                self.state[i] = v;
            }
            self.pos = 0;
        }
        let mut y = self.state[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// numpy's `random_interval(max)`: uniform in `0..=max` by masked
    /// rejection.
    fn interval(&mut self, max: u32) -> u32 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        mask |= mask >> 1;
        mask |= mask >> 2;
        mask |= mask >> 4;
        mask |= mask >> 8;
        mask |= mask >> 16;
        loop {
            let v = self.next_u32() & mask;
            if v <= max {
                return v;
            }
        }
    }

    /// `RandomState.shuffle` of a 1-d array: Fisher-Yates from the end.
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.interval(i as u32) as usize;
            v.swap(i, j);
        }
    }

    /// `RandomState.permutation(n)`.
    fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        self.shuffle(&mut p);
        p
    }
}

/// scikit-learn's `_approximate_mode`: `n_draws` shared out over classes in
/// proportion to `counts`, the remainder to the largest fractional parts,
/// ties broken by the generator.
fn approximate_mode(counts: &[usize], n_draws: usize, rng: &mut Mt19937) -> Vec<usize> {
    let total: usize = counts.iter().sum();
    let continuous: Vec<f64> = counts.iter().map(|&c| c as f64 / total as f64 * n_draws as f64).collect();
    let mut floored: Vec<f64> = continuous.iter().map(|c| c.floor()).collect();
    let mut need = (n_draws as f64 - floored.iter().sum::<f64>()) as i64;
    if need > 0 {
        let remainder: Vec<f64> = continuous.iter().zip(&floored).map(|(c, f)| c - f).collect();
        let mut values = remainder.clone();
        values.sort_by(|a, b| b.total_cmp(a));
        values.dedup();
        for value in values {
            let inds: Vec<usize> = (0..remainder.len()).filter(|&i| remainder[i] == value).collect();
            let add_now = (inds.len() as i64).min(need) as usize;
            // rng.choice(inds, add_now, replace=False) = permutation(len)[:add_now]
            let chosen = rng.permutation(inds.len());
            for &k in &chosen[..add_now] {
                floored[inds[k]] += 1.0;
            }
            need -= add_now as i64;
            if need == 0 {
                break;
            }
        }
    }
    floored.iter().map(|&f| f as usize).collect()
}

/// The train and test indices scikit-learn's
/// `train_test_split(..., test_size, random_state=seed, stratify=labels)`
/// gives, in its order. `labels` are class ids (any `Ord` values: classes
/// are taken in sorted order, as `np.unique` does).
pub fn sklearn_stratified_split<L: Ord + Copy>(
    labels: &[L],
    test_size: f64,
    seed: u32,
) -> Result<(Vec<usize>, Vec<usize>)> {
    let n = labels.len();
    if !(test_size > 0.0 && test_size < 1.0) {
        return Err(OddityError::param("test_size", format!("must be in (0, 1), got {test_size}")));
    }
    let n_test = (test_size * n as f64).ceil() as usize;
    if n_test == 0 || n_test >= n {
        return Err(OddityError::param("test_size", format!("{test_size} of {n} rows leaves an empty part")));
    }
    let n_train = n - n_test;
    let mut classes: Vec<L> = labels.to_vec();
    classes.sort();
    classes.dedup();
    if classes.len() < 2 {
        return Err(OddityError::param("labels", "stratifying needs at least two classes"));
    }
    // Indices of each class in input order (a stable argsort of the labels).
    let class_indices: Vec<Vec<usize>> =
        classes.iter().map(|c| (0..n).filter(|&i| labels[i] == *c).collect()).collect();
    let counts: Vec<usize> = class_indices.iter().map(Vec::len).collect();
    if counts.iter().any(|&c| c < 2) || n_train < classes.len() || n_test < classes.len() {
        return Err(OddityError::param(
            "labels",
            "every class needs at least two rows, and each part at least one row per class",
        ));
    }
    let mut rng = Mt19937::new(seed);
    let n_i = approximate_mode(&counts, n_train, &mut rng);
    let remaining: Vec<usize> = counts.iter().zip(&n_i).map(|(c, k)| c - k).collect();
    let t_i = approximate_mode(&remaining, n_test, &mut rng);
    let (mut train, mut test) = (Vec::with_capacity(n_train), Vec::with_capacity(n_test));
    for (k, members) in class_indices.iter().enumerate() {
        let perm = rng.permutation(members.len());
        let shuffled: Vec<usize> = perm.iter().map(|&p| members[p]).collect();
        train.extend_from_slice(&shuffled[..n_i[k]]);
        test.extend_from_slice(&shuffled[n_i[k]..n_i[k] + t_i[k]]);
    }
    rng.shuffle(&mut train);
    rng.shuffle(&mut test);
    Ok((train, test))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first outputs of MT19937 seeded 5489 (the reference
    /// implementation's default seed): 3499211612, 581869302, 3890346734.
    #[test]
    fn mersenne_twister_matches_the_reference() {
        let mut r = Mt19937::new(5489);
        assert_eq!([r.next_u32(), r.next_u32(), r.next_u32()], [3_499_211_612, 581_869_302, 3_890_346_734]);
    }
}
