//! Threshold strategies besides the percentile of
//! [`Detector::infer_threshold`].
//!
//! - [`from_labels`]: when a few labels exist, pick the threshold on a labelled
//!   validation set that maximises F1, or reaches a target recall or precision
//!   ([`LabelObjective`]).
//! - [`contamination`]: when only the expected share of outliers is known.
//!
//! Each has a pure version on scores ([`pick_from_labels`], [`pick_contamination`])
//! that the detector version calls after scoring. Every threshold is for the
//! strict rule `score > threshold` that `predict` uses.

use ndarray::ArrayView2;

use crate::detectors::api::Detector;
use crate::error::{OddityError, Result};
use crate::eval::metrics::{best_f1_threshold, threshold_for_precision, threshold_for_recall, BestThreshold};
use crate::math::percentile::{percentile_threshold, Ties};

/// What a threshold chosen from labels should achieve on the labelled data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LabelObjective {
    /// The highest F1; among ties, the highest threshold (fewest flags).
    MaxF1,
    /// The highest threshold whose recall is at least this, in (0, 1].
    Recall(f64),
    /// The highest recall whose precision is at least this, in (0, 1]; an error
    /// if no threshold reaches it.
    Precision(f64),
}

/// Picks a threshold from scores and labels (`true` = outlier, higher score =
/// more anomalous) with [`crate::eval::metrics`]; see [`LabelObjective`]. The
/// returned metrics are those on this data. Needs both classes.
pub fn pick_from_labels(labels: &[bool], scores: &[f64], objective: LabelObjective) -> Result<BestThreshold> {
    match objective {
        LabelObjective::MaxF1 => best_f1_threshold(labels, scores),
        LabelObjective::Recall(r) => threshold_for_recall(labels, scores, r),
        LabelObjective::Precision(p) => threshold_for_precision(labels, scores, p),
    }
}

/// Scores the labelled rows `x` with `det`, picks a threshold with
/// [`pick_from_labels`], sets it on the detector and returns it with the
/// metrics it achieves on `x`.
pub fn from_labels(
    det: &mut dyn Detector,
    x: ArrayView2<f32>,
    labels: &[bool],
    objective: LabelObjective,
) -> Result<BestThreshold> {
    if x.nrows() != labels.len() {
        return Err(OddityError::param("labels", format!("has {} entries for {} rows", labels.len(), x.nrows())));
    }
    let scores: Vec<f64> = det.score(x)?.instance.iter().map(|&s| s as f64).collect();
    let best = pick_from_labels(labels, &scores, objective)?;
    det.set_threshold(best.threshold)?;
    Ok(best)
}

/// The threshold for an expected outlier share `fraction`, in (0, 1): the
/// `100 * (1 - fraction)` percentile of `scores` (numpy's linear
/// interpolation, with `infer_threshold`'s default tie rule,
/// [`Ties::NearestCount`]), so that about `fraction` of the scores lie
/// strictly above it: `ceil(fraction * (n - 1))` of the `n` scores when they
/// are distinct (up to float rounding of that product).
pub fn pick_contamination(scores: &[f64], fraction: f64) -> Result<f64> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(OddityError::param("fraction", format!("must be in (0, 1), got {fraction}")));
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(OddityError::param("scores", format!("score {} at index {i} is not finite", scores[i])));
    }
    percentile_threshold(scores, 100.0 * (1.0 - fraction), Ties::NearestCount)
}

/// Scores `x` with `det`, sets the threshold from [`pick_contamination`] and
/// returns it.
pub fn contamination(det: &mut dyn Detector, x: ArrayView2<f32>, fraction: f64) -> Result<f64> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(OddityError::param("fraction", format!("must be in (0, 1), got {fraction}")));
    }
    let scores: Vec<f64> = det.score(x)?.instance.iter().map(|&s| s as f64).collect();
    let t = pick_contamination(&scores, fraction)?;
    det.set_threshold(t)?;
    Ok(t)
}
