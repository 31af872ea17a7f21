//! Training settings shared by every detector, and the report `fit` returns.

use serde::{Deserialize, Serialize};

use crate::error::{OddityError, Result};
use crate::validate::{check_batch_size, check_non_negative, check_positive};

/// Gradient-based optimizer and its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    /// Adam; the defaults are Keras' (eps 1e-7), as in Alibi Detect.
    Adam { beta1: f64, beta2: f64, eps: f64, weight_decay: f64 },
    /// AdamW (decoupled weight decay).
    AdamW { beta1: f64, beta2: f64, eps: f64, weight_decay: f64 },
    /// Stochastic gradient descent with momentum.
    Sgd { momentum: f64 },
    /// RMSprop.
    RmsProp { alpha: f64, eps: f64, momentum: f64 },
}

impl Optimizer {
    /// Checks ranges: betas, momentum and alpha in [0, 1), eps positive,
    /// weight decay non-negative, all finite.
    pub fn validate(&self) -> Result<()> {
        let unit = |name: &'static str, v: f64| -> Result<()> {
            if (0.0..1.0).contains(&v) {
                Ok(())
            } else {
                Err(OddityError::param(name, format!("{v} is outside [0, 1)")))
            }
        };
        match *self {
            Optimizer::Adam { beta1, beta2, eps, weight_decay }
            | Optimizer::AdamW { beta1, beta2, eps, weight_decay } => {
                unit("optimizer.beta1", beta1)?;
                unit("optimizer.beta2", beta2)?;
                check_positive("optimizer.eps", eps)?;
                check_non_negative("optimizer.weight_decay", weight_decay)
            }
            Optimizer::Sgd { momentum } => unit("optimizer.momentum", momentum),
            Optimizer::RmsProp { alpha, eps, momentum } => {
                unit("optimizer.alpha", alpha)?;
                check_positive("optimizer.eps", eps)?;
                unit("optimizer.momentum", momentum)
            }
        }
    }
}

impl Default for Optimizer {
    fn default() -> Self {
        Optimizer::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-7, weight_decay: 0.0 }
    }
}

/// Stop when the monitored loss (validation loss if there is a validation
/// split, else training loss) has not improved by `min_delta` for `patience`
/// epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// Smallest decrease that counts as an improvement.
    pub min_delta: f64,
    /// Put back the weights of the best epoch when training ends.
    pub restore_best_weights: bool,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        EarlyStopping { patience: 5, min_delta: 0.0, restore_best_weights: true }
    }
}

/// How to train. Every field has a default; change what you need:
/// `FitConfig { epochs: Some(50), batch_size: 1024, ..Default::default() }`.
///
/// How long to train, by default, follows the table: `epochs` unset means
/// enough epochs for `step_budget` optimizer steps (see
/// [`FitConfig::epochs_for`] and docs/defaults.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FitConfig {
    /// Passes over the training data; `None` (the default): as many as
    /// `step_budget` optimizer steps take on the table at hand. `Some(0)`
    /// trains nothing: the detector keeps its seeded initial weights (GMM
    /// detectors still fit their mixture), which gives the "untrained
    /// network" baseline.
    pub epochs: Option<usize>,
    /// Optimizer steps to train for when `epochs` is unset. A fixed epoch
    /// count gives a 350-row table ~20 steps and a million-row table ~80,000;
    /// Adam at these learning rates settles these small networks in a few
    /// thousand steps whatever the table (docs/defaults.md).
    pub step_budget: usize,
    /// Rows per optimisation step; the last, shorter batch is kept.
    pub batch_size: usize,
    /// Optimizer learning rate.
    pub learning_rate: f64,
    /// Optimizer and its settings.
    pub optimizer: Optimizer,
    /// A fresh random order of the rows every epoch.
    pub shuffle: bool,
    /// Seeds weight initialisation, shuffling, the validation split and VAE noise.
    pub seed: u64,
    /// Show a progress bar (or one line per epoch when stderr is not a terminal).
    pub verbose: bool,
    /// Fraction of the rows held out to compute a validation loss (0 = none).
    pub validation_split: f64,
    /// Early stopping; `None` trains for all epochs.
    pub early_stopping: Option<EarlyStopping>,
    /// Clip the global gradient L2 norm to this value.
    pub clip_grad_norm: Option<f64>,
    /// libtorch intra-op CPU threads while training; the previous setting is
    /// restored afterwards. Default 1: small tabular networks train fastest
    /// on one thread (1.42 vs 1.59 s per KDD AEGMM epoch on 2 cores), and one
    /// thread cannot spin against other processes on a busy machine
    /// (docs/benchmarks.md). `None` keeps libtorch's setting.
    pub threads: Option<usize>,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            epochs: None,
            step_budget: DEFAULT_STEP_BUDGET,
            batch_size: 256,
            learning_rate: 1e-3,
            optimizer: Optimizer::default(),
            shuffle: true,
            seed: 0,
            verbose: false,
            validation_split: 0.0,
            early_stopping: None,
            clip_grad_norm: None,
            threads: Some(1),
        }
    }
}

/// [`FitConfig::step_budget`]'s default (docs/defaults.md).
pub const DEFAULT_STEP_BUDGET: usize = 3_000;

impl FitConfig {
    /// Epochs a fit on `n_train` rows runs: `epochs` when set, else the
    /// fewest whole epochs that reach `step_budget` steps (at least one).
    pub fn epochs_for(&self, n_train: usize) -> usize {
        let per_epoch = n_train.div_ceil(self.batch_size.min(n_train).max(1)).max(1);
        self.epochs.unwrap_or_else(|| self.step_budget.div_ceil(per_epoch).max(1))
    }

    /// Checks every field; called by `fit` before any work.
    pub fn validate(&self) -> Result<()> {
        check_batch_size("batch_size", self.batch_size)?;
        crate::validate::check_size("step_budget", self.step_budget, crate::validate::bounds::MAX_STEPS)?;
        check_positive("learning_rate", self.learning_rate)?;
        if !(0.0..1.0).contains(&self.validation_split) {
            return Err(OddityError::param("validation_split", format!("{} is outside [0, 1)", self.validation_split)));
        }
        if let Some(es) = &self.early_stopping {
            check_non_negative("early_stopping.min_delta", es.min_delta)?;
        }
        if let Some(c) = self.clip_grad_norm {
            check_positive("clip_grad_norm", c)?;
        }
        if let Some(t) = self.threads {
            crate::validate::check_size("threads", t, crate::validate::bounds::MAX_THREADS)?;
        }
        self.optimizer.validate()
    }
}

/// Loss and time of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's steps.
    pub train_loss: f64,
    /// Validation loss after the epoch, if there is a validation split.
    pub val_loss: Option<f64>,
    /// Wall time of the epoch in seconds.
    pub seconds: f64,
}

/// What `fit` did.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TrainReport {
    /// Per-epoch loss and time.
    pub epochs: Vec<EpochStats>,
    /// Epochs the fit set out to run (fewer ran if it stopped early).
    #[serde(default)]
    pub planned_epochs: usize,
    /// Whether `planned_epochs` came from the step budget (`epochs` unset).
    #[serde(default)]
    pub from_budget: bool,
    /// Optimizer steps taken.
    #[serde(default)]
    pub steps: usize,
    /// The epoch whose weights the detector keeps (1-based).
    pub best_epoch: usize,
    /// Training ended before `epochs` because of early stopping.
    pub stopped_early: bool,
    /// Rows used for training and for validation.
    pub n_train: usize,
    /// Rows held out for validation.
    pub n_val: usize,
    /// Wall time of the whole fit, including the final GMM pass.
    pub train_seconds: f64,
    /// How often a covariance factorisation needed more jitter than `gmm_eps`.
    pub jitter_retries: usize,
    /// The largest jitter used (0 if none was needed beyond the configured one).
    pub max_jitter: f64,
    /// What the fit did instead of training, for detectors without a
    /// training loop (KNN, IsolationForest, ECOD), e.g. that epoch settings
    /// were ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl TrainReport {
    /// The report of a fit without a training loop: no epochs, `n_train`
    /// rows, `train_seconds`, and a note saying what was done instead.
    pub fn without_training(n_train: usize, train_seconds: f64, note: impl Into<String>) -> Self {
        TrainReport {
            epochs: Vec::new(),
            planned_epochs: 0,
            from_budget: false,
            steps: 0,
            best_epoch: 0,
            stopped_early: false,
            n_train,
            n_val: 0,
            train_seconds,
            jitter_retries: 0,
            max_jitter: 0.0,
            note: Some(note.into()),
        }
    }

    /// Training loss of the last epoch.
    pub fn final_loss(&self) -> Option<f64> {
        self.epochs.last().map(|e| e.train_loss)
    }
}

/// Rows per pass of the streaming passes that run on the calling thread with
/// libtorch's own threads: inside `fit` (the GMM estimate, residual
/// statistics) and the supervised baseline's scoring.
pub const FIT_PASS_BATCH: usize = 16_384;
