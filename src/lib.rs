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
//! det.fit(x_train.view(), &FitConfig { epochs: 50, batch_size: 1024, ..Default::default() })?;
//! det.infer_threshold(x_train.view(), 95.0)?;
//! let pred = det.predict(x_train.view(), &PredictConfig::default())?;
//! println!("{} outliers", pred.is_outlier.count());
//! det.save(std::path::Path::new("kdd.oddity"))?;
//! # Ok(()) }
//! ```
//!
//! Modules: [`detector`] (the trait and its types), [`detectors`] (AE, AEGMM,
//! VAEGMM), [`gmm`] (mixture math), [`recon`] (reconstruction features),
//! [`fit`] (training settings), [`persist`] (the detector file).

pub mod csv;
pub mod datasets;
pub mod detector;
pub mod detectors;
pub mod device;
pub mod error;
pub mod eval;
pub mod fit;
pub mod gmm;
pub(crate) mod gmm_grad;
pub mod imbalance;
pub mod metrics;
pub mod nn;
pub(crate) mod optim;
pub mod percentile;
pub mod persist;
pub mod plot;
pub mod recon;
pub(crate) mod rng;
pub mod scale;
pub mod supervised;
pub mod threshold;
pub(crate) mod train;
pub mod validate;

pub use detector::{Detector, DetectorKind, Meta, OutlierFlags, OutlierType, PredictConfig, Prediction, Scores};
pub use detectors::{
    AeConfig, AegmmConfig, ElboStd, FeatureScore, GmmSettings, OutlierAE, OutlierAEGMM, OutlierVAEGMM, VaegmmConfig,
};
pub use device::Device;
pub use error::{OddityError, Result};
pub use fit::{EarlyStopping, EpochStats, FitConfig, Optimizer, TrainReport};
pub use nn::{Activation, Layer};
pub use percentile::{percentile, percentile_threshold, Ties};
pub use persist::load_any;
pub use recon::{ReconFeature, ReconFeatures};
pub use scale::Standardizer;
