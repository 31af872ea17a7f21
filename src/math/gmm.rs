//! Gaussian mixture on latent codes, as in DAGMM: parameters from soft
//! memberships, sample energy, and the covariance-diagonal penalty.
//!
//! Sample energy is the negative log density of the mixture,
//! `E(z) = -log sum_k phi_k N(z; mu_k, Sigma_k)`. It is computed with a
//! Cholesky factor, a triangular solve and log-sum-exp, never with an explicit
//! inverse or determinant. Being a negative log *density*, it can be negative
//! (a density can exceed 1); only its order matters for detection.
//!
//! Factorisations add `eps * I` to each covariance. When a factorisation fails
//! anyway, the jitter is multiplied by 10 and retried, a bounded number of
//! times; retries are counted in the training report.

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::error::{OddityError, Result};

const LOG_2PI: f64 = 1.837_877_066_409_345_5;

/// Jitter policy and a record of what it had to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Jitter {
    /// Jitter added to every covariance diagonal.
    pub eps: f64,
    /// How many times the jitter may be multiplied by 10 after a failure.
    pub max_steps: usize,
    /// Factorisations that needed more than `eps`.
    pub retries: usize,
    /// Largest jitter that was needed (0 if `eps` always sufficed).
    pub max_used: f64,
}

impl Jitter {
    /// A fresh policy.
    pub fn new(eps: f64, max_steps: usize) -> Self {
        Jitter { eps, max_steps, retries: 0, max_used: 0.0 }
    }
}

/// Mixture parameters as tensors: `phi [K]`, `mu [K, D]`, `cov [K, D, D]`,
/// `chol [K, D, D]` (lower Cholesky factor of `cov + jitter I`) and
/// `log_det [K]` (= log |cov + jitter I|).
#[derive(Debug)]
pub struct GmmParams {
    /// Mixture weights.
    pub phi: Tensor,
    /// Component means.
    pub mu: Tensor,
    /// Component covariances (without jitter).
    pub cov: Tensor,
    /// Lower Cholesky factors of `cov + jitter I`.
    pub chol: Tensor,
    /// Log-determinants of `cov + jitter I`.
    pub log_det: Tensor,
    /// The jitter the factorisation used.
    pub jitter: f64,
}

/// Estimates the mixture from latent codes `z [N, D]` and memberships
/// `gamma [N, K]` (rows sum to 1). Differentiable; used on every batch.
pub fn gmm_params(z: &Tensor, gamma: &Tensor, jitter: &mut Jitter) -> Result<GmmParams> {
    let n = z.size()[0] as f64;
    let sum_gamma = gamma.sum_dim_intlist(0, false, None); // K
    let phi = &sum_gamma / n;
    // An empty component would divide by 0; its mean and covariance are then 0
    // and its weight 0, which the energy handles.
    let denom = sum_gamma.clamp_min(1e-12);
    let mu = gamma.tr().matmul(z) / denom.unsqueeze(-1); // K x D
    let diff = z.unsqueeze(1) - mu.unsqueeze(0); // N x K x D
                                                 // sum_n gamma_nk diff_nk diff_nk^T as one batched matmul over k.
    let weighted = diff.permute([1, 2, 0]) * gamma.tr().unsqueeze(1); // K x D x N
    let cov = weighted.bmm(&diff.permute([1, 0, 2])) / denom.view([-1, 1, 1]);
    let (chol, used) = cholesky(&cov, jitter)?;
    let log_det = chol.diagonal(0, -2, -1).log().sum_dim_intlist(-1, false, None) * 2.0;
    Ok(GmmParams { phi, mu, cov, chol, log_det, jitter: used })
}

/// The error for a batch whose latent codes went NaN or infinite.
pub(crate) fn diverged() -> OddityError {
    OddityError::Numerical(
        "GMM covariance has NaN or infinite entries (latent codes diverged); try a lower learning rate or gradient clipping".into(),
    )
}

/// Cholesky factor of `cov + eps I`, escalating the jitter on failure.
///
/// The hot path reads the device once per call (the factorisation status).
/// NaN or infinite entries make the factorisation fail too (LAPACK checks
/// each pivot for NaN), so finiteness is only examined after a failure, to
/// tell diverged codes from a covariance that merely needs more jitter.
fn cholesky(cov: &Tensor, jitter: &mut Jitter) -> Result<(Tensor, f64)> {
    let d = *cov.size().last().unwrap_or(&1);
    let eye = Tensor::eye(d, (cov.kind(), cov.device()));
    let mut eps = jitter.eps;
    for step in 0..=jitter.max_steps {
        let (l, info) = (cov + &eye * eps).linalg_cholesky_ex(false, false);
        let bad = info.abs().max().int64_value(&[]);
        if bad == 0 {
            if step > 0 {
                jitter.retries += 1;
                jitter.max_used = jitter.max_used.max(eps);
            }
            return Ok((l, eps));
        }
        if step == 0 && cov.isfinite().all().int64_value(&[]) != 1 {
            return Err(diverged());
        }
        eps *= 10.0;
    }
    let info = (cov + &eye * (eps / 10.0)).linalg_cholesky_ex(false, false).1;
    let component = info.abs().argmax(None, false).int64_value(&[]) as usize;
    Err(OddityError::Cholesky { component, jitter: eps / 10.0 })
}

/// Sample energy `[N]` of `z [N, D]` under `p`.
pub fn energy(z: &Tensor, p: &GmmParams) -> Tensor {
    let d = z.size()[1] as f64;
    let diff = (z.unsqueeze(1) - p.mu.unsqueeze(0)).permute([1, 2, 0]); // K x D x N
    let v = p.chol.linalg_solve_triangular(&diff, false, true, false); // K x D x N
    let maha = v.square().sum_dim_intlist(1, false, None); // K x N
    let log_phi = p.phi.clamp_min(1e-30).log().unsqueeze(1);
    let logits = log_phi - (maha + p.log_det.unsqueeze(1) + d * LOG_2PI) * 0.5;
    -logits.logsumexp(0, false)
}

/// The covariance-diagonal penalty `sum_k sum_d 1 / Sigma_k[d, d]`, taken on
/// the jittered covariance so that it stays finite when a variance collapses.
pub fn cov_diag_penalty(p: &GmmParams) -> Tensor {
    (p.cov.diagonal(0, -2, -1) + p.jitter).reciprocal().sum(p.cov.kind())
}

/// Streaming, exact estimate of the mixture over many batches: sums of
/// `gamma`, `gamma z` and `gamma z z^T` accumulated in f64, so memory does not
/// grow with the number of rows.
#[derive(Debug)]
pub struct GmmAccumulator {
    n: f64,
    s: Tensor,
    sz: Tensor,
    szz: Tensor,
}

impl GmmAccumulator {
    /// An empty accumulator for `k` components in `d` dimensions.
    pub fn new(k: usize, d: usize, device: Device) -> Self {
        let (k, d) = (k as i64, d as i64);
        let o = (Kind::Double, device);
        GmmAccumulator {
            n: 0.0,
            s: Tensor::zeros([k], o),
            sz: Tensor::zeros([k, d], o),
            szz: Tensor::zeros([k, d, d], o),
        }
    }

    /// Adds a batch of latent codes and memberships.
    pub fn add(&mut self, z: &Tensor, gamma: &Tensor) {
        tch::no_grad(|| {
            let z = z.to_kind(Kind::Double);
            let g = gamma.to_kind(Kind::Double);
            self.n += z.size()[0] as f64;
            self.s += g.sum_dim_intlist(0, false, None);
            self.sz += g.tr().matmul(&z);
            self.szz += Tensor::einsum("nk,nd,ne->kde", &[&g, &z, &z], None::<i64>);
        })
    }

    /// The mixture over everything added so far.
    pub fn finish(&self, jitter: &mut Jitter) -> Result<GmmState> {
        if self.n == 0.0 {
            return Err(OddityError::EmptyInput("no rows to estimate the GMM from".into()));
        }
        tch::no_grad(|| {
            let phi = &self.s / self.n;
            let denom = self.s.clamp_min(1e-300);
            let mu = &self.sz / denom.unsqueeze(-1);
            let outer = mu.unsqueeze(-1) * mu.unsqueeze(1);
            let cov = &self.szz / denom.view([-1, 1, 1]) - outer;
            let cov = (&cov + cov.transpose(-1, -2)) * 0.5;
            GmmState::from_parts(&phi, &mu, &cov, jitter)
        })
    }
}

/// A fitted mixture stored in the detector (f64, on the host), with the
/// pieces scoring needs precomputed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GmmState {
    /// Components.
    pub k: usize,
    /// Latent dimensions.
    pub d: usize,
    /// Mixture weights `[K]`.
    pub phi: Vec<f64>,
    /// Means `[K * D]`, row-major.
    pub mu: Vec<f64>,
    /// Covariances `[K * D * D]`, row-major, without jitter.
    pub cov: Vec<f64>,
    /// Lower Cholesky factors of `cov + jitter I`, `[K * D * D]`.
    pub chol: Vec<f64>,
    /// `log |cov + jitter I|` per component.
    pub log_det: Vec<f64>,
    /// The jitter used.
    pub jitter: f64,
}

fn to_vec(t: &Tensor) -> Vec<f64> {
    let t = t.to_kind(Kind::Double).to_device(Device::Cpu).contiguous().view([-1]);
    let mut v = vec![0f64; t.numel()];
    t.copy_data(&mut v, t.numel());
    v
}

impl GmmState {
    /// Builds the state from `phi [K]`, `mu [K, D]`, `cov [K, D, D]`.
    pub fn from_parts(phi: &Tensor, mu: &Tensor, cov: &Tensor, jitter: &mut Jitter) -> Result<GmmState> {
        let cov = cov.to_kind(Kind::Double);
        let (chol, used) = cholesky(&cov, jitter)?;
        let log_det = chol.diagonal(0, -2, -1).log().sum_dim_intlist(-1, false, None) * 2.0;
        let s = mu.size();
        Ok(GmmState {
            k: s[0] as usize,
            d: s[1] as usize,
            phi: to_vec(phi),
            mu: to_vec(mu),
            cov: to_vec(&cov),
            chol: to_vec(&chol),
            log_det: to_vec(&log_det),
            jitter: used,
        })
    }

    /// Checks internal consistency (used when loading untrusted files).
    pub fn validate(&self) -> Result<()> {
        let (k, d) = (self.k, self.d);
        let kd = k.checked_mul(d);
        let kdd = kd.and_then(|v| v.checked_mul(d));
        let ok = k > 0
            && d > 0
            && self.phi.len() == k
            && Some(self.mu.len()) == kd
            && Some(self.cov.len()) == kdd
            && Some(self.chol.len()) == kdd
            && self.log_det.len() == k;
        if !ok {
            return Err(OddityError::Numerical(format!("GMM state arrays do not match K={k}, D={d}")));
        }
        let all = self.phi.iter().chain(&self.mu).chain(&self.cov).chain(&self.chol).chain(&self.log_det);
        if all.clone().any(|v| !v.is_finite()) || !(self.jitter.is_finite() && self.jitter >= 0.0) {
            return Err(OddityError::Numerical("GMM state holds non-finite values".into()));
        }
        let bad = |why: String| Err(OddityError::Numerical(format!("GMM state: {why}")));
        if k > crate::validate::bounds::MAX_COMPONENTS
            || d.saturating_mul(d).saturating_mul(k) as u64 > crate::validate::bounds::MAX_PARAMETERS
        {
            return bad(format!("K={k}, D={d} is beyond the bounds"));
        }
        // Mixture weights: positive, summing to one.
        let sum: f64 = self.phi.iter().sum();
        if self.phi.iter().any(|&p| p <= 0.0) || (sum - 1.0).abs() > 1e-6 {
            return bad(format!("mixture weights must be positive and sum to 1 (sum {sum})"));
        }
        for c in 0..k {
            let l = &self.chol[c * d * d..(c + 1) * d * d];
            // A Cholesky factor: lower triangular, positive diagonal, and
            // log_det = 2 sum(ln diag).
            if (0..d).any(|i| l[i * d + i] <= 0.0) || (0..d).any(|i| (i + 1..d).any(|j| l[i * d + j] != 0.0)) {
                return bad(format!(
                    "component {c}: the Cholesky factor is not lower triangular with a positive diagonal"
                ));
            }
            let ld: f64 = (0..d).map(|i| 2.0 * l[i * d + i].ln()).sum();
            if (ld - self.log_det[c]).abs() > 1e-6 * ld.abs().max(1.0) {
                return bad(format!("component {c}: log_det {} does not match its factor ({ld})", self.log_det[c]));
            }
        }
        Ok(())
    }

    /// The scoring form of this mixture on `device`.
    pub fn scorer(&self, device: Device) -> GmmScorer {
        let (k, d) = (self.k as i64, self.d as i64);
        let o = (Kind::Double, Device::Cpu);
        let chol = Tensor::from_slice(&self.chol).view([k, d, d]);
        let eye = Tensor::eye(d, o).expand([k, d, d], false);
        // L^-1 per component, by triangular solve against I.
        let linv = chol.linalg_solve_triangular(&eye, false, true, false); // K x D x D
                                                                           // v_k = L_k^-1 z - L_k^-1 mu_k for all k with one matmul: z @ W - b.
        let w = linv.permute([2, 0, 1]).reshape([d, k * d]);
        let mu = Tensor::from_slice(&self.mu).view([k, d, 1]);
        let b = linv.matmul(&mu).view([k * d]);
        let phi = Tensor::from_slice(&self.phi).clamp_min(1e-300);
        let log_det = Tensor::from_slice(&self.log_det);
        let log_coef = phi.log() - (log_det + d as f64 * LOG_2PI) * 0.5;
        let (w, b, log_coef) = (w.to_device(device), b.to_device(device), log_coef.to_device(device));
        let f32s = (w.to_kind(Kind::Float), b.to_kind(Kind::Float), log_coef.to_kind(Kind::Float));
        GmmScorer { k, d, w, b, log_coef, f32s }
    }
}

/// A fitted mixture ready to score on a device.
#[derive(Debug)]
pub struct GmmScorer {
    k: i64,
    d: i64,
    w: Tensor,
    b: Tensor,
    log_coef: Tensor,
    /// The same in f32, for f32 codes.
    f32s: (Tensor, Tensor, Tensor),
}

impl GmmScorer {
    /// A copy sharing the same tensors, for another thread.
    pub(crate) fn share(&self) -> GmmScorer {
        let f = &self.f32s;
        GmmScorer {
            k: self.k,
            d: self.d,
            w: self.w.shallow_clone(),
            b: self.b.shallow_clone(),
            log_coef: self.log_coef.shallow_clone(),
            f32s: (f.0.shallow_clone(), f.1.shallow_clone(), f.2.shallow_clone()),
        }
    }

    /// Log density `log p(z)` per row of `z [N, D]`. f32 codes (what the
    /// networks produce) are scored in f32, a few % faster and exact
    /// enough for ranking (relative error ~1e-7); any other dtype in f64.
    pub fn log_likelihood(&self, z: &Tensor) -> Tensor {
        let n = z.size()[0];
        let (z, w, b, c) = if z.kind() == Kind::Float {
            (z.shallow_clone(), &self.f32s.0, &self.f32s.1, &self.f32s.2)
        } else {
            (z.to_kind(Kind::Double), &self.w, &self.b, &self.log_coef)
        };
        let v = (z.matmul(w) - b).view([n, self.k, self.d]);
        let maha = v.square().sum_dim_intlist(-1, false, None); // N x K
        (c - maha * 0.5).logsumexp(-1, false)
    }

    /// Sample energy `-log p(z)` per row.
    pub fn energy(&self, z: &Tensor) -> Tensor {
        -self.log_likelihood(z)
    }

    /// The f32 scorer as host arrays, for the CPU scoring tail.
    pub(crate) fn host(&self) -> Result<HostGmm> {
        let v = |t: &Tensor| {
            Vec::<f32>::try_from(&t.to_device(Device::Cpu).reshape([-1]))
                .map_err(|e| OddityError::Numerical(e.to_string()))
        };
        Ok(HostGmm {
            k: self.k as usize,
            d: self.d as usize,
            w: v(&self.f32s.0)?,
            b: v(&self.f32s.1)?,
            c: v(&self.f32s.2)?,
        })
    }
}

/// [`GmmScorer`]'s f32 form on the host: the same formula, over a batch
/// held dimension-major.
#[derive(Debug, Clone)]
pub(crate) struct HostGmm {
    k: usize,
    d: usize,
    /// `[D, K*D]`: every component's whitening, side by side.
    w: Vec<f32>,
    /// `[K*D]`: the whitened means.
    b: Vec<f32>,
    /// `[K]`: `log phi_k - (log det Sigma_k + D log 2 pi) / 2`.
    c: Vec<f32>,
}

impl HostGmm {
    /// Code width D.
    pub(crate) fn dim(&self) -> usize {
        self.d
    }

    /// Sample energies `-log p(z)` of `n` codes held dimension-major (`z`:
    /// `[D, n]`), into `out` (`n`); `scratch` is reused between calls.
    /// Dimension-major, every loop but the last runs over contiguous rows and
    /// vectorizes.
    pub(crate) fn energies(&self, z: &[f32], n: usize, scratch: &mut Vec<f32>, out: &mut [f32]) {
        let (k, d, kd) = (self.k, self.d, self.k * self.d);
        scratch.clear();
        scratch.resize((kd + k) * n, 0.0);
        let (v, a) = scratch.split_at_mut(kd * n);
        // v_j = sum_i z_i W[i, j] - b_j: every component's whitened code.
        for (j, vj) in v.chunks_exact_mut(n).enumerate() {
            vj.iter_mut().for_each(|v| *v = -self.b[j]);
            for (i, zi) in z.chunks_exact(n).enumerate() {
                let w = self.w[i * kd + j];
                vj.iter_mut().zip(zi).for_each(|(v, &z)| *v += z * w);
            }
        }
        // a_k = log phi_k - (log det + D log 2 pi) / 2 - |v_k|^2 / 2.
        for ((ak, vk), &c) in a.chunks_exact_mut(n).zip(v.chunks_exact(d * n)).zip(&self.c) {
            ak.iter_mut().for_each(|a| *a = 0.0);
            for vj in vk.chunks_exact(n) {
                ak.iter_mut().zip(vj).for_each(|(a, &v)| *a += v * v);
            }
            ak.iter_mut().for_each(|a| *a = c - 0.5 * *a);
        }
        // -logsumexp_k a_k per row; exp(0) = 1 needs no call.
        for (r, e) in out.iter_mut().enumerate().take(n) {
            let ar = || a.chunks_exact(n).map(|ak| ak[r]);
            let max = ar().fold(f32::NEG_INFINITY, f32::max);
            *e = if ar().any(f32::is_nan) {
                f32::NAN
            } else if !max.is_finite() {
                -max
            } else {
                let sum: f32 = ar().map(|x| if x == max { 1.0 } else { (x - max).exp() }).sum();
                -(max + sum.ln())
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host scorer gives the tensor scorer's energies (f64 reference) on
    /// a full-covariance 3-component mixture, a far-out row and a NaN code
    /// included.
    #[test]
    fn host_energy_matches_scorer() {
        let o = (Kind::Double, Device::Cpu);
        let phi = Tensor::from_slice(&[0.5f64, 0.3, 0.2]);
        let mu = Tensor::from_slice(&[0.0f64, 0.0, 0.0, 2.0, -1.0, 0.5, -3.0, 1.0, 1.0]).view([3, 3]);
        let a = Tensor::randn([3, 3, 3], o);
        let cov = a.matmul(&a.transpose(1, 2)) + Tensor::eye(3, o) * 0.5;
        let state = GmmState::from_parts(&phi, &mu, &cov, &mut Jitter::new(1e-6, 3)).unwrap();
        let z = Tensor::cat(&[Tensor::randn([50, 3], o) * 2.0, Tensor::full([1, 3], 40.0, o)], 0);
        let want = Vec::<f64>::try_from(state.scorer(Device::Cpu).energy(&z)).unwrap();
        let host = state.scorer(Device::Cpu).host().unwrap();
        let z = z.to_kind(Kind::Float);
        let _ = z.get(3).get(1).fill_(f64::NAN);
        let zt = Vec::<f32>::try_from(z.tr().contiguous().reshape([-1])).unwrap();
        let (mut scratch, mut got) = (Vec::new(), vec![0f32; 51]);
        host.energies(&zt, 51, &mut scratch, &mut got);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            if i == 3 {
                assert!(g.is_nan(), "a NaN code has a NaN energy, not {g}");
                continue;
            }
            let g = *g as f64;
            assert!((g - w).abs() <= 1e-4 * w.abs().max(1.0), "row {i}: {g} vs {w}");
        }
    }
}
