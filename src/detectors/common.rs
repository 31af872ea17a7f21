//! Plumbing every detector shares: moving ndarray batches to the device,
//! standardization, the fit preamble, and fitted state.

use ndarray::{s, ArrayView2};
use tch::{Device, Kind, Tensor};

use crate::error::{OddityError, Result};
use crate::fit::{FitConfig, TrainReport};
use crate::scale::Standardizer;
use crate::train;
use crate::validate::check_features;

/// What a detector knows once fitted, apart from its weights.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fitted {
    pub fitted: bool,
    pub threshold: Option<f64>,
    pub scaler: Option<Standardizer>,
    pub report: Option<TrainReport>,
}

impl Fitted {
    pub fn set_threshold(&mut self, t: f64) -> Result<()> {
        if !t.is_finite() {
            return Err(OddityError::param("threshold", format!("{t} is not finite")));
        }
        self.threshold = Some(t);
        Ok(())
    }
}

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

/// Training data after the fit preamble.
pub(crate) struct Prepared {
    pub scaler: Option<Standardizer>,
    /// Every row, transformed, on the device.
    pub all: Tensor,
    /// Rows to train on.
    pub train: Tensor,
    /// Held-out rows, if a validation split was asked for.
    pub val: Option<Tensor>,
}

/// The fit preamble: validates, fits the scaler if asked, moves the data to
/// the device, and splits off validation rows.
pub(crate) fn prepare_fit(
    x: &ArrayView2<f32>,
    n_features: usize,
    standardize: bool,
    cfg: &FitConfig,
    device: Device,
) -> Result<Prepared> {
    cfg.validate()?;
    check_features(x, n_features, "training data")?;
    let scaler = standardize.then(|| Standardizer::fit(x));
    let all = Transform::new(scaler.as_ref(), device).apply(to_tensor(x, device)?);
    let (tr, va) = train::split_rows(x.nrows(), cfg)?;
    if va.is_empty() {
        let train = all.shallow_clone();
        return Ok(Prepared { scaler, all, train, val: None });
    }
    let idx = |v: &[i64]| Tensor::from_slice(v).to_device(device);
    let train = all.index_select(0, &idx(&tr));
    let val = Some(all.index_select(0, &idx(&va)));
    Ok(Prepared { scaler, all, train, val })
}

/// Checks a scoring call: fitted, right width, finite.
pub(crate) fn check_score(name: &'static str, fitted: &Fitted, x: &ArrayView2<f32>, n_features: usize) -> Result<()> {
    if !fitted.fitted {
        return Err(OddityError::NotFitted(name));
    }
    check_features(x, n_features, "input")
}

/// A config as JSON, for the detector file.
pub(crate) fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| OddityError::Numerical(format!("cannot encode config: {e}")))
}

/// Every variable of `vs` as (name, host values), sorted by name.
pub(crate) fn parameters(vs: &tch::nn::VarStore) -> Vec<(String, Vec<f32>)> {
    let mut v: Vec<(String, Vec<f32>)> =
        vs.variables().into_iter().map(|(k, t)| (k, to_vec_f32(&t.detach()))).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Writes a detector file (atomically) from its parts.
pub(crate) fn save<C: serde::Serialize>(
    path: &std::path::Path,
    kind: crate::detector::DetectorKind,
    cfg: &C,
    extra: &impl serde::Serialize,
    vs: &tch::nn::VarStore,
    state: &Fitted,
    gmm: Option<&crate::gmm::GmmState>,
) -> Result<()> {
    let device = vs.device();
    let payload =
        crate::persist::Payload { kind, config_json: json(cfg)?, extra_json: json(extra)?, vs, state, gmm, device };
    crate::persist::write(path, &payload)
}
