//! `OutlierAEGMM`: DAGMM. An autoencoder compresses each row to a latent code;
//! the code plus reconstruction features feed an estimation network whose
//! softmax gives soft memberships of a Gaussian mixture; the instance score
//! is the sample energy (negative log density) under the mixture fitted on
//! the training data.

use std::path::Path;

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

use super::common::{self, Fitted};
use super::gmm_common::{self as gc, GmmSettings};
use crate::detector::{Detector, DetectorKind, OutlierType, PredictConfig, Scores};
use crate::error::{OddityError, Result};
use crate::fit::{FitConfig, TrainReport};
use crate::gmm::GmmState;
use crate::nn::{check_layers, layers, Activation, Layer, Mlp};
use crate::persist;
use crate::recon::ReconFeatures;
use crate::rng;

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
        self.gmm.validate(self.z_dim())
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
    jitter: &mut crate::gmm::Jitter,
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
    let recon = (xb - &xr).square().mean(Kind::Float);
    // Backward from the detached leaves `code` and `xr` into the tapes.
    let finish = move || {
        if let Some(d) = dec_tape.backward(&xr.grad(), true) {
            enc_tape.backward(&(d + code.grad()), false);
        }
    };
    if host_gmm {
        let (gmm, dz) = gc::gmm_loss_by_hand(&net.density, &z, &c.gmm, jitter)?;
        let value = recon.detach() + gmm;
        Ok(crate::train::Loss::by_hand(value, move || {
            (recon + (z * dz()).sum(Kind::Float)).backward();
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
    state: Fitted,
    gmm: Option<GmmState>,
}

impl OutlierAEGMM {
    /// Builds an untrained detector on `device`.
    pub fn new(cfg: AegmmConfig, device: crate::Device) -> Result<Self> {
        cfg.validate()?;
        let device = device.resolve()?;
        let net = AegmmNet::build(&cfg, device, 0);
        Ok(OutlierAEGMM { cfg, device, net, state: Fitted::default(), gmm: None })
    }

    /// Every weight as (name, values); for tests and inspection.
    #[doc(hidden)]
    pub fn parameters(&self) -> Vec<(String, Vec<f32>)> {
        common::parameters(&self.net.vs)
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
        Self::from_file(&persist::read(path)?, device)
    }

    pub(crate) fn from_file(f: &persist::DetectorFile, device: crate::Device) -> Result<Self> {
        f.expect_kind(DetectorKind::Aegmm)?;
        let cfg: AegmmConfig = f.config()?;
        let mut det = OutlierAEGMM::new(cfg, device).map_err(|e| f.invalid(e))?;
        f.load_vars(&det.net.vs)?;
        f.check_scaler(det.cfg.n_features)?;
        det.gmm = f.gmm(det.cfg.gmm.n_gmm, det.cfg.z_dim())?;
        det.state = f.fitted_state();
        Ok(det)
    }
}

impl Detector for OutlierAEGMM {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Aegmm
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
        self.net = AegmmNet::build(&self.cfg, self.device, cfg.seed);
        self.state = Fitted { scaler: data.scaler.clone(), ..Default::default() };
        self.gmm = None;
        let (net, c) = (&self.net, &self.cfg);
        let mut jitter = c.gmm.jitter();
        let host_gmm = self.device == Device::Cpu;
        let mut loss = |xb: &Tensor, step: crate::train::Step| -> Result<crate::train::Loss> {
            train_loss(net, c, xb, step.train, host_gmm, &mut jitter)
        };
        let mut report = crate::train::train(&net.vs, &data.train, data.val.as_ref(), cfg, "OutlierAEGMM", &mut loss)?;
        let bs = crate::detector::DEFAULT_SCORE_BATCH;
        let gmm = gc::estimate(&data.all, bs, &c.gmm, c.z_dim(), &mut jitter, |_, xb| {
            let (_, z) = net.forward(c, xb, false);
            let gamma = gc::memberships(&net.density, &z, false);
            (z, gamma)
        })?;
        report.jitter_retries = jitter.retries;
        report.max_jitter = jitter.max_used;
        report.train_seconds = t0.elapsed().as_secs_f64();
        self.gmm = Some(gmm);
        self.state.fitted = true;
        self.state.report = Some(report.clone());
        Ok(report)
    }

    fn score_with(&self, x: ArrayView2<f32>, cfg: &PredictConfig) -> Result<Scores> {
        cfg.validate()?;
        common::check_score("OutlierAEGMM", &self.state, &x, self.cfg.n_features)?;
        if cfg.outlier_type == OutlierType::Feature {
            return Err(OddityError::param(
                "outlier_type",
                "OutlierAEGMM has no feature scores; use OutlierType::Instance",
            ));
        }
        let gmm = self.gmm.as_ref().ok_or(OddityError::NotFitted("OutlierAEGMM"))?.scorer(self.device);
        let instance = gc::score_energy(&x, cfg.batch_size, self.device, &self.state, |_, xb| {
            gmm.energy(&self.net.forward(&self.cfg, xb, false).1)
        })?;
        Ok(Scores { instance, feature: None })
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
        common::save(path, DetectorKind::Aegmm, &self.cfg, &(), &self.net.vs, &self.state, self.gmm.as_ref())
    }

    fn train_report(&self) -> Option<&TrainReport> {
        self.state.report.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gmm::Jitter;
    use crate::nn::test_util::assert_grads_close;

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
}
