//! DAGMM's batch GMM loss and its gradient in closed form, computed on the
//! host in f64: the CPU training fast path of AEGMM and VAEGMM.
//!
//! The loss is `w_energy * mean_n E(z_n) + w_cov_diag * sum_k sum_d 1 /
//! (Sigma_k[d, d] + eps)`, with the mixture (`phi`, `mu`, `Sigma`) estimated
//! from the batch's memberships, exactly as [`crate::math::gmm::gmm_params`],
//! [`crate::math::gmm::energy`] and [`crate::math::gmm::cov_diag_penalty`] compute it
//! with tensors. Here it is a few loops over `N x K x D^2` numbers. Through
//! autograd the same loss is about 80 libtorch ops forward and as many
//! backward, each costing microseconds of dispatch on tensors of a few
//! thousand elements: most of a training step (docs/benchmarks.md). The
//! tensor version stays for other devices, and the tests check one against
//! the other.
//!
//! Derivation, with `r_nk` the posterior of component k for row n and
//! `g_nk = -w_energy r_nk / N` the gradient of the loss on the component's
//! log-term `l_nk = log phi_k - (d^T P_k d + log|A_k| + D log 2 pi) / 2`,
//! `d = z_n - mu_k`, `A_k = Sigma_k + eps I`, `P_k = A_k^-1`:
//! - `dL/dphi_k = sum_n g_nk / phi_k`;
//! - `dL/dA_k = (P_k (sum_n g_nk d d^T) P_k - (sum_n g_nk) P_k) / 2`, plus the
//!   penalty's `-w_cov_diag / (Sigma_k[d, d] + eps)^2` on the diagonal;
//! - `dL/dd` (direct) `= -g_nk P_k d`, and through `Sigma_k = sum_n gamma_nk
//!   d d^T / s_k`: `2 gamma_nk / s_k G_k d`, with `G_k = dL/dSigma_k`;
//! - then the chain through `mu_k = sum_n gamma_nk z_n / s_k`, `phi_k = s_k /
//!   N` and `s_k = sum_n gamma_nk` to `z` and `gamma`.

use crate::error::{OddityError, Result};
use crate::math::gmm::Jitter;

const LOG_2PI: f64 = 1.837_877_066_409_345_5;

/// Loss value and its gradients with respect to `z [N, D]` and `gamma [N, K]`
/// (row-major).
#[derive(Debug, Clone)]
pub(crate) struct GmmLossGrad {
    pub value: f64,
    pub dz: Vec<f32>,
    pub dgamma: Vec<f32>,
}

/// Row-major `K x D x D` blocks.
fn block(m: &[f64], k: usize, d: usize) -> &[f64] {
    &m[k * d * d..(k + 1) * d * d]
}

/// Lower Cholesky factor of `a + eps I` (`d x d`), or `None` if not
/// positive definite (including NaN pivots).
fn cholesky(a: &[f64], d: usize, eps: f64) -> Option<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = a[i * d + j] + if i == j { eps } else { 0.0 };
            for p in 0..j {
                s -= l[i * d + p] * l[j * d + p];
            }
            if i == j {
                if s.is_nan() || s <= 0.0 {
                    return None;
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Some(l)
}

/// `(L L^T)^-1` from a lower Cholesky factor.
fn inverse_from_cholesky(l: &[f64], d: usize) -> Vec<f64> {
    // Linv: inverse of the lower-triangular factor, by forward substitution.
    let mut li = vec![0.0; d * d];
    for c in 0..d {
        for i in c..d {
            let mut s = if i == c { 1.0 } else { 0.0 };
            for p in c..i {
                s -= l[i * d + p] * li[p * d + c];
            }
            li[i * d + c] = s / l[i * d + i];
        }
    }
    // P = Linv^T Linv.
    let mut p = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            p[i * d + j] = (i.max(j)..d).map(|r| li[r * d + i] * li[r * d + j]).sum();
        }
    }
    p
}

/// The loss and its gradients. `z` is `[n, d]`, `gamma` `[n, k]`, row-major.
/// Jitter escalation and its errors follow [`crate::math::gmm::gmm_params`]: one
/// jitter for all components, multiplied by 10 on a failed factorisation.
#[allow(clippy::too_many_arguments)]
pub(crate) fn loss_and_grad(
    z: &[f32],
    gamma: &[f32],
    n: usize,
    d: usize,
    k: usize,
    w_energy: f64,
    w_cov_diag: f64,
    jitter: &mut Jitter,
) -> Result<GmmLossGrad> {
    let nf = n as f64;
    let zr = |i: usize| &z[i * d..(i + 1) * d];
    let gm = |i: usize, c: usize| gamma[i * k + c] as f64;

    // Mixture estimate.
    let mut s = vec![0.0; k];
    let mut mu = vec![0.0; k * d];
    for i in 0..n {
        for c in 0..k {
            let g = gm(i, c);
            s[c] += g;
            for (m, &zv) in mu[c * d..(c + 1) * d].iter_mut().zip(zr(i)) {
                *m += g * zv as f64;
            }
        }
    }
    let den: Vec<f64> = s.iter().map(|&v| v.max(1e-12)).collect();
    for c in 0..k {
        for m in &mut mu[c * d..(c + 1) * d] {
            *m /= den[c];
        }
    }
    let phi: Vec<f64> = s.iter().map(|&v| v / nf).collect();
    let mut cov = vec![0.0; k * d * d];
    let mut diff = vec![0.0; d];
    for i in 0..n {
        for c in 0..k {
            let g = gm(i, c);
            for (a, (&zv, &m)) in diff.iter_mut().zip(zr(i).iter().zip(&mu[c * d..(c + 1) * d])) {
                *a = zv as f64 - m;
            }
            let cb = &mut cov[c * d * d..(c + 1) * d * d];
            for a in 0..d {
                for b in 0..d {
                    cb[a * d + b] += g * diff[a] * diff[b];
                }
            }
        }
    }
    for c in 0..k {
        for v in &mut cov[c * d * d..(c + 1) * d * d] {
            *v /= den[c];
        }
    }

    // Factorise every component with one jitter, escalating on failure.
    let mut eps = jitter.eps;
    let mut chols = None;
    for step in 0..=jitter.max_steps {
        let f: Option<Vec<Vec<f64>>> = (0..k).map(|c| cholesky(block(&cov, c, d), d, eps)).collect();
        if let Some(f) = f {
            if step > 0 {
                jitter.retries += 1;
                jitter.max_used = jitter.max_used.max(eps);
            }
            chols = Some(f);
            break;
        }
        if step == 0 && !(cov.iter().all(|v| v.is_finite()) && z.iter().all(|v| v.is_finite())) {
            return Err(crate::math::gmm::diverged());
        }
        if step < jitter.max_steps {
            eps *= 10.0;
        }
    }
    let chols = match chols {
        Some(c) => c,
        None => {
            let component = (0..k).find(|&c| cholesky(block(&cov, c, d), d, eps).is_none()).unwrap_or(0);
            return Err(OddityError::Cholesky { component, jitter: eps });
        }
    };
    let log_det: Vec<f64> = chols.iter().map(|l| 2.0 * (0..d).map(|i| l[i * d + i].ln()).sum::<f64>()).collect();
    let prec: Vec<Vec<f64>> = chols.iter().map(|l| inverse_from_cholesky(l, d)).collect();
    let log_phi: Vec<f64> = phi.iter().map(|&p| p.max(1e-30).ln()).collect();

    // Energies, and the gradient on each row's component log-terms.
    let mut energy_sum = 0.0;
    let mut glog = vec![0.0; n * k]; // dL/dl_nk
    let mut logits = vec![0.0; k];
    let mut pd = vec![0.0; d];
    for i in 0..n {
        for c in 0..k {
            for (a, (&zv, &m)) in diff.iter_mut().zip(zr(i).iter().zip(&mu[c * d..(c + 1) * d])) {
                *a = zv as f64 - m;
            }
            let p = &prec[c];
            let maha: f64 = (0..d).map(|a| diff[a] * (0..d).map(|b| p[a * d + b] * diff[b]).sum::<f64>()).sum();
            logits[c] = log_phi[c] - 0.5 * (maha + log_det[c] + d as f64 * LOG_2PI);
        }
        let mx = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = mx + logits.iter().map(|l| (l - mx).exp()).sum::<f64>().ln();
        energy_sum -= lse;
        for c in 0..k {
            glog[i * k + c] = -w_energy * (logits[c] - lse).exp() / nf;
        }
    }
    let penalty: f64 = (0..k).map(|c| (0..d).map(|a| 1.0 / (cov[c * d * d + a * d + a] + eps)).sum::<f64>()).sum();
    let value = w_energy * energy_sum / nf + w_cov_diag * penalty;

    // dL/dSigma_k (symmetric): energy part and penalty.
    let mut gsig = vec![0.0; k * d * d];
    for c in 0..k {
        let p = &prec[c];
        let mut sdd = vec![0.0; d * d];
        let mut gsum = 0.0;
        for i in 0..n {
            let g = glog[i * k + c];
            gsum += g;
            for (a, (&zv, &m)) in diff.iter_mut().zip(zr(i).iter().zip(&mu[c * d..(c + 1) * d])) {
                *a = zv as f64 - m;
            }
            for a in 0..d {
                for b in 0..d {
                    sdd[a * d + b] += g * diff[a] * diff[b];
                }
            }
        }
        // P S P
        let mut ps = vec![0.0; d * d];
        for a in 0..d {
            for b in 0..d {
                ps[a * d + b] = (0..d).map(|q| p[a * d + q] * sdd[q * d + b]).sum();
            }
        }
        let gb = &mut gsig[c * d * d..(c + 1) * d * d];
        for a in 0..d {
            for b in 0..d {
                let psp: f64 = (0..d).map(|q| ps[a * d + q] * p[q * d + b]).sum();
                gb[a * d + b] = 0.5 * (psp - gsum * p[a * d + b]);
            }
            let v = cov[c * d * d + a * d + a] + eps;
            gb[a * d + a] -= w_cov_diag / (v * v);
        }
    }

    // Back to z and gamma.
    let mut dz = vec![0.0f64; n * d];
    let mut dgamma = vec![0.0f64; n * k];
    let mut gmu = vec![0.0; k * d];
    let mut gden = vec![0.0; k];
    for c in 0..k {
        let gb = block(&gsig, c, d);
        // dL/dden through Sigma = M / den: -<G, Sigma> / den.
        gden[c] -= (0..d * d).map(|q| gb[q] * cov[c * d * d + q]).sum::<f64>() / den[c];
    }
    for i in 0..n {
        for c in 0..k {
            let g = gm(i, c);
            for (a, (&zv, &m)) in diff.iter_mut().zip(zr(i).iter().zip(&mu[c * d..(c + 1) * d])) {
                *a = zv as f64 - m;
            }
            let p = &prec[c];
            let gb = block(&gsig, c, d);
            let mut dgd = 0.0;
            for a in 0..d {
                pd[a] = (0..d).map(|b| p[a * d + b] * diff[b]).sum();
                let gd: f64 = (0..d).map(|b| gb[a * d + b] * diff[b]).sum();
                dgd += diff[a] * gd;
                // dL/dd: energy (direct) and through Sigma.
                let dd = -glog[i * k + c] * pd[a] + 2.0 * g / den[c] * gd;
                dz[i * d + a] += dd;
                gmu[c * d + a] -= dd;
            }
            dgamma[i * k + c] += dgd / den[c];
        }
    }
    // mu_k = sum_n gamma_nk z_n / den_k.
    for c in 0..k {
        gden[c] -= (0..d).map(|a| gmu[c * d + a] * mu[c * d + a]).sum::<f64>() / den[c];
    }
    // phi_k = s_k / N; den_k = max(s_k, 1e-12); s_k = sum_n gamma_nk.
    let gs: Vec<f64> = (0..k)
        .map(|c| {
            let gphi: f64 = if phi[c] >= 1e-30 { (0..n).map(|i| glog[i * k + c]).sum::<f64>() / phi[c] } else { 0.0 };
            gphi / nf + if s[c] >= 1e-12 { gden[c] } else { 0.0 }
        })
        .collect();
    for i in 0..n {
        for c in 0..k {
            let gmz: f64 = (0..d).map(|a| gmu[c * d + a] * z[i * d + a] as f64).sum();
            dgamma[i * k + c] += gmz / den[c] + gs[c];
            let g = gm(i, c);
            for a in 0..d {
                dz[i * d + a] += g * gmu[c * d + a] / den[c];
            }
        }
    }
    Ok(GmmLossGrad {
        value,
        dz: dz.into_iter().map(|v| v as f32).collect(),
        dgamma: dgamma.into_iter().map(|v| v as f32).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::gmm::{cov_diag_penalty, energy, gmm_params};
    use tch::{Device, Kind, Tensor};

    /// Reference: the tensor implementation, differentiated by libtorch's
    /// autograd in f64.
    fn autograd(z: &[f32], gamma: &[f32], n: usize, d: usize, k: usize, we: f64, wc: f64) -> (f64, Vec<f64>, Vec<f64>) {
        let o = (Kind::Double, Device::Cpu);
        let zt = Tensor::from_slice(z).to_kind(Kind::Double).view([n as i64, d as i64]).set_requires_grad(true);
        let gt = Tensor::from_slice(gamma).to_kind(Kind::Double).view([n as i64, k as i64]).set_requires_grad(true);
        let mut j = Jitter::new(1e-6, 6);
        let p = gmm_params(&zt, &gt, &mut j).expect("factorises");
        let loss = energy(&zt, &p).mean(Kind::Double) * we + cov_diag_penalty(&p) * wc;
        loss.backward();
        let v = |t: &Tensor| Vec::<f64>::try_from(&t.to_kind(o.0).view([-1])).expect("f64");
        (loss.double_value(&[]), v(&zt.grad()), v(&gt.grad()))
    }

    fn sample(n: usize, d: usize, k: usize) -> (Vec<f32>, Vec<f32>) {
        let z = Tensor::randn([n as i64, d as i64], (Kind::Float, Device::Cpu)) * 1.5 + 0.3;
        let g = Tensor::randn([n as i64, k as i64], (Kind::Float, Device::Cpu)).softmax(-1, Kind::Float);
        let v = |t: &Tensor| Vec::<f32>::try_from(&t.view([-1])).expect("f32");
        (v(&z), v(&g))
    }

    #[test]
    fn matches_autograd_of_the_tensor_version() {
        for (n, d, k) in [(64, 3, 2), (200, 4, 3), (50, 1, 1), (128, 6, 4)] {
            let (z, g) = sample(n, d, k);
            let (v_ref, dz_ref, dg_ref) = autograd(&z, &g, n, d, k, 0.1, 0.005);
            let mut j = Jitter::new(1e-6, 6);
            let r = loss_and_grad(&z, &g, n, d, k, 0.1, 0.005, &mut j).expect("factorises");
            approx::assert_relative_eq!(r.value, v_ref, max_relative = 1e-9);
            let scale = dz_ref.iter().chain(&dg_ref).fold(0.0f64, |m, v| m.max(v.abs()));
            for (a, b) in r.dz.iter().zip(&dz_ref).chain(r.dgamma.iter().zip(&dg_ref)) {
                assert!((*a as f64 - b).abs() <= 1e-5 * scale, "n={n} d={d} k={k}: {a} vs {b} (scale {scale})");
            }
            assert_eq!(j.retries, 0);
        }
    }

    /// The small dense helpers: an indefinite matrix fails to factorise,
    /// the same plus enough jitter does, `L L^T` gives it back, and the
    /// inverse times the matrix is the identity.
    #[test]
    fn cholesky_and_inverse() {
        let a = [1.0, 2.0, 2.0, 1.0]; // eigenvalues -1 and 3
        assert!(cholesky(&a, 2, 0.0).is_none());
        assert!(cholesky(&a, 2, 0.5).is_none());
        let l = cholesky(&a, 2, 2.0).expect("a + 2 I is positive definite");
        let aj = [3.0, 2.0, 2.0, 3.0];
        for i in 0..2 {
            for j in 0..2 {
                let llt: f64 = (0..2).map(|p| l[i * 2 + p] * l[j * 2 + p]).sum();
                approx::assert_abs_diff_eq!(llt, aj[i * 2 + j], epsilon = 1e-12);
            }
        }
        let p = inverse_from_cholesky(&l, 2);
        // (a + 2 I)^-1 = [[3, -2], [-2, 3]] / 5.
        for (v, want) in p.iter().zip([0.6, -0.4, -0.4, 0.6]) {
            approx::assert_abs_diff_eq!(*v, want, epsilon = 1e-12);
        }
        assert!(cholesky(&[f64::NAN], 1, 1.0).is_none());
    }

    #[test]
    fn diverged_codes_are_a_numerical_error() {
        let (n, d, k) = (10, 2, 2);
        let (mut z, g) = sample(n, d, k);
        z[3] = f32::NAN;
        let mut j = Jitter::new(1e-6, 2);
        let e = loss_and_grad(&z, &g, n, d, k, 0.1, 0.005, &mut j).unwrap_err();
        assert!(matches!(e, OddityError::Numerical(_)), "{e}");
    }
}
