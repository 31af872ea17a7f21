//! The detectors: autoencoder (AE), AEGMM and VAEGMM.

pub mod ae;
pub mod aegmm;
pub(crate) mod common;
pub mod gmm_common;
pub mod vaegmm;

pub use ae::{AeConfig, FeatureScore, OutlierAE};
pub use aegmm::{AegmmConfig, OutlierAEGMM};
pub use gmm_common::GmmSettings;
pub use vaegmm::{ElboStd, OutlierVAEGMM, VaegmmConfig};
