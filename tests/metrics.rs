//! End-to-end use of `oddity::eval::metrics` and `oddity::eval::plot` from outside the crate,
//! checked against scikit-learn on a larger input with many ties.

use approx::assert_abs_diff_eq;
use oddity::error::OddityError;
use oddity::eval::metrics::{
    average_precision, best_f1_threshold, precision_recall_curve, roc_auc, roc_curve, summarize, ConfusionMatrix,
};
use oddity::eval::plot::{plot_instance_scores, plot_loss, plot_pr, plot_roc, CurveInput};

/// 300 rows, 103 distinct scores (each shared by ~3 rows), 64 outliers. Same
/// arithmetic in Python:
/// `s = [((i*7919) % 103)/10.0 - 3.0 for i in range(300)]`,
/// `y = [((i*37) % 11 < 2) or (((i*7919) % 103) > 90 and i % 3 == 0) for i in range(300)]`.
fn data() -> (Vec<bool>, Vec<f64>) {
    let s = (0..300).map(|i| ((i * 7919) % 103) as f64 / 10.0 - 3.0).collect();
    let y = (0..300).map(|i| (i * 37) % 11 < 2 || ((i * 7919) % 103 > 90 && i % 3 == 0)).collect();
    (y, s)
}

#[test]
fn matches_sklearn_on_many_ties() {
    // scikit-learn 1.9.1: roc_auc_score(y, s) = 0.580177436440678,
    // average_precision_score(y, s) = 0.3111179365727591,
    // len(precision_recall_curve(y, s)[2]) = 103.
    let (y, s) = data();
    assert_eq!(y.iter().filter(|&&v| v).count(), 64);
    assert_abs_diff_eq!(roc_auc(&y, &s).unwrap(), 0.580177436440678, epsilon = 1e-12);
    assert_abs_diff_eq!(average_precision(&y, &s).unwrap(), 0.3111179365727591, epsilon = 1e-12);
    assert_eq!(precision_recall_curve(&y, &s).unwrap().thresholds.len(), 103);
    assert_eq!(roc_curve(&y, &s).unwrap().fpr.len(), 104);

    // Max of 2pr/(p+r) over precision_recall_curve(y, s), highest threshold first:
    // 0.35766423357664234 at s >= 0.10000000000000009 (p 0.23333333333333334,
    // r 0.765625); the next lower distinct score is 0.0, so `s > 0.05` flags the same rows.
    let best = best_f1_threshold(&y, &s).unwrap();
    assert_abs_diff_eq!(best.f1, 0.35766423357664234, epsilon = 1e-12);
    assert_abs_diff_eq!(best.precision, 0.23333333333333334, epsilon = 1e-12);
    assert_abs_diff_eq!(best.recall, 0.765625, epsilon = 1e-12);
    assert_abs_diff_eq!(best.threshold, 0.05, epsilon = 1e-12);
    let cm = ConfusionMatrix::from_scores(&y, &s, best.threshold).unwrap();
    assert_abs_diff_eq!(cm.f1(), best.f1, epsilon = 1e-12);
}

#[test]
fn report_and_plots_for_several_seeds() {
    let (y, s) = data();
    let dir = tempfile::tempdir().unwrap();
    let mut aucs = Vec::new();
    let mut curves = Vec::new();
    for seed in 0..3 {
        let shifted: Vec<f64> = s.iter().enumerate().map(|(i, v)| v + ((i + seed) % 4) as f64).collect();
        aucs.push(roc_auc(&y, &shifted).unwrap());
        curves.push(CurveInput::new(format!("seed {seed}"), y.clone(), shifted));
    }
    let summary = summarize(&aucs).unwrap();
    assert_eq!(summary.n, 3);
    assert!(summary.min <= summary.median && summary.median <= summary.max);

    let best = best_f1_threshold(&y, &s).unwrap();
    let files = [
        dir.path().join("scores.png"),
        dir.path().join("roc.png"),
        dir.path().join("pr.png"),
        dir.path().join("loss.png"),
    ];
    plot_instance_scores(&files[0], &s, Some(&y), Some(best.threshold), "scores").unwrap();
    plot_roc(&files[1], &curves).unwrap();
    plot_pr(&files[2], &curves).unwrap();
    plot_loss(&files[3], &[3.0, 2.0, 1.5, 1.2], Some(&[3.1, 2.2, 1.8, 1.7]), "loss").unwrap();
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000);
    }

    let one_class = vec![false; s.len()];
    assert!(matches!(roc_auc(&one_class, &s), Err(OddityError::InvalidParameter { name: "y_true", .. })));
}
