//! The one trait at the centre: every detector fits on inliers, infers a
//! threshold from a percentile of scores, scores and predicts.

use std::path::Path;

use ndarray::{Array1, Array2, ArrayView2};
use serde::{Deserialize, Serialize};

pub use super::runtime::state::DetectorState;
use crate::error::{OddityError, Result};
use crate::math::percentile::{percentile_threshold, Ties};
use crate::persist::Record;
use crate::train::config::{FitConfig, TrainReport};
use crate::validate::{check_batch_size, check_percent};

/// Whether outliers are flagged per instance (row) or per feature (cell).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutlierType {
    /// One flag per row, from the instance score.
    #[default]
    Instance,
    /// One flag per cell, from the feature scores (detectors with feature scores only).
    Feature,
}

/// Options of `score`, `infer_threshold` and `predict`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PredictConfig {
    /// Flag instances or features.
    pub outlier_type: OutlierType,
    /// Instance score = mean of the top `outlier_perc` % feature scores (100 = all).
    /// Only for detectors with feature scores.
    pub outlier_perc: f64,
    /// Include feature scores in the prediction.
    pub return_feature_score: bool,
    /// Include instance scores in the prediction.
    pub return_instance_score: bool,
    /// Rows per forward pass (of each worker, on the CPU); memory is
    /// bounded by it, not by the input size.
    pub batch_size: usize,
    /// How `infer_threshold` treats reference scores tied at the percentile
    /// ([`Ties`]; `Ties::Percentile` is Alibi Detect's rule).
    pub ties: Ties,
    /// Index of `x`'s first row in a larger table scored in parts (0: `x`
    /// is the whole table). A part starting at a multiple of
    /// [`Detector::scoring_batch`] rows then gets the scores the whole table
    /// would, bit for bit: VAEGMM seeds its draws by this index, batches are
    /// cut as in the whole table, and errors name rows of the whole table.
    /// `oddity score` streams large files this way.
    pub first_row: usize,
}

impl Default for PredictConfig {
    fn default() -> Self {
        PredictConfig {
            outlier_type: OutlierType::Instance,
            outlier_perc: 100.0,
            return_feature_score: true,
            return_instance_score: true,
            batch_size: DEFAULT_SCORE_BATCH,
            ties: Ties::default(),
            first_row: 0,
        }
    }
}

/// Default rows per scoring pass (per worker on the CPU, where each core
/// scores its own batches): large enough that per-op overhead is small,
/// small enough that one batch's activations stay in the core's cache and
/// that 100,000 rows still split evenly over the cores (docs/benchmarks.md).
pub const DEFAULT_SCORE_BATCH: usize = 4_096;

impl PredictConfig {
    /// Checks ranges.
    pub fn validate(&self) -> Result<()> {
        check_percent("outlier_perc", self.outlier_perc)?;
        check_batch_size("batch_size", self.batch_size)
    }
}

/// Scores of a batch of instances.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    /// One score per row; higher = more anomalous.
    pub instance: Array1<f32>,
    /// One score per cell, for detectors that have them (AE).
    pub feature: Option<Array2<f32>>,
}

/// Outlier flags, per instance or per feature.
#[derive(Debug, Clone, PartialEq)]
pub enum OutlierFlags {
    /// `score > threshold` per row.
    Instance(Array1<bool>),
    /// `feature score > threshold` per cell.
    Feature(Array2<bool>),
}

impl OutlierFlags {
    /// The per-row flags, if these are instance flags.
    pub fn instance(&self) -> Option<&Array1<bool>> {
        match self {
            OutlierFlags::Instance(a) => Some(a),
            OutlierFlags::Feature(_) => None,
        }
    }

    /// Number of flagged rows or cells.
    pub fn count(&self) -> usize {
        match self {
            OutlierFlags::Instance(a) => a.iter().filter(|&&b| b).count(),
            OutlierFlags::Feature(a) => a.iter().filter(|&&b| b).count(),
        }
    }
}

/// Which detector a value or file is: its registry name (the file's kind
/// tag, the CLI's `--detector`) and its Alibi-style class name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DetectorKind {
    tag: &'static str,
    class: &'static str,
}

impl DetectorKind {
    /// A kind with registry name `tag` (lower case, e.g. `aegmm`) and class
    /// name `class` (e.g. `OutlierAEGMM`).
    pub const fn new(tag: &'static str, class: &'static str) -> Self {
        DetectorKind { tag, class }
    }

    /// The registry name: the file's kind tag and the CLI's `--detector`.
    pub fn tag(self) -> &'static str {
        self.tag
    }

    /// The Alibi-style class name, e.g. `OutlierAEGMM`.
    pub fn name(self) -> &'static str {
        self.class
    }
}

impl std::fmt::Display for DetectorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.tag)
    }
}

/// Metadata in the style of Alibi Detect's `meta` dict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Detector class name, e.g. `OutlierAEGMM`.
    pub name: String,
    /// Always `outlier`.
    pub detector_type: String,
    /// Always `tabular`.
    pub data_type: String,
    /// Always false: these detectors are fitted offline.
    pub online: bool,
    /// oddity's version.
    pub version: String,
}

impl Meta {
    pub(crate) fn of(kind: DetectorKind) -> Meta {
        Meta {
            name: kind.name().into(),
            detector_type: "outlier".into(),
            data_type: "tabular".into(),
            online: false,
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// The answer of `predict`.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Outlier flags (instance or feature, as asked).
    pub is_outlier: OutlierFlags,
    /// Instance scores, if asked for.
    pub instance_score: Option<Array1<f32>>,
    /// Feature scores, if asked for and the detector has them.
    pub feature_score: Option<Array2<f32>>,
    /// The threshold the flags were computed with.
    pub threshold: f64,
    /// Who produced it.
    pub meta: Meta,
}

/// An outlier detector. Object safe: `Box<dyn Detector>` works, which is what
/// `load_any` returns. A detector implements the eight required methods;
/// thresholds, prediction, saving and the state accessors are provided.
pub trait Detector: Send {
    /// Which detector this is.
    fn kind(&self) -> DetectorKind;

    /// Input width the detector was built for.
    fn n_features(&self) -> usize;

    /// The libtorch device the model lives on (`Cpu` for detectors without
    /// tensors).
    fn device(&self) -> tch::Device;

    /// Fitted flag, threshold, standardizer and training report.
    fn state(&self) -> &DetectorState;

    /// The same, to change.
    fn state_mut(&mut self) -> &mut DetectorState;

    /// Trains on inliers only (rows = instances).
    fn fit(&mut self, x: ArrayView2<f32>, cfg: &FitConfig) -> Result<TrainReport>;

    /// Instance scores (and feature scores where the detector has them).
    fn score_with(&self, x: ArrayView2<f32>, cfg: &PredictConfig) -> Result<Scores>;

    /// Everything [`Detector::save`] writes: config, state and named arrays.
    fn record(&self) -> Result<Record>;

    /// Rows of one scoring pass under `cfg`: a table scored in parts (see
    /// [`PredictConfig::first_row`]) is cut at multiples of it.
    fn scoring_batch(&self, cfg: &PredictConfig) -> usize {
        cfg.batch_size.max(1)
    }

    /// True once `fit` has completed.
    fn is_fitted(&self) -> bool {
        self.state().fitted
    }

    /// Current threshold, if any.
    fn threshold(&self) -> Option<f64> {
        self.state().threshold
    }

    /// Sets the threshold directly (e.g. one chosen from labels).
    fn set_threshold(&mut self, threshold: f64) -> Result<()> {
        self.state_mut().set_threshold(threshold)
    }

    /// The table schema that maps raw rows to this detector's features: the
    /// one fitted with it on a table, or `n_features` numeric columns.
    fn schema(&self) -> crate::table::Schema {
        self.state().schema.clone().unwrap_or_else(|| crate::table::Schema::numeric(self.n_features()))
    }

    /// Attaches the schema of the table the detector was fitted on (after
    /// `fit`, which clears it); it must make `n_features` features.
    fn set_schema(&mut self, schema: crate::table::Schema) -> Result<()> {
        let n = self.n_features();
        self.state_mut().set_schema(schema, n)
    }

    /// Training summary of the last `fit`, if any.
    fn train_report(&self) -> Option<&TrainReport> {
        self.state().report.as_ref()
    }

    /// Writes the detector to one file, atomically (see docs/file-format.md).
    fn save(&self, path: &Path) -> Result<()> {
        crate::persist::write(path, &self.record()?)
    }

    /// Metadata, Alibi style.
    fn meta(&self) -> Meta {
        Meta::of(self.kind())
    }

    /// Scores with default options.
    fn score(&self, x: ArrayView2<f32>) -> Result<Scores> {
        self.score_with(x, &PredictConfig::default())
    }

    /// Sets the threshold to the `threshold_perc` percentile (numpy's linear
    /// interpolation) of the instance scores of `x`, so that `predict`
    /// (`score > threshold`) flags about `100 - threshold_perc` % of such
    /// data; returns it. Where a group of equal scores sits at the percentile,
    /// the group is flagged if that brings the flagged count on `x` nearer
    /// (see [`Ties`]; `PredictConfig::ties` selects Alibi's rule instead).
    fn infer_threshold(&mut self, x: ArrayView2<f32>, threshold_perc: f64) -> Result<f64> {
        self.infer_threshold_with(x, threshold_perc, &PredictConfig::default())
    }

    /// As `infer_threshold`; with `OutlierType::Feature` the percentile is taken
    /// over all feature scores (one threshold shared by every feature, as Alibi).
    fn infer_threshold_with(&mut self, x: ArrayView2<f32>, threshold_perc: f64, cfg: &PredictConfig) -> Result<f64> {
        check_percent("threshold_perc", threshold_perc)?;
        cfg.validate()?;
        let s = self.score_with(x, cfg)?;
        let values: Vec<f64> = match cfg.outlier_type {
            OutlierType::Instance => s.instance.iter().map(|&v| v as f64).collect(),
            OutlierType::Feature => feature_scores(self.kind(), s.feature)?.iter().map(|&v| v as f64).collect(),
        };
        let unscorable: Vec<usize> = (0..values.len()).filter(|&i| !values[i].is_finite()).collect();
        if !unscorable.is_empty() {
            let rows = match cfg.outlier_type {
                OutlierType::Instance => unscorable.clone(),
                OutlierType::Feature => unscorable.iter().map(|i| i / self.n_features().max(1)).collect(),
            };
            let shown: Vec<String> = rows.iter().take(10).map(|r| r.to_string()).collect();
            return Err(OddityError::param(
                "threshold data",
                format!(
                    "{} scores are not finite (rows {}{}, 0-based): the detector cannot score those rows; leave them out of the threshold data",
                    unscorable.len(),
                    shown.join(", "),
                    if rows.len() > 10 { ", ..." } else { "" }
                ),
            ));
        }
        let t = percentile_threshold(&values, threshold_perc, cfg.ties)?;
        self.set_threshold(t)?;
        Ok(t)
    }

    /// Scores `x` and flags `score > threshold`.
    fn predict(&self, x: ArrayView2<f32>, cfg: &PredictConfig) -> Result<Prediction> {
        cfg.validate()?;
        let threshold = self.threshold().ok_or(OddityError::ThresholdNotInferred(self.kind().name()))?;
        let s = self.score_with(x, cfg)?;
        let is_outlier = match cfg.outlier_type {
            OutlierType::Instance => OutlierFlags::Instance(s.instance.mapv(|v| v as f64 > threshold)),
            OutlierType::Feature => {
                OutlierFlags::Feature(feature_scores(self.kind(), s.feature.clone())?.mapv(|v| v as f64 > threshold))
            }
        };
        Ok(Prediction {
            is_outlier,
            instance_score: cfg.return_instance_score.then_some(s.instance),
            feature_score: if cfg.return_feature_score { s.feature } else { None },
            threshold,
            meta: self.meta(),
        })
    }
}

fn feature_scores(kind: DetectorKind, f: Option<Array2<f32>>) -> Result<Array2<f32>> {
    f.ok_or_else(|| {
        OddityError::param("outlier_type", format!("{} has no feature scores; use OutlierType::Instance", kind.name()))
    })
}
