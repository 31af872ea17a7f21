//! The [`Schema`]: one entry per input column, in the table's order, with
//! its role and what `fit` learned for it. Its feature layout, in column
//! order:
//!
//! - **numeric**: the value (a missing cell gets the training median), then,
//!   if `indicator`, a 0/1 column that is 1 where the cell was missing;
//! - **categorical**: one 0/1 slot per `vocab` value (lexicographic byte
//!   order, so the layout depends on the set of values, never on the row
//!   order), then a `missing` slot, then an `other` slot for values not in
//!   the vocabulary (rare in training, or never seen);
//! - **ignored** and **label**: nothing.

use serde::{Deserialize, Serialize};

use crate::error::{OddityError, Result};

/// What `fit` learned for one column, by role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum ColumnKind {
    /// Numbers; missing cells get `median`.
    Numeric {
        /// The median of the training values (numpy's: the mean of the two
        /// middle values for an even count), computed in f64; 0 when the
        /// column had no values.
        median: f32,
        /// True when a missing-indicator feature follows the value (the
        /// column had missing cells in training and indicators were on).
        indicator: bool,
    },
    /// Text values, one-hot: `vocab.len() + 2` features.
    Categorical {
        /// The training values kept (count >= `min_count`), sorted by bytes.
        vocab: Vec<String>,
    },
    /// Read past, never used.
    Ignored,
    /// The label: read past, never a feature.
    Label,
}

/// One input column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// The header name, or the 1-based position (`"3"`) in a file without one.
    pub name: String,
    /// Role and what was learned.
    #[serde(flatten)]
    pub kind: ColumnKind,
}

impl Column {
    /// True for a numeric column.
    pub fn is_numeric(&self) -> bool {
        matches!(self.kind, ColumnKind::Numeric { .. })
    }

    /// The role's name: `numeric`, `categorical`, `ignored`, `label`.
    pub fn role(&self) -> &'static str {
        match self.kind {
            ColumnKind::Numeric { .. } => "numeric",
            ColumnKind::Categorical { .. } => "categorical",
            ColumnKind::Ignored => "ignored",
            ColumnKind::Label => "label",
        }
    }

    /// How many features the column becomes.
    pub fn width(&self) -> usize {
        match &self.kind {
            ColumnKind::Numeric { indicator, .. } => 1 + usize::from(*indicator),
            ColumnKind::Categorical { vocab } => vocab.len() + 2,
            ColumnKind::Ignored | ColumnKind::Label => 0,
        }
    }
}

/// The columns of a table and what `fit` learned for each: the
/// preprocessing that turns raw rows into a detector's features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// True when the training table had a header (its columns can then be
    /// matched by name).
    pub header: bool,
    /// The columns, in the training table's order.
    pub columns: Vec<Column>,
}

impl Schema {
    /// `n` numeric columns named `1`..`n`, no missing indicators: the schema
    /// of a detector fitted on a matrix, or read from a format 1 or 2 file.
    pub fn numeric(n: usize) -> Self {
        let columns = (1..=n)
            .map(|i| Column { name: i.to_string(), kind: ColumnKind::Numeric { median: 0.0, indicator: false } })
            .collect();
        Schema { header: false, columns }
    }

    /// The number of features the schema produces.
    pub fn n_features(&self) -> usize {
        self.columns.iter().map(Column::width).sum()
    }

    /// A name per feature: `col`, `col=missing` (indicator), `col=VALUE`,
    /// `col=<missing>`, `col=<other>`.
    pub fn feature_names(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.n_features());
        for c in &self.columns {
            match &c.kind {
                ColumnKind::Numeric { indicator, .. } => {
                    out.push(c.name.clone());
                    if *indicator {
                        out.push(format!("{}=<missing>", c.name));
                    }
                }
                ColumnKind::Categorical { vocab } => {
                    out.extend(vocab.iter().map(|v| format!("{}={v}", c.name)));
                    out.push(format!("{}=<missing>", c.name));
                    out.push(format!("{}=<other>", c.name));
                }
                ColumnKind::Ignored | ColumnKind::Label => {}
            }
        }
        out
    }

    /// Checks what a file (or a hand-written schema) could get wrong: no
    /// columns, repeated or empty names, non-finite medians, an unsorted or
    /// repeated vocabulary.
    pub fn validate(&self) -> Result<()> {
        let bad = |r: String| Err(OddityError::param("schema", r));
        if self.columns.is_empty() {
            return bad("no columns".into());
        }
        let mut names: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return bad(format!("two columns are named `{}`", w[0]));
        }
        for c in &self.columns {
            match &c.kind {
                ColumnKind::Numeric { median, .. } if !median.is_finite() => {
                    return bad(format!("column `{}`: median {median} is not finite", c.name));
                }
                ColumnKind::Categorical { vocab } if vocab.windows(2).any(|w| w[0] >= w[1]) => {
                    return bad(format!("column `{}`: vocabulary not sorted or repeated", c.name));
                }
                _ => {}
            }
        }
        if self.n_features() == 0 {
            return bad("no feature columns (every column is ignored or a label)".into());
        }
        Ok(())
    }

    /// The schema as JSON (as stored in a detector file).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| OddityError::Numerical(format!("cannot encode the schema: {e}")))
    }

    /// A schema from JSON, validated.
    pub fn from_json(s: &str) -> Result<Self> {
        let schema: Schema =
            serde_json::from_str(s).map_err(|e| OddityError::param("schema", format!("invalid JSON: {e}")))?;
        schema.validate()?;
        Ok(schema)
    }
}
