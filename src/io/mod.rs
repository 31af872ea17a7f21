//! Reading tables: numeric CSV (`csv`); raw tables through a schema, CSV
//! (`table`) or Parquet (`parquet`), chosen by name (`any`).

pub mod any;
pub mod csv;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod table;
