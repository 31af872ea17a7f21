//! Files written in format 1 (oddity 0.1.0 at commit cd50434) still load and
//! score bit for bit as they did when they were written.
//!
//! `tests/fixtures/v1_*.oddity` and `v1_scores.json` were written by
//! `write_v1_fixtures` below, run once on that commit
//! (`cargo test --release --test format_v1 -- --ignored`). The scores in the
//! JSON are the f32 bit patterns that version computed.

mod common;

use std::path::PathBuf;

use oddity::*;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The rows the fixtures are scored on: 12 inliers and 4 outliers.
fn probe() -> ndarray::Array2<f32> {
    common::mixed(40, 12, 4, 4).0
}

#[test]
#[ignore = "writes the format-1 fixtures; run once on the commit that wrote them"]
fn write_v1_fixtures() {
    let x = common::inliers(41, 96, 4);
    let fit = FitConfig { epochs: 2, batch_size: 32, verbose: false, ..Default::default() };
    let mut dets: Vec<(&str, Box<dyn Detector>)> = vec![
        ("ae", Box::new(OutlierAE::new(AeConfig::symmetric(4, &[6], 2, Activation::Tanh), Device::Cpu).unwrap())),
        ("aegmm", Box::new(OutlierAEGMM::new(AegmmConfig::new(4), Device::Cpu).unwrap())),
        ("vaegmm", Box::new(OutlierVAEGMM::new(VaegmmConfig::new(4), Device::Cpu).unwrap())),
    ];
    let mut scores = serde_json::Map::new();
    for (name, d) in dets.iter_mut() {
        d.fit(x.view(), &fit).unwrap();
        d.infer_threshold(x.view(), 90.0).unwrap();
        d.save(&fixtures().join(format!("v1_{name}.oddity"))).unwrap();
        let s = d.score(probe().view()).unwrap();
        let bits: Vec<u32> = s.instance.iter().map(|v| v.to_bits()).collect();
        scores.insert(name.to_string(), serde_json::json!({ "threshold": d.threshold(), "instance_bits": bits }));
    }
    let text = serde_json::to_string_pretty(&scores).unwrap();
    std::fs::write(fixtures().join("v1_scores.json"), text).unwrap();
}
