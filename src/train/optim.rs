//! Optimizers for the training loop.
//!
//! Adam (the default) is our own: parameters, gradients and moments each live
//! in one flat tensor, so zeroing the gradients, the moment updates and the
//! parameter update are a handful of ops per step whatever the number of
//! layers. libtorch's Adam runs eight small kernels per parameter tensor; for
//! the small tabular networks here that per-tensor overhead was ~10 % of a
//! training step, and gathering and scattering per tensor cost a few % more
//! (docs/benchmarks.md).
//! The arithmetic is the same as `torch.optim.Adam` (L2 weight decay added to
//! the gradient, bias-corrected moments, eps outside the square root).
//! The other optimizers are libtorch's.

use tch::{nn, nn::OptimizerConfig, Kind, Tensor};

use crate::error::Result;
use crate::train::config::{FitConfig, Optimizer};

/// An optimizer over the trainable variables of a `VarStore`.
pub(crate) enum Optim {
    Adam(FlatAdam),
    /// libtorch's optimizer and the variables it updates.
    Tch(nn::Optimizer, Vec<Tensor>),
}

impl Optim {
    pub(crate) fn new(vs: &nn::VarStore, cfg: &FitConfig) -> Result<Optim> {
        let lr = cfg.learning_rate;
        Ok(match cfg.optimizer {
            Optimizer::Adam { beta1, beta2, eps, weight_decay } => {
                Optim::Adam(FlatAdam::new(vs.trainable_variables(), lr, beta1, beta2, eps, weight_decay))
            }
            Optimizer::AdamW { beta1, beta2, eps, weight_decay } => Optim::Tch(
                nn::AdamW { beta1, beta2, wd: weight_decay, eps, amsgrad: false }.build(vs, lr)?,
                vs.trainable_variables(),
            ),
            Optimizer::Sgd { momentum } => {
                Optim::Tch(nn::Sgd { momentum, ..Default::default() }.build(vs, lr)?, vs.trainable_variables())
            }
            Optimizer::RmsProp { alpha, eps, momentum } => Optim::Tch(
                nn::RmsProp { alpha, eps, momentum, centered: false, wd: 0.0 }.build(vs, lr)?,
                vs.trainable_variables(),
            ),
        })
    }

    /// Zeroes the gradients in place. (libtorch's optimizers would reset
    /// them to undefined, and the hand-written backward (`nn::Tape`) would
    /// then have to recreate every buffer on every step.)
    pub(crate) fn zero_grad(&mut self) {
        match self {
            Optim::Adam(a) => a.zero_grad(),
            Optim::Tch(_, vars) => vars.iter_mut().for_each(|v| v.zero_grad()),
        }
    }

    pub(crate) fn clip_grad_norm(&mut self, max: f64) {
        match self {
            Optim::Adam(a) => a.clip_grad_norm(max),
            Optim::Tch(o, _) => o.clip_grad_norm(max),
        }
    }

    pub(crate) fn step(&mut self) {
        match self {
            Optim::Adam(a) => a.step(),
            Optim::Tch(o, _) => o.step(),
        }
    }
}

/// Adam over flat buffers: parameters, gradients and moments each live in
/// one contiguous tensor.
///
/// Each parameter's data is re-pointed (`set_data`) at a slice of `flat`, so
/// the whole update is one `addcdiv_`. After the first backward pass each
/// gradient is re-pointed at a slice of `grad` too; autograd then accumulates
/// into it in place, and `zero_grad` is one `zero_()`. If a gradient is
/// later replaced behind our back (its storage moved), the step notices and
/// falls back to gathering, so the arithmetic never depends on the trick.
pub(crate) struct FlatAdam {
    params: Vec<Tensor>,
    /// Elements per parameter, in order.
    sizes: Vec<i64>,
    flat: Tensor,
    /// Gradient storage, once every gradient has been attached to it.
    grad: Option<Tensor>,
    /// Where each attached gradient's data starts, to notice a replaced one.
    grad_ptrs: Vec<usize>,
    m: Tensor,
    v: Tensor,
    t: i32,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
}

impl FlatAdam {
    pub(crate) fn new(mut params: Vec<Tensor>, lr: f64, beta1: f64, beta2: f64, eps: f64, weight_decay: f64) -> Self {
        let device = params.first().map_or(tch::Device::Cpu, |p| p.device());
        let sizes: Vec<i64> = params.iter().map(|p| p.numel() as i64).collect();
        let flat = tch::no_grad(|| {
            let parts: Vec<Tensor> = params.iter().map(|p| p.detach().view([-1])).collect();
            if parts.is_empty() {
                Tensor::zeros([0], (Kind::Float, device))
            } else {
                Tensor::cat(&parts, 0)
            }
        });
        for (p, slice) in params.iter_mut().zip(slices(&flat, &sizes)) {
            let view = slice.view_as(p);
            p.set_data(&view);
        }
        let z = flat.zeros_like();
        FlatAdam {
            params,
            sizes,
            flat,
            grad: None,
            grad_ptrs: Vec::new(),
            m: z.copy(),
            v: z,
            t: 0,
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        }
    }

    /// The flat gradient: the attached buffer when every gradient still lives
    /// in it, else a fresh gather (zeros where a gradient is missing), which
    /// is then attached if it can be.
    fn flat_grad(&mut self) -> Tensor {
        if let Some(g) = &self.grad {
            let intact = self.params.iter().zip(&self.grad_ptrs).all(|(p, &ptr)| {
                let pg = p.grad();
                pg.defined() && pg.data_ptr() as usize == ptr
            });
            if intact {
                return g.shallow_clone();
            }
        }
        let parts: Vec<Tensor> = self
            .params
            .iter()
            .map(|p| {
                let g = p.grad();
                if g.defined() {
                    g.detach().view([-1])
                } else {
                    p.zeros_like().view([-1])
                }
            })
            .collect();
        let flat = if parts.is_empty() { self.flat.zeros_like() } else { Tensor::cat(&parts, 0) };
        let all_defined = self.params.iter().all(|p| p.grad().defined());
        if all_defined {
            self.grad_ptrs.clear();
            for (p, slice) in self.params.iter().zip(slices(&flat, &self.sizes)) {
                let mut g = p.grad();
                g.set_data(&slice.view_as(p));
                self.grad_ptrs.push(slice.data_ptr() as usize);
            }
            self.grad = Some(flat.shallow_clone());
        } else {
            self.grad = None;
        }
        flat
    }

    fn zero_grad(&mut self) {
        match &mut self.grad {
            Some(g) => {
                let _ = g.zero_();
            }
            None => {
                for p in &mut self.params {
                    p.zero_grad();
                }
            }
        }
    }

    fn clip_grad_norm(&mut self, max: f64) {
        tch::no_grad(|| {
            let mut g = self.flat_grad();
            let norm = g.norm().double_value(&[]);
            let coef = max / (norm + 1e-6);
            if coef < 1.0 {
                if self.grad.is_some() {
                    let _ = g.g_mul_scalar_(coef);
                } else {
                    for p in &self.params {
                        let mut g = p.grad();
                        if g.defined() {
                            let _ = g.g_mul_scalar_(coef);
                        }
                    }
                }
            }
        })
    }

    fn step(&mut self) {
        tch::no_grad(|| {
            self.t += 1;
            let mut g = self.flat_grad();
            if self.weight_decay != 0.0 {
                // Not in place: `g` may be the gradient buffer itself.
                #[allow(clippy::assign_op_pattern)]
                {
                    g = g + &self.flat * self.weight_decay;
                }
            }
            let _ = self.m.lerp_(&g, 1.0 - self.beta1);
            let _ = self.v.g_mul_scalar_(self.beta2).addcmul_(&g, &(&g * (1.0 - self.beta2)));
            let bc1 = 1.0 - self.beta1.powi(self.t);
            let bc2 = 1.0 - self.beta2.powi(self.t);
            // flat += m / denom with denom = (sqrt(v / bc2) + eps) * (-bc1 / lr),
            // i.e. flat -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps).
            let mut denom = self.v.sqrt();
            let _ = denom.g_mul_scalar_(1.0 / bc2.sqrt());
            let _ = denom.g_add_scalar_(self.eps);
            let _ = denom.g_mul_scalar_(-bc1 / self.lr);
            let _ = self.flat.addcdiv_(&self.m, &denom);
        })
    }
}

/// Consecutive slices of the flat tensor `t` of the given element counts.
fn slices(t: &Tensor, sizes: &[i64]) -> Vec<Tensor> {
    let mut off = 0;
    sizes
        .iter()
        .map(|&n| {
            let s = t.narrow(0, off, n);
            off += n;
            s
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Weights `w [3, 4]`, bias `b [4]` and an input `x [8, 3]` of ones.
    fn tiny_problem() -> (nn::VarStore, Tensor, Tensor, Tensor) {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let w = vs.root().var("w", &[3, 4], nn::Init::Const(0.5));
        let b = vs.root().var("b", &[4], nn::Init::Const(0.1));
        let x = Tensor::ones([8, 3], (Kind::Float, tch::Device::Cpu));
        (vs, w, b, x)
    }

    /// After the first step every gradient is a view of the flat buffer
    /// (so `zero_grad` and the update are single ops); a gradient replaced
    /// behind the optimizer's back is noticed and gathered again.
    #[test]
    fn gradients_attach_to_the_flat_buffer_and_survive_replacement() {
        let (vs, w, b, x) = tiny_problem();
        let mut a = FlatAdam::new(vs.trainable_variables(), 0.01, 0.9, 0.999, 1e-8, 0.0);
        let inside = |a: &FlatAdam, t: &Tensor| {
            let g = a.grad.as_ref().unwrap();
            let (lo, ptr) = (g.data_ptr() as usize, t.grad().data_ptr() as usize);
            ptr >= lo && ptr < lo + 4 * g.numel()
        };
        let backward = || (x.matmul(&w) + &b).square().sum(Kind::Float).backward();
        backward();
        a.step();
        assert!(inside(&a, &w) && inside(&a, &b));
        // Parameters moved by the step live in the flat buffer too.
        assert_eq!(a.flat.narrow(0, 0, 12).view([3, 4]), w.detach());
        a.zero_grad();
        assert_eq!(w.grad().abs().sum(Kind::Float).double_value(&[]), 0.0);
        backward();
        let expect_b = b.grad().copy();
        let mut g = w.grad();
        g.set_data(&Tensor::full([3, 4], 7.0, (Kind::Float, tch::Device::Cpu)));
        assert!(!inside(&a, &w));
        let flat = tch::no_grad(|| a.flat_grad());
        assert_eq!(flat.narrow(0, 0, 12), Tensor::full([12], 7.0, (Kind::Float, tch::Device::Cpu)));
        assert_eq!(flat.narrow(0, 12, 4), expect_b);
        assert!(inside(&a, &w) && inside(&a, &b));
    }

    #[test]
    fn clipping_scales_the_global_gradient_norm() {
        let (vs, w, b, x) = tiny_problem();
        let mut a = FlatAdam::new(vs.trainable_variables(), 0.01, 0.9, 0.999, 1e-8, 0.0);
        (x.matmul(&w) + &b).square().sum(Kind::Float).backward();
        let norm = |w: &Tensor, b: &Tensor| {
            (w.grad().square().sum(Kind::Double) + b.grad().square().sum(Kind::Double)).sqrt().double_value(&[])
        };
        assert!(norm(&w, &b) > 1.0);
        a.clip_grad_norm(0.5);
        assert!((norm(&w, &b) - 0.5).abs() < 1e-5, "{}", norm(&w, &b));
    }

    /// Same trajectory as libtorch's Adam on a small least-squares problem.
    #[test]
    fn flat_adam_matches_libtorch_adam() {
        // Drawn once and shared: libtorch's global generator is shared with
        // tests running in parallel, so reseeding per run would not give
        // both runs the same numbers.
        let o = (Kind::Float, tch::Device::Cpu);
        let (w0, x, y) = (Tensor::randn([3, 4], o), Tensor::randn([32, 3], o), Tensor::randn([32, 4], o));
        let run = |ours: bool| -> Vec<f32> {
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let w = vs.root().var_copy("w", &w0);
            let b = vs.root().var("b", &[4], nn::Init::Const(0.1));
            let cfg = FitConfig {
                learning_rate: 0.01,
                optimizer: Optimizer::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-7, weight_decay: 0.01 },
                ..Default::default()
            };
            let mut ours_opt = Optim::new(&vs, &cfg).unwrap();
            let mut theirs =
                nn::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-7, wd: 0.01, amsgrad: false }.build(&vs, 0.01).unwrap();
            for _ in 0..50 {
                let loss = (x.matmul(&w) + &b - &y).square().mean(Kind::Float);
                if ours {
                    ours_opt.zero_grad();
                    loss.backward();
                    ours_opt.step();
                } else {
                    theirs.zero_grad();
                    loss.backward();
                    theirs.step();
                }
            }
            Vec::<f32>::try_from(Tensor::cat(&[w.view([-1]), b.view([-1])], 0)).unwrap()
        };
        let (a, b) = (run(true), run(false));
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() < 1e-5, "{p} vs {q}");
        }
    }
}
