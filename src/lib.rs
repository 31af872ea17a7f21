//! # oddity
//!
//! Unsupervised anomaly detection on libtorch, in the style of Alibi Detect:
//! fit on inliers, infer a threshold from a percentile of scores, predict.
//!
//! ```no_run
//! use oddity::{AegmmConfig, Detector, Device, FitConfig, OutlierAEGMM, PredictConfig};
//! # fn main() -> oddity::Result<()> {
//! let x_train = ndarray::Array2::<f32>::zeros((1000, 18)); // inliers only
//! let mut det = OutlierAEGMM::new(AegmmConfig::new(18), Device::Cpu)?;
//! det.fit(x_train.view(), &FitConfig { epochs: Some(50), batch_size: 1024, ..Default::default() })?;
//! det.infer_threshold(x_train.view(), 95.0)?;
//! let pred = det.predict(x_train.view(), &PredictConfig::default())?;
//! println!("{} outliers", pred.is_outlier.count());
//! det.save(std::path::Path::new("kdd.oddity"))?;
//! # Ok(()) }
//! ```
//!
//! The layers, bottom up (docs/architecture.md): [`math`] (mixture math,
//! percentiles, randomness, standardizer, tensors) and [`table`] (the
//! [`Schema`] that turns raw table columns into features), [`nn`] (networks),
//! [`train`] (the training loop), [`persist`] (the file format; it knows no
//! detector), [`detectors`] (the trait, the registry, one folder per
//! detector), [`eval`] (metrics, thresholds, plots), [`io`] (CSV, Parquet),
//! [`datasets`] and [`baselines`]. A module uses only those below it.

pub mod device;
pub mod error;
pub mod validate;

pub mod math;
pub mod nn;
pub mod table;
pub mod train;

pub mod persist;

pub mod detectors;

pub mod eval;
pub mod io;

pub mod baselines;
pub mod datasets;

pub use detectors::registry;
pub use detectors::{
    load_any, AeConfig, AegmmConfig, Coupling, Detector, DetectorKind, DetectorState, EcodConfig, ElboStd,
    FeatureScore, GmmSettings, IForestConfig, KnnConfig, KnnMethod, Meta, MixtureScore, OutlierAE, OutlierAEGMM,
    OutlierECOD, OutlierFlags, OutlierIForest, OutlierKNN, OutlierType, OutlierVAEGMM, PredictConfig, Prediction,
    Registered, ScoreDraws, Scores, VaegmmConfig,
};
pub use device::Device;
pub use error::{OddityError, Result};
pub use math::percentile::{percentile, percentile_threshold, Ties};
pub use math::scale::Standardizer;
pub use nn::recon::{ReconFeature, ReconFeatures};
pub use nn::{Activation, Layer};
pub use table::{Schema, TableOptions};
pub use train::config::{EarlyStopping, EpochStats, FitConfig, Optimizer, TrainReport};
