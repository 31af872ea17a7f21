//! Dense networks built from a plain config: a list of layers, each with a
//! width and an activation. Weights are Glorot-uniform from the detector's
//! seed and biases start at zero (Keras' defaults, which Alibi Detect uses).

use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

use crate::error::{OddityError, Result};
use crate::math::rng;

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

/// Slope of [`Activation::LeakyRelu`] below zero (libtorch's default).
const LEAKY_SLOPE: f64 = 0.01;

impl Activation {
    /// Applies the activation in place: `x` is always a layer's fresh
    /// output, which nothing else holds and autograd does not keep (the
    /// affine map's backward needs its inputs, the activation's backward its
    /// output), so this saves an allocation and a pass over memory.
    fn apply(self, mut x: Tensor) -> Tensor {
        match self {
            Activation::Linear => x,
            Activation::Relu => x.relu_(),
            Activation::Tanh => x.tanh_(),
            Activation::Sigmoid => x.sigmoid_(),
            Activation::LeakyRelu => x.leaky_relu_(),
            Activation::Elu => x.elu_(),
        }
    }

    /// An input the activation maps to exactly 1.0 in f32 (tanh(20) and
    /// sigmoid(40) round to 1), used to carry the ones column of [`FoldedMlp`].
    fn ones_source(self) -> f64 {
        match self {
            Activation::Tanh => 20.0,
            Activation::Sigmoid => 40.0,
            Activation::Linear | Activation::Relu | Activation::LeakyRelu | Activation::Elu => 1.0,
        }
    }

    /// True if this device's kernel maps `source` to exactly 1.0, on the
    /// vectorised body and on the scalar tail of a buffer alike.
    fn keeps_one(self, source: f64, device: tch::Device) -> bool {
        let t = self.apply(Tensor::full([67], source, (tch::Kind::Float, device)));
        t.eq(1.0).all().int64_value(&[]) == 1
    }

    /// Gradient with respect to the activation's input, given the gradient
    /// `g` with respect to its output `out`. Every activation here can be
    /// differentiated from its output alone, so the input is not kept.
    fn backward(self, g: Tensor, out: &Tensor) -> Tensor {
        match self {
            Activation::Linear => g,
            Activation::Relu => out.threshold_backward(&g, 0.0),
            Activation::Tanh => Tensor::tanh_backward(&g, out),
            Activation::Sigmoid => Tensor::sigmoid_backward(&g, out),
            Activation::LeakyRelu => out.leaky_relu_backward(&g, LEAKY_SLOPE, true),
            Activation::Elu => Tensor::elu_backward(&g, 1.0, 1.0, 1.0, true, out),
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
    use crate::validate::bounds::{MAX_FEATURES, MAX_UNITS};
    if n_in == 0 {
        return Err(OddityError::param(name, "input width is 0"));
    }
    if n_in > MAX_FEATURES {
        return Err(OddityError::param(name, format!("input width {n_in} is above the bound {MAX_FEATURES}")));
    }
    if layers.is_empty() {
        return Err(OddityError::param(name, "needs at least one layer"));
    }
    for (i, l) in layers.iter().enumerate() {
        if l.units == 0 || l.units > MAX_UNITS {
            return Err(OddityError::param(name, format!("layer {i} has {} units, outside 1..={MAX_UNITS}", l.units)));
        }
        if !(0.0..1.0).contains(&l.dropout) {
            return Err(OddityError::param(name, format!("layer {i} dropout {} is outside [0, 1)", l.dropout)));
        }
    }
    Ok(())
}

/// Weights and biases of a dense stack on `n_in` inputs: `(in + 1) x units`
/// per layer (saturating; callers compare it with a bound).
pub(crate) fn parameter_count(n_in: usize, layers: &[Layer]) -> u64 {
    let mut fan_in = n_in as u64;
    let mut total = 0u64;
    for l in layers {
        total = total.saturating_add(fan_in.saturating_add(1).saturating_mul(l.units as u64));
        fan_in = l.units as u64;
    }
    total
}

/// Fails when the networks of one detector would hold more than
/// [`crate::validate::bounds::MAX_PARAMETERS`] weights.
pub(crate) fn check_parameter_budget(total: u64) -> Result<()> {
    use crate::validate::bounds::MAX_PARAMETERS;
    if total > MAX_PARAMETERS {
        return Err(OddityError::param(
            "layers",
            format!("the networks would hold {total} weights, above the bound {MAX_PARAMETERS}: use narrower layers"),
        ));
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

    /// A copy sharing the same weight tensors, to run on another thread
    /// (the parallel scoring workers).
    pub(crate) fn share(&self) -> Mlp {
        let layers = self.layers.iter().map(|(w, b, a, p)| (w.shallow_clone(), b.shallow_clone(), *a, *p)).collect();
        Mlp { layers, dropout_rng: std::cell::RefCell::new(self.dropout_rng.borrow().clone()) }
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

    /// Forward pass outside autograd that keeps what [`Tape::backward`]
    /// needs. Used on the training hot path: a hand-written backward through
    /// a dense stack skips autograd's per-op graph bookkeeping, which for
    /// networks this small costs about as much as the arithmetic
    /// (docs/benchmarks.md). Same values and dropout masks as `forward`.
    pub(crate) fn forward_taped(&self, x: &Tensor, train: bool) -> (Tensor, Tape) {
        tch::no_grad(|| {
            let mut h = x.shallow_clone();
            let mut steps = Vec::with_capacity(self.layers.len());
            for (w, b, act, p) in &self.layers {
                let input = h;
                let out = act.apply(input.linear(w, Some(b)));
                let mask = (*p > 0.0 && train)
                    .then(|| rng::dropout_mask(&mut self.dropout_rng.borrow_mut(), &out.size(), *p, out.device()));
                h = match &mask {
                    Some(m) => &out * m,
                    None => out.shallow_clone(),
                };
                steps.push(TapeStep { w: w.shallow_clone(), b: b.shallow_clone(), act: *act, input, out, mask });
            }
            (h, Tape { steps })
        })
    }

    /// The network in its scoring form (see [`FoldedMlp`]); `None` where an
    /// activation cannot carry the ones column on this device.
    pub(crate) fn folded(&self, keep_ones: bool) -> Option<FoldedMlp> {
        tch::no_grad(|| {
            let n = self.layers.len();
            let mut layers = Vec::with_capacity(n);
            for (i, (w, b, act, _)) in self.layers.iter().enumerate() {
                let (units, fan_in) = (w.size()[0], w.size()[1]);
                let ones = keep_ones || i + 1 < n;
                let source = act.ones_source();
                if ones && !act.keeps_one(source, w.device()) {
                    return None;
                }
                let wf = Tensor::zeros([fan_in + 1, units + i64::from(ones)], (w.kind(), w.device()));
                wf.narrow(0, 0, fan_in).narrow(1, 0, units).copy_(&w.tr());
                wf.narrow(0, fan_in, 1).narrow(1, 0, units).copy_(&b.view([1, units]));
                if ones {
                    let _ = wf.narrow(0, fan_in, 1).narrow(1, units, 1).fill_(source);
                }
                layers.push((wf, *act));
            }
            Some(FoldedMlp { layers })
        })
    }
}

/// A dense stack for scoring, with every bias folded into its matmul.
///
/// Why: on CPU, libtorch's `addmm` first copies the broadcast bias into the
/// output and then accumulates the product into it; for layers this narrow
/// that copy costs about as much as the product (docs/benchmarks.md). Here
/// each layer's input carries a trailing column of ones, the bias is one
/// more weight row, and one more weight column makes the next ones column:
/// it feeds the incoming one through a weight (`ones_source`) that the
/// activation maps to exactly 1.0. So a layer is one `mm` and one in-place
/// activation over a contiguous buffer. Values equal `Mlp::forward` up to
/// float rounding (the bias is summed inside the product).
#[derive(Debug)]
pub(crate) struct FoldedMlp {
    /// `[fan_in + 1, units (+ 1)]` weights and the activation.
    layers: Vec<(Tensor, Activation)>,
}

impl FoldedMlp {
    /// A copy sharing the same weight tensors, for another thread.
    pub(crate) fn share(&self) -> FoldedMlp {
        FoldedMlp { layers: self.layers.iter().map(|(w, a)| (w.shallow_clone(), *a)).collect() }
    }

    /// Forward pass of `x1 [N, n_in + 1]`, whose last column is ones. The
    /// output carries a last column of ones too if built with `keep_ones`.
    pub(crate) fn forward(&self, x1: &Tensor) -> Tensor {
        let mut h = x1.shallow_clone();
        for (w, act) in &self.layers {
            h = act.apply(h.mm(w));
        }
        h
    }

    /// [`forward`](Self::forward), transposed: `[units, N]`, one row per
    /// output unit. The last product is taken as `W^T h^T`, so the
    /// transpose costs no copy; the host scoring tail reads its input
    /// column by column this way.
    pub(crate) fn forward_transposed(&self, x1: &Tensor) -> Tensor {
        let mut h = x1.shallow_clone();
        let last = self.layers.len() - 1;
        for (i, (w, act)) in self.layers.iter().enumerate() {
            h = act.apply(if i == last { w.tr().mm(&h.tr()) } else { h.mm(w) });
        }
        h
    }
}

/// What [`Mlp::forward_taped`] kept of one layer.
#[derive(Debug)]
struct TapeStep {
    w: Tensor,
    b: Tensor,
    act: Activation,
    input: Tensor,
    /// The activation's output, before dropout.
    out: Tensor,
    mask: Option<Tensor>,
}

/// A recorded forward pass of an [`Mlp`], to be differentiated by hand.
#[derive(Debug)]
pub(crate) struct Tape {
    steps: Vec<TapeStep>,
}

impl Tape {
    /// Backpropagates `grad` (dL/d output) through the recorded layers,
    /// adding each weight's and bias's gradient to its `.grad()` as autograd
    /// would (so other contributions and the optimizer's flat gradient buffer
    /// are respected). Returns dL/d input when `input_grad` is set.
    pub(crate) fn backward(self, grad: &Tensor, input_grad: bool) -> Option<Tensor> {
        tch::no_grad(|| {
            let mut g = grad.shallow_clone();
            for (i, s) in self.steps.into_iter().enumerate().rev() {
                if let Some(m) = &s.mask {
                    // Not in place: `g` may still be the caller's tensor.
                    #[allow(clippy::assign_op_pattern)]
                    {
                        g = g * m;
                    }
                }
                g = s.act.backward(g, &s.out);
                let _ = grad_of(&s.w).addmm_(&g.tr(), &s.input);
                let mut gb = grad_of(&s.b);
                gb += g.sum_dim_intlist(0, false, None);
                if i == 0 && !input_grad {
                    return None;
                }
                g = g.mm(&s.w);
            }
            Some(g)
        })
    }
}

/// The gradient buffer of a parameter, created (zero) if the parameter has
/// never received a gradient.
fn grad_of(p: &Tensor) -> Tensor {
    let g = p.grad();
    if g.defined() {
        return g;
    }
    // The only way through the C API to give a leaf a `.grad`: a backward
    // pass, here of a zero function of it, once per parameter.
    tch::with_grad(|| (p.sum(p.kind()) * 0.0).backward());
    p.grad()
}

/// Helpers for the tests that compare hand-written gradients with autograd's.
#[cfg(test)]
pub(crate) mod test_util {
    use tch::{nn, Tensor};

    /// Every variable's gradient, by name.
    pub(crate) fn grads(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
        let mut v: Vec<_> = vs.variables().into_iter().map(|(k, t)| (k, t.grad())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The gradients of the variables whose names `keep` accepts, flattened
    /// in name order, as f64.
    pub(crate) fn flat_grads(vs: &nn::VarStore, keep: impl Fn(&str) -> bool) -> Vec<f64> {
        grads(vs)
            .into_iter()
            .filter(|(k, _)| keep(k))
            .flat_map(|(_, g)| Vec::<f64>::try_from(g.to_kind(tch::Kind::Double).view([-1])).unwrap())
            .collect()
    }

    /// Asserts that two stores' gradients agree to `rel` of each reference
    /// gradient's largest entry (at least 1e-3).
    pub(crate) fn assert_grads_close(got: &nn::VarStore, want: &nn::VarStore, rel: f64, label: &str) {
        let (got, want) = (grads(got), grads(want));
        assert_eq!(got.len(), want.len());
        for ((k, g), (_, w)) in got.iter().zip(&want) {
            let scale = w.abs().max().double_value(&[]).max(1e-3);
            let diff = (g - w).abs().max().double_value(&[]);
            assert!(diff <= rel * scale, "{label} {k}: max |diff| {diff}, scale {scale}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// Two copies of one network (same weights, same dropout stream) in two
    /// stores, one differentiated by autograd, the other by its tape.
    fn twins(spec: &[Layer]) -> [(nn::VarStore, Mlp); 2] {
        [0, 1].map(|_| {
            let vs = nn::VarStore::new(Device::Cpu);
            let mlp = Mlp::new(&vs.root(), 5, spec, &mut rng::rng(7, rng::STREAM_INIT));
            (vs, mlp)
        })
    }

    use super::test_util::grads;

    /// The hand-written backward gives autograd's gradients (weights, biases
    /// and input) for every activation, with and without dropout; the
    /// reference is libtorch's own autograd of `Mlp::forward`.
    #[test]
    fn tape_backward_matches_autograd() {
        let acts = [
            Activation::Linear,
            Activation::Relu,
            Activation::Tanh,
            Activation::Sigmoid,
            Activation::LeakyRelu,
            Activation::Elu,
        ];
        for act in acts {
            for p in [0.0, 0.3] {
                let spec = [Layer::new(7, act).with_dropout(p), Layer::new(4, act), Layer::new(3, Activation::Linear)];
                let [(vs_a, a), (vs_b, b)] = twins(&spec);
                let x = Tensor::randn([11, 5], (Kind::Float, Device::Cpu));
                let w = Tensor::randn([11, 3], (Kind::Float, Device::Cpu));

                let xa = x.copy().set_requires_grad(true);
                (a.forward(&xa, true) * &w).sum(Kind::Float).backward();

                let (out, tape) = b.forward_taped(&x, true);
                let out_a = tch::no_grad(|| a.forward(&x, false));
                let dx = tape.backward(&w, true).expect("input gradient asked for");

                for ((ka, ga), (kb, gb)) in grads(&vs_a).iter().zip(grads(&vs_b).iter()) {
                    assert_eq!(ka, kb);
                    let diff = (ga - gb).abs().max().double_value(&[]);
                    assert!(diff < 1e-5, "{act:?} p={p} {ka}: max |diff| {diff}");
                    assert!(ga.abs().sum(Kind::Float).double_value(&[]) > 0.0 || act == Activation::Relu);
                }
                let diff = (xa.grad() - dx).abs().max().double_value(&[]);
                assert!(diff < 1e-5, "{act:?} p={p} input grad: max |diff| {diff}");
                if p == 0.0 {
                    // Same values as the plain forward pass.
                    let diff = (out - out_a).abs().max().double_value(&[]);
                    assert!(diff < 1e-6, "{act:?}: forward differs by {diff}");
                }
            }
        }
    }

    /// Gradients accumulate, as autograd's do: two backward passes give twice
    /// one, and an existing gradient is added to, not overwritten.
    #[test]
    fn tape_backward_accumulates() {
        let spec = [Layer::new(6, Activation::Tanh), Layer::new(2, Activation::Linear)];
        let [(vs, m), _] = twins(&spec);
        let x = Tensor::randn([9, 5], (Kind::Float, Device::Cpu));
        let g = Tensor::randn([9, 2], (Kind::Float, Device::Cpu));
        let (_, tape) = m.forward_taped(&x, true);
        assert!(tape.backward(&g, false).is_none());
        let once: Vec<Tensor> = grads(&vs).into_iter().map(|(_, t)| t.copy()).collect();
        let (_, tape) = m.forward_taped(&x, true);
        tape.backward(&g, false);
        for (o, (k, t)) in once.iter().zip(grads(&vs)) {
            let diff = (t - o * 2.0).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "{k}: {diff}");
        }
    }

    /// The folded scoring form gives `forward`'s values for every activation,
    /// its carried ones column is exactly 1 (tanh(20) and sigmoid(40) round
    /// to 1 in f32, as `ones_source` relies on). It is the network in eval
    /// mode: the layers carry dropout, which the fold leaves out.
    #[test]
    fn folded_forward_matches_forward() {
        use Activation::*;
        for act in [Linear, Relu, Tanh, Sigmoid, LeakyRelu, Elu] {
            let spec = [Layer::new(7, act).with_dropout(0.2), Layer::new(3, act), Layer::new(4, Linear)];
            let [(_, m), _] = twins(&spec);
            // Large inputs push tanh and sigmoid into saturation as well.
            let x = Tensor::randn([70, 5], (Kind::Float, Device::Cpu)) * 4.0;
            let x1 = Tensor::cat(&[&x, &Tensor::ones([70, 1], (Kind::Float, Device::Cpu))], 1);
            let want = tch::no_grad(|| m.forward(&x, false));
            for keep in [false, true] {
                let f = m.folded(keep).expect("every activation here carries the ones column on CPU");
                let got = f.forward(&x1);
                assert_eq!(got.size(), [70, 4 + i64::from(keep)], "{act:?}");
                let diff = (got.narrow(1, 0, 4) - &want).abs().max().double_value(&[]);
                assert!(diff < 1e-5, "{act:?} keep={keep}: max |diff| {diff}");
                if keep {
                    assert!(got.narrow(1, 4, 1).eq(1.0).all().int64_value(&[]) == 1, "{act:?}: ones column");
                }
            }
        }
    }
}
