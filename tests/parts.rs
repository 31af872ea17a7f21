//! A table scored in parts (`PredictConfig::first_row`, as `oddity score`
//! streams a file) gets the whole table's scores, bit for bit, from every
//! built-in detector.

mod common;

use ndarray::s;
use oddity::detectors::registry;
use oddity::*;

/// Scores `x` in parts of `part` rows, each with its `first_row`.
fn in_parts(d: &dyn Detector, x: &ndarray::Array2<f32>, part: usize, cfg: &PredictConfig, offset: bool) -> Vec<f32> {
    let mut out = Vec::new();
    for start in (0..x.nrows()).step_by(part) {
        let end = (start + part).min(x.nrows());
        let c = PredictConfig { first_row: if offset { start } else { 0 }, ..cfg.clone() };
        out.extend(d.score_with(x.slice(s![start..end, ..]), &c).unwrap().instance.iter().copied());
    }
    out
}

#[test]
fn scoring_in_parts_equals_scoring_the_whole_table() {
    let x = common::mixed(5, 19_000, 1_000, 6).0;
    let train = common::inliers(9, 800, 6);
    let fit = FitConfig { epochs: Some(2), batch_size: 128, seed: 1, verbose: false, ..Default::default() };
    // Above 1,024 rows a batch, so that a short last part would be cut
    // finer than the whole table's batches without `first_row`.
    let cfg = PredictConfig { batch_size: 2048, return_feature_score: false, ..Default::default() };
    let workers = tch::get_num_threads().max(1) as usize;
    for name in registry::names_builtin() {
        let mut d = registry::get(name).unwrap().build(6, None, Device::Cpu).unwrap();
        d.fit(train.view(), &fit).unwrap();
        let whole = d.score_with(x.view(), &cfg).unwrap().instance.to_vec();
        // As `oddity score` cuts: two scoring batches per worker a part
        // (the first part is then cut as the whole table); 20,000 rows end
        // in a short part.
        let part = 2 * workers * d.scoring_batch(&cfg);
        assert_ne!(x.nrows() % part, 0);
        let parts = in_parts(d.as_ref(), &x, part, &cfg, true);
        let same = whole.iter().zip(&parts).filter(|(a, b)| a.to_bits() == b.to_bits()).count();
        assert_eq!(same, whole.len(), "{name}: {} of {} scores differ", whole.len() - same, whole.len());
    }
    // VAEGMM with draws seeded by position (files written before
    // `ScoreDraws`): parts get the whole table's scores through
    // `first_row`, and parts that all claim row 0 differ.
    let c = VaegmmConfig { draws: ScoreDraws::ByPosition, ..VaegmmConfig::default_for(6) };
    let mut d = OutlierVAEGMM::new(c, Device::Cpu).unwrap();
    d.fit(train.view(), &fit).unwrap();
    let whole = d.score_with(x.view(), &cfg).unwrap().instance.to_vec();
    let part = 2 * workers * d.scoring_batch(&cfg);
    assert!(in_parts(&d, &x, part, &cfg, true) == whole);
    let unplaced = in_parts(&d, &x, part, &cfg, false);
    let same = whole.iter().zip(&unplaced).filter(|(a, b)| a == b).count();
    assert!(same < whole.len() / 2, "{same} of {} scores equal without first_row", whole.len());
}

#[test]
fn a_non_finite_cell_is_named_by_its_row_in_the_whole_table() {
    let train = common::inliers(9, 300, 4);
    let mut x = common::inliers(3, 50, 4);
    x[[7, 2]] = f32::NAN;
    let fit = FitConfig { epochs: Some(1), batch_size: 64, verbose: false, ..Default::default() };
    for name in registry::names_builtin() {
        let mut d = registry::get(name).unwrap().build(4, None, Device::Cpu).unwrap();
        d.fit(train.view(), &fit).unwrap();
        let cfg = PredictConfig { first_row: 1000, ..Default::default() };
        match d.score_with(x.view(), &cfg) {
            Err(OddityError::NonFinite { row, column, .. }) => assert_eq!((row, column), (1007, 2), "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}
