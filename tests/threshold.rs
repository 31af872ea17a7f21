//! Threshold strategies: from labels (checked against a brute-force search)
//! and from an expected contamination, on scores and on a detector.

mod common;

use approx::assert_abs_diff_eq;
use oddity::eval::metrics::ConfusionMatrix;
use oddity::eval::threshold::{contamination, from_labels, pick_contamination, pick_from_labels, LabelObjective};
use oddity::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` scores on a coarse grid (so there are ties) and labels that lean
/// towards high scores.
fn case(seed: u64, n: usize) -> (Vec<bool>, Vec<f64>) {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let scores: Vec<f64> = (0..n).map(|_| (r.random_range(0.0..10.0f64) * 2.0).round() / 2.0).collect();
    let labels: Vec<bool> = scores.iter().map(|&s| r.random_range(0.0..12.0) < s).collect();
    (labels, scores)
}

/// Every distinct prediction of the rule `score > t`: t at each distinct
/// score, and below the lowest (everything flagged); highest t first.
fn candidates(scores: &[f64]) -> Vec<f64> {
    let mut t: Vec<f64> = scores.to_vec();
    t.sort_by(|a, b| b.total_cmp(a));
    t.dedup();
    t.push(f64::NEG_INFINITY);
    t
}

fn cm(labels: &[bool], scores: &[f64], t: f64) -> ConfusionMatrix {
    let pred: Vec<bool> = scores.iter().map(|&s| s > t).collect();
    ConfusionMatrix::from_predictions(labels, &pred).unwrap()
}

/// Brute force: the confusion matrix each objective should end up with.
fn brute_force(labels: &[bool], scores: &[f64], objective: LabelObjective) -> Option<ConfusionMatrix> {
    let all: Vec<ConfusionMatrix> = candidates(scores).into_iter().map(|t| cm(labels, scores, t)).collect();
    let mut best: Option<ConfusionMatrix> = None;
    for c in all {
        // Candidates come highest threshold first, so `>` keeps the highest among ties.
        let better = match (objective, best) {
            (LabelObjective::MaxF1, None) => true,
            (LabelObjective::MaxF1, Some(b)) => c.f1() > b.f1(),
            (LabelObjective::Recall(r), None) => c.recall() >= r,
            (LabelObjective::Recall(_), Some(_)) => false,
            (LabelObjective::Precision(p), b) => c.precision() >= p && b.map_or(true, |b| c.recall() > b.recall()),
        };
        if better {
            best = Some(c);
        }
    }
    best
}

#[test]
fn from_labels_matches_brute_force() {
    let objectives = [
        LabelObjective::MaxF1,
        LabelObjective::Recall(0.5),
        LabelObjective::Recall(0.9),
        LabelObjective::Recall(1.0),
        LabelObjective::Precision(0.6),
        LabelObjective::Precision(0.8),
        LabelObjective::Precision(1.0),
    ];
    for seed in 0..20 {
        let (labels, scores) = case(seed, 40);
        for objective in objectives {
            let want = brute_force(&labels, &scores, objective);
            match (pick_from_labels(&labels, &scores, objective), want) {
                (Ok(pick), Some(want)) => {
                    let got = cm(&labels, &scores, pick.threshold);
                    assert_eq!(got, want, "seed {seed}, {objective:?}");
                    assert_abs_diff_eq!(pick.f1, want.f1(), epsilon = 1e-12);
                    assert_abs_diff_eq!(pick.precision, want.precision(), epsilon = 1e-12);
                    assert_abs_diff_eq!(pick.recall, want.recall(), epsilon = 1e-12);
                }
                (Err(OddityError::InvalidParameter { .. }), None) => {}
                (got, want) => panic!("seed {seed}, {objective:?}: got {got:?}, brute force {want:?}"),
            }
        }
    }
}

#[test]
fn contamination_is_the_complementary_percentile() {
    // 0..=100 shuffled: the 90th percentile is 90, and 10 scores lie above it.
    let mut scores: Vec<f64> = (0..=100).map(f64::from).collect();
    scores.reverse();
    let t = pick_contamination(&scores, 0.1).unwrap();
    assert_eq!(t, percentile(&scores, 90.0).unwrap());
    assert_abs_diff_eq!(t, 90.0, epsilon = 1e-9);
    assert_eq!(scores.iter().filter(|&&s| s > t).count(), 10);
    // Distinct scores: ceil(fraction * (n - 1)) lie strictly above.
    let (_, scores) = case(1, 1000);
    let distinct: Vec<f64> = scores.iter().enumerate().map(|(i, s)| s + i as f64 * 1e-6).collect();
    for (fraction, above) in [(0.05, 50), (0.013, 13), (0.5, 500), (0.999, 999)] {
        let t = pick_contamination(&distinct, fraction).unwrap();
        assert_eq!(distinct.iter().filter(|&&s| s > t).count(), above, "fraction {fraction}");
    }
    for bad in [0.0, 1.0, -0.1, 1.5, f64::NAN] {
        assert!(matches!(
            pick_contamination(&scores, bad),
            Err(OddityError::InvalidParameter { name: "fraction", .. })
        ));
    }
    assert!(matches!(pick_contamination(&[], 0.1), Err(OddityError::EmptyInput(_))));
    assert!(pick_contamination(&[1.0, f64::NAN], 0.1).is_err());
}

fn fitted_ae() -> OutlierAE {
    let mut det = OutlierAE::new(AeConfig::symmetric(6, &[8], 3, Activation::Tanh), Device::Cpu).unwrap();
    det.fit(common::inliers(1, 512, 6).view(), &FitConfig { epochs: Some(3), batch_size: 128, ..Default::default() })
        .unwrap();
    det
}

#[test]
fn detector_versions_set_the_threshold_they_pick() {
    let mut det = fitted_ae();
    let (x, y) = common::mixed(3, 180, 20, 6);
    let scores = common::f64s(&det.score(x.view()).unwrap().instance);

    let best = from_labels(&mut det, x.view(), &y, LabelObjective::MaxF1).unwrap();
    assert_eq!(best, pick_from_labels(&y, &scores, LabelObjective::MaxF1).unwrap());
    assert_eq!(det.threshold(), Some(best.threshold));
    let pred = det.predict(x.view(), &PredictConfig::default()).unwrap();
    let flags: Vec<bool> = pred.is_outlier.instance().unwrap().to_vec();
    let c = ConfusionMatrix::from_predictions(&y, &flags).unwrap();
    assert_abs_diff_eq!(c.f1(), best.f1, epsilon = 1e-12);
    assert!(best.f1 > 0.3, "{best:?}"); // flagging every row gives 0.18

    let r = from_labels(&mut det, x.view(), &y, LabelObjective::Recall(1.0)).unwrap();
    assert_eq!(r.recall, 1.0);
    assert_eq!(det.threshold(), Some(r.threshold));

    let t = contamination(&mut det, x.view(), 0.1).unwrap();
    assert_eq!(t, pick_contamination(&scores, 0.1).unwrap());
    assert_eq!(det.threshold(), Some(t));
    let flagged = det.predict(x.view(), &PredictConfig::default()).unwrap().is_outlier.count();
    assert_eq!(flagged, 20);
}

#[test]
fn detector_versions_reject_bad_input() {
    let (x, y) = common::mixed(3, 90, 10, 6);
    let mut unfitted = OutlierAE::new(AeConfig::symmetric(6, &[8], 3, Activation::Tanh), Device::Cpu).unwrap();
    assert!(matches!(from_labels(&mut unfitted, x.view(), &y, LabelObjective::MaxF1), Err(OddityError::NotFitted(_))));
    assert!(matches!(contamination(&mut unfitted, x.view(), 0.1), Err(OddityError::NotFitted(_))));

    let mut det = fitted_ae();
    let e = from_labels(&mut det, x.view(), &y[..50], LabelObjective::MaxF1);
    assert!(matches!(e, Err(OddityError::InvalidParameter { name: "labels", .. })));
    let e = from_labels(&mut det, x.view(), &[false; 100], LabelObjective::MaxF1);
    assert!(matches!(e, Err(OddityError::InvalidParameter { name: "y_true", .. })));
    let e = from_labels(&mut det, x.view(), &y, LabelObjective::Recall(0.0));
    assert!(matches!(e, Err(OddityError::InvalidParameter { name: "target_recall", .. })));
    assert!(matches!(contamination(&mut det, x.view(), 1.0), Err(OddityError::InvalidParameter { .. })));
    assert_eq!(det.threshold(), None);
}

#[test]
fn infer_threshold_flags_a_duplicated_group_at_the_percentile() {
    // 92 inliers and 8 copies of one far-off row, the top scores. At the 95th
    // percentile distinct scores would give 5 flags; the percentile lands
    // inside the copies, so Alibi's rule flags none of them and the default
    // flags all 8 (3 from 5 instead of 5).
    let mut det = fitted_ae();
    let far = common::outliers(11, 1, 6) * 4.0;
    let mut x = common::inliers(12, 92, 6);
    for _ in 0..8 {
        x.push_row(far.row(0)).unwrap();
    }
    let scores = common::f64s(&det.score(x.view()).unwrap().instance);
    assert!(scores[92..].iter().all(|&s| s == scores[92]), "copies score alike");
    assert!(scores[..92].iter().all(|&s| s < scores[92]), "copies score highest");

    let t = det.infer_threshold(x.view(), 95.0).unwrap();
    assert!(t < scores[92]);
    assert_eq!(det.predict(x.view(), &PredictConfig::default()).unwrap().is_outlier.count(), 8);

    let alibi = PredictConfig { ties: Ties::Percentile, ..Default::default() };
    let t = det.infer_threshold_with(x.view(), 95.0, &alibi).unwrap();
    assert_eq!(t, percentile(&scores, 95.0).unwrap());
    assert_eq!(det.predict(x.view(), &PredictConfig::default()).unwrap().is_outlier.count(), 0);
}
