//! The supervised baseline: the class-weighted loss by hand, the initial
//! output bias, early stopping on validation AUPRC with best-weight restore,
//! determinism, and bad input.

mod common;

use approx::assert_abs_diff_eq;
use ndarray::Array2;
use oddity::baselines::supervised::{
    tutorial_fit_config, weighted_bce, BaselineClassifier, ClassWeights, ClassifierConfig, ClassifierReport,
};
use oddity::eval::metrics::average_precision;
use oddity::*;

#[test]
fn class_weighted_loss_equals_hand_computed_value() {
    let logits = [2.0f32, -1.0, 0.5, -3.0];
    let labels = [true, false, false, false];
    // Per-row BCE, -ln σ(z) for a positive and -ln(1 - σ(z)) = ln(1 + e^z) for a
    // negative: ln(1 + e^-2) = 0.1269280110429725 (the positive), then
    // ln(1 + e^-1) = 0.31326168751822286, ln(1 + e^0.5) = 0.9740769841801067,
    // ln(1 + e^-3) = 0.04858735157374206.
    let pos = 0.1269280110429725;
    let neg = [0.31326168751822286, 0.9740769841801067, 0.04858735157374206];
    let neg_sum: f64 = neg.iter().sum();

    let plain = weighted_bce(&logits, &labels, &ClassWeights::None).unwrap();
    assert_abs_diff_eq!(plain, (pos + neg_sum) / 4.0, epsilon = 1e-12);
    assert_abs_diff_eq!(plain, 0.365713508578761, epsilon = 1e-12);

    // Balanced, N = 4, 1 positive, 3 negatives: w_pos = 4/2 = 2, w_neg = 4/6.
    assert_eq!(ClassWeights::Balanced.resolve(3, 1).unwrap(), (4.0 / 6.0, 2.0));
    let balanced = weighted_bce(&logits, &labels, &ClassWeights::Balanced).unwrap();
    assert_abs_diff_eq!(balanced, (2.0 * pos + 4.0 / 6.0 * neg_sum) / 4.0, epsilon = 1e-12);
    assert_abs_diff_eq!(balanced, 0.2861183427334982, epsilon = 1e-12);

    let manual = ClassWeights::Manual { negative: 0.5, positive: 10.0 };
    let got = weighted_bce(&logits, &labels, &manual).unwrap();
    assert_abs_diff_eq!(got, (10.0 * pos + 0.5 * neg_sum) / 4.0, epsilon = 1e-12);

    // The Keras tutorial's numbers: 284,315 normal, 492 fraud.
    let (w0, w1) = ClassWeights::Balanced.resolve(284_315, 492).unwrap();
    assert_abs_diff_eq!(w0, 0.5008652375006595, epsilon = 1e-12);
    assert_abs_diff_eq!(w1, 289.4380081300813, epsilon = 1e-9);

    assert!(weighted_bce(&[], &[], &ClassWeights::None).is_err());
    assert!(weighted_bce(&logits, &labels[..3], &ClassWeights::None).is_err());
    assert!(ClassWeights::Balanced.resolve(3, 0).is_err());
    assert!(ClassWeights::Manual { negative: -1.0, positive: 1.0 }.resolve(3, 1).is_err());
}

/// `n` rows of 6 features; about 5 % positives, shifted along a direction.
fn labelled(seed: u64, n: usize) -> (Array2<f32>, Vec<bool>) {
    let mut x = Array2::from_shape_vec((n, 6), common::normals(seed, n * 6)).unwrap();
    let y: Vec<bool> = (0..n).map(|i| i % 20 == 3).collect();
    for (mut row, &pos) in x.rows_mut().into_iter().zip(&y) {
        if pos {
            row[0] += 2.5;
            row[1] -= 2.0;
        }
    }
    (x, y)
}

fn fit_cfg(seed: u64) -> FitConfig {
    FitConfig { epochs: Some(20), batch_size: 256, learning_rate: 3e-3, ..tutorial_fit_config(seed) }
}

fn trained(weights: ClassWeights, seed: u64) -> (BaselineClassifier, ClassifierReport) {
    let (x, y) = labelled(1, 2000);
    let (xv, yv) = labelled(2, 600);
    let cfg = ClassifierConfig { class_weights: weights, ..ClassifierConfig::new(6) };
    let mut clf = BaselineClassifier::new(cfg, Device::Cpu).unwrap();
    let report = clf.fit(x.view(), &y, xv.view(), &yv, &fit_cfg(seed)).unwrap();
    (clf, report)
}

#[test]
fn output_bias_starts_at_log_odds_of_the_training_labels() {
    let (x, y) = labelled(1, 400);
    let cfg = ClassifierConfig { standardize: false, ..ClassifierConfig::new(6) };
    let mut clf = BaselineClassifier::new(cfg, Device::Cpu).unwrap();
    let r = clf.fit(x.view(), &y, x.view(), &y, &FitConfig { epochs: Some(0), ..Default::default() }).unwrap();
    assert_abs_diff_eq!(r.initial_bias, (20.0f64 / 380.0).ln(), epsilon = 1e-12);
    // A zero row reaches the output through relu(0) = 0: only the bias is left.
    let zero = Array2::<f32>::zeros((1, 6));
    assert_abs_diff_eq!(clf.decision_function(zero.view()).unwrap()[0], (20.0f32 / 380.0).ln(), epsilon = 1e-6);
    assert_abs_diff_eq!(clf.predict_proba(zero.view()).unwrap()[0], 0.05, epsilon = 1e-6);
}

#[test]
fn learns_and_keeps_the_weights_of_the_best_validation_auprc() {
    for weights in [ClassWeights::None, ClassWeights::Balanced] {
        let (clf, r) = trained(weights, 0);
        assert_eq!(r.val_auprc.len(), r.train.epochs.len());
        let best = r.val_auprc.iter().copied().fold(f64::MIN, f64::max);
        assert_eq!(r.best_val_auprc(), Some(best));
        assert!(best > 0.8, "{weights:?}: {:?}", r.val_auprc);
        // The restored weights reproduce the best epoch's AUPRC exactly.
        let (xv, yv) = labelled(2, 600);
        let logits = common::f64s(&clf.decision_function(xv.view()).unwrap());
        assert_abs_diff_eq!(average_precision(&yv, &logits).unwrap(), best, epsilon = 1e-12);
        let p = clf.predict_proba(xv.view()).unwrap();
        assert!(p.iter().all(|&v| (0.0..=1.0).contains(&v)));
        if weights == ClassWeights::Balanced {
            assert_eq!(r.class_weights, (2000.0 / 3800.0, 2000.0 / 200.0));
        }
    }
}

#[test]
fn early_stopping_stops_on_a_flat_auprc() {
    let (x, y) = labelled(1, 1000);
    let mut clf = BaselineClassifier::new(ClassifierConfig::new(6), Device::Cpu).unwrap();
    let mut cfg = fit_cfg(0);
    cfg.epochs = Some(200);
    cfg.early_stopping = Some(EarlyStopping { patience: 2, min_delta: 0.5, restore_best_weights: true });
    let r = clf.fit(x.view(), &y, x.view(), &y, &cfg).unwrap();
    // No epoch beats the first by 0.5 AUPRC: stop after 1 + patience epochs.
    assert!(r.train.stopped_early);
    assert_eq!((r.train.epochs.len(), r.train.best_epoch), (3, 1));
}

#[test]
fn training_is_deterministic_for_a_seed() {
    let (x, _) = labelled(3, 300);
    let (a, ra) = trained(ClassWeights::None, 5);
    let (b, rb) = trained(ClassWeights::None, 5);
    assert_eq!(ra.val_auprc, rb.val_auprc);
    assert_eq!(a.predict_proba(x.view()).unwrap(), b.predict_proba(x.view()).unwrap());
    let (c, _) = trained(ClassWeights::None, 6);
    assert_ne!(a.predict_proba(x.view()).unwrap(), c.predict_proba(x.view()).unwrap());
}

#[test]
fn bad_input_is_a_typed_error() {
    let (x, y) = labelled(1, 200);
    let mut clf = BaselineClassifier::new(ClassifierConfig::new(6), Device::Cpu).unwrap();
    assert!(matches!(clf.predict_proba(x.view()), Err(OddityError::NotFitted(_))));
    let cfg = FitConfig { epochs: Some(1), ..Default::default() };
    let one_class = vec![false; 200];
    for (yt, yv) in [(&one_class, &y), (&y, &one_class)] {
        let e = clf.fit(x.view(), yt, x.view(), yv, &cfg);
        assert!(matches!(e, Err(OddityError::InvalidParameter { .. })), "{e:?}");
    }
    assert!(clf.fit(x.view(), &y[..10], x.view(), &y, &cfg).is_err());
    let split = FitConfig { validation_split: 0.2, ..cfg.clone() };
    assert!(matches!(
        clf.fit(x.view(), &y, x.view(), &y, &split),
        Err(OddityError::InvalidParameter { name: "validation_split", .. })
    ));
    let narrow = Array2::<f32>::zeros((200, 5));
    assert!(matches!(clf.fit(narrow.view(), &y, x.view(), &y, &cfg), Err(OddityError::FeatureMismatch { .. })));
    let bad = ClassifierConfig {
        hidden: vec![Layer::new(4, Activation::Relu).with_dropout(1.0)],
        ..ClassifierConfig::new(6)
    };
    assert!(BaselineClassifier::new(bad, Device::Cpu).is_err());
    clf.fit(x.view(), &y, x.view(), &y, &cfg).unwrap();
    assert!(matches!(clf.predict_proba(narrow.view()), Err(OddityError::FeatureMismatch { .. })));
}
