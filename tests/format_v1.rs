//! Files written in format 1 (oddity 0.1.0 at commit cd50434) still load and
//! score bit for bit as they did when they were written.
//!
//! `tests/fixtures/v1_*.oddity` and `v1_scores.json` were written by
//! the test `write_v1_fixtures` of commit d69afb2 (the code of cd50434),
//! run once there with `cargo test --release --test format_v1 -- --ignored`;
//! it is not kept, since today's code would write the current format. The
//! scores in the JSON are the f32 bit patterns that version computed.

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

/// Every format-1 fixture loads, through `load_any` and through its
/// registry entry, and gives the threshold and every score bit for bit as
/// the version that wrote it; saved again, it is a current-format file that
/// scores the same.
#[test]
fn format_1_files_load_and_score_identically() {
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("v1_scores.json")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for name in ["ae", "aegmm", "vaegmm"] {
        let path = fixtures().join(format!("v1_{name}.oddity"));
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 1, "{name}: the fixture is format 1");
        let file = oddity::persist::read(&path).unwrap();
        assert_eq!(file.meta.kind, name);
        let via_entry = registry::get(name).unwrap().load(&file, Device::Cpu).unwrap();
        let det = load_any(&path, Device::Cpu).unwrap();
        assert_eq!(det.kind().tag(), name);
        // No schema in format 1: the all-numeric one of the detector's width.
        assert_eq!(det.schema(), Schema::numeric(det.n_features()), "{name}");
        assert!(file.meta.schema_json.is_none());
        assert_eq!(det.threshold(), want[name]["threshold"].as_f64(), "{name}");
        let bits: Vec<u64> =
            want[name]["instance_bits"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        for d in [&det, &via_entry] {
            let got: Vec<u64> = d.score(probe().view()).unwrap().instance.iter().map(|v| v.to_bits() as u64).collect();
            assert_eq!(got, bits, "{name}: scores differ from the ones format 1 was written with");
        }
        let again = dir.path().join(format!("{name}.oddity"));
        det.save(&again).unwrap();
        let b = std::fs::read(&again).unwrap();
        assert_eq!(u16::from_le_bytes([b[8], b[9]]), oddity::persist::FORMAT_VERSION);
        let reloaded = load_any(&again, Device::Cpu).unwrap();
        let got: Vec<u64> =
            reloaded.score(probe().view()).unwrap().instance.iter().map(|v| v.to_bits() as u64).collect();
        assert_eq!(got, bits, "{name}: rewritten in the current format");
    }
}
