//! Everything one usually reports about scores against labels at a
//! threshold, in one serialisable struct.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::eval::metrics::{average_precision, roc_auc, ConfusionMatrix};

/// Metrics of scores against labels (true = outlier) at `score > threshold`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The threshold used for the confusion matrix.
    pub threshold: f64,
    /// Rows.
    pub n: usize,
    /// Labelled outliers.
    pub n_outliers: usize,
    /// True positives.
    pub tp: usize,
    /// False positives.
    pub fp: usize,
    /// True negatives.
    pub tn: usize,
    /// False negatives.
    pub fn_: usize,
    /// TP / (TP + FP).
    pub precision: f64,
    /// TP / (TP + FN).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Area under the ROC curve (threshold-free).
    pub roc_auc: f64,
    /// Average precision, the area under the precision-recall curve (threshold-free).
    pub auprc: f64,
}

/// Evaluates `scores` against `labels` at `threshold`.
pub fn evaluate(labels: &[bool], scores: &[f64], threshold: f64) -> Result<Evaluation> {
    let cm = ConfusionMatrix::from_scores(labels, scores, threshold)?;
    Ok(Evaluation {
        threshold,
        n: labels.len(),
        n_outliers: labels.iter().filter(|&&b| b).count(),
        tp: cm.tp,
        fp: cm.fp,
        tn: cm.tn,
        fn_: cm.fn_,
        precision: cm.precision(),
        recall: cm.recall(),
        f1: cm.f1(),
        roc_auc: roc_auc(labels, scores)?,
        auprc: average_precision(labels, scores)?,
    })
}

impl Evaluation {
    /// The confusion matrix.
    pub fn confusion(&self) -> ConfusionMatrix {
        ConfusionMatrix { tp: self.tp, fp: self.fp, tn: self.tn, fn_: self.fn_ }
    }
}
