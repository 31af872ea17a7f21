//! How `fit` reads a table: role overrides and encoding options. The same
//! struct is the `[table]` section of the CLI's `--config` file.

use serde::{Deserialize, Serialize};

/// Role overrides (by column name; a file without a header names its
/// columns by 1-based position, `"1"`, `"2"`, ...) and encoding options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TableOptions {
    /// Columns read as categorical even if every cell is a number (codes).
    pub categorical: Vec<String>,
    /// Columns that must be numeric: a text cell is then an error.
    pub numeric: Vec<String>,
    /// Columns left out.
    pub ignore: Vec<String>,
    /// Categorical values seen fewer times than this in training go to the
    /// column's `other` slot; 1 keeps every value.
    pub min_count: u64,
    /// A missing-indicator feature after each numeric column that had
    /// missing cells in training.
    pub missing_indicator: bool,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            categorical: Vec::new(),
            numeric: Vec::new(),
            ignore: Vec::new(),
            min_count: 1,
            missing_indicator: true,
        }
    }
}

impl TableOptions {
    /// Fails on a name given two roles, or `min_count` 0.
    pub fn validate(&self) -> crate::error::Result<()> {
        if self.min_count == 0 {
            return Err(crate::error::OddityError::param("min_count", "must be at least 1"));
        }
        let lists = [("categorical", &self.categorical), ("numeric", &self.numeric), ("ignore", &self.ignore)];
        for (i, (a, la)) in lists.iter().enumerate() {
            for (b, lb) in &lists[i + 1..] {
                if let Some(n) = la.iter().find(|n| lb.contains(n)) {
                    return Err(crate::error::OddityError::param(
                        "table",
                        format!("column `{n}` is listed as both {a} and {b}"),
                    ));
                }
            }
        }
        Ok(())
    }
}
