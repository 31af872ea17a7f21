//! Binary classification metrics for anomaly scores: confusion matrix, ROC and
//! precision-recall curves, AUC / average precision, threshold selection and a
//! multi-seed summary.
//!
//! Conventions, shared by every function here:
//! - labels are `&[bool]`, `true` = outlier (the positive class);
//! - a higher score means more anomalous;
//! - a *prediction* is `score > threshold` (strict, as in Alibi Detect), so every
//!   threshold returned by [`best_f1_threshold`], [`threshold_for_recall`] and
//!   [`threshold_for_precision`] can be fed straight to a detector;
//! - the *curves* ([`roc_curve`], [`precision_recall_curve`]) report the same points
//!   and thresholds as scikit-learn, whose thresholds mean `score >= threshold`.
//!
//! Scores must be finite (scikit-learn also rejects NaN and infinity).

use std::cmp::Ordering;
use std::fmt;

use crate::error::{OddityError, Result};

/// Counts of a binary prediction against ground truth (positive = outlier).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConfusionMatrix {
    /// Outliers flagged as outliers.
    pub tp: usize,
    /// Normal rows flagged as outliers.
    pub fp: usize,
    /// Normal rows left unflagged.
    pub tn: usize,
    /// Outliers left unflagged.
    pub fn_: usize,
}

/// `num / den`, or 0.0 when `den` is 0 (scikit-learn's `zero_division=0`).
fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

impl ConfusionMatrix {
    /// Counts predicted labels against true labels.
    pub fn from_predictions(y_true: &[bool], y_pred: &[bool]) -> Result<Self> {
        check_lengths(y_true.len(), y_pred.len(), "y_pred")?;
        let mut cm = ConfusionMatrix::default();
        for (&truth, &pred) in y_true.iter().zip(y_pred) {
            match (truth, pred) {
                (true, true) => cm.tp += 1,
                (false, true) => cm.fp += 1,
                (false, false) => cm.tn += 1,
                (true, false) => cm.fn_ += 1,
            }
        }
        Ok(cm)
    }

    /// Counts the predictions `score > threshold` against true labels.
    pub fn from_scores(y_true: &[bool], scores: &[f64], threshold: f64) -> Result<Self> {
        check_scores(y_true, scores)?;
        if threshold.is_nan() {
            return Err(OddityError::param("threshold", "is NaN"));
        }
        let y_pred: Vec<bool> = scores.iter().map(|&s| s > threshold).collect();
        Self::from_predictions(y_true, &y_pred)
    }

    /// Number of rows counted.
    pub fn total(&self) -> usize {
        self.tp + self.fp + self.tn + self.fn_
    }

    /// tp / (tp + fp): the share of flagged rows that are real outliers.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// tp / (tp + fn): the share of real outliers that are flagged (true positive rate).
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// Harmonic mean of precision and recall, 2tp / (2tp + fp + fn).
    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }

    /// (tp + tn) / total.
    pub fn accuracy(&self) -> f64 {
        ratio(self.tp + self.tn, self.total())
    }

    /// fp / (fp + tn): the share of normal rows wrongly flagged.
    pub fn false_positive_rate(&self) -> f64 {
        ratio(self.fp, self.fp + self.tn)
    }
}

impl fmt::Display for ConfusionMatrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = [self.tp, self.fp, self.tn, self.fn_]
            .iter()
            .map(|v| v.to_string().len())
            .max()
            .unwrap_or(1)
            .max("predicted outlier".len());
        writeln!(f, "{:<15}  {:>w$}  {:>w$}", "", "predicted normal", "predicted outlier")?;
        writeln!(f, "{:<15}  {:>w$}  {:>w$}", "actual normal", self.tn, self.fp)?;
        write!(f, "{:<15}  {:>w$}  {:>w$}", "actual outlier", self.fn_, self.tp)
    }
}

/// A ROC curve: one point per distinct score, plus the origin.
///
/// Same points as scikit-learn's `roc_curve(y, s, drop_intermediate=False)`:
/// `thresholds[0]` is `+inf` (nothing flagged), then the distinct scores in
/// decreasing order; point `i` flags the rows with `score >= thresholds[i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RocCurve {
    /// False positive rate at each threshold (non-decreasing, from 0 to 1).
    pub fpr: Vec<f64>,
    /// True positive rate (recall) at each threshold (non-decreasing, from 0 to 1).
    pub tpr: Vec<f64>,
    /// Decreasing thresholds, `+inf` first (sklearn >= 1.3 convention).
    pub thresholds: Vec<f64>,
}

/// A precision-recall curve, in scikit-learn's layout.
///
/// Same arrays as `precision_recall_curve(y, s)` (scikit-learn >= 1.3, no
/// `drop_intermediate`): thresholds are the distinct scores in *increasing* order,
/// point `i` flags `score >= thresholds[i]`, and a final point
/// `(precision 1, recall 0)` without a threshold is appended, so
/// `precision.len() == recall.len() == thresholds.len() + 1`.
#[derive(Debug, Clone, PartialEq)]
pub struct PrCurve {
    /// Precision at each threshold, then 1.0.
    pub precision: Vec<f64>,
    /// Recall at each threshold (non-increasing), then 0.0.
    pub recall: Vec<f64>,
    /// Increasing distinct scores.
    pub thresholds: Vec<f64>,
}

/// A decision threshold for `score > threshold`, with the metrics it achieves on
/// the data it was chosen on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BestThreshold {
    /// Flag rows whose score is strictly greater than this.
    pub threshold: f64,
    /// F1 at this threshold.
    pub f1: f64,
    /// Precision at this threshold.
    pub precision: f64,
    /// Recall at this threshold.
    pub recall: f64,
}

/// Cumulative counts at each distinct score, highest score first
/// (scikit-learn's `_binary_clf_curve`).
struct ClfCurve {
    /// Distinct scores, decreasing.
    thresholds: Vec<f64>,
    /// Positives with `score >= thresholds[i]`.
    tps: Vec<usize>,
    /// Negatives with `score >= thresholds[i]`.
    fps: Vec<usize>,
}

impl ClfCurve {
    fn positives(&self) -> usize {
        self.tps.last().copied().unwrap_or(0)
    }

    fn negatives(&self) -> usize {
        self.fps.last().copied().unwrap_or(0)
    }

    /// A strict threshold that flags exactly the rows with `score >= thresholds[i]`:
    /// the midpoint to the next lower distinct score, or, at the lowest score,
    /// `lowest - max(|lowest|, 1)`.
    fn strict_threshold(&self, i: usize) -> f64 {
        let s = self.thresholds[i];
        match self.thresholds.get(i + 1) {
            // Halving first keeps the midpoint finite even for huge scores.
            Some(&lower) => {
                let mid = s / 2.0 + lower / 2.0;
                // Rounding can land on either end when the two are adjacent floats;
                // then `lower` itself separates them.
                if mid > lower && mid < s {
                    mid
                } else {
                    lower
                }
            }
            None => s - s.abs().max(1.0),
        }
    }

    /// Metrics of the prediction `score >= thresholds[i]`.
    fn point(&self, i: usize) -> BestThreshold {
        let cm = ConfusionMatrix {
            tp: self.tps[i],
            fp: self.fps[i],
            tn: self.negatives() - self.fps[i],
            fn_: self.positives() - self.tps[i],
        };
        BestThreshold {
            threshold: self.strict_threshold(i),
            f1: cm.f1(),
            precision: cm.precision(),
            recall: cm.recall(),
        }
    }
}

fn check_lengths(n_true: usize, n_other: usize, name: &'static str) -> Result<()> {
    if n_true == 0 {
        return Err(OddityError::EmptyInput("no labels or scores to evaluate".into()));
    }
    if n_true != n_other {
        return Err(OddityError::param(name, format!("has {n_other} entries but y_true has {n_true}")));
    }
    Ok(())
}

fn check_scores(y_true: &[bool], scores: &[f64]) -> Result<()> {
    check_lengths(y_true.len(), scores.len(), "scores")?;
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(OddityError::param("scores", format!("score {} at index {i} is not finite", scores[i])));
    }
    Ok(())
}

fn clf_curve(y_true: &[bool], scores: &[f64]) -> Result<ClfCurve> {
    check_scores(y_true, scores)?;
    let positives = y_true.iter().filter(|&&y| y).count();
    if positives == 0 || positives == y_true.len() {
        let only = if positives == 0 { "normal" } else { "outlier" };
        return Err(OddityError::param(
            "y_true",
            format!("only one class present (all {only}); this metric needs both outliers and normal rows"),
        ));
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut curve = ClfCurve { thresholds: Vec::new(), tps: Vec::new(), fps: Vec::new() };
    let (mut tp, mut fp) = (0, 0);
    for (k, &i) in order.iter().enumerate() {
        if y_true[i] {
            tp += 1;
        } else {
            fp += 1;
        }
        // Close a point at the last row of each group of equal scores.
        let last_of_group = order.get(k + 1).map_or(true, |&j| scores[j] != scores[i]);
        if last_of_group {
            curve.thresholds.push(scores[i]);
            curve.tps.push(tp);
            curve.fps.push(fp);
        }
    }
    Ok(curve)
}

/// The ROC curve of `scores` against `y_true`; see [`RocCurve`] for the layout.
pub fn roc_curve(y_true: &[bool], scores: &[f64]) -> Result<RocCurve> {
    let c = clf_curve(y_true, scores)?;
    let (p, n) = (c.positives(), c.negatives());
    let mut roc = RocCurve { fpr: vec![0.0], tpr: vec![0.0], thresholds: vec![f64::INFINITY] };
    for i in 0..c.thresholds.len() {
        roc.fpr.push(ratio(c.fps[i], n));
        roc.tpr.push(ratio(c.tps[i], p));
        roc.thresholds.push(c.thresholds[i]);
    }
    Ok(roc)
}

/// Area under the ROC curve, as scikit-learn's `roc_auc_score`.
///
/// Equals the Mann–Whitney statistic P(outlier score > normal score), ties counted
/// 1/2; computed exactly in integers, then divided once.
pub fn roc_auc(y_true: &[bool], scores: &[f64]) -> Result<f64> {
    let c = clf_curve(y_true, scores)?;
    // Trapezoids between consecutive points, doubled to stay in integers.
    let (mut prev_tp, mut prev_fp, mut twice_area) = (0u128, 0u128, 0u128);
    for (&tp, &fp) in c.tps.iter().zip(&c.fps) {
        let (tp, fp) = (tp as u128, fp as u128);
        twice_area += (fp - prev_fp) * (tp + prev_tp);
        prev_tp = tp;
        prev_fp = fp;
    }
    let denom = 2 * c.positives() as u128 * c.negatives() as u128;
    Ok(twice_area as f64 / denom as f64)
}

/// The precision-recall curve of `scores` against `y_true`; see [`PrCurve`] for
/// the layout.
pub fn precision_recall_curve(y_true: &[bool], scores: &[f64]) -> Result<PrCurve> {
    let c = clf_curve(y_true, scores)?;
    let p = c.positives();
    let m = c.thresholds.len();
    let mut pr = PrCurve {
        precision: Vec::with_capacity(m + 1),
        recall: Vec::with_capacity(m + 1),
        thresholds: Vec::with_capacity(m),
    };
    for i in (0..m).rev() {
        pr.precision.push(ratio(c.tps[i], c.tps[i] + c.fps[i]));
        pr.recall.push(ratio(c.tps[i], p));
        pr.thresholds.push(c.thresholds[i]);
    }
    pr.precision.push(1.0);
    pr.recall.push(0.0);
    Ok(pr)
}

/// Average precision, as scikit-learn's `average_precision_score`: the step-wise
/// sum over thresholds of (recall gain) × precision, no interpolation.
pub fn average_precision(y_true: &[bool], scores: &[f64]) -> Result<f64> {
    let c = clf_curve(y_true, scores)?;
    let p = c.positives() as f64;
    let mut prev_tp = 0;
    let mut ap = 0.0;
    for (&tp, &fp) in c.tps.iter().zip(&c.fps) {
        ap += (tp - prev_tp) as f64 / p * ratio(tp, tp + fp);
        prev_tp = tp;
    }
    Ok(ap)
}

/// The threshold with the highest F1 on this data.
///
/// The returned `threshold` is for the strict rule `score > threshold`: the
/// midpoint between the cut-off score and the next lower distinct score (or
/// `lowest - max(|lowest|, 1)` when every row is flagged). Among equal F1 values
/// the highest threshold (fewest flags) wins. Needs both classes.
pub fn best_f1_threshold(y_true: &[bool], scores: &[f64]) -> Result<BestThreshold> {
    let c = clf_curve(y_true, scores)?;
    let mut best = c.point(0);
    for i in 1..c.thresholds.len() {
        let candidate = c.point(i);
        if candidate.f1 > best.f1 {
            best = candidate;
        }
    }
    Ok(best)
}

/// The highest threshold (for `score > threshold`, as in [`best_f1_threshold`])
/// whose recall is at least `target_recall`, in (0, 1]. Needs both classes.
pub fn threshold_for_recall(y_true: &[bool], scores: &[f64], target_recall: f64) -> Result<BestThreshold> {
    if !(target_recall > 0.0 && target_recall <= 1.0) {
        return Err(OddityError::param("target_recall", format!("must be in (0, 1], got {target_recall}")));
    }
    let c = clf_curve(y_true, scores)?;
    let p = c.positives() as f64;
    // Recall only grows as the threshold falls; the lowest score reaches 1.
    let i = c.tps.iter().position(|&tp| tp as f64 >= target_recall * p).unwrap_or(c.thresholds.len() - 1);
    Ok(c.point(i))
}

/// The threshold (for `score > threshold`, as in [`best_f1_threshold`]) with the
/// highest recall among those whose precision is at least `target_precision`, in
/// (0, 1]; ties go to the highest threshold. Needs both classes; an error if no
/// threshold reaches the target.
pub fn threshold_for_precision(y_true: &[bool], scores: &[f64], target_precision: f64) -> Result<BestThreshold> {
    if !(target_precision > 0.0 && target_precision <= 1.0) {
        return Err(OddityError::param("target_precision", format!("must be in (0, 1], got {target_precision}")));
    }
    let c = clf_curve(y_true, scores)?;
    let mut best: Option<BestThreshold> = None;
    let mut max_precision = 0.0f64;
    for i in 0..c.thresholds.len() {
        let (tp, fp) = (c.tps[i], c.fps[i]);
        max_precision = max_precision.max(ratio(tp, tp + fp));
        // tp / (tp + fp) >= target without dividing; tp + fp >= 1 at every point.
        if tp as f64 >= target_precision * (tp + fp) as f64 {
            let candidate = c.point(i);
            if best.map_or(true, |b| candidate.recall > b.recall) {
                best = Some(candidate);
            }
        }
    }
    best.ok_or_else(|| {
        OddityError::param(
            "target_precision",
            format!("no threshold reaches precision {target_precision}; the best is {max_precision:.4}"),
        )
    })
}

/// Median, range, mean and spread of one metric over several runs (seeds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Middle value; the mean of the two middle values for an even count.
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (n - 1 in the denominator); 0 for a single value.
    pub std: f64,
    /// Number of values.
    pub n: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "median {:.4} (min {:.4}, max {:.4}; mean {:.4} ± {:.4}; n = {})",
            self.median, self.min, self.max, self.mean, self.std, self.n
        )
    }
}

/// Summarises one metric over several runs; values must be finite.
pub fn summarize(values: &[f64]) -> Result<Summary> {
    if values.is_empty() {
        return Err(OddityError::EmptyInput("no values to summarize".into()));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(OddityError::param("values", format!("value {} at index {i} is not finite", values[i])));
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
    let n = sorted.len();
    let median = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 };
    let mean = sorted.iter().sum::<f64>() / n as f64;
    let std = if n > 1 {
        let ss: f64 = sorted.iter().map(|v| (v - mean).powi(2)).sum();
        (ss / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    Ok(Summary { median, min: sorted[0], max: sorted[n - 1], mean, std, n })
}

#[cfg(test)]
mod tests {
    //! Reference values come from scikit-learn 1.9.1 (numpy 2.4.6), computed with
    //! the calls quoted next to each number, e.g.
    //! `roc_curve(y, s, drop_intermediate=False)`, `roc_auc_score(y, s)`,
    //! `precision_recall_curve(y, s)`, `average_precision_score(y, s)`.

    use super::*;
    use approx::assert_abs_diff_eq;

    fn labels(bits: &[u8]) -> Vec<bool> {
        bits.iter().map(|&b| b == 1).collect()
    }

    /// y = [0,0,1,1,0,1,0,1,1,0], s = [0.1,0.4,0.35,0.8,0.4,0.35,0.2,0.9,0.4,0.05]
    fn ties() -> (Vec<bool>, Vec<f64>) {
        (labels(&[0, 0, 1, 1, 0, 1, 0, 1, 1, 0]), vec![0.1, 0.4, 0.35, 0.8, 0.4, 0.35, 0.2, 0.9, 0.4, 0.05])
    }

    /// y = [0]*8+[1]+[0]*9+[1]+[0], 20 rows, 2 outliers.
    fn imbalanced() -> (Vec<bool>, Vec<f64>) {
        let mut y = vec![false; 20];
        y[8] = true;
        y[18] = true;
        let s =
            vec![-1.5, 0.2, 0.3, 0.3, 2.0, 0.1, -0.4, 0.9, 2.5, 0.0, 0.7, 0.3, 1.1, 0.6, 0.2, 3.0, 0.5, 0.8, 0.3, -0.2];
        (y, s)
    }

    fn perfect() -> (Vec<bool>, Vec<f64>) {
        (labels(&[0, 0, 0, 1, 1]), vec![1.0, 2.0, 3.0, 4.0, 5.0])
    }

    fn inverted() -> (Vec<bool>, Vec<f64>) {
        (labels(&[0, 0, 0, 1, 1]), vec![5.0, 4.0, 3.0, 2.0, 1.0])
    }

    fn all_equal() -> (Vec<bool>, Vec<f64>) {
        (labels(&[1, 0, 1, 0, 0]), vec![0.5; 5])
    }

    fn assert_slice_eq(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for (g, w) in got.iter().zip(want) {
            if w.is_infinite() {
                assert_eq!(g, w);
            } else {
                assert_abs_diff_eq!(g, w, epsilon = 1e-12);
            }
        }
    }

    #[test]
    fn confusion_matrix_matches_sklearn() {
        // confusion_matrix(y, s > 0.35).ravel() -> tn, fp, fn, tp = 3, 2, 2, 3;
        // precision_score / recall_score / f1_score(zero_division=0) = 0.6, accuracy 0.6.
        let (y, s) = ties();
        let cm = ConfusionMatrix::from_scores(&y, &s, 0.35).unwrap();
        assert_eq!(cm, ConfusionMatrix { tp: 3, fp: 2, tn: 3, fn_: 2 });
        assert_abs_diff_eq!(cm.precision(), 0.6, epsilon = 1e-12);
        assert_abs_diff_eq!(cm.recall(), 0.6, epsilon = 1e-12);
        assert_abs_diff_eq!(cm.f1(), 0.6, epsilon = 1e-12);
        assert_abs_diff_eq!(cm.accuracy(), 0.6, epsilon = 1e-12);
        assert_abs_diff_eq!(cm.false_positive_rate(), 0.4, epsilon = 1e-12);

        // s > 0.4 (strict: the three 0.4 scores are not flagged): tn,fp,fn,tp = 5,0,3,2;
        // precision 1.0, recall 0.4, f1 0.5714285714285714, accuracy 0.7.
        let cm = ConfusionMatrix::from_scores(&y, &s, 0.4).unwrap();
        assert_eq!(cm, ConfusionMatrix { tp: 2, fp: 0, tn: 5, fn_: 3 });
        assert_abs_diff_eq!(cm.f1(), 0.5714285714285714, epsilon = 1e-12);
        assert_abs_diff_eq!(cm.accuracy(), 0.7, epsilon = 1e-12);

        // imbalanced, s > 0.3: tn,fp,fn,tp = 10,8,1,1; precision 0.1111111111111111,
        // recall 0.5, f1 0.18181818181818182, accuracy 0.55.
        let (y, s) = imbalanced();
        let cm = ConfusionMatrix::from_scores(&y, &s, 0.3).unwrap();
        assert_eq!(cm, ConfusionMatrix { tp: 1, fp: 8, tn: 10, fn_: 1 });
        assert_abs_diff_eq!(cm.precision(), 0.1111111111111111, epsilon = 1e-12);
        assert_abs_diff_eq!(cm.f1(), 0.18181818181818182, epsilon = 1e-12);
        assert_abs_diff_eq!(cm.accuracy(), 0.55, epsilon = 1e-12);
    }

    #[test]
    fn zero_division_gives_zero() {
        // Nothing flagged and no outliers: every ratio with a 0 denominator is 0.
        let cm = ConfusionMatrix::from_predictions(&[false, false], &[false, false]).unwrap();
        assert_eq!(cm.precision(), 0.0);
        assert_eq!(cm.recall(), 0.0);
        assert_eq!(cm.f1(), 0.0);
        assert_eq!(cm.accuracy(), 1.0);
        let cm = ConfusionMatrix::from_predictions(&[true], &[true]).unwrap();
        assert_eq!(cm.false_positive_rate(), 0.0);
    }

    #[test]
    fn confusion_matrix_display_is_a_table() {
        let cm = ConfusionMatrix { tp: 3, fp: 2, tn: 1234, fn_: 7 };
        let text = cm.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].contains("predicted normal") && lines[0].contains("predicted outlier"));
        assert!(lines[1].starts_with("actual normal") && lines[1].ends_with(" 2"));
        assert!(lines[1].contains(" 1234 "));
        assert!(lines[2].starts_with("actual outlier") && lines[2].ends_with(" 3"));
        assert!(lines.iter().all(|l| l.len() == lines[0].len()));
    }

    #[test]
    fn roc_curve_matches_sklearn() {
        // roc_curve(y, s, drop_intermediate=False) on ties():
        let (y, s) = ties();
        let roc = roc_curve(&y, &s).unwrap();
        assert_slice_eq(&roc.fpr, &[0.0, 0.0, 0.0, 0.4, 0.4, 0.6, 0.8, 1.0]);
        assert_slice_eq(&roc.tpr, &[0.0, 0.2, 0.4, 0.6, 1.0, 1.0, 1.0, 1.0]);
        assert_slice_eq(&roc.thresholds, &[f64::INFINITY, 0.9, 0.8, 0.4, 0.35, 0.2, 0.1, 0.05]);

        // ... on imbalanced():
        let (y, s) = imbalanced();
        let roc = roc_curve(&y, &s).unwrap();
        assert_slice_eq(
            &roc.fpr,
            &[
                0.0,
                0.05555555555555555,
                0.05555555555555555,
                0.1111111111111111,
                0.16666666666666666,
                0.2222222222222222,
                0.2777777777777778,
                0.3333333333333333,
                0.3888888888888889,
                0.4444444444444444,
                0.6111111111111112,
                0.7222222222222222,
                0.7777777777777778,
                0.8333333333333334,
                0.8888888888888888,
                0.9444444444444444,
                1.0,
            ],
        );
        let mut tpr = vec![0.0, 0.0];
        tpr.extend([0.5; 8]);
        tpr.extend([1.0; 7]);
        assert_slice_eq(&roc.tpr, &tpr);
        assert_slice_eq(
            &roc.thresholds,
            &[f64::INFINITY, 3.0, 2.5, 2.0, 1.1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.3, 0.2, 0.1, 0.0, -0.2, -0.4, -1.5],
        );

        // ... on all_equal(): fpr [0, 1], tpr [0, 1], thresholds [inf, 0.5].
        let (y, s) = all_equal();
        let roc = roc_curve(&y, &s).unwrap();
        assert_slice_eq(&roc.fpr, &[0.0, 1.0]);
        assert_slice_eq(&roc.tpr, &[0.0, 1.0]);
        assert_slice_eq(&roc.thresholds, &[f64::INFINITY, 0.5]);

        // ... on perfect(): fpr [0, 0, 0, 1/3, 2/3, 1], tpr [0, .5, 1, 1, 1, 1].
        let (y, s) = perfect();
        let roc = roc_curve(&y, &s).unwrap();
        assert_slice_eq(&roc.fpr, &[0.0, 0.0, 0.0, 0.3333333333333333, 0.6666666666666666, 1.0]);
        assert_slice_eq(&roc.tpr, &[0.0, 0.5, 1.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn roc_auc_matches_sklearn() {
        // roc_auc_score(y, s): ties 0.8, all_equal 0.5, perfect 1.0, inverted 0.0,
        // imbalanced 0.7083333333333333.
        let cases = [
            (ties(), 0.8),
            (all_equal(), 0.5),
            (perfect(), 1.0),
            (inverted(), 0.0),
            (imbalanced(), 0.7083333333333333),
        ];
        for ((y, s), want) in cases {
            assert_abs_diff_eq!(roc_auc(&y, &s).unwrap(), want, epsilon = 1e-12);
        }
    }

    #[test]
    fn roc_auc_agrees_with_linfa() {
        use linfa::dataset::Pr;
        use linfa::prelude::BinaryClassification;
        // linfa needs probabilities in [0, 1]; ties() already is.
        let (y, s) = ties();
        let probs: Vec<Pr> = s.iter().map(|&v| Pr::new(v as f32)).collect();
        let linfa_auc = probs.as_slice().roc(&y).unwrap().area_under_curve();
        assert_abs_diff_eq!(roc_auc(&y, &s).unwrap(), linfa_auc as f64, epsilon = 1e-6);
    }

    #[test]
    fn precision_recall_curve_matches_sklearn() {
        // precision_recall_curve(y, s) on ties():
        let (y, s) = ties();
        let pr = precision_recall_curve(&y, &s).unwrap();
        assert_slice_eq(&pr.precision, &[0.5, 0.5555555555555556, 0.625, 0.7142857142857143, 0.6, 1.0, 1.0, 1.0]);
        assert_slice_eq(&pr.recall, &[1.0, 1.0, 1.0, 1.0, 0.6, 0.4, 0.2, 0.0]);
        assert_slice_eq(&pr.thresholds, &[0.05, 0.1, 0.2, 0.35, 0.4, 0.8, 0.9]);

        // ... on inverted(): p [0.4, 0.25, 0, 0, 0, 1], r [1, 0.5, 0, 0, 0, 0].
        let (y, s) = inverted();
        let pr = precision_recall_curve(&y, &s).unwrap();
        assert_slice_eq(&pr.precision, &[0.4, 0.25, 0.0, 0.0, 0.0, 1.0]);
        assert_slice_eq(&pr.recall, &[1.0, 0.5, 0.0, 0.0, 0.0, 0.0]);
        assert_slice_eq(&pr.thresholds, &[1.0, 2.0, 3.0, 4.0, 5.0]);

        // ... on all_equal(): p [0.4, 1], r [1, 0], thresholds [0.5].
        let (y, s) = all_equal();
        let pr = precision_recall_curve(&y, &s).unwrap();
        assert_slice_eq(&pr.precision, &[0.4, 1.0]);
        assert_slice_eq(&pr.recall, &[1.0, 0.0]);
        assert_slice_eq(&pr.thresholds, &[0.5]);
    }

    #[test]
    fn average_precision_matches_sklearn() {
        // average_precision_score(y, s): ties 0.8057142857142856, all_equal 0.4,
        // perfect 1.0, inverted 0.325, imbalanced 0.3269230769230769.
        let cases = [
            (ties(), 0.8057142857142856),
            (all_equal(), 0.4),
            (perfect(), 1.0),
            (inverted(), 0.325),
            (imbalanced(), 0.3269230769230769),
        ];
        for ((y, s), want) in cases {
            assert_abs_diff_eq!(average_precision(&y, &s).unwrap(), want, epsilon = 1e-12);
        }
    }

    #[test]
    fn best_f1_threshold_matches_sklearn_curve() {
        // Best F1 = max over precision_recall_curve points of 2pr/(p+r):
        // ties: 0.8333333333333333 at sklearn threshold 0.35 (>=), next lower score 0.2.
        let (y, s) = ties();
        let best = best_f1_threshold(&y, &s).unwrap();
        assert_abs_diff_eq!(best.f1, 0.8333333333333333, epsilon = 1e-12);
        assert_abs_diff_eq!(best.precision, 0.7142857142857143, epsilon = 1e-12);
        assert_abs_diff_eq!(best.recall, 1.0, epsilon = 1e-12);
        assert_abs_diff_eq!(best.threshold, 0.275, epsilon = 1e-12);

        // perfect: F1 1.0 at >= 4, next lower 3 -> 3.5.
        let (y, s) = perfect();
        let best = best_f1_threshold(&y, &s).unwrap();
        assert_abs_diff_eq!(best.f1, 1.0, epsilon = 1e-12);
        assert_abs_diff_eq!(best.threshold, 3.5, epsilon = 1e-12);

        // imbalanced: F1 0.5 (p 0.5, r 0.5) at >= 2.5, next lower 2.0 -> 2.25.
        let (y, s) = imbalanced();
        let best = best_f1_threshold(&y, &s).unwrap();
        assert_abs_diff_eq!(best.f1, 0.5, epsilon = 1e-12);
        assert_abs_diff_eq!(best.threshold, 2.25, epsilon = 1e-12);

        // all_equal and inverted: the best is to flag everything (F1 0.5714285714285715);
        // below the lowest score s, the threshold is s - max(|s|, 1).
        let (y, s) = all_equal();
        let best = best_f1_threshold(&y, &s).unwrap();
        assert_abs_diff_eq!(best.f1, 0.5714285714285715, epsilon = 1e-12);
        assert_abs_diff_eq!(best.threshold, -0.5, epsilon = 1e-12);
        let (y, s) = inverted();
        let best = best_f1_threshold(&y, &s).unwrap();
        assert_abs_diff_eq!(best.f1, 0.5714285714285715, epsilon = 1e-12);
        assert_abs_diff_eq!(best.threshold, 0.0, epsilon = 1e-12);
    }

    #[test]
    fn returned_thresholds_reproduce_their_metrics_with_strict_rule() {
        for (y, s) in [ties(), imbalanced(), perfect(), inverted(), all_equal()] {
            let mut picks = vec![best_f1_threshold(&y, &s).unwrap()];
            for target in [0.1, 0.5, 0.6, 1.0] {
                picks.push(threshold_for_recall(&y, &s, target).unwrap());
            }
            for target in [0.1, 0.3, 0.5] {
                if let Ok(pick) = threshold_for_precision(&y, &s, target) {
                    picks.push(pick);
                }
            }
            for pick in picks {
                let cm = ConfusionMatrix::from_scores(&y, &s, pick.threshold).unwrap();
                assert_abs_diff_eq!(cm.f1(), pick.f1, epsilon = 1e-12);
                assert_abs_diff_eq!(cm.precision(), pick.precision, epsilon = 1e-12);
                assert_abs_diff_eq!(cm.recall(), pick.recall, epsilon = 1e-12);
            }
        }
    }

    #[test]
    fn midpoint_of_adjacent_floats_still_separates() {
        let hi = 1.0f64;
        let lo = 1.0 - f64::EPSILON / 2.0; // the float just below 1.0
        let y = [true, false];
        let best = best_f1_threshold(&y, &[hi, lo]).unwrap();
        assert_eq!(best.f1, 1.0);
        assert!(hi > best.threshold && lo <= best.threshold);
    }

    #[test]
    fn threshold_for_recall_and_precision() {
        // From roc_curve(y, s, drop_intermediate=False) on ties(): recall first
        // reaches 0.5 at >= 0.4 (tpr 0.6, precision 3/5); next lower score 0.35.
        let (y, s) = ties();
        let t = threshold_for_recall(&y, &s, 0.5).unwrap();
        assert_abs_diff_eq!(t.threshold, 0.375, epsilon = 1e-12);
        assert_abs_diff_eq!(t.recall, 0.6, epsilon = 1e-12);
        assert_abs_diff_eq!(t.precision, 0.6, epsilon = 1e-12);
        // Recall 0.4 is reached exactly at >= 0.8 -> midpoint to 0.4.
        let t = threshold_for_recall(&y, &s, 0.4).unwrap();
        assert_abs_diff_eq!(t.threshold, 0.6, epsilon = 1e-12);

        // From precision_recall_curve(y, s): precision >= 0.7 with the highest
        // recall is 0.7142857142857143 at >= 0.35 (recall 1).
        let t = threshold_for_precision(&y, &s, 0.7).unwrap();
        assert_abs_diff_eq!(t.threshold, 0.275, epsilon = 1e-12);
        assert_abs_diff_eq!(t.precision, 0.7142857142857143, epsilon = 1e-12);
        assert_abs_diff_eq!(t.recall, 1.0, epsilon = 1e-12);
        // Precision 1 holds down to >= 0.8 (recall 0.4).
        let t = threshold_for_precision(&y, &s, 1.0).unwrap();
        assert_abs_diff_eq!(t.threshold, 0.6, epsilon = 1e-12);
        assert_abs_diff_eq!(t.recall, 0.4, epsilon = 1e-12);

        // imbalanced: the best precision anywhere is 0.5.
        let (y, s) = imbalanced();
        assert!(matches!(
            threshold_for_precision(&y, &s, 0.6),
            Err(OddityError::InvalidParameter { name: "target_precision", .. })
        ));
        for bad in [0.0, -0.1, 1.5, f64::NAN] {
            assert!(threshold_for_recall(&y, &s, bad).is_err());
            assert!(threshold_for_precision(&y, &s, bad).is_err());
        }
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let (y, s) = ties();
        type Metric = fn(&[bool], &[f64]) -> Result<f64>;
        let metrics: [Metric; 4] = [
            roc_auc,
            average_precision,
            |y, s| roc_curve(y, s).map(|c| c.fpr[0]),
            |y, s| best_f1_threshold(y, s).map(|b| b.f1),
        ];
        for metric in metrics {
            assert!(matches!(metric(&[], &[]), Err(OddityError::EmptyInput(_))));
            assert!(matches!(metric(&y, &s[..3]), Err(OddityError::InvalidParameter { name: "scores", .. })));
            let mut nan = s.clone();
            nan[4] = f64::NAN;
            assert!(matches!(metric(&y, &nan), Err(OddityError::InvalidParameter { name: "scores", .. })));
            let mut inf = s.clone();
            inf[0] = f64::INFINITY;
            assert!(metric(&y, &inf).is_err());
            for one_class in [vec![false; 10], vec![true; 10]] {
                assert!(matches!(metric(&one_class, &s), Err(OddityError::InvalidParameter { name: "y_true", .. })));
            }
        }
        assert!(precision_recall_curve(&[true], &[1.0]).is_err());
        assert!(matches!(ConfusionMatrix::from_predictions(&[], &[]), Err(OddityError::EmptyInput(_))));
        assert!(ConfusionMatrix::from_predictions(&y, &[true]).is_err());
        assert!(ConfusionMatrix::from_scores(&y, &s, f64::NAN).is_err());
        assert!(ConfusionMatrix::from_scores(&y, &s[..9], 0.1).is_err());
    }

    #[test]
    fn summarize_matches_numpy() {
        // v = [0.91, 0.87, 0.93, 0.89, 0.95, 0.90]: np.median 0.905, mean
        // 0.9083333333333333, v.std(ddof=1) 0.028577380332470405.
        let s = summarize(&[0.91, 0.87, 0.93, 0.89, 0.95, 0.90]).unwrap();
        assert_abs_diff_eq!(s.median, 0.905, epsilon = 1e-12);
        assert_abs_diff_eq!(s.min, 0.87);
        assert_abs_diff_eq!(s.max, 0.95);
        assert_abs_diff_eq!(s.mean, 0.9083333333333333, epsilon = 1e-12);
        assert_abs_diff_eq!(s.std, 0.028577380332470405, epsilon = 1e-12);
        assert_eq!(s.n, 6);
        // Odd count: median 0.91, std(ddof=1) 0.031622776601683784.
        let s = summarize(&[0.91, 0.87, 0.93, 0.89, 0.95]).unwrap();
        assert_abs_diff_eq!(s.median, 0.91, epsilon = 1e-12);
        assert_abs_diff_eq!(s.std, 0.031622776601683784, epsilon = 1e-12);
        let one = summarize(&[0.5]).unwrap();
        assert_eq!((one.median, one.std, one.n), (0.5, 0.0, 1));
        assert!(one.to_string().starts_with("median 0.5000"));
        assert!(matches!(summarize(&[]), Err(OddityError::EmptyInput(_))));
        assert!(summarize(&[1.0, f64::NAN]).is_err());
    }
}
