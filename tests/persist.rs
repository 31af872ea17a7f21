//! Detector files: exact round trips, damaged files refused, atomic writes.

mod common;

use std::path::Path;

use oddity::persist::{decode, write_atomic, FORMAT_VERSION};
use oddity::*;

/// Every registered detector, with its default config for 6 columns,
/// fitted on 600 inliers and thresholded.
fn trained(kind: &str) -> Box<dyn Detector> {
    let f = 6;
    let x = common::inliers(1, 600, f);
    let mut d = registry::get(kind).unwrap().build(f, None, Device::Cpu).unwrap();
    d.fit(x.view(), &FitConfig { epochs: Some(2), batch_size: 128, ..Default::default() }).unwrap();
    d.infer_threshold(x.view(), 95.0).unwrap();
    d
}

fn kinds() -> Vec<&'static str> {
    registry::names_builtin()
}

#[test]
fn round_trip_is_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let x = common::mixed(2, 200, 20, 6).0;
    for kind in kinds() {
        let d = trained(kind);
        let path = dir.path().join(format!("{kind}.oddity"));
        d.save(&path).unwrap();
        let file = oddity::persist::read(&path).unwrap();
        let loaded = registry::get(kind).unwrap().load(&file, Device::Cpu).unwrap();
        let any = load_any(&path, Device::Cpu).unwrap();
        assert_eq!(any.kind(), d.kind());
        assert_eq!(any.kind().tag(), kind);
        let cfg = PredictConfig::default();
        let (p0, p1, p2) = (
            d.predict(x.view(), &cfg).unwrap(),
            loaded.predict(x.view(), &cfg).unwrap(),
            any.predict(x.view(), &cfg).unwrap(),
        );
        assert_eq!(p0.instance_score, p1.instance_score, "{kind:?}");
        assert_eq!(p0.feature_score, p1.feature_score);
        assert_eq!(p0.is_outlier, p1.is_outlier);
        assert_eq!(p0.threshold, p1.threshold);
        assert_eq!(p0.instance_score, p2.instance_score);
        assert_eq!(loaded.train_report(), d.train_report());
        // Saving the loaded detector gives the same bytes.
        let again = dir.path().join("again.oddity");
        loaded.save(&again).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&again).unwrap());
    }
}

#[test]
fn unfitted_detector_round_trips_and_refuses_to_score() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u.oddity");
    OutlierAEGMM::new(AegmmConfig::new(4), Device::Cpu).unwrap().save(&path).unwrap();
    let d = load_any(&path, Device::Cpu).unwrap();
    assert!(!d.is_fitted());
    assert!(matches!(d.score(common::inliers(1, 3, 4).view()), Err(OddityError::NotFitted(_))));
}

fn bytes_of(kind: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("d.oddity");
    trained(kind).save(&p).unwrap();
    std::fs::read(p).unwrap()
}

#[test]
fn truncated_files_are_refused() {
    for kind in kinds() {
        let b = bytes_of(kind);
        let step = (b.len() / 97).max(1);
        for cut in (0..b.len()).step_by(step).chain([b.len() - 1]) {
            let r = decode(Path::new("t.oddity"), b[..cut].to_vec());
            assert!(matches!(r, Err(OddityError::Format { .. })), "{kind:?} cut at {cut} of {}", b.len());
        }
    }
}

#[test]
fn flipped_bytes_are_refused() {
    for kind in kinds() {
        let b = bytes_of(kind);
        let step = (b.len() / 151).max(1);
        for pos in (0..b.len()).step_by(step).chain(0..64) {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut c = b.clone();
                c[pos] ^= mask;
                let r = decode(Path::new("f.oddity"), c);
                assert!(matches!(r, Err(OddityError::Format { .. })), "{kind:?} flip {mask:#x} at {pos}");
            }
        }
    }
}

#[test]
fn other_files_and_future_versions_are_refused_with_a_reason() {
    let b = bytes_of("ae");
    let msg = |r: Result<oddity::persist::DetectorFile>| r.unwrap_err().to_string();
    assert!(msg(decode(Path::new("x"), b"PK\x03\x04 not ours".to_vec())).contains("not an oddity detector file"));
    assert!(msg(decode(Path::new("x"), Vec::new())).contains("not an oddity"));
    let mut future = b.clone();
    future[8..10].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let m = msg(decode(Path::new("x"), future));
    assert!(m.contains("newer oddity") && m.contains("upgrade"), "{m}");
    let mut extra = b.clone();
    extra.push(0);
    assert!(msg(decode(Path::new("x"), extra)).contains("unexpected bytes"));
}

#[test]
fn kind_mismatch_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("g.oddity");
    trained("aegmm").save(&p).unwrap();
    let e = OutlierAE::load(&p, Device::Cpu).unwrap_err().to_string();
    assert!(e.contains("`aegmm`") && e.contains("not `ae`"), "{e}");
    assert!(OutlierVAEGMM::load(&p, Device::Cpu).is_err());
}

#[test]
fn interrupted_save_keeps_the_previous_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("keep.oddity");
    let d = trained("ae");
    d.save(&p).unwrap();
    let before = std::fs::read(&p).unwrap();
    let r = write_atomic(&p, |w| {
        w.write_all(&before[..100])?;
        Err(std::io::Error::other("disk full (simulated)"))
    });
    assert!(matches!(r, Err(OddityError::Io { .. })));
    assert_eq!(std::fs::read(&p).unwrap(), before);
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 1, "temporary files left behind: {left:?}");
    assert!(OutlierAE::load(&p, Device::Cpu).is_ok());
}

#[test]
fn missing_file_is_an_io_error() {
    assert!(matches!(load_any(Path::new("/nonexistent/x.oddity"), Device::Cpu), Err(OddityError::Io { .. })));
}
