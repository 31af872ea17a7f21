//! `OutlierAE`: autoencoder reconstruction error.
//!
//! Feature score = squared reconstruction error per feature (in standardized
//! units when `standardize` is on), or optionally its log-ratio to the
//! feature's typical training error ([`FeatureScore`]); instance score = mean
//! of the largest `outlier_perc` % of a row's feature scores (all of them by
//! default, i.e. the row's MSE), as in Alibi Detect.

use std::path::Path;

use ndarray::{Array1, Array2, ArrayView2};
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

use super::common::{self, Fitted, Transform};
use crate::detector::{Detector, DetectorKind, OutlierType, PredictConfig, Scores};
use crate::error::{OddityError, Result};
use crate::fit::{FitConfig, TrainReport};
use crate::nn::{check_layers, layers, Activation, Layer, Mlp};
use crate::persist;
use crate::rng;

/// Architecture of an [`OutlierAE`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AeConfig {
    /// Input width.
    pub n_features: usize,
    /// Encoder layers; the last one is the code.
    pub encoder: Vec<Layer>,
    /// Decoder layers; the last one must have `n_features` units.
    pub decoder: Vec<Layer>,
    /// Standardize inputs with mean/std fitted on the training inliers.
    pub standardize: bool,
    /// How a feature's residual becomes its score; files written before this
    /// option existed read as the default.
    #[serde(default)]
    pub score: FeatureScore,
}

/// How the residual `r_j = x_j - x̂_j` of feature `j` becomes its feature score.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureScore {
    /// `r_j²`, Alibi Detect's score.
    #[default]
    Squared,
    /// `ln(1 + r_j² / s_j)`, with `s_j` the mean of `r_j²` over the training
    /// inliers (measured after training). Each feature is judged against its
    /// own typical error, so features the network never learns to reconstruct
    /// stop drowning out the others, and the log keeps one extreme feature from
    /// outweighing several clearly abnormal ones.
    LogNormalized,
}

impl FeatureScore {
    /// Parses `squared` or `lognorm` (as the command-line tools spell them).
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "squared" => Ok(FeatureScore::Squared),
            "lognorm" | "log_normalized" => Ok(FeatureScore::LogNormalized),
            other => Err(OddityError::param("score", format!("`{other}` is not squared or lognorm"))),
        }
    }
}

impl AeConfig {
    /// A mirrored network: `hidden` widths down to `latent`, back up, linear
    /// output; `activation` on hidden layers.
    pub fn symmetric(n_features: usize, hidden: &[usize], latent: usize, activation: Activation) -> Self {
        let mut enc: Vec<usize> = hidden.to_vec();
        enc.push(latent);
        let mut dec: Vec<usize> = hidden.iter().rev().copied().collect();
        dec.push(n_features);
        AeConfig {
            n_features,
            encoder: layers(&enc, activation, activation),
            decoder: layers(&dec, activation, Activation::Linear),
            standardize: true,
            score: FeatureScore::Squared,
        }
    }

    /// The classic credit-card fraud net 29-14-7-7-29 (tanh, relu, tanh, relu).
    pub fn creditcard(n_features: usize) -> Self {
        AeConfig {
            n_features,
            encoder: vec![Layer::new(14, Activation::Tanh), Layer::new(7, Activation::Relu)],
            decoder: vec![Layer::new(7, Activation::Tanh), Layer::new(n_features, Activation::Relu)],
            standardize: false,
            score: FeatureScore::Squared,
        }
    }

    /// Checks widths and the decoder output.
    pub fn validate(&self) -> Result<()> {
        check_layers("encoder", self.n_features, &self.encoder)?;
        let code = self.encoder.last().map_or(0, |l| l.units);
        check_layers("decoder", code, &self.decoder)?;
        let out = self.decoder.last().map_or(0, |l| l.units);
        if out != self.n_features {
            return Err(OddityError::param(
                "decoder",
                format!("last layer has {out} units, must equal n_features = {}", self.n_features),
            ));
        }
        Ok(())
    }
}

/// The networks and their variables.
#[derive(Debug)]
pub(crate) struct AeNet {
    pub vs: nn::VarStore,
    enc: Mlp,
    dec: Mlp,
}

impl AeNet {
    fn build(cfg: &AeConfig, device: Device, seed: u64) -> Self {
        let vs = nn::VarStore::new(device);
        let mut r = rng::rng(seed, rng::STREAM_INIT);
        let enc = Mlp::new(&(vs.root() / "encoder"), cfg.n_features, &cfg.encoder, &mut r);
        let code = cfg.encoder.last().map_or(0, |l| l.units);
        let dec = Mlp::new(&(vs.root() / "decoder"), code, &cfg.decoder, &mut r);
        AeNet { vs, enc, dec }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        self.dec.forward(&self.enc.forward(x, train), train)
    }
}

/// Autoencoder outlier detector.
#[derive(Debug)]
pub struct OutlierAE {
    cfg: AeConfig,
    device: Device,
    net: AeNet,
    state: Fitted,
    /// Per-feature mean squared training residual, for [`FeatureScore::LogNormalized`].
    residual_scale: Option<Vec<f32>>,
}

/// What an AE file stores beside the common state.
#[derive(Debug, Default, Serialize, Deserialize)]
struct AeExtra {
    residual_scale: Option<Vec<f32>>,
}

impl OutlierAE {
    /// Builds an untrained detector on `device`.
    pub fn new(cfg: AeConfig, device: crate::Device) -> Result<Self> {
        cfg.validate()?;
        let device = device.resolve()?;
        let net = AeNet::build(&cfg, device, 0);
        Ok(OutlierAE { cfg, device, net, state: Fitted::default(), residual_scale: None })
    }

    /// Every weight as (name, values); for tests and inspection.
    #[doc(hidden)]
    pub fn parameters(&self) -> Vec<(String, Vec<f32>)> {
        common::parameters(&self.net.vs)
    }

    /// The architecture.
    pub fn config(&self) -> &AeConfig {
        &self.cfg
    }

    /// Reconstructions of `x`, in input units (standardization undone).
    pub fn reconstruct(&self, x: ArrayView2<f32>, batch_size: usize) -> Result<Array2<f32>> {
        common::check_score("OutlierAE", &self.state, &x, self.cfg.n_features)?;
        let tf = Transform::new(self.state.scaler.as_ref(), self.device);
        let undo = self.state.scaler.as_ref().map(|s| s.tensors(self.device));
        let mut out = Vec::with_capacity(x.len());
        tch::no_grad(|| {
            common::for_batches(&x, batch_size.max(1), self.device, &tf, |_, xb| {
                let mut xr = self.net.forward(&xb, false);
                if let Some((m, sd)) = &undo {
                    xr = xr * sd + m;
                }
                out.extend(common::to_vec_f32(&xr));
                Ok(())
            })
        })?;
        Array2::from_shape_vec((x.nrows(), x.ncols()), out).map_err(|e| OddityError::Numerical(e.to_string()))
    }

    /// Loads a detector saved by [`Detector::save`]; fails if the file holds another kind.
    pub fn load(path: &Path, device: crate::Device) -> Result<Self> {
        Self::from_file(&persist::read(path)?, device)
    }

    pub(crate) fn from_file(f: &persist::DetectorFile, device: crate::Device) -> Result<Self> {
        f.expect_kind(DetectorKind::Ae)?;
        let cfg: AeConfig = f.config()?;
        let mut det = OutlierAE::new(cfg, device).map_err(|e| f.invalid(e))?;
        f.load_vars(&det.net.vs)?;
        f.check_scaler(det.cfg.n_features)?;
        det.state = f.fitted_state();
        let extra: Option<AeExtra> = f.extra()?;
        det.residual_scale = extra.and_then(|e| e.residual_scale);
        det.check_residual_scale().map_err(|e| f.invalid(e))?;
        Ok(det)
    }

    /// A fitted `LogNormalized` detector needs one positive finite scale per feature.
    fn check_residual_scale(&self) -> Result<()> {
        if !self.state.fitted || self.cfg.score != FeatureScore::LogNormalized {
            return Ok(());
        }
        match &self.residual_scale {
            Some(s) if s.len() == self.cfg.n_features && s.iter().all(|v| v.is_finite() && *v > 0.0) => Ok(()),
            Some(s) => Err(OddityError::param(
                "residual_scale",
                format!("needs {} positive finite values, has {} (or a bad value)", self.cfg.n_features, s.len()),
            )),
            None => Err(OddityError::param("residual_scale", "missing for score = log_normalized")),
        }
    }

    /// Mean squared residual per feature over `x` (already transformed, on the device).
    fn mean_square_residual(&self, x: &Tensor) -> Result<Vec<f32>> {
        let n = x.size()[0].max(1) as f64;
        let mut sum = Tensor::zeros([self.cfg.n_features as i64], (Kind::Double, self.device));
        tch::no_grad(|| {
            for (_, xb) in common::row_batches(x, crate::detector::DEFAULT_SCORE_BATCH) {
                sum += self.squared_residual(&xb).sum_dim_intlist(0, false, Kind::Double);
            }
        });
        let mean = common::to_vec_f32(&(sum / n));
        // A feature reconstructed exactly (a constant column) gets a small
        // floor rather than a division by zero.
        let floor = 1e-12f32.max(1e-6 * mean.iter().cloned().fold(0.0, f32::max));
        Ok(mean.iter().map(|&m| m.max(floor)).collect())
    }

    fn squared_residual(&self, xb: &Tensor) -> Tensor {
        (self.net.forward(xb, false) - xb).square()
    }

    /// `[1, F]` divisor of [`FeatureScore::LogNormalized`] on the device, built
    /// once per scoring call; `None` for squared error.
    fn residual_scale_tensor(&self) -> Option<Tensor> {
        match (&self.cfg.score, &self.residual_scale) {
            (FeatureScore::LogNormalized, Some(s)) => {
                Some(Tensor::from_slice(s).view([1, s.len() as i64]).to_device(self.device))
            }
            _ => None,
        }
    }

    /// Feature scores of a transformed batch.
    fn feature_scores(&self, xb: &Tensor, scale: Option<&Tensor>) -> Tensor {
        let r2 = self.squared_residual(xb);
        match scale {
            Some(s) => (r2 / s).log1p(),
            None => r2,
        }
    }
}

/// Instance scores from feature scores `fs [N, F]`: mean of the top `perc` %.
pub fn instance_from_features(fs: &Tensor, perc: f64) -> Tensor {
    let f = fs.size()[1];
    let k = ((0.01 * perc * f as f64).ceil() as i64).clamp(1, f);
    if k == f {
        fs.mean_dim(-1, false, Kind::Float)
    } else {
        fs.topk(k, -1, true, false).0.mean_dim(-1, false, Kind::Float)
    }
}

impl Detector for OutlierAE {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Ae
    }

    fn n_features(&self) -> usize {
        self.cfg.n_features
    }

    fn is_fitted(&self) -> bool {
        self.state.fitted
    }

    fn fit(&mut self, x: ArrayView2<f32>, cfg: &FitConfig) -> Result<TrainReport> {
        let t0 = std::time::Instant::now();
        let data = common::prepare_fit(&x, self.cfg.n_features, self.cfg.standardize, cfg, self.device)?;
        self.net = AeNet::build(&self.cfg, self.device, cfg.seed);
        self.state = Fitted { scaler: data.scaler, ..Default::default() };
        let net = &self.net;
        let mut loss = |xb: &Tensor, step: crate::train::Step| -> Result<crate::train::Loss> {
            if !step.train {
                return Ok((net.forward(xb, false) - xb).square().mean(Kind::Float).into());
            }
            // Mean squared error, differentiated by hand through both halves:
            // d/dxr mean((xr - x)^2) = 2 (xr - x) / numel.
            let (code, enc_tape) = net.enc.forward_taped(xb, true);
            let (xr, dec_tape) = net.dec.forward_taped(&code, true);
            let diff = tch::no_grad(|| xr - xb);
            let value = tch::no_grad(|| diff.square().mean(Kind::Float));
            let scale = 2.0 / diff.numel().max(1) as f64;
            Ok(crate::train::Loss::by_hand(value, move || {
                if let Some(d) = dec_tape.backward(&tch::no_grad(|| diff * scale), true) {
                    enc_tape.backward(&d, false);
                }
            }))
        };
        let mut report = crate::train::train(&net.vs, &data.train, data.val.as_ref(), cfg, "OutlierAE", &mut loss)?;
        self.residual_scale = match self.cfg.score {
            FeatureScore::Squared => None,
            FeatureScore::LogNormalized => Some(self.mean_square_residual(&data.train)?),
        };
        report.train_seconds = t0.elapsed().as_secs_f64();
        self.state.fitted = true;
        self.state.report = Some(report.clone());
        Ok(report)
    }

    fn score_with(&self, x: ArrayView2<f32>, cfg: &PredictConfig) -> Result<Scores> {
        cfg.validate()?;
        common::check_score("OutlierAE", &self.state, &x, self.cfg.n_features)?;
        let want_features = cfg.return_feature_score || cfg.outlier_type == OutlierType::Feature;
        let tf = Transform::new(self.state.scaler.as_ref(), self.device);
        let scale = self.residual_scale_tensor();
        let mut inst = Vec::with_capacity(x.nrows());
        let mut feat = Vec::with_capacity(if want_features { x.len() } else { 0 });
        tch::no_grad(|| {
            common::for_batches(&x, cfg.batch_size, self.device, &tf, |_, xb| {
                let fs = self.feature_scores(&xb, scale.as_ref());
                inst.extend(common::to_vec_f32(&instance_from_features(&fs, cfg.outlier_perc)));
                if want_features {
                    feat.extend(common::to_vec_f32(&fs));
                }
                Ok(())
            })
        })?;
        let feature = if want_features {
            Some(
                Array2::from_shape_vec((x.nrows(), x.ncols()), feat)
                    .map_err(|e| OddityError::Numerical(e.to_string()))?,
            )
        } else {
            None
        };
        Ok(Scores { instance: Array1::from(inst), feature })
    }

    fn threshold(&self) -> Option<f64> {
        self.state.threshold
    }

    fn set_threshold(&mut self, threshold: f64) -> Result<()> {
        self.state.set_threshold(threshold)
    }

    fn device(&self) -> Device {
        self.device
    }

    fn save(&self, path: &Path) -> Result<()> {
        let extra = AeExtra { residual_scale: self.residual_scale.clone() };
        common::save(path, DetectorKind::Ae, &self.cfg, &extra, &self.net.vs, &self.state, None)
    }

    fn train_report(&self) -> Option<&TrainReport> {
        self.state.report.as_ref()
    }
}
