//! `OutlierECOD`: Empirical-Cumulative-distribution-based Outlier Detection
//! (Li et al. 2022), parameter-free.
//!
//! Per feature, a row's left and right tail probabilities under the training
//! rows' empirical CDF, `-ln` of each, and the tail the feature's skewness
//! points to; per cell the largest of the three (as PyOD), summed over the
//! features. Unlike PyOD's `decision_function`, which recomputes the CDFs
//! and skewness over the training and scored rows together (so a row's score
//! depends on the batch it arrives with), each row is scored against the
//! training distribution alone:
//! `P(X <= x) = max(#{train <= x}, 1) / n`, likewise the right tail (ties
//! count on both sides, as in PyOD's ECDF; a value beyond every training
//! value gets the tail of one row). A deployed detector must not depend on
//! its batch.
//!
//! The file stores each feature's sorted training values (features x rows x
//! 4 bytes) and the sign of its skewness.

use std::path::Path;

use ndarray::{Array1, ArrayView2};
use ndarray_stats::SummaryStatisticsExt;
use serde::{Deserialize, Serialize};
use tch::Device;

use super::api::{Detector, DetectorKind, PredictConfig, Scores};
use super::registered::{self, Registered};
use super::runtime::{self, DetectorState};
use crate::error::Result;
use crate::persist::{self, NamedArray, Record};
use crate::train::config::{FitConfig, TrainReport};
use crate::validate::check_features;

/// ECOD's settings: none but the width (the method is parameter-free).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EcodConfig {
    /// Input width.
    pub n_features: usize,
}

impl Default for EcodConfig {
    fn default() -> Self {
        EcodConfig { n_features: 0 }
    }
}

impl EcodConfig {
    /// The config for `n_features` columns.
    pub fn new(n_features: usize) -> Self {
        EcodConfig { n_features }
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<()> {
        crate::validate::check_size("n_features", self.n_features, crate::validate::bounds::MAX_FEATURES)?;
        Ok(())
    }
}

/// What the file stores beside the arrays.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct EcodExtra {
    /// Training rows.
    n_train: usize,
}

/// ECOD detector.
#[derive(Debug)]
pub struct OutlierECOD {
    cfg: EcodConfig,
    state: DetectorState,
    extra: EcodExtra,
    /// Per feature, the training values sorted ascending: `[F, n]`.
    sorted: Vec<f32>,
    /// Per feature, the sign of the training skewness: -1, 0 or 1.
    skew_sign: Vec<f32>,
}

impl OutlierECOD {
    /// An unfitted detector. ECOD runs on the host; `device` must be the CPU
    /// or `auto`.
    pub fn new(cfg: EcodConfig, device: crate::Device) -> Result<Self> {
        cfg.validate()?;
        runtime::host_only("OutlierECOD", device)?;
        Ok(OutlierECOD {
            cfg,
            state: DetectorState::default(),
            extra: EcodExtra::default(),
            sorted: Vec::new(),
            skew_sign: Vec::new(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &EcodConfig {
        &self.cfg
    }

    /// Loads a detector saved by [`Detector::save`]; fails if the file holds another kind.
    pub fn load(path: &Path, device: crate::Device) -> Result<Self> {
        registered::load_as(path, device)
    }

    /// The score of one row: the sum over features of the largest of the
    /// left tail, right tail and skewness-chosen tail, each `-ln P`.
    fn score_row(&self, row: &[f32]) -> f64 {
        let n = self.extra.n_train;
        let denom = n as f64;
        let mut total = 0.0;
        for (j, &v) in row.iter().enumerate() {
            let col = &self.sorted[j * n..(j + 1) * n];
            let le = col.partition_point(|&t| t <= v);
            let ge = n - col.partition_point(|&t| t < v);
            let left = -((le.max(1) as f64) / denom).ln();
            let right = -((ge.max(1) as f64) / denom).ln();
            // PyOD: U_skew = U_l * -sign(s - 1) + U_r * sign(s + 1), s the
            // skewness sign: the left tail for s < 0, the right for s > 0,
            // both summed for s = 0.
            let skew = match self.skew_sign[j] {
                s if s < 0.0 => left,
                s if s > 0.0 => right,
                _ => left + right,
            };
            total += left.max(right).max(skew);
        }
        total
    }
}

impl Detector for OutlierECOD {
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

    fn fit(&mut self, x: ArrayView2<f32>, cfg: &FitConfig) -> Result<TrainReport> {
        let t0 = std::time::Instant::now();
        // Checked like every detector's, though only the seed is used.
        cfg.validate()?;
        check_features(&x, self.cfg.n_features, "training data")?;
        let n = x.nrows();
        let mut sorted = Vec::with_capacity(n * self.cfg.n_features);
        let mut skew_sign = Vec::with_capacity(self.cfg.n_features);
        for col in x.columns() {
            let mut v: Vec<f32> = col.to_vec();
            v.sort_by(f32::total_cmp);
            sorted.extend_from_slice(&v);
            // scipy.stats.skew (biased): m3 / m2^1.5. A constant column has
            // no skewness: scipy gives NaN, which makes PyOD's scores NaN;
            // here its sign is 0 (both tails summed; both are 0 at the
            // constant and large away from it).
            let c64 = col.mapv(|v| v as f64);
            let s = c64.skewness().unwrap_or(f64::NAN);
            skew_sign.push(if s.is_finite() && s != 0.0 { s.signum() as f32 } else { 0.0 });
        }
        self.sorted = sorted;
        self.skew_sign = skew_sign;
        self.extra = EcodExtra { n_train: n };
        let report = TrainReport::without_training(
            n,
            t0.elapsed().as_secs_f64(),
            "ECOD: per-feature empirical CDFs of the training rows; epoch settings are not used",
        );
        self.state =
            DetectorState { fitted: true, threshold: None, scaler: None, report: Some(report.clone()), schema: None };
        Ok(report)
    }

    fn score_with(&self, x: ArrayView2<f32>, cfg: &PredictConfig) -> Result<Scores> {
        cfg.validate()?;
        runtime::check_score("OutlierECOD", &self.state, &x, self.cfg.n_features, cfg.first_row)?;
        let x = x.as_standard_layout();
        let scores = runtime::parallel_rows(&x.view(), |row| self.score_row(row) as f32);
        Ok(Scores { instance: Array1::from(scores), feature: None })
    }

    fn record(&self) -> Result<Record> {
        let arrays = if self.state.fitted {
            let nf = self.cfg.n_features;
            vec![
                NamedArray::f32("sorted", &[nf, self.extra.n_train], self.sorted.clone()),
                NamedArray::f32("skew_sign", &[nf], self.skew_sign.clone()),
            ]
        } else {
            Vec::new()
        };
        self.state.record(Self::KIND.tag(), &self.cfg, &self.extra, arrays, Device::Cpu)
    }
}

impl Registered for OutlierECOD {
    const KIND: DetectorKind = DetectorKind::new("ecod", "OutlierECOD");
    const SUMMARY: &'static str = "ECOD: summed empirical-CDF tail probabilities per feature; parameter-free.";
    type Config = EcodConfig;

    fn default_config(n_features: usize) -> EcodConfig {
        EcodConfig::new(n_features)
    }

    fn config_width(cfg: &EcodConfig) -> usize {
        cfg.n_features
    }

    fn build(cfg: EcodConfig, device: crate::Device) -> Result<Self> {
        Self::new(cfg, device)
    }

    fn from_file(f: &persist::DetectorFile, device: crate::Device) -> Result<Self> {
        let cfg: EcodConfig = f.config()?;
        let mut det = OutlierECOD::new(cfg, device).map_err(|e| f.invalid(e))?;
        det.state = DetectorState::from_file(f, det.cfg.n_features)?;
        DetectorState::expect_no_mixture(f)?;
        det.extra = f.extra()?;
        if det.state.scaler.is_some() {
            return Err(f.error("ECOD uses no standardization, but the file holds one"));
        }
        if !det.state.fitted {
            f.expect_arrays(&[])?;
            return Ok(det);
        }
        f.expect_arrays(&["sorted", "skew_sign"])?;
        let (nf, n) = (det.cfg.n_features as u64, det.extra.n_train as u64);
        if n == 0 {
            return Err(f.error("a fitted ECOD detector with no training rows"));
        }
        det.sorted = f.f32s("sorted", Some(&[nf, n]))?;
        det.skew_sign = f.f32s("skew_sign", Some(&[nf]))?;
        if det.skew_sign.iter().any(|s| ![-1.0, 0.0, 1.0].contains(s)) {
            return Err(f.error("skew_sign holds values other than -1, 0, 1"));
        }
        if det.sorted.chunks_exact(n as usize).any(|c| c.windows(2).any(|w| w[0] > w[1])) {
            return Err(f.error("the stored training values are not sorted"));
        }
        Ok(det)
    }
}
