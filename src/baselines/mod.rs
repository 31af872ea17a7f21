//! Supervised baselines and resampling, to measure what labels would buy
//! against the unsupervised detectors.

pub mod imbalance;
pub mod supervised;
