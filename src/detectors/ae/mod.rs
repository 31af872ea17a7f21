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

use super::registered::{self, Registered};
use super::runtime::{self, DetectorState};
use crate::detectors::api::{Detector, DetectorKind, OutlierType, PredictConfig, Scores};
use crate::error::{OddityError, Result};
use crate::math::rng;
use crate::math::tensor::{self, Transform};
use crate::nn::{check_layers, layers, Activation, Layer, Mlp};
use crate::persist::{self, Record};
use crate::train::config::{FitConfig, TrainReport};

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
    /// Feature `j`'s share `c_j (P c)_j` of the squared Mahalanobis distance
    /// `c^T P c` of the centred residual vector `c = r - m`, with `m` and
    /// `P^-1` the mean and covariance of the training inliers' residuals
    /// (measured after training, on the rows held out by
    /// `FitConfig::validation_split` if any, else on the training rows: a
    /// covariance of F² entries measured on the rows the network fitted
    /// understates the errors it makes on new normal rows); the instance
    /// score (mean of the shares) is that distance over F. An autoencoder's errors on normal rows are
    /// correlated across features (the bottleneck forces them into a few
    /// patterns), so an anomaly often shows as an unusual *combination* of
    /// residuals that per-feature scores miss. The same score on
    /// reconstruction errors is used by EncDec-AD (Malhotra et al., 2016).
    /// Shares can be negative; they sum to the distance.
    Mahalanobis,
}

impl FeatureScore {
    /// Parses `squared`, `lognorm` or `mahalanobis` / `maha` (as the
    /// command-line tools spell them).
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "squared" => Ok(FeatureScore::Squared),
            "lognorm" | "log_normalized" => Ok(FeatureScore::LogNormalized),
            "maha" | "mahalanobis" => Ok(FeatureScore::Mahalanobis),
            other => Err(OddityError::param("score", format!("`{other}` is not squared, lognorm or mahalanobis"))),
        }
    }
}

impl AeConfig {
    /// The default AE for `n_features` columns (the CLI's): tanh hidden
    /// layers of 2n and n units (at least 8 and 4), a tanh code of n/4 units
    /// (at least 2), mirrored decoder, linear output.
    /// The widths are capped (1,024, 512 and 256 units) so that a wide
    /// table does not get a network of billions of weights.
    pub fn default_for(n_features: usize) -> Self {
        let n = n_features;
        let (h1, h2, code) = ((2 * n).clamp(8, 1024), n.clamp(4, 512), (n / 4).clamp(2, 256));
        AeConfig::symmetric(n, &[h1, h2], code, Activation::Tanh)
    }

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
        crate::nn::check_parameter_budget(self.n_parameters())
    }

    /// Weights of the encoder and decoder.
    pub fn n_parameters(&self) -> u64 {
        let code = self.encoder.last().map_or(0, |l| l.units);
        crate::nn::parameter_count(self.n_features, &self.encoder)
            .saturating_add(crate::nn::parameter_count(code, &self.decoder))
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
    state: DetectorState,
    /// Training-residual statistics the feature score needs.
    extra: AeExtra,
}

/// What an AE file stores beside the common state: the training-residual
/// statistics of the configured [`FeatureScore`] (none for `Squared`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct AeExtra {
    /// Per-feature mean squared residual, for `LogNormalized`.
    #[serde(default)]
    residual_scale: Option<Vec<f32>>,
    /// Mean residual `[F]`, for `Mahalanobis`.
    #[serde(default)]
    residual_mean: Option<Vec<f64>>,
    /// Inverse residual covariance `[F x F]`, row-major, for `Mahalanobis`.
    #[serde(default)]
    residual_precision: Option<Vec<f64>>,
}

/// The networks and the feature score's statistics (device tensors), as one
/// scoring worker uses them.
struct Scorer {
    enc: Mlp,
    dec: Mlp,
    stats: Stats,
}

/// A feature score's training-residual statistics.
enum Stats {
    Squared,
    LogNormalized(Tensor),
    Mahalanobis { mean: Tensor, precision: Tensor },
}

impl OutlierAE {
    /// Builds an untrained detector on `device`.
    pub fn new(cfg: AeConfig, device: crate::Device) -> Result<Self> {
        cfg.validate()?;
        let device = device.resolve()?;
        let net = AeNet::build(&cfg, device, 0);
        Ok(OutlierAE { cfg, device, net, state: DetectorState::default(), extra: AeExtra::default() })
    }

    /// Every weight as (name, values); for tests and inspection.
    #[doc(hidden)]
    pub fn parameters(&self) -> Vec<(String, Vec<f32>)> {
        runtime::weights::parameters(&self.net.vs)
    }

    /// The architecture.
    pub fn config(&self) -> &AeConfig {
        &self.cfg
    }

    /// Reconstructions of `x`, in input units (standardization undone).
    pub fn reconstruct(&self, x: ArrayView2<f32>, batch_size: usize) -> Result<Array2<f32>> {
        runtime::check_score("OutlierAE", &self.state, &x, self.cfg.n_features, 0)?;
        let tf = Transform::new(self.state.scaler.as_ref(), self.device);
        let undo = self.state.scaler.as_ref().map(|s| s.tensors(self.device));
        let mut out = Vec::with_capacity(x.len());
        tch::no_grad(|| {
            tensor::for_batches(&x, batch_size.max(1), self.device, &tf, |_, xb| {
                let mut xr = self.net.forward(&xb, false);
                if let Some((m, sd)) = &undo {
                    xr = xr * sd + m;
                }
                out.extend(tensor::to_vec_f32(&xr));
                Ok(())
            })
        })?;
        Array2::from_shape_vec((x.nrows(), x.ncols()), out).map_err(|e| OddityError::Numerical(e.to_string()))
    }

    /// Loads a detector saved by [`Detector::save`]; fails if the file holds another kind.
    pub fn load(path: &Path, device: crate::Device) -> Result<Self> {
        registered::load_as(path, device)
    }

    /// A fitted detector must hold the statistics its feature score needs.
    fn check_extra(&self) -> Result<()> {
        if !self.state.fitted {
            return Ok(());
        }
        let nf = self.cfg.n_features;
        let e = &self.extra;
        match self.cfg.score {
            FeatureScore::Squared => Ok(()),
            FeatureScore::LogNormalized => match &e.residual_scale {
                Some(s) if s.len() == nf && s.iter().all(|v| v.is_finite() && *v > 0.0) => Ok(()),
                // (f32 values: finite means within f32's range)
                Some(s) => Err(OddityError::param(
                    "residual_scale",
                    format!("needs {nf} positive finite values, has {} (or a bad value)", s.len()),
                )),
                None => Err(OddityError::param("residual_scale", "missing for score = log_normalized")),
            },
            FeatureScore::Mahalanobis => match (&e.residual_mean, &e.residual_precision) {
                // Scored in f32: every value within f32's range; a precision
                // matrix is symmetric with a positive diagonal.
                (Some(m), Some(p))
                    if m.len() == nf
                        && p.len() == nf * nf
                        && m.iter().chain(p).all(|v| v.is_finite() && v.abs() <= crate::validate::MAX_SETTING)
                        && (0..nf).all(|i| p[i * nf + i] > 0.0 && (0..i).all(|j| p[i * nf + j] == p[j * nf + i])) =>
                {
                    Ok(())
                }
                (Some(_), Some(_)) => Err(OddityError::param(
                    "residual_precision",
                    format!(
                        "needs a mean of {nf} and a symmetric {nf} x {nf} precision with a positive diagonal, \
                         all within f32's range"
                    ),
                )),
                _ => Err(OddityError::param("residual_precision", "missing for score = mahalanobis")),
            },
        }
    }

    /// The statistics of the feature score, from the training rows or, for
    /// `Mahalanobis`, the held-out validation rows when there are any (all
    /// transformed, on the device).
    fn residual_stats(&self, train: &Tensor, val: Option<&Tensor>) -> Result<AeExtra> {
        Ok(match self.cfg.score {
            FeatureScore::Squared => AeExtra::default(),
            FeatureScore::LogNormalized => {
                AeExtra { residual_scale: Some(self.mean_square_residual(train)?), ..Default::default() }
            }
            FeatureScore::Mahalanobis => {
                let (mean, precision) = self.residual_gaussian(val.unwrap_or(train))?;
                AeExtra { residual_mean: Some(mean), residual_precision: Some(precision), ..Default::default() }
            }
        })
    }

    /// Mean squared residual per feature over `x` (already transformed, on the device).
    fn mean_square_residual(&self, x: &Tensor) -> Result<Vec<f32>> {
        let n = x.size()[0].max(1) as f64;
        let mut sum = Tensor::zeros([self.cfg.n_features as i64], (Kind::Double, self.device));
        tch::no_grad(|| {
            for (_, xb) in tensor::row_batches(x, crate::train::config::FIT_PASS_BATCH) {
                sum += self.squared_residual(&xb).sum_dim_intlist(0, false, Kind::Double);
            }
        });
        let mean = tensor::to_vec_f32(&(sum / n));
        // A feature reconstructed exactly (a constant column) gets a small
        // floor rather than a division by zero.
        let floor = 1e-12f32.max(1e-6 * mean.iter().cloned().fold(0.0, f32::max));
        Ok(mean.iter().map(|&m| m.max(floor)).collect())
    }

    /// Mean and inverse covariance of the residual `x - x̂` over `x`, in f64,
    /// streamed in batches. A ridge of 1e-6 times the mean variance keeps
    /// the inverse finite when a residual is (nearly) constant, and grows
    /// tenfold while the factorisation still fails.
    fn residual_gaussian(&self, x: &Tensor) -> Result<(Vec<f64>, Vec<f64>)> {
        let nf = self.cfg.n_features as i64;
        let n = x.size()[0].max(2) as f64;
        let o = (Kind::Double, self.device);
        let (mut s, mut ss) = (Tensor::zeros([nf], o), Tensor::zeros([nf, nf], o));
        tch::no_grad(|| {
            for (_, xb) in tensor::row_batches(x, crate::train::config::FIT_PASS_BATCH) {
                let r = (&xb - self.net.forward(&xb, false)).to_kind(Kind::Double);
                s += r.sum_dim_intlist(0, false, None);
                ss += r.tr().mm(&r);
            }
        });
        let (s, ss) = (s.to_device(tch::Device::Cpu), ss.to_device(tch::Device::Cpu));
        let mean = &s / n;
        let cov = (ss - mean.unsqueeze(1).mm(&mean.unsqueeze(0)) * n) / (n - 1.0);
        let mut ridge = 1e-6 * cov.diagonal(0, 0, 1).mean(Kind::Double).double_value(&[]).max(1e-12);
        let eye = Tensor::eye(nf, (Kind::Double, tch::Device::Cpu));
        for _ in 0..8 {
            let (l, info) = (&cov + &eye * ridge).linalg_cholesky_ex(false, false);
            if info.int64_value(&[]) == 0 {
                let p = l.cholesky_inverse(false);
                let v = |t: &Tensor| {
                    Vec::<f64>::try_from(&t.reshape([-1])).map_err(|e| OddityError::Numerical(e.to_string()))
                };
                return Ok((v(&mean)?, v(&p)?));
            }
            ridge *= 10.0;
        }
        Err(OddityError::Numerical("residual covariance is not positive definite (NaN residuals?)".into()))
    }

    fn squared_residual(&self, xb: &Tensor) -> Tensor {
        (self.net.forward(xb, false) - xb).square()
    }

    /// What scoring needs, sharing this detector's weights: built once per
    /// scoring worker.
    fn scorer(&self) -> Scorer {
        let nf = self.cfg.n_features as i64;
        let e = &self.extra;
        let stats = match (self.cfg.score, &e.residual_scale, &e.residual_mean, &e.residual_precision) {
            (FeatureScore::LogNormalized, Some(s), _, _) => {
                Stats::LogNormalized(Tensor::from_slice(s).view([1, nf]).to_device(self.device))
            }
            (FeatureScore::Mahalanobis, _, Some(m), Some(p)) => Stats::Mahalanobis {
                mean: Tensor::from_slice(m).view([1, nf]).to_device(self.device),
                precision: Tensor::from_slice(p).view([nf, nf]).to_device(self.device),
            },
            _ => Stats::Squared,
        };
        Scorer { enc: self.net.enc.share(), dec: self.net.dec.share(), stats }
    }
}

impl Scorer {
    /// Feature scores `[N, F]` of a transformed batch.
    fn feature_scores(&self, xb: &Tensor) -> Tensor {
        let residual = || xb - self.dec.forward(&self.enc.forward(xb, false), false);
        match &self.stats {
            Stats::Squared => residual().square(),
            Stats::LogNormalized(s) => (residual().square() / s).log1p(),
            Stats::Mahalanobis { mean, precision } => {
                let c = residual().to_kind(Kind::Double) - mean;
                (c.mm(precision) * c).to_kind(Kind::Float)
            }
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
        Self::KIND
    }

    fn n_features(&self) -> usize {
        self.cfg.n_features
    }

    fn fit(&mut self, x: ArrayView2<f32>, cfg: &FitConfig) -> Result<TrainReport> {
        runtime::guard(|| self.fit_unguarded(x, cfg))
    }

    fn score_with(&self, x: ArrayView2<f32>, cfg: &PredictConfig) -> Result<Scores> {
        cfg.validate()?;
        runtime::check_score_shape("OutlierAE", &self.state, &x, self.cfg.n_features)?;
        let want_features = cfg.return_feature_score || cfg.outlier_type == OutlierType::Feature;
        let nf = self.cfg.n_features;
        // Per row: the instance score, then the feature scores if wanted.
        let width = 1 + if want_features { nf } else { 0 };
        let layout = runtime::ScoreLayout {
            first_row: cfg.first_row,
            ..runtime::ScoreLayout::new(cfg.batch_size, width, self.state.scaler.as_ref())
        };
        let perc = cfg.outlier_perc;
        let rows = runtime::score_rows(&x, layout, self.device, || {
            let scorer = self.scorer();
            move |b: &runtime::Batch| {
                let fs = scorer.feature_scores(&b.x);
                let inst = instance_from_features(&fs, perc).unsqueeze(1);
                Ok(if want_features { Tensor::cat(&[inst, fs], 1) } else { inst })
            }
        })?;
        let inst: Vec<f32> = rows.iter().step_by(width).copied().collect();
        let feature = if want_features {
            let feat = rows.chunks_exact(width).flat_map(|r| r[1..].iter().copied()).collect();
            Some(Array2::from_shape_vec((x.nrows(), nf), feat).map_err(|e| OddityError::Numerical(e.to_string()))?)
        } else {
            None
        };
        Ok(Scores { instance: Array1::from(inst), feature })
    }

    fn device(&self) -> Device {
        self.device
    }

    fn state(&self) -> &DetectorState {
        &self.state
    }

    fn state_mut(&mut self) -> &mut DetectorState {
        &mut self.state
    }

    fn record(&self) -> Result<Record> {
        let arrays = runtime::weights::to_arrays(&self.net.vs);
        self.state.record(Self::KIND.tag(), &self.cfg, &self.extra, arrays, self.device)
    }
}

impl OutlierAE {
    /// `fit`; [`runtime::guard`] turns a libtorch failure into an error.
    fn fit_unguarded(&mut self, x: ArrayView2<f32>, cfg: &FitConfig) -> Result<TrainReport> {
        let t0 = std::time::Instant::now();
        let data = runtime::prepare_fit(&x, self.cfg.n_features, self.cfg.standardize, cfg, self.device)?;
        self.net = AeNet::build(&self.cfg, self.device, cfg.seed);
        self.state = DetectorState { scaler: data.scaler, ..Default::default() };
        let net = &self.net;
        let mut loss = |xb: &Tensor, step: crate::train::Step| -> Result<crate::train::Loss> {
            if !step.train {
                return Ok((net.forward(xb, false) - xb).square().mean(Kind::Float).into());
            }
            // Mean squared error, differentiated by hand through both halves:
            // d/dxr mean((xr - x)^2) = 2 (xr - x) / numel.
            let (code, enc_tape) = net.enc.forward_taped(xb, true);
            let (xr, dec_tape) = net.dec.forward_taped(&code, true);
            // Neither `xr` (taped) nor the batch carries a graph.
            let diff = xr - xb;
            let value = diff.square().mean(Kind::Float);
            let scale = 2.0 / diff.numel().max(1) as f64;
            Ok(crate::train::Loss::by_hand(value, move || {
                if let Some(d) = dec_tape.backward(&(diff * scale), true) {
                    enc_tape.backward(&d, false);
                }
            }))
        };
        let mut report = crate::train::train(&net.vs, &data.train, data.val.as_ref(), cfg, "OutlierAE", &mut loss)?;
        self.extra = self.residual_stats(&data.train, data.val.as_ref())?;
        report.train_seconds = t0.elapsed().as_secs_f64();
        self.state.fitted = true;
        self.state.report = Some(report.clone());
        Ok(report)
    }
}

impl Registered for OutlierAE {
    const KIND: DetectorKind = DetectorKind::new("ae", "OutlierAE");
    const SUMMARY: &'static str =
        "Autoencoder; the score is the squared reconstruction error (mean of the top feature scores).";
    type Config = AeConfig;

    fn default_config(n_features: usize) -> AeConfig {
        AeConfig::default_for(n_features)
    }

    fn config_width(cfg: &AeConfig) -> usize {
        cfg.n_features
    }

    fn build(cfg: AeConfig, device: crate::Device) -> Result<Self> {
        Self::new(cfg, device)
    }

    fn from_file(f: &persist::DetectorFile, device: crate::Device) -> Result<Self> {
        let cfg: AeConfig = f.config()?;
        cfg.validate().map_err(|e| f.invalid(e))?;
        runtime::weights::check_parameter_count(f, cfg.n_parameters())?;
        let mut det = OutlierAE::new(cfg, device).map_err(|e| f.invalid(e))?;
        runtime::weights::load_into(f, &det.net.vs)?;
        det.state = DetectorState::from_file(f, det.cfg.n_features)?;
        DetectorState::expect_no_mixture(f)?;
        det.state.check_scaler(f, det.cfg.standardize)?;
        det.extra = f.extra::<Option<AeExtra>>()?.unwrap_or_default();
        det.check_extra().map_err(|e| f.invalid(e))?;
        Ok(det)
    }
}
