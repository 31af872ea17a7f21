//! `OutlierIForest`: Isolation Forest (Liu, Ting and Zhou 2008), as
//! scikit-learn's `IsolationForest`.
//!
//! Each tree is grown on a subsample of `psi = min(max_samples, rows)`
//! training rows drawn without replacement, with random axis-parallel
//! splits, until a row is alone, all its node's rows are equal, or the depth
//! limit (`ceil(log2 psi)` by default) is reached. Anomalies are isolated
//! in few splits, so a short mean path means an outlier:
//! `s(x) = 2^(-E[h(x)] / c(psi))`, `h(x)` the depth of the leaf `x` reaches
//! plus `c(leaf size)`, `c` the average path length
//! ([`average_path_length`]). Scores lie in (0, 1]; higher = more anomalous
//! (scikit-learn's `-score_samples`).
//!
//! No standardization: a split value is drawn uniformly between a feature's
//! minimum and maximum on the node, so the trees do not depend on the
//! columns' scales. Runs on the host; the file stores the trees' nodes
//! (at most `2 psi - 1` per tree, 20 bytes each), not the training rows.

mod tree;

use std::path::Path;

use ndarray::{Array1, ArrayView2};
use serde::{Deserialize, Serialize};
use tch::Device;

use super::api::{Detector, DetectorKind, PredictConfig, Scores};
use super::registered::{self, Registered};
use super::runtime::{self, DetectorState};
use crate::error::{OddityError, Result};
use crate::math::rng;
use crate::persist::{self, NamedArray, Record};
use crate::train::config::{FitConfig, TrainReport};
use crate::validate::check_features;
pub use tree::average_path_length;
use tree::Forest;

/// Largest `n_trees` accepted: far beyond any use (scores settle within a
/// few hundred trees), small enough that a forged config cannot ask for
/// an absurd forest.
const MAX_TREES: usize = 100_000;
/// Largest `max_samples` (and `max_depth`) accepted: 16.7 million rows per
/// tree, beyond which a forest is a poor fit for its memory anyway.
const MAX_SAMPLES: usize = 1 << 24;

/// Isolation Forest's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IForestConfig {
    /// Input width.
    pub n_features: usize,
    /// Trees in the forest (scikit-learn's default 100).
    pub n_trees: usize,
    /// Rows per tree's subsample, at most the training rows (scikit-learn's
    /// default 256: small subsamples isolate anomalies best, Liu et al.).
    pub max_samples: usize,
    /// Depth limit; `None` is `ceil(log2(subsample size))`, the paper's and
    /// scikit-learn's choice.
    pub max_depth: Option<usize>,
}

impl Default for IForestConfig {
    fn default() -> Self {
        IForestConfig { n_features: 0, n_trees: 100, max_samples: 256, max_depth: None }
    }
}

impl IForestConfig {
    /// The defaults for `n_features` columns.
    pub fn new(n_features: usize) -> Self {
        IForestConfig { n_features, ..Default::default() }
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<()> {
        // u32::MAX marks a leaf in the stored `feature` array.
        if self.n_features == 0 || self.n_features > crate::validate::bounds::MAX_FEATURES {
            return Err(OddityError::param(
                "n_features",
                format!("must be in 1..={}, got {}", crate::validate::bounds::MAX_FEATURES, self.n_features),
            ));
        }
        if self.n_trees == 0 || self.n_trees > MAX_TREES {
            return Err(OddityError::param("n_trees", format!("must be in 1..={MAX_TREES}, got {}", self.n_trees)));
        }
        if self.max_samples == 0 || self.max_samples > MAX_SAMPLES {
            return Err(OddityError::param(
                "max_samples",
                format!("must be in 1..={MAX_SAMPLES}, got {}", self.max_samples),
            ));
        }
        // Every tree of psi rows has at most 2 psi - 1 nodes (20 bytes each).
        let nodes = (self.n_trees as u64).saturating_mul(2 * self.max_samples as u64);
        if nodes > crate::validate::bounds::MAX_PARAMETERS {
            return Err(OddityError::param(
                "n_trees",
                format!(
                    "{} trees of {} rows could hold {nodes} nodes, above the bound",
                    self.n_trees, self.max_samples
                ),
            ));
        }
        if let Some(d) = self.max_depth {
            if d == 0 || d > MAX_SAMPLES {
                return Err(OddityError::param("max_depth", format!("must be in 1..={MAX_SAMPLES}, got {d}")));
            }
        }
        Ok(())
    }

    /// The depth limit for subsamples of `psi` rows.
    fn depth_limit(&self, psi: usize) -> usize {
        self.max_depth.unwrap_or_else(|| tree::default_depth(psi))
    }
}

/// What the file stores beside the arrays.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct IForestExtra {
    /// Rows per tree's subsample: `min(max_samples, training rows)`.
    psi: usize,
}

/// The stored arrays, in the order they are written.
const ARRAYS: [&str; 6] = ["tree_offsets", "feature", "threshold", "left", "right", "size"];

/// Isolation Forest detector.
#[derive(Debug)]
pub struct OutlierIForest {
    cfg: IForestConfig,
    state: DetectorState,
    extra: IForestExtra,
    forest: Forest,
}

impl OutlierIForest {
    /// An unfitted detector. The forest runs on the host; `device` must be
    /// the CPU or `auto`.
    pub fn new(cfg: IForestConfig, device: crate::Device) -> Result<Self> {
        cfg.validate()?;
        runtime::host_only("OutlierIForest", device)?;
        Ok(OutlierIForest {
            cfg,
            state: DetectorState::default(),
            extra: IForestExtra::default(),
            forest: Forest::default(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &IForestConfig {
        &self.cfg
    }

    /// Loads a detector saved by [`Detector::save`]; fails if the file holds another kind.
    pub fn load(path: &Path, device: crate::Device) -> Result<Self> {
        registered::load_as(path, device)
    }
}

impl Detector for OutlierIForest {
    fn kind(&self) -> DetectorKind {
        Self::KIND
    }

    fn n_features(&self) -> usize {
        self.cfg.n_features
    }

    fn device(&self) -> Device {
        Device::Cpu
    }

    fn state(&self) -> &DetectorState {
        &self.state
    }

    fn state_mut(&mut self) -> &mut DetectorState {
        &mut self.state
    }

    /// Grows the forest. Of `cfg` only `seed` is used (the trees draw from
    /// their own stream of it); there is no training loop.
    fn fit(&mut self, x: ArrayView2<f32>, cfg: &FitConfig) -> Result<TrainReport> {
        let t0 = std::time::Instant::now();
        // Checked like every detector's, though only the seed is used.
        cfg.validate()?;
        check_features(&x, self.cfg.n_features, "training data")?;
        let n = x.nrows();
        let psi = self.cfg.max_samples.min(n);
        // Node indices are stored as u32, u32::MAX meaning none.
        if tree::max_nodes(self.cfg.n_trees, psi) >= tree::LEAF as u64 {
            return Err(OddityError::param(
                "n_trees",
                format!("{} trees on {psi}-row subsamples could need more nodes than a file indexes", self.cfg.n_trees),
            ));
        }
        let x = x.as_standard_layout();
        let data = x.as_slice().ok_or_else(|| OddityError::Numerical("training data is not contiguous".into()))?;
        let mut r = rng::rng(cfg.seed, rng::STREAM_FOREST);
        let limit = self.cfg.depth_limit(psi);
        self.forest = Forest::grow(data, n, self.cfg.n_features, self.cfg.n_trees, psi, limit, &mut r);
        self.extra = IForestExtra { psi };
        let report = TrainReport::without_training(
            n,
            t0.elapsed().as_secs_f64(),
            format!("IsolationForest: {} trees on {psi}-row subsamples; epoch settings are not used", self.cfg.n_trees),
        );
        self.state =
            DetectorState { fitted: true, threshold: None, scaler: None, report: Some(report.clone()), schema: None };
        Ok(report)
    }

    /// Instance scores only; `batch_size` does not matter (a row needs no
    /// more memory than its own walk).
    fn score_with(&self, x: ArrayView2<f32>, cfg: &PredictConfig) -> Result<Scores> {
        cfg.validate()?;
        runtime::check_score("OutlierIForest", &self.state, &x, self.cfg.n_features, cfg.first_row)?;
        let x = x.as_standard_layout();
        let scores = runtime::parallel_rows(&x.view(), |row| self.forest.score(row) as f32);
        Ok(Scores { instance: Array1::from(scores), feature: None })
    }

    fn record(&self) -> Result<Record> {
        let arrays = if self.state.fitted {
            let f = &self.forest;
            let nodes = f.feature.len();
            vec![
                NamedArray::u32("tree_offsets", &[f.offsets.len()], f.offsets.clone()),
                NamedArray::u32("feature", &[nodes], f.feature.clone()),
                NamedArray::f32("threshold", &[nodes], f.threshold.clone()),
                NamedArray::u32("left", &[nodes], f.left.clone()),
                NamedArray::u32("right", &[nodes], f.right.clone()),
                NamedArray::u32("size", &[nodes], f.size.clone()),
            ]
        } else {
            Vec::new()
        };
        self.state.record(Self::KIND.tag(), &self.cfg, &self.extra, arrays, Device::Cpu)
    }
}

impl Registered for OutlierIForest {
    const KIND: DetectorKind = DetectorKind::new("iforest", "OutlierIForest");
    const SUMMARY: &'static str =
        "Isolation Forest: short mean path to isolate a row by random splits = anomalous; no training loop.";
    type Config = IForestConfig;

    fn default_config(n_features: usize) -> IForestConfig {
        IForestConfig::new(n_features)
    }

    fn config_width(cfg: &IForestConfig) -> usize {
        cfg.n_features
    }

    fn build(cfg: IForestConfig, device: crate::Device) -> Result<Self> {
        Self::new(cfg, device)
    }

    fn from_file(f: &persist::DetectorFile, device: crate::Device) -> Result<Self> {
        let cfg: IForestConfig = f.config()?;
        let mut det = OutlierIForest::new(cfg, device).map_err(|e| f.invalid(e))?;
        det.state = DetectorState::from_file(f, det.cfg.n_features)?;
        DetectorState::expect_no_mixture(f)?;
        det.extra = f.extra()?;
        if det.state.scaler.is_some() {
            return Err(f.error("IsolationForest uses no standardization, but the file holds one"));
        }
        if !det.state.fitted {
            f.expect_arrays(&[])?;
            return Ok(det);
        }
        f.expect_arrays(&ARRAYS)?;
        let psi = det.extra.psi;
        if psi == 0 || psi > det.cfg.max_samples {
            return Err(f.error(format!("subsample size {psi} is outside 1..={}", det.cfg.max_samples)));
        }
        let offsets = f.u32s("tree_offsets", Some(&[det.cfg.n_trees as u64 + 1]))?;
        let nodes = offsets.last().map_or(0, |&n| n as u64);
        let shape = [nodes];
        let stored = Forest::with_nodes(
            offsets,
            f.u32s("feature", Some(&shape))?,
            f.f32s("threshold", Some(&shape))?,
            f.u32s("left", Some(&shape))?,
            f.u32s("right", Some(&shape))?,
            f.u32s("size", Some(&shape))?,
        );
        let limit = det.cfg.depth_limit(psi);
        det.forest = Forest::from_arrays(stored, det.cfg.n_trees, det.cfg.n_features, psi, limit)
            .map_err(|reason| f.error(format!("invalid forest: {reason}")))?;
        Ok(det)
    }
}
