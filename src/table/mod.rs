//! Tables in: what `fit` learns about the columns of a raw table (roles,
//! vocabularies, medians) and the mapping of its rows to the numeric feature
//! matrix every detector consumes. The [`Schema`] is saved inside the
//! detector file, so a program that scores needs only the raw table.
//!
//! - [`cell`]: what a cell is (a number, missing, or text).
//! - [`schema`]: the [`Schema`] value and its feature layout.
//! - [`options`]: [`TableOptions`], the role overrides and encoding options.
//! - [`fit`]: learning a schema from rows ([`SchemaBuilder`]).
//! - [`encode`]: rows to features with a fitted schema ([`RowEncoder`]).

pub mod cell;
pub mod encode;
pub mod fit;
pub mod options;
pub mod schema;

pub use encode::{EncodeStats, RowEncoder};
pub use fit::SchemaBuilder;
pub use options::TableOptions;
pub use schema::{Column, ColumnKind, Schema};
