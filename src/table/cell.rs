//! What a cell holds. One rule for every reader (CSV, Parquet, the API):
//! a cell is **missing** when, trimmed, it is empty or one of
//! [`MISSING_SPELLINGS`]; a **number** when it parses as a finite `f32`;
//! otherwise **text**. `inf` and values beyond the `f32` range are text to
//! the role inference and an error in a numeric column.

/// The spellings of a missing value (compared after trimming, exactly).
pub const MISSING_SPELLINGS: &[&str] = &["", "NA", "N/A", "NaN", "nan", "NAN", "null", "NULL", "None", "?"];

/// A cell, classified.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    /// A finite number.
    Number(f32),
    /// Empty or a missing spelling.
    Missing,
    /// Anything else (including `inf`, which is refused in numeric columns).
    Text,
}

/// Classifies a cell. The number parse runs first, so numeric tables pay
/// for one `parse` per cell, as before the schema.
#[inline]
pub fn classify(cell: &str) -> Cell {
    let s = cell.trim();
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() => Cell::Number(v),
        Ok(v) if v.is_nan() => Cell::Missing,
        _ if is_missing(s) => Cell::Missing,
        _ => Cell::Text,
    }
}

/// True for a trimmed cell that spells a missing value.
#[inline]
pub fn is_missing(trimmed: &str) -> bool {
    MISSING_SPELLINGS.contains(&trimmed)
}

/// Why a cell of a numeric column is refused.
pub fn not_a_number(cell: &str) -> String {
    let s = cell.trim();
    match s.parse::<f32>() {
        Ok(_) => format!("`{}` is not a finite number (infinity or beyond the f32 range)", shorten(s)),
        Err(_) => format!("`{}` is not a number (the column is numeric)", shorten(s)),
    }
}

/// A cell shortened for an error message, control characters escaped.
pub fn shorten(s: &str) -> String {
    const MAX: usize = 40;
    let esc: String =
        s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect();
    match esc.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &esc[..i]),
        None => esc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells() {
        assert_eq!(classify(" 1.5 "), Cell::Number(1.5));
        for m in ["", "  ", "NA", "NaN", "nan", "null", "?"] {
            assert_eq!(classify(m), Cell::Missing, "{m:?}");
        }
        for t in ["tcp", "inf", "-inf", "1e39", "1,2", "na"] {
            assert_eq!(classify(t), Cell::Text, "{t:?}");
        }
    }
}
