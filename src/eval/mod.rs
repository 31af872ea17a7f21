//! Evaluation: metrics against labels, thresholds chosen from labels or a
//! contamination share, one serialisable report, and PNG plots.

pub mod metrics;
#[cfg(feature = "plots")]
pub mod plot;
pub mod report;
pub mod threshold;
