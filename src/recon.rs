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
}
