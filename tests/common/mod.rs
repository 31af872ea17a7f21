//! Synthetic data shared by the integration tests.
#![allow(dead_code)]

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` standard normal draws (Box–Muller), seeded.
pub fn normals(seed: u64, n: usize) -> Vec<f32> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let u1: f64 = r.random_range(1e-12..1.0);
            let u2: f64 = r.random();
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
        })
        .collect()
}

/// Inliers on a 3-d linear manifold in `f` dimensions plus small noise.
pub fn inliers(seed: u64, n: usize, f: usize) -> Array2<f32> {
    let z = Array2::from_shape_vec((n, 3), normals(seed, n * 3)).unwrap();
    let a = Array2::from_shape_vec((3, f), normals(999, 3 * f)).unwrap();
    z.dot(&a) + Array2::from_shape_vec((n, f), normals(seed + 1, n * f)).unwrap() * 0.1
}

/// Outliers: isotropic, three times wider, off the manifold.
pub fn outliers(seed: u64, n: usize, f: usize) -> Array2<f32> {
    Array2::from_shape_vec((n, f), normals(seed, n * f)).unwrap() * 3.0
}

/// Inliers then outliers, with labels.
pub fn mixed(seed: u64, n_in: usize, n_out: usize, f: usize) -> (Array2<f32>, Vec<bool>) {
    let x = ndarray::concatenate![ndarray::Axis(0), inliers(seed, n_in, f), outliers(seed + 7, n_out, f)];
    let y = (0..n_in + n_out).map(|i| i >= n_in).collect();
    (x, y)
}

pub fn f64s(a: &ndarray::Array1<f32>) -> Vec<f64> {
    a.iter().map(|&v| v as f64).collect()
}

/// Inliers on a `dim`-dimensional linear manifold (plus noise 0.05), for
/// detectors whose latent code is that small.
pub fn manifold(seed: u64, n: usize, f: usize, dim: usize) -> Array2<f32> {
    let z = Array2::from_shape_vec((n, dim), normals(seed, n * dim)).unwrap();
    let a = Array2::from_shape_vec((dim, f), normals(998, dim * f)).unwrap();
    z.dot(&a) + Array2::from_shape_vec((n, f), normals(seed + 1, n * f)).unwrap() * 0.05
}

/// `n_in` manifold inliers then `n_out` outliers, with labels.
pub fn manifold_mixed(seed: u64, n_in: usize, n_out: usize, f: usize, dim: usize) -> (Array2<f32>, Vec<bool>) {
    let x = ndarray::concatenate![ndarray::Axis(0), manifold(seed, n_in, f, dim), outliers(seed + 7, n_out, f)];
    let y = (0..n_in + n_out).map(|i| i >= n_in).collect();
    (x, y)
}
