//! Training: the one loop every detector hands its loss to, its settings
//! (`FitConfig`) and the optimizers.

pub mod config;
pub(crate) mod optim;
mod trainer;

pub(crate) use trainer::*;
