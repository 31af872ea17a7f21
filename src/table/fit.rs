//! Learning a [`Schema`] from rows of text cells, streaming: the
//! [`SchemaBuilder`] keeps one compact column per input column (f32 values,
//! or category ids) and, at [`SchemaBuilder::finish`], learns medians and
//! vocabularies and lays out the feature matrix.
//!
//! A column whose role is inferred starts numeric; at its first text cell
//! it becomes categorical. Its earlier cells were kept as numbers, so their
//! text is read again: [`SchemaBuilder::needs_second_pass`] says so, and the
//! reader replays the rows through [`SchemaBuilder::rekey`].

use std::collections::HashMap;

use ndarray::Array2;

use super::cell::{classify, is_missing, not_a_number, Cell};
use super::options::TableOptions;
use super::schema::{Column, ColumnKind, Schema};
use crate::error::{OddityError, Result};

/// Id of a missing cell in a categorical column.
const MISSING: u32 = u32::MAX;

/// A categorical column being collected: interned keys and per-row ids.
#[derive(Debug, Default)]
struct Categories {
    index: HashMap<String, u32>,
    keys: Vec<String>,
    counts: Vec<u64>,
    ids: Vec<u32>,
}

impl Categories {
    fn push(&mut self, cell: &str) {
        let s = cell.trim();
        if is_missing(s) {
            self.ids.push(MISSING);
            return;
        }
        let id = match self.index.get(s) {
            Some(&id) => id,
            None => {
                let id = self.keys.len() as u32;
                self.index.insert(s.to_string(), id);
                self.keys.push(s.to_string());
                self.counts.push(0);
                id
            }
        };
        self.counts[id as usize] += 1;
        self.ids.push(id);
    }
}

#[derive(Debug)]
enum Acc {
    /// Label or ignored: never read.
    Skip(ColumnKind),
    /// Numbers so far (NaN = missing); `forced` when `--numeric`.
    Num {
        vals: Vec<f32>,
        forced: bool,
    },
    /// Was numeric, met text (first at `line`): its cells are read again
    /// by `rekey`.
    Mixed {
        line: usize,
        text: String,
    },
    Cat(Categories),
}

/// Collects rows and learns a [`Schema`] from them.
#[derive(Debug)]
pub struct SchemaBuilder {
    source: String,
    names: Vec<String>,
    header: bool,
    cols: Vec<Acc>,
    n_rows: usize,
    rekey_row: usize,
}

impl SchemaBuilder {
    /// A builder for a table of `names.len()` columns (`header`: the names
    /// come from a header line), the label at `label` (0-based) if any, and
    /// the role overrides of `opts`, which must name existing columns.
    /// `source` names the table in error messages.
    pub fn new(
        source: &str,
        names: Vec<String>,
        header: bool,
        label: Option<usize>,
        opts: &TableOptions,
    ) -> Result<Self> {
        opts.validate()?;
        let lists = [&opts.categorical, &opts.numeric, &opts.ignore];
        for n in lists.into_iter().flatten() {
            if !names.contains(n) {
                let how =
                    if header { "in the header" } else { "(a file without a header names its columns 1, 2, ...)" };
                return Err(OddityError::param(
                    "table",
                    format!("no column named `{n}` {how}; columns: {}", names.join(", ")),
                ));
            }
        }
        if let Some(l) = label {
            if l >= names.len() {
                return Err(OddityError::param(
                    "label",
                    format!("column {} (1-based) does not exist: the table has {} columns", l + 1, names.len()),
                ));
            }
        }
        let cols = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                if Some(i) == label {
                    Acc::Skip(ColumnKind::Label)
                } else if opts.ignore.contains(n) {
                    Acc::Skip(ColumnKind::Ignored)
                } else if opts.categorical.contains(n) {
                    Acc::Cat(Categories::default())
                } else {
                    Acc::Num { vals: Vec::new(), forced: opts.numeric.contains(n) }
                }
            })
            .collect();
        Ok(SchemaBuilder { source: source.into(), names, header, cols, n_rows: 0, rekey_row: 0 })
    }

    fn err(&self, line: usize, col: usize, reason: String) -> OddityError {
        OddityError::Parse { source_name: self.source.clone(), line, column: Some(col + 1), reason }
    }

    /// Adds one data row; `line` (1-based) is for error messages.
    pub fn push<S: AsRef<str>>(&mut self, line: usize, cells: &[S]) -> Result<()> {
        let width = self.cols.len();
        if cells.len() != width {
            let reason = format!("expected {width} columns (as the first line), found {}", cells.len());
            return Err(self.err(line, cells.len().min(width), reason));
        }
        for (i, cell) in cells.iter().enumerate() {
            let cell = cell.as_ref();
            match &mut self.cols[i] {
                Acc::Skip(_) | Acc::Mixed { .. } => {}
                Acc::Cat(c) => c.push(cell),
                Acc::Num { vals, forced } => match classify(cell) {
                    Cell::Number(v) => vals.push(v),
                    Cell::Missing => vals.push(f32::NAN),
                    Cell::Text if *forced => {
                        let reason = format!("{} (declared numeric)", not_a_number(cell));
                        return Err(self.err(line, i, reason));
                    }
                    Cell::Text if vals.iter().all(|v| v.is_nan()) => {
                        // No number so far: categorical from the start.
                        let mut c = Categories { ids: vec![MISSING; vals.len()], ..Default::default() };
                        c.push(cell);
                        self.cols[i] = Acc::Cat(c);
                    }
                    Cell::Text => self.cols[i] = Acc::Mixed { line, text: super::cell::shorten(cell.trim()) },
                },
            }
        }
        self.n_rows += 1;
        Ok(())
    }

    /// True when a column met text after numbers: every row must then be
    /// passed again, in the same order, to [`SchemaBuilder::rekey`].
    pub fn needs_second_pass(&self) -> bool {
        self.cols.iter().any(|c| matches!(c, Acc::Mixed { .. }))
    }

    /// One line per column inferred categorical although it also holds
    /// numbers (often a stray text cell in a numeric column), to show the
    /// user; call before the second pass.
    pub fn mixed_columns(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, c) in self.names.iter().zip(&self.cols) {
            if let Acc::Mixed { line, text } = c {
                out.push(format!(
                    "column `{name}` holds numbers and text (first `{text}`, line {line}): read as categorical; --numeric {name} makes such text an error"
                ));
            }
        }
        out
    }

    /// The second pass: reads the text of the mixed columns of one row.
    pub fn rekey<S: AsRef<str>>(&mut self, cells: &[S]) -> Result<()> {
        if self.rekey_row == 0 {
            for c in &mut self.cols {
                if matches!(c, Acc::Mixed { .. }) {
                    *c = Acc::Cat(Categories::default());
                }
            }
        }
        self.rekey_row += 1;
        for (c, cell) in self.cols.iter_mut().zip(cells) {
            if let Acc::Cat(cats) = c {
                if cats.ids.len() < self.rekey_row {
                    cats.push(cell.as_ref());
                }
            }
        }
        Ok(())
    }

    /// Learns the schema and lays out the feature matrix of the rows.
    pub fn finish(self, opts: &TableOptions) -> Result<(Schema, Array2<f32>)> {
        if self.n_rows == 0 {
            return Err(OddityError::EmptyInput(format!("{}: no data rows", self.source)));
        }
        let n = self.n_rows;
        let mut columns = Vec::with_capacity(self.cols.len());
        // Per column: how to write its features.
        let mut plans: Vec<Plan> = Vec::with_capacity(self.cols.len());
        for (name, acc) in self.names.into_iter().zip(self.cols) {
            let (kind, plan) = match acc {
                Acc::Skip(kind) => (kind, Plan::Skip),
                Acc::Mixed { .. } => {
                    return Err(OddityError::Numerical(format!("column `{name}` was not read a second time")));
                }
                Acc::Num { vals, .. } => {
                    let median = median(&vals);
                    let indicator = opts.missing_indicator && vals.iter().any(|v| v.is_nan());
                    (ColumnKind::Numeric { median, indicator }, Plan::Num { vals, median, indicator })
                }
                Acc::Cat(c) => {
                    if c.ids.len() != n {
                        return Err(OddityError::Numerical(format!("column `{name}`: the second pass saw other rows")));
                    }
                    let mut kept: Vec<u32> =
                        (0..c.keys.len() as u32).filter(|&i| c.counts[i as usize] >= opts.min_count).collect();
                    kept.sort_unstable_by(|&a, &b| c.keys[a as usize].as_bytes().cmp(c.keys[b as usize].as_bytes()));
                    let k = kept.len() as u32;
                    // id -> slot: vocab position, or `other` (k + 1).
                    let mut slot = vec![k + 1; c.keys.len()];
                    for (pos, &id) in kept.iter().enumerate() {
                        slot[id as usize] = pos as u32;
                    }
                    let vocab = kept.iter().map(|&id| c.keys[id as usize].clone()).collect();
                    (
                        ColumnKind::Categorical { vocab },
                        Plan::Cat { ids: c.ids, slot, missing: k, width: k as usize + 2 },
                    )
                }
            };
            columns.push(Column { name, kind });
            plans.push(plan);
        }
        let schema = Schema { header: self.header, columns };
        schema.validate()?;
        let d = schema.n_features();
        // Row-major, written row by row (one pass over the matrix; each
        // column's values are read in order).
        let mut buf = vec![0f32; n * d];
        for (r, row) in buf.chunks_exact_mut(d.max(1)).enumerate() {
            let mut off = 0usize;
            for plan in &plans {
                match plan {
                    Plan::Skip => {}
                    Plan::Num { vals, median, indicator } => {
                        let v = vals[r];
                        let missing = v.is_nan();
                        row[off] = if missing { *median } else { v };
                        if *indicator {
                            row[off + 1] = f32::from(u8::from(missing));
                        }
                        off += 1 + usize::from(*indicator);
                    }
                    Plan::Cat { ids, slot, missing, width } => {
                        let id = ids[r];
                        let s = if id == MISSING { *missing } else { slot[id as usize] };
                        row[off + s as usize] = 1.0;
                        off += width;
                    }
                }
            }
        }
        let x = Array2::from_shape_vec((n, d), buf).map_err(|e| OddityError::Numerical(e.to_string()))?;
        Ok((schema, x))
    }
}

enum Plan {
    Skip,
    Num { vals: Vec<f32>, median: f32, indicator: bool },
    Cat { ids: Vec<u32>, slot: Vec<u32>, missing: u32, width: usize },
}

/// numpy's median of the non-missing values, in f64; 0 when there are none.
fn median(vals: &[f32]) -> f32 {
    let mut v: Vec<f32> = vals.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return 0.0;
    }
    // Selection, not a sort: linear time, as every numeric column needs it.
    let m = v.len() / 2;
    let even = v.len() % 2 == 0;
    let (left, &mut hi, _) = v.select_nth_unstable_by(m, f32::total_cmp);
    match left.iter().copied().max_by(f32::total_cmp) {
        Some(lo) if even => ((lo as f64 + hi as f64) / 2.0) as f32,
        _ => hi,
    }
}

impl Schema {
    /// Learns a schema from rows of text cells held in memory and returns
    /// it with the rows' feature matrix. `header` names the columns (else
    /// they are named `1`, `2`, ...); `label` is a 0-based column to leave
    /// out. The same rules as `oddity fit` (docs/cli.md).
    ///
    /// ```
    /// use oddity::table::{Schema, TableOptions};
    /// let rows = vec![vec!["1.5", "tcp"], vec!["", "udp"], vec!["2.5", "tcp"]];
    /// let (schema, x) = Schema::fit(Some(&["bytes", "proto"]), &rows, None, &TableOptions::default()).unwrap();
    /// // bytes, bytes=<missing>, proto=tcp, proto=udp, proto=<missing>, proto=<other>
    /// assert_eq!(schema.n_features(), 6);
    /// assert_eq!(x.row(1).to_vec(), vec![2.0, 1.0, 0.0, 1.0, 0.0, 0.0]);
    /// let y = schema.transform(Some(&["proto", "bytes"]), &[vec!["icmp", "3"]]).unwrap();
    /// assert_eq!(y.row(0).to_vec(), vec![3.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
    /// ```
    pub fn fit<S: AsRef<str>, R: AsRef<[S]>>(
        header: Option<&[&str]>,
        rows: &[R],
        label: Option<usize>,
        opts: &TableOptions,
    ) -> Result<(Schema, Array2<f32>)> {
        let width = match (header, rows.first()) {
            (Some(h), _) => h.len(),
            (None, Some(r)) => r.as_ref().len(),
            (None, None) => return Err(OddityError::EmptyInput("no rows".into())),
        };
        let names = match header {
            Some(h) => h.iter().map(|s| s.trim().to_string()).collect(),
            None => (1..=width).map(|i| i.to_string()).collect(),
        };
        let mut b = SchemaBuilder::new("rows", names, header.is_some(), label, opts)?;
        for (i, r) in rows.iter().enumerate() {
            b.push(i + 1, r.as_ref())?;
        }
        if b.needs_second_pass() {
            for r in rows {
                b.rekey(r.as_ref())?;
            }
        }
        b.finish(opts)
    }
}
