//! OutlierAE end to end: score formulas, thresholds, determinism, detection
//! quality on synthetic data, and one test per kind of bad input.

mod common;

use approx::assert_abs_diff_eq;
use ndarray::{array, Array2, Axis};
use oddity::eval::metrics::roc_auc;
use oddity::*;

fn small_cfg() -> FitConfig {
    FitConfig { epochs: Some(3), batch_size: 128, ..Default::default() }
}

fn fitted(standardize: bool) -> OutlierAE {
    let mut cfg = AeConfig::symmetric(6, &[8], 3, Activation::Tanh);
    cfg.standardize = standardize;
    let mut det = OutlierAE::new(cfg, Device::Cpu).unwrap();
    det.fit(common::inliers(1, 512, 6).view(), &small_cfg()).unwrap();
    det
}

#[test]
fn feature_score_is_squared_reconstruction_error() {
    let det = fitted(false);
    let x = common::inliers(2, 20, 6);
    let xr = det.reconstruct(x.view(), 7).unwrap();
    let fs = det.score(x.view()).unwrap().feature.unwrap();
    let expect = (&x - &xr).mapv(|d| d * d);
    for (a, b) in fs.iter().zip(expect.iter()) {
        assert_abs_diff_eq!(*a, *b, epsilon = 1e-5);
    }
}

/// A small AE with `score`, unstandardized, fitted with no validation split,
/// so its residual statistics come from every training row; and those rows.
fn fitted_on_all_rows(score: FeatureScore) -> (OutlierAE, Array2<f32>) {
    let mut cfg = AeConfig::symmetric(6, &[8], 3, Activation::Tanh);
    cfg.standardize = false;
    cfg.score = score;
    let x_train = common::inliers(1, 512, 6);
    let mut det = OutlierAE::new(cfg, Device::Cpu).unwrap();
    det.fit(x_train.view(), &FitConfig { validation_split: 0.0, ..small_cfg() }).unwrap();
    (det, x_train)
}

#[test]
fn log_normalized_feature_score_matches_its_formula() {
    // ln(1 + r² / s), s = mean r² per feature over the rows trained on
    // (validation_split 0, so every row), r from `reconstruct`.
    let (det, x_train) = fitted_on_all_rows(FeatureScore::LogNormalized);
    let r2_train = (&x_train - &det.reconstruct(x_train.view(), 100).unwrap()).mapv(|d| (d as f64) * (d as f64));
    let s = r2_train.mean_axis(Axis(0)).unwrap();
    let x = common::inliers(2, 20, 6);
    let r2 = (&x - &det.reconstruct(x.view(), 7).unwrap()).mapv(|d| (d as f64) * (d as f64));
    let fs = det.score(x.view()).unwrap().feature.unwrap();
    for (row_fs, row_r2) in fs.axis_iter(Axis(0)).zip(r2.axis_iter(Axis(0))) {
        for ((a, r), sj) in row_fs.iter().zip(row_r2.iter()).zip(s.iter()) {
            assert_abs_diff_eq!(*a as f64, (r / sj).ln_1p(), epsilon = 1e-4);
        }
    }
}

/// Fits a small AE with `score`, saves and reloads it, and checks the
/// reloaded detector scores exactly as the original; returns the original.
fn round_trip(score: FeatureScore) -> OutlierAE {
    let mut cfg = AeConfig::symmetric(6, &[8], 3, Activation::Tanh);
    cfg.score = score;
    let mut det = OutlierAE::new(cfg, Device::Cpu).unwrap();
    det.fit(common::inliers(1, 512, 6).view(), &small_cfg()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ae.oddity");
    det.save(&path).unwrap();
    let back = OutlierAE::load(&path, Device::Cpu).unwrap();
    assert_eq!(back.config().score, score);
    let x = common::inliers(2, 40, 6);
    assert_eq!(det.score(x.view()).unwrap().instance, back.score(x.view()).unwrap().instance);
    det
}

#[test]
fn log_normalized_survives_save_and_load() {
    let det = round_trip(FeatureScore::LogNormalized);
    let x = common::inliers(2, 40, 6);
    // The squared score of the same network is a different function.
    assert_ne!(det.score(x.view()).unwrap().instance, fitted(true).score(x.view()).unwrap().instance);
}

/// Inverse of a small dense matrix by Gauss-Jordan elimination with partial
/// pivoting (test reference only).
fn invert(mut a: Array2<f64>) -> Array2<f64> {
    let n = a.nrows();
    let mut inv = Array2::<f64>::eye(n);
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| a[[i, c]].abs().total_cmp(&a[[j, c]].abs())).unwrap();
        for k in 0..n {
            a.swap([c, k], [p, k]);
            inv.swap([c, k], [p, k]);
        }
        let d = a[[c, c]];
        for k in 0..n {
            a[[c, k]] /= d;
            inv[[c, k]] /= d;
        }
        for i in (0..n).filter(|&i| i != c) {
            let f = a[[i, c]];
            for k in 0..n {
                a[[i, k]] -= f * a[[c, k]];
                inv[[i, k]] -= f * inv[[c, k]];
            }
        }
    }
    inv
}

#[test]
fn mahalanobis_feature_score_matches_its_formula() {
    // Shares c_j (P c)_j with c = r - m, m and P^-1 the mean and (sample)
    // covariance of the training residuals r = x - reconstruct(x); the
    // instance score is their mean, i.e. the squared distance over F.
    let (det, x_train) = fitted_on_all_rows(FeatureScore::Mahalanobis);
    let r_train = (&x_train - &det.reconstruct(x_train.view(), 100).unwrap()).mapv(f64::from);
    let m = r_train.mean_axis(Axis(0)).unwrap();
    let c_train = &r_train - &m;
    let cov = c_train.t().dot(&c_train) / (r_train.nrows() - 1) as f64;
    let p = invert(cov);
    let x = common::inliers(2, 20, 6).mapv(|v| v * 1.5);
    let c = (&x - &det.reconstruct(x.view(), 7).unwrap()).mapv(f64::from) - &m;
    let scores = det.score(x.view()).unwrap();
    let fs = scores.feature.unwrap();
    for (i, row) in c.axis_iter(Axis(0)).enumerate() {
        let pc = p.dot(&row);
        let d2: f64 = row.dot(&pc);
        for j in 0..6 {
            let want = row[j] * pc[j];
            assert!(
                (fs[[i, j]] as f64 - want).abs() <= 1e-3 * want.abs().max(d2.abs()).max(1.0),
                "row {i} feature {j}: {} vs {want} (d2 {d2})",
                fs[[i, j]]
            );
        }
        assert!((scores.instance[i] as f64 - d2 / 6.0).abs() <= 1e-3 * (d2 / 6.0).max(1.0), "row {i}");
    }
}

#[test]
fn mahalanobis_survives_save_and_load() {
    round_trip(FeatureScore::Mahalanobis);
    assert_eq!(FeatureScore::parse("maha").unwrap(), FeatureScore::Mahalanobis);
    assert_eq!(FeatureScore::parse("mahalanobis").unwrap(), FeatureScore::Mahalanobis);
}

#[test]
fn config_without_score_field_reads_as_squared() {
    // Files and config files written before `score` existed.
    let json = r#"{"n_features":2,"encoder":[{"units":1,"activation":"tanh"}],
        "decoder":[{"units":2,"activation":"linear"}],"standardize":true}"#;
    let cfg: AeConfig = serde_json::from_str(json).unwrap();
    assert_eq!(cfg.score, FeatureScore::Squared);
    assert_eq!(FeatureScore::parse("lognorm").unwrap(), FeatureScore::LogNormalized);
    assert!(FeatureScore::parse("cubed").is_err());
}

#[test]
fn instance_score_is_mean_of_top_feature_scores() {
    let det = fitted(true);
    let x = common::inliers(3, 30, 6);
    let fs = det.score(x.view()).unwrap().feature.unwrap();
    for perc in [100.0, 50.0, 34.0, 1.0] {
        let cfg = PredictConfig { outlier_perc: perc, ..Default::default() };
        let inst = det.score_with(x.view(), &cfg).unwrap().instance;
        // n = ceil(0.01 * perc * F), at least 1, as Alibi's instance_score.
        let n = ((0.01 * perc * 6.0f64).ceil() as usize).max(1);
        for (row, s) in fs.axis_iter(Axis(0)).zip(inst.iter()) {
            let mut v: Vec<f32> = row.to_vec();
            v.sort_by(|a, b| b.total_cmp(a));
            let mean = v[..n].iter().sum::<f32>() / n as f32;
            assert_abs_diff_eq!(*s, mean, epsilon = 1e-5);
        }
    }
}

#[test]
fn hand_computed_instance_score() {
    // Feature scores (1, 4, 9, 16): MSE = 7.5; top 50% = (16 + 9) / 2 = 12.5.
    let fs = tch::Tensor::from_slice(&[1.0f32, 4.0, 9.0, 16.0]).view([1, 4]);
    let all = f32::try_from(oddity::detectors::ae::instance_from_features(&fs, 100.0)).unwrap();
    let half = f32::try_from(oddity::detectors::ae::instance_from_features(&fs, 50.0)).unwrap();
    assert_eq!(all, 7.5);
    assert_eq!(half, 12.5);
}

#[test]
fn threshold_is_the_percentile_and_predict_uses_strict_greater() {
    let mut det = fitted(true);
    let x = common::inliers(4, 400, 6);
    let t = det.infer_threshold(x.view(), 90.0).unwrap();
    let scores: Vec<f64> = common::f64s(&det.score(x.view()).unwrap().instance);
    assert_eq!(t, percentile(&scores, 90.0).unwrap());
    let pred = det.predict(x.view(), &PredictConfig::default()).unwrap();
    let flags = pred.is_outlier.instance().unwrap();
    for (f, s) in flags.iter().zip(&scores) {
        assert_eq!(*f, *s > t);
    }
    let frac = flags.iter().filter(|&&b| b).count() as f64 / 400.0;
    assert!((frac - 0.10).abs() < 0.01, "{frac}");
    assert_eq!(pred.meta.name, "OutlierAE");
    assert_eq!(pred.threshold, t);
}

#[test]
fn feature_level_prediction() {
    let mut det = fitted(true);
    let x = common::inliers(5, 100, 6);
    let cfg = PredictConfig { outlier_type: OutlierType::Feature, ..Default::default() };
    let t = det.infer_threshold_with(x.view(), 95.0, &cfg).unwrap();
    let p = det.predict(x.view(), &cfg).unwrap();
    let fs = p.feature_score.unwrap();
    match p.is_outlier {
        OutlierFlags::Feature(f) => {
            assert_eq!(f.dim(), (100, 6));
            for (flag, s) in f.iter().zip(fs.iter()) {
                assert_eq!(*flag, *s as f64 > t);
            }
        }
        OutlierFlags::Instance(_) => panic!("expected feature flags"),
    }
}

#[test]
fn return_flags_drop_scores() {
    let mut det = fitted(true);
    let x = common::inliers(6, 50, 6);
    det.infer_threshold(x.view(), 95.0).unwrap();
    let cfg = PredictConfig { return_feature_score: false, return_instance_score: false, ..Default::default() };
    let p = det.predict(x.view(), &cfg).unwrap();
    assert!(p.instance_score.is_none() && p.feature_score.is_none());
}

#[test]
fn training_is_deterministic_for_a_seed() {
    let x = common::inliers(7, 600, 6);
    let run = |seed: u64| {
        let mut det = OutlierAE::new(AeConfig::symmetric(6, &[8], 3, Activation::Tanh), Device::Cpu).unwrap();
        let r = det.fit(x.view(), &FitConfig { seed, ..small_cfg() }).unwrap();
        (r.epochs.iter().map(|e| e.train_loss).collect::<Vec<_>>(), det.score(x.view()).unwrap().instance)
    };
    let (l1, s1) = run(11);
    let (l2, s2) = run(11);
    let (l3, _) = run(12);
    assert_eq!(l1, l2);
    assert_eq!(s1, s2);
    assert_ne!(l1, l3);
}

#[test]
fn scores_do_not_depend_on_batch_size() {
    let det = fitted(true);
    let x = common::inliers(8, 300, 6);
    let a = det.score_with(x.view(), &PredictConfig { batch_size: 1, ..Default::default() }).unwrap().instance;
    let b = det.score_with(x.view(), &PredictConfig { batch_size: 1000, ..Default::default() }).unwrap().instance;
    for (p, q) in a.iter().zip(b.iter()) {
        assert_abs_diff_eq!(*p, *q, epsilon = 1e-6);
    }
}

#[test]
fn finds_injected_outliers() {
    let f = 12;
    let mut det = OutlierAE::new(AeConfig::symmetric(f, &[24, 12], 3, Activation::Tanh), Device::Cpu).unwrap();
    det.fit(
        common::inliers(20, 8000, f).view(),
        &FitConfig { epochs: Some(15), batch_size: 128, ..Default::default() },
    )
    .unwrap();
    let (x, y) = common::mixed(21, 1000, 50, f);
    let auc = roc_auc(&y, &common::f64s(&det.score(x.view()).unwrap().instance)).unwrap();
    assert!(auc > 0.99, "ROC AUC {auc}");
}

#[test]
fn early_stopping_with_validation_split() {
    let x = common::inliers(9, 1000, 6);
    let mut det = OutlierAE::new(AeConfig::symmetric(6, &[8], 3, Activation::Tanh), Device::Cpu).unwrap();
    let cfg = FitConfig {
        epochs: Some(200),
        validation_split: 0.2,
        learning_rate: 0.05,
        early_stopping: Some(EarlyStopping { patience: 2, min_delta: 1e-3, restore_best_weights: true }),
        ..small_cfg()
    };
    let r = det.fit(x.view(), &cfg).unwrap();
    assert!(r.stopped_early, "ran all {} epochs", r.epochs.len());
    assert_eq!((r.n_train, r.n_val), (800, 200));
    assert!(r.epochs.iter().all(|e| e.val_loss.is_some() && e.seconds >= 0.0));
    let best = r.epochs[r.best_epoch - 1].val_loss.unwrap();
    assert!(r.epochs.iter().all(|e| e.val_loss.unwrap() >= best));
}

// ---- bad input: one test each, typed errors, no panics ----

fn det6() -> OutlierAE {
    OutlierAE::new(AeConfig::symmetric(6, &[8], 3, Activation::Tanh), Device::Cpu).unwrap()
}

#[test]
fn empty_input_is_an_error() {
    let mut det = det6();
    let e = det.fit(Array2::<f32>::zeros((0, 6)).view(), &small_cfg());
    assert!(matches!(e, Err(OddityError::EmptyInput(_))));
    let e = det.fit(Array2::<f32>::zeros((5, 0)).view(), &small_cfg());
    assert!(matches!(e, Err(OddityError::FeatureMismatch { .. }) | Err(OddityError::EmptyInput(_))));
    let det = fitted(true);
    assert!(matches!(det.score(Array2::<f32>::zeros((0, 6)).view()), Err(OddityError::EmptyInput(_))));
}

#[test]
fn non_finite_values_name_row_and_column() {
    let mut x = common::inliers(10, 20, 6);
    x[[13, 4]] = f32::NAN;
    match det6().fit(x.view(), &small_cfg()) {
        Err(OddityError::NonFinite { row: 13, column: 4, .. }) => {}
        other => panic!("{other:?}"),
    }
    x[[13, 4]] = 0.0;
    x[[2, 1]] = f32::INFINITY;
    let det = fitted(true);
    assert!(matches!(det.score(x.view()), Err(OddityError::NonFinite { row: 2, column: 1, .. })));
}

#[test]
fn feature_count_mismatch_is_an_error() {
    let det = fitted(true);
    let e = det.score(Array2::<f32>::zeros((3, 5)).view());
    assert!(matches!(e, Err(OddityError::FeatureMismatch { expected: 6, got: 5 })));
    let mut d = det6();
    assert!(matches!(
        d.fit(Array2::<f32>::zeros((3, 7)).view(), &small_cfg()),
        Err(OddityError::FeatureMismatch { .. })
    ));
}

#[test]
fn using_an_unfitted_detector_is_an_error() {
    let mut det = det6();
    let x = common::inliers(11, 10, 6);
    assert!(matches!(det.score(x.view()), Err(OddityError::NotFitted(_))));
    assert!(matches!(det.infer_threshold(x.view(), 95.0), Err(OddityError::NotFitted(_))));
    assert!(matches!(
        det.predict(x.view(), &PredictConfig::default()),
        Err(OddityError::ThresholdNotInferred(_)) | Err(OddityError::NotFitted(_))
    ));
}

#[test]
fn predict_without_threshold_is_an_error() {
    let det = fitted(true);
    let e = det.predict(common::inliers(12, 10, 6).view(), &PredictConfig::default());
    assert!(matches!(e, Err(OddityError::ThresholdNotInferred("OutlierAE"))));
}

#[test]
fn percentages_out_of_range_are_errors() {
    let mut det = fitted(true);
    let x = common::inliers(13, 10, 6);
    for bad in [-1.0, 100.01, f64::NAN] {
        assert!(matches!(
            det.infer_threshold(x.view(), bad),
            Err(OddityError::InvalidParameter { name: "threshold_perc", .. })
        ));
        let cfg = PredictConfig { outlier_perc: bad, ..Default::default() };
        assert!(matches!(
            det.score_with(x.view(), &cfg),
            Err(OddityError::InvalidParameter { name: "outlier_perc", .. })
        ));
    }
}

#[test]
fn zero_batch_size_is_an_error() {
    let x = common::inliers(14, 10, 6);
    let e = det6().fit(x.view(), &FitConfig { batch_size: 0, ..small_cfg() });
    assert!(matches!(e, Err(OddityError::InvalidParameter { name: "batch_size", .. })));
    let det = fitted(true);
    let e = det.score_with(x.view(), &PredictConfig { batch_size: 0, ..Default::default() });
    assert!(matches!(e, Err(OddityError::InvalidParameter { name: "batch_size", .. })));
}

#[test]
fn validation_split_that_leaves_no_data_is_an_error() {
    let x = common::inliers(15, 10, 6);
    for split in [0.01, 0.97] {
        let e = det6().fit(x.view(), &FitConfig { validation_split: split, ..small_cfg() });
        assert!(matches!(e, Err(OddityError::InvalidParameter { name: "validation_split", .. })), "{split}: {e:?}");
    }
    let e = det6().fit(x.view(), &FitConfig { validation_split: 1.0, ..small_cfg() });
    assert!(matches!(e, Err(OddityError::InvalidParameter { name: "validation_split", .. })));
}

#[test]
fn bad_architecture_is_an_error() {
    let mut cfg = AeConfig::symmetric(6, &[8], 3, Activation::Tanh);
    cfg.decoder.last_mut().unwrap().units = 5;
    assert!(matches!(OutlierAE::new(cfg, Device::Cpu), Err(OddityError::InvalidParameter { name: "decoder", .. })));
    let cfg = AeConfig {
        n_features: 4,
        encoder: vec![],
        decoder: vec![Layer::new(4, Activation::Linear)],
        standardize: true,
        score: Default::default(),
    };
    assert!(OutlierAE::new(cfg, Device::Cpu).is_err());
}

#[test]
fn cuda_when_absent_is_an_error_else_matches_cpu() {
    let cfg = AeConfig::symmetric(6, &[8], 3, Activation::Tanh);
    if !tch::Cuda::is_available() {
        assert!(matches!(OutlierAE::new(cfg, Device::Cuda(0)), Err(OddityError::DeviceUnavailable(_))));
        eprintln!("skipped: CUDA comparison (no CUDA device); checked the error instead");
        return;
    }
    let x = common::inliers(16, 512, 6);
    let mut cpu = OutlierAE::new(cfg.clone(), Device::Cpu).unwrap();
    let mut gpu = OutlierAE::new(cfg, Device::Cuda(0)).unwrap();
    cpu.fit(x.view(), &small_cfg()).unwrap();
    gpu.fit(x.view(), &small_cfg()).unwrap();
    let a = cpu.score(x.view()).unwrap().instance;
    let b = gpu.score(x.view()).unwrap().instance;
    for (p, q) in a.iter().zip(b.iter()) {
        assert_abs_diff_eq!(*p, *q, epsilon = 1e-3);
    }
}

#[test]
fn works_as_a_trait_object() {
    let mut det: Box<dyn Detector> = Box::new(det6());
    let x = common::inliers(17, 200, 6);
    det.fit(x.view(), &small_cfg()).unwrap();
    det.infer_threshold(x.view(), 95.0).unwrap();
    let p = det.predict(array![[0.0f32, 0.0, 0.0, 0.0, 0.0, 0.0]].view(), &PredictConfig::default()).unwrap();
    assert_eq!(p.is_outlier.instance().unwrap().len(), 1);
}
