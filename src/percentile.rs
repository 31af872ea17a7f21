//! The percentile used for thresholds: numpy's default (`method="linear"`).

use crate::error::{OddityError, Result};
use crate::validate::check_percent;

/// The `q`-th percentile (0..=100) of `values`, as `numpy.percentile(values, q)`
/// computes it: sort, take position `h = q/100 * (n-1)`, interpolate linearly
/// between the two neighbours. numpy's lerp form is reproduced too (`a + d*t`
/// below `t = 0.5`, `b - d*(1-t)` from it), so results agree to the last bit
/// for float64 inputs.
pub fn percentile(values: &[f64], q: f64) -> Result<f64> {
    check_percent("threshold_perc", q)?;
    if values.is_empty() {
        return Err(OddityError::EmptyInput("no scores to take a percentile of".into()));
    }
    if let Some(bad) = values.iter().find(|v| v.is_nan()) {
        return Err(OddityError::param("scores", format!("contain {bad}; cannot take a percentile")));
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Ok(percentile_sorted(&sorted, q))
}

/// Same as [`percentile`] on already sorted, NaN-free values; `q` must be in range.
pub(crate) fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let h = q / 100.0 * (n - 1) as f64;
    let lo = (h.floor() as usize).min(n - 1);
    let hi = (lo + 1).min(n - 1);
    let t = h - lo as f64;
    let (a, b) = (sorted[lo], sorted[hi]);
    let d = b - a;
    if t >= 0.5 {
        b - d * (1.0 - t)
    } else {
        a + d * t
    }
}
