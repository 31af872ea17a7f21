//! Network weights as the file's named arrays: a libtorch `VarStore` out to
//! `f32` arrays sorted by name, and back in, checked name by name and shape
//! by shape.

use tch::nn::VarStore;
use tch::Tensor;

use crate::error::Result;
use crate::math::tensor::to_vec_f32;
use crate::persist::{DetectorFile, NamedArray};

/// Every variable of `vs` as (name, host values), sorted by name.
pub(crate) fn parameters(vs: &VarStore) -> Vec<(String, Vec<f32>)> {
    let mut v: Vec<(String, Vec<f32>)> =
        vs.variables().into_iter().map(|(k, t)| (k, to_vec_f32(&t.detach()))).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// The variables of `vs` as named `f32` arrays, sorted by name.
pub(crate) fn to_arrays(vs: &VarStore) -> Vec<NamedArray> {
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars.into_iter()
        .map(|(name, t)| {
            let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
            NamedArray::f32(name, &shape, to_vec_f32(&t.detach()))
        })
        .collect()
}

/// Checks, before any network is built, that the file's arrays hold as many
/// values as the networks its config describes (`expected`): a config that
/// asks for a large network cannot make a small file allocate it.
pub(crate) fn check_parameter_count(f: &DetectorFile, expected: u64) -> Result<()> {
    let stored: u64 = f.meta.arrays.iter().map(|a| a.len / 4).sum();
    if stored != expected {
        return Err(f.error(format!("holds {stored} weights, the configured networks have {expected}")));
    }
    Ok(())
}

/// Copies the stored arrays into the variables of `vs`: every variable must
/// be stored with the same shape and finite values, and no stored array may
/// be left over.
pub(crate) fn load_into(f: &DetectorFile, vs: &VarStore) -> Result<()> {
    let vars = vs.variables();
    if vars.len() != f.meta.arrays.len() {
        return Err(f.error(format!(
            "holds {} arrays, the configured network has {} variables",
            f.meta.arrays.len(),
            vars.len()
        )));
    }
    for (name, mut var) in vars {
        let shape: Vec<u64> = var.size().iter().map(|&d| d as u64).collect();
        let values = f.f32s(&name, Some(&shape))?;
        let t = Tensor::from_slice(&values).view(var.size().as_slice()).to_device(var.device());
        tch::no_grad(|| var.copy_(&t));
    }
    Ok(())
}
