//! Pieces AEGMM and VAEGMM share: the estimation (density) network, the
//! batch GMM loss terms, the streaming GMM fit after training, and scoring by
//! sample energy.

use ndarray::{Array1, ArrayView2};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use super::runtime;
use crate::error::{OddityError, Result};
use crate::math::gmm::{cov_diag_penalty, energy, gmm_params, GmmAccumulator, GmmState, Jitter};
use crate::math::tensor;
use crate::nn::{check_layers, Activation, Layer, Mlp};
use crate::validate::{check_non_negative, check_positive};

/// Settings of the mixture and its loss terms, shared by AEGMM and VAEGMM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GmmSettings {
    /// Mixture components.
    pub n_gmm: usize,
    /// Hidden layers of the estimation network; a softmax layer of `n_gmm`
    /// units is appended.
    pub density: Vec<Layer>,
    /// Weight of the mean sample energy in the loss (DAGMM's lambda_1).
    pub w_energy: f64,
    /// Weight of the covariance-diagonal penalty (DAGMM's lambda_2).
    pub w_cov_diag: f64,
    /// Jitter added to covariance diagonals before factorising.
    pub gmm_eps: f64,
    /// Times the jitter may grow tenfold when a factorisation fails.
    pub max_jitter_steps: usize,
}

impl Default for GmmSettings {
    fn default() -> Self {
        GmmSettings {
            n_gmm: 2,
            density: vec![Layer::new(10, Activation::Tanh)],
            w_energy: 0.1,
            w_cov_diag: 0.005,
            gmm_eps: 1e-6,
            max_jitter_steps: 6,
        }
    }
}

impl GmmSettings {
    pub(crate) fn validate(&self, z_dim: usize) -> Result<()> {
        crate::validate::check_size("n_gmm", self.n_gmm, crate::validate::bounds::MAX_COMPONENTS)?;
        // The mixture holds K covariance matrices of D x D values (f64, with
        // their factors and the fit's sums): bounded like the weights.
        let mixture = (z_dim as u64).saturating_mul(z_dim as u64).saturating_mul(self.n_gmm as u64);
        if mixture > crate::validate::bounds::MAX_PARAMETERS {
            return Err(OddityError::param(
                "n_gmm",
                format!("{} components of {z_dim} x {z_dim} covariances are above the bound", self.n_gmm),
            ));
        }
        check_layers("density", z_dim, &self.density)?;
        if self.max_jitter_steps > 30 {
            return Err(OddityError::param("max_jitter_steps", format!("{} is above 30", self.max_jitter_steps)));
        }
        check_non_negative("w_energy", self.w_energy)?;
        check_non_negative("w_cov_diag", self.w_cov_diag)?;
        check_positive("gmm_eps", self.gmm_eps)
    }

    /// Weights of the estimation network on a `z_dim`-wide input.
    pub(crate) fn parameter_count(&self, z_dim: usize) -> u64 {
        crate::nn::parameter_count(z_dim, &self.density_layers())
    }

    pub(crate) fn density_layers(&self) -> Vec<Layer> {
        let mut l = self.density.clone();
        l.push(Layer::new(self.n_gmm, Activation::Linear));
        l
    }

    pub(crate) fn jitter(&self) -> Jitter {
        Jitter::new(self.gmm_eps, self.max_jitter_steps)
    }
}

/// Soft memberships from the estimation network.
pub(crate) fn memberships(density: &Mlp, z: &Tensor, train: bool) -> Tensor {
    density.forward(z, train).softmax(-1, Kind::Float)
}

/// `w_energy * mean energy + w_cov_diag * penalty` with batch GMM parameters.
pub(crate) fn gmm_loss(z: &Tensor, gamma: &Tensor, s: &GmmSettings, jitter: &mut Jitter) -> Result<Tensor> {
    let p = gmm_params(z, gamma, jitter)?;
    Ok(energy(z, &p).mean(Kind::Float) * s.w_energy + cov_diag_penalty(&p) * s.w_cov_diag)
}

/// The GMM loss term for a training step on the CPU, differentiated by hand:
/// memberships from the taped estimation network, then the loss and its
/// gradient on the host ([`crate::math::gmm_grad`]). Same value as
/// `gmm_loss(z, memberships(density, z, true), ..)`, at a fraction of the
/// ops. Returns the loss value and a function giving dL/dz (through both
/// the mixture and the estimation network, whose weights' gradients it
/// accumulates).
pub(crate) fn gmm_loss_by_hand(
    density: &Mlp,
    z: &Tensor,
    s: &GmmSettings,
    jitter: &mut Jitter,
) -> Result<(f64, impl FnOnce() -> Tensor + 'static)> {
    let zd = z.detach().contiguous();
    let (logits, tape) = density.forward_taped(&zd, true);
    let gamma = tch::no_grad(|| logits.softmax(-1, Kind::Float));
    let (n, d) = (zd.size()[0] as usize, zd.size()[1] as usize);
    let host = |t: &Tensor| Vec::<f32>::try_from(&t.reshape([-1])).map_err(|e| OddityError::Numerical(e.to_string()));
    let r = crate::math::gmm_grad::loss_and_grad(
        &host(&zd)?,
        &host(&gamma)?,
        n,
        d,
        s.n_gmm,
        s.w_energy,
        s.w_cov_diag,
        jitter,
    )?;
    let (shape, device) = ([n as i64, d as i64], z.device());
    let back = move || {
        tch::no_grad(|| {
            let dgamma = Tensor::from_slice(&r.dgamma).view([n as i64, -1]).to_device(device);
            // Softmax backward: gamma * (dgamma - sum_k gamma_k dgamma_k).
            let dlogits = &gamma * (&dgamma - (&gamma * &dgamma).sum_dim_intlist(-1, true, None));
            let dz = Tensor::from_slice(&r.dz).view(shape).to_device(device);
            match tape.backward(&dlogits, true) {
                Some(via_density) => dz + via_density,
                None => dz,
            }
        })
    };
    Ok((r.value, back))
}

/// Exact GMM over all rows of `x`, streamed in batches; `forward` maps a
/// batch (and its first row index) to `(z, gamma)`.
pub(crate) fn estimate(
    x: &Tensor,
    batch_size: usize,
    s: &GmmSettings,
    z_dim: usize,
    jitter: &mut Jitter,
    mut forward: impl FnMut(i64, &Tensor) -> (Tensor, Tensor),
) -> Result<GmmState> {
    let mut acc = GmmAccumulator::new(s.n_gmm, z_dim, x.device());
    tch::no_grad(|| {
        for (start, xb) in tensor::row_batches(x, batch_size) {
            let (z, gamma) = forward(start, &xb);
            acc.add(&z, &gamma);
        }
    });
    acc.finish(jitter)
}

/// Scores rows of `x` in batches by sample energy; `make` builds, per
/// worker, a function from a prepared batch (laid out as `layout` says) to
/// one energy per row (see
/// [`runtime::score_rows`]).
pub(crate) fn score_energy<F>(
    x: &ArrayView2<f32>,
    layout: runtime::ScoreLayout,
    device: Device,
    make: impl Fn() -> F,
) -> Result<Array1<f32>>
where
    F: FnMut(&runtime::Batch) -> Result<Tensor> + Send,
{
    let layout = runtime::ScoreLayout { width: 1, ..layout };
    Ok(Array1::from(runtime::score_rows(x, layout, device, make)?))
}
