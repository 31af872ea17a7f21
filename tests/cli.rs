//! The `oddity` command-line tool, end to end through the built binary:
//! fit, threshold, score, info for every detector; damaged files and bad CSV
//! refused with exit status 1 and a one-line message.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ROWS: usize = 300;

/// Runs the binary with `args`, feeding `stdin` if given.
fn oddity(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_oddity"))
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run oddity");
    if let Some(bytes) = stdin {
        child.stdin.take().expect("stdin").write_all(bytes).expect("write stdin");
    }
    child.wait_with_output().expect("wait for oddity")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs and requires success; returns stdout.
fn ok(args: &[&str], stdin: Option<&[u8]>) -> String {
    let out = oddity(args, stdin);
    assert!(out.status.success(), "oddity {args:?} failed: {}", text(&out.stderr));
    text(&out.stdout)
}

/// Runs and requires exit status 1 with one `error: ...` line; returns it.
fn fails(args: &[&str], stdin: Option<&[u8]>) -> String {
    let out = oddity(args, stdin);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "oddity {args:?} should fail; stderr: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line expected: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// A CSV with a header and a text label in the middle: inliers near a
/// 2-d plane in 5 dimensions, every 20th row an off-plane outlier.
fn write_csv(dir: &Path) -> PathBuf {
    let mut r = ChaCha8Rng::seed_from_u64(7);
    let mut s = String::from("f1,f2,label,f3,f4,f5\n");
    for i in 0..ROWS {
        let (a, b): (f64, f64) = (r.random_range(-1.0..1.0), r.random_range(-1.0..1.0));
        let mut row = [a, b, a + b, a - b, 0.5 * a];
        let outlier = i % 20 == 0;
        for v in row.iter_mut() {
            *v += r.random_range(-0.05..0.05) + if outlier { r.random_range(-2.0..2.0) } else { 0.0 };
        }
        let label = if outlier { "attack" } else { "normal" };
        s += &format!("{:.5},{:.5},{label},{:.5},\"{:.5}\",{:.5}\n", row[0], row[1], row[2], row[3], row[4]);
    }
    let path = dir.join("data.csv");
    std::fs::write(&path, s).expect("write csv");
    path
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Fits a detector with 2 epochs and returns its path.
fn fit(dir: &Path, csv: &Path, kind: &str) -> PathBuf {
    let det = dir.join(format!("{kind}.oddity"));
    let args =
        ["fit", "--detector", kind, "--train", s(csv), "--out", s(&det), "--epochs", "2", "--label-column", "label"];
    let out = oddity(&[&args[..], &["--quiet", "--seed", "3"]].concat(), None);
    assert!(out.status.success(), "fit {kind}: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("fitted"), "summary line expected: {}", text(&out.stderr));
    det
}

fn full_cycle(kind: &str, name: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = write_csv(dir.path());
    let det = fit(dir.path(), &csv, kind);

    let t: f64 = ok(&["threshold", s(&det), "--data", s(&csv), "--percentile", "95", "--label-column", "label"], None)
        .trim()
        .parse()
        .expect("threshold is a number");

    let score_args = ["score", s(&det), s(&csv), "--label-column", "label"];
    let first = ok(&score_args, None);
    assert_eq!(first, ok(&score_args, None), "scoring is deterministic");
    let data = std::fs::read(&csv).expect("read csv");
    assert_eq!(first, ok(&["score", s(&det), "-", "--label-index", "3"], Some(&data)), "stdin");

    let lines: Vec<&str> = first.lines().collect();
    assert_eq!(lines.len(), ROWS);
    let mut flagged = 0;
    for line in &lines {
        let (score, flag) = line.split_once(',').expect("score,is_outlier");
        let score: f64 = score.parse().expect("score");
        assert!(score.is_finite());
        assert_eq!(flag == "1", score > t, "{line} vs threshold {t}");
        flagged += usize::from(flag == "1");
    }
    // The 95th percentile of the same data flags about 5 % of it.
    assert!((10..=20).contains(&flagged), "{flagged} flagged");

    let info: serde_json::Value = serde_json::from_str(&ok(&["info", s(&det)], None)).expect("info is JSON");
    assert_eq!(info["kind"], kind);
    assert_eq!(info["name"], name);
    assert_eq!(info["fitted"], true);
    assert_eq!(info["threshold"].as_f64(), Some(t));
    assert_eq!(info["n_features"], 5);
    assert_eq!(info["standardized"], true);
    assert_eq!(info["training"]["epochs"], 2);
    assert_eq!(info["config"]["n_features"], 5);
    assert_eq!(info["gmm"].is_null(), kind == "ae");
    assert!(!info["tensors"].as_array().expect("tensors").is_empty());
}

#[test]
fn ae_fit_threshold_score_info() {
    full_cycle("ae", "OutlierAE");
}

#[test]
fn aegmm_fit_threshold_score_info() {
    full_cycle("aegmm", "OutlierAEGMM");
}

#[test]
fn vaegmm_fit_threshold_score_info() {
    full_cycle("vaegmm", "OutlierVAEGMM");
}

#[test]
fn threshold_ties_option() {
    // 92 inliers and 8 copies of one far-off row (the top scores). At
    // --percentile 95 distinct scores would give 5 flags; the percentile
    // lands inside the copies. `nearest` (default) flags all 8, `percentile`
    // (Alibi's rule) none of them.
    let dir = tempfile::tempdir().expect("tempdir");
    let det = fit(dir.path(), &write_csv(dir.path()), "ae");
    let mut r = ChaCha8Rng::seed_from_u64(8);
    let mut text = String::from("f1,f2,f3,f4,f5\n");
    for _ in 0..92 {
        let (a, b): (f64, f64) = (r.random_range(-1.0..1.0), r.random_range(-1.0..1.0));
        text += &format!("{a:.5},{b:.5},{:.5},{:.5},{:.5}\n", a + b, a - b, 0.5 * a);
    }
    text += &"4,-4,4,-4,4\n".repeat(8);
    let csv = dir.path().join("ties.csv");
    std::fs::write(&csv, text).expect("write csv");
    let flagged = |ties: &str| {
        ok(&["threshold", s(&det), "--data", s(&csv), "--percentile", "95", "--ties", ties], None);
        ok(&["score", s(&det), s(&csv)], None).lines().filter(|l| l.ends_with(",1")).count()
    };
    assert_eq!(flagged("nearest"), 8);
    assert_eq!(flagged("percentile"), 0);
}

#[test]
fn unthresholded_and_damaged_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = write_csv(dir.path());
    let det = fit(dir.path(), &csv, "ae");

    // No threshold yet: scores with an empty is_outlier column, one warning.
    let out = oddity(&["score", s(&det), s(&csv), "--label-column", "label", "--batch-size", "7"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), ROWS);
    assert!(stdout.lines().all(|l| l.ends_with(',') && l.trim_end_matches(',').parse::<f32>().is_ok()));
    assert_eq!(text(&out.stderr).matches("warning:").count(), 1);

    let bytes = std::fs::read(&det).expect("read detector");
    let truncated = dir.path().join("truncated.oddity");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    let flipped = dir.path().join("flipped.oddity");
    let mut b = bytes.clone();
    let last = b.len() - 3;
    b[last] ^= 0x10;
    std::fs::write(&flipped, &b).expect("write");

    let cases = [
        (&truncated, "truncated"),
        (&flipped, "checksum"),
        (&csv, "not an oddity detector file"),
        (&dir.path().join("missing.oddity"), "missing.oddity"),
    ];
    for (path, what) in cases {
        let err = fails(&["info", s(path)], None);
        assert!(err.contains(what), "{what}: {err}");
    }
    let err = fails(&["score", s(&flipped), s(&csv), "--label-column", "label"], None);
    assert!(err.contains("checksum"), "{err}");
    // A refused threshold leaves the damaged file as it was.
    let err =
        fails(&["threshold", s(&truncated), "--data", s(&csv), "--percentile", "90", "--label-column", "label"], None);
    assert!(err.contains("truncated"), "{err}");
    assert_eq!(std::fs::read(&truncated).expect("read"), &bytes[..bytes.len() / 2]);
}

#[test]
fn csv_errors_name_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("never.oddity");
    let fit_on = |content: &str| {
        let p = dir.path().join("bad.csv");
        std::fs::write(&p, content).expect("write");
        fails(&["fit", "--detector", "ae", "--train", s(&p), "--out", s(&out), "--epochs", "1", "-q"], None)
    };
    let fit_numeric = |content: &str| {
        let p = dir.path().join("bad.csv");
        std::fs::write(&p, content).expect("write");
        let args =
            ["fit", "--detector", "ae", "--train", s(&p), "--out", s(&out), "--epochs", "1", "-q", "--numeric", "b"];
        fails(&args, None)
    };
    // A text cell in a column declared numeric is an error; undeclared, the
    // column is categorical, with a warning naming the cell.
    let err = fit_numeric("a,b,c\n1,2,3\n4,5,6\n7,x,9\n");
    assert!(err.contains("line 4, column 2") && err.contains("`x` is not a number"), "{err}");
    let mixed = dir.path().join("mixed.csv");
    std::fs::write(&mixed, "a,b,c\n1,2,3\n4,5,6\n7,x,9\n").expect("write");
    let fitted = dir.path().join("mixed.oddity");
    let o = oddity(&["fit", "--detector", "ecod", "--train", s(&mixed), "--out", s(&fitted)], None);
    assert!(o.status.success());
    assert!(text(&o.stderr).contains("column `b` holds numbers and text (first `x`, line 4)"), "{}", text(&o.stderr));
    let err = fit_on("1,2,3\n4,5\n");
    assert!(err.contains("line 2, column 3") && err.contains("expected 3 columns"), "{err}");
    let err = fit_on("");
    assert!(err.contains("line 1, column 1") && err.contains("empty"), "{err}");
    let err = fit_numeric("a,b\n1,inf\n");
    assert!(err.contains("line 2, column 2") && err.contains("finite"), "{err}");
    let p = dir.path().join("good.csv");
    std::fs::write(&p, "a,b\n1,2\n").expect("write");
    let err = fails(&["fit", "--detector", "ae", "--train", s(&p), "--out", s(&out), "--label-column", "y"], None);
    assert!(err.contains("no column named `y`"), "{err}");
    // Stdin gets the same checks.
    let args = ["fit", "--detector", "ae", "--train", "-", "--out", s(&out), "--numeric", "b"];
    let err = fails(&args, Some(b"a,b\n1,2\n3,oops\n"));
    assert!(err.contains("<stdin>, line 3, column 2"), "{err}");
    assert!(!out.exists(), "no detector is written when the input is bad");
}

#[test]
fn config_file_sets_detector_and_fit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = write_csv(dir.path());
    let cfg = dir.path().join("ae.toml");
    std::fs::write(
        &cfg,
        r#"
[fit]
epochs = 3
learning_rate = 0.01

[detector]
n_features = 5
standardize = false
score = "log_normalized"
encoder = [{ units = 6, activation = "relu" }, { units = 2, activation = "linear" }]
decoder = [{ units = 6, activation = "relu" }, { units = 5, activation = "linear" }]
"#,
    )
    .expect("write config");
    let det = dir.path().join("cfg.oddity");
    let base = ["fit", "--detector", "ae", "--train", s(&csv), "--out", s(&det), "--label-column", "label", "-q"];
    ok(&[&base[..], &["--config", s(&cfg)]].concat(), None);
    let info: serde_json::Value = serde_json::from_str(&ok(&["info", s(&det)], None)).expect("json");
    assert_eq!(info["training"]["epochs"], 3);
    assert_eq!(info["standardized"], false);
    assert_eq!(info["config"]["encoder"][0]["units"], 6);
    assert_eq!(info["config"]["score"], "log_normalized");
    // Flags override the file's fit settings.
    ok(&[&base[..], &["--config", s(&cfg), "--epochs", "1"]].concat(), None);
    let info: serde_json::Value = serde_json::from_str(&ok(&["info", s(&det)], None)).expect("json");
    assert_eq!(info["training"]["epochs"], 1);
    // Misspelt settings are refused, not ignored.
    let json = dir.path().join("bad.json");
    std::fs::write(&json, r#"{ "fit": { "epoch": 3 } }"#).expect("write");
    let err = fails(&[&base[..], &["--config", s(&json)]].concat(), None);
    assert!(err.contains("unknown field `fit.epoch`"), "{err}");
}

#[test]
fn help_and_usage_errors() {
    let help = ok(&["--help"], None);
    for cmd in ["fit", "threshold", "score", "info"] {
        assert!(help.contains(cmd), "{help}");
    }
    let fit_help = ok(&["fit", "--help"], None);
    for flag in ["--detector", "--train", "--out", "--config", "--epochs", "--label-column", "--device", "--quiet"] {
        assert!(fit_help.contains(flag), "{fit_help}");
    }
    let out = oddity(&["fit", "--detector", "nope"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("error:"), "{}", text(&out.stderr));
}

/// The detectors without a training loop go through the same commands:
/// fit (epoch flags accepted and ignored, as the report says), threshold,
/// score, info; and every name `oddity detectors` lists is accepted by fit.
#[test]
fn classical_detectors_fit_threshold_score_info() {
    let listed = ok(&["detectors"], None);
    let names: Vec<&str> = listed.lines().filter_map(|l| l.split_whitespace().next()).collect();
    for kind in ["knn", "ecod", "iforest"] {
        if !names.contains(&kind) {
            assert_ne!(kind, "knn", "knn must be registered: {listed}");
            continue;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let csv = write_csv(dir.path());
        let det = fit(dir.path(), &csv, kind);
        let t: f64 =
            ok(&["threshold", s(&det), "--data", s(&csv), "--percentile", "95", "--label-column", "label"], None)
                .trim()
                .parse()
                .expect("threshold");
        let scores = ok(&["score", s(&det), s(&csv), "--label-column", "label"], None);
        let mut outliers_flagged = 0;
        for (i, line) in scores.lines().enumerate() {
            let (score, flag) = line.split_once(',').expect("score,is_outlier");
            let score: f64 = score.parse().expect("score");
            assert_eq!(flag == "1", score > t, "{kind}: {line} vs {t}");
            outliers_flagged += usize::from(flag == "1" && i % 20 == 0);
        }
        // The off-plane rows are the ones to flag: most of the 15 are.
        assert!(outliers_flagged >= 10, "{kind}: {outliers_flagged} of 15 outliers flagged");
        let info: serde_json::Value = serde_json::from_str(&ok(&["info", s(&det)], None)).expect("info is JSON");
        assert_eq!(info["kind"], kind);
        assert_eq!(info["training"]["epochs"], 0, "{kind} trains no epochs");
        assert!(info["training"]["note"].as_str().expect("note").contains("epoch settings are not used"));
    }
    let defaults: serde_json::Value =
        serde_json::from_str(&ok(&["detectors", "--features", "7"], None)).expect("defaults are JSON");
    for name in names {
        assert_eq!(defaults[name]["n_features"], 7, "{name}");
    }
}

/// What a careless user meets: errors that name the flag and the files,
/// no raw control bytes, no silent untrained detector, symlinks written
/// through, leftovers of a killed save removed, and a row too extreme to
/// score flagged rather than passed as an inlier.
#[test]
fn careless_use_gets_clear_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = write_csv(dir.path());
    let det = fit(dir.path(), &csv, "aegmm");
    let err = fails(&["score", s(&det), s(&csv), "--label-column", "label", "--device", "cuda:99"], None);
    assert!(err.contains("--device"), "{err}");
    let err = fails(&["threshold", s(&det), "--data", s(&csv), "--percentile", "150", "--label-column", "label"], None);
    assert!(err.contains("--percentile"), "{err}");
    let out = dir.path().join("zero.oddity");
    let args =
        ["fit", "--detector", "ae", "--train", s(&csv), "--out", s(&out), "--epochs", "0", "--label-column", "label"];
    let err = fails(&args, None);
    assert!(err.contains("--epochs") && !out.exists(), "{err}");
    // A CSV of another width: both files named.
    let narrow = dir.path().join("narrow.csv");
    std::fs::write(&narrow, "a,b\n1,2\n3,4\n").expect("write");
    let err = fails(&["score", s(&det), s(&narrow)], None);
    assert!(err.contains("narrow.csv") && err.contains("aegmm.oddity"), "{err}");
    // A NUL byte is shown escaped.
    let nul = dir.path().join("nul.csv");
    std::fs::write(&nul, b"1,2,3,4,5\n1,2,x\x00y,4,5\n").expect("write");
    let err = fails(&["score", s(&det), s(&nul)], None);
    assert!(!err.contains('\0') && err.contains("\\u{0}"), "{err:?}");
    // A symlink is written through: the link stays, its target gets the threshold.
    let link = dir.path().join("link.oddity");
    std::os::unix::fs::symlink(&det, &link).expect("symlink");
    // A temporary file left by a save that was killed (a process that is gone).
    let stale = dir.path().join(".aegmm.oddity.tmp-4000000000-7");
    std::fs::write(&stale, b"half a file").expect("write");
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options().write(true).open(&stale).expect("open").set_modified(an_hour_ago).expect("mtime");
    // A fresh one may belong to a writer this machine cannot see: kept.
    let fresh = dir.path().join(".aegmm.oddity.tmp-4000000001-8");
    std::fs::write(&fresh, b"a save in progress elsewhere").expect("write");
    ok(&["threshold", s(&link), "--data", s(&csv), "--percentile", "95", "--label-column", "label"], None);
    assert!(std::fs::symlink_metadata(&link).expect("link").file_type().is_symlink());
    let info: serde_json::Value = serde_json::from_str(&ok(&["info", s(&det)], None)).expect("json");
    assert!(info["threshold"].is_number(), "the target holds the threshold");
    assert!(!stale.exists(), "the leftover temporary file is removed");
    assert!(fresh.exists(), "a recent temporary file is kept");
    // A dangling link is written through too: its target is created.
    let dangling = dir.path().join("dangling.oddity");
    std::os::unix::fs::symlink("made-by-save.oddity", &dangling).expect("symlink");
    let fitted = ["fit", "--detector", "ecod", "--train", s(&csv), "--out", s(&dangling), "--label-column", "label"];
    ok(&fitted, None);
    assert!(dir.path().join("made-by-save.oddity").is_file());
    // A row of 1e20 cells: flagged with score inf, and a warning names it.
    let extreme = dir.path().join("extreme.csv");
    std::fs::write(&extreme, "0.1,0.2,0.3,0.1,0.05\n1e20,1e20,1e20,1e20,1e20\n").expect("write");
    let out = oddity(&["score", s(&det), s(&extreme)], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    let (score, flag) = lines[1].split_once(',').expect("score,flag");
    assert_eq!(flag, "1", "{lines:?}");
    assert!(score.parse::<f64>().expect("number") > 1e3 || score == "inf", "{score}");
    if score == "inf" {
        assert!(text(&out.stderr).contains("could not be scored") && text(&out.stderr).contains("rows 2"));
    }
}

/// A raw table (gzip, no header, text columns, a text label) fits and
/// scores exactly like its hand-encoded numeric version; with a header, the
/// same table with its columns in another order (and Parquet) scores the same.
#[test]
fn raw_tables_score_like_their_hand_encoding() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut r = ChaCha8Rng::seed_from_u64(3);
    let protos = ["udp", "tcp", "icmp"];
    let flags = ["SF", "REJ"];
    let mut raw = Vec::new();
    for i in 0..200 {
        let a: f64 = r.random_range(0.0..10.0);
        let p = protos[r.random_range(0..3)];
        let b: f64 = r.random_range(-1.0..1.0);
        let f = flags[i % 2];
        raw.push([format!("{a:.3}"), p.to_string(), format!("{b:.4}"), f.to_string(), "normal.".into()]);
    }
    // By hand: vocabularies sorted, then a `missing` and an `other` slot.
    let (vp, vf) = (["icmp", "tcp", "udp"], ["REJ", "SF"]);
    let onehot = |v: &[&str], x: &str| -> Vec<String> {
        v.iter().map(|u| if *u == x { "1" } else { "0" }).chain(["0", "0"]).map(String::from).collect()
    };
    let hand: String = raw
        .iter()
        .map(|c| {
            let mut cells = vec![c[0].clone()];
            cells.extend(onehot(&vp, &c[1]));
            cells.push(c[2].clone());
            cells.extend(onehot(&vf, &c[3]));
            cells.join(",") + "\n"
        })
        .collect();
    let hand_csv = dir.path().join("hand.csv");
    std::fs::write(&hand_csv, hand).expect("write");
    let raw_text: String = raw.iter().map(|c| c.join(",") + "\n").collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(raw_text.as_bytes()).expect("gzip");
    let raw_gz = dir.path().join("raw.gz");
    std::fs::write(&raw_gz, gz.finish().expect("gzip")).expect("write");
    let (det_raw, det_hand) = (dir.path().join("raw.oddity"), dir.path().join("hand.oddity"));
    let fit = |train: &Path, out: &Path, extra: &[&str]| {
        let mut args = vec!["fit", "--detector", "aegmm", "--train", s(train), "--out", s(out), "--epochs", "2", "-q"];
        args.extend(extra);
        ok(&args, None);
    };
    fit(&raw_gz, &det_raw, &["--label-index", "5"]);
    fit(&hand_csv, &det_hand, &[]);
    let raw_scores = ok(&["score", s(&det_raw), s(&raw_gz)], None);
    assert_eq!(raw_scores.lines().count(), 200);
    assert_eq!(raw_scores, ok(&["score", s(&det_hand), s(&hand_csv)], None));
    // Without the label column, the same rows score the same.
    let nolabel = dir.path().join("nolabel.csv");
    std::fs::write(&nolabel, raw.iter().map(|c| c[..4].join(",") + "\n").collect::<String>()).expect("write");
    assert_eq!(raw_scores, ok(&["score", s(&det_raw), s(&nolabel)], None));
    let info: serde_json::Value = serde_json::from_str(&ok(&["info", s(&det_raw)], None)).expect("json");
    assert_eq!(info["format_version"], 3);
    assert_eq!(info["schema"]["columns"][1]["vocab"], serde_json::json!(["icmp", "tcp", "udp"]));
    assert_eq!(info["schema"]["columns"][4]["role"], "label");

    // With a header: columns matched by name, in any order.
    let with_header = dir.path().join("h.csv");
    let mut t = String::from("a,proto,b,flag,label\n");
    t.push_str(&raw_text);
    std::fs::write(&with_header, &t).expect("write");
    let det_h = dir.path().join("h.oddity");
    fit(&with_header, &det_h, &["--label-column", "label"]);
    let h_scores = ok(&["score", s(&det_h), s(&with_header)], None);
    assert_eq!(h_scores, raw_scores, "a header changes nothing but the names");
    let reordered = dir.path().join("r.csv");
    let mut t = String::from("flag,b,proto,a\n");
    for c in &raw {
        t.push_str(&format!("{},{},{},{}\n", c[3], c[2], c[1], c[0]));
    }
    std::fs::write(&reordered, t).expect("write");
    assert_eq!(ok(&["score", s(&det_h), s(&reordered)], None), h_scores);
    let missing = dir.path().join("m.csv");
    std::fs::write(&missing, "flag,b,a\nSF,0.1,1\n").expect("write");
    let err = fails(&["score", s(&det_h), s(&missing)], None);
    assert!(err.contains("column `proto` is missing"), "{err}");
    // An unseen value and missing cells still score, with warnings.
    let odd = dir.path().join("odd.csv");
    std::fs::write(&odd, "a,proto,b,flag\n,gre,0.1,SF\n1,tcp,,NA\n").expect("write");
    let o = oddity(&["score", s(&det_h), s(&odd)], None);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).lines().count(), 2);
    let e = text(&o.stderr);
    assert!(e.contains("not seen in training") && e.contains("training median"), "{e}");

    // Parquet in and out.
    #[cfg(feature = "parquet")]
    {
        use std::sync::Arc;

        use arrow_array::{Array, ArrayRef, Float32Array, Float64Array, RecordBatch, StringArray};
        let col = |j: usize| raw.iter().map(|c| c[j].clone()).collect::<Vec<_>>();
        let num = |j: usize| -> ArrayRef {
            Arc::new(col(j).iter().map(|v| v.parse::<f64>().expect("number")).collect::<Float64Array>())
        };
        let txt = |j: usize| -> ArrayRef { Arc::new(StringArray::from(col(j))) };
        let write = |name: &str, cols: Vec<(&str, ArrayRef)>| {
            let batch = RecordBatch::try_from_iter(cols).expect("batch");
            let pq = dir.path().join(name);
            let f = std::fs::File::create(&pq).expect("create");
            let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).expect("writer");
            w.write(&batch).expect("write");
            w.close().expect("close");
            pq
        };
        // Columns in another order than the training CSV's.
        let pq = write("t.parquet", vec![("b", num(2)), ("proto", txt(1)), ("a", num(0)), ("flag", txt(3))]);
        assert_eq!(ok(&["score", s(&det_h), s(&pq)], None), h_scores);
        let out = dir.path().join("scores.parquet");
        ok(&["score", s(&det_h), s(&pq), "--out", s(&out)], None);
        let rd = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(&out).expect("open"),
        )
        .expect("reader")
        .build()
        .expect("build");
        let mut got = Vec::new();
        for b in rd {
            let b = b.expect("batch");
            let sc = b.column(0).as_any().downcast_ref::<Float32Array>().expect("f32");
            got.extend((0..sc.len()).map(|i| sc.value(i)));
            assert_eq!(b.column(1).null_count(), b.num_rows(), "no threshold: flags are null");
        }
        let want: Vec<f32> = h_scores.lines().map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
        assert_eq!(got, want);
        // A detector fitted on Parquet (columns in the CSV's order) scores
        // the CSV as the one fitted on the CSV.
        let same = write("same.parquet", vec![("a", num(0)), ("proto", txt(1)), ("b", num(2)), ("flag", txt(3))]);
        let det_p = dir.path().join("p.oddity");
        fit(&same, &det_p, &[]);
        assert_eq!(ok(&["score", s(&det_p), s(&with_header)], None), h_scores);
    }
}

/// The `[table]` section of `--config` sets roles and options; the flags add
/// to it; a misspelt key is refused.
#[test]
fn config_file_sets_table_options() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("t.csv");
    std::fs::write(&csv, "id,code,x,y\n1,7,0.5,a\n2,8,0.25,b\n3,7,,a\n4,7,1.0,c\n").expect("write");
    let cfg = dir.path().join("t.toml");
    std::fs::write(&cfg, "[table]\ncategorical = [\"code\"]\nmin_count = 2\nmissing_indicator = false\n")
        .expect("write");
    let det = dir.path().join("t.oddity");
    let args =
        ["fit", "--detector", "ecod", "--train", s(&csv), "--out", s(&det), "--config", s(&cfg), "--ignore", "id"];
    ok(&args, None);
    let info: serde_json::Value = serde_json::from_str(&ok(&["info", s(&det)], None)).expect("json");
    let cols = &info["schema"]["columns"];
    assert_eq!(cols[0]["role"], "ignored");
    // `code` 7 is kept, 8 (seen once) goes to `other`; `y` keeps only `a`.
    assert_eq!(cols[1]["vocab"], serde_json::json!(["7"]));
    assert_eq!(cols[2]["missing_indicator"], false);
    assert_eq!(cols[2]["median"], 0.5);
    assert_eq!(cols[3]["vocab"], serde_json::json!(["a"]));
    assert_eq!(info["n_features"], 3 + 1 + 3);
    std::fs::write(&cfg, "[table]\ncategorcal = [\"code\"]\n").expect("write");
    let err = fails(&args, None);
    assert!(err.contains("categorcal") && err.contains("t.toml"), "{err}");
}

/// `score` streams a long table in parts (131,072 rows each) and gives every
/// row the score the Rust API gives the whole table at once; the Parquet
/// output, written part by part too, holds the same scores.
#[test]
fn long_tables_stream_with_the_whole_tables_scores() {
    let dir = tempfile::tempdir().expect("tempdir");
    let det = fit(dir.path(), &write_csv(dir.path()), "vaegmm");
    let mut r = ChaCha8Rng::seed_from_u64(11);
    let rows = 140_000;
    let mut text = String::from("f1,f2,label,f3,f4,f5\n");
    for _ in 0..rows {
        let (a, b): (f64, f64) = (r.random_range(-1.0..1.0), r.random_range(-1.0..1.0));
        text += &format!("{a:.4},{b:.4},normal,{:.4},{:.4},{:.4}\n", a + b, a - b, 0.5 * a);
    }
    let big = dir.path().join("big.csv");
    std::fs::write(&big, text).expect("write csv");
    let streamed: Vec<f32> = ok(&["score", s(&det), s(&big), "--label-column", "label"], None)
        .lines()
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();

    let d = oddity::load_any(&det, oddity::Device::Cpu).unwrap();
    let read = oddity::io::table::ReadOptions {
        label: Some(oddity::io::csv::DropColumn::Name("label".into())),
        ..Default::default()
    };
    let (x, _) = oddity::io::table::read_csv_with(&big, &d.schema(), &read).unwrap();
    let cfg = oddity::PredictConfig { return_feature_score: false, ..Default::default() };
    let whole = d.score_with(x.view(), &cfg).unwrap().instance.to_vec();
    assert_eq!(streamed.len(), rows);
    assert_eq!(streamed, whole);

    #[cfg(feature = "parquet")]
    {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let out = dir.path().join("scores.parquet");
        ok(&["score", s(&det), s(&big), "--label-column", "label", "--out", s(&out)], None);
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&out).unwrap()).unwrap();
        assert!(reader.metadata().num_row_groups() >= 2, "one row group per part");
        let mut from_parquet = Vec::new();
        for batch in reader.build().unwrap() {
            let col = batch.unwrap().column(0).clone();
            let col = col.as_any().downcast_ref::<arrow_array::Float32Array>().unwrap().clone();
            from_parquet.extend(col.values().iter().copied());
        }
        assert_eq!(from_parquet, whole);
    }
}
