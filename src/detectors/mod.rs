//! The detectors: the trait at the centre ([`api`]), the registry that maps
//! a name to a detector, the runtime they share, and one folder per detector.

pub mod api;
pub mod registered;
pub mod registry;
pub mod runtime;

pub mod ae;
pub mod aegmm;
pub mod ecod;
pub mod iforest;
pub mod knn;
pub mod mixture;
pub mod vaegmm;

pub use ae::{AeConfig, FeatureScore, OutlierAE};
pub use aegmm::{AegmmConfig, OutlierAEGMM};
pub use api::{Detector, DetectorKind, Meta, OutlierFlags, OutlierType, PredictConfig, Prediction, Scores};
pub use ecod::{EcodConfig, OutlierECOD};
pub use iforest::{IForestConfig, OutlierIForest};
pub use knn::{KnnConfig, KnnMethod, OutlierKNN};
pub use mixture::{Coupling, GmmSettings, MixtureScore};
pub use registry::{load_any, Entry, Registered, Registry};
pub use runtime::DetectorState;
pub use vaegmm::{ElboStd, OutlierVAEGMM, ScoreDraws, VaegmmConfig};
