//! One entry for both table formats, chosen by the file name: a path
//! ending in `.parquet` is read as Parquet ([`super::parquet`], with the
//! `parquet` feature), anything else as CSV, gzip or not ([`super::table`]).

use std::path::Path;

use ndarray::Array2;

use super::table::{fit_csv, whole, FitTable, PartSink, ReadOptions};
use crate::error::{OddityError, Result};
use crate::table::{Schema, TableOptions};

/// True for a path read (or written) as Parquet: its name ends in `.parquet`.
pub fn is_parquet(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

/// Reads a training table and learns its schema.
pub fn fit_table(path: &Path, read: &ReadOptions, opts: &TableOptions) -> Result<FitTable> {
    if is_parquet(path) {
        #[cfg(feature = "parquet")]
        return super::parquet::fit_parquet(path, read, opts);
        #[cfg(not(feature = "parquet"))]
        return Err(no_parquet(path));
    }
    fit_csv(path, read, opts)
}

/// Reads a table and encodes it with a fitted schema.
pub fn read_table_with(path: &Path, schema: &Schema, read: &ReadOptions) -> Result<(Array2<f32>, Vec<String>)> {
    whole(|sink| read_table_chunks(path, schema, read, usize::MAX, sink))
}

/// [`read_table_with`] in parts of `chunk_rows` rows, handed to `sink` with
/// their first row (0-based): memory stays flat in the table's length.
/// Returns the warnings of the whole table.
pub fn read_table_chunks(
    path: &Path,
    schema: &Schema,
    read: &ReadOptions,
    chunk_rows: usize,
    sink: &mut PartSink,
) -> Result<Vec<String>> {
    if is_parquet(path) {
        #[cfg(feature = "parquet")]
        return super::parquet::read_parquet_chunks(path, schema, read, chunk_rows, sink);
        #[cfg(not(feature = "parquet"))]
        return Err(no_parquet(path));
    }
    super::table::read_csv_chunks(path, schema, read, chunk_rows, sink)
}

/// The error of a build without the `parquet` feature.
pub fn no_parquet(path: &Path) -> OddityError {
    OddityError::param("data", format!("{}: this oddity was built without the `parquet` feature", path.display()))
}
