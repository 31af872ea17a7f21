//! A supervised baseline for when labels exist: a small dense binary
//! classifier on libtorch, after TensorFlow's "Classification on imbalanced
//! data" tutorial.
//!
//! - **Network:** dense hidden layers (default one of 16 units, relu, dropout
//!   0.5), then one output logit; the probability is its sigmoid.
//! - **Output bias** starts at `ln(pos / neg)` of the training labels, so the
//!   untrained network already predicts the base rate.
//! - **Loss:** binary cross-entropy, optionally class-weighted ([`ClassWeights`]):
//!   `(1/N) Σ w(y_i) · −[y_i ln p_i + (1 − y_i) ln(1 − p_i)]`. As in Keras, the
//!   weights apply to the training loss only; the validation loss is unweighted.
//! - **Training:** the shared loop (`FitConfig`: optimizer, batch size,
//!   shuffling, seed). After every epoch the validation AUPRC (average
//!   precision) is computed; it, not the loss, drives early stopping and the
//!   best-weight restore. [`tutorial_fit_config`] gives the tutorial's settings.
//! - **Randomness:** weights, shuffling and dropout masks are drawn on the
//!   host from ChaCha8 streams keyed by `FitConfig::seed`, so a fit is
//!   reproducible.
//!
//! It classifies; it is not an outlier detector and does not implement
//! [`crate::Detector`].

use ndarray::{Array1, ArrayView2};
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Reduction, Tensor};

use crate::error::{OddityError, Result};
use crate::eval::metrics::average_precision;
use crate::math::rng;
use crate::math::scale::Standardizer;
use crate::math::tensor::{for_batches, to_tensor, to_vec_f32, Transform};
use crate::nn::{check_layers, Activation, Layer, Mlp};
use crate::train::config::FIT_PASS_BATCH;
use crate::train::config::{EarlyStopping, FitConfig, TrainReport};
use crate::train::{train_monitored, Monitor, Step};
use crate::validate::check_features;

/// Per-class weights of the binary cross-entropy.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeights {
    /// Every row weighs 1.
    #[default]
    None,
    /// Keras tutorial / scikit-learn "balanced": `w_neg = N / (2 neg)`,
    /// `w_pos = N / (2 pos)` from the training labels, so each class carries
    /// half of the total weight.
    Balanced,
    /// Fixed weights for negative (normal) and positive (fraud, outlier) rows.
    Manual {
        /// Weight of rows labelled `false`.
        negative: f64,
        /// Weight of rows labelled `true`.
        positive: f64,
    },
}

impl ClassWeights {
    /// `(w_neg, w_pos)` for `neg` negative and `pos` positive rows.
    pub fn resolve(&self, neg: usize, pos: usize) -> Result<(f64, f64)> {
        match *self {
            ClassWeights::None => Ok((1.0, 1.0)),
            ClassWeights::Balanced => {
                if neg == 0 || pos == 0 {
                    return Err(OddityError::param("class_weights", "balanced weights need both classes"));
                }
                let total = (neg + pos) as f64;
                Ok((total / (2.0 * neg as f64), total / (2.0 * pos as f64)))
            }
            ClassWeights::Manual { negative, positive } => {
                for (name, w) in [("negative", negative), ("positive", positive)] {
                    if !(w.is_finite() && w >= 0.0) {
                        return Err(OddityError::param("class_weights", format!("{name} weight {w} must be >= 0")));
                    }
                }
                Ok((negative, positive))
            }
        }
    }
}

/// Architecture and loss of a [`BaselineClassifier`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    /// Input width.
    pub n_features: usize,
    /// Hidden layers (width, activation, dropout after it while training);
    /// the output logit follows.
    pub hidden: Vec<Layer>,
    /// Weights of the two classes in the training loss.
    pub class_weights: ClassWeights,
    /// Standardize inputs with mean/std fitted on the training rows.
    pub standardize: bool,
}

impl ClassifierConfig {
    /// The tutorial's network: 16 relu units, dropout 0.5, no class weights,
    /// standardized inputs.
    pub fn new(n_features: usize) -> Self {
        ClassifierConfig {
            n_features,
            hidden: vec![Layer::new(16, Activation::Relu).with_dropout(0.5)],
            class_weights: ClassWeights::None,
            standardize: true,
        }
    }

    /// Checks widths, dropout and weights.
    pub fn validate(&self) -> Result<()> {
        if !self.hidden.is_empty() {
            check_layers("hidden", self.n_features, &self.hidden)?;
        } else if self.n_features == 0 {
            return Err(OddityError::param("n_features", "must be at least 1"));
        }
        self.class_weights.resolve(1, 1).map(|_| ())
    }
}

/// The tutorial's training settings: Adam (lr 1e-3), batch 2048, up to 100
/// epochs, early stopping after 10 epochs without a better validation AUPRC,
/// best weights restored.
pub fn tutorial_fit_config(seed: u64) -> FitConfig {
    FitConfig {
        epochs: Some(100),
        batch_size: 2048,
        seed,
        early_stopping: Some(EarlyStopping { patience: 10, min_delta: 0.0, restore_best_weights: true }),
        ..Default::default()
    }
}

/// What [`BaselineClassifier::fit`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierReport {
    /// Losses per epoch, best epoch, early stop; `best_epoch` is the epoch of
    /// the highest validation AUPRC when early stopping restores weights.
    pub train: TrainReport,
    /// Validation AUPRC after each epoch.
    pub val_auprc: Vec<f64>,
    /// Initial output bias, `ln(pos / neg)` of the training labels.
    pub initial_bias: f64,
    /// `(w_neg, w_pos)` used in the training loss.
    pub class_weights: (f64, f64),
}

impl ClassifierReport {
    /// Validation AUPRC of the epoch whose weights were kept.
    pub fn best_val_auprc(&self) -> Option<f64> {
        self.train.best_epoch.checked_sub(1).and_then(|i| self.val_auprc.get(i)).copied()
    }
}

/// The network and its variables.
#[derive(Debug)]
struct Net {
    vs: nn::VarStore,
    /// Hidden layers (their dropout is drawn by `Mlp` from a seeded stream).
    hidden: Mlp,
    output: Mlp,
}

impl Net {
    fn build(cfg: &ClassifierConfig, device: Device, seed: u64, bias: f64) -> Net {
        let vs = nn::VarStore::new(device);
        let mut r = rng::rng(seed, rng::STREAM_INIT);
        let hidden = Mlp::new(&(vs.root() / "hidden"), cfg.n_features, &cfg.hidden, &mut r);
        let fan_in = cfg.hidden.last().map_or(cfg.n_features, |l| l.units);
        let output = Mlp::new(&(vs.root() / "output"), fan_in, &[Layer::new(1, Activation::Linear)], &mut r);
        tch::no_grad(|| {
            for (name, mut v) in vs.variables() {
                if name.starts_with("output") && name.ends_with("bias") {
                    let _ = v.fill_(bias);
                }
            }
        });
        Net { vs, hidden, output }
    }

    /// Logits `[rows]`; dropout is active when `train` is true.
    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        self.output.forward(&self.hidden.forward(x, train), false).squeeze_dim(1)
    }
}

/// Mean binary cross-entropy of `logits` against 0/1 `targets`, each row
/// weighted by `w_neg` or `w_pos` by its class.
fn bce(logits: &Tensor, targets: &Tensor, (w_neg, w_pos): (f64, f64)) -> Tensor {
    let w = targets * (w_pos - w_neg) + w_neg;
    logits.binary_cross_entropy_with_logits(targets, Some(&w), None::<&Tensor>, Reduction::Mean)
}

/// The training loss on host data, for checking by hand:
/// `(1/N) Σ w(y_i) · −[y_i ln σ(z_i) + (1 − y_i) ln(1 − σ(z_i))]` with
/// `(w_neg, w_pos)` from `weights` resolved on `labels`.
pub fn weighted_bce(logits: &[f32], labels: &[bool], weights: &ClassWeights) -> Result<f64> {
    if logits.is_empty() {
        return Err(OddityError::EmptyInput("weighted_bce: no logits".into()));
    }
    if logits.len() != labels.len() {
        return Err(OddityError::param("labels", format!("has {} entries for {} logits", labels.len(), logits.len())));
    }
    let pos = labels.iter().filter(|&&b| b).count();
    let w = weights.resolve(labels.len() - pos, pos)?;
    let z = Tensor::from_slice(logits).to_kind(Kind::Double);
    let y = Tensor::from_slice(&labels.iter().map(|&b| f64::from(u8::from(b))).collect::<Vec<f64>>());
    Ok(bce(&z, &y, w).double_value(&[]))
}

/// A dense binary classifier with an imbalance-aware initial bias and
/// optional class weights; see the module docs.
#[derive(Debug)]
pub struct BaselineClassifier {
    cfg: ClassifierConfig,
    device: Device,
    net: Option<Net>,
    scaler: Option<Standardizer>,
    report: Option<ClassifierReport>,
}

/// `labels` as a `[rows, 1]` f32 column of 0/1 on `device`.
fn label_column(labels: &[bool], device: Device) -> Tensor {
    let v: Vec<f32> = labels.iter().map(|&b| f32::from(u8::from(b))).collect();
    Tensor::from_slice(&v).view([-1, 1]).to_device(device)
}

/// Checks a labelled set: width, finiteness, matching labels, both classes.
fn check_labelled(x: &ArrayView2<f32>, y: &[bool], n_features: usize, what: &'static str) -> Result<(usize, usize)> {
    check_features(x, n_features, what)?;
    if x.nrows() != y.len() {
        return Err(OddityError::param(what, format!("{} labels for {} rows", y.len(), x.nrows())));
    }
    let pos = y.iter().filter(|&&b| b).count();
    if pos == 0 || pos == y.len() {
        return Err(OddityError::param(what, "needs both classes (positive and negative rows)"));
    }
    Ok((y.len() - pos, pos))
}

impl BaselineClassifier {
    /// An untrained classifier on `device`.
    pub fn new(cfg: ClassifierConfig, device: crate::Device) -> Result<Self> {
        cfg.validate()?;
        Ok(BaselineClassifier { cfg, device: device.resolve()?, net: None, scaler: None, report: None })
    }

    /// The configuration.
    pub fn config(&self) -> &ClassifierConfig {
        &self.cfg
    }

    /// The report of the last `fit`.
    pub fn report(&self) -> Option<&ClassifierReport> {
        self.report.as_ref()
    }

    /// Trains on `(x_train, y_train)` (`true` = positive), computing the AUPRC
    /// of `(x_val, y_val)` after every epoch for early stopping. Both sets need
    /// both classes. `cfg.validation_split` must be 0: the validation set is
    /// the one given.
    pub fn fit(
        &mut self,
        x_train: ArrayView2<f32>,
        y_train: &[bool],
        x_val: ArrayView2<f32>,
        y_val: &[bool],
        cfg: &FitConfig,
    ) -> Result<ClassifierReport> {
        cfg.validate()?;
        if cfg.validation_split != 0.0 {
            return Err(OddityError::param("validation_split", "must be 0: the classifier takes x_val, y_val"));
        }
        let f = self.cfg.n_features;
        let (neg, pos) = check_labelled(&x_train, y_train, f, "training data")?;
        check_labelled(&x_val, y_val, f, "validation data")?;
        let weights = self.cfg.class_weights.resolve(neg, pos)?;
        let initial_bias = (pos as f64 / neg as f64).ln();

        let t0 = std::time::Instant::now();
        let dev = self.device;
        let scaler = self.cfg.standardize.then(|| Standardizer::fit(&x_train));
        let tf = Transform::new(scaler.as_ref(), dev);
        // Features and label share one tensor: the shared loop batches rows only.
        let train = Tensor::cat(&[tf.apply(to_tensor(&x_train, dev)?), label_column(y_train, dev)], 1);
        let val_x = tf.apply(to_tensor(&x_val, dev)?);
        let val = Tensor::cat(&[val_x.shallow_clone(), label_column(y_val, dev)], 1);

        let net = Net::build(&self.cfg, dev, cfg.seed, initial_bias);
        let mut loss = |xb: &Tensor, step: Step| -> Result<crate::train::Loss> {
            let (x, y) = (xb.narrow(1, 0, f as i64), xb.narrow(1, f as i64, 1).squeeze_dim(1));
            // Class weights apply to the training loss only, as in Keras.
            let w = if step.train { weights } else { (1.0, 1.0) };
            Ok(bce(&net.forward(&x, step.train), &y, w).into())
        };
        let mut val_auprc = Vec::new();
        let mut eval = || -> Result<f64> {
            let logits = tch::no_grad(|| batched_logits(&net, &val_x));
            let scores: Vec<f64> = to_vec_f32(&logits).into_iter().map(f64::from).collect();
            let ap = average_precision(y_val, &scores)?;
            val_auprc.push(ap);
            Ok(ap)
        };
        let monitor = Monitor { maximize: true, eval: &mut eval };
        let mut train_report =
            train_monitored(&net.vs, &train, Some(&val), cfg, "BaselineClassifier", &mut loss, Some(monitor))?;
        train_report.train_seconds = t0.elapsed().as_secs_f64();
        let report = ClassifierReport { train: train_report, val_auprc, initial_bias, class_weights: weights };
        self.net = Some(net);
        self.scaler = scaler;
        self.report = Some(report.clone());
        Ok(report)
    }

    /// Logits (log-odds of the positive class) of the rows of `x`. They rank
    /// rows exactly like the probabilities but do not saturate in f32, so
    /// they are the better input for ROC and PR curves; `logit > 0` is `p > 0.5`.
    pub fn decision_function(&self, x: ArrayView2<f32>) -> Result<Array1<f32>> {
        let net = self.net.as_ref().ok_or(OddityError::NotFitted("BaselineClassifier"))?;
        check_features(&x, self.cfg.n_features, "input")?;
        let tf = Transform::new(self.scaler.as_ref(), self.device);
        let mut out = Vec::with_capacity(x.nrows());
        tch::no_grad(|| {
            for_batches(&x, FIT_PASS_BATCH, self.device, &tf, |_, xb| {
                out.extend(to_vec_f32(&net.forward(&xb, false)));
                Ok(())
            })
        })?;
        Ok(Array1::from(out))
    }

    /// Probabilities of the positive class for the rows of `x`.
    pub fn predict_proba(&self, x: ArrayView2<f32>) -> Result<Array1<f32>> {
        Ok(self.decision_function(x)?.mapv(|z| (1.0 / (1.0 + f64::from(-z).exp())) as f32))
    }
}

/// Logits of rows already on the device, in scoring-size batches.
fn batched_logits(net: &Net, x: &Tensor) -> Tensor {
    let n = x.size()[0];
    let bs = FIT_PASS_BATCH as i64;
    let parts: Vec<Tensor> =
        (0..n).step_by(bs as usize).map(|s| net.forward(&x.narrow(0, s, bs.min(n - s)), false)).collect();
    Tensor::cat(&parts, 0)
}
