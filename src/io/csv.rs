//! Numeric CSV input for the command-line tool and for quick experiments.
//!
//! [`read_csv`] reads a file (or stdin, given `-`) of numbers into an
//! `Array2<f32>`, one row per line:
//!
//! - **Header:** optional. The first non-blank line is a header when every
//!   one of its cells (other than a column dropped by index) is non-empty
//!   and not a number; otherwise it is data, so a data row with one stray
//!   word is an error, never silently taken for a header. (Raw tables with
//!   text columns go through [`crate::io::table`].)
//! - **Cells:** separated by commas, surrounding spaces ignored. A cell may
//!   be quoted (`"1.5"`, `"a, b"`, `"say ""hi"""`); quoted cells cannot span
//!   lines. Numbers are parsed as `f32`; NaN, infinities, values beyond the
//!   `f32` range and empty cells are errors.
//! - **Lines:** `\n` or `\r\n`; blank lines are skipped; a UTF-8 byte-order
//!   mark is ignored.
//! - **Dropping a column:** a label column can be left out by header name or
//!   by index ([`DropColumn`]); its cells are never parsed, so text labels are
//!   fine.
//!
//! Every problem is an [`OddityError::Parse`] that names the 1-based line and
//! column (the column as counted in the file, before dropping).

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use ndarray::Array2;

use crate::error::{OddityError, Result};

/// A column to leave out of the returned array, typically a label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropColumn {
    /// The column with this header name; the file must have a header.
    Name(String),
    /// The column at this 0-based index.
    Index(usize),
}

/// How to read a CSV file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsvOptions {
    /// A column to leave out, if any.
    pub drop: Option<DropColumn>,
}

/// The rows as an `[n_rows, n_columns]` array, and the header (without the
/// dropped column) if the file has one.
pub type CsvTable = (Array2<f32>, Option<Vec<String>>);

/// Reads `path`, or stdin when `path` is `-`.
pub fn read_csv(path: &Path, opts: &CsvOptions) -> Result<CsvTable> {
    if path.as_os_str() == "-" {
        let stdin = std::io::stdin();
        let lock = stdin.lock();
        return read_from(lock, "<stdin>", opts);
    }
    let f = File::open(path).map_err(|e| OddityError::io(path, e))?;
    read_from(BufReader::new(f), &path.display().to_string(), opts)
}

/// Parses CSV text held in memory; `source_name` appears in error messages.
pub fn parse_str(text: &str, source_name: &str, opts: &CsvOptions) -> Result<CsvTable> {
    read_from(text.as_bytes(), source_name, opts)
}

/// A parse error at `line` (1-based) and `column` of `source_name`.
pub fn parse_error(source_name: &str, line: usize, column: Option<usize>, reason: String) -> OddityError {
    OddityError::Parse { source_name: source_name.to_string(), line, column, reason }
}

/// The one CSV record reader every table loader uses: calls `f` with the
/// 1-based line number and the cells of each non-blank line (`\n` or
/// `\r\n`; a UTF-8 byte-order mark ignored; cells split on commas,
/// leading spaces dropped, trailing ones kept for the caller to trim, quoted cells unquoted).
/// Lines that are not UTF-8 or hold a broken quote are parse errors.
pub fn for_each_record<R: BufRead>(
    reader: R,
    source_name: &str,
    mut f: impl FnMut(usize, &[Cow<'_, str>]) -> Result<()>,
) -> Result<()> {
    for_each_record_while(reader, source_name, |line, cells| f(line, cells).map(|()| true))
}

/// [`for_each_record`], stopping after the first record for which `f`
/// returns `false`.
pub fn for_each_record_while<R: BufRead>(
    mut reader: R,
    source_name: &str,
    mut f: impl FnMut(usize, &[Cow<'_, str>]) -> Result<bool>,
) -> Result<()> {
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| parse_error(source_name, line_no + 1, None, format!("cannot read: {e}")))?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        let text =
            std::str::from_utf8(&buf).map_err(|_| parse_error(source_name, line_no, None, "not valid UTF-8".into()))?;
        let text = text.strip_suffix('\n').unwrap_or(text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        let text = if line_no == 1 { text.strip_prefix('\u{feff}').unwrap_or(text) } else { text };
        if text.trim().is_empty() {
            continue;
        }
        let cells = split_cells(text).map_err(|(col, reason)| parse_error(source_name, line_no, Some(col), reason))?;
        if !f(line_no, &cells)? {
            return Ok(());
        }
    }
}

/// Reads CSV from any buffered reader; `source_name` appears in error messages.
pub fn read_from<R: BufRead>(reader: R, source_name: &str, opts: &CsvOptions) -> Result<CsvTable> {
    let err = |line: usize, column: Option<usize>, reason: String| parse_error(source_name, line, column, reason);
    let mut last_line = 0usize;
    // Layout, fixed by the first non-blank line: width, header, kept columns.
    let mut layout: Option<(usize, Vec<bool>)> = None;
    let mut header: Option<Vec<String>> = None;
    let mut values: Vec<f32> = Vec::new();
    let mut n_rows = 0usize;
    for_each_record(reader, source_name, |line_no, cells| {
        last_line = line_no;
        if layout.is_none() {
            let (width, keep, is_header) = first_line_layout(cells, opts, |col, reason| err(line_no, col, reason))?;
            if is_header {
                let names = cells.iter().zip(&keep).filter(|(_, &k)| k).map(|(c, _)| c.trim().to_string());
                header = Some(names.collect());
                layout = Some((width, keep));
                return Ok(());
            }
            layout = Some((width, keep));
        }
        let Some((width, keep)) = &layout else { return Ok(()) };
        if cells.len() != *width {
            let column = cells.len().min(*width) + 1;
            return Err(err(
                line_no,
                Some(column),
                format!("expected {width} columns (as the first line), found {}", cells.len()),
            ));
        }
        for (i, (cell, _)) in cells.iter().zip(keep).enumerate().filter(|(_, (_, &k))| k) {
            values.push(parse_number(cell).map_err(|reason| err(line_no, Some(i + 1), reason))?);
        }
        n_rows += 1;
        Ok(())
    })?;
    let line_no = last_line;
    let Some((_, keep)) = layout else {
        return Err(err(1, Some(1), "the file is empty: expected a header or rows of numbers".into()));
    };
    if n_rows == 0 {
        return Err(err(line_no + 1, Some(1), "no data rows after the header".into()));
    }
    let n_cols = keep.iter().filter(|&&k| k).count();
    let x = Array2::from_shape_vec((n_rows, n_cols), values).map_err(|e| err(line_no, None, e.to_string()))?;
    Ok((x, header))
}

/// Width, kept columns and header-ness from the first non-blank line.
fn first_line_layout(
    cells: &[Cow<'_, str>],
    opts: &CsvOptions,
    err: impl Fn(Option<usize>, String) -> OddityError,
) -> Result<(usize, Vec<bool>, bool)> {
    let width = cells.len();
    let dropped_index = match &opts.drop {
        Some(DropColumn::Index(i)) if *i >= width => {
            return Err(err(
                None,
                format!("cannot drop column {} (0-based index {i}): the file has {width} columns", i + 1),
            ));
        }
        Some(DropColumn::Index(i)) => Some(*i),
        _ => None,
    };
    let is_header = cells
        .iter()
        .enumerate()
        // `nan` or `inf` counts as a number here, so a first line holding
        // one is data (and refused as not finite, naming line 1).
        .filter(|(i, _)| Some(*i) != dropped_index)
        .all(|(_, c)| !c.trim().is_empty() && c.trim().parse::<f32>().is_err());
    let dropped = match &opts.drop {
        None => None,
        Some(DropColumn::Index(i)) => Some(*i),
        Some(DropColumn::Name(name)) => {
            if !is_header {
                return Err(err(None, format!("the file has no header, so there is no column named `{name}`")));
            }
            let hits: Vec<usize> = (0..width).filter(|&i| cells[i].trim() == name.as_str()).collect();
            match hits.as_slice() {
                [i] => Some(*i),
                [] => {
                    let names: Vec<&str> = cells.iter().map(|c| c.trim()).collect();
                    return Err(err(
                        None,
                        format!("no column named `{name}` in the header (columns: {})", names.join(", ")),
                    ));
                }
                _ => return Err(err(None, format!("the header names {} columns `{name}`", hits.len()))),
            }
        }
    };
    if width == 1 && dropped.is_some() {
        return Err(err(Some(1), "no columns left after dropping the label column".into()));
    }
    let keep = (0..width).map(|i| Some(i) != dropped).collect();
    Ok((width, keep, is_header))
}

/// One cell as a finite `f32`, or why not.
pub fn parse_number(cell: &str) -> std::result::Result<f32, String> {
    let s = cell.trim();
    if s.is_empty() {
        return Err("empty cell: expected a number".into());
    }
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(format!("`{}` is not a finite number (NaN, infinity or beyond the f32 range)", shorten(s))),
        Err(_) => Err(format!("`{}` is not a number", shorten(s))),
    }
}

pub fn shorten(s: &str) -> Cow<'_, str> {
    const MAX: usize = 40;
    // Control characters (a NUL byte, an escape sequence) are shown
    // escaped, never echoed raw to a terminal.
    let escaped: Cow<'_, str> = if s.chars().any(char::is_control) {
        Cow::Owned(
            s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect(),
        )
    } else {
        Cow::Borrowed(s)
    };
    match escaped.char_indices().nth(MAX) {
        Some((i, _)) => Cow::Owned(format!("{}...", &escaped[..i])),
        None => escaped,
    }
}

/// Splits one line into cells, unquoting quoted ones. On error, returns the
/// 1-based column and the reason.
fn split_cells(line: &str) -> std::result::Result<Vec<Cow<'_, str>>, (usize, String)> {
    let mut cells = Vec::new();
    let bytes = line.as_bytes();
    let mut pos = 0usize;
    loop {
        let column = cells.len() + 1;
        while pos < bytes.len() && (bytes[pos] == b' ' || bytes[pos] == b'\t') {
            pos += 1;
        }
        if pos < bytes.len() && bytes[pos] == b'"' {
            pos += 1;
            let mut cell = String::new();
            loop {
                let Some(off) = line[pos..].find('"') else {
                    return Err((column, "unterminated quoted cell (quoted cells cannot span lines)".into()));
                };
                cell.push_str(&line[pos..pos + off]);
                pos += off + 1;
                if bytes.get(pos) == Some(&b'"') {
                    cell.push('"');
                    pos += 1;
                } else {
                    break;
                }
            }
            while pos < bytes.len() && (bytes[pos] == b' ' || bytes[pos] == b'\t') {
                pos += 1;
            }
            cells.push(Cow::Owned(cell));
            match bytes.get(pos) {
                None => return Ok(cells),
                Some(b',') => pos += 1,
                Some(_) => return Err((column, "unexpected text after a closing quote".into())),
            }
        } else {
            match line[pos..].find(',') {
                Some(off) => {
                    cells.push(Cow::Borrowed(&line[pos..pos + off]));
                    pos += off + 1;
                }
                None => {
                    cells.push(Cow::Borrowed(&line[pos..]));
                    return Ok(cells);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, drop: Option<DropColumn>) -> Result<CsvTable> {
        parse_str(text, "t.csv", &CsvOptions { drop })
    }

    fn parse_err(text: &str, drop: Option<DropColumn>) -> (usize, Option<usize>, String) {
        match parse(text, drop) {
            Err(OddityError::Parse { line, column, reason, .. }) => (line, column, reason),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn headerless_numbers() {
        let (x, h) = parse("1,2,3\n4.5, -6e-1 ,7\n", None).unwrap();
        assert_eq!(h, None);
        assert_eq!(x, ndarray::array![[1.0, 2.0, 3.0], [4.5, -0.6, 7.0]]);
    }

    #[test]
    fn header_detected_and_label_dropped_by_name() {
        let text = "\u{feff}a,\"b\",label\r\n1,2,normal\r\n\r\n3,4,attack\r\n";
        let (x, h) = parse(text, Some(DropColumn::Name("label".into()))).unwrap();
        assert_eq!(h, Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(x, ndarray::array![[1.0, 2.0], [3.0, 4.0]]);
    }

    #[test]
    fn drop_by_index_ignores_text_labels_without_header() {
        let (x, h) = parse("1,x,2\n3,y,4\n", Some(DropColumn::Index(1))).unwrap();
        assert_eq!(h, None);
        assert_eq!(x, ndarray::array![[1.0, 2.0], [3.0, 4.0]]);
    }

    #[test]
    fn quoted_cells() {
        let (x, h) = parse("\"a, 1\",\"say \"\"hi\"\"\"\n\"1.5\", \"2\" \n", None).unwrap();
        assert_eq!(h, Some(vec!["a, 1".to_string(), "say \"hi\"".to_string()]));
        assert_eq!(x, ndarray::array![[1.5, 2.0]]);
        assert_eq!(parse_err("\"1,2\n", None).1, Some(1));
        assert_eq!(parse_err("1,\"2\"x\n", None).1, Some(2));
    }

    #[test]
    fn non_numeric_cell_names_line_and_column() {
        let (line, col, reason) = parse_err("a,b\n1,2\n3,oops\n", None);
        assert_eq!((line, col), (3, Some(2)));
        assert!(reason.contains("oops"), "{reason}");
        assert_eq!(parse_err("1,2\n3,\n", None).0, 2);
    }

    #[test]
    fn nan_and_inf_are_errors() {
        for bad in ["nan", "NaN", "inf", "-inf", "infinity", "1e39"] {
            let (line, col, reason) = parse_err(&format!("1,2\n3,{bad}\n"), None);
            assert_eq!((line, col), (2, Some(2)), "{bad}");
            assert!(reason.contains("finite"), "{reason}");
        }
        // A first line of numbers and NaN is data, not a header.
        assert_eq!(parse_err("nan,1\n", None).0, 1);
    }

    #[test]
    fn a_row_with_one_word_is_data_not_a_header() {
        let (line, col, reason) = parse_err("1,2,x\n3,4,5\n", None);
        assert_eq!((line, col), (1, Some(3)));
        assert!(reason.contains("`x` is not a number"), "{reason}");
    }

    #[test]
    fn wrong_column_count() {
        assert_eq!(parse_err("1,2,3\n4,5\n", None).0, 2);
        let (line, col, reason) = parse_err("a,b\n1,2\n1,2,3\n", None);
        assert_eq!((line, col), (3, Some(3)));
        assert!(reason.contains("expected 2 columns"), "{reason}");
    }

    #[test]
    fn empty_inputs() {
        assert_eq!(parse_err("", None).0, 1);
        assert_eq!(parse_err("\n  \n", None).0, 1);
        let (line, _, reason) = parse_err("a,b\n", None);
        assert_eq!(line, 2);
        assert!(reason.contains("no data rows"));
        assert!(matches!(parse_str("", "x", &CsvOptions::default()), Err(OddityError::Parse { column: Some(1), .. })));
    }

    #[test]
    fn bad_drop_options() {
        assert!(parse_err("a,b\n1,2\n", Some(DropColumn::Name("c".into()))).2.contains("no column named `c`"));
        assert!(parse_err("1,2\n", Some(DropColumn::Name("c".into()))).2.contains("no header"));
        assert!(parse_err("1,2\n", Some(DropColumn::Index(2))).2.contains("2 columns"));
        assert!(parse_err("a,a\n1,2\n", Some(DropColumn::Name("a".into()))).2.contains("2 columns"));
        assert!(parse_err("1\n", Some(DropColumn::Index(0))).2.contains("no columns left"));
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let r = read_from(&b"1,2\n\xff,3\n"[..], "t", &CsvOptions::default());
        assert!(matches!(r, Err(OddityError::Parse { line: 2, .. })));
    }
}
