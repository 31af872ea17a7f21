//! Input standardization that belongs to the detector, so that new data gets
//! exactly the transform fitted on the training inliers.

use ndarray::{ArrayView2, Axis};
use serde::{Deserialize, Serialize};

/// Per-feature mean and standard deviation, fitted on training inliers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    /// Per-feature mean.
    pub mean: Vec<f32>,
    /// Per-feature standard deviation; constant features get 1 so they map to 0.
    pub std: Vec<f32>,
}

impl Standardizer {
    /// Fits mean and (population) std in f64, as numpy's `x.mean(0)`, `x.std(0)`.
    pub fn fit(x: &ArrayView2<f32>) -> Self {
        let n = x.nrows().max(1) as f64;
        let mut mean = vec![0f64; x.ncols()];
        for row in x.outer_iter() {
            for (m, &v) in mean.iter_mut().zip(row.iter()) {
                *m += v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0f64; x.ncols()];
        for row in x.axis_iter(Axis(0)) {
            for ((s, &v), m) in var.iter_mut().zip(row.iter()).zip(&mean) {
                let d = v as f64 - m;
                *s += d * d;
            }
        }
        let std = var
            .iter()
            .map(|s| {
                let sd = (s / n).sqrt();
                if sd > 1e-12 {
                    sd as f32
                } else {
                    1.0
                }
            })
            .collect();
        Standardizer { mean: mean.iter().map(|&m| m as f32).collect(), std }
    }

    /// Mean and std as `[1, F]` tensors on `device`.
    pub(crate) fn tensors(&self, device: tch::Device) -> (tch::Tensor, tch::Tensor) {
        let f = self.mean.len() as i64;
        let m = tch::Tensor::from_slice(&self.mean).view([1, f]).to_device(device);
        let s = tch::Tensor::from_slice(&self.std).view([1, f]).to_device(device);
        (m, s)
    }
}
