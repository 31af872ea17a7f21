//! The percentile used for thresholds: numpy's default (`method="linear"`),
//! and the threshold taken from it ([`percentile_threshold`]), which differs
//! only where scores are tied at the percentile.

use serde::{Deserialize, Serialize};

use crate::error::{OddityError, Result};
use crate::validate::check_percent;

/// The `q`-th percentile (0..=100) of `values`, as `numpy.percentile(values, q)`
/// computes it: sort, take position `h = q/100 * (n-1)`, interpolate linearly
/// between the two neighbours. numpy's lerp form is reproduced too (`a + d*t`
/// below `t = 0.5`, `b - d*(1-t)` from it), so results agree to the last bit
/// for float64 inputs.
pub fn percentile(values: &[f64], q: f64) -> Result<f64> {
    Ok(percentile_sorted(&checked_sorted(values, q)?, q))
}

/// `values` sorted, after the checks every percentile makes (range of `q`,
/// no empty input, no NaN).
fn checked_sorted(values: &[f64], q: f64) -> Result<Vec<f64>> {
    check_percent("threshold_perc", q)?;
    if values.is_empty() {
        return Err(OddityError::EmptyInput("no scores to take a percentile of".into()));
    }
    if let Some(bad) = values.iter().find(|v| v.is_nan()) {
        return Err(OddityError::param("scores", format!("contain {bad}; cannot take a percentile")));
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Ok(sorted)
}

/// The position `h = q/100 * (n-1)` of the `q`-th percentile among `n > 0`
/// sorted values, as its integer part (the lower neighbour's index) and its
/// fraction.
fn position(n: usize, q: f64) -> (usize, f64) {
    let h = q / 100.0 * (n - 1) as f64;
    let lo = (h.floor() as usize).min(n - 1);
    (lo, h - lo as f64)
}

/// Same as [`percentile`] on already sorted, NaN-free values; `q` must be in range.
pub(crate) fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let (lo, t) = position(n, q);
    let hi = (lo + 1).min(n - 1);
    let (a, b) = (sorted[lo], sorted[hi]);
    let d = b - a;
    if t >= 0.5 {
        b - d * (1.0 - t)
    } else {
        a + d * t
    }
}

/// What a percentile threshold does with scores tied at the percentile.
///
/// Flags are `score > threshold`. On distinct scores the `q`-th percentile
/// flags `n - 1 - floor(q/100 * (n-1))` of `n` reference rows, about
/// `(100 - q)` %. When a group of equal scores straddles the percentile, the
/// percentile equals their score and the strict rule flags none of them, so
/// the share flagged can fall far below the share asked for. Duplicated rows
/// (a flood of identical attack records, a replayed transaction) make such
/// groups common in security data, and a model that ranks them well then
/// misses all of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ties {
    /// Of the two thresholds around a tied group, the one whose flagged count
    /// on the reference scores is nearer the count distinct scores would give:
    /// the percentile itself (group not flagged), or the midpoint between the
    /// group and the next lower score (group flagged). An equal distance keeps
    /// the percentile, and so does a percentile that already flags that count
    /// (always the case without a tie at it). A reference that is one tied
    /// group is flagged whole when that is nearer, i.e. for `q` below about 50.
    #[default]
    NearestCount,
    /// The percentile as is, Alibi Detect's rule: a tied group at the
    /// percentile is never flagged, however large.
    Percentile,
}

/// The threshold for flagging about `(100 - q)` % of `values` with the strict
/// rule `value > threshold`: numpy's `q`-th percentile ([`percentile`]),
/// moved below a group of scores tied at it when [`Ties::NearestCount`]
/// says so. Same errors as [`percentile`].
pub fn percentile_threshold(values: &[f64], q: f64, ties: Ties) -> Result<f64> {
    let sorted = checked_sorted(values, q)?;
    let t = percentile_sorted(&sorted, q);
    if ties == Ties::Percentile {
        return Ok(t);
    }
    // Flag counts: distinct scores give `n - 1 - lo`; the sorted values
    // below `t` and up to `t` split the rest.
    let n = sorted.len();
    let want = n - 1 - position(n, q).0;
    let below = sorted.partition_point(|&v| v < t);
    let (above, at_or_above) = (n - sorted.partition_point(|&v| v <= t), n - below);
    if at_or_above.abs_diff(want) >= above.abs_diff(want) {
        return Ok(t);
    }
    // Flag the tied group: put the threshold halfway to the next lower score
    // (or the float just below the group when it holds the minimum or no
    // float lies between).
    let lower = below.checked_sub(1).map(|i| sorted[i]);
    Ok(match lower.map(|l| l + (t - l) / 2.0) {
        Some(mid) if mid < t => mid,
        _ => next_below(t),
    })
}

/// The largest float below `t` (`f64::next_down`, which needs Rust 1.86);
/// `t` is not NaN.
fn next_below(t: f64) -> f64 {
    if t == f64::NEG_INFINITY {
        t
    } else if t == 0.0 {
        -f64::from_bits(1)
    } else if t > 0.0 {
        f64::from_bits(t.to_bits() - 1)
    } else {
        f64::from_bits(t.to_bits() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::next_below;

    #[test]
    fn next_below_is_one_ulp_down() {
        for t in [5.0, 1.0, -1.0, 1e-300, -1e300, f64::MAX, f64::INFINITY, f64::MIN_POSITIVE] {
            let d = next_below(t);
            assert!(d < t, "{t}");
            // Nothing lies between: the midpoint rounds to one of them.
            let mid = d / 2.0 + t / 2.0;
            assert!(mid == d || mid == t || !mid.is_finite(), "{t}");
        }
        assert_eq!(next_below(0.0), -f64::from_bits(1));
        assert_eq!(next_below(f64::INFINITY), f64::MAX);
        assert_eq!(next_below(f64::NEG_INFINITY), f64::NEG_INFINITY);
    }
}
