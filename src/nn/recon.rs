//! Reconstruction features that AEGMM and VAEGMM append to the latent code.
//!
//! The default is `[LogMse, Cosine]`: the log of the row's reconstruction MSE
//! and the cosine similarity. Why not the paper's relative distance
//! `|x - x'| / |x|`? The paper fed min-max scaled, non-negative data, where
//! `|x|` is never small. On standardized (zero-centred) data, which is what
//! these detectors see, ordinary rows near the mean have `|x| ~ 0` and a huge
//! relative distance, while far-out anomalies have `|x| >> |x - x'|` and a
//! distance near 1: the feature ranks backwards. On KDD Cup '99 (Alibi's
//! protocol, 2 seeds, 15 epochs) AEGMM with `[RelativeEuclidean, Cosine]` had
//! ROC AUC 0.48; with `[LogMse, Cosine]` 1.000 (docs/results.md).
//!
//! Differences from Alibi Detect's `eucl_cosim_features`:
//! - cosine similarity is `+cos(x, x')` as in the DAGMM paper; Alibi feeds
//!   Keras' cosine *loss*, i.e. `-cos` (kept as [`ReconFeature::NegativeCosine`]);
//! - Alibi's call passes `-1` where `eps` belongs, giving
//!   `|x - x'| / (min(|x|,|x'|) - 1)` clipped to `[0, 100]`, which is 0 for small
//!   reconstructions and can make a whole batch's feature constant, its
//!   variance 0 and the loss NaN (kept as [`ReconFeature::AlibiRelative`] for
//!   comparison; our GMM jitter keeps even that finite).
//!
//! All features are safe on all-zero rows: the cosine is 0 and distances finite.

use serde::{Deserialize, Serialize};
use tch::Tensor;

/// One reconstruction feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconFeature {
    /// `|x - x'| / (|x| + eps)`, clipped to `[0, max_relative]`.
    RelativeEuclidean,
    /// `x . x' / max(|x| |x'|, eps)`.
    Cosine,
    /// `|x - x'|`, the plain reconstruction distance.
    Euclidean,
    /// `ln(mean((x - x')^2) + eps)`: the log of the row's reconstruction MSE,
    /// scale-free and well behaved for standardized (zero-centred) data.
    LogMse,
    /// Alibi Detect's relative distance as it actually computes it:
    /// `|x' - x| / (min(|x'|, |x|) - 1)` clipped to `[0, max_relative]`.
    /// For comparison with Alibi only.
    AlibiRelative,
    /// Keras' cosine *loss*, `-cos(x, x')`, as Alibi feeds it. For comparison only.
    NegativeCosine,
}

/// Which reconstruction features to compute, and their guards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReconFeatures {
    /// Features in output order.
    pub features: Vec<ReconFeature>,
    /// Denominator guard.
    pub eps: f64,
    /// Upper clip of the relative distance (as Alibi's `max_eucl`).
    pub max_relative: f64,
}

impl Default for ReconFeatures {
    fn default() -> Self {
        ReconFeatures { features: vec![ReconFeature::LogMse, ReconFeature::Cosine], eps: 1e-12, max_relative: 100.0 }
    }
}

impl ReconFeatures {
    /// Checks the settings: at least one feature, each at most once, and a
    /// positive finite `eps` and `max_relative`.
    pub fn validate(&self) -> crate::error::Result<()> {
        use crate::error::OddityError;
        if self.features.is_empty() {
            return Err(OddityError::param("recon.features", "needs at least one reconstruction feature"));
        }
        if self.features.len() > 16 {
            return Err(OddityError::param("recon.features", format!("{} features; at most 16", self.features.len())));
        }
        for (i, f) in self.features.iter().enumerate() {
            if self.features[..i].contains(f) {
                return Err(OddityError::param("recon.features", format!("{f:?} is listed twice")));
            }
        }
        crate::validate::check_positive("recon.eps", self.eps)?;
        crate::validate::check_positive("recon.max_relative", self.max_relative)
    }

    /// Number of output columns.
    pub fn len(&self) -> usize {
        self.features.len()
    }

    /// True if no features are computed.
    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// Features `[N, len]` of inputs `x [N, F]` and reconstructions `xr [N, F]`.
    pub fn compute(&self, x: &Tensor, xr: &Tensor) -> Tensor {
        let norm = |t: &Tensor| t.norm_scalaropt_dim(2.0, [-1i64].as_slice(), true);
        let nx = norm(x);
        let cos = || (x * xr).sum_dim_intlist(-1, true, None) / (&nx * norm(xr)).clamp_min(self.eps);
        let cols: Vec<Tensor> = self
            .features
            .iter()
            .map(|f| match f {
                ReconFeature::RelativeEuclidean => (norm(&(x - xr)) / (&nx + self.eps)).clamp(0.0, self.max_relative),
                ReconFeature::Cosine => cos(),
                ReconFeature::Euclidean => norm(&(x - xr)),
                ReconFeature::LogMse => ((x - xr).square().mean_dim(-1, true, None) + self.eps).log(),
                ReconFeature::AlibiRelative => {
                    (norm(&(xr - x)) / (nx.minimum(&norm(xr)) - 1.0)).clamp(0.0, self.max_relative)
                }
                ReconFeature::NegativeCosine => -cos(),
            })
            .collect();
        Tensor::cat(&cols, -1)
    }

    /// [`compute`](Self::compute) on the host, for a batch of `n` rows held
    /// feature-major (`x`, `xr`: `[F, n]`, one feature's values after the
    /// other). Writes `len()` feature columns of `n` values into `out`
    /// (`[len, n]`). Laid out this way every loop runs over contiguous rows,
    /// which the compiler vectorizes; used by the CPU scoring tail.
    pub(crate) fn columns(&self, x: &[f32], xr: &[f32], n: usize, out: &mut [f32]) {
        let f = x.len() / n.max(1);
        // Per row: |x|^2, |x'|^2, x.x', |x - x'|^2.
        let mut acc = vec![0f32; 4 * n];
        let (xx, rest) = acc.split_at_mut(n);
        let (rr, rest) = rest.split_at_mut(n);
        let (xq, dd) = rest.split_at_mut(n);
        for (a, b) in x.chunks_exact(n).zip(xr.chunks_exact(n)) {
            let sums = xx.iter_mut().zip(rr.iter_mut()).zip(xq.iter_mut()).zip(dd.iter_mut());
            for ((((xx, rr), xq), dd), (&p, &q)) in sums.zip(a.iter().zip(b)) {
                *xx += p * p;
                *rr += q * q;
                *xq += p * q;
                *dd += (p - q) * (p - q);
            }
        }
        let (eps, max_rel, inv_f) = (self.eps as f32, self.max_relative as f32, 1.0 / f as f32);
        for (col, feat) in out.chunks_exact_mut(n).zip(&self.features) {
            let rows = col.iter_mut().zip(xx.iter().zip(rr.iter())).zip(xq.iter().zip(dd.iter()));
            for ((o, (&xx, &rr)), (&xq, &dd)) in rows {
                let cos = || xq / nan_max(xx.sqrt() * rr.sqrt(), eps);
                *o = match feat {
                    ReconFeature::RelativeEuclidean => (dd.sqrt() / (xx.sqrt() + eps)).clamp(0.0, max_rel),
                    ReconFeature::Cosine => cos(),
                    ReconFeature::Euclidean => dd.sqrt(),
                    ReconFeature::LogMse => (dd * inv_f + eps).ln(),
                    ReconFeature::AlibiRelative => {
                        (dd.sqrt() / (nan_min(xx.sqrt(), rr.sqrt()) - 1.0)).clamp(0.0, max_rel)
                    }
                    ReconFeature::NegativeCosine => -cos(),
                };
            }
        }
    }
}

/// `max` that keeps a NaN, as libtorch's `clamp_min` does (`f32::max`
/// drops it).
fn nan_max(a: f32, b: f32) -> f32 {
    if a.is_nan() {
        a
    } else {
        a.max(b)
    }
}

/// `min` that keeps a NaN, as libtorch's `minimum` does.
fn nan_min(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else {
        a.min(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn all() -> ReconFeatures {
        use ReconFeature::*;
        let features = vec![RelativeEuclidean, Cosine, Euclidean, LogMse, AlibiRelative, NegativeCosine];
        ReconFeatures { features, ..Default::default() }
    }

    /// By hand: x = (3, 4), x' = (0, 4): |x - x'| = 3, |x| = 5, |x'| = 4, so
    /// relative 3/5, cos 16/20, MSE 9/2, Alibi's 3 / (min(5, 4) - 1) = 1.
    #[test]
    fn columns_by_hand() {
        let mut out = [0f32; 6];
        // One row, feature-major: x = (3, 4), x' = (0, 4).
        all().columns(&[3.0, 4.0], &[0.0, 4.0], 1, &mut out);
        let want = [0.6, 0.8, 3.0, 4.5f32.ln(), 1.0, -0.8];
        for (g, w) in out.iter().zip(want) {
            approx::assert_relative_eq!(*g, w, max_relative = 1e-6);
        }
    }

    /// The host column form agrees with the tensor form on random rows, an
    /// all-zero row and a perfect reconstruction.
    #[test]
    fn columns_match_compute() {
        let o = (Kind::Float, Device::Cpu);
        let x = Tensor::cat(&[Tensor::randn([40, 9], o), Tensor::zeros([1, 9], o), Tensor::ones([1, 9], o)], 0);
        let xr = Tensor::cat(&[Tensor::randn([40, 9], o), Tensor::zeros([1, 9], o), Tensor::ones([1, 9], o)], 0);
        let f = all();
        let want = Vec::<f32>::try_from(f.compute(&x, &xr).tr().contiguous().reshape([-1])).unwrap();
        let host = |t: &Tensor| Vec::<f32>::try_from(t.tr().contiguous().reshape([-1])).unwrap();
        let mut got = vec![0f32; 6 * 42];
        f.columns(&host(&x), &host(&xr), 42, &mut got);
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            let (feature, row) = (k / 42, k % 42);
            assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "row {row} feature {feature}: {g} vs {w}");
        }
    }
}
