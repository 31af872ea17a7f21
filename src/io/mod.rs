//! Reading tables: numeric CSV (`csv`), and raw tables through a schema
//! (`table`).

pub mod csv;
pub mod table;
