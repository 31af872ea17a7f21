//! AEGMM and VAEGMM: reconstruction features, gradients, determinism, detection.

mod common;

use approx::assert_abs_diff_eq;
use oddity::eval::metrics::roc_auc;
use oddity::*;
use tch::{Kind, Tensor};

fn fit_cfg(epochs: usize) -> FitConfig {
    FitConfig { epochs: Some(epochs), batch_size: 256, ..Default::default() }
}

/// Rows (x, x'): (3,4)/(0,4): |x-x'| = 3, |x| = 5 -> relative 0.6; cos = 16 / (5*4) = 0.8;
/// MSE = 9/2 -> ln 4.5. (1,0)/(-2,0): relative 3/1 = 3, cos -1, |x-x'| = 3.
/// All-zero x with x' = (1,0): relative clipped to 100, cos 0, MSE 1/2.
/// Both zero: relative 0, cos 0, ln(0 + eps).
#[test]
fn recon_features_by_hand() {
    let x = Tensor::from_slice(&[3.0f32, 4.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]).view([4, 2]);
    let xr = Tensor::from_slice(&[0.0f32, 4.0, -2.0, 0.0, 1.0, 0.0, 0.0, 0.0]).view([4, 2]);
    let all = ReconFeatures {
        features: vec![
            ReconFeature::RelativeEuclidean,
            ReconFeature::Cosine,
            ReconFeature::Euclidean,
            ReconFeature::LogMse,
        ],
        eps: 1e-12,
        max_relative: 100.0,
    };
    let v = Vec::<f32>::try_from(all.compute(&x, &xr).view([-1])).unwrap();
    let ln = |v: f64| v.ln() as f32;
    let expect = [
        0.6,
        0.8,
        3.0,
        ln(4.5), //
        3.0,
        -1.0,
        3.0,
        ln(4.5),
        100.0,
        0.0,
        1.0,
        ln(0.5),
        0.0,
        0.0,
        0.0,
        ln(1e-12),
    ];
    for (a, b) in v.iter().zip(expect) {
        assert_abs_diff_eq!(*a, b, epsilon = 1e-5);
    }
    assert_eq!(ReconFeatures::default().features, vec![ReconFeature::LogMse, ReconFeature::Cosine]);
    // Gradients through an all-zero row are finite.
    let xr = xr.set_requires_grad(true);
    let g = all.compute(&x, &xr).sum(Kind::Float);
    g.backward();
    assert!(bool::try_from(xr.grad().isfinite().all()).unwrap());
}

fn changed_everywhere(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)]) {
    assert_eq!(a.len(), b.len());
    for ((na, va), (nb, vb)) in a.iter().zip(b) {
        assert_eq!(na, nb);
        let d = va.iter().zip(vb).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
        assert!(d > 1e-5, "parameter {na} did not move (max change {d})");
    }
}

/// One Adam step at lr 1e-3 versus one at lr 1e-30 from the same seeded
/// initialisation: every parameter with a gradient moves by about lr.
#[test]
fn gradients_reach_every_parameter() {
    let x = common::inliers(1, 256, 8);
    let one_step =
        |lr: f64| FitConfig { epochs: Some(1), batch_size: 256, learning_rate: lr, seed: 4, ..Default::default() };
    let mut a = OutlierAEGMM::new(AegmmConfig::new(8), Device::Cpu).unwrap();
    let mut b = OutlierAEGMM::new(AegmmConfig::new(8), Device::Cpu).unwrap();
    a.fit(x.view(), &one_step(1e-3)).unwrap();
    b.fit(x.view(), &one_step(1e-30)).unwrap();
    changed_everywhere(&a.parameters(), &b.parameters());

    let mut a = OutlierVAEGMM::new(VaegmmConfig::new(8), Device::Cpu).unwrap();
    let mut b = OutlierVAEGMM::new(VaegmmConfig::new(8), Device::Cpu).unwrap();
    a.fit(x.view(), &one_step(1e-3)).unwrap();
    b.fit(x.view(), &one_step(1e-30)).unwrap();
    changed_everywhere(&a.parameters(), &b.parameters());
}

#[test]
fn aegmm_is_deterministic_and_detects() {
    let f = 10;
    let x = common::manifold(2, 6000, f, 1);
    let (xt, y) = common::manifold_mixed(3, 600, 30, f, 1);
    let run = || {
        let mut d = OutlierAEGMM::new(AegmmConfig::new(f), Device::Cpu).unwrap();
        let r = d.fit(x.view(), &fit_cfg(15)).unwrap();
        assert!(r.epochs.iter().all(|e| e.train_loss.is_finite()));
        (d.score(xt.view()).unwrap().instance, d)
    };
    let (s1, d) = run();
    let (s2, _) = run();
    assert_eq!(s1, s2);
    assert!(s1.iter().all(|v| v.is_finite()));
    let auc = roc_auc(&y, &common::f64s(&s1)).unwrap();
    assert!(auc > 0.95, "AEGMM ROC AUC {auc}");
    // Scores stay in row order whatever the batch size, and agree with
    // scoring on one libtorch thread up to float rounding.
    let big = ndarray::concatenate(ndarray::Axis(0), &[xt.view(); 5]).unwrap();
    let par = d.score(big.view()).unwrap().instance;
    let odd = d.score_with(big.view(), &PredictConfig { batch_size: 37, ..Default::default() }).unwrap().instance;
    let threads = tch::get_num_threads();
    tch::set_num_threads(1);
    let one = d.score(big.view()).unwrap().instance;
    tch::set_num_threads(threads);
    for (i, ((p, o), s)) in par.iter().zip(&odd).zip(&one).enumerate() {
        let want = s1[i % s1.len()];
        for v in [p, o, s] {
            assert!((v - want).abs() <= 1e-4 * want.abs().max(1.0), "row {i}: {v} vs {want}");
        }
    }
    // log-likelihood is minus the energy
    let ll = d.log_likelihood(xt.view(), 100).unwrap();
    assert_abs_diff_eq!(ll[0], -s1[0], epsilon = 1e-6);
    let g = d.gmm().unwrap();
    assert_abs_diff_eq!(g.phi.iter().sum::<f64>(), 1.0, epsilon = 1e-9);
}

#[test]
fn vaegmm_is_deterministic_and_detects() {
    let f = 10;
    let x = common::manifold(4, 6000, f, 2);
    let (xt, y) = common::manifold_mixed(5, 600, 30, f, 2);
    let mut d = OutlierVAEGMM::new(VaegmmConfig::new(f), Device::Cpu).unwrap();
    d.fit(x.view(), &fit_cfg(15)).unwrap();
    let s1 = d.score(xt.view()).unwrap().instance;
    // Same draws whatever the batch size: scores are reproducible.
    let s2 = d.score_with(xt.view(), &PredictConfig { batch_size: 37, ..Default::default() }).unwrap().instance;
    for (a, b) in s1.iter().zip(s2.iter()) {
        assert_abs_diff_eq!(*a, *b, epsilon = 1e-4);
    }
    let auc = roc_auc(&y, &common::f64s(&s1)).unwrap();
    assert!(auc > 0.95, "VAEGMM ROC AUC {auc}");
    // Deterministic scoring from the mean code.
    let mut cfg = VaegmmConfig::new(f);
    cfg.deterministic_score = true;
    let mut d = OutlierVAEGMM::new(cfg, Device::Cpu).unwrap();
    d.fit(x.view(), &fit_cfg(3)).unwrap();
    assert_eq!(d.score(xt.view()).unwrap().instance, d.score(xt.view()).unwrap().instance);
}

/// A row's VAEGMM score is a function of the row (`ScoreDraws::ByValues`,
/// the default): the same in another order, another batch size, and for a
/// duplicate. Seeded by position instead, reordering changes the scores.
#[test]
fn vaegmm_scores_follow_the_row_not_its_place() {
    let f = 6;
    let x = common::inliers(4, 500, f);
    let mut xt = common::mixed(5, 300, 30, f).0;
    let copy = xt.row(17).to_owned();
    xt.row_mut(200).assign(&copy);
    let reversed = xt.slice(ndarray::s![..;-1, ..]).to_owned();
    for (draws, follows_row) in [(ScoreDraws::ByValues, true), (ScoreDraws::ByPosition, false)] {
        let cfg = VaegmmConfig { draws, ..VaegmmConfig::default_for(f) };
        let mut d = OutlierVAEGMM::new(cfg, Device::Cpu).unwrap();
        d.fit(x.view(), &fit_cfg(2)).unwrap();
        let s = d.score(xt.view()).unwrap().instance.to_vec();
        let mut r = d
            .score_with(reversed.view(), &PredictConfig { batch_size: 50, ..Default::default() })
            .unwrap()
            .instance
            .to_vec();
        r.reverse();
        let same = s.iter().zip(&r).filter(|(a, b)| (**a - **b).abs() <= 1e-5 * a.abs().max(1.0)).count();
        if follows_row {
            assert_eq!(same, s.len(), "{draws:?}");
            assert_eq!(s[17], s[200], "a duplicated row scores alike");
        } else {
            assert!(same < s.len() / 2, "{draws:?}: {same} of {} alike", s.len());
        }
    }
}

#[test]
fn gmm_detectors_have_no_feature_scores() {
    let x = common::inliers(6, 300, 5);
    let mut d = OutlierAEGMM::new(AegmmConfig::new(5), Device::Cpu).unwrap();
    d.fit(x.view(), &fit_cfg(1)).unwrap();
    assert!(d.score(x.view()).unwrap().feature.is_none());
    let cfg = PredictConfig { outlier_type: OutlierType::Feature, ..Default::default() };
    assert!(matches!(
        d.infer_threshold_with(x.view(), 95.0, &cfg),
        Err(OddityError::InvalidParameter { name: "outlier_type", .. })
    ));
}

#[test]
fn bad_gmm_configs_are_errors() {
    let mut c = AegmmConfig::new(5);
    c.gmm.n_gmm = 0;
    assert!(matches!(OutlierAEGMM::new(c, Device::Cpu), Err(OddityError::InvalidParameter { name: "n_gmm", .. })));
    let mut c = AegmmConfig::new(5);
    c.gmm.gmm_eps = 0.0;
    assert!(OutlierAEGMM::new(c, Device::Cpu).is_err());
    let mut c = VaegmmConfig::new(5);
    c.samples = 0;
    assert!(OutlierVAEGMM::new(c, Device::Cpu).is_err());
    let mut c = VaegmmConfig::new(5);
    c.elbo_std = ElboStd::PerFeature(vec![1.0; 4]);
    assert!(OutlierVAEGMM::new(c, Device::Cpu).is_err());
}

#[test]
fn per_feature_and_data_elbo_std_train() {
    let x = common::inliers(7, 500, 5);
    for std in [ElboStd::PerFeature(vec![0.5; 5]), ElboStd::FromData] {
        let mut c = VaegmmConfig::new(5);
        c.elbo_std = std;
        let mut d = OutlierVAEGMM::new(c, Device::Cpu).unwrap();
        let r = d.fit(x.view(), &fit_cfg(2)).unwrap();
        assert!(r.final_loss().unwrap().is_finite());
    }
}
