//! `OutlierAEGMM`: DAGMM. An autoencoder compresses each row to a latent code;
//! the code plus reconstruction features feed an estimation network whose
//! softmax gives soft memberships of a Gaussian mixture; the instance score
//! is the sample energy (negative log density) under the mixture fitted on
//! the training data.

use std::path::Path;

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

use super::mixture::{self as gc, Coupling, GmmSettings, MixtureScore, ResidualNll, Residuals};
use super::registered::{self, Registered};
use super::runtime::{self, DetectorState};
use crate::detectors::api::{Detector, DetectorKind, OutlierType, PredictConfig, Scores};
use crate::error::{OddityError, Result};
use crate::math::gmm::{GmmScorer, GmmState, HostGmm};
use crate::math::rng;
use crate::nn::recon::ReconFeatures;
use crate::nn::{check_layers, layers, Activation, FoldedMlp, Layer, Mlp};
use crate::persist::{self, Record};
use crate::train::config::{FitConfig, TrainReport};

/// Architecture and loss of an [`OutlierAEGMM`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AegmmConfig {
    /// Input width.
    pub n_features: usize,
    /// Encoder layers; the last one is the latent code.
    pub encoder: Vec<Layer>,
    /// Decoder layers; the last one must have `n_features` units.
    pub decoder: Vec<Layer>,
    /// Reconstruction features appended to the code.
    pub recon: ReconFeatures,
    /// Mixture, estimation network and loss weights.
    pub gmm: GmmSettings,
    /// Standardize inputs with mean/std fitted on the training inliers.
    pub standardize: bool,
    /// What the instance score measures; files written before this option
    /// existed read as [`MixtureScore::Energy`].
    #[serde(default)]
    pub score: MixtureScore,
}

impl AegmmConfig {
    /// The DAGMM / Alibi KDD network: encoder F-60-30-10-1 (tanh, linear code),
    /// decoder 1-10-30-60-F (tanh, linear output), estimation net 10 tanh, 2
    /// components, loss weights 0.1 and 0.005.
    pub fn new(n_features: usize) -> Self {
        AegmmConfig {
            n_features,
            encoder: layers(&[60, 30, 10, 1], Activation::Tanh, Activation::Linear),
            decoder: layers(&[10, 30, 60, n_features], Activation::Tanh, Activation::Linear),
            recon: ReconFeatures::default(),
            gmm: GmmSettings::default(),
            standardize: true,
            score: MixtureScore::Energy,
        }
    }

    /// The default for a table of `n_features` columns (the CLI's and the
    /// registry's): the AE's widths (tanh layers of 2n and n units, at least
    /// 8 and 4, capped at 1,024 and 512), a linear code of n/4 units (at least
    /// 2, at most 256) as DAGMM's, mirrored decoder, DAGMM's mixture and loss
    /// weights, scored by [`MixtureScore::Likelihood`]. Why each part: see
    /// docs/defaults.md.
    pub fn default_for(n_features: usize) -> Self {
        let n = n_features;
        let (h1, h2, code) = ((2 * n).clamp(8, 1024), n.clamp(4, 512), (n / 4).clamp(2, 256));
        AegmmConfig {
            encoder: layers(&[h1, h2, code], Activation::Tanh, Activation::Linear),
            decoder: layers(&[h2, h1, n], Activation::Tanh, Activation::Linear),
            gmm: GmmSettings { coupling: Coupling::Detached, ..GmmSettings::default() },
            score: MixtureScore::Likelihood,
            ..AegmmConfig::new(n)
        }
    }

    fn latent_dim(&self) -> usize {
        self.encoder.last().map_or(0, |l| l.units)
    }

    /// Width of the GMM input: latent code plus reconstruction features.
    pub fn z_dim(&self) -> usize {
        self.latent_dim() + self.recon.len()
    }

    /// Checks every part.
    pub fn validate(&self) -> Result<()> {
        check_layers("encoder", self.n_features, &self.encoder)?;
        check_layers("decoder", self.latent_dim(), &self.decoder)?;
        let out = self.decoder.last().map_or(0, |l| l.units);
        if out != self.n_features {
            return Err(OddityError::param(
                "decoder",
                format!("last layer has {out} units, must equal n_features = {}", self.n_features),
            ));
        }
        self.recon.validate()?;
        self.gmm.validate(self.z_dim())?;
        crate::nn::check_parameter_budget(self.n_parameters())
    }

    /// Weights of the encoder, decoder and estimation network.
    pub fn n_parameters(&self) -> u64 {
        crate::nn::parameter_count(self.n_features, &self.encoder)
            .saturating_add(crate::nn::parameter_count(self.latent_dim(), &self.decoder))
            .saturating_add(self.gmm.parameter_count(self.z_dim()))
    }
}

#[derive(Debug)]
struct AegmmNet {
    vs: nn::VarStore,
    enc: Mlp,
    dec: Mlp,
    density: Mlp,
}

impl AegmmNet {
    fn build(cfg: &AegmmConfig, device: Device, seed: u64) -> Self {
        let vs = nn::VarStore::new(device);
        let mut r = rng::rng(seed, rng::STREAM_INIT);
        let enc = Mlp::new(&(vs.root() / "encoder"), cfg.n_features, &cfg.encoder, &mut r);
        let dec = Mlp::new(&(vs.root() / "decoder"), cfg.latent_dim(), &cfg.decoder, &mut r);
        let density = Mlp::new(&(vs.root() / "density"), cfg.z_dim(), &cfg.gmm.density_layers(), &mut r);
        AegmmNet { vs, enc, dec, density }
    }

    /// `(reconstruction, z)` of a batch.
    fn forward(&self, cfg: &AegmmConfig, x: &Tensor, train: bool) -> (Tensor, Tensor) {
        autoencode(&self.enc, &self.dec, &cfg.recon, x, train)
    }
}

/// `(reconstruction, z)` of a batch: the code and its reconstruction features.
fn autoencode(enc: &Mlp, dec: &Mlp, recon: &ReconFeatures, x: &Tensor, train: bool) -> (Tensor, Tensor) {
    let code = enc.forward(x, train);
    let xr = dec.forward(&code, train);
    let z = Tensor::cat(&[code, recon.compute(x, &xr)], -1);
    (xr, z)
}

/// The encoder and decoder as scoring runs them. On the CPU: in their folded
/// form (bias inside each matmul, [`FoldedMlp`]), with the reconstruction
/// features and the energy computed per row on the host ([`Tail`]); that
/// takes a third off the time per row, because the tail's ~20 tensor ops
/// each make a pass over the batch (docs/benchmarks.md). Elsewhere as
/// trained, with tensor ops throughout.
#[derive(Debug)]
enum ScoringCoder {
    Plain(Box<(Mlp, Mlp)>),
    /// The folded networks, and the plain ones for batches they turn to NaN.
    Folded(FoldedMlp, FoldedMlp, Box<(Mlp, Mlp)>),
}

impl ScoringCoder {
    fn new(net: &AegmmNet, device: Device) -> Self {
        let folded = (device == Device::Cpu).then(|| net.enc.folded(true).zip(net.dec.folded(false))).flatten();
        match folded {
            Some((enc, dec)) => ScoringCoder::Folded(enc, dec, Box::new((net.enc.share(), net.dec.share()))),
            None => ScoringCoder::Plain(Box::new((net.enc.share(), net.dec.share()))),
        }
    }

    fn share(&self) -> Self {
        match self {
            ScoringCoder::Plain(p) => ScoringCoder::Plain(Box::new((p.0.share(), p.1.share()))),
            ScoringCoder::Folded(e, d, p) => {
                ScoringCoder::Folded(e.share(), d.share(), Box::new((p.0.share(), p.1.share())))
            }
        }
    }
}

/// Everything scoring reads besides the input, built once from the fitted
/// weights and mixture ([`OutlierAEGMM::scoring`]): rebuilding the folded
/// networks and the mixture's scoring form on every call cost more than
/// scoring a few hundred rows.
#[derive(Debug)]
struct Scoring {
    coder: ScoringCoder,
    gmm: GmmScorer,
    /// The residual term of [`MixtureScore::Likelihood`].
    resid: Option<ResidualNll>,
    /// The mixture as host arrays, for the folded path's tail.
    host: Option<HostGmm>,
}

impl Scoring {
    fn new(net: &AegmmNet, gmm: &GmmState, resid: Option<&Residuals>, device: Device) -> Result<Self> {
        let (coder, gmm) = (ScoringCoder::new(net, device), gmm.scorer(device));
        let host = matches!(coder, ScoringCoder::Folded(..)).then(|| gmm.host()).transpose()?;
        Ok(Scoring { coder, gmm, resid: resid.map(|r| r.nll(device)), host })
    }
}

/// One scoring worker's state.
struct Scorer {
    coder: ScoringCoder,
    recon: ReconFeatures,
    gmm: GmmScorer,
    resid: Option<ResidualNll>,
    tail: Tail,
}

impl Scorer {
    /// Energies of a prepared batch (which ends in a ones column when folded).
    fn energies(&mut self, b: &runtime::Batch) -> Result<Tensor> {
        let plain = |(enc, dec): &(Mlp, Mlp), x: &Tensor| {
            let (xr, z) = autoencode(enc, dec, &self.recon, x, false);
            let e = self.gmm.energy(&z);
            match &self.resid {
                Some(r) => e + r.of(x, &xr),
                None => e,
            }
        };
        match &self.coder {
            ScoringCoder::Plain(nets) => Ok(plain(nets, &b.x)),
            ScoringCoder::Folded(enc, dec, nets) => {
                let code = enc.forward(&b.x);
                let xr_t = dec.forward_transposed(&code);
                let e = self.tail.energies(b.host, &code, &xr_t, &self.recon, self.resid.as_ref())?;
                if !self.tail.out.iter().any(|v| v.is_nan()) {
                    return Ok(e);
                }
                // The ones column turns an infinite hidden value into NaN
                // (0 x inf) where the plain network need not (a later tanh
                // saturates): such a batch is scored the plain way.
                Ok(plain(nets, &b.x.narrow(1, 0, xr_t.size()[0])))
            }
        }
    }
}

/// The host form of the scoring tail, with its buffers: the reconstruction
/// features ([`ReconFeatures::columns`]) and the energies
/// ([`HostGmm::energies`]) of a batch, computed feature-major so that the
/// loops vectorize. Same formulas as the tensor ops, in f32.
struct Tail {
    gmm: Option<HostGmm>,
    /// `[n, c + 1]`: the folded encoder's output, row-major as it comes.
    code: Vec<f32>,
    /// `[F, n]`: the input and its reconstruction, feature-major.
    x_t: Vec<f32>,
    xr_t: Vec<f32>,
    /// `[D, n]`: the codes z the mixture scores, dimension-major.
    z_t: Vec<f32>,
    scratch: Vec<f32>,
    out: Vec<f32>,
}

impl Tail {
    fn new(gmm: Option<HostGmm>) -> Self {
        let v = Vec::new;
        Tail { gmm, code: v(), x_t: v(), xr_t: v(), z_t: v(), scratch: v(), out: v() }
    }

    /// `x1` is the batch on the host, each row ending in a one; `code` the
    /// folded encoder's output (ones column last, `[n, c + 1]`) and `xr_t`
    /// the decoder's, transposed (`[F, n]`).
    fn energies(
        &mut self,
        x1: &[f32],
        code: &Tensor,
        xr_t: &Tensor,
        recon: &ReconFeatures,
        resid: Option<&ResidualNll>,
    ) -> Result<Tensor> {
        let gmm = self.gmm.as_ref().ok_or_else(|| OddityError::Numerical("scoring tail: no host mixture".into()))?;
        let (n, cw, f) = (code.size()[0] as usize, code.size()[1] as usize, xr_t.size()[0] as usize);
        let c = cw - 1;
        if c + recon.len() != gmm.dim() || x1.len() != n * (f + 1) || xr_t.size()[1] as usize != n {
            return Err(OddityError::Numerical("scoring tail: widths do not match the mixture".into()));
        }
        for (buf, t) in [(&mut self.code, code), (&mut self.xr_t, xr_t)] {
            buf.resize(t.numel(), 0.0);
            t.contiguous().copy_data(buf, t.numel());
        }
        self.x_t.resize(f * n, 0.0);
        self.z_t.resize(gmm.dim() * n, 0.0);
        transpose_into(x1, f + 1, f, &mut self.x_t);
        transpose_into(&self.code, cw, c, &mut self.z_t[..c * n]);
        recon.columns(&self.x_t, &self.xr_t, n, &mut self.z_t[c * n..]);
        self.out.resize(n, 0.0);
        gmm.energies(&self.z_t, n, &mut self.scratch, &mut self.out);
        if let Some(r) = resid {
            r.add_host(&self.x_t, &self.xr_t, n, &mut self.out);
        }
        Ok(Tensor::from_slice(&self.out))
    }
}

/// The first `cols` columns of row-major `src` (`width` values per row)
/// into `dst`, feature-major. In tiles of 16 rows: each store run then fills
/// whole cache lines. Column by column over all rows, the stores would go
/// `4n` bytes apart, for `n` a power of two all to the same cache set.
fn transpose_into(src: &[f32], width: usize, cols: usize, dst: &mut [f32]) {
    const TILE: usize = 16;
    let n = src.len() / width;
    for (t, rows) in src.chunks(TILE * width).enumerate() {
        for j in 0..cols {
            let out = &mut dst[j * n + t * TILE..];
            for (o, row) in out.iter_mut().zip(rows.chunks_exact(width)) {
                *o = row[j];
            }
        }
    }
}

/// One batch's loss. Training steps run the encoder and decoder outside
/// autograd and differentiate them by hand (`nn::Tape`); with `host_gmm` the
/// GMM term and the estimation network are differentiated by hand too
/// (`gmm_loss_by_hand`, the CPU path). Autograd is left with the
/// reconstruction features, the cheapest way to keep their many variants.
fn train_loss(
    net: &AegmmNet,
    c: &AegmmConfig,
    xb: &Tensor,
    train: bool,
    host_gmm: bool,
    jitter: &mut crate::math::gmm::Jitter,
) -> Result<crate::train::Loss> {
    if !train {
        let (xr, z) = net.forward(c, xb, false);
        let gamma = gc::memberships(&net.density, &z, false);
        return Ok(((xb - xr).square().mean(Kind::Float) + gc::gmm_loss(&z, &gamma, &c.gmm, jitter)?).into());
    }
    let (code, enc_tape) = net.enc.forward_taped(xb, true);
    let (xr, dec_tape) = net.dec.forward_taped(&code, true);
    let code = code.detach().set_requires_grad(true);
    let xr = xr.detach().set_requires_grad(true);
    let z = Tensor::cat(&[&code, &c.recon.compute(xb, &xr)], -1);
    // Detached: the mixture's term sees the codes as constants.
    let detached = c.gmm.coupling == Coupling::Detached;
    let z = if detached { z.detach() } else { z };
    let recon = (xb - &xr).square().mean(Kind::Float);
    // Backward from the detached leaves `code` and `xr` into the tapes.
    let finish = move || {
        if let Some(d) = dec_tape.backward(&xr.grad(), true) {
            enc_tape.backward(&crate::math::tensor::plus_grad(d, code.grad()), false);
        }
    };
    if host_gmm {
        let (gmm, dz) = gc::gmm_loss_by_hand(&net.density, &z, &c.gmm, jitter)?;
        let value = recon.detach() + gmm;
        Ok(crate::train::Loss::by_hand(value, move || {
            let dz = dz();
            if detached {
                recon.backward();
            } else {
                (recon + (z * dz).sum(Kind::Float)).backward();
            }
            finish();
        }))
    } else {
        let gamma = gc::memberships(&net.density, &z, true);
        let value = recon + gc::gmm_loss(&z, &gamma, &c.gmm, jitter)?;
        Ok(crate::train::Loss::then(value, finish))
    }
}

/// AEGMM (DAGMM) outlier detector.
#[derive(Debug)]
pub struct OutlierAEGMM {
    cfg: AegmmConfig,
    device: Device,
    net: AegmmNet,
    state: DetectorState,
    gmm: Option<GmmState>,
    /// Residual variances, for [`MixtureScore::Likelihood`].
    residuals: Option<Residuals>,
    /// Built on first use after `fit` or `load`, dropped by `fit`.
    scoring: std::cell::OnceCell<Scoring>,
}

impl OutlierAEGMM {
    /// Builds an untrained detector on `device`.
    pub fn new(cfg: AegmmConfig, device: crate::Device) -> Result<Self> {
        cfg.validate()?;
        let device = device.resolve()?;
        let net = AegmmNet::build(&cfg, device, 0);
        Ok(OutlierAEGMM {
            cfg,
            device,
            net,
            state: DetectorState::default(),
            gmm: None,
            residuals: None,
            scoring: Default::default(),
        })
    }

    /// Every weight as (name, values); for tests and inspection.
    #[doc(hidden)]
    pub fn parameters(&self) -> Vec<(String, Vec<f32>)> {
        runtime::weights::parameters(&self.net.vs)
    }

    /// The architecture.
    pub fn config(&self) -> &AegmmConfig {
        &self.cfg
    }

    /// The fitted mixture.
    pub fn gmm(&self) -> Option<&GmmState> {
        self.gmm.as_ref()
    }

    /// Log-likelihood `log p(z)` of each row under the fitted mixture
    /// (= minus the instance score).
    pub fn log_likelihood(&self, x: ArrayView2<f32>, batch_size: usize) -> Result<ndarray::Array1<f32>> {
        Ok(self.score_with(x, &PredictConfig { batch_size, ..Default::default() })?.instance.mapv(|e| -e))
    }

    /// Loads a detector saved by [`Detector::save`]; fails if the file holds another kind.
    pub fn load(path: &Path, device: crate::Device) -> Result<Self> {
        registered::load_as(path, device)
    }
}

impl OutlierAEGMM {
    /// The scoring form of the fitted detector, built on first use.
    fn scoring(&self) -> Result<&Scoring> {
        if let Some(s) = self.scoring.get() {
            return Ok(s);
        }
        let gmm = self.gmm.as_ref().ok_or(OddityError::NotFitted("OutlierAEGMM"))?;
        let s = Scoring::new(&self.net, gmm, self.residuals.as_ref(), self.device)?;
        Ok(self.scoring.get_or_init(|| s))
    }

    /// Sample energies of `x` through `parts`, in batches of at most
    /// `batch_size` rows on `workers` (`None`: one per libtorch thread);
    /// `first_row` as [`PredictConfig::first_row`].
    fn energies(
        &self,
        x: &ArrayView2<f32>,
        parts: &Scoring,
        (batch_size, first_row): (usize, usize),
        workers: Option<usize>,
    ) -> Result<ndarray::Array1<f32>> {
        let ones = matches!(parts.coder, ScoringCoder::Folded(..));
        let layout = runtime::ScoreLayout {
            ones,
            workers,
            first_row,
            ..runtime::ScoreLayout::new(batch_size, 1, self.state.scaler.as_ref())
        };
        gc::score_energy(x, layout, self.device, || {
            let mut s = Scorer {
                coder: parts.coder.share(),
                recon: self.cfg.recon.clone(),
                gmm: parts.gmm.share(),
                resid: parts.resid.as_ref().map(ResidualNll::share),
                tail: Tail::new(parts.host.clone()),
            };
            move |b: &runtime::Batch| s.energies(b)
        })
    }
}

impl Detector for OutlierAEGMM {
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
        runtime::check_score_shape("OutlierAEGMM", &self.state, &x, self.cfg.n_features)?;
        if cfg.outlier_type == OutlierType::Feature {
            return Err(OddityError::param(
                "outlier_type",
                "OutlierAEGMM has no feature scores; use OutlierType::Instance",
            ));
        }
        let instance = self.energies(&x, self.scoring()?, (cfg.batch_size, cfg.first_row), None)?;
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

    fn record(&self) -> Result<Record> {
        let arrays = runtime::weights::to_arrays(&self.net.vs);
        let mut r = self.state.record(Self::KIND.tag(), &self.cfg, &self.residuals, arrays, self.device)?;
        r.gmm = self.gmm.clone();
        Ok(r)
    }
}

impl OutlierAEGMM {
    /// `fit`; [`runtime::guard`] turns a libtorch failure into an error.
    fn fit_unguarded(&mut self, x: ArrayView2<f32>, cfg: &FitConfig) -> Result<TrainReport> {
        let t0 = std::time::Instant::now();
        let data = runtime::prepare_fit(&x, self.cfg.n_features, self.cfg.standardize, cfg, self.device)?;
        self.net = AegmmNet::build(&self.cfg, self.device, cfg.seed);
        self.scoring = Default::default();
        self.state = DetectorState { scaler: data.scaler.clone(), ..Default::default() };
        self.gmm = None;
        self.residuals = None;
        let (net, c) = (&self.net, &self.cfg);
        let mut jitter = c.gmm.jitter();
        let host_gmm = self.device == Device::Cpu;
        let mut loss = |xb: &Tensor, step: crate::train::Step| -> Result<crate::train::Loss> {
            train_loss(net, c, xb, step.train, host_gmm, &mut jitter)
        };
        let mut report = crate::train::train(&net.vs, &data.train, data.val.as_ref(), cfg, "OutlierAEGMM", &mut loss)?;
        let bs = crate::train::config::FIT_PASS_BATCH;
        let gmm = gc::estimate(&data.all, bs, &c.gmm, c.z_dim(), &mut jitter, |_, xb| {
            let (_, z) = net.forward(c, xb, false);
            let gamma = gc::memberships(&net.density, &z, false);
            (z, gamma)
        })?;
        if c.score == MixtureScore::Likelihood {
            self.residuals = Some(Residuals::fit(&data.all, bs, |_, xb| net.forward(c, xb, false).0)?);
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

impl Registered for OutlierAEGMM {
    const KIND: DetectorKind = DetectorKind::new("aegmm", "OutlierAEGMM");
    const SUMMARY: &'static str =
        "Autoencoder + Gaussian mixture (DAGMM); the score is the row's negative log-likelihood.";
    type Config = AegmmConfig;

    fn default_config(n_features: usize) -> AegmmConfig {
        AegmmConfig::default_for(n_features)
    }

    fn config_width(cfg: &AegmmConfig) -> usize {
        cfg.n_features
    }

    fn build(cfg: AegmmConfig, device: crate::Device) -> Result<Self> {
        Self::new(cfg, device)
    }

    fn from_file(f: &persist::DetectorFile, device: crate::Device) -> Result<Self> {
        let cfg: AegmmConfig = f.config()?;
        cfg.validate().map_err(|e| f.invalid(e))?;
        runtime::weights::check_parameter_count(f, cfg.n_parameters())?;
        let mut det = OutlierAEGMM::new(cfg, device).map_err(|e| f.invalid(e))?;
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

    /// The three ways to differentiate a training step agree: full autograd
    /// (`forward` + `memberships` + `gmm_loss`, the reference), the taped
    /// encoder/decoder with autograd for the rest (other devices), and the
    /// host path (CPU). Same weights, same dropout masks, same batch.
    #[test]
    fn training_step_gradients_agree() {
        let mut cfg = AegmmConfig::new(6);
        cfg.gmm.density = vec![Layer::new(5, Activation::Tanh).with_dropout(0.3)];
        let x = Tensor::randn([64, 6], (Kind::Float, Device::Cpu));
        let reference = AegmmNet::build(&cfg, Device::Cpu, 3);
        let (xr, z) = reference.forward(&cfg, &x, true);
        let gamma = gc::memberships(&reference.density, &z, true);
        let mut j = Jitter::new(1e-6, 6);
        let loss_ref = (&x - xr).square().mean(Kind::Float) + gc::gmm_loss(&z, &gamma, &cfg.gmm, &mut j).expect("ok");
        loss_ref.backward();
        for host_gmm in [false, true] {
            let net = AegmmNet::build(&cfg, Device::Cpu, 3);
            let loss = train_loss(&net, &cfg, &x, true, host_gmm, &mut j).expect("ok").backward();
            approx::assert_relative_eq!(loss.double_value(&[]), loss_ref.double_value(&[]), max_relative = 1e-5);
            assert_grads_close(&net.vs, &reference.vs, 1e-3, &format!("host_gmm={host_gmm}"));
        }
    }

    /// Detached coupling: both training paths give autograd's gradients of
    /// the reconstruction loss plus the GMM loss on the detached code, so
    /// the encoder and decoder get exactly the reconstruction's gradients
    /// (checked against a reconstruction-only backward) while the
    /// estimation network still learns.
    #[test]
    fn detached_coupling_keeps_the_energy_out_of_the_coder() {
        let mut cfg = AegmmConfig::new(6);
        cfg.gmm.coupling = Coupling::Detached;
        let x = Tensor::randn([64, 6], (Kind::Float, Device::Cpu));
        let reference = AegmmNet::build(&cfg, Device::Cpu, 5);
        let (xr, z) = reference.forward(&cfg, &x, true);
        let z = z.detach();
        let gamma = gc::memberships(&reference.density, &z, true);
        let mut j = Jitter::new(1e-6, 6);
        let loss_ref = (&x - xr).square().mean(Kind::Float) + gc::gmm_loss(&z, &gamma, &cfg.gmm, &mut j).expect("ok");
        loss_ref.backward();
        let recon_only = AegmmNet::build(&cfg, Device::Cpu, 5);
        let (xr, _) = recon_only.forward(&cfg, &x, true);
        (&x - xr).square().mean(Kind::Float).backward();
        let grads = |net: &AegmmNet, part: &str| flat_grads(&net.vs, |k| k.starts_with(part));
        for part in ["encoder", "decoder"] {
            assert_eq!(grads(&reference, part), grads(&recon_only, part), "{part}");
        }
        assert!(grads(&reference, "density").iter().any(|g| g.abs() > 1e-6), "the estimation network learns");
        for host_gmm in [false, true] {
            let net = AegmmNet::build(&cfg, Device::Cpu, 5);
            let loss = train_loss(&net, &cfg, &x, true, host_gmm, &mut j).expect("ok").backward();
            approx::assert_relative_eq!(loss.double_value(&[]), loss_ref.double_value(&[]), max_relative = 1e-5);
            assert_grads_close(&net.vs, &reference.vs, 1e-3, &format!("detached, host_gmm={host_gmm}"));
        }
    }

    /// CPU scoring (folded networks and the host tail, batches shared out to
    /// workers, the standardization applied on the host) and the tensor path
    /// other devices take both give the plain forward pass's energies: with
    /// and without standardization, for every reconstruction feature, with
    /// batches that do not divide the rows evenly.
    #[test]
    fn cpu_scoring_matches_plain_forward() {
        use crate::nn::recon::ReconFeature::*;
        let xt = Tensor::randn([300, 6], (Kind::Float, Device::Cpu)) * 3.0 + 1.0;
        let x = ndarray::Array2::from_shape_vec((300, 6), Vec::<f32>::try_from(xt.view([-1])).unwrap()).unwrap();
        let all = vec![LogMse, Cosine, RelativeEuclidean, Euclidean, AlibiRelative, NegativeCosine];
        let cases = [(true, vec![LogMse, Cosine], MixtureScore::Likelihood), (false, all, MixtureScore::Energy)];
        for (standardize, features, score) in cases {
            let mut cfg = AegmmConfig::new(6);
            cfg.standardize = standardize;
            cfg.score = score;
            cfg.recon.features = features;
            let mut det = OutlierAEGMM::new(cfg, crate::Device::Cpu).unwrap();
            det.fit(x.view(), &FitConfig { epochs: Some(2), batch_size: 64, ..Default::default() }).unwrap();
            let got =
                det.score_with(x.view(), &PredictConfig { batch_size: 70, ..Default::default() }).unwrap().instance;
            let parts = det.scoring().unwrap();
            assert!(matches!(parts.coder, ScoringCoder::Folded(..)), "the CPU scores through the folded networks");
            let on = |parts: &Scoring, workers| det.energies(&x.view(), parts, (70, 0), Some(workers)).unwrap();
            let (one, three) = (on(parts, 1), on(parts, 3));
            // The path other devices take, through the same workers.
            let coder = ScoringCoder::Plain(Box::new((det.net.enc.share(), det.net.dec.share())));
            let resid = parts.resid.as_ref().map(ResidualNll::share);
            assert_eq!(resid.is_some(), score == MixtureScore::Likelihood);
            let plain = on(&Scoring { coder, gmm: parts.gmm.share(), resid, host: None }, 2);
            let xs = match &det.state.scaler {
                Some(sc) => {
                    let (m, sd) = sc.tensors(Device::Cpu);
                    (&xt - m) / sd
                }
                None => xt.shallow_clone(),
            };
            let gmm = det.gmm.as_ref().unwrap().scorer(Device::Cpu);
            let want = tch::no_grad(|| {
                let (xr, z) = det.net.forward(&det.cfg, &xs, false);
                // The residual term written out: sum_j r_j² / (2 v_j) + ln(2 pi v_j) / 2.
                let resid = det.residuals.as_ref().map(|r| {
                    let v = Tensor::from_slice(&r.var).view([1, -1]);
                    ((&xs - &xr).square() / (&v * 2.0) + (v * (2.0 * std::f64::consts::PI)).log() * 0.5)
                        .sum_dim_intlist(-1, false, Kind::Float)
                });
                match resid {
                    Some(r) => gmm.energy(&z) + r,
                    None => gmm.energy(&z),
                }
            });
            let want = Vec::<f32>::try_from(&want).unwrap();
            for (p, w) in plain.iter().zip(&want) {
                approx::assert_relative_eq!(*p, *w, max_relative = 1e-5, epsilon = 1e-4);
            }
            for scores in [&got, &one, &three] {
                for (i, (g, w)) in scores.iter().zip(&want).enumerate() {
                    approx::assert_relative_eq!(*g, *w, max_relative = 1e-4, epsilon = 1e-3);
                    assert!(g.is_finite(), "standardize={standardize} row {i}");
                }
            }
        }
    }

    /// The scoring form is built once and cached: a second `fit` drops it,
    /// so a refitted detector scores like a fresh one fitted the same way.
    #[test]
    fn refit_drops_the_cached_scoring_form() {
        let x = ndarray::Array2::from_shape_fn((200, 4), |(i, j)| ((i * 7 + j * 3) % 11) as f32 - 5.0);
        let fit = |seed| FitConfig { epochs: Some(1), batch_size: 50, seed, ..Default::default() };
        let mut det = OutlierAEGMM::new(AegmmConfig::new(4), crate::Device::Cpu).unwrap();
        det.fit(x.view(), &fit(1)).unwrap();
        let first = det.score(x.view()).unwrap().instance;
        det.fit(x.view(), &fit(2)).unwrap();
        let mut fresh = OutlierAEGMM::new(AegmmConfig::new(4), crate::Device::Cpu).unwrap();
        fresh.fit(x.view(), &fit(2)).unwrap();
        let (again, want) = (det.score(x.view()).unwrap().instance, fresh.score(x.view()).unwrap().instance);
        assert_eq!(again, want);
        assert_ne!(first, want, "different seeds should give different scores");
    }
}
