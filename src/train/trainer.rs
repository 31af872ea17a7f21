//! The training loop every detector shares: shuffling, batching, optimizer,
//! validation split, early stopping, progress, and the report.
//!
//! The training rows live on the device as one tensor; a batch is an
//! `index_select` of it. Losses are summed on the device and read once per
//! epoch, so the loop does not wait on the device every step.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use tch::{nn, Kind, Tensor};

use crate::error::{OddityError, Result};
use crate::math::rng;
use crate::train::config::{EpochStats, FitConfig, TrainReport};

/// Whether a loss is computed for training (dropout on, gradients) or validation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Step {
    pub train: bool,
}

/// A batch's loss, plus the hand-written backward of any part of the model
/// that was run outside autograd (see `nn::Tape`). The training loop runs
/// autograd's backward first, then `manual`, which may read the gradients
/// autograd left on detached leaves.
pub(crate) struct Loss {
    pub value: Tensor,
    /// Whether `value` has an autograd graph to run backward through.
    autograd: bool,
    manual: Option<Box<dyn FnOnce()>>,
}

impl Loss {
    /// A loss whose backward is autograd's, followed by `manual`.
    pub(crate) fn then(value: Tensor, manual: impl FnOnce() + 'static) -> Loss {
        Loss { value, autograd: true, manual: Some(Box::new(manual)) }
    }

    /// A loss computed without autograd, differentiated entirely by `manual`.
    pub(crate) fn by_hand(value: Tensor, manual: impl FnOnce() + 'static) -> Loss {
        Loss { value, autograd: false, manual: Some(Box::new(manual)) }
    }

    pub(crate) fn backward(self) -> Tensor {
        if self.autograd {
            self.value.backward();
        }
        if let Some(m) = self.manual {
            m();
        }
        self.value
    }
}

impl From<Tensor> for Loss {
    fn from(value: Tensor) -> Loss {
        Loss { value, autograd: true, manual: None }
    }
}

/// Sets libtorch's intra-op thread count for a scope and restores it on drop
/// (also when training fails).
pub(crate) struct ThreadScope(Option<i32>);

impl ThreadScope {
    pub(crate) fn new(threads: Option<usize>) -> Self {
        ThreadScope(threads.map(|t| {
            let prev = tch::get_num_threads();
            tch::set_num_threads(t as i32);
            prev
        }))
    }
}

impl Drop for ThreadScope {
    fn drop(&mut self) {
        if let Some(prev) = self.0 {
            tch::set_num_threads(prev);
        }
    }
}

/// Splits `n` rows into (train, validation) index tensors, seeded.
pub(crate) fn split_rows(n: usize, cfg: &FitConfig) -> Result<(Vec<i64>, Vec<i64>)> {
    if cfg.validation_split <= 0.0 {
        return Ok(((0..n as i64).collect(), Vec::new()));
    }
    let n_val = (n as f64 * cfg.validation_split).round() as usize;
    if n_val == 0 || n_val >= n {
        return Err(OddityError::param(
            "validation_split",
            format!(
                "{} of {n} rows leaves {n_val} validation and {} training rows; both need at least one",
                cfg.validation_split,
                n - n_val.min(n)
            ),
        ));
    }
    let perm = rng::permutation(&mut rng::rng(cfg.seed, rng::STREAM_SPLIT), n);
    let (train, val) = perm.split_at(n - n_val);
    Ok((train.to_vec(), val.to_vec()))
}

fn snapshot(vs: &nn::VarStore) -> HashMap<String, Tensor> {
    tch::no_grad(|| vs.variables().into_iter().map(|(k, v)| (k, v.copy())).collect())
}

fn restore(vs: &nn::VarStore, snap: &HashMap<String, Tensor>) {
    tch::no_grad(|| {
        for (k, mut v) in vs.variables() {
            if let Some(s) = snap.get(&k) {
                v.copy_(s);
            }
        }
    })
}

fn progress(cfg: &FitConfig, label: &str, total: u64) -> (ProgressBar, bool) {
    if !cfg.verbose {
        return (ProgressBar::hidden(), false);
    }
    if !std::io::stderr().is_terminal() {
        // No bar in logs: one line per epoch instead.
        return (ProgressBar::hidden(), true);
    }
    let pb = ProgressBar::new(total);
    let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} steps {elapsed_precise} ETA {eta} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    pb.set_style(style);
    pb.set_prefix(label.to_string());
    (pb, false)
}

/// Trains the variables of `vs` by minimising `loss_fn` over batches of `x`
/// (rows on the device already transformed). `x_val` may be empty.
pub(crate) fn train(
    vs: &nn::VarStore,
    x: &Tensor,
    x_val: Option<&Tensor>,
    cfg: &FitConfig,
    label: &str,
    loss_fn: &mut dyn FnMut(&Tensor, Step) -> Result<Loss>,
) -> Result<TrainReport> {
    train_monitored(vs, x, x_val, cfg, label, loss_fn, None)
}

/// A quantity computed after every epoch that replaces the loss as what early
/// stopping and best-weight restore watch (e.g. validation AUPRC).
pub(crate) struct Monitor<'a> {
    /// Higher is better (AUPRC); otherwise lower is better (a loss).
    pub maximize: bool,
    /// Evaluates the quantity on the current weights.
    pub eval: &'a mut dyn FnMut() -> Result<f64>,
}

/// As [`train`]; with a `monitor`, its value (not the validation or training
/// loss) decides the best epoch and early stopping. `min_delta` applies to it.
pub(crate) fn train_monitored(
    vs: &nn::VarStore,
    x: &Tensor,
    x_val: Option<&Tensor>,
    cfg: &FitConfig,
    label: &str,
    loss_fn: &mut dyn FnMut(&Tensor, Step) -> Result<Loss>,
    mut monitor: Option<Monitor<'_>>,
) -> Result<TrainReport> {
    let _threads = ThreadScope::new(cfg.threads);
    let device = x.device();
    let n = x.size()[0] as usize;
    let bs = cfg.batch_size.min(n).max(1);
    let steps = n.div_ceil(bs);
    let mut opt = crate::train::optim::Optim::new(vs, cfg)?;
    let mut shuffle_rng = rng::rng(cfg.seed, rng::STREAM_SHUFFLE);
    let epochs = cfg.epochs_for(n);
    let (pb, lines) = progress(cfg, label, epochs.saturating_mul(steps) as u64);

    let mut report = TrainReport {
        n_train: n,
        n_val: x_val.map_or(0, |v| v.size()[0] as usize),
        planned_epochs: epochs,
        from_budget: cfg.epochs.is_none(),
        ..Default::default()
    };
    let mut best = f64::INFINITY;
    let mut best_snap: Option<HashMap<String, Tensor>> = None;
    let mut since_best = 0usize;
    let restore_best = cfg.early_stopping.as_ref().is_some_and(|e| e.restore_best_weights);
    if epochs == 0 {
        return Ok(report);
    }

    for epoch in 1..=epochs {
        let t0 = Instant::now();
        let order = if cfg.shuffle {
            Some(Tensor::from_slice(&rng::permutation(&mut shuffle_rng, n)).to_device(device))
        } else {
            None
        };
        let mut total = Tensor::zeros([], (Kind::Double, device));
        for s in 0..steps {
            let start = (s * bs) as i64;
            let len = bs.min(n - s * bs) as i64;
            let xb = match &order {
                Some(o) => x.index_select(0, &o.narrow(0, start, len)),
                None => x.narrow(0, start, len),
            };
            opt.zero_grad();
            let loss = loss_fn(&xb, Step { train: true })?.backward();
            if let Some(c) = cfg.clip_grad_norm {
                opt.clip_grad_norm(c);
            }
            opt.step();
            report.steps += 1;
            total += loss.detach().to_kind(Kind::Double) * len as f64;
            pb.inc(1);
        }
        let train_loss = total.double_value(&[]) / n as f64;
        if !train_loss.is_finite() {
            pb.abandon();
            return Err(OddityError::Diverged { epoch, step: steps, loss: train_loss });
        }
        let val_loss = match x_val {
            Some(v) => Some(eval_loss(v, bs, loss_fn)?),
            None => None,
        };
        let watched = match monitor.as_mut() {
            Some(m) => Some(((m.eval)()?, m.maximize)),
            None => None,
        };
        let seconds = t0.elapsed().as_secs_f64();
        report.epochs.push(EpochStats { epoch, train_loss, val_loss, seconds });
        let mut msg = match val_loss {
            Some(v) => format!("epoch {epoch}/{epochs} loss {train_loss:.5} val {v:.5} ({seconds:.2}s)"),
            None => format!("epoch {epoch}/{epochs} loss {train_loss:.5} ({seconds:.2}s)"),
        };
        if let Some((w, _)) = watched {
            msg.push_str(&format!(" monitor {w:.5}"));
        }
        pb.set_message(msg.clone());
        if lines {
            eprintln!("{label}: {msg}");
        }

        // Lower is better here; a maximised monitor is negated.
        let monitored = match watched {
            Some((w, true)) => -w,
            Some((w, false)) => w,
            None => val_loss.unwrap_or(train_loss),
        };
        let min_delta = cfg.early_stopping.as_ref().map_or(0.0, |e| e.min_delta);
        if monitored < best - min_delta {
            best = monitored;
            report.best_epoch = epoch;
            since_best = 0;
            if restore_best {
                best_snap = Some(snapshot(vs));
            }
        } else {
            since_best += 1;
        }
        if let Some(es) = &cfg.early_stopping {
            if since_best >= es.patience.max(1) {
                report.stopped_early = true;
                break;
            }
        }
    }
    pb.finish_and_clear();
    match (&best_snap, restore_best) {
        (Some(s), true) => restore(vs, s),
        _ => report.best_epoch = report.epochs.len(),
    }
    Ok(report)
}

/// Mean loss over `x` in batches of `bs`, without gradients.
fn eval_loss(x: &Tensor, bs: usize, loss_fn: &mut dyn FnMut(&Tensor, Step) -> Result<Loss>) -> Result<f64> {
    let n = x.size()[0] as usize;
    tch::no_grad(|| {
        let mut total = Tensor::zeros([], (Kind::Double, x.device()));
        for (_, xb) in crate::math::tensor::row_batches(x, bs) {
            let l = loss_fn(&xb, Step { train: false })?.value;
            total += l.to_kind(Kind::Double) * xb.size()[0] as f64;
        }
        Ok(total.double_value(&[]) / n as f64)
    })
}
