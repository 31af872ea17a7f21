//! The forest itself: isolation trees grown on seeded subsamples, stored as
//! flat node arrays (the detector file's layout), checked when read back,
//! and walked to score a row.
//!
//! Nodes of every tree live in one set of arrays; tree `t` owns the nodes
//! `offsets[t]..offsets[t + 1]`, its root first. A node is a leaf when its
//! `feature` is [`LEAF`]; otherwise a row goes to `left` when
//! `row[feature] <= threshold` and to `right` otherwise (scikit-learn's
//! rule). `left` and `right` are indices into the same arrays, inside the
//! same tree and after their parent, so a walk always ends. `size` is the
//! number of subsample rows that reached the node.

use rand::seq::index::sample;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// `feature`, `left` and `right` of a leaf: no feature, no child.
pub(crate) const LEAF: u32 = u32::MAX;

/// scikit-learn's `FEATURE_THRESHOLD`: a smaller range counts as constant.
const FEATURE_THRESHOLD: f64 = 1e-7;

/// The Euler–Mascheroni constant, as scikit-learn's `np.euler_gamma`.
const EULER_GAMMA: f64 = 0.5772156649015329;

/// `c(n)`: the average path length of an unsuccessful search in a binary
/// search tree of `n` points, the depth a leaf holding `n` rows would still
/// have needed to isolate one of them (Liu et al. 2008, eq. 1), with
/// scikit-learn's `_average_path_length` conventions:
/// `2 (ln(n - 1) + γ) - 2 (n - 1) / n` for `n > 2`, 1 for `n = 2`, 0 below.
pub fn average_path_length(n: u64) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
        }
    }
}

/// The default depth limit for subsamples of `psi` rows: `ceil(log2(psi))`,
/// at least 1 (scikit-learn's `ceil(log2(max(psi, 2)))`), the depth of a
/// balanced tree; deeper paths belong to inliers, whose exact depth does not
/// matter (Liu et al. 2008, section 3).
pub(crate) fn default_depth(psi: usize) -> usize {
    psi.max(2).next_power_of_two().trailing_zeros() as usize
}

/// Upper bound on the nodes of `n_trees` trees on `psi` rows: a tree whose
/// leaves hold at least one row each has at most `2 psi - 1` nodes.
pub(crate) fn max_nodes(n_trees: usize, psi: usize) -> u64 {
    (n_trees as u64).saturating_mul((2 * psi as u64).saturating_sub(1))
}

/// A grown or loaded forest: the stored node arrays, and per leaf its path
/// length derived from them.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Forest {
    /// `[n_trees + 1]`: tree `t` owns nodes `offsets[t]..offsets[t + 1]`.
    pub offsets: Vec<u32>,
    /// Split feature, or [`LEAF`].
    pub feature: Vec<u32>,
    /// Split value; 0 for a leaf.
    pub threshold: Vec<f32>,
    /// Child for `row[feature] <= threshold`, or [`LEAF`].
    pub left: Vec<u32>,
    /// Child for `row[feature] > threshold`, or [`LEAF`].
    pub right: Vec<u32>,
    /// Subsample rows that reached the node.
    pub size: Vec<u32>,
    /// Per leaf, `depth + c(size)`: what a row ending there adds to its
    /// path length (0 for internal nodes). Derived, never stored, so a
    /// loaded forest scores exactly as the one that was saved.
    path: Vec<f64>,
    /// `c(psi)`, the normaliser of the mean path length.
    c_psi: f64,
}

/// Rows (indices into the training data) and the node they reach, waiting to
/// be split.
struct Pending {
    node: usize,
    lo: usize,
    hi: usize,
    depth: usize,
}

impl Forest {
    /// Grows `n_trees` trees, each on `psi` rows of `x` (`n` rows of `width`
    /// values, row-major) drawn without replacement, splitting no deeper
    /// than `limit`. The caller checks that the node count fits a `u32`
    /// ([`max_nodes`]) and that `1 <= psi <= n`.
    ///
    /// A node is split as scikit-learn's `ExtraTreeRegressor` with
    /// `max_features=1` does: features are tried in a random order until one
    /// is not constant on the node's rows; the split value is uniform in
    /// `[min, max)` of that feature there (a value that rounds to `max` in
    /// f32 becomes `min`, as in scikit-learn), so both children get rows. A
    /// node is a leaf when it holds one row, is at depth `limit`, or every
    /// feature is constant on it.
    pub(crate) fn grow(
        x: &[f32],
        n: usize,
        width: usize,
        n_trees: usize,
        psi: usize,
        limit: usize,
        rng: &mut ChaCha8Rng,
    ) -> Forest {
        let cap = max_nodes(n_trees, psi).min(1 << 20) as usize;
        let mut f = Forest {
            offsets: Vec::with_capacity(n_trees + 1),
            feature: Vec::with_capacity(cap),
            threshold: Vec::with_capacity(cap),
            left: Vec::with_capacity(cap),
            right: Vec::with_capacity(cap),
            size: Vec::with_capacity(cap),
            path: Vec::new(),
            c_psi: 0.0,
        };
        let mut features: Vec<usize> = (0..width).collect();
        let mut stack = Vec::new();
        f.offsets.push(0);
        for _ in 0..n_trees {
            let mut rows = sample(rng, n, psi).into_vec();
            stack.push(Pending { node: f.push_leaf(psi), lo: 0, hi: psi, depth: 0 });
            while let Some(p) = stack.pop() {
                if p.hi - p.lo <= 1 || p.depth >= limit {
                    continue;
                }
                let node_rows = &mut rows[p.lo..p.hi];
                let Some((feat, t)) = choose_split(x, width, node_rows, &mut features, rng) else { continue };
                // Partition: rows with x <= t first, the others after them.
                let (mut i, mut end) = (0, node_rows.len());
                while i < end {
                    if x[node_rows[i] * width + feat] <= t {
                        i += 1;
                    } else {
                        end -= 1;
                        node_rows.swap(i, end);
                    }
                }
                let mid = p.lo + i;
                let (l, r) = (f.push_leaf(mid - p.lo), f.push_leaf(p.hi - mid));
                f.feature[p.node] = feat as u32;
                f.threshold[p.node] = t;
                f.left[p.node] = l as u32;
                f.right[p.node] = r as u32;
                stack.push(Pending { node: r, lo: mid, hi: p.hi, depth: p.depth + 1 });
                stack.push(Pending { node: l, lo: p.lo, hi: mid, depth: p.depth + 1 });
            }
            f.offsets.push(f.feature.len() as u32);
        }
        f.derive(psi);
        f
    }

    /// Stored node arrays, unchecked: for [`Forest::from_arrays`] to check.
    pub(crate) fn with_nodes(
        offsets: Vec<u32>,
        feature: Vec<u32>,
        threshold: Vec<f32>,
        left: Vec<u32>,
        right: Vec<u32>,
        size: Vec<u32>,
    ) -> Forest {
        Forest { offsets, feature, threshold, left, right, size, path: Vec::new(), c_psi: 0.0 }
    }

    fn push_leaf(&mut self, size: usize) -> usize {
        self.feature.push(LEAF);
        self.threshold.push(0.0);
        self.left.push(LEAF);
        self.right.push(LEAF);
        self.size.push(size as u32);
        self.feature.len() - 1
    }

    /// A forest from stored arrays, checked so that scoring can neither
    /// loop nor index out of bounds: `n_trees` trees, each a tree rooted at
    /// its first node (every other node the child of exactly one earlier
    /// node of the same tree), split features below `n_features`, finite
    /// thresholds, sizes that add up from the leaves to `psi` at the root,
    /// no node deeper than `limit`. The error says what is wrong.
    pub(crate) fn from_arrays(
        mut f: Forest,
        n_trees: usize,
        n_features: usize,
        psi: usize,
        limit: usize,
    ) -> std::result::Result<Forest, String> {
        let nodes = f.feature.len();
        if [f.threshold.len(), f.left.len(), f.right.len(), f.size.len()].iter().any(|&l| l != nodes) {
            return Err("the node arrays differ in length".into());
        }
        if f.offsets.len() != n_trees + 1 || f.offsets.first() != Some(&0) {
            return Err(format!("tree_offsets must hold {} values starting at 0", n_trees + 1));
        }
        if f.offsets.windows(2).any(|w| w[0] >= w[1]) {
            return Err("tree_offsets are not strictly increasing (a tree without nodes)".into());
        }
        if f.offsets.last().map(|&o| o as usize) != Some(nodes) {
            return Err(format!("tree_offsets end at {:?}, not at the node count {nodes}", f.offsets.last()));
        }
        let mut has_parent = vec![false; nodes];
        let mut depth = vec![0usize; nodes];
        for (t, w) in f.offsets.windows(2).enumerate() {
            let (a, b) = (w[0] as usize, w[1] as usize);
            if f.size[a] as usize != psi {
                return Err(format!("tree {t}: the root holds {} rows, not the subsample size {psi}", f.size[a]));
            }
            for i in a..b {
                if i != a && !has_parent[i] {
                    return Err(format!("node {i} of tree {t} is no node's child"));
                }
                if depth[i] > limit {
                    return Err(format!("node {i} of tree {t} is at depth {}, beyond the limit {limit}", depth[i]));
                }
                if f.feature[i] == LEAF {
                    if f.left[i] != LEAF || f.right[i] != LEAF || f.threshold[i] != 0.0 {
                        return Err(format!("leaf {i} has children or a split value"));
                    }
                    if f.size[i] == 0 || f.size[i] as usize > psi {
                        return Err(format!("leaf {i} holds {} rows, outside 1..={psi}", f.size[i]));
                    }
                    continue;
                }
                if f.feature[i] as usize >= n_features {
                    return Err(format!("node {i} splits on feature {}, of {n_features}", f.feature[i]));
                }
                if !f.threshold[i].is_finite() {
                    return Err(format!("node {i} has a non-finite split value"));
                }
                let (l, r) = (f.left[i] as usize, f.right[i] as usize);
                if l == r || l <= i || r <= i || l >= b || r >= b {
                    return Err(format!("node {i}'s children {l}, {r} are not two later nodes of tree {t}"));
                }
                if has_parent[l] || has_parent[r] {
                    return Err(format!("node {i}'s children {l}, {r} have another parent"));
                }
                if f.size[i] as u64 != f.size[l] as u64 + f.size[r] as u64 {
                    return Err(format!(
                        "node {i} holds {} rows, its children {} and {}",
                        f.size[i], f.size[l], f.size[r]
                    ));
                }
                has_parent[l] = true;
                has_parent[r] = true;
                depth[l] = depth[i] + 1;
                depth[r] = depth[i] + 1;
            }
        }
        f.derive(psi);
        Ok(f)
    }

    /// The per-leaf path lengths and `c(psi)`. Depths are found in one pass
    /// because every child comes after its parent.
    fn derive(&mut self, psi: usize) {
        let mut depth = vec![0u32; self.feature.len()];
        self.path = vec![0.0; self.feature.len()];
        for i in 0..self.feature.len() {
            if self.feature[i] == LEAF {
                self.path[i] = depth[i] as f64 + average_path_length(self.size[i] as u64);
            } else {
                depth[self.left[i] as usize] = depth[i] + 1;
                depth[self.right[i] as usize] = depth[i] + 1;
            }
        }
        self.c_psi = average_path_length(psi as u64);
    }

    /// Number of trees.
    pub(crate) fn n_trees(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// `E[h(x)]`: the mean over the trees of the depth of the leaf `row`
    /// reaches plus `c(leaf size)`, summed in tree order.
    pub(crate) fn mean_path(&self, row: &[f32]) -> f64 {
        let mut total = 0.0;
        for &root in &self.offsets[..self.n_trees()] {
            let mut node = root as usize;
            while self.feature[node] != LEAF {
                let go_left = row[self.feature[node] as usize] <= self.threshold[node];
                node = if go_left { self.left[node] } else { self.right[node] } as usize;
            }
            total += self.path[node];
        }
        total / self.n_trees().max(1) as f64
    }

    /// The anomaly score `2^(-E[h(x)] / c(psi))`, in (0, 1], higher = more
    /// anomalous. With one-row subsamples `c(psi) = 0` and every row gets
    /// 0.5, as in scikit-learn.
    pub(crate) fn score(&self, row: &[f32]) -> f64 {
        if self.c_psi == 0.0 {
            return 0.5;
        }
        (-self.mean_path(row) / self.c_psi).exp2()
    }
}

/// The feature and value a node is split at, or `None` if every feature is
/// constant on its rows. `features` is any permutation of the feature
/// indices; it is shuffled in place (partial Fisher–Yates), so each feature
/// is tried at most once and the one chosen is uniform among the
/// non-constant ones.
fn choose_split(
    x: &[f32],
    width: usize,
    rows: &[usize],
    features: &mut [usize],
    rng: &mut ChaCha8Rng,
) -> Option<(usize, f32)> {
    for k in 0..width {
        let j = rng.random_range(k..width);
        features.swap(k, j);
        let feat = features[k];
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for &r in rows {
            let v = x[r * width + feat];
            lo = lo.min(v);
            hi = hi.max(v);
        }
        // scikit-learn's test: a feature is constant on the node when its
        // range is at most FEATURE_THRESHOLD (1e-7).
        if hi as f64 > lo as f64 + FEATURE_THRESHOLD {
            let u: f64 = rng.random();
            let t = (lo as f64 + u * (hi as f64 - lo as f64)) as f32;
            return Some((feat, if t >= lo && t < hi { t } else { lo }));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::rng::{rng, STREAM_FOREST};

    /// Rows of a fixed formula with some constant and duplicated columns.
    fn table(n: usize, w: usize) -> Vec<f32> {
        (0..n * w)
            .map(|k| {
                let (i, j) = ((k / w) as f64, (k % w) as f64);
                match k % w {
                    0 => 3.0,                       // constant
                    1 => ((i as usize) % 4) as f32, // few distinct values
                    _ => ((0.7 * i + 1.3 * j).sin() * (j + 1.0)) as f32,
                }
            })
            .collect()
    }

    fn grow(n: usize, w: usize, trees: usize, psi: usize, limit: usize, seed: u64) -> (Vec<f32>, Forest) {
        let x = table(n, w);
        let f = Forest::grow(&x, n, w, trees, psi, limit, &mut rng(seed, STREAM_FOREST));
        (x, f)
    }

    #[test]
    fn c_small_values() {
        assert_eq!(average_path_length(0), 0.0);
        assert_eq!(average_path_length(1), 0.0);
        assert_eq!(average_path_length(2), 1.0);
        let c3 = 2.0 * (2f64.ln() + 0.5772156649015329) - 4.0 / 3.0;
        assert!((average_path_length(3) - c3).abs() < 1e-15);
    }

    #[test]
    fn default_depth_is_ceil_log2() {
        for (psi, d) in [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (255, 8), (256, 8), (257, 9)] {
            assert_eq!(default_depth(psi), d, "psi {psi}");
        }
    }

    /// Every grown forest passes the loader's checks, with the same derived
    /// path lengths; the leaves partition each subsample.
    #[test]
    fn grown_forests_are_valid() {
        for (n, w, psi, limit) in [(300, 5, 256, 8), (40, 3, 40, 3), (10, 4, 10, 100), (1, 3, 1, 1)] {
            let (_, f) = grow(n, w, 7, psi, limit, 3);
            let again = Forest::from_arrays(f.clone(), 7, w, psi, limit).unwrap();
            assert_eq!(again, f);
            for t in f.offsets.windows(2) {
                let leaves: u32 =
                    (t[0]..t[1]).filter(|&i| f.feature[i as usize] == LEAF).map(|i| f.size[i as usize]).sum();
                assert_eq!(leaves as usize, psi);
            }
        }
    }

    /// Column 0 is constant and is never split on; with the limit beyond
    /// the subsample, every leaf holds one row or only equal rows.
    #[test]
    fn constant_features_are_skipped_and_full_trees_isolate() {
        let (n, w) = (12, 2);
        let x: Vec<f32> = (0..n).flat_map(|i| [3.0, (i / 2) as f32]).collect(); // pairs of equal rows
        let f = Forest::grow(&x, n, w, 5, n, 100, &mut rng(1, STREAM_FOREST));
        for i in 0..f.feature.len() {
            assert_ne!(f.feature[i], 0);
            if f.feature[i] == LEAF {
                assert_eq!(f.size[i], 2, "a leaf of two equal rows");
            }
        }
        // A fully constant table: every tree is one leaf.
        let c = vec![1.0f32; 20];
        let f = Forest::grow(&c, 10, 2, 4, 8, 3, &mut rng(1, STREAM_FOREST));
        assert_eq!(f.offsets, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn split_values_keep_both_children_non_empty() {
        // Two adjacent f32 values: the only split value is the smaller.
        let a = 1.0f32;
        let b = f32::from_bits(a.to_bits() + 1);
        let x = vec![a, b, a, b];
        let f = Forest::grow(&x, 4, 1, 20, 4, 8, &mut rng(9, STREAM_FOREST));
        for i in 0..f.feature.len() {
            if f.feature[i] != LEAF {
                assert_eq!(f.threshold[i], a);
            }
        }
    }

    #[test]
    fn the_checks_refuse_bad_structures() {
        let (_, f) = grow(60, 3, 2, 32, 5, 1);
        let ok = |f: Forest| Forest::from_arrays(f, 2, 3, 32, 5);
        assert!(ok(f.clone()).is_ok());
        let first_split = (0..f.feature.len()).find(|&i| f.feature[i] != LEAF).unwrap();
        let first_leaf = (0..f.feature.len()).find(|&i| f.feature[i] == LEAF).unwrap();
        let second_root = f.offsets[1] as usize;
        let mut bad: Vec<(&str, Forest)> = Vec::new();
        let mut m = f.clone();
        m.left[first_split] = first_split as u32; // a loop
        bad.push(("self loop", m));
        let mut m = f.clone();
        m.right[first_split] = m.left[first_split]; // one child twice
        bad.push(("same child", m));
        let mut m = f.clone();
        m.right[first_split] = second_root as u32; // into the next tree
        bad.push(("other tree", m));
        let mut m = f.clone();
        m.feature[first_split] = 3;
        bad.push(("feature", m));
        let mut m = f.clone();
        m.threshold[first_split] = f32::NAN;
        bad.push(("nan", m));
        let mut m = f.clone();
        m.size[first_leaf] += 1;
        bad.push(("sizes", m));
        let mut m = f.clone();
        m.left[first_leaf] = 0;
        bad.push(("leaf child", m));
        let mut m = f.clone();
        m.offsets[1] = m.offsets[2];
        bad.push(("empty tree", m));
        let mut m = f.clone();
        m.size.pop();
        bad.push(("lengths", m));
        for (what, m) in bad {
            assert!(ok(m).is_err(), "{what}");
        }
        // The same forest under a smaller depth limit (its trees reach 5).
        assert!(Forest::from_arrays(f.clone(), 2, 3, 32, 2).is_err());
        assert!(Forest::from_arrays(f.clone(), 3, 3, 32, 5).is_err());
        assert!(Forest::from_arrays(f, 2, 3, 31, 5).is_err());
    }
}
