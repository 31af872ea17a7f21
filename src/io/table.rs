//! Raw tables (CSV, optionally gzip-compressed) through a [`Schema`]:
//! [`fit_csv`] learns one while reading the training table, [`read_csv_with`]
//! encodes a table with a fitted one. `oddity fit`, `threshold` and `score`
//! read through here.
//!
//! **Header rule.** [`HeaderMode::Present`] and [`HeaderMode::Absent`] say
//! it; [`HeaderMode::Auto`] (the default) takes the first non-blank line for
//! a header only when **every** cell of it is text (not a number, not
//! empty, not a missing spelling) **and** the next line holds at least one
//! number, so that some column changes kind below it. A first line with any
//! number or empty cell is data. A first line of text followed by a line
//! without numbers is an error asking for `--header` or `--no-header`.
//! When scoring with a schema fitted on a header, a first line that names
//! every column the detector needs is a header too.
//!
//! gzip input is recognised by its magic bytes; `-` reads stdin (held in
//! memory, since a table may be read twice, see
//! [`crate::table::SchemaBuilder`]).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use ndarray::Array2;

use super::csv::{for_each_record, for_each_record_while, parse_error, DropColumn};
use crate::error::{OddityError, Result};
use crate::table::cell::{classify, Cell};
use crate::table::{RowEncoder, Schema, SchemaBuilder, TableOptions};

/// Whether the first line is a header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HeaderMode {
    /// By the rule of the module doc.
    #[default]
    Auto,
    /// The first non-blank line is a header.
    Present,
    /// Every line is data.
    Absent,
}

/// How to read a raw table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Header or not.
    pub header: HeaderMode,
    /// The label column, if any: left out of the features (by name or
    /// 0-based index).
    pub label: Option<DropColumn>,
}

const BUF: usize = 1 << 18;

/// A table file that can be read more than once.
pub struct TableSource {
    path: std::path::PathBuf,
    name: String,
    /// Stdin, read once.
    mem: Option<Vec<u8>>,
}

impl TableSource {
    /// `path`, or stdin when `path` is `-`.
    pub fn open(path: &Path) -> Result<Self> {
        if path.as_os_str() == "-" {
            let mut buf = Vec::new();
            std::io::stdin().lock().read_to_end(&mut buf).map_err(|e| OddityError::io("<stdin>", e))?;
            return Ok(TableSource { path: path.into(), name: "<stdin>".into(), mem: Some(buf) });
        }
        File::open(path).map_err(|e| OddityError::io(path, e))?;
        Ok(TableSource { path: path.into(), name: path.display().to_string(), mem: None })
    }

    /// The name used in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A fresh reader from the start, gzip decoded if the bytes are gzip.
    pub fn reader(&self) -> Result<Box<dyn BufRead + '_>> {
        let mut r: Box<dyn BufRead> = match &self.mem {
            Some(b) => Box::new(&b[..]),
            None => Box::new(BufReader::with_capacity(
                BUF,
                File::open(&self.path).map_err(|e| OddityError::io(&self.path, e))?,
            )),
        };
        let head = r.fill_buf().map_err(|e| OddityError::io(&self.path, e))?;
        if head.starts_with(&[0x1f, 0x8b]) {
            return Ok(Box::new(BufReader::with_capacity(BUF, MultiGzDecoder::new(r))));
        }
        Ok(r)
    }

    /// The first `n` non-blank records: line number and cells.
    fn first_records(&self, n: usize) -> Result<Vec<(usize, Vec<String>)>> {
        let mut out = Vec::new();
        for_each_record_while(self.reader()?, &self.name, |line, cells| {
            out.push((line, cells.iter().map(|c| c.to_string()).collect()));
            Ok(out.len() < n)
        })?;
        Ok(out)
    }
}

/// A table read for `fit`: the schema learned, the feature matrix, and
/// notes for the user (how the header was decided, columns of numbers and
/// text read as categorical).
#[derive(Debug)]
pub struct FitTable {
    /// The learned schema.
    pub schema: Schema,
    /// The features, one row per data row.
    pub x: Array2<f32>,
    /// How the header was decided, if it was inferred.
    pub header_note: Option<String>,
    /// Warnings: columns of numbers and text read as categorical.
    pub warnings: Vec<String>,
}

fn all_text(cells: &[String]) -> bool {
    cells.iter().all(|c| classify(c) == Cell::Text)
}

/// The header decision of the module doc, for the first two records.
fn decide_header(mode: HeaderMode, name: &str, first: &[(usize, Vec<String>)]) -> Result<(bool, Option<String>)> {
    let (l1, cells) = &first[0];
    match mode {
        HeaderMode::Present => Ok((true, None)),
        HeaderMode::Absent => Ok((false, None)),
        HeaderMode::Auto if !all_text(cells) => Ok((false, None)),
        HeaderMode::Auto => match first.get(1) {
            Some((l2, next)) if next.iter().any(|c| matches!(classify(c), Cell::Number(_))) => Ok((
                true,
                Some(format!(
                    "{name}: line {l1} read as the header (every cell is text, line {l2} holds numbers); --no-header reads it as data"
                )),
            )),
            _ => Err(parse_error(
                name,
                *l1,
                None,
                "cannot tell whether this line is a header: every cell is text, and so is every cell of the next line; pass --header or --no-header".into(),
            )),
        },
    }
}

/// The 0-based label column, from a drop option and the names.
fn label_index(
    name: &str,
    drop: &Option<DropColumn>,
    names: &[String],
    header: bool,
    width: usize,
) -> Result<Option<usize>> {
    match drop {
        None => Ok(None),
        Some(DropColumn::Index(i)) if *i >= width => Err(parse_error(
            name,
            1,
            None,
            format!("no label column {} (1-based): the table has {width} columns", i + 1),
        )),
        Some(DropColumn::Index(i)) => Ok(Some(*i)),
        Some(DropColumn::Name(n)) if !header => {
            Err(parse_error(name, 1, None, format!("the table has no header, so there is no column named `{n}`")))
        }
        Some(DropColumn::Name(n)) => {
            let hits: Vec<usize> = (0..names.len()).filter(|&i| names[i] == *n).collect();
            match hits.as_slice() {
                [i] => Ok(Some(*i)),
                [] => Err(parse_error(
                    name,
                    1,
                    None,
                    format!("no column named `{n}` in the header (columns: {})", names.join(", ")),
                )),
                _ => Err(parse_error(name, 1, None, format!("the header names {} columns `{n}`", hits.len()))),
            }
        }
    }
}

/// Reads a training table and learns its schema (roles inferred from the
/// content, overridden by `opts`).
pub fn fit_csv(path: &Path, read: &ReadOptions, opts: &TableOptions) -> Result<FitTable> {
    let src = TableSource::open(path)?;
    let name = src.name().to_string();
    let first = src.first_records(2)?;
    if first.is_empty() {
        return Err(parse_error(&name, 1, Some(1), "the file is empty: expected a header or rows".into()));
    }
    let (header, note) = decide_header(read.header, &name, &first)?;
    let width = first[0].1.len();
    let names: Vec<String> = if header {
        first[0].1.iter().map(|c| c.trim().to_string()).collect()
    } else {
        (1..=width).map(|i| i.to_string()).collect()
    };
    let label = label_index(&name, &read.label, &names, header, width)?;
    let header_line = header.then_some(first[0].0);
    let mut b = SchemaBuilder::new(&name, names, header, label, opts)?;
    for_each_record(src.reader()?, &name, |line, cells| {
        if Some(line) == header_line {
            return Ok(());
        }
        b.push(line, cells)
    })?;
    let warnings: Vec<String> = b.mixed_columns().into_iter().map(|w| format!("{name}: {w}")).collect();
    if b.needs_second_pass() {
        for_each_record(src.reader()?, &name, |line, cells| {
            if Some(line) == header_line {
                return Ok(());
            }
            b.rekey(cells)
        })?;
    }
    let (schema, x) = b.finish(opts).map_err(|e| match e {
        OddityError::EmptyInput(_) => parse_error(&name, 2, Some(1), "no data rows".into()),
        e => e,
    })?;
    Ok(FitTable { schema, x, header_note: note, warnings })
}

/// Reads a table and encodes it with a fitted schema (columns matched as
/// [`RowEncoder`] says). Returns the features and warnings for the user
/// (extra columns ignored, unseen categories, missing cells without an
/// indicator).
pub fn read_csv_with(path: &Path, schema: &Schema, read: &ReadOptions) -> Result<(Array2<f32>, Vec<String>)> {
    whole(|sink| read_csv_chunks(path, schema, read, usize::MAX, sink))
}

/// Where a chunked reader hands each part: its first row and its features.
pub type PartSink<'s> = dyn FnMut(usize, Array2<f32>) -> Result<()> + 's;

/// The table a chunked reader reads, as one part, with its warnings.
pub(crate) fn whole(
    read_chunks: impl FnOnce(&mut PartSink) -> Result<Vec<String>>,
) -> Result<(Array2<f32>, Vec<String>)> {
    let mut whole = None;
    let warnings = read_chunks(&mut |_, x| {
        whole = Some(x);
        Ok(())
    })?;
    Ok((whole.ok_or_else(|| OddityError::EmptyInput("data".into()))?, warnings))
}

/// Encoded rows gathered into parts of `chunk` rows; each part goes to the
/// sink as soon as it is full, so only one part is ever held.
pub(crate) struct Parts<'s, 'f> {
    buf: Vec<f32>,
    d: usize,
    chunk: usize,
    n: usize,
    sink: &'s mut PartSink<'f>,
}

impl<'s, 'f> Parts<'s, 'f> {
    pub(crate) fn new(d: usize, chunk: usize, sink: &'s mut PartSink<'f>) -> Self {
        Parts { buf: Vec::new(), d, chunk: chunk.max(1), n: 0, sink }
    }

    /// The slot of the next row's `d` features, zeroed.
    pub(crate) fn next_row(&mut self) -> &mut [f32] {
        let start = self.buf.len();
        self.buf.resize(start + self.d, 0.0);
        &mut self.buf[start..]
    }

    /// The row just filled is complete: a full part goes to the sink.
    pub(crate) fn row_done(&mut self) -> Result<()> {
        self.n += 1;
        if self.n % self.chunk == 0 {
            self.emit(self.n - self.chunk)?;
        }
        Ok(())
    }

    /// Hands on the last, shorter part; returns the number of rows.
    pub(crate) fn finish(mut self) -> Result<usize> {
        if !self.buf.is_empty() {
            self.emit(self.n - self.n % self.chunk)?;
        }
        Ok(self.n)
    }

    fn emit(&mut self, first: usize) -> Result<()> {
        let buf = std::mem::take(&mut self.buf);
        let rows = buf.len().checked_div(self.d).unwrap_or(0);
        let x = Array2::from_shape_vec((rows, self.d), buf).map_err(|e| OddityError::Numerical(e.to_string()))?;
        (self.sink)(first, x)
    }
}

/// [`read_csv_with`] in parts of `chunk_rows` rows (the last may be
/// shorter): `sink` gets each part's first row (0-based) and its features,
/// so memory stays flat in the table's length. Returns the warnings, which
/// cover the whole table.
pub fn read_csv_chunks(
    path: &Path,
    schema: &Schema,
    read: &ReadOptions,
    chunk_rows: usize,
    sink: &mut PartSink,
) -> Result<Vec<String>> {
    let src = TableSource::open(path)?;
    let name = src.name().to_string();
    let first = src.first_records(2)?;
    if first.is_empty() {
        return Err(parse_error(&name, 1, Some(1), "the file is empty: expected a header or rows".into()));
    }
    let names_schema = schema.header && read.header == HeaderMode::Auto && {
        let l1: Vec<&str> = first[0].1.iter().map(|c| c.trim()).collect();
        schema.columns.iter().filter(|c| c.width() > 0).all(|c| l1.contains(&c.name.as_str()))
    };
    let header = names_schema || decide_header(read.header, &name, &first)?.0;
    let width = first[0].1.len();
    let names: Vec<String> = if header {
        first[0].1.iter().map(|c| c.trim().to_string()).collect()
    } else {
        (1..=width).map(|i| i.to_string()).collect()
    };
    let mut drop = label_index(&name, &read.label, &names, header, width)?;
    let by_name = header && schema.header;
    let dropped_name = drop.map(|i| names[i].clone());
    if by_name {
        if let Some(d) = &dropped_name {
            if schema.columns.iter().any(|c| c.width() > 0 && &c.name == d) {
                return Err(OddityError::param(
                    "data",
                    format!("{name}: column `{d}` is a feature of the detector; it cannot be left out as the label"),
                ));
            }
        }
        // Matched by name, the encoder skips the dropped column itself:
        // no copy of the cells per row.
        drop = None;
    }
    // The table's columns after the dropped one, and their file positions.
    let kept: Vec<usize> = (0..width).filter(|&i| Some(i) != drop).collect();
    let kept_names: Vec<String> = kept.iter().map(|&i| names[i].clone()).collect();
    let mut enc = RowEncoder::new(schema, header.then_some(&kept_names[..]), kept.len()).map_err(|e| match e {
        OddityError::InvalidParameter { name: "data", reason } => {
            OddityError::param("data", format!("{name}: {reason}"))
        }
        e => e,
    })?;
    enc.extra.retain(|c| Some(c) != dropped_name.as_ref());
    let mut warnings = Vec::new();
    if !enc.extra.is_empty() {
        warnings.push(format!("{name}: columns not in the detector, ignored: {}", enc.extra.join(", ")));
    }
    let d = schema.n_features();
    let header_line = header.then_some(first[0].0);
    let mut parts = Parts::new(d, chunk_rows, sink);
    for_each_record(src.reader()?, &name, |line, cells| {
        if Some(line) == header_line {
            return Ok(());
        }
        let r = match drop {
            None => enc.encode(cells, parts.next_row()),
            Some(_) if cells.len() != width => Err((
                cells.len().min(width),
                format!("expected {width} columns (as the first line), found {}", cells.len()),
            )),
            Some(_) => {
                // One small allocation per row, only when a label is dropped.
                let sel: Vec<&str> = kept.iter().map(|&i| cells[i].as_ref()).collect();
                enc.encode(&sel, parts.next_row()).map_err(|(c, r)| (kept.get(c).copied().unwrap_or(c), r))
            }
        };
        r.map_err(|(col, reason)| parse_error(&name, line, Some(col + 1), reason))?;
        parts.row_done()
    })?;
    if parts.finish()? == 0 {
        return Err(parse_error(&name, first[0].0 + 1, Some(1), "no data rows".into()));
    }
    warnings.extend(enc.warnings().into_iter().map(|w| format!("{name}: {w}")));
    Ok(warnings)
}
