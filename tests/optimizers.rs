//! Every optimizer trains every detector through the hand-written backward
//! (`nn::Tape`, the host GMM gradient): the loss stays finite, falls, and
//! every weight moves.

mod common;

use oddity::*;

fn optimizers() -> Vec<(Optimizer, f64)> {
    vec![
        (Optimizer::default(), 1e-3),
        (Optimizer::AdamW { beta1: 0.9, beta2: 0.999, eps: 1e-7, weight_decay: 0.01 }, 1e-3),
        (Optimizer::Sgd { momentum: 0.9 }, 1e-2),
        (Optimizer::RmsProp { alpha: 0.99, eps: 1e-7, momentum: 0.0 }, 1e-3),
    ]
}

#[test]
fn every_optimizer_trains_every_detector() {
    let x = common::inliers(1, 2048, 6);
    for (opt, lr) in optimizers() {
        let cfg = FitConfig {
            epochs: Some(4),
            batch_size: 128,
            learning_rate: lr,
            optimizer: opt.clone(),
            ..Default::default()
        };
        let mut ae = OutlierAE::new(AeConfig::symmetric(6, &[8], 3, Activation::Tanh), Device::Cpu).unwrap();
        let mut aegmm = OutlierAEGMM::new(AegmmConfig::new(6), Device::Cpu).unwrap();
        let mut vaegmm = OutlierVAEGMM::new(VaegmmConfig::new(6), Device::Cpu).unwrap();
        let untrained = [
            {
                let mut d = OutlierAE::new(AeConfig::symmetric(6, &[8], 3, Activation::Tanh), Device::Cpu).unwrap();
                d.fit(x.view(), &FitConfig { epochs: Some(0), ..cfg.clone() }).unwrap();
                d.parameters()
            },
            {
                let mut d = OutlierAEGMM::new(AegmmConfig::new(6), Device::Cpu).unwrap();
                d.fit(x.view(), &FitConfig { epochs: Some(0), ..cfg.clone() }).unwrap();
                d.parameters()
            },
            {
                let mut d = OutlierVAEGMM::new(VaegmmConfig::new(6), Device::Cpu).unwrap();
                d.fit(x.view(), &FitConfig { epochs: Some(0), ..cfg.clone() }).unwrap();
                d.parameters()
            },
        ];
        let reports =
            [ae.fit(x.view(), &cfg).unwrap(), aegmm.fit(x.view(), &cfg).unwrap(), vaegmm.fit(x.view(), &cfg).unwrap()];
        let trained = [ae.parameters(), aegmm.parameters(), vaegmm.parameters()];
        for (i, r) in reports.iter().enumerate() {
            let losses: Vec<f64> = r.epochs.iter().map(|e| e.train_loss).collect();
            assert!(losses.iter().all(|l| l.is_finite()), "{opt:?} detector {i}: {losses:?}");
            assert!(
                losses.last().unwrap() < losses.first().unwrap(),
                "{opt:?} detector {i}: loss did not fall: {losses:?}"
            );
            for ((name, a), (_, b)) in untrained[i].iter().zip(&trained[i]) {
                assert!(a.iter().zip(b).any(|(p, q)| p != q), "{opt:?} detector {i}: {name} did not move");
            }
        }
    }
}
