//! Fully connected models built from RLlib's model keys.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

/// Activation of the hidden layers of a fully connected model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Hyperbolic tangent (RLlib's default).
    Tanh,
    /// Rectified linear unit.
    Relu,
    /// No activation.
    Linear,
}

/// RLlib's `model` settings for fully connected networks (the config's `model` section).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Sizes of the hidden layers.
    pub fcnet_hiddens: Vec<usize>,
    /// Activation after each hidden layer.
    pub fcnet_activation: Activation,
    /// Whether policy and value function share the hidden layers.
    pub vf_share_layers: bool,
    /// For `Box` actions: a state-independent, learned log-std instead of a network output.
    pub free_log_std: bool,
    /// RLlib 0.x: squash continuous actions into the space's bounds with tanh when stepping,
    /// instead of clipping them.
    #[serde(default)]
    pub squash_to_range: bool,
}

/// One dense layer's parameters (their storage lies in the model's flat buffer).
struct Dense {
    weight: Tensor,
    bias: Tensor,
}

/// Collects initial values in construction order; views are cut once the buffer exists.
#[derive(Default)]
struct FlatBuilder {
    values: Vec<f32>,
    /// (offset, shape) of each parameter, in construction order.
    slots: Vec<(usize, Vec<i64>)>,
}

impl FlatBuilder {
    fn push(&mut self, values: Vec<f32>, shape: Vec<i64>) -> usize {
        self.slots.push((self.values.len(), shape));
        self.values.extend(values);
        self.slots.len() - 1
    }

    /// RLlib's `normc` initializer: Gaussian rows rescaled to norm `std`, zero bias.
    /// Drawn from Rust's RNG so the same seed gives the same weights everywhere.
    fn normc(&mut self, inp: usize, out: usize, std: f64, rng: &mut ChaCha8Rng) -> (usize, usize) {
        let mut w = vec![0f32; inp * out];
        for row in w.chunks_mut(inp) {
            for x in row.iter_mut() {
                *x = standard_normal(rng) as f32;
            }
            let norm = row
                .iter()
                .map(|x| (*x as f64) * (*x as f64))
                .sum::<f64>()
                .sqrt();
            for x in row.iter_mut() {
                *x = (*x as f64 * std / norm.max(1e-12)) as f32;
            }
        }
        let wi = self.push(w, vec![out as i64, inp as i64]);
        let bi = self.push(vec![0.0; out], vec![out as i64]);
        (wi, bi)
    }
}

impl Dense {
    fn from_views(views: &[Tensor], (w, b): (usize, usize)) -> Dense {
        Dense {
            weight: views[w].shallow_clone(),
            bias: views[b].shallow_clone(),
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, Some(&self.bias))
    }
}

/// A standard normal draw by Box-Muller (rand 0.8 has no Gaussian without rand_distr).
pub fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A stack of hidden layers followed by one linear head.
struct Tower {
    hidden: Vec<Dense>,
    head: Dense,
}

impl Tower {
    fn forward(&self, x: &Tensor, act: Activation) -> Tensor {
        let mut h = x.shallow_clone();
        for layer in &self.hidden {
            h = activate(layer.forward(&h), act);
        }
        self.head.forward(&h)
    }
}

fn push_tower<'a>(prefix: &str, t: &'a Tower, out: &mut Vec<(String, &'a Tensor)>) {
    for (i, d) in t.hidden.iter().enumerate() {
        out.push((format!("{prefix}.{i}.weight"), &d.weight));
        out.push((format!("{prefix}.{i}.bias"), &d.bias));
    }
    out.push((format!("{prefix}.head.weight"), &t.head.weight));
    out.push((format!("{prefix}.head.bias"), &t.head.bias));
}

fn activate(x: Tensor, act: Activation) -> Tensor {
    match act {
        Activation::Tanh => x.tanh(),
        Activation::Relu => x.relu(),
        Activation::Linear => x,
    }
}

/// RLlib's `FullyConnectedNetwork`: a policy tower producing the distribution's inputs and
/// a value tower (or a value head on the shared tower when `vf_share_layers`).
pub struct FullyConnectedNetwork {
    activation: Activation,
    pi: Tower,
    /// A separate value tower, or None when the value head shares `pi`'s hidden layers.
    vf: Option<Tower>,
    /// The value head used with shared layers.
    vf_head: Option<Dense>,
    /// State-independent log-std (`free_log_std`), appended to the policy outputs.
    log_std: Option<Tensor>,
    /// Every parameter's values, contiguous; the parameters' storage lies in it.
    flat: Tensor,
    /// The parameters in construction order (the layout of `flat`).
    params: Vec<Tensor>,
}

impl FullyConnectedNetwork {
    /// Builds the model for `obs_dim` inputs and `num_outputs` distribution inputs.
    ///
    /// All parameters live in one flat leaf tensor and the layers hold views into it, so
    /// the optimizer updates every parameter with a handful of kernels instead of a dozen
    /// per tensor (op dispatch dominates the cost of SGD on models this small).
    pub fn new(
        cfg: &ModelConfig,
        obs_dim: usize,
        num_outputs: usize,
        rng: &mut ChaCha8Rng,
        device: Device,
    ) -> Self {
        let mut fb = FlatBuilder::default();
        let mut tower = |out: usize, head_std: f64, fb: &mut FlatBuilder| {
            let mut hidden = Vec::new();
            let mut inp = obs_dim;
            for &h in &cfg.fcnet_hiddens {
                hidden.push(fb.normc(inp, h, 1.0, rng));
                inp = h;
            }
            let head = fb.normc(inp, out, head_std, rng);
            (hidden, head)
        };
        // With free_log_std the network emits only the means; log-std is its own variable.
        let pi_out = if cfg.free_log_std {
            num_outputs / 2
        } else {
            num_outputs
        };
        let pi = tower(pi_out, 0.01, &mut fb);
        let (vf, vf_head) = if cfg.vf_share_layers {
            let last = cfg.fcnet_hiddens.last().copied().unwrap_or(obs_dim);
            (None, Some(fb.normc(last, 1, 1.0, rng)))
        } else {
            (Some(tower(1, 1.0, &mut fb)), None)
        };
        let log_std = cfg
            .free_log_std
            .then(|| fb.push(vec![0.0; pi_out], vec![pi_out as i64]));
        // `flat` holds the values; each parameter is a leaf of its own whose storage is a
        // slice of `flat` (set_data), so autograd gives per-parameter gradients without
        // the full-buffer scatter a view's backward would do, and the optimizer still
        // updates everything through `flat` in a few kernels.
        let flat = Tensor::from_slice(&fb.values).to_device(device);
        let views: Vec<Tensor> = fb
            .slots
            .iter()
            .map(|(off, shape)| {
                let n: i64 = shape.iter().product();
                let mut leaf = Tensor::zeros(shape.as_slice(), (tch::Kind::Float, device));
                leaf.set_data(&flat.narrow(0, *off as i64, n).view(shape.as_slice()));
                leaf.set_requires_grad(true)
            })
            .collect();
        let mk_tower = |(hidden, head): (Vec<(usize, usize)>, (usize, usize))| Tower {
            hidden: hidden
                .into_iter()
                .map(|d| Dense::from_views(&views, d))
                .collect(),
            head: Dense::from_views(&views, head),
        };
        FullyConnectedNetwork {
            activation: cfg.fcnet_activation,
            pi: mk_tower(pi),
            vf: vf.map(mk_tower),
            vf_head: vf_head.map(|d| Dense::from_views(&views, d)),
            log_std: log_std.map(|i| views[i].shallow_clone()),
            flat,
            params: views,
        }
    }

    /// The flat tensor holding every parameter's values (what the optimizer updates).
    pub fn flat(&self) -> &Tensor {
        &self.flat
    }

    /// The gradient of every parameter, laid out as `flat` (zeros where none was computed).
    pub fn flat_grad(&self) -> Tensor {
        let grads: Vec<Tensor> = self
            .params
            .iter()
            .map(|p| {
                let g = p.grad();
                if g.defined() {
                    g.reshape([-1])
                } else {
                    p.zeros_like().reshape([-1])
                }
            })
            .collect();
        Tensor::cat(&grads, 0)
    }

    /// Zeroes every parameter's gradient before a backward pass.
    pub fn zero_grad(&self) {
        for p in &self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
    }

    /// The action distribution's inputs for a batch of observations.
    pub fn dist_inputs(&self, obs: &Tensor) -> Tensor {
        let out = self.pi.forward(obs, self.activation);
        self.with_log_std(out)
    }

    fn with_log_std(&self, out: Tensor) -> Tensor {
        match &self.log_std {
            Some(ls) => {
                let b = out.size()[0];
                let ls = ls.unsqueeze(0).expand([b, -1], false);
                Tensor::cat(&[out, ls], 1)
            }
            None => out,
        }
    }

    /// Distribution inputs and value estimates in one pass (shared layers computed once).
    pub fn forward(&self, obs: &Tensor) -> (Tensor, Tensor) {
        match (&self.vf, &self.vf_head) {
            (Some(vf), _) => (
                self.dist_inputs(obs),
                vf.forward(obs, self.activation).squeeze_dim(1),
            ),
            (None, Some(head)) => {
                let mut h = obs.shallow_clone();
                for layer in &self.pi.hidden {
                    h = activate(layer.forward(&h), self.activation);
                }
                let out = self.with_log_std(self.pi.head.forward(&h));
                (out, head.forward(&h).squeeze_dim(1))
            }
            (None, None) => unreachable!("a model has a value tower or a value head"),
        }
    }

    /// Value estimates only.
    pub fn value(&self, obs: &Tensor) -> Tensor {
        match &self.vf {
            Some(vf) => vf.forward(obs, self.activation).squeeze_dim(1),
            None => self.forward(obs).1,
        }
    }

    /// Every parameter with its stable name, sorted by name.
    pub fn named_parameters(&self) -> Vec<(String, &Tensor)> {
        let mut out: Vec<(String, &Tensor)> = Vec::new();
        push_tower("pi", &self.pi, &mut out);
        if let Some(vf) = &self.vf {
            push_tower("vf", vf, &mut out);
        }
        if let Some(h) = &self.vf_head {
            out.push(("vf.head.weight".into(), &h.weight));
            out.push(("vf.head.bias".into(), &h.bias));
        }
        if let Some(ls) = &self.log_std {
            out.push(("pi.log_std".into(), ls));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}
