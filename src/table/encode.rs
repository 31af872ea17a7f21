//! Rows to features with a fitted [`Schema`].
//!
//! Columns are matched to the schema once, by [`RowEncoder::new`]:
//! - **by name** when the table has a header and the schema was fitted on
//!   one: any order; a needed column (numeric or categorical) that is
//!   absent is an error naming it; extra columns and the label are skipped
//!   (the caller warns once about the extra ones);
//! - **by position** otherwise: the table has every training column, or
//!   every one but the label columns.
//!
//! Cells: a missing cell in a numeric column gets the training median (and
//! its indicator 1, if the column has one; if it has none, the row is still
//! scored and the cell counted in [`EncodeStats`]); a categorical value not
//! in the vocabulary goes to the column's `other` slot (counted); a missing
//! one to its `missing` slot. Text in a numeric column is an error.

use std::collections::HashMap;

use ndarray::Array2;

use super::cell::{is_missing, not_a_number};
use super::schema::{ColumnKind, Schema};
use crate::error::{OddityError, Result};

/// What encoding saw that a user may want to know, per schema column.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EncodeStats {
    /// Rows encoded.
    pub rows: u64,
    /// Per schema column: missing numeric cells imputed where the column
    /// has no indicator (it had no missing cells in training).
    pub imputed_without_indicator: Vec<u64>,
    /// Per schema column: categorical values sent to `other` because they
    /// are not in the vocabulary.
    pub unseen: Vec<u64>,
}

enum Step<'a> {
    Num { at: usize, median: f32, indicator: bool },
    Cat { at: usize, index: HashMap<&'a str, usize>, k: usize },
}

/// Encodes rows of a table with a schema; see the module doc.
pub struct RowEncoder<'a> {
    schema: &'a Schema,
    width: usize,
    /// Per feature column of the schema: where to read and how.
    steps: Vec<(usize, usize, Step<'a>)>,
    /// The table's columns not used and not known to the schema.
    pub extra: Vec<String>,
    /// Counts, see [`EncodeStats`].
    pub stats: EncodeStats,
}

impl<'a> RowEncoder<'a> {
    /// Matches a table of `width` columns (with header names `header`, if
    /// it has a header) to `schema`.
    pub fn new(schema: &'a Schema, header: Option<&[String]>, width: usize) -> Result<Self> {
        let pos: Vec<Option<usize>> = match header {
            Some(h) if schema.header => {
                let mut pos = Vec::with_capacity(schema.columns.len());
                for c in &schema.columns {
                    let hits: Vec<usize> = (0..h.len()).filter(|&i| h[i].trim() == c.name).collect();
                    let needed = c.width() > 0;
                    match hits.as_slice() {
                        [i] => pos.push(Some(*i)),
                        [] if needed => {
                            return Err(OddityError::param(
                                "data",
                                format!(
                                    "column `{}` is missing (the detector was fitted on: {})",
                                    c.name,
                                    needed_names(schema)
                                ),
                            ))
                        }
                        [] => pos.push(None),
                        _ if needed => {
                            return Err(OddityError::param(
                                "data",
                                format!("the header names {} columns `{}`", hits.len(), c.name),
                            ))
                        }
                        _ => pos.push(None),
                    }
                }
                pos
            }
            _ => {
                let all = schema.columns.len();
                let labels = schema.columns.iter().filter(|c| matches!(c.kind, ColumnKind::Label)).count();
                if width == all {
                    (0..all).map(Some).collect()
                } else if labels > 0 && width == all - labels {
                    let mut at = 0;
                    schema
                        .columns
                        .iter()
                        .map(|c| {
                            if matches!(c.kind, ColumnKind::Label) {
                                None
                            } else {
                                at += 1;
                                Some(at - 1)
                            }
                        })
                        .collect()
                } else {
                    let also =
                        if labels > 0 { format!(" ({} without the label)", all - labels) } else { String::new() };
                    return Err(OddityError::param(
                        "data",
                        format!("the table has {width} columns; the detector was fitted on {all}{also}"),
                    ));
                }
            }
        };
        let extra = match header {
            Some(h) if schema.header => {
                (0..h.len()).filter(|i| !pos.contains(&Some(*i))).map(|i| h[i].clone()).collect()
            }
            _ => Vec::new(),
        };
        let mut steps = Vec::new();
        let mut at = 0usize;
        for (ci, (c, p)) in schema.columns.iter().zip(&pos).enumerate() {
            let step = match &c.kind {
                ColumnKind::Numeric { median, indicator } => Step::Num { at, median: *median, indicator: *indicator },
                ColumnKind::Categorical { vocab } => Step::Cat {
                    at,
                    index: vocab.iter().enumerate().map(|(i, v)| (v.as_str(), i)).collect(),
                    k: vocab.len(),
                },
                ColumnKind::Ignored | ColumnKind::Label => continue,
            };
            at += c.width();
            // Needed columns always have a position (checked above).
            steps.push((p.unwrap_or(usize::MAX), ci, step));
        }
        let n = schema.columns.len();
        let stats = EncodeStats { rows: 0, imputed_without_indicator: vec![0; n], unseen: vec![0; n] };
        Ok(RowEncoder { schema, width, steps, extra, stats })
    }

    /// The number of features each row becomes.
    pub fn n_features(&self) -> usize {
        self.schema.n_features()
    }

    /// Encodes one row into `out` (`n_features` long, zeroed by the
    /// caller). On a bad cell: the 0-based table column and why.
    pub fn encode<S: AsRef<str>>(&mut self, cells: &[S], out: &mut [f32]) -> std::result::Result<(), (usize, String)> {
        if cells.len() != self.width {
            let reason = format!("expected {} columns (as the first line), found {}", self.width, cells.len());
            return Err((cells.len().min(self.width), reason));
        }
        for (col, ci, step) in &self.steps {
            let cell = cells[*col].as_ref();
            match step {
                Step::Num { at, median, indicator } => {
                    let s = cell.trim();
                    let v = match s.parse::<f32>() {
                        Ok(v) if v.is_finite() => Some(v),
                        Ok(v) if v.is_nan() => None,
                        _ if is_missing(s) => None,
                        _ => return Err((*col, not_a_number(cell))),
                    };
                    match v {
                        Some(v) => out[*at] = v,
                        None => {
                            out[*at] = *median;
                            if *indicator {
                                out[at + 1] = 1.0;
                            } else {
                                self.stats.imputed_without_indicator[*ci] += 1;
                            }
                        }
                    }
                }
                Step::Cat { at, index, k: n } => {
                    let s = cell.trim();
                    let slot = if is_missing(s) {
                        *n
                    } else {
                        match index.get(s) {
                            Some(&i) => i,
                            None => {
                                self.stats.unseen[*ci] += 1;
                                n + 1
                            }
                        }
                    };
                    out[at + slot] = 1.0;
                }
            }
        }
        self.stats.rows += 1;
        Ok(())
    }

    /// One warning line per column with imputed cells that had no
    /// indicator, or unseen categories; empty when there is nothing to say.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, c) in self.schema.columns.iter().enumerate() {
            let m = self.stats.imputed_without_indicator[i];
            if m > 0 {
                out.push(format!(
                    "column `{}`: {m} missing cells got the training median; the column had no missing cells in training, so no indicator marks them",
                    c.name
                ));
            }
            let u = self.stats.unseen[i];
            if u > 0 {
                out.push(format!(
                    "column `{}`: {u} cells hold values not seen in training (scored in its `other` slot)",
                    c.name
                ));
            }
        }
        out
    }
}

fn needed_names(schema: &Schema) -> String {
    schema.columns.iter().filter(|c| c.width() > 0).map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
}

impl Schema {
    /// The feature matrix of rows of text cells (with their header, if the
    /// table has one), by the rules of [`RowEncoder`].
    pub fn transform<S: AsRef<str>, R: AsRef<[S]>>(&self, header: Option<&[&str]>, rows: &[R]) -> Result<Array2<f32>> {
        let names: Option<Vec<String>> = header.map(|h| h.iter().map(|s| s.to_string()).collect());
        let width = match (&names, rows.first()) {
            (Some(h), _) => h.len(),
            (None, Some(r)) => r.as_ref().len(),
            (None, None) => 0,
        };
        let mut enc = RowEncoder::new(self, names.as_deref(), width)?;
        let d = self.n_features();
        let mut buf = vec![0f32; rows.len() * d];
        for (i, (r, out)) in rows.iter().zip(buf.chunks_mut(d.max(1))).enumerate() {
            enc.encode(r.as_ref(), out).map_err(|(col, reason)| OddityError::Parse {
                source_name: "rows".into(),
                line: i + 1,
                column: Some(col + 1),
                reason,
            })?;
        }
        Array2::from_shape_vec((rows.len(), d), buf).map_err(|e| OddityError::Numerical(e.to_string()))
    }
}
