//! Parquet tables through a [`Schema`], with the CSV readers' rules
//! (`crate::io::table`): a Parquet file always names its columns, so they
//! are matched by name. Cells are read as text (arrow's display of each
//! value; a null is a missing cell), so a Parquet column and a CSV column
//! holding the same values give the same features. The file is read one
//! record batch at a time (row groups, 8192 rows a batch): the raw table is
//! never held in memory, only the features.
//!
//! Scores are written by [`write_scores`]. Errors name the 1-based data row
//! as the "line".

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{Array, BooleanArray, Float32Array, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType, Field, Schema as ArrowSchema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;

use super::csv::{parse_error, DropColumn};
use super::table::{FitTable, PartSink, Parts, ReadOptions};
use crate::error::{OddityError, Result};
use crate::persist::write_atomic;
use crate::table::{RowEncoder, Schema, SchemaBuilder, TableOptions};

const BATCH: usize = 8192;

fn perr(path: &Path, e: impl std::fmt::Display) -> OddityError {
    parse_error(&path.display().to_string(), 1, None, format!("cannot read Parquet: {e}"))
}

/// The column names of a Parquet file.
fn names(path: &Path) -> Result<Vec<String>> {
    let f = File::open(path).map_err(|e| OddityError::io(path, e))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| perr(path, e))?;
    Ok(b.schema().fields().iter().map(|f| f.name().clone()).collect())
}

/// Calls `f` with the 1-based row number and the cells of every row.
fn for_each_row(path: &Path, mut f: impl FnMut(usize, &[String]) -> Result<()>) -> Result<()> {
    let file = File::open(path).map_err(|e| OddityError::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| perr(path, e))?
        .with_batch_size(BATCH)
        .build()
        .map_err(|e| perr(path, e))?;
    let opts = FormatOptions::default().with_null("");
    let mut row = 0usize;
    let mut cells: Vec<String> = Vec::new();
    for batch in reader {
        let batch: RecordBatch = batch.map_err(|e| perr(path, e))?;
        let fmts = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| perr(path, e))?;
        cells.resize(fmts.len(), String::new());
        for i in 0..batch.num_rows() {
            row += 1;
            for (cell, fmt) in cells.iter_mut().zip(&fmts) {
                cell.clear();
                write!(cell, "{}", fmt.value(i)).map_err(|e| perr(path, e))?;
            }
            f(row, &cells)?;
        }
    }
    Ok(())
}

fn label_of(path: &Path, names: &[String], drop: &Option<DropColumn>) -> Result<Option<usize>> {
    let name = path.display().to_string();
    match drop {
        None => Ok(None),
        Some(DropColumn::Index(i)) if *i < names.len() => Ok(Some(*i)),
        Some(DropColumn::Index(i)) => Err(parse_error(
            &name,
            1,
            None,
            format!("no label column {} (1-based): the table has {} columns", i + 1, names.len()),
        )),
        Some(DropColumn::Name(n)) => names.iter().position(|c| c == n).map(Some).ok_or_else(|| {
            parse_error(&name, 1, None, format!("no column named `{n}` (columns: {})", names.join(", ")))
        }),
    }
}

/// [`super::table::fit_csv`] for a Parquet file.
pub fn fit_parquet(path: &Path, read: &ReadOptions, opts: &TableOptions) -> Result<FitTable> {
    let name = path.display().to_string();
    let names = names(path)?;
    let label = label_of(path, &names, &read.label)?;
    let mut b = SchemaBuilder::new(&name, names, true, label, opts)?;
    for_each_row(path, |row, cells| b.push(row, cells))?;
    let warnings: Vec<String> = b.mixed_columns().into_iter().map(|w| format!("{name}: {w}")).collect();
    if b.needs_second_pass() {
        for_each_row(path, |_, cells| b.rekey(cells))?;
    }
    let (schema, x) = b.finish(opts).map_err(|e| match e {
        OddityError::EmptyInput(_) => parse_error(&name, 1, None, "no data rows".into()),
        e => e,
    })?;
    Ok(FitTable { schema, x, header_note: None, warnings })
}

/// [`super::table::read_csv_chunks`] for a Parquet file.
pub fn read_parquet_chunks(
    path: &Path,
    schema: &Schema,
    read: &ReadOptions,
    chunk_rows: usize,
    sink: &mut PartSink,
) -> Result<Vec<String>> {
    let name = path.display().to_string();
    let names = names(path)?;
    let drop = label_of(path, &names, &read.label)?;
    let kept: Vec<usize> = (0..names.len()).filter(|&i| Some(i) != drop).collect();
    let kept_names: Vec<String> = kept.iter().map(|&i| names[i].clone()).collect();
    // A Parquet file names its columns; a schema fitted without a header
    // has positional names, matched by position.
    let mut enc = RowEncoder::new(schema, Some(&kept_names), kept.len()).map_err(|e| match e {
        OddityError::InvalidParameter { name: "data", reason } => {
            OddityError::param("data", format!("{name}: {reason}"))
        }
        e => e,
    })?;
    let mut warnings = Vec::new();
    if !enc.extra.is_empty() {
        warnings.push(format!("{name}: columns not in the detector, ignored: {}", enc.extra.join(", ")));
    }
    let d = schema.n_features();
    let mut parts = Parts::new(d, chunk_rows, sink);
    for_each_row(path, |row, cells| {
        let sel: Vec<&str> = kept.iter().map(|&i| cells[i].as_str()).collect();
        enc.encode(&sel, parts.next_row())
            .map_err(|(c, reason)| parse_error(&name, row, Some(kept.get(c).copied().unwrap_or(c) + 1), reason))?;
        parts.row_done()
    })?;
    if parts.finish()? == 0 {
        return Err(parse_error(&name, 1, None, "no data rows".into()));
    }
    warnings.extend(enc.warnings().into_iter().map(|w| format!("{name}: {w}")));
    Ok(warnings)
}

/// Writes scores (and outlier flags, null where there is no threshold) to
/// a Parquet file, atomically: columns `score` (float) and `is_outlier`
/// (boolean).
pub fn write_scores(path: &Path, scores: &[f32], flags: Option<&[bool]>) -> Result<()> {
    let mut failed = None;
    let r = write_atomic(path, |out| {
        let written = ScoreWriter::new(out).and_then(|mut w| {
            w.write(scores, flags)?;
            w.finish()
        });
        written.map_err(|e| {
            failed = Some(e);
            std::io::Error::other("not written")
        })
    });
    failed.map_or(r, Err)
}

/// Scores written to Parquet part by part (a row group per part), so that
/// a long table's scores need not be held in memory: the same columns as
/// [`write_scores`]. The bytes go to `out` as each part is written.
pub struct ScoreWriter<'a> {
    w: ArrowWriter<Vec<u8>>,
    schema: Arc<ArrowSchema>,
    out: &'a mut dyn Write,
}

fn werr(e: impl std::fmt::Display) -> OddityError {
    OddityError::param("--out", format!("cannot write Parquet: {e}"))
}

impl<'a> ScoreWriter<'a> {
    /// A writer of the columns `score` and `is_outlier` into `out`.
    pub fn new(out: &'a mut dyn Write) -> Result<Self> {
        let schema = Arc::new(ArrowSchema::new(vec![
            Field::new("score", DataType::Float32, false),
            Field::new("is_outlier", DataType::Boolean, true),
        ]));
        let w = ArrowWriter::try_new(Vec::new(), schema.clone(), None).map_err(werr)?;
        Ok(ScoreWriter { w, schema, out })
    }

    /// Appends one part: its scores and flags (`None`: nulls).
    pub fn write(&mut self, scores: &[f32], flags: Option<&[bool]>) -> Result<()> {
        let flags: BooleanArray = match flags {
            Some(f) => f.iter().map(|&b| Some(b)).collect(),
            None => (0..scores.len()).map(|_| None::<bool>).collect(),
        };
        let cols: Vec<Arc<dyn Array>> = vec![Arc::new(Float32Array::from(scores.to_vec())), Arc::new(flags)];
        let batch = RecordBatch::try_new(self.schema.clone(), cols).map_err(werr)?;
        self.w.write(&batch).map_err(werr)?;
        self.w.flush().map_err(werr)?;
        self.drain()
    }

    /// Hands the bytes written so far to `out` (the writer keeps its own
    /// count of the file's length, so the buffer can be emptied).
    fn drain(&mut self) -> Result<()> {
        let bytes = std::mem::take(self.w.inner_mut());
        self.out.write_all(&bytes).map_err(werr)
    }

    /// Writes the footer.
    pub fn finish(mut self) -> Result<()> {
        self.w.finish().map_err(werr)?;
        self.drain()?;
        self.out.flush().map_err(werr)
    }
}
