//! Dense networks from plain layer configs, their hand-written backward
//! (`Tape`), and the reconstruction features of the mixture detectors.

mod mlp;
pub mod recon;

pub use mlp::*;
