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
    /// Whether the mixture's loss term trains the encoder and decoder too;
    /// configs and files written before this option existed read as
    /// [`Coupling::EndToEnd`].
    #[serde(default)]
    pub coupling: Coupling,
}

/// Which weights the mixture's loss term (energy and covariance penalty)
/// trains.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Coupling {
    /// DAGMM's end-to-end training: the energy's gradient reaches the
    /// encoder and decoder as well as the estimation network. The paper's
    /// choice for KDD Cup '99, and Alibi Detect's.
    #[default]
    EndToEnd,
    /// The encoder and decoder learn from the reconstruction loss (VAEGMM:
    /// the ELBO) alone; the estimation network learns the memberships of
    /// the codes as they are (the energy's gradient stops at the code).
    /// Why: the energy rewards codes that crowd into dense clusters, and
    /// the encoder and decoder can lower it at the cost of the
    /// reconstruction, which the likelihood score needs on every feature
    /// (docs/defaults.md).
    Detached,
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
            coupling: Coupling::EndToEnd,
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

/// What the instance score of AEGMM and VAEGMM measures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MixtureScore {
    /// DAGMM's sample energy `-log p(z)` of the code and its reconstruction
    /// features. What files written before this option existed score.
    #[default]
    Energy,
    /// `-log p(z) - log p(x | x̂)`: the energy plus the Gaussian negative
    /// log-likelihood of the reconstruction residual `x - x̂`, each feature
    /// with its own variance measured on the training rows after training.
    /// The model's density of the whole row: the mixture prices the code,
    /// the residual term prices what the code leaves out. The energy alone
    /// sees the residual only through two summaries (log-MSE and cosine),
    /// which on some tables rank outliers as normal (docs/results.md).
    Likelihood,
}

/// Per-feature variances of the training rows' reconstruction residuals,
/// for [`MixtureScore::Likelihood`]; saved in the detector file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Residuals {
    /// `mean(r_j²)` over the training rows, plus a floor (see [`Residuals::fit`]).
    pub var: Vec<f32>,
}

impl Residuals {
    /// Mean squared residual per feature over all rows of `x`, streamed in
    /// batches; `reconstruct` maps a batch to its reconstruction. A feature
    /// the network reconstructs exactly would get a zero variance and then
    /// an infinite price for any change, so each variance is floored at
    /// 1e-6 of the mean variance (and at f32's smallest normal number).
    /// `reconstruct` gets the batch's first row index too (VAEGMM seeds its
    /// draws by row).
    pub fn fit(x: &Tensor, batch_size: usize, mut reconstruct: impl FnMut(i64, &Tensor) -> Tensor) -> Result<Self> {
        let f = x.size()[1];
        let mut sum = Tensor::zeros([f], (Kind::Double, x.device()));
        tch::no_grad(|| {
            for (start, xb) in tensor::row_batches(x, batch_size) {
                let r = (&xb - reconstruct(start, &xb)).to_kind(Kind::Double);
                sum += r.square().sum_dim_intlist(0, false, Kind::Double);
            }
        });
        let n = x.size()[0].max(1) as f64;
        let var = Vec::<f64>::try_from(&(sum / n)).map_err(|e| OddityError::Numerical(e.to_string()))?;
        let mean = var.iter().sum::<f64>() / var.len().max(1) as f64;
        let floor = (1e-6 * mean).max(f32::MIN_POSITIVE as f64);
        let var: Vec<f32> = var.iter().map(|&v| v.max(floor) as f32).collect();
        if var.iter().any(|v| !v.is_finite()) {
            return Err(OddityError::Numerical("the reconstruction residuals' variance is not finite".into()));
        }
        Ok(Residuals { var })
    }

    /// A file's extra state: the residual variances, present exactly when
    /// `score` needs them and checked against the detector's width.
    pub(crate) fn from_file(
        f: &crate::persist::DetectorFile,
        score: MixtureScore,
        n_features: usize,
    ) -> Result<Option<Self>> {
        let residuals = f.extra::<Option<Residuals>>()?;
        match (&residuals, score) {
            (None, MixtureScore::Energy) => {}
            (Some(r), MixtureScore::Likelihood) => r.check(n_features).map_err(|e| f.error(e))?,
            (Some(_), MixtureScore::Energy) => return Err(f.error("residual variances in a file scored by energy")),
            (None, MixtureScore::Likelihood) => return Err(f.error("no residual variances for the likelihood score")),
        }
        Ok(residuals)
    }

    /// A file's residuals against the detector's width: one positive,
    /// finite variance per feature.
    pub fn check(&self, n_features: usize) -> std::result::Result<(), String> {
        if self.var.len() != n_features {
            return Err(format!("{} residual variances for {n_features} features", self.var.len()));
        }
        match self.var.iter().position(|v| !(v.is_finite() && *v >= f32::MIN_POSITIVE)) {
            Some(j) => Err(format!("residual variance {} of feature {j} is not a positive normal number", self.var[j])),
            None => Ok(()),
        }
    }

    /// The scoring form on `device`.
    pub fn nll(&self, device: Device) -> ResidualNll {
        let half_inv: Vec<f32> = self.var.iter().map(|&v| (0.5 / v as f64) as f32).collect();
        let constant = self.var.iter().map(|&v| 0.5 * (2.0 * std::f64::consts::PI * v as f64).ln()).sum::<f64>();
        let t = Tensor::from_slice(&half_inv).view([1, -1]).to_device(device);
        ResidualNll { half_inv_t: t, half_inv, constant: constant as f32 }
    }
}

/// The Gaussian negative log-likelihood of a residual, ready to score.
#[derive(Debug)]
pub(crate) struct ResidualNll {
    half_inv_t: Tensor,
    /// `1 / (2 var_j)` on the host.
    pub half_inv: Vec<f32>,
    /// `sum_j ln(2 pi var_j) / 2`.
    pub constant: f32,
}

impl ResidualNll {
    /// `[n]`: `sum_j (x_j - x̂_j)² / (2 var_j) + constant` per row.
    pub fn of(&self, x: &Tensor, xr: &Tensor) -> Tensor {
        ((x - xr).square() * &self.half_inv_t).sum_dim_intlist(-1, false, Kind::Float) + self.constant as f64
    }

    /// Adds each row's term to `out`; `x_t` and `xr_t` are feature-major `[F, n]`.
    pub fn add_host(&self, x_t: &[f32], xr_t: &[f32], n: usize, out: &mut [f32]) {
        for o in out.iter_mut() {
            *o += self.constant;
        }
        for (j, &w) in self.half_inv.iter().enumerate() {
            let (xs, rs) = (&x_t[j * n..(j + 1) * n], &xr_t[j * n..(j + 1) * n]);
            for ((o, a), b) in out.iter_mut().zip(xs).zip(rs) {
                let d = a - b;
                *o += w * d * d;
            }
        }
    }

    pub fn share(&self) -> Self {
        ResidualNll {
            half_inv_t: self.half_inv_t.shallow_clone(),
            half_inv: self.half_inv.clone(),
            constant: self.constant,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Settings written before `coupling` existed train end to end, as they
    /// did; the table-sized defaults detach, the KDD networks do not.
    #[test]
    fn coupling_defaults() {
        let mut v = serde_json::to_value(GmmSettings::default()).unwrap();
        v.as_object_mut().unwrap().remove("coupling");
        let old: GmmSettings = serde_json::from_value(v).unwrap();
        assert_eq!(old.coupling, Coupling::EndToEnd);
        use crate::detectors::{AegmmConfig, VaegmmConfig};
        assert_eq!(AegmmConfig::new(9).gmm.coupling, Coupling::EndToEnd);
        assert_eq!(VaegmmConfig::new(9).gmm.coupling, Coupling::EndToEnd);
        assert_eq!(AegmmConfig::default_for(9).gmm.coupling, Coupling::Detached);
        assert_eq!(VaegmmConfig::default_for(9).gmm.coupling, Coupling::Detached);
        let json = serde_json::to_string(&Coupling::Detached).unwrap();
        assert_eq!(json, "\"detached\"");
    }

    /// 7 rows, 3 features; the third feature is reconstructed exactly.
    fn rows() -> (Vec<f32>, Vec<f32>) {
        let x: Vec<f32> = (0..21).map(|i| ((i * 7 % 11) as f32 - 5.0) / 3.0).collect();
        let mut xr: Vec<f32> = x.iter().map(|v| 0.5 * v).collect();
        for i in 0..7 {
            xr[i * 3 + 2] = x[i * 3 + 2];
        }
        (x, xr)
    }

    #[test]
    fn residual_variances_are_the_mean_squared_residual_streamed_in_batches() {
        let (x, xr) = rows();
        let xt = Tensor::from_slice(&x).view([7, 3]);
        let xrt = Tensor::from_slice(&xr).view([7, 3]);
        // Batches of 3 rows (3 + 3 + 1): the reconstruction is looked up by start row.
        let r = Residuals::fit(&xt, 3, |start, xb| xrt.narrow(0, start, xb.size()[0])).unwrap();
        // Closed form: var_j = mean_i (x_ij - xr_ij)^2; feature 2 is exact, so it
        // gets the floor 1e-6 * mean(var_0, var_1, 0).
        let mut want = [0f64; 3];
        for i in 0..7 {
            for j in 0..3 {
                want[j] += ((x[i * 3 + j] - xr[i * 3 + j]) as f64).powi(2) / 7.0;
            }
        }
        let floor = 1e-6 * (want[0] + want[1]) / 3.0;
        approx::assert_relative_eq!(r.var[0] as f64, want[0], max_relative = 1e-6);
        approx::assert_relative_eq!(r.var[1] as f64, want[1], max_relative = 1e-6);
        approx::assert_relative_eq!(r.var[2] as f64, floor, max_relative = 1e-6);
        assert!(r.check(3).is_ok());
        assert!(r.check(4).is_err());
        assert!(Residuals { var: vec![1.0, 0.0, 1.0] }.check(3).is_err());
    }

    #[test]
    fn residual_nll_is_the_gaussian_negative_log_density() {
        let (x, xr) = rows();
        let res = Residuals { var: vec![0.5, 2.0, 1.0] };
        let nll = res.nll(Device::Cpu);
        let got =
            Vec::<f32>::try_from(&nll.of(&Tensor::from_slice(&x).view([7, 3]), &Tensor::from_slice(&xr).view([7, 3])))
                .unwrap();
        // Closed form: -sum_j log N(x_j; xr_j, var_j).
        for i in 0..7 {
            let want: f64 = (0..3)
                .map(|j| {
                    let (d, v) = ((x[i * 3 + j] - xr[i * 3 + j]) as f64, res.var[j] as f64);
                    d * d / (2.0 * v) + 0.5 * (2.0 * std::f64::consts::PI * v).ln()
                })
                .sum();
            approx::assert_relative_eq!(got[i] as f64, want, max_relative = 1e-5);
        }
        // The host path over feature-major rows agrees.
        let t = |v: &[f32]| (0..3).flat_map(|j| (0..7).map(move |i| v[i * 3 + j])).collect::<Vec<f32>>();
        let mut host = vec![0f32; 7];
        nll.add_host(&t(&x), &t(&xr), 7, &mut host);
        for i in 0..7 {
            approx::assert_relative_eq!(host[i], got[i], max_relative = 1e-5);
        }
    }
}
