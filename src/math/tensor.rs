//! Moving ndarray rows to libtorch tensors and back, and the standardization
//! applied on the device: the bridge every layer above uses.

use ndarray::{s, ArrayView2};
use tch::{Device, Kind, Tensor};

use crate::error::{OddityError, Result};
use crate::math::scale::Standardizer;

/// Copies rows of `x` into a `[rows, cols]` f32 tensor on `device`.
pub(crate) fn to_tensor(x: &ArrayView2<f32>, device: Device) -> Result<Tensor> {
    let (r, c) = (x.nrows() as i64, x.ncols() as i64);
    let std = x.as_standard_layout();
    let slice = std.as_slice().ok_or_else(|| OddityError::Numerical("input is not contiguous".into()))?;
    Ok(Tensor::from_slice(slice).view([r, c]).to_device(device))
}

/// Copies a tensor (any shape) to a host `Vec<f32>`.
pub(crate) fn to_vec_f32(t: &Tensor) -> Vec<f32> {
    let t = t.to_kind(Kind::Float).to_device(Device::Cpu).contiguous().view([-1]);
    let n = t.numel();
    let mut v = vec![0f32; n];
    t.copy_data(&mut v, n);
    v
}

/// Applies the fitted standardization, if any, on the device.
pub(crate) struct Transform {
    ms: Option<(Tensor, Tensor)>,
}

impl Transform {
    pub fn new(scaler: Option<&Standardizer>, device: Device) -> Self {
        Transform { ms: scaler.map(|s| s.tensors(device)) }
    }

    pub fn apply(&self, x: Tensor) -> Tensor {
        match &self.ms {
            Some((m, s)) => (x - m) / s,
            None => x,
        }
    }
}

/// Runs `f` on consecutive row batches of `x`, moved to `device` and transformed.
pub(crate) fn for_batches(
    x: &ArrayView2<f32>,
    batch_size: usize,
    device: Device,
    transform: &Transform,
    mut f: impl FnMut(usize, Tensor) -> Result<()>,
) -> Result<()> {
    let n = x.nrows();
    let mut start = 0;
    while start < n {
        let end = (start + batch_size).min(n);
        let xb = transform.apply(to_tensor(&x.slice(s![start..end, ..]), device)?);
        f(start, xb)?;
        start = end;
    }
    Ok(())
}

/// Consecutive row batches `(first row, rows)` of a tensor already on the
/// device: the device-side counterpart of [`for_batches`].
pub(crate) fn row_batches(x: &Tensor, batch_size: usize) -> impl Iterator<Item = (i64, Tensor)> + '_ {
    let n = x.size()[0];
    let bs = batch_size.max(1) as i64;
    (0..n).step_by(bs as usize).map(move |start| (start, x.narrow(0, start, bs.min(n - start))))
}

/// `a + b` where `b` is a leaf's gradient that may never have been written
/// (undefined when no loss term reached the leaf).
pub(crate) fn plus_grad(a: Tensor, b: Tensor) -> Tensor {
    if b.defined() {
        a + b
    } else {
        a
    }
}
