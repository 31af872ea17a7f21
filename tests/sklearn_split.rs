//! `datasets::sklearn_stratified_split` gives scikit-learn's indices.
//!
//! The references are `train_test_split(range(n), test_size, random_state,
//! stratify=labels)` from scikit-learn 1.9.1 with numpy 2.4.6, written by
//! `scripts/reference/sklearn_split_refs.py` into
//! `scripts/reference/sklearn_split_refs.json`; the label vectors are the
//! script's formulas, regenerated here.

use oddity::datasets::sklearn_stratified_split;

fn labels(name: &str, n: usize) -> Vec<u8> {
    let rule: fn(usize) -> bool = match name {
        "every13th_351" => |i| (i * 7) % 13 == 0,
        "first126_351" => |i| i < 126,
        "every16th_1600" => |i| i % 16 == 3,
        "tie_10" => |i| i % 2 == 0,
        "three_7" => |i| matches!(i, 1 | 4 | 5),
        other => panic!("unknown case {other}"),
    };
    (0..n).map(|i| u8::from(rule(i))).collect()
}

#[test]
fn the_splits_are_scikit_learns() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/reference/sklearn_split_refs.json");
    let refs: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = refs["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 50);
    let ids = |v: &serde_json::Value| -> Vec<usize> {
        v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
    };
    for c in cases {
        let (name, n) = (c["name"].as_str().unwrap(), c["n"].as_u64().unwrap() as usize);
        let (seed, test_size) = (c["seed"].as_u64().unwrap() as u32, c["test_size"].as_f64().unwrap());
        let (train, test) = sklearn_stratified_split(&labels(name, n), test_size, seed).unwrap();
        assert_eq!(train, ids(&c["train"]), "{name} seed {seed} test_size {test_size}: train");
        assert_eq!(test, ids(&c["test"]), "{name} seed {seed} test_size {test_size}: test");
    }
}

#[test]
fn degenerate_inputs_are_errors() {
    assert!(sklearn_stratified_split(&[0u8; 10], 0.4, 1).is_err(), "one class");
    assert!(sklearn_stratified_split(&[0u8, 1, 0, 0], 0.4, 1).is_err(), "a class of one row");
    assert!(sklearn_stratified_split(&[0u8, 1, 0, 1], 1.5, 1).is_err(), "test_size");
}
