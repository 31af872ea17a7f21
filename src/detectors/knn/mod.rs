//! `OutlierKNN`: the distance of a row to its k-th nearest training inlier
//! (or the mean of its k nearest distances), on standardized inputs; PyOD's
//! `KNN` with `method="largest"` / `"mean"`.
//!
//! Exact: the distances are batched matrix products on libtorch (CPU or
//! CUDA) in f64, `|q|² - 2 q·t + |t|²`, over chunks of the training rows with
//! a running top-k, so memory is bounded by the batch times the chunk, not
//! by the number of scored or training rows. The training rows (after
//! standardization) are stored in the detector file: rows x features x 4
//! bytes; `max_train_rows` keeps a seeded subsample of large training sets.

use std::path::Path;

use ndarray::{Array1, ArrayView2, Axis};
use rand::seq::index::sample;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use super::api::{Detector, DetectorKind, PredictConfig, Scores};
use super::registered::{self, Registered};
use super::runtime::{self, DetectorState};
use crate::error::{OddityError, Result};
use crate::math::rng;
use crate::math::scale::Standardizer;
use crate::persist::{self, NamedArray, Record};
use crate::train::config::{FitConfig, TrainReport};
use crate::validate::check_features;

/// How the k nearest distances make the score (PyOD's `method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KnnMethod {
    /// The distance to the k-th nearest training row.
    #[default]
    Largest,
    /// The mean distance to the k nearest training rows.
    Mean,
}

/// The KNN detector's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KnnConfig {
    /// Input width.
    pub n_features: usize,
    /// Neighbours (PyOD's default 5).
    pub k: usize,
    /// k-th distance or mean of the k distances.
    pub method: KnnMethod,
    /// Standardize with the training rows' mean and deviation (the suite's
    /// tables mix units; distances need comparable columns).
    pub standardize: bool,
    /// Keep at most this many training rows (a seeded subsample); `None`
    /// keeps all, which is exact but stores every row.
    pub max_train_rows: Option<usize>,
}

impl Default for KnnConfig {
    fn default() -> Self {
        KnnConfig { n_features: 0, k: 5, method: KnnMethod::Largest, standardize: true, max_train_rows: None }
    }
}

/// Largest k accepted; far beyond any use, small enough that a forged file
/// cannot ask for a huge top-k.
const MAX_K: usize = 10_000;

impl KnnConfig {
    /// The defaults for `n_features` columns.
    pub fn new(n_features: usize) -> Self {
        KnnConfig { n_features, ..Default::default() }
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<()> {
        if self.n_features == 0 {
            return Err(OddityError::param("n_features", "must be at least 1"));
        }
        if self.k == 0 || self.k > MAX_K {
            return Err(OddityError::param("k", format!("must be in 1..={MAX_K}, got {}", self.k)));
        }
        if let Some(m) = self.max_train_rows {
            if m < self.k {
                return Err(OddityError::param("max_train_rows", format!("{m} is fewer than k = {}", self.k)));
            }
        }
        Ok(())
    }
}

/// What the file stores beside the rows: how many training rows were seen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct KnnExtra {
    /// Training rows given to `fit`.
    n_seen: usize,
    /// Training rows kept (all, or the subsample).
    n_stored: usize,
}

/// k-nearest-neighbour distance detector.
#[derive(Debug)]
pub struct OutlierKNN {
    cfg: KnnConfig,
    device: Device,
    state: DetectorState,
    extra: KnnExtra,
    /// Stored training rows `[m, F]` (standardized if configured), f32 on
    /// the host as saved; `rows64` and `norms` are their f64 device copies.
    rows: Vec<f32>,
    rows64: Option<(Tensor, Tensor)>,
}

/// Query rows per distance block, and training rows per chunk: a block is
/// at most 1,024 x 4,096 f64 values (32 MiB) per worker.
const QUERY_BLOCK: i64 = 1024;
const TRAIN_CHUNK: i64 = 4096;

impl OutlierKNN {
    /// An unfitted detector on `device`.
    pub fn new(cfg: KnnConfig, device: crate::Device) -> Result<Self> {
        cfg.validate()?;
        let device = device.resolve()?;
        Ok(OutlierKNN {
            cfg,
            device,
            state: DetectorState::default(),
            extra: KnnExtra::default(),
            rows: Vec::new(),
            rows64: None,
        })
    }

    /// The settings.
    pub fn config(&self) -> &KnnConfig {
        &self.cfg
    }

    /// Loads a detector saved by [`Detector::save`]; fails if the file holds another kind.
    pub fn load(path: &Path, device: crate::Device) -> Result<Self> {
        registered::load_as(path, device)
    }

    /// Moves the stored rows to the device in f64, with their squared norms.
    fn upload(&mut self) -> Result<()> {
        let m = (self.rows.len() / self.cfg.n_features.max(1)) as i64;
        let t = Tensor::from_slice(&self.rows)
            .view([m, self.cfg.n_features as i64])
            .to_kind(Kind::Double)
            .to_device(self.device);
        let norms = t.square().sum_dim_intlist(1, false, Kind::Double);
        self.rows64 = Some((t, norms));
        Ok(())
    }

    fn load_file(f: &persist::DetectorFile, device: crate::Device) -> Result<Self> {
        let cfg: KnnConfig = f.config()?;
        let mut det = OutlierKNN::new(cfg, device).map_err(|e| f.invalid(e))?;
        det.state = DetectorState::from_file(f, det.cfg.n_features)?;
        det.extra = f.extra()?;
        if !det.state.fitted {
            f.expect_arrays(&[])?;
            return Ok(det);
        }
        f.expect_arrays(&["train_rows"])?;
        let shape = &f.entry("train_rows")?.shape;
        let m = det.extra.n_stored;
        if shape.len() != 2 || shape[1] != det.cfg.n_features as u64 || shape[0] != m as u64 {
            return Err(f.error(format!(
                "train_rows has shape {shape:?}; the detector has {m} rows of {} features",
                det.cfg.n_features
            )));
        }
        if m < det.cfg.k || det.extra.n_seen < m {
            return Err(f.error(format!("{m} stored rows for k = {} ({} seen)", det.cfg.k, det.extra.n_seen)));
        }
        if det.cfg.max_train_rows.is_some_and(|cap| m > cap) {
            return Err(f.error(format!("{m} stored rows exceed max_train_rows")));
        }
        det.rows = f.f32s("train_rows", None)?;
        det.upload().map_err(|e| f.invalid(e))?;
        Ok(det)
    }
}

/// The k smallest squared distances from each row of `q` `[B, F]` to the
/// rows of `t` `[M, F]` (`tn` their squared norms), sorted ascending: a
/// running top-k over chunks of `t`.
fn nearest_sq(q: &Tensor, t: &Tensor, tn: &Tensor, k: i64) -> Tensor {
    let m = t.size()[0];
    let qn = q.square().sum_dim_intlist(1, true, Kind::Double);
    let mut best: Option<Tensor> = None;
    let mut start = 0;
    while start < m {
        let len = TRAIN_CHUNK.min(m - start);
        let tc = t.narrow(0, start, len);
        let d = (q.matmul(&tc.tr()) * -2.0 + &qn + tn.narrow(0, start, len).unsqueeze(0)).clamp_min(0.0);
        let cand = match &best {
            Some(b) => Tensor::cat(&[b, &d], 1),
            None => d,
        };
        let kk = k.min(cand.size()[1]);
        best = Some(cand.topk(kk, 1, false, true).0);
        start += len;
    }
    best.unwrap_or_else(|| Tensor::zeros([q.size()[0], 0], (Kind::Double, q.device())))
}

impl Detector for OutlierKNN {
    fn kind(&self) -> DetectorKind {
        Self::KIND
    }

    fn n_features(&self) -> usize {
        self.cfg.n_features
    }

    fn device(&self) -> Device {
        self.device
    }

    fn state(&self) -> &DetectorState {
        &self.state
    }

    fn state_mut(&mut self) -> &mut DetectorState {
        &mut self.state
    }

    fn fit(&mut self, x: ArrayView2<f32>, cfg: &FitConfig) -> Result<TrainReport> {
        let t0 = std::time::Instant::now();
        check_features(&x, self.cfg.n_features, "training data")?;
        let n = x.nrows();
        if n < self.cfg.k {
            return Err(OddityError::param(
                "k",
                format!("k = {} needs at least {} training rows, got {n}", self.cfg.k, self.cfg.k),
            ));
        }
        let scaler = self.cfg.standardize.then(|| Standardizer::fit(&x));
        let keep: Vec<usize> = match self.cfg.max_train_rows {
            Some(cap) if cap < n => {
                let mut r = rng::rng(cfg.seed, rng::STREAM_SPLIT);
                let mut idx = sample(&mut r, n, cap).into_vec();
                idx.sort_unstable();
                idx
            }
            _ => (0..n).collect(),
        };
        let kept = x.select(Axis(0), &keep);
        let mut rows: Vec<f32> = kept.iter().copied().collect();
        if let Some(s) = &scaler {
            for row in rows.chunks_exact_mut(self.cfg.n_features) {
                for ((v, m), sd) in row.iter_mut().zip(&s.mean).zip(&s.std) {
                    *v = (*v - m) / sd;
                }
            }
        }
        self.rows = rows;
        self.extra = KnnExtra { n_seen: n, n_stored: keep.len() };
        self.upload()?;
        let note = format!(
            "KNN: stored {} of {n} training rows (k = {}, {:?}); epoch settings are not used",
            keep.len(),
            self.cfg.k,
            self.cfg.method
        );
        let report = TrainReport::without_training(n, t0.elapsed().as_secs_f64(), note);
        self.state = DetectorState { fitted: true, threshold: None, scaler, report: Some(report.clone()) };
        Ok(report)
    }

    fn score_with(&self, x: ArrayView2<f32>, cfg: &PredictConfig) -> Result<Scores> {
        cfg.validate()?;
        runtime::check_score_shape("OutlierKNN", &self.state, &x, self.cfg.n_features)?;
        let (rows, norms) = self.rows64.as_ref().ok_or(OddityError::NotFitted("OutlierKNN"))?;
        let k = self.cfg.k as i64;
        let method = self.cfg.method;
        let layout = runtime::ScoreLayout::new(cfg.batch_size, 1, self.state.scaler.as_ref());
        let scores = runtime::score_rows(&x, layout, self.device, || {
            let (t, tn) = (rows.shallow_clone(), norms.shallow_clone());
            move |b: &runtime::Batch| {
                let q = b.x.to_kind(Kind::Double);
                let n = q.size()[0];
                let mut out = Vec::new();
                let mut start = 0;
                while start < n {
                    let len = QUERY_BLOCK.min(n - start);
                    let d = nearest_sq(&q.narrow(0, start, len), &t, &tn, k).sqrt();
                    out.push(match method {
                        KnnMethod::Largest => d.select(1, d.size()[1] - 1),
                        KnnMethod::Mean => d.mean_dim(1, false, Kind::Double),
                    });
                    start += len;
                }
                Ok(Tensor::cat(&out, 0).to_kind(Kind::Float))
            }
        })?;
        Ok(Scores { instance: Array1::from(scores), feature: None })
    }

    fn record(&self) -> Result<Record> {
        let arrays = if self.state.fitted {
            vec![NamedArray::f32("train_rows", &[self.extra.n_stored, self.cfg.n_features], self.rows.clone())]
        } else {
            Vec::new()
        };
        self.state.record(Self::KIND.tag(), &self.cfg, &self.extra, arrays, self.device)
    }
}

impl Registered for OutlierKNN {
    const KIND: DetectorKind = DetectorKind::new("knn", "OutlierKNN");
    const SUMMARY: &'static str = "k-nearest-neighbour distance (k = 5, k-th distance) on standardized rows; exact.";
    type Config = KnnConfig;

    fn default_config(n_features: usize) -> KnnConfig {
        KnnConfig::new(n_features)
    }

    fn config_width(cfg: &KnnConfig) -> usize {
        cfg.n_features
    }

    fn build(cfg: KnnConfig, device: crate::Device) -> Result<Self> {
        Self::new(cfg, device)
    }

    fn from_file(f: &persist::DetectorFile, device: crate::Device) -> Result<Self> {
        Self::load_file(f, device)
    }
}
