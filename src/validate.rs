//! Input checks shared by every detector: shape, finiteness, ranges.

use ndarray::ArrayView2;

use crate::error::{OddityError, Result};

/// Upper bounds on every size a config or a file can ask for, checked by
/// the configs' `validate` before anything is allocated, whatever the
/// config came from (the Rust API, a `--config` file, a detector file).
/// They are far above any use of these detectors and low enough that no
/// config can exhaust memory before an error.
pub mod bounds {
    /// Input columns.
    pub const MAX_FEATURES: usize = 1 << 20;
    /// Units of one network layer (an autoencoder's output layer is as wide
    /// as its input) and of a latent code; the weight bound below is what
    /// limits a network's size.
    pub const MAX_UNITS: usize = 1 << 20;
    /// Weights of all the networks of one detector: 2^26 (64 Mi) f32
    /// values, 256 MiB, before optimizer state.
    pub const MAX_PARAMETERS: u64 = 1 << 26;
    /// Mixture components.
    pub const MAX_COMPONENTS: usize = 1 << 10;
    /// Monte-Carlo draws per row (VAEGMM).
    pub const MAX_SAMPLES: usize = 1 << 10;
    /// libtorch threads a fit may ask for.
    pub const MAX_THREADS: usize = 1 << 10;
    /// Optimizer steps a step budget may ask for.
    pub const MAX_STEPS: usize = 1 << 30;
}

/// Checks a size against its bound: at least 1 and at most `max`.
pub fn check_size(name: &'static str, value: usize, max: usize) -> Result<()> {
    if value == 0 || value > max {
        return Err(OddityError::param(name, format!("{value} is outside 1..={max}")));
    }
    Ok(())
}

/// Checks that `x` has rows and columns and only finite values.
/// Names the first offending row and column (0-based).
pub fn check_data(x: &ArrayView2<f32>, what: &str) -> Result<()> {
    check_data_from(x, what, 0)
}

/// [`check_data`] for rows that start at `first_row` of a larger table:
/// a non-finite value is named by its row there.
pub(crate) fn check_data_from(x: &ArrayView2<f32>, what: &str, first_row: usize) -> Result<()> {
    check_not_empty(x, what)?;
    // Fast path: a branch-free scan of contiguous data, which the compiler
    // vectorizes; only a failing input is searched for its first bad value.
    if let Some(v) = x.as_slice() {
        if v.chunks(4096).all(|c| c.iter().map(|x| u32::from(non_finite(*x))).sum::<u32>() == 0) {
            return Ok(());
        }
    }
    first_non_finite(x, first_row)
}

/// True for infinities and NaN (all exponent bits set); branch-free, so
/// loops over it vectorize.
#[inline]
pub(crate) fn non_finite(x: f32) -> bool {
    x.to_bits() & 0x7f80_0000 == 0x7f80_0000
}

/// The error for the first non-finite value of `x`, whose first row is row
/// `first_row` of the caller's input; `Ok` if there is none.
pub(crate) fn first_non_finite(x: &ArrayView2<f32>, first_row: usize) -> Result<()> {
    for (row, r) in x.outer_iter().enumerate() {
        for (column, &value) in r.iter().enumerate() {
            if !value.is_finite() {
                return Err(OddityError::NonFinite { row: first_row + row, column, value });
            }
        }
    }
    Ok(())
}

/// Checks that `x` has rows and columns.
pub(crate) fn check_not_empty(x: &ArrayView2<f32>, what: &str) -> Result<()> {
    if x.nrows() == 0 {
        return Err(OddityError::EmptyInput(format!("{what} has no rows")));
    }
    if x.ncols() == 0 {
        return Err(OddityError::EmptyInput(format!("{what} has no columns")));
    }
    Ok(())
}

/// Checks the width of `x` against what the detector expects, and that it
/// is not empty; leaves finiteness to the caller.
pub(crate) fn check_shape(x: &ArrayView2<f32>, expected: usize, what: &str) -> Result<()> {
    if x.ncols() != expected && x.nrows() > 0 {
        return Err(OddityError::FeatureMismatch { expected, got: x.ncols() });
    }
    check_not_empty(x, what)
}

/// Checks data and that its width matches what the detector expects.
pub fn check_features(x: &ArrayView2<f32>, expected: usize, what: &str) -> Result<()> {
    if x.ncols() != expected && x.nrows() > 0 {
        return Err(OddityError::FeatureMismatch { expected, got: x.ncols() });
    }
    check_data(x, what)
}

/// Checks that a percentage lies in 0..=100.
pub fn check_percent(name: &'static str, value: f64) -> Result<()> {
    if !(0.0..=100.0).contains(&value) || value.is_nan() {
        return Err(OddityError::param(name, format!("{value} is outside 0..=100")));
    }
    Ok(())
}

/// Checks a batch size.
pub fn check_batch_size(name: &'static str, value: usize) -> Result<()> {
    if value == 0 {
        return Err(OddityError::param(name, "must be at least 1"));
    }
    Ok(())
}

/// Largest magnitude a setting may have: the settings enter f32 tensor
/// math, where a larger value is infinite.
pub const MAX_SETTING: f64 = f32::MAX as f64;

/// Checks a finite float above 0 and within f32's range.
pub fn check_positive(name: &'static str, value: f64) -> Result<()> {
    if !(value.is_finite() && value > 0.0 && value <= MAX_SETTING) {
        return Err(OddityError::param(name, format!("{value} must be > 0, finite and within f32's range")));
    }
    Ok(())
}

/// Checks a finite float at or above 0 and within f32's range.
pub fn check_non_negative(name: &'static str, value: f64) -> Result<()> {
    if !(value.is_finite() && (0.0..=MAX_SETTING).contains(&value)) {
        return Err(OddityError::param(name, format!("{value} must be >= 0, finite and within f32's range")));
    }
    Ok(())
}
