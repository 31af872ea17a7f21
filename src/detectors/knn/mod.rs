//! `OutlierKNN`: the distance of a row to its k-th nearest training inlier
//! (or the mean of its k nearest distances), on standardized inputs; PyOD's
//! `KNN` with `method="largest"` / `"mean"`.
//!
//! Exact: candidates come from batched f32 matrix products on libtorch (CPU
//! or CUDA), `|t|² - 2 q·t`, over chunks of the training rows with a running
//! top-`2k + 8`, and their distances are then computed directly in f64
//! (see [`nearest`]). Memory is bounded by the batch times the chunk, not by
//! the number of scored or training rows. The training rows (after
//! standardization) are stored in the detector file: rows x features x 4
//! bytes; `max_train_rows` keeps a seeded subsample of large training sets.

use std::path::Path;

use ndarray::{Array1, Array2, ArrayView2, Axis};
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
        crate::validate::check_size("n_features", self.n_features, crate::validate::bounds::MAX_FEATURES)?;
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
    /// Stored training rows `[m, F]` (standardized if configured), f32, as
    /// saved; `host` and `stored` are the forms the two scoring paths use.
    rows: Vec<f32>,
    /// The CPU path's form of `rows`.
    host: HostRows,
    /// The device path's form of `rows` (CUDA).
    stored: Option<StoredRows>,
}

/// Query rows per distance block, and stored rows per chunk: a block is at
/// most 1,024 x 8,192 f32 values (32 MiB) per worker.
const QUERY_BLOCK: i64 = 1024;
const TRAIN_CHUNK: i64 = 8192;

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
            host: HostRows::default(),
            stored: None,
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

    /// Moves the stored rows to the device, in f32 with their squared norms
    /// and in f64.
    fn upload(&mut self) -> Result<()> {
        if self.device == Device::Cpu {
            // The CPU path scores on the host (`nearest_host`).
            self.host = HostRows::new(&self.rows, self.cfg.n_features)?;
            self.stored = None;
            return Ok(());
        }
        let m = (self.rows.len() / self.cfg.n_features.max(1)) as i64;
        let t32 = Tensor::from_slice(&self.rows).view([m, self.cfg.n_features as i64]).to_device(self.device);
        let tn32 = t32.square().sum_dim_intlist(1, false, Kind::Float);
        let t64 = t32.to_kind(Kind::Double);
        self.stored = Some(StoredRows { t32, tn32, t64 });
        Ok(())
    }
}

/// The k smallest distances from each row of a query block to the stored
/// rows, sorted ascending, `[B, k]` f64.
///
/// Candidates are chosen in f32 by `|t|² - 2 q·t` (the squared distance
/// less `|q|²`, which does not change a row's order), one matrix product
/// per chunk of stored rows with a running top-`c`; the `c = 2k + 8` best
/// candidates are then measured exactly, `sum((q - t)²)` in f64, and the k
/// smallest kept. The f32 product is twice as fast as f64, and the margin
/// absorbs its rounding: only a neighbour whose f32 rank is off by more
/// than k + 8 places could be missed.
fn nearest(q64: &Tensor, rows: &StoredRows, k: i64) -> Tensor {
    let m = rows.t32.size()[0];
    let c = (2 * k + 8).min(m);
    let q32m2 = q64.to_kind(Kind::Float) * -2.0;
    let mut best: Option<(Tensor, Tensor)> = None;
    let mut start = 0;
    while start < m {
        let len = TRAIN_CHUNK.min(m - start);
        let part = rows.tn32.narrow(0, start, len).unsqueeze(0).addmm(&q32m2, &rows.t32.narrow(0, start, len).tr());
        let (v, i) = part.topk(c.min(len), 1, false, false);
        let i = i + start;
        best = Some(match best {
            None => (v, i),
            Some((bv, bi)) => {
                let joined = Tensor::cat(&[bv, v], 1);
                let kk = c.min(joined.size()[1]);
                let (v, pos) = joined.topk(kk, 1, false, false);
                (v, Tensor::cat(&[bi, i], 1).gather(1, &pos, false))
            }
        });
        start += len;
    }
    let idx = best.map_or_else(|| Tensor::zeros([q64.size()[0], 0], (Kind::Int64, q64.device())), |(_, i)| i);
    let (b, f) = (q64.size()[0], q64.size()[1]);
    let cand = rows.t64.index_select(0, &idx.reshape([-1])).view([b, -1, f]);
    let d2 = (cand - q64.unsqueeze(1)).square().sum_dim_intlist(2, false, Kind::Double);
    d2.topk(k, 1, false, true).0.sqrt()
}

/// The stored rows on the device: f32 with squared norms for the candidate
/// products, f64 for the exact distances.
#[derive(Debug)]
struct StoredRows {
    t32: Tensor,
    tn32: Tensor,
    t64: Tensor,
}

/// The k nearest distances of each host row of `q` (`[B, F]`, row-major)
/// to the stored rows `t` (`[M, F]`, norms `tn`), reduced by `method`: the
/// CPU path. The candidate products go through ndarray's matrix product
/// (matrixmultiply), which runs about three times faster than libtorch's
/// sgemm on the project's AMD CPUs (87-91 against 30 GFLOP/s on one core
/// for a 1,024 x 100 by 100 x 4,100 product; docs/benchmarks.md);
/// candidates and exact distances as in [`nearest`].
fn nearest_host(q: ArrayView2<f32>, rows: &HostRows, k: usize, method: KnnMethod) -> Vec<f32> {
    let (t, tn) = (rows.centered.view(), &rows.norms[..]);
    let (b, m) = (q.nrows(), t.nrows());
    let c = (2 * k + 8).min(m);
    // The queries on the same origin as the stored rows (the stored rows'
    // mean): distances are unchanged, and the f32 partial scores stay small
    // however far the raw columns sit from zero.
    let q = &q - &rows.shift;
    // Per query row, the best candidates so far: (partial score, stored row).
    let mut best: Vec<Vec<(f32, usize)>> = vec![Vec::with_capacity(c + 1); b];
    let mut start = 0;
    while start < m {
        let len = (TRAIN_CHUNK as usize).min(m - start);
        // Row-major whatever the operands' layout (a one-column table gives
        // a column-major product).
        let prod = q.dot(&t.slice(ndarray::s![start..start + len, ..]).t());
        let prod = if prod.is_standard_layout() { prod } else { prod.as_standard_layout().into_owned() };
        let tn = &tn[start..start + len];
        let mut v = vec![0f32; len];
        for (row, cand) in prod.outer_iter().zip(best.iter_mut()) {
            // The partial scores in one vectorizable pass (an overflow, NaN,
            // ranks last), then a scan that only stops at a block holding a
            // value below the current c-th.
            // (`prod` is row-major, so every row is a slice.)
            let row = row.to_slice().unwrap_or_default();
            for ((v, &t), &p) in v.iter_mut().zip(tn).zip(row) {
                let x = t - 2.0 * p;
                *v = if x.is_nan() { f32::INFINITY } else { x };
            }
            for (bi, block) in v.chunks(64).enumerate() {
                let filling = cand.len() < c;
                let worst = if filling { f32::INFINITY } else { cand[c - 1].0 };
                // No short-circuit, so that the compiler vectorizes it.
                if !filling && !block.iter().fold(false, |any, &x| any | (x < worst)) {
                    continue;
                }
                for (o, &x) in block.iter().enumerate() {
                    let j = start + bi * 64 + o;
                    if cand.len() < c {
                        let at = cand.partition_point(|y| y.0 <= x);
                        cand.insert(at, (x, j));
                    } else if x < cand[c - 1].0 {
                        let at = cand.partition_point(|y| y.0 <= x);
                        cand.pop();
                        cand.insert(at, (x, j));
                    }
                }
            }
        }
        start += len;
    }
    q.outer_iter()
        .zip(&best)
        .map(|(qi, cand)| {
            let mut d: Vec<f64> = cand
                .iter()
                .map(|&(_, j)| qi.iter().zip(t.row(j)).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum::<f64>())
                .collect();
            d.sort_by(f64::total_cmp);
            let d = &d[..k.min(d.len())];
            // `fit` and `load` ensure at least k stored rows, so d has k values.
            let score = match method {
                KnnMethod::Largest => d.last().map_or(f64::INFINITY, |v| v.sqrt()),
                KnnMethod::Mean => d.iter().map(|v| v.sqrt()).sum::<f64>() / d.len().max(1) as f64,
            };
            score as f32
        })
        .collect()
}

/// The stored rows for the CPU path: centred on their mean (`shift`), with
/// their squared norms, built once at fit or load.
#[derive(Debug, Default)]
struct HostRows {
    shift: Array1<f32>,
    centered: Array2<f32>,
    norms: Vec<f32>,
}

impl HostRows {
    fn new(rows: &[f32], n_features: usize) -> Result<Self> {
        let m = rows.len() / n_features.max(1);
        let t = ArrayView2::from_shape((m, n_features), rows).map_err(|e| OddityError::Numerical(e.to_string()))?;
        let shift =
            t.mapv(|v| v as f64).mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(n_features)).mapv(|v| v as f32);
        let centered = &t - &shift;
        let norms = centered.outer_iter().map(|r| r.iter().map(|v| v * v).sum()).collect();
        Ok(HostRows { shift, centered, norms })
    }
}

impl StoredRows {
    fn shallow_clone(&self) -> Self {
        StoredRows { t32: self.t32.shallow_clone(), tn32: self.tn32.shallow_clone(), t64: self.t64.shallow_clone() }
    }
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
        runtime::guard(|| self.fit_unguarded(x, cfg))
    }

    fn score_with(&self, x: ArrayView2<f32>, cfg: &PredictConfig) -> Result<Scores> {
        cfg.validate()?;
        runtime::check_score_shape("OutlierKNN", &self.state, &x, self.cfg.n_features)?;
        let on_cpu = self.device == Device::Cpu;
        let stored = match (&self.stored, on_cpu) {
            (Some(s), _) => Some(s),
            (None, true) => None,
            (None, false) => return Err(OddityError::NotFitted("OutlierKNN")),
        };
        let k = self.cfg.k as i64;
        let method = self.cfg.method;
        // Each row costs a pass over every stored row: batches small enough
        // that every worker gets an equal share.
        let workers = if self.device == Device::Cpu { tch::get_num_threads().max(1) as usize } else { 1 };
        // (A later part of a table is cut as the whole table would be.)
        let bs = match cfg.first_row {
            0 => cfg.batch_size.min(x.nrows().div_ceil(workers).max(1)),
            _ => cfg.batch_size,
        };
        let layout = runtime::ScoreLayout {
            first_row: cfg.first_row,
            ..runtime::ScoreLayout::new(bs, 1, self.state.scaler.as_ref())
        };
        let f = self.cfg.n_features;
        let host = &self.host;
        let scores = runtime::score_rows(&x, layout, self.device, || {
            let rows = stored.map(StoredRows::shallow_clone);
            move |b: &runtime::Batch| {
                if on_cpu {
                    let n = b.host.len() / f;
                    let q =
                        ArrayView2::from_shape((n, f), b.host).map_err(|e| OddityError::Numerical(e.to_string()))?;
                    let out: Vec<f32> = q
                        .axis_chunks_iter(Axis(0), QUERY_BLOCK as usize)
                        .flat_map(|qb| nearest_host(qb, host, k as usize, method))
                        .collect();
                    return Ok(Tensor::from_slice(&out));
                }
                let rows = rows.as_ref().ok_or(OddityError::NotFitted("OutlierKNN"))?;
                let q = b.x.to_kind(Kind::Double);
                let n = q.size()[0];
                let mut out = Vec::new();
                let mut start = 0;
                while start < n {
                    let len = QUERY_BLOCK.min(n - start);
                    let d = nearest(&q.narrow(0, start, len), rows, k);
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

impl OutlierKNN {
    /// `fit`; [`runtime::guard`] turns a libtorch failure into an error.
    fn fit_unguarded(&mut self, x: ArrayView2<f32>, cfg: &FitConfig) -> Result<TrainReport> {
        let t0 = std::time::Instant::now();
        // Checked like every detector's, though only the seed is used.
        cfg.validate()?;
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
        // A failed upload (CUDA memory) leaves the previous fit whole.
        let previous = std::mem::replace(&mut self.rows, rows);
        if let Err(e) = self.upload() {
            self.rows = previous;
            self.upload()?;
            return Err(e);
        }
        self.extra = KnnExtra { n_seen: n, n_stored: keep.len() };
        let note = format!(
            "KNN: stored {} of {n} training rows (k = {}, {}); epoch settings are not used",
            keep.len(),
            self.cfg.k,
            match self.cfg.method {
                KnnMethod::Largest => "largest",
                KnnMethod::Mean => "mean",
            }
        );
        let report = TrainReport::without_training(n, t0.elapsed().as_secs_f64(), note);
        self.state =
            DetectorState { fitted: true, threshold: None, scaler, report: Some(report.clone()), schema: None };
        Ok(report)
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
        let cfg: KnnConfig = f.config()?;
        let mut det = OutlierKNN::new(cfg, device).map_err(|e| f.invalid(e))?;
        det.state = DetectorState::from_file(f, det.cfg.n_features)?;
        DetectorState::expect_no_mixture(f)?;
        det.state.check_scaler(f, det.cfg.standardize)?;
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
