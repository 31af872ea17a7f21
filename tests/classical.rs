//! KNN and ECOD against independent references on fixed data.
//!
//! The data and the reference scores come from
//! `scripts/reference/classical_refs.py` (PyOD 3.6.7, scikit-learn 1.9.1,
//! numpy), saved as `scripts/reference/classical_refs.json`:
//! - `knn_largest`, `knn_mean`: PyOD `KNN(n_neighbors=5, method=...)` fitted
//!   on the raw training rows, `decision_function` of the test rows;
//! - `knn_largest_std`: the same on rows standardized with the training
//!   rows' mean and population deviation (what oddity's KNN does itself);
//! - `ecod_inductive`: the numpy function `ecod_inductive` of that script:
//!   per column `-ln(max(#{train <= x}, 1) / n)` and the right tail, the
//!   skewness-chosen tail, per-cell max, summed.

use oddity::*;
use serde_json::Value;

fn refs() -> Value {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/reference/classical_refs.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// The fixed data, generated here exactly as the script does: f64, then f32.
fn data() -> (ndarray::Array2<f32>, ndarray::Array2<f32>) {
    let train = ndarray::Array2::from_shape_fn((60, 4), |(i, j)| {
        let (i, j) = (i as f64, j as f64);
        ((0.7 * i + 1.3 * j).sin() + 0.25 * (1.1 * i * (j + 1.0)).cos()) as f32
    });
    let test = ndarray::Array2::from_shape_fn((20, 4), |(i, j)| {
        let (i, j) = (i as f64, j as f64);
        (1.6 * (0.37 * i + 0.5 * j + 0.2).sin() + 0.3 * (j - 1.5) * (0.9 * i).cos()) as f32
    });
    (train, test)
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

#[test]
fn the_generated_data_is_the_scripts() {
    let r = refs();
    let (train, test) = data();
    let want_train: Vec<f64> = r["train"].as_array().unwrap().iter().flat_map(floats).collect();
    let want_test: Vec<f64> = r["test"].as_array().unwrap().iter().flat_map(floats).collect();
    assert_eq!(train.iter().map(|&v| v as f64).collect::<Vec<_>>(), want_train);
    assert_eq!(test.iter().map(|&v| v as f64).collect::<Vec<_>>(), want_test);
}

fn scores(kind: &str, config: Option<Value>) -> Vec<f64> {
    let (train, test) = data();
    let mut d = registry::get(kind).unwrap().build(4, config, Device::Cpu).unwrap();
    d.fit(train.view(), &FitConfig::default()).unwrap();
    d.score(test.view()).unwrap().instance.iter().map(|&v| v as f64).collect()
}

fn assert_close(got: &[f64], want: &[f64], rel: f64, what: &str) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= rel * w.abs().max(1e-3), "{what}: row {i}: {g} vs {w}");
    }
}

#[test]
fn knn_equals_pyod() {
    let r = refs();
    let raw = |method: &str| serde_json::json!({"n_features": 4, "k": 5, "method": method, "standardize": false});
    assert_close(&scores("knn", Some(raw("largest"))), &floats(&r["knn_largest"]), 1e-5, "largest");
    assert_close(&scores("knn", Some(raw("mean"))), &floats(&r["knn_mean"]), 1e-5, "mean");
    // The default standardizes with the training rows' statistics.
    assert_close(&scores("knn", None), &floats(&r["knn_largest_std"]), 1e-5, "standardized");
}

#[test]
fn ecod_equals_the_inductive_numpy_rule() {
    let r = refs();
    assert_close(&scores("ecod", None), &floats(&r["ecod_inductive"]), 1e-5, "ecod");
}

/// A row's ECOD score depends on the training rows alone, not on the rows
/// scored with it (PyOD's transductive scores would change).
#[test]
fn ecod_and_knn_score_each_row_alone() {
    let (train, test) = data();
    for kind in ["ecod", "knn"] {
        let mut d = registry::get(kind).unwrap().build(4, None, Device::Cpu).unwrap();
        d.fit(train.view(), &FitConfig::default()).unwrap();
        let all = d.score(test.view()).unwrap().instance;
        for i in [0, 7, 19] {
            let one = d.score(test.slice(ndarray::s![i..i + 1, ..])).unwrap().instance[0];
            assert_eq!(one.to_bits(), all[i].to_bits(), "{kind} row {i}");
        }
    }
}

/// KNN's memory is bounded by batches, not by the input: many small
/// batches give the same scores as one.
#[test]
fn knn_batches_do_not_change_scores() {
    let (train, test) = data();
    let mut d = OutlierKNN::new(KnnConfig::new(4), Device::Cpu).unwrap();
    d.fit(train.view(), &FitConfig::default()).unwrap();
    let one = d.score(test.view()).unwrap().instance;
    let cfg = PredictConfig { batch_size: 3, ..Default::default() };
    let many = d.score_with(test.view(), &cfg).unwrap().instance;
    for (a, b) in one.iter().zip(&many) {
        assert!((a - b).abs() <= 1e-6 * a.abs().max(1.0), "{a} vs {b}");
    }
}

#[test]
fn knn_subsample_is_seeded_and_stated() {
    let (train, _) = data();
    let cfg = KnnConfig { max_train_rows: Some(20), ..KnnConfig::new(4) };
    let fit = |seed| {
        let mut d = OutlierKNN::new(cfg.clone(), Device::Cpu).unwrap();
        let r = d.fit(train.view(), &FitConfig { seed, ..Default::default() }).unwrap();
        (d.score(train.view()).unwrap().instance, r)
    };
    let (a, report) = fit(1);
    assert_eq!(fit(1).0, a);
    assert_ne!(fit(2).0, a);
    assert!(report.note.unwrap().contains("stored 20 of 60"));
}

#[test]
fn bad_settings_and_input_are_typed_errors() {
    let (train, test) = data();
    assert!(OutlierKNN::new(KnnConfig { k: 0, ..KnnConfig::new(4) }, Device::Cpu).is_err());
    let mut d = OutlierKNN::new(KnnConfig { k: 61, ..KnnConfig::new(4) }, Device::Cpu).unwrap();
    assert!(matches!(d.fit(train.view(), &FitConfig::default()), Err(OddityError::InvalidParameter { .. })));
    for kind in ["knn", "ecod"] {
        let mut d = registry::get(kind).unwrap().build(4, None, Device::Cpu).unwrap();
        assert!(matches!(d.score(test.view()), Err(OddityError::NotFitted(_))), "{kind}");
        d.fit(train.view(), &FitConfig::default()).unwrap();
        let mut bad = test.clone();
        bad[[3, 2]] = f32::NAN;
        assert!(matches!(d.score(bad.view()), Err(OddityError::NonFinite { .. })), "{kind}");
        assert!(d.score(test.slice(ndarray::s![.., ..3])).is_err(), "{kind}");
        assert!(d.fit(ndarray::Array2::<f32>::zeros((0, 4)).view(), &FitConfig::default()).is_err(), "{kind}");
    }
    assert!(OutlierECOD::new(EcodConfig::new(4), Device::Cuda(0)).is_err());
}

/// The k-th nearest distance by brute force in f64, for the checks below.
fn brute_kth(train: &ndarray::Array2<f32>, q: ndarray::ArrayView1<f32>, k: usize) -> f64 {
    let mut d: Vec<f64> = train
        .outer_iter()
        .map(|t| t.iter().zip(q.iter()).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum::<f64>().sqrt())
        .collect();
    d.sort_by(f64::total_cmp);
    d[k - 1]
}

/// One column (a column-major product inside), and raw columns far from
/// zero (IDs, amounts: where f32 products would lose the distances): the
/// scores are still the exact k-th distances.
#[test]
fn knn_is_exact_on_one_column_and_on_large_offsets() {
    let cases = [
        (ndarray::Array2::from_shape_fn((200, 1), |(i, _)| ((i * 37) % 101) as f32 * 0.5), 1.0f32),
        (ndarray::Array2::from_shape_fn((300, 3), |(i, j)| 1.0e6 + ((i * 13 + j * 7) % 97) as f32), 1.0e6),
    ];
    for (train, offset) in cases {
        let f = train.ncols();
        let cfg = KnnConfig { standardize: false, ..KnnConfig::new(f) };
        let mut d = OutlierKNN::new(cfg, Device::Cpu).unwrap();
        d.fit(train.view(), &FitConfig::default()).unwrap();
        let test = ndarray::Array2::from_shape_fn((40, f), |(i, j)| offset + ((i * 11 + j * 3) % 53) as f32 * 1.7);
        let got = d.score(test.view()).unwrap().instance;
        for (i, row) in test.outer_iter().enumerate() {
            let want = brute_kth(&train, row, 5);
            assert!((got[i] as f64 - want).abs() <= 1e-5 * want.max(1.0), "{f} columns, row {i}: {} vs {want}", got[i]);
        }
    }
}
