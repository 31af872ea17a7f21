//! Dense networks built from a plain config: a list of layers, each with a
//! width and an activation. Weights are Glorot-uniform from the detector's
//! seed and biases start at zero (Keras' defaults, which Alibi Detect uses).

use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

use crate::error::{OddityError, Result};
use crate::rng;

/// Activation applied after a layer's affine map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// No activation.
    Linear,
    /// max(0, x).
    Relu,
    /// tanh(x).
    Tanh,
    /// 1 / (1 + e^-x).
    Sigmoid,
    /// x for x > 0, 0.01 x otherwise.
    LeakyRelu,
    /// x for x > 0, e^x - 1 otherwise.
    Elu,
}

impl Activation {
    fn apply(self, x: Tensor) -> Tensor {
        match self {
            Activation::Linear => x,
            Activation::Relu => x.relu(),
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => x.sigmoid(),
            Activation::LeakyRelu => x.leaky_relu(),
            Activation::Elu => x.elu(),
        }
    }
}

/// One dense layer: width, activation, and dropout applied after the
/// activation while training (0 = none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// Output width.
    pub units: usize,
    /// Activation after the affine map.
    pub activation: Activation,
    /// Dropout probability after the activation, training only.
    #[serde(default)]
    pub dropout: f64,
}

impl Layer {
    /// A layer without dropout.
    pub fn new(units: usize, activation: Activation) -> Self {
        Layer { units, activation, dropout: 0.0 }
    }

    /// The same layer with dropout `p` while training.
    pub fn with_dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }
}

/// Shorthand: layers of the given widths, all with `hidden` activation except
/// the last, which gets `last`.
pub fn layers(widths: &[usize], hidden: Activation, last: Activation) -> Vec<Layer> {
    let n = widths.len();
    widths.iter().enumerate().map(|(i, &u)| Layer::new(u, if i + 1 == n { last } else { hidden })).collect()
}

/// Validates a layer list fed by `n_in` inputs.
pub(crate) fn check_layers(name: &'static str, n_in: usize, layers: &[Layer]) -> Result<()> {
    if n_in == 0 {
        return Err(OddityError::param(name, "input width is 0"));
    }
    if layers.is_empty() {
        return Err(OddityError::param(name, "needs at least one layer"));
    }
    for (i, l) in layers.iter().enumerate() {
        if l.units == 0 {
            return Err(OddityError::param(name, format!("layer {i} has 0 units")));
        }
        if !(0.0..1.0).contains(&l.dropout) {
            return Err(OddityError::param(name, format!("layer {i} dropout {} is outside [0, 1)", l.dropout)));
        }
    }
    Ok(())
}

/// A dense network whose variables live in a `VarStore` under a name prefix.
/// Dropout masks come from its own seeded stream (drawn on the host), not
/// from libtorch's global generator, so training stays reproducible and
/// identical on CPU and CUDA.
#[derive(Debug)]
pub(crate) struct Mlp {
    layers: Vec<(Tensor, Tensor, Activation, f64)>,
    dropout_rng: std::cell::RefCell<rand_chacha::ChaCha8Rng>,
}

impl Mlp {
    /// Builds the network under `path`, drawing initial weights from `rng`.
    pub(crate) fn new(path: &nn::Path, n_in: usize, spec: &[Layer], r: &mut rand_chacha::ChaCha8Rng) -> Mlp {
        let mut fan_in = n_in;
        let mut layers = Vec::with_capacity(spec.len());
        for (i, l) in spec.iter().enumerate() {
            let p = path / i;
            let w = p.var_copy("weight", &rng::glorot_uniform(r, fan_in, l.units));
            let b = p.var_copy("bias", &Tensor::zeros([l.units as i64], (tch::Kind::Float, tch::Device::Cpu)));
            layers.push((w, b, l.activation, l.dropout));
            fan_in = l.units;
        }
        // Keyed by the init stream's state without drawing from it, so adding
        // dropout never shifts the initial weights of later layers.
        let mut key = [0u8; 8];
        key.copy_from_slice(&r.get_seed()[..8]);
        let dseed = u64::from_le_bytes(key) ^ (r.get_word_pos() as u64);
        let dropout_rng = std::cell::RefCell::new(rng::rng(dseed, rng::STREAM_DROPOUT));
        Mlp { layers, dropout_rng }
    }

    /// Forward pass; dropout is active only when `train` is true.
    pub(crate) fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = x.shallow_clone();
        for (w, b, act, p) in &self.layers {
            h = act.apply(h.linear(w, Some(b)));
            if *p > 0.0 && train {
                let mask = rng::dropout_mask(&mut self.dropout_rng.borrow_mut(), &h.size(), *p, h.device());
                // Not in place: autograd saved `h` (the activation's output)
                // for the backward pass.
                #[allow(clippy::assign_op_pattern)]
                {
                    h = h * mask;
                }
            }
        }
        h
    }
}
