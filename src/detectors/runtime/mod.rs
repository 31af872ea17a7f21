//! What every detector shares: its state, the fit and scoring preambles,
//! the scoring worker pool, and network weights as file arrays.

pub(crate) mod host;
pub(crate) mod pool;
pub mod state;
pub(crate) mod weights;

pub(crate) use host::{host_only, parallel_rows};
pub(crate) use pool::{guard, score_rows, Batch, ScoreLayout};
pub use state::DetectorState;
pub(crate) use state::{check_score, check_score_shape, prepare_fit};
