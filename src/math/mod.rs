//! Numerics below the networks: mixture math and its hand-written gradient,
//! numpy-exact percentiles, seeded randomness, the standardizer, and the
//! bridge between ndarray rows and libtorch tensors.

pub mod gmm;
pub(crate) mod gmm_grad;
pub mod percentile;
pub(crate) mod rng;
pub mod scale;
pub mod tensor;
