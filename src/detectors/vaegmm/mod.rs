//! `OutlierVAEGMM`: AEGMM with a variational autoencoder. The encoder gives a
//! mean and log-variance; latent codes are reparameterised samples. Scores
//! average the sample energy over `samples` Monte-Carlo draws per row (the
//! draws are seeded by the row's values, [`ScoreDraws`], so a row's score
//! depends on the row alone, not on its batch or place), or use the mean
//! code when `deterministic_score` is set.
//!
//! Loss = `w_recon * NLL + beta * KL + w_energy * mean energy + w_cov_diag * penalty`,
//! i.e. `-ELBO` with its likelihood term weighted, plus the DAGMM terms.
//! NLL is the Gaussian negative log-likelihood of the input given the
//! reconstruction, summed over features, with std `elbo_std`; KL is summed
//! over latent dimensions (Alibi averages it over them, which halves the KL
//! weight for a 2-d latent space); both are averaged over the batch.
//!
//! Defaults follow Alibi Detect's KDD example (std 0.0025, `w_recon` 1e-7,
//! `beta` 1): with std 0.0025 the likelihood term is `1e-7 / (2 * 0.0025^2) =
//! 0.008` per unit of squared error, so reconstruction is weighted, not off
//! (Alibi's library default std 0.05 makes it 2e-5, effectively off).

use std::path::Path;

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

use super::mixture::{self as gc, Coupling, GmmSettings, MixtureScore, ResidualNll, Residuals};
use super::registered::{self, Registered};
use super::runtime::{self, DetectorState};
use crate::detectors::api::{Detector, DetectorKind, OutlierType, PredictConfig, Scores};
use crate::error::{OddityError, Result};
use crate::math::gmm::GmmState;
use crate::math::rng;
use crate::nn::recon::ReconFeatures;
use crate::nn::{check_layers, layers, Activation, Layer, Mlp};
use crate::persist::{self, Record};
use crate::train::config::{FitConfig, TrainReport};
use crate::validate::{check_non_negative, check_positive};

const LOG_2PI: f64 = 1.837_877_066_409_345_5;

/// How a row's Monte-Carlo draws at scoring time are seeded (besides
/// `score_seed`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreDraws {
    /// By the row's index in the scored table (`PredictConfig::first_row`
    /// plus its place): a row's score depends on where it sits, and a
    /// table scored in batches it cannot index (Spark's) gets other draws.
    #[default]
    ByPosition,
    /// By the row's values: a row gets the same draws, so the same score,
    /// wherever and in whatever batch it is scored; equal rows score alike.
    ByValues,
}

/// Standard deviation of the Gaussian likelihood in the ELBO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ElboStd {
    /// One std for every feature (Alibi's `cov_elbo=dict(sim=...)`).
    Scalar(f64),
    /// One std per feature (Alibi's `cov_diag`, given as standard deviations).
    PerFeature(Vec<f64>),
    /// Per-feature std of the (transformed) training data, computed at fit
    /// time; a column constant there (std at most 1e-6) gets 1.
    FromData,
}

/// Architecture and loss of an [`OutlierVAEGMM`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaegmmConfig {
    /// Input width.
    pub n_features: usize,
    /// Encoder hidden layers; linear mean and log-variance heads follow.
    pub encoder: Vec<Layer>,
    /// Latent dimensions.
    pub latent_dim: usize,
    /// Decoder layers; the last one must have `n_features` units.
    pub decoder: Vec<Layer>,
    /// Reconstruction features appended to the latent sample.
    pub recon: ReconFeatures,
    /// Mixture, estimation network and loss weights.
    pub gmm: GmmSettings,
    /// Weight of the likelihood term of the ELBO.
    pub w_recon: f64,
    /// Weight of the KL term.
    pub beta: f64,
    /// Likelihood std.
    pub elbo_std: ElboStd,
    /// Log-variance is clamped to this range (prevents overflow of exp).
    pub logvar_clamp: (f64, f64),
    /// Monte-Carlo draws per row when scoring.
    pub samples: usize,
    /// Score from the mean code instead of samples.
    pub deterministic_score: bool,
    /// Seed of the scoring draws.
    pub score_seed: u64,
    /// What else the scoring draws of a row are seeded by; files written
    /// before this option existed read as [`ScoreDraws::ByPosition`].
    #[serde(default)]
    pub draws: ScoreDraws,
    /// Standardize inputs with mean/std fitted on the training inliers.
    pub standardize: bool,
    /// What the instance score measures; files written before this option
    /// existed read as [`MixtureScore::Energy`].
    #[serde(default)]
    pub score: MixtureScore,
}

/// Largest |log-variance| a clamp may allow: exp(60 / 2) is about 1e13,
/// finite in f32 with room to spare.
const LOGVAR_BOUND: f64 = 60.0;

impl VaegmmConfig {
    /// Alibi Detect's KDD VAEGMM: encoder F-20-15-7 relu, latent 2, decoder
    /// 2-7-15-20-F (relu, linear output), estimation net 10 relu, 2
    /// components, 10 samples.
    pub fn new(n_features: usize) -> Self {
        VaegmmConfig {
            n_features,
            encoder: layers(&[20, 15, 7], Activation::Relu, Activation::Relu),
            latent_dim: 2,
            decoder: layers(&[7, 15, 20, n_features], Activation::Relu, Activation::Linear),
            recon: ReconFeatures::default(),
            gmm: GmmSettings { density: vec![Layer::new(10, Activation::Relu)], ..GmmSettings::default() },
            w_recon: 1e-7,
            beta: 1.0,
            elbo_std: ElboStd::Scalar(0.0025),
            logvar_clamp: (-20.0, 10.0),
            samples: 10,
            deterministic_score: false,
            score_seed: 0,
            draws: ScoreDraws::ByValues,
            standardize: true,
            score: MixtureScore::Energy,
        }
    }

    /// The default for a table of `n_features` columns (the CLI's and the
    /// registry's): tanh layers of 2n and n units (at least 8 and 4, capped
    /// at 1,024 and 512), a latent space of n/4 dimensions (at least 2, at
    /// most 256), mirrored decoder; the likelihood term unweighted with a
    /// per-feature std measured on the data (an honest ELBO on standardized
    /// columns), DAGMM's mixture and loss weights; scored by
    /// [`MixtureScore::Likelihood`]. Why each part: docs/defaults.md.
    pub fn default_for(n_features: usize) -> Self {
        let n = n_features;
        let (h1, h2, latent) = ((2 * n).clamp(8, 1024), n.clamp(4, 512), (n / 4).clamp(2, 256));
        VaegmmConfig {
            encoder: layers(&[h1, h2], Activation::Tanh, Activation::Tanh),
            latent_dim: latent,
            decoder: layers(&[h2, h1, n], Activation::Tanh, Activation::Linear),
            gmm: GmmSettings { coupling: Coupling::Detached, ..GmmSettings::default() },
            w_recon: 1.0,
            elbo_std: ElboStd::FromData,
            beta: 1.0,
            score: MixtureScore::Likelihood,
            ..VaegmmConfig::new(n)
        }
    }

    /// Width of the GMM input: latent sample plus reconstruction features.
    pub fn z_dim(&self) -> usize {
        self.latent_dim + self.recon.len()
    }

    /// Checks every part.
    pub fn validate(&self) -> Result<()> {
        check_layers("encoder", self.n_features, &self.encoder)?;
        crate::validate::check_size("latent_dim", self.latent_dim, crate::validate::bounds::MAX_UNITS)?;
        check_layers("decoder", self.latent_dim, &self.decoder)?;
        let out = self.decoder.last().map_or(0, |l| l.units);
        if out != self.n_features {
            return Err(OddityError::param(
                "decoder",
                format!("last layer has {out} units, must equal n_features = {}", self.n_features),
            ));
        }
        check_non_negative("w_recon", self.w_recon)?;
        check_non_negative("beta", self.beta)?;
        crate::validate::check_size("samples", self.samples, crate::validate::bounds::MAX_SAMPLES)?;
        // exp(logvar / 2) must stay finite in f32 for any value in the range.
        let (lo, hi) = self.logvar_clamp;
        if !(lo.is_finite() && hi.is_finite() && lo < hi && lo >= -LOGVAR_BOUND && hi <= LOGVAR_BOUND) {
            return Err(OddityError::param(
                "logvar_clamp",
                format!("({lo}, {hi}) is not an increasing range within [-{LOGVAR_BOUND}, {LOGVAR_BOUND}]"),
            ));
        }
        match &self.elbo_std {
            ElboStd::Scalar(s) => check_positive("elbo_std", *s)?,
            ElboStd::PerFeature(v) => {
                if v.len() != self.n_features {
                    return Err(OddityError::param(
                        "elbo_std",
                        format!("has {} values for {} features", v.len(), self.n_features),
                    ));
                }
                for &s in v {
                    check_positive("elbo_std", s)?;
                }
            }
            ElboStd::FromData => {}
        }
        self.recon.validate()?;
        self.gmm.validate(self.z_dim())?;
        crate::nn::check_parameter_budget(self.n_parameters())
    }

    /// Weights of the encoder, its mean and log-variance heads, the decoder
    /// and the estimation network.
    pub fn n_parameters(&self) -> u64 {
        let head = (self.encoder_out() as u64 + 1).saturating_mul(self.latent_dim as u64);
        crate::nn::parameter_count(self.n_features, &self.encoder)
            .saturating_add(head.saturating_mul(2))
            .saturating_add(crate::nn::parameter_count(self.latent_dim, &self.decoder))
            .saturating_add(self.gmm.parameter_count(self.z_dim()))
    }

    fn encoder_out(&self) -> usize {
        self.encoder.last().map_or(self.n_features, |l| l.units)
    }
}

#[derive(Debug)]
struct VaegmmNet {
    vs: nn::VarStore,
    coder: Coder,
    density: Mlp,
}

impl VaegmmNet {
    fn build(cfg: &VaegmmConfig, device: Device, seed: u64) -> Self {
        let vs = nn::VarStore::new(device);
        let mut r = rng::rng(seed, rng::STREAM_INIT);
        let root = vs.root();
        let head = [Layer::new(cfg.latent_dim, Activation::Linear)];
        let enc = Mlp::new(&(&root / "encoder"), cfg.n_features, &cfg.encoder, &mut r);
        let mean = Mlp::new(&(&root / "mean"), cfg.encoder_out(), &head, &mut r);
        let logvar = Mlp::new(&(&root / "logvar"), cfg.encoder_out(), &head, &mut r);
        let dec = Mlp::new(&(&root / "decoder"), cfg.latent_dim, &cfg.decoder, &mut r);
        let density = Mlp::new(&(&root / "density"), cfg.z_dim(), &cfg.gmm.density_layers(), &mut r);
        VaegmmNet { vs, coder: Coder { enc, mean, logvar, dec }, density }
    }
}

/// The variational autoencoder: what scoring runs, apart from the mixture.
#[derive(Debug)]
struct Coder {
    enc: Mlp,
    mean: Mlp,
    logvar: Mlp,
    dec: Mlp,
}

impl Coder {
    /// `(mean, logvar)` of the latent posterior.
    fn encode(&self, cfg: &VaegmmConfig, x: &Tensor, train: bool) -> (Tensor, Tensor) {
        let h = self.enc.forward(x, train);
        let (lo, hi) = cfg.logvar_clamp;
        (self.mean.forward(&h, train), self.logvar.forward(&h, train).clamp(lo, hi))
    }

    /// `(reconstruction, z)` from a latent sample.
    fn decode(&self, cfg: &VaegmmConfig, x: &Tensor, latent: Tensor, train: bool) -> (Tensor, Tensor) {
        let xr = self.dec.forward(&latent, train);
        let z = Tensor::cat(&[latent, cfg.recon.compute(x, &xr)], -1);
        (xr, z)
    }

    /// A copy sharing the weights, for a scoring worker thread.
    fn share(&self) -> Coder {
        Coder { enc: self.enc.share(), mean: self.mean.share(), logvar: self.logvar.share(), dec: self.dec.share() }
    }
}

fn sample(mean: &Tensor, logvar: &Tensor, noise: Option<Tensor>) -> Tensor {
    match noise {
        Some(e) => mean + (logvar * 0.5).exp() * e,
        None => mean.shallow_clone(),
    }
}

/// The Gaussian likelihood's per-feature std `[1, F]` and the sum of its logs.
struct Elbo<'a> {
    sd: &'a Tensor,
    log_sd_sum: &'a Tensor,
}

impl Elbo<'_> {
    /// Mean negative log-likelihood of `x` given the reconstruction `xr`.
    fn nll(&self, x: &Tensor, xr: &Tensor) -> Tensor {
        let f = x.size()[1] as f64;
        ((x - xr) / self.sd).square().sum_dim_intlist(-1, false, Kind::Float).mean(Kind::Float) * 0.5
            + self.log_sd_sum
            + 0.5 * LOG_2PI * f
    }
}

/// Mean KL divergence of the posterior from the standard normal prior.
fn kl(mean: &Tensor, logvar: &Tensor) -> Tensor {
    ((logvar + 1.0 - mean.square() - logvar.exp()).sum_dim_intlist(-1, false, Kind::Float) * -0.5).mean(Kind::Float)
}

/// One batch's loss with reparameterisation noise `eps`. Training steps on
/// the CPU (`host_gmm`) run the encoder trunk and the decoder outside
/// autograd (`nn::Tape`) and the GMM term and estimation network on the host
/// (`gmm_loss_by_hand`); autograd keeps the small rest (mean and log-variance
/// heads, sampling, KL, likelihood, reconstruction features), in two short
/// passes joined by the decoder's hand-written backward. Elsewhere autograd
/// does it all.
#[allow(clippy::too_many_arguments)]
fn train_loss(
    net: &VaegmmNet,
    c: &VaegmmConfig,
    xb: &Tensor,
    eps: Tensor,
    elbo: &Elbo<'_>,
    train: bool,
    host_gmm: bool,
    jitter: &mut crate::math::gmm::Jitter,
) -> Result<crate::train::Loss> {
    let detached = c.gmm.coupling == Coupling::Detached;
    if !(train && host_gmm) {
        let (mean, logvar) = net.coder.encode(c, xb, train);
        let (xr, z) = net.coder.decode(c, xb, sample(&mean, &logvar, Some(eps)), train);
        let z = if detached { z.detach() } else { z };
        let gamma = gc::memberships(&net.density, &z, train);
        let gmm = gc::gmm_loss(&z, &gamma, &c.gmm, jitter)?;
        return Ok((elbo.nll(xb, &xr) * c.w_recon + kl(&mean, &logvar) * c.beta + gmm).into());
    }
    let (h, enc_tape) = net.coder.enc.forward_taped(xb, true);
    let h = h.detach().set_requires_grad(true);
    let (lo, hi) = c.logvar_clamp;
    let (mean, logvar) = (net.coder.mean.forward(&h, true), net.coder.logvar.forward(&h, true).clamp(lo, hi));
    let latent = sample(&mean, &logvar, Some(eps));
    let (xr, dec_tape) = net.coder.dec.forward_taped(&latent.detach(), true);
    let (lat, xr) = (latent.detach().set_requires_grad(true), xr.detach().set_requires_grad(true));
    let z = Tensor::cat(&[&lat, &c.recon.compute(xb, &xr)], -1);
    let (gmm, dz) = gc::gmm_loss_by_hand(&net.density, &z, &c.gmm, jitter)?;
    let nll = elbo.nll(xb, &xr) * c.w_recon;
    let kl = kl(&mean, &logvar) * c.beta;
    let value = nll.detach() + kl.detach() + gmm;
    Ok(crate::train::Loss::by_hand(value, move || {
        // Pass 1: likelihood and GMM term, down to the decoder output and the latent sample.
        // Detached: the GMM term's gradient stops at z (the estimation
        // network's weights still get theirs from `dz`).
        let dz = dz();
        if detached {
            nll.backward();
        } else {
            (nll + (z * dz).sum(Kind::Float)).backward();
        }
        let d_latent = match dec_tape.backward(&xr.grad(), true) {
            Some(d) => crate::math::tensor::plus_grad(d, lat.grad()),
            None => lat.grad(),
        };
        // Pass 2: sampling, heads and KL, down to the encoder trunk's output.
        (kl + (latent * d_latent).sum(Kind::Float)).backward();
        enc_tape.backward(&h.grad(), false);
    }))
}

/// VAEGMM outlier detector.
#[derive(Debug)]
pub struct OutlierVAEGMM {
    cfg: VaegmmConfig,
    device: Device,
    net: VaegmmNet,
    state: DetectorState,
    gmm: Option<GmmState>,
    /// Residual variances, for [`MixtureScore::Likelihood`].
    residuals: Option<Residuals>,
}

impl OutlierVAEGMM {
    /// Builds an untrained detector on `device`.
    pub fn new(cfg: VaegmmConfig, device: crate::Device) -> Result<Self> {
        cfg.validate()?;
        let device = device.resolve()?;
        let net = VaegmmNet::build(&cfg, device, 0);
        Ok(OutlierVAEGMM { cfg, device, net, state: DetectorState::default(), gmm: None, residuals: None })
    }

    /// Every weight as (name, values); for tests and inspection.
    #[doc(hidden)]
    pub fn parameters(&self) -> Vec<(String, Vec<f32>)> {
        runtime::weights::parameters(&self.net.vs)
    }

    /// The architecture.
    pub fn config(&self) -> &VaegmmConfig {
        &self.cfg
    }

    /// The fitted mixture.
    pub fn gmm(&self) -> Option<&GmmState> {
        self.gmm.as_ref()
    }

    /// Log-likelihood `log p(z)` of each row under the fitted mixture, averaged
    /// over the scoring draws like the score (= minus the instance score).
    pub fn log_likelihood(&self, x: ArrayView2<f32>, batch_size: usize) -> Result<ndarray::Array1<f32>> {
        Ok(self.score_with(x, &PredictConfig { batch_size, ..Default::default() })?.instance.mapv(|e| -e))
    }

    /// Loads a detector saved by [`Detector::save`]; fails if the file holds another kind.
    pub fn load(path: &Path, device: crate::Device) -> Result<Self> {
        registered::load_as(path, device)
    }

    /// Per-feature likelihood std as a `[1, F]` tensor.
    fn elbo_std(&self, x: &Tensor) -> Tensor {
        let f = self.cfg.n_features as i64;
        match &self.cfg.elbo_std {
            ElboStd::Scalar(s) => Tensor::full([1, f], *s, (Kind::Float, self.device)),
            ElboStd::PerFeature(v) => Tensor::from_slice(v).to_kind(Kind::Float).view([1, f]).to_device(self.device),
            // A column without deviation gets 1, as the standardizer gives
            // it: floored at 1e-6 instead, its error weighed 1e12 times the
            // others' and training served that column alone (docs/defaults.md).
            ElboStd::FromData => {
                let sd = x.std_dim(0, false, true);
                sd.where_self(&sd.gt(1e-6), &sd.ones_like())
            }
        }
    }
}

impl Detector for OutlierVAEGMM {
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
        runtime::check_score_shape("OutlierVAEGMM", &self.state, &x, self.cfg.n_features)?;
        if cfg.outlier_type == OutlierType::Feature {
            return Err(OddityError::param(
                "outlier_type",
                "OutlierVAEGMM has no feature scores; use OutlierType::Instance",
            ));
        }
        let gmm = self.gmm.as_ref().ok_or(OddityError::NotFitted("OutlierVAEGMM"))?;
        let c = &self.cfg;
        let (s, l) =
            if c.deterministic_score { (1, c.latent_dim as i64) } else { (c.samples as i64, c.latent_dim as i64) };
        let bs = self.scoring_batch(cfg);
        let device = self.device;
        let layout = runtime::ScoreLayout {
            first_row: cfg.first_row,
            ..runtime::ScoreLayout::new(bs, 1, self.state.scaler.as_ref())
        };
        let resid = self.residuals.as_ref().map(|r| r.nll(device));
        let instance = gc::score_energy(&x, layout, device, || {
            let (coder, gmm, c) = (self.net.coder.share(), gmm.scorer(device), c.clone());
            let nf = c.n_features;
            let resid = resid.as_ref().map(ResidualNll::share);
            // The energy of each draw, plus its residual term under the likelihood score.
            let score = move |x: &Tensor, xr: &Tensor, z: &Tensor| match &resid {
                Some(r) => gmm.energy(z) + r.of(x, xr),
                None => gmm.energy(z),
            };
            move |b: &runtime::Batch| {
                let (start, xb) = (b.start, &b.x);
                let n = xb.size()[0];
                let (mean, logvar) = coder.encode(&c, xb, false);
                if c.deterministic_score {
                    let (xr, z) = coder.decode(&c, xb, mean, false);
                    return Ok(score(xb, &xr, &z));
                }
                let rep = |t: &Tensor| t.repeat_interleave_self_int(s, Some(0), None);
                let eps = match c.draws {
                    ScoreDraws::ByPosition => rng::normal_at(
                        c.score_seed,
                        rng::STREAM_SCORE_NOISE,
                        start as u64 * (s * l) as u64,
                        &[n * s, l],
                        device,
                    ),
                    ScoreDraws::ByValues => {
                        // The batch's rows as prepared (standardized), on the host.
                        let keys: Vec<u64> = b.host.chunks_exact(nf).map(rng::row_key).collect();
                        let v = rng::normal_per_key(c.score_seed, &keys, (s * l) as usize);
                        Tensor::from_slice(&v).view([n * s, l]).to_device(device)
                    }
                };
                let xs = rep(xb);
                let (xr, z) = coder.decode(&c, &xs, sample(&rep(&mean), &rep(&logvar), Some(eps)), false);
                Ok(score(&xs, &xr, &z).view([n, s]).mean_dim(-1, false, Kind::Double))
            }
        })?;
        Ok(Scores { instance, feature: None })
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

    /// Rows x draws per pass near the requested batch size.
    fn scoring_batch(&self, cfg: &PredictConfig) -> usize {
        let draws = if self.cfg.deterministic_score { 1 } else { self.cfg.samples.max(1) };
        (cfg.batch_size / draws).max(1)
    }

    fn record(&self) -> Result<Record> {
        let arrays = runtime::weights::to_arrays(&self.net.vs);
        let mut r = self.state.record(Self::KIND.tag(), &self.cfg, &self.residuals, arrays, self.device)?;
        r.gmm = self.gmm.clone();
        Ok(r)
    }
}

impl OutlierVAEGMM {
    /// `fit`; [`runtime::guard`] turns a libtorch failure into an error.
    fn fit_unguarded(&mut self, x: ArrayView2<f32>, cfg: &FitConfig) -> Result<TrainReport> {
        let t0 = std::time::Instant::now();
        let data = runtime::prepare_fit(&x, self.cfg.n_features, self.cfg.standardize, cfg, self.device)?;
        self.net = VaegmmNet::build(&self.cfg, self.device, cfg.seed);
        self.state = DetectorState { scaler: data.scaler.clone(), ..Default::default() };
        self.gmm = None;
        self.residuals = None;
        let sd = self.elbo_std(&data.train);
        let log_sd_sum = sd.log().sum(Kind::Float);
        let (net, c, device) = (&self.net, &self.cfg, self.device);
        let l = c.latent_dim as i64;
        let mut jitter = c.gmm.jitter();
        let mut drawn: u64 = 0;
        let host_gmm = device == Device::Cpu;
        let mut loss = |xb: &Tensor, step: crate::train::Step| -> Result<crate::train::Loss> {
            let n = xb.size()[0];
            let eps = rng::normal_at(cfg.seed, rng::STREAM_TRAIN_NOISE, drawn, &[n, l], device);
            drawn += (n * l) as u64;
            let elbo = Elbo { sd: &sd, log_sd_sum: &log_sd_sum };
            train_loss(net, c, xb, eps, &elbo, step.train, host_gmm, &mut jitter)
        };
        let mut report = crate::train::train(&net.vs, &data.train, data.val.as_ref(), cfg, "OutlierVAEGMM", &mut loss)?;
        let bs = crate::train::config::FIT_PASS_BATCH;
        let deterministic = c.deterministic_score;
        // The codes the mixture is fitted on: one seeded draw per row, or
        // the mean code when scoring is deterministic; the residual
        // variances are measured on the same draws.
        let draw = |start: i64, xb: &Tensor| {
            let n = xb.size()[0];
            let (mean, logvar) = net.coder.encode(c, xb, false);
            let eps = (!deterministic)
                .then(|| rng::normal_at(cfg.seed, rng::STREAM_GMM_NOISE, start as u64 * l as u64, &[n, l], device));
            net.coder.decode(c, xb, sample(&mean, &logvar, eps), false)
        };
        let gmm = gc::estimate(&data.all, bs, &c.gmm, c.z_dim(), &mut jitter, |start, xb| {
            let (_, z) = draw(start, xb);
            let gamma = gc::memberships(&net.density, &z, false);
            (z, gamma)
        })?;
        if c.score == MixtureScore::Likelihood {
            self.residuals = Some(Residuals::fit(&data.all, bs, |start, xb| draw(start, xb).0)?);
        }
        report.jitter_retries = jitter.retries;
        report.max_jitter = jitter.max_used;
        report.train_seconds = t0.elapsed().as_secs_f64();
        self.gmm = Some(gmm);
        self.state.fitted = true;
        self.state.report = Some(report.clone());
        Ok(report)
    }
}

impl Registered for OutlierVAEGMM {
    const KIND: DetectorKind = DetectorKind::new("vaegmm", "OutlierVAEGMM");
    const SUMMARY: &'static str =
        "Variational autoencoder + Gaussian mixture; the score is the row's negative log-likelihood.";
    type Config = VaegmmConfig;

    fn default_config(n_features: usize) -> VaegmmConfig {
        VaegmmConfig::default_for(n_features)
    }

    fn config_width(cfg: &VaegmmConfig) -> usize {
        cfg.n_features
    }

    fn build(cfg: VaegmmConfig, device: crate::Device) -> Result<Self> {
        Self::new(cfg, device)
    }

    fn from_file(f: &persist::DetectorFile, device: crate::Device) -> Result<Self> {
        let cfg: VaegmmConfig = f.config()?;
        cfg.validate().map_err(|e| f.invalid(e))?;
        runtime::weights::check_parameter_count(f, cfg.n_parameters())?;
        let mut det = OutlierVAEGMM::new(cfg, device).map_err(|e| f.invalid(e))?;
        runtime::weights::load_into(f, &det.net.vs)?;
        det.gmm = f.gmm(det.cfg.gmm.n_gmm, det.cfg.z_dim())?;
        det.state = DetectorState::from_file(f, det.cfg.n_features)?;
        det.residuals = Residuals::from_file(f, det.cfg.score, det.cfg.n_features)?;
        det.state.check_scaler(f, det.cfg.standardize)?;
        Ok(det)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::gmm::Jitter;
    use crate::nn::test_util::{assert_grads_close, flat_grads};

    /// One training step of `cfg` on `x` with noise `eps`, differentiated by
    /// the CPU path (tapes + host GMM + two autograd passes) and by plain
    /// autograd over the whole loss; asserts that the losses and gradients
    /// agree and returns the autograd network. Same weights, noise, dropout
    /// masks and batch.
    fn host_step_matches_autograd(
        cfg: &VaegmmConfig,
        x: &Tensor,
        eps: &Tensor,
        elbo: &Elbo<'_>,
        label: &str,
    ) -> VaegmmNet {
        let mut j = Jitter::new(1e-6, 6);
        let reference = VaegmmNet::build(cfg, Device::Cpu, 3);
        let want_loss = train_loss(&reference, cfg, x, eps.copy(), elbo, true, false, &mut j).expect("ok").backward();
        let net = VaegmmNet::build(cfg, Device::Cpu, 3);
        let loss = train_loss(&net, cfg, x, eps.copy(), elbo, true, true, &mut j).expect("ok").backward();
        approx::assert_relative_eq!(loss.double_value(&[]), want_loss.double_value(&[]), max_relative = 1e-5);
        assert_grads_close(&net.vs, &reference.vs, 1e-3, label);
        reference
    }

    /// A batch, its noise, and the ELBO's per-feature deviations.
    fn batch(cfg: &VaegmmConfig) -> (Tensor, Tensor, Tensor, Tensor) {
        let x = Tensor::randn([64, cfg.n_features as i64], (Kind::Float, Device::Cpu));
        let eps = Tensor::randn([64, cfg.latent_dim as i64], (Kind::Float, Device::Cpu));
        let sd = x.std_dim(0, false, true).clamp_min(1e-6);
        let log_sd_sum = sd.log().sum(Kind::Float);
        (x, eps, sd, log_sd_sum)
    }

    /// The CPU training step gives the gradients of plain autograd over the
    /// whole loss.
    #[test]
    fn training_step_gradients_agree() {
        let mut cfg = VaegmmConfig::new(6);
        cfg.gmm.density = vec![Layer::new(5, Activation::Tanh).with_dropout(0.3)];
        let (x, eps, sd, log_sd_sum) = batch(&cfg);
        host_step_matches_autograd(&cfg, &x, &eps, &Elbo { sd: &sd, log_sd_sum: &log_sd_sum }, "host path");
    }

    /// `ElboStd::FromData`: each column's population deviation, and 1 for a
    /// column that does not vary (as the standardizer treats it).
    #[test]
    fn elbo_std_from_data_gives_constant_columns_unit_scale() {
        let det = OutlierVAEGMM::new(VaegmmConfig::default_for(3), crate::Device::Cpu).unwrap();
        // Columns: [1, 2, 3, 4] (population std sqrt(1.25)), constant 7, [0, 0, 0, 2] (std sqrt(0.75)).
        let x = Tensor::from_slice(&[1f32, 7., 0., 2., 7., 0., 3., 7., 0., 4., 7., 2.]).view([4, 3]);
        let got = Vec::<f32>::try_from(det.elbo_std(&x).view([-1])).unwrap();
        let want = [1.25f32.sqrt(), 1.0, 0.75f32.sqrt()];
        for (g, w) in got.iter().zip(want) {
            approx::assert_relative_eq!(*g, w, max_relative = 1e-6);
        }
    }

    /// Detached coupling: the host path's gradients match the autograd
    /// path's, and the encoder, heads and decoder get those of the ELBO
    /// alone (checked against an ELBO-only backward), while the estimation
    /// network still learns.
    #[test]
    fn detached_coupling_keeps_the_energy_out_of_the_coder() {
        let cfg = VaegmmConfig::default_for(6);
        assert_eq!(cfg.gmm.coupling, Coupling::Detached);
        let (x, eps, sd, log_sd_sum) = batch(&cfg);
        let elbo = Elbo { sd: &sd, log_sd_sum: &log_sd_sum };
        let reference = host_step_matches_autograd(&cfg, &x, &eps, &elbo, "detached, host path");
        let elbo_only = VaegmmNet::build(&cfg, Device::Cpu, 3);
        let (mean, logvar) = elbo_only.coder.encode(&cfg, &x, true);
        let (xr, _) = elbo_only.coder.decode(&cfg, &x, sample(&mean, &logvar, Some(eps)), true);
        (elbo.nll(&x, &xr) * cfg.w_recon + kl(&mean, &logvar) * cfg.beta).backward();
        let grads = |net: &VaegmmNet, coder: bool| flat_grads(&net.vs, |k| k.starts_with("density") != coder);
        let (got, want) = (grads(&reference, true), grads(&elbo_only, true));
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            approx::assert_relative_eq!(g, w, max_relative = 1e-5, epsilon = 1e-7);
        }
        assert!(grads(&reference, false).iter().any(|g| g.abs() > 1e-6), "the estimation network learns");
    }
}
