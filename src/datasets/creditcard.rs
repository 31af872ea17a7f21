//! Credit-card fraud transactions (ULB / Worldline, September 2013).
//!
//! The CSV has a header of 31 double-quoted names (`"Time"`, `"V1"` … `"V28"`,
//! `"Amount"`, `"Class"`) and one row per transaction; `Class` is quoted too
//! (`"0"` normal, `"1"` fraud). Files may be gzip or plain. [`CreditCardPrep`]
//! chooses what to do with `Time` and `Amount`; `V1`..`V28` are kept as they are.

use std::io::BufRead;

use crate::io::csv::{for_each_record, parse_error};
use std::path::Path;

use ndarray::Array2;

use super::kdd::{parse_f32, show};
use super::lookup::{locate, open_data_file, CREDITCARD};
use crate::error::{OddityError, Result};

/// Number of fields per line: Time, V1..V28, Amount, Class.
const N_FIELDS: usize = 31;

/// What to do with the `Amount` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AmountTransform {
    /// Keep the amount as it is.
    Raw,
    /// `ln(1 + amount)`: tames the long right tail.
    Log1p,
    /// `(amount - mean) / std` with the mean and population std (ddof 0) of the rows
    /// loaded (after `max_amount`); a constant column becomes 0.
    #[default]
    Standardize,
}

/// Preprocessing choices for [`load_creditcard`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CreditCardPrep {
    /// Drop the `Time` column (seconds since the first transaction); default true.
    pub drop_time: bool,
    /// Transform of the `Amount` column; default [`AmountTransform::Standardize`].
    pub amount: AmountTransform,
    /// Drop rows with `Amount >= max_amount`; default `None` (keep all).
    pub max_amount: Option<f64>,
}

impl Default for CreditCardPrep {
    fn default() -> Self {
        CreditCardPrep { drop_time: true, amount: AmountTransform::Standardize, max_amount: None }
    }
}

/// A loaded credit-card file: features and fraud flags, in file order.
#[derive(Debug, Clone)]
pub struct CreditCardData {
    /// Feature matrix: `[Time,] V1..V28, Amount`.
    pub x: Array2<f32>,
    /// True where `Class` is 1 (fraud, the outlier class).
    pub is_fraud: Vec<bool>,
    /// Names of the columns of `x`.
    pub feature_names: Vec<String>,
}

/// Locate (see [`locate`]) and load the credit-card data set.
pub fn fetch_creditcard(prep: &CreditCardPrep) -> Result<CreditCardData> {
    load_creditcard(&locate(&CREDITCARD, None)?, prep)
}

/// Load the credit-card CSV, gzip or plain.
pub fn load_creditcard(path: &Path, prep: &CreditCardPrep) -> Result<CreditCardData> {
    read_creditcard(open_data_file(path)?, &path.display().to_string(), prep)
}

/// Parse the credit-card CSV from any reader; `source_name` names it in errors.
///
/// The header must list the 31 expected names (quotes optional). Blank lines
/// are skipped; a wrong field count, a non-numeric value or a `Class` other
/// than 0/1 is an [`OddityError::Parse`] with its 1-based line number.
pub fn read_creditcard<R: BufRead>(reader: R, source_name: &str, prep: &CreditCardPrep) -> Result<CreditCardData> {
    if let Some(m) = prep.max_amount.filter(|m| m.is_nan()) {
        return Err(OddityError::param("max_amount", format!("must be a number, got {m}")));
    }
    let names = column_names();
    let first = if prep.drop_time { 1 } else { 0 };
    let width = N_FIELDS - 1 - first;
    let mut values: Vec<f32> = Vec::with_capacity(width * 1024);
    let mut amounts: Vec<f64> = Vec::new();
    let mut is_fraud = Vec::new();
    let mut seen_header = false;

    for_each_record(reader, source_name, |line_no, fields| {
        let err = |column: Option<usize>, reason: String| parse_error(source_name, line_no, column, reason);
        if fields.len() != N_FIELDS {
            return Err(err(None, format!("expected {N_FIELDS} comma-separated fields, found {}", fields.len())));
        }
        let fields: Vec<&str> = fields.iter().map(|f| f.trim()).collect();
        if !seen_header {
            seen_header = true;
            for (j, (got, want)) in fields.iter().zip(&names).enumerate() {
                if *got != want.as_str() {
                    return Err(err(Some(j + 1), format!("header: expected {want:?}, found {:?}", show(got))));
                }
            }
            return Ok(());
        }

        let class = match fields[30] {
            "0" => false,
            "1" => true,
            other => return Err(err(Some(31), format!("Class must be 0 or 1, found {:?}", show(other)))),
        };
        let amount =
            fields[29].parse::<f64>().ok().filter(|a| a.is_finite()).ok_or_else(|| {
                err(Some(30), format!("Amount: expected a finite number, found {:?}", show(fields[29])))
            })?;
        if prep.max_amount.is_some_and(|m| amount >= m) {
            return Ok(());
        }
        for (j, field) in fields[first..29].iter().enumerate() {
            let col = first + j;
            let v = parse_f32(field).ok_or_else(|| {
                err(Some(col + 1), format!("{}: expected a finite number, found {:?}", names[col], show(field)))
            })?;
            values.push(v);
        }
        let amount_value = match prep.amount {
            AmountTransform::Raw => amount as f32,
            AmountTransform::Log1p if amount > -1.0 => amount.ln_1p() as f32,
            AmountTransform::Log1p => {
                return Err(err(Some(30), format!("Amount {amount} is <= -1, so log1p is undefined")));
            }
            AmountTransform::Standardize => {
                amounts.push(amount);
                0.0
            }
        };
        values.push(amount_value);
        is_fraud.push(class);
        Ok(())
    })?;

    if !seen_header {
        return Err(OddityError::EmptyInput(format!("{source_name} is empty (no header line)")));
    }
    if is_fraud.is_empty() {
        return Err(OddityError::EmptyInput(format!("{source_name} holds no rows (after max_amount)")));
    }
    let mut x = Array2::from_shape_vec((is_fraud.len(), width), values)
        .map_err(|e| OddityError::EmptyInput(format!("{source_name}: {e}")))?;
    if prep.amount == AmountTransform::Standardize {
        let (mean, std) = mean_std(&amounts);
        for (dst, a) in x.column_mut(width - 1).iter_mut().zip(&amounts) {
            *dst = ((a - mean) / std) as f32;
        }
    }
    Ok(CreditCardData { x, is_fraud, feature_names: names[first..30].to_vec() })
}

/// Standardises `Amount` (the last column of `x`, as the loader returns it
/// with `AmountTransform::Raw` or `Log1p`) with the mean and population std of
/// the rows `fit_rows` only, e.g. the training rows of a split, so that
/// nothing about validation or test rows leaks into the inputs.
/// (`AmountTransform::Standardize` fits on every loaded row instead.)
/// Returns the mean and std used.
pub fn standardize_amount(x: &mut Array2<f32>, fit_rows: &[usize]) -> Result<(f64, f64)> {
    if fit_rows.is_empty() || x.ncols() == 0 {
        return Err(OddityError::EmptyInput("no rows to fit the Amount standardization on".into()));
    }
    let a = x.ncols() - 1;
    if let Some(&bad) = fit_rows.iter().find(|&&i| i >= x.nrows()) {
        return Err(OddityError::param("fit_rows", format!("row {bad} is out of range for {} rows", x.nrows())));
    }
    let amounts: Vec<f64> = fit_rows.iter().map(|&i| f64::from(x[[i, a]])).collect();
    let (mean, std) = mean_std(&amounts);
    x.column_mut(a).mapv_inplace(|v| ((f64::from(v) - mean) / std) as f32);
    Ok((mean, std))
}

/// The 31 header names: Time, V1..V28, Amount, Class.
fn column_names() -> Vec<String> {
    let mut names = vec!["Time".to_string()];
    names.extend((1..=28).map(|i| format!("V{i}")));
    names.push("Amount".to_string());
    names.push("Class".to_string());
    names
}

/// Mean and population standard deviation; a zero or non-finite std becomes 1.
fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / n;
    let std = var.sqrt();
    (mean, if std > 0.0 && std.is_finite() { std } else { 1.0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use std::io::Write;

    fn header() -> String {
        column_names().iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(",")
    }

    /// A synthetic row: Time `t`, V_i = t + i/100, the amount and the class.
    fn row(t: f64, amount: f64, class: u8) -> String {
        let mut f = vec![format!("{t}")];
        f.extend((1..=28).map(|i| format!("{}", t + i as f64 / 100.0)));
        f.push(format!("{amount}"));
        f.push(format!("\"{class}\""));
        f.join(",")
    }

    fn sample() -> String {
        [header(), row(0.0, 10.0, 0), row(1.0, 20.0, 1), row(2.0, 30.0, 0), row(3.0, 1000.0, 0)].join("\n") + "\n"
    }

    fn read(text: &str, prep: &CreditCardPrep) -> Result<CreditCardData> {
        read_creditcard(text.as_bytes(), "cc.csv", prep)
    }

    #[test]
    fn defaults_drop_time_and_standardize() {
        let d = read(&sample(), &CreditCardPrep::default()).unwrap();
        assert_eq!(d.x.dim(), (4, 29));
        assert_eq!(d.feature_names.first().unwrap(), "V1");
        assert_eq!(d.feature_names.last().unwrap(), "Amount");
        assert_eq!(d.is_fraud, [false, true, false, false]);
        assert_abs_diff_eq!(d.x[[1, 0]], 1.01, epsilon = 1e-6);
        let amount = d.x.column(28);
        assert_abs_diff_eq!(amount.sum(), 0.0, epsilon = 1e-5);
        let var: f32 = amount.iter().map(|a| a * a).sum::<f32>() / 4.0;
        assert_abs_diff_eq!(var, 1.0, epsilon = 1e-5);
    }

    #[test]
    fn raw_log1p_keep_time_and_max_amount() {
        let prep = CreditCardPrep { drop_time: false, amount: AmountTransform::Raw, max_amount: Some(1000.0) };
        let d = read(&sample(), &prep).unwrap();
        assert_eq!(d.x.dim(), (3, 30));
        assert_eq!(d.feature_names[0], "Time");
        assert_eq!(d.x[[2, 0]], 2.0);
        assert_eq!(d.x[[2, 29]], 30.0);

        let prep = CreditCardPrep { amount: AmountTransform::Log1p, ..Default::default() };
        let d = read(&sample(), &prep).unwrap();
        assert_abs_diff_eq!(d.x[[0, 28]], 11f32.ln(), epsilon = 1e-6);
    }

    #[test]
    fn unquoted_values_and_gzip_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cc.csv.gz");
        let text = sample().replace("\"0\"", "0");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(text.as_bytes()).unwrap();
        std::fs::write(&path, enc.finish().unwrap()).unwrap();
        let d = load_creditcard(&path, &CreditCardPrep::default()).unwrap();
        assert_eq!(d.is_fraud, [false, true, false, false]);
    }

    fn parse_err(text: &str) -> (usize, Option<usize>, String) {
        match read(text, &CreditCardPrep::default()) {
            Err(OddityError::Parse { line, column, reason, .. }) => (line, column, reason),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn malformed_input_names_line_and_column() {
        let (l, c, r) = parse_err(&sample().replacen("\"V7\"", "\"V8\"", 1));
        assert_eq!((l, c), (1, Some(8)));
        assert!(r.contains("header"), "{r}");

        let bad_class = format!("{}\n{}\n", header(), row(0.0, 1.0, 2));
        assert_eq!(parse_err(&bad_class).0, 2);
        assert_eq!(parse_err(&bad_class).1, Some(31));

        let bad_v = format!("{}\n\n{}\n", header(), row(0.0, 1.0, 0).replacen("0.05", "x", 1));
        assert_eq!(parse_err(&bad_v).0, 3);
        assert_eq!(parse_err(&bad_v).1, Some(6));

        let short = format!("{}\n{}\n", header(), row(0.0, 1.0, 0).replacen(",", "", 1));
        let (l, c, r) = parse_err(&short);
        assert_eq!((l, c), (2, None));
        assert!(r.contains("found 30"), "{r}");
    }

    #[test]
    fn empty_and_all_dropped_are_errors() {
        assert!(matches!(read("", &CreditCardPrep::default()), Err(OddityError::EmptyInput(_))));
        let prep = CreditCardPrep { max_amount: Some(0.0), ..Default::default() };
        assert!(matches!(read(&sample(), &prep), Err(OddityError::EmptyInput(_))));
        let prep = CreditCardPrep { max_amount: Some(f64::NAN), ..Default::default() };
        assert!(matches!(read(&sample(), &prep), Err(OddityError::InvalidParameter { .. })));
    }

    #[test]
    fn standardize_amount_fits_on_the_given_rows_only() {
        // Amount column (last) = 1, 3 on the fit rows, 100 elsewhere: mean 2, std 1.
        let mut x = ndarray::array![[0.5f32, 1.0], [0.5, 3.0], [0.5, 100.0]];
        let (mean, std) = standardize_amount(&mut x, &[0, 1]).unwrap();
        assert_eq!((mean, std), (2.0, 1.0));
        assert_eq!(x.column(1).to_vec(), vec![-1.0, 1.0, 98.0]);
        assert_eq!(x.column(0).to_vec(), vec![0.5; 3]);
        assert!(standardize_amount(&mut x, &[]).is_err());
        assert!(standardize_amount(&mut x, &[3]).is_err());
    }
}
