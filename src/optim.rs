//! Optimizers for the training loop.
//!
//! Adam (the default) is our own: the gradients of all parameters are
//! gathered into one flat tensor, the moment updates run once on it, and the
//! step is added back to each parameter. libtorch's Adam runs eight small
//! kernels per parameter tensor; for the small tabular networks here that
//! per-tensor overhead was ~10 % of a training step (docs/benchmarks.md).
//! The arithmetic is the same as `torch.optim.Adam` (L2 weight decay added to
//! the gradient, bias-corrected moments, eps outside the square root).
//! The other optimizers are libtorch's.

use tch::{nn, nn::OptimizerConfig, Kind, Tensor};

use crate::error::Result;
use crate::fit::{FitConfig, Optimizer};

/// An optimizer over the trainable variables of a `VarStore`.
pub(crate) enum Optim {
    Adam(FlatAdam),
    Tch(nn::Optimizer),
}

impl Optim {
    pub(crate) fn new(vs: &nn::VarStore, cfg: &FitConfig) -> Result<Optim> {
        let lr = cfg.learning_rate;
        Ok(match cfg.optimizer {
            Optimizer::Adam { beta1, beta2, eps, weight_decay } => {
                Optim::Adam(FlatAdam::new(vs.trainable_variables(), lr, beta1, beta2, eps, weight_decay))
            }
            Optimizer::AdamW { beta1, beta2, eps, weight_decay } => {
                Optim::Tch(nn::AdamW { beta1, beta2, wd: weight_decay, eps, amsgrad: false }.build(vs, lr)?)
            }
            Optimizer::Sgd { momentum } => Optim::Tch(nn::Sgd { momentum, ..Default::default() }.build(vs, lr)?),
            Optimizer::RmsProp { alpha, eps, momentum } => {
                Optim::Tch(nn::RmsProp { alpha, eps, momentum, centered: false, wd: 0.0 }.build(vs, lr)?)
            }
        })
    }

    pub(crate) fn zero_grad(&mut self) {
        match self {
            Optim::Adam(a) => a.zero_grad(),
            Optim::Tch(o) => o.zero_grad(),
        }
    }

    pub(crate) fn clip_grad_norm(&mut self, max: f64) {
        match self {
            Optim::Adam(a) => a.clip_grad_norm(max),
            Optim::Tch(o) => o.clip_grad_norm(max),
        }
    }

    pub(crate) fn step(&mut self) {
        match self {
            Optim::Adam(a) => a.step(),
            Optim::Tch(o) => o.step(),
        }
    }
}

/// Adam over one flat moment buffer.
pub(crate) struct FlatAdam {
    params: Vec<Tensor>,
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
    pub(crate) fn new(params: Vec<Tensor>, lr: f64, beta1: f64, beta2: f64, eps: f64, weight_decay: f64) -> Self {
        let n: i64 = params.iter().map(|p| p.numel() as i64).sum();
        let device = params.first().map_or(tch::Device::Cpu, |p| p.device());
        let z = Tensor::zeros([n], (Kind::Float, device));
        FlatAdam { params, m: z.copy(), v: z, t: 0, lr, beta1, beta2, eps, weight_decay }
    }

    /// All gradients as one flat tensor (zeros where a gradient is missing).
    fn flat_grad(&self) -> Tensor {
        let g: Vec<Tensor> = self
            .params
            .iter()
            .map(|p| {
                let g = p.grad();
                if g.defined() {
                    g.view([-1])
                } else {
                    p.zeros_like().view([-1])
                }
            })
            .collect();
        Tensor::cat(&g, 0)
    }

    fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.zero_grad();
        }
    }

    fn clip_grad_norm(&mut self, max: f64) {
        tch::no_grad(|| {
            let norm = self.flat_grad().norm().double_value(&[]);
            let coef = max / (norm + 1e-6);
            if coef < 1.0 {
                for p in &self.params {
                    let mut g = p.grad();
                    if g.defined() {
                        let _ = g.g_mul_scalar_(coef);
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
                let flat: Vec<Tensor> = self.params.iter().map(|p| p.view([-1])).collect();
                g += Tensor::cat(&flat, 0) * self.weight_decay;
            }
            let _ = self.m.lerp_(&g, 1.0 - self.beta1);
            let _ = self.v.g_mul_scalar_(self.beta2).addcmul_(&g, &(&g * (1.0 - self.beta2)));
            let bc1 = 1.0 - self.beta1.powi(self.t);
            let bc2 = 1.0 - self.beta2.powi(self.t);
            let denom = (self.v.sqrt() / bc2.sqrt()) + self.eps;
            let update = (&self.m / denom) * (-self.lr / bc1);
            let mut off = 0i64;
            for p in &mut self.params {
                let n = p.numel() as i64;
                let _ = p.g_add_(&update.narrow(0, off, n).view_as(p));
                off += n;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Same trajectory as libtorch's Adam on a small least-squares problem.
    #[test]
    fn flat_adam_matches_libtorch_adam() {
        let run = |ours: bool| -> Vec<f32> {
            tch::manual_seed(0);
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let w = vs.root().var("w", &[3, 4], nn::Init::Randn { mean: 0.0, stdev: 1.0 });
            let b = vs.root().var("b", &[4], nn::Init::Const(0.1));
            let x = Tensor::randn([32, 3], (Kind::Float, tch::Device::Cpu));
            let y = Tensor::randn([32, 4], (Kind::Float, tch::Device::Cpu));
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
