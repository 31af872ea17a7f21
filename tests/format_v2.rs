//! Files written in format 2 (oddity at commit b9f0c69, before the table
//! schema) still load and score bit for bit as they did when written.
//!
//! `tests/fixtures/v2_{aegmm,knn}.oddity` were written by the release CLI of
//! b9f0c69 from 300 synthetic rows (`a,b,c,d`), with
//! `oddity fit --detector NAME --train train.csv --out v2_NAME.oddity --epochs 3 --seed 1`
//! and `oddity threshold v2_NAME.oddity --data train.csv --percentile 90`;
//! `v2_scores.json` holds the threshold and the f32 bit patterns of the
//! scores `oddity score v2_NAME.oddity v2_probe.csv` printed then.

use std::path::PathBuf;

use oddity::io::csv::{read_csv, CsvOptions};
use oddity::*;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[test]
fn format_2_files_load_and_score_identically() {
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("v2_scores.json")).unwrap()).unwrap();
    let (probe, header) = read_csv(&fixtures().join("v2_probe.csv"), &CsvOptions::default()).unwrap();
    assert_eq!(header.unwrap(), ["a", "b", "c", "d"]);
    let dir = tempfile::tempdir().unwrap();
    for name in ["aegmm", "knn"] {
        let path = fixtures().join(format!("v2_{name}.oddity"));
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 2, "{name}: the fixture is format 2");
        let det = load_any(&path, Device::Cpu).unwrap();
        assert_eq!(det.threshold(), want[name]["threshold"].as_f64(), "{name}");
        // A format-2 file has an all-numeric schema as wide as the detector.
        let schema = det.schema();
        assert_eq!(schema.n_features(), 4, "{name}");
        assert!(schema.columns.iter().all(|c| c.is_numeric()), "{name}");
        let bits: Vec<u64> =
            want[name]["instance_bits"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        let got: Vec<u64> = det.score(probe.view()).unwrap().instance.iter().map(|v| v.to_bits() as u64).collect();
        assert_eq!(got, bits, "{name}: scores differ from the ones format 2 was written with");
        let again = dir.path().join(format!("{name}.oddity"));
        det.save(&again).unwrap();
        let b = std::fs::read(&again).unwrap();
        assert_eq!(u16::from_le_bytes([b[8], b[9]]), oddity::persist::FORMAT_VERSION);
        let reloaded = load_any(&again, Device::Cpu).unwrap();
        let got: Vec<u64> = reloaded.score(probe.view()).unwrap().instance.iter().map(|v| v.to_bits() as u64).collect();
        assert_eq!(got, bits, "{name}: rewritten in the current format");
    }
}
