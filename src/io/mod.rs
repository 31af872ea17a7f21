//! Reading tables: numeric CSV.

pub mod csv;
