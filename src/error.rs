//! Typed errors. Every public entry point returns [`Result`]; bad input is
//! reported here, never by a panic.

use std::path::PathBuf;

/// Everything that can go wrong in oddity.
#[derive(Debug, thiserror::Error)]
pub enum OddityError {
    /// The input array has no rows or no columns.
    #[error("empty input: {0}")]
    EmptyInput(String),
    /// A NaN or infinite value in the input.
    #[error("non-finite value {value} at row {row}, column {column}: clean or impute the data first")]
    NonFinite { row: usize, column: usize, value: f32 },
    /// The number of features differs from the one the detector was built or fitted for.
    #[error("feature count mismatch: detector expects {expected} columns, input has {got}")]
    FeatureMismatch { expected: usize, got: usize },
    /// `score`, `predict` or `infer_threshold` on a detector that was never fitted.
    #[error("{0} has not been fitted: call fit first")]
    NotFitted(&'static str),
    /// `predict` before a threshold exists.
    #[error("{0} has no threshold: call infer_threshold (or set_threshold) before predict")]
    ThresholdNotInferred(&'static str),
    /// A configuration value outside its valid range.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter { name: &'static str, reason: String },
    /// The requested device cannot be used.
    #[error("device unavailable: {0}")]
    DeviceUnavailable(String),
    /// Training produced a non-finite loss that jitter escalation could not repair.
    #[error("training diverged at epoch {epoch}, step {step}: loss is {loss}; try a lower learning rate, gradient clipping, or standardize = true")]
    Diverged { epoch: usize, step: usize, loss: f64 },
    /// A covariance matrix could not be factorised even with the largest allowed jitter.
    #[error("GMM covariance of component {component} is not positive definite even with jitter {jitter:e}; use fewer components or a larger gmm_eps")]
    Cholesky { component: usize, jitter: f64 },
    /// Non-finite values where finite ones are required (e.g. NaN latent codes).
    #[error("numerical failure: {0}")]
    Numerical(String),
    /// An error from libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A detector file is not valid (wrong magic, version, checksum, truncated...).
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    /// A data file could not be parsed; names the line (1-based) and column when known.
    #[error("{source_name}, line {line}{}: {reason}", column.map(|c| format!(", column {c}")).unwrap_or_default())]
    Parse { source_name: String, line: usize, column: Option<usize>, reason: String },
    /// A data set file is missing and could not be downloaded.
    #[error("data set {name} not found: {reason}")]
    DataNotFound { name: String, reason: String },
    /// A downloaded or found file does not match its published checksum.
    #[error("{path}: sha256 {got} does not match the published {expected}")]
    Checksum { path: PathBuf, expected: String, got: String },
    /// A plot could not be drawn.
    #[error("plot {path}: {reason}")]
    Plot { path: PathBuf, reason: String },
}

/// Result alias used across the crate.
pub type Result<T, E = OddityError> = std::result::Result<T, E>;

impl OddityError {
    /// Shorthand for [`OddityError::InvalidParameter`].
    pub fn param(name: &'static str, reason: impl Into<String>) -> Self {
        OddityError::InvalidParameter { name, reason: reason.into() }
    }

    /// Shorthand for [`OddityError::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        OddityError::Io { path: path.into(), source }
    }
}
