//! The table schema: one-hot, missing values and imputation checked against
//! hand-computed matrices; columns matched by name or position; the header
//! rule; the schema saved in the detector file and refused when damaged.

use std::path::{Path, PathBuf};

use ndarray::{array, Array2};
use oddity::io::csv::DropColumn;
use oddity::io::table::{fit_csv, read_csv_with, HeaderMode, ReadOptions};
use oddity::persist::{self, encode_raw};
use oddity::table::{ColumnKind, RowEncoder};
use oddity::*;

fn opts() -> TableOptions {
    TableOptions::default()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The training rows of most tests: a numeric column with one missing
/// cell, a categorical one with a missing cell, a numeric one without.
fn train() -> Vec<Vec<&'static str>> {
    vec![
        vec!["4", "tcp", "10"],
        vec!["", "udp", "20"],
        vec!["1", "tcp", "30"],
        vec!["NA", "", "40"],
        vec!["2", "icmp", "50"],
    ]
}

const H: &[&str] = &["bytes", "proto", "n"];

#[test]
fn one_hot_and_imputation_match_a_hand_encoding() {
    let (schema, x) = Schema::fit(Some(H), &train(), None, &opts()).unwrap();
    // bytes: median of 4, 1, 2 = 2; indicator (it had missing cells).
    // proto: vocab icmp, tcp, udp (bytes order), then missing, other.
    // n: no missing cells, no indicator.
    assert_eq!(
        schema.feature_names(),
        ["bytes", "bytes=<missing>", "proto=icmp", "proto=tcp", "proto=udp", "proto=<missing>", "proto=<other>", "n"]
    );
    let want: Array2<f32> = array![
        [4., 0., 0., 1., 0., 0., 0., 10.],
        [2., 1., 0., 0., 1., 0., 0., 20.],
        [1., 0., 0., 1., 0., 0., 0., 30.],
        [2., 1., 0., 0., 0., 1., 0., 40.],
        [2., 0., 1., 0., 0., 0., 0., 50.],
    ];
    assert_eq!(x, want);
    // The same rows encoded again by the fitted schema give the same matrix.
    assert_eq!(schema.transform(Some(H), &train()).unwrap(), want);
    assert_eq!(schema.columns[0].kind, ColumnKind::Numeric { median: 2.0, indicator: true });
    assert_eq!(schema.columns[2].kind, ColumnKind::Numeric { median: 30.0, indicator: false });
}

#[test]
fn even_count_median_and_no_indicator_option() {
    let rows = vec![vec!["1"], vec!["2"], vec![""], vec!["10"], vec!["4"]];
    let o = TableOptions { missing_indicator: false, ..opts() };
    let (schema, x) = Schema::fit(None, &rows, None, &o).unwrap();
    assert_eq!(schema.columns[0].kind, ColumnKind::Numeric { median: 3.0, indicator: false });
    assert_eq!(x.column(0).to_vec(), [1., 2., 3., 10., 4.]);
}

#[test]
fn unseen_and_missing_at_scoring_time() {
    let (schema, _) = Schema::fit(Some(H), &train(), None, &opts()).unwrap();
    let rows = vec![vec!["", "gre", ""], vec!["7", "NaN", "5"]];
    let names: Vec<String> = H.iter().map(|s| s.to_string()).collect();
    let mut enc = RowEncoder::new(&schema, Some(&names), 3).unwrap();
    let mut out = vec![0f32; 8];
    enc.encode(&rows[0], &mut out).unwrap();
    // Unseen `gre` goes to `other`; the missing `n` gets its median 30 with
    // no indicator (it had none in training), counted.
    assert_eq!(out, [2., 1., 0., 0., 0., 0., 1., 30.]);
    let mut out = vec![0f32; 8];
    enc.encode(&rows[1], &mut out).unwrap();
    assert_eq!(out, [7., 0., 0., 0., 0., 1., 0., 5.]);
    assert_eq!(enc.stats.unseen, [0, 1, 0]);
    assert_eq!(enc.stats.imputed_without_indicator, [0, 0, 1]);
    assert_eq!(enc.warnings().len(), 2);
    // Text in a numeric column is an error naming the column.
    let mut out = vec![0f32; 8];
    let (col, reason) = enc.encode(&["x", "tcp", "1"], &mut out).unwrap_err();
    assert_eq!(col, 0);
    assert!(reason.contains("`x` is not a number"), "{reason}");
}

#[test]
fn rare_values_go_to_other() {
    let rows: Vec<Vec<&str>> = ["a", "a", "b", "c", "c", "c"].iter().map(|v| vec![*v]).collect();
    let o = TableOptions { min_count: 2, ..opts() };
    let (schema, x) = Schema::fit(None, &rows, None, &o).unwrap();
    assert_eq!(schema.columns[0].kind, ColumnKind::Categorical { vocab: vec!["a".into(), "c".into()] });
    // a, c, missing, other: `b` (seen once) is in `other`.
    assert_eq!(x.row(2).to_vec(), [0., 0., 0., 1.]);
    assert_eq!(x.row(3).to_vec(), [0., 1., 0., 0.]);
}

#[test]
fn columns_match_by_name_in_any_order() {
    let (schema, want) = Schema::fit(Some(H), &train(), None, &opts()).unwrap();
    // n, bytes, extra, proto
    let perm: Vec<Vec<&str>> = train().iter().map(|r| vec![r[2], r[0], "zzz", r[1]]).collect();
    let got = schema.transform(Some(&["n", "bytes", "extra", "proto"]), &perm).unwrap();
    assert_eq!(got, want);
    let names: Vec<String> = ["n", "bytes", "extra", "proto"].iter().map(|s| s.to_string()).collect();
    assert_eq!(RowEncoder::new(&schema, Some(&names), 4).unwrap().extra, ["extra"]);
    // A needed column missing is an error naming it.
    let e = schema.transform(Some(&["n", "bytes"]), &[vec!["1", "2"]]).unwrap_err().to_string();
    assert!(e.contains("column `proto` is missing"), "{e}");
}

#[test]
fn headerless_tables_match_by_position_with_or_without_the_label() {
    let rows = vec![vec!["1", "a", "normal."], vec!["2", "b", "smurf."], vec!["3", "a", "normal."]];
    let (schema, x) = Schema::fit(None, &rows, Some(2), &opts()).unwrap();
    assert_eq!(schema.columns[2].kind, ColumnKind::Label);
    assert_eq!(x.ncols(), 1 + 4);
    assert_eq!(schema.transform(None, &rows).unwrap(), x);
    let no_label: Vec<Vec<&str>> = rows.iter().map(|r| r[..2].to_vec()).collect();
    assert_eq!(schema.transform(None, &no_label).unwrap(), x);
    let e = schema.transform(None, &[vec!["1"]]).unwrap_err().to_string();
    assert!(e.contains("has 1 columns") && e.contains("fitted on 3 (2 without the label)"), "{e}");
}

#[test]
fn mixed_column_is_categorical_with_its_cells_as_written() {
    let rows = vec![vec!["1", "0"], vec!["1.0", "1"], vec!["x", "2"], vec!["1", "3"]];
    let (schema, x) = Schema::fit(None, &rows, None, &opts()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "m.csv", "1,0\n1.0,1\nx,2\n1,3\n");
    let t = fit_csv(&p, &ReadOptions::default(), &opts()).unwrap();
    assert_eq!((&t.schema, &t.x), (&schema, &x));
    assert!(t.warnings.len() == 1 && t.warnings[0].contains("line 3"), "{:?}", t.warnings);
    assert_eq!(schema.columns[0].kind, ColumnKind::Categorical { vocab: vec!["1".into(), "1.0".into(), "x".into()] });
    assert_eq!(x.column(0).to_vec(), [1., 0., 0., 1.]);
    assert_eq!(x.column(1).to_vec(), [0., 1., 0., 0.]);
}

#[test]
fn overrides_by_name() {
    let rows = vec![vec!["1", "7", "x"], vec!["2", "8", "y"]];
    let o = TableOptions { categorical: vec!["2".into()], ignore: vec!["3".into()], ..opts() };
    let (schema, x) = Schema::fit(None, &rows, None, &o).unwrap();
    let roles: Vec<&str> = schema.columns.iter().map(|c| c.role()).collect();
    assert_eq!(roles, ["numeric", "categorical", "ignored"]);
    assert_eq!(x, array![[1., 1., 0., 0., 0.], [2., 0., 1., 0., 0.]]);
    let o = TableOptions { numeric: vec!["3".into()], ..opts() };
    let e = Schema::fit(None, &rows, None, &o).unwrap_err().to_string();
    assert!(e.contains("`x` is not a number"), "{e}");
    let o = TableOptions { ignore: vec!["nope".into()], ..opts() };
    assert!(Schema::fit(None, &rows, None, &o).unwrap_err().to_string().contains("no column named `nope`"));
    let o = TableOptions { ignore: vec!["1".into()], numeric: vec!["1".into()], ..opts() };
    assert!(Schema::fit(None, &rows, None, &o).is_err());
}

#[test]
fn header_rule_never_eats_a_data_row() {
    let dir = tempfile::tempdir().unwrap();
    let read = ReadOptions::default();
    // A KDD-like first row (text and numbers): data.
    let p = write(dir.path(), "a.csv", "0,tcp,181,normal.\n0,udp,239,normal.\n");
    let t = fit_csv(&p, &read, &opts()).unwrap();
    assert_eq!(t.x.nrows(), 2);
    assert!(!t.schema.header);
    // Every cell text and the next line has numbers: a header (and said so).
    let p = write(dir.path(), "b.csv", "a,proto\n1,tcp\n2,udp\n");
    let t = fit_csv(&p, &read, &opts()).unwrap();
    assert_eq!(t.x.nrows(), 2);
    assert!(t.schema.header && t.header_note.is_some());
    // Text over text: ambiguous, an error asking for a flag...
    let p = write(dir.path(), "c.csv", "proto,flag\ntcp,SF\nudp,REJ\n");
    let e = fit_csv(&p, &read, &opts()).unwrap_err().to_string();
    assert!(e.contains("--header or --no-header"), "{e}");
    // ... which decides it.
    let h = fit_csv(&p, &ReadOptions { header: HeaderMode::Present, ..read.clone() }, &opts()).unwrap();
    assert_eq!((h.x.nrows(), h.schema.header), (2, true));
    let n = fit_csv(&p, &ReadOptions { header: HeaderMode::Absent, ..read.clone() }, &opts()).unwrap();
    assert_eq!((n.x.nrows(), n.schema.header), (3, false));
    // A first line with an empty cell is data.
    let p = write(dir.path(), "d.csv", "a,\n1,2\n");
    assert_eq!(fit_csv(&p, &read, &opts()).unwrap().x.nrows(), 2);
}

#[test]
fn csv_gzip_and_scoring_by_name() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let text = "bytes,proto,label,n\n4,tcp,normal.,10\n,udp,smurf.,20\n1,tcp,normal.,30\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    let p = dir.path().join("t.csv.gz");
    std::fs::write(&p, gz.finish().unwrap()).unwrap();
    let read = ReadOptions { label: Some(DropColumn::Name("label".into())), ..Default::default() };
    let t = fit_csv(&p, &read, &opts()).unwrap();
    assert_eq!(t.schema.columns[2].kind, ColumnKind::Label);
    // Reordered, label gone, an extra column: same rows, one warning.
    let q = write(dir.path(), "q.csv", "n,extra,proto,bytes\n10,a,tcp,4\n20,b,udp,\n30,c,tcp,1\n");
    let (x, warn) = read_csv_with(&q, &t.schema, &ReadOptions::default()).unwrap();
    assert_eq!(x, t.x);
    assert_eq!(warn.len(), 1);
    assert!(warn[0].contains("extra"), "{warn:?}");
    let m = write(dir.path(), "m.csv", "n,bytes\n10,4\n");
    let e = read_csv_with(&m, &t.schema, &ReadOptions::default()).unwrap_err().to_string();
    assert!(e.contains("column `proto` is missing"), "{e}");
}

/// A detector fitted on a table keeps its schema through save and load.
#[test]
fn schema_is_saved_in_the_file() {
    let (schema, x) = Schema::fit(Some(H), &train(), None, &opts()).unwrap();
    let mut det = OutlierECOD::new(EcodConfig::new(x.ncols()), Device::Cpu).unwrap();
    det.fit(x.view(), &FitConfig::default()).unwrap();
    assert_eq!(det.schema(), Schema::numeric(8));
    det.set_schema(schema.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("d.oddity");
    det.save(&p).unwrap();
    let back = load_any(&p, Device::Cpu).unwrap();
    assert_eq!(back.schema(), schema);
    assert_eq!(back.score(x.view()).unwrap().instance, det.score(x.view()).unwrap().instance);
    // A schema of another width is refused.
    assert!(det.set_schema(Schema::numeric(3)).is_err());
}

/// Damaged schemas in a file give a format error, never a panic.
#[test]
fn forged_schemas_are_refused() {
    let (schema, x) = Schema::fit(Some(H), &train(), None, &opts()).unwrap();
    let mut det = OutlierECOD::new(EcodConfig::new(x.ncols()), Device::Cpu).unwrap();
    det.fit(x.view(), &FitConfig::default()).unwrap();
    det.set_schema(schema.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("d.oddity");
    det.save(&p).unwrap();
    let f = persist::read(&p).unwrap();
    let good = f.meta.schema_json.clone().unwrap();
    let cases = [
        ("not JSON", "{".to_string()),
        ("unknown role", good.replace("\"categorical\"", "\"fancy\"")),
        ("narrower", Schema::numeric(3).to_json().unwrap()),
        ("NaN median", good.replace("\"median\":2.0", "\"median\":NaN")),
        ("huge median", good.replace("\"median\":2.0", "\"median\":1e400")),
        ("unsorted vocab", good.replace("[\"icmp\",\"tcp\",\"udp\"]", "[\"tcp\",\"icmp\",\"udp\"]")),
        ("repeated name", good.replace("\"name\":\"n\"", "\"name\":\"bytes\"")),
        ("no columns", "{\"header\":true,\"columns\":[]}".to_string()),
        ("unknown field", good.replacen("{", "{\"x\":1,", 1)),
    ];
    for (what, json) in cases {
        assert_ne!(json, good, "{what}: the forgery changed nothing");
        let mut m = f.meta.clone();
        m.schema_json = Some(json);
        let q = dir.path().join("forged.oddity");
        std::fs::write(&q, encode_raw(&m, f.data()).unwrap()).unwrap();
        match load_any(&q, Device::Cpu) {
            Err(OddityError::Format { reason, .. }) => assert!(reason.contains("schema"), "{what}: {reason}"),
            Err(e) => panic!("{what}: expected a format error, got {e}"),
            Ok(_) => panic!("{what}: loaded"),
        }
    }
}

/// Writes `t` (header + rows, `""` = null) as Parquet: columns named in
/// `float_cols` as Float64, the others as Utf8.
#[cfg(feature = "parquet")]
fn write_parquet(path: &Path, t: &[Vec<&str>], float_cols: &[&str]) {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
    let header = &t[0];
    let mut cols: Vec<(String, ArrayRef)> = Vec::new();
    for (j, name) in header.iter().enumerate() {
        let cells = t[1..].iter().map(|r| r[j]);
        let a: ArrayRef = if float_cols.contains(name) {
            Arc::new(
                cells
                    .map(|c| if c.is_empty() { None } else { Some(c.parse::<f64>().unwrap()) })
                    .collect::<Float64Array>(),
            )
        } else {
            Arc::new(cells.map(|c| if c.is_empty() { None } else { Some(c) }).collect::<StringArray>())
        };
        cols.push((name.to_string(), a));
    }
    let batch = RecordBatch::try_from_iter(cols).unwrap();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// A Parquet file gives the schema and features of the same table as CSV.
#[cfg(feature = "parquet")]
#[test]
fn parquet_equals_csv() {
    use oddity::io::any::{fit_table, read_table_with};
    let t: Vec<Vec<&str>> = vec![
        vec!["bytes", "proto", "label", "rate"],
        vec!["181", "tcp", "normal.", "0.25"],
        vec!["", "udp", "smurf.", "1.5"],
        vec!["239", "", "normal.", "0.125"],
        vec!["1032.5", "icmp", "normal.", "2"],
    ];
    let dir = tempfile::tempdir().unwrap();
    let csv: String = t.iter().map(|r| r.join(",") + "\n").collect();
    let c = write(dir.path(), "t.csv", &csv);
    let p = dir.path().join("t.parquet");
    write_parquet(&p, &t, &["bytes", "rate"]);
    let read = ReadOptions { label: Some(DropColumn::Name("label".into())), ..Default::default() };
    let a = fit_table(&c, &read, &opts()).unwrap();
    let b = fit_table(&p, &read, &opts()).unwrap();
    assert_eq!(a.schema, b.schema);
    assert_eq!(a.x, b.x);
    assert_eq!(a.x.ncols(), 2 + 5 + 1);
    // Scored with the CSV's schema, columns by name, the label not needed.
    let (x, _) = read_table_with(&p, &a.schema, &ReadOptions::default()).unwrap();
    assert_eq!(x, a.x);
}
