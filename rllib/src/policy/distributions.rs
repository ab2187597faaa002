//! Action distributions: categorical for `Discrete`, diagonal Gaussian for `Box` actions.
//!
//! Batched math (log-probability, entropy, KL) runs in libtorch for the loss; drawing an
//! action runs in Rust with the worker's own RNG, because libtorch's CPU generator is global
//! and would make runs with several workers irreproducible.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

use super::model::standard_normal;

const LN_2PI: f64 = 1.837_877_066_409_345_3;

/// Which distribution a policy's outputs parameterize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionDistKind {
    /// Softmax over `n` logits.
    Categorical {
        /// Number of actions.
        n: usize,
    },
    /// Independent Gaussians: `dim` means followed by `dim` log-stds.
    DiagGaussian {
        /// Action dimension.
        dim: usize,
    },
}

impl ActionDistKind {
    /// Number of network outputs the distribution needs.
    pub fn num_inputs(&self) -> usize {
        match self {
            ActionDistKind::Categorical { n } => *n,
            ActionDistKind::DiagGaussian { dim } => 2 * dim,
        }
    }

    /// Number of `f32` values per action in a sample batch.
    pub fn action_dim(&self) -> usize {
        match self {
            ActionDistKind::Categorical { .. } => 1,
            ActionDistKind::DiagGaussian { dim } => *dim,
        }
    }

    fn split(inputs: &Tensor) -> (Tensor, Tensor) {
        let c = inputs.chunk(2, 1);
        (c[0].shallow_clone(), c[1].shallow_clone())
    }

    /// Log-probability of `actions` (`[B]` indices as float, or `[B, dim]`) under `inputs` `[B, k]`.
    pub fn logp(&self, inputs: &Tensor, actions: &Tensor) -> Tensor {
        match self {
            ActionDistKind::Categorical { .. } => {
                let idx = actions.reshape([-1, 1]).to_kind(Kind::Int64);
                inputs
                    .log_softmax(-1, Kind::Float)
                    .gather(1, &idx, false)
                    .squeeze_dim(1)
            }
            ActionDistKind::DiagGaussian { dim } => {
                let (mean, log_std) = Self::split(inputs);
                let a = actions.reshape([-1, *dim as i64]);
                let z = (a - &mean) / log_std.exp();
                (z.square() * -0.5 - &log_std).sum_dim_intlist(
                    [1i64].as_slice(),
                    false,
                    Kind::Float,
                ) - 0.5 * (*dim as f64) * LN_2PI
            }
        }
    }

    /// Entropy per row.
    pub fn entropy(&self, inputs: &Tensor) -> Tensor {
        match self {
            ActionDistKind::Categorical { .. } => {
                let logp = inputs.log_softmax(-1, Kind::Float);
                -(logp.exp() * &logp).sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
            }
            ActionDistKind::DiagGaussian { .. } => {
                let (_, log_std) = Self::split(inputs);
                (log_std + 0.5 * (LN_2PI + 1.0)).sum_dim_intlist(
                    [1i64].as_slice(),
                    false,
                    Kind::Float,
                )
            }
        }
    }

    /// KL(old || new) per row.
    pub fn kl(&self, old: &Tensor, new: &Tensor) -> Tensor {
        match self {
            ActionDistKind::Categorical { .. } => {
                let lo = old.log_softmax(-1, Kind::Float);
                let ln = new.log_softmax(-1, Kind::Float);
                (lo.exp() * (&lo - ln)).sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
            }
            ActionDistKind::DiagGaussian { .. } => {
                let (m0, s0) = Self::split(old);
                let (m1, s1) = Self::split(new);
                let num = (&s0 * 2.0).exp() + (&m0 - &m1).square();
                let den = (&s1 * 2.0).exp() * 2.0;
                (&s1 - &s0 + num / den - 0.5).sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
            }
        }
    }

    /// Draws one action for one row of inputs; returns it with its log-probability.
    pub fn sample(&self, inputs: &[f32], rng: &mut ChaCha8Rng, out: &mut Vec<f32>) -> f64 {
        match self {
            ActionDistKind::Categorical { n } => {
                let logp = log_softmax(&inputs[..*n]);
                let u: f64 = rng.gen();
                let mut acc = 0.0;
                let mut choice = n - 1;
                for (i, lp) in logp.iter().enumerate() {
                    acc += lp.exp();
                    if u < acc {
                        choice = i;
                        break;
                    }
                }
                out.push(choice as f32);
                logp[choice]
            }
            ActionDistKind::DiagGaussian { dim } => {
                let (mean, log_std) = inputs.split_at(*dim);
                let mut logp = -0.5 * (*dim as f64) * LN_2PI;
                for (m, ls) in mean.iter().zip(log_std) {
                    let z = standard_normal(rng);
                    let a = (*m as f64 + (*ls as f64).exp() * z) as f32;
                    out.push(a);
                    let zz = (a as f64 - *m as f64) / (*ls as f64).exp();
                    logp += -0.5 * zz * zz - *ls as f64;
                }
                logp
            }
        }
    }

    /// The most likely action for one row of inputs (argmax, or the mean).
    pub fn deterministic(&self, inputs: &[f32], out: &mut Vec<f32>) {
        match self {
            ActionDistKind::Categorical { n } => {
                let mut best = 0;
                for i in 1..*n {
                    if inputs[i] > inputs[best] {
                        best = i;
                    }
                }
                out.push(best as f32);
            }
            ActionDistKind::DiagGaussian { dim } => out.extend_from_slice(&inputs[..*dim]),
        }
    }
}

/// Numerically stable log-softmax in f64.
pub fn log_softmax(x: &[f32]) -> Vec<f64> {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v)) as f64;
    let lse = x.iter().map(|v| (*v as f64 - max).exp()).sum::<f64>().ln() + max;
    x.iter().map(|v| *v as f64 - lse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f32], rows: i64) -> Tensor {
        Tensor::from_slice(v).view([rows, -1])
    }

    #[test]
    fn categorical_logp_entropy_kl_match_hand_values() {
        let d = ActionDistKind::Categorical { n: 2 };
        // logits [0, ln 3] -> probs [0.25, 0.75]
        let inp = t(&[0.0, 3f32.ln()], 1);
        let lp = d.logp(&inp, &Tensor::from_slice(&[1.0f32]));
        assert!((lp.double_value(&[0]) - 0.75f64.ln()).abs() < 1e-6);
        let h = -(0.25 * 0.25f64.ln() + 0.75 * 0.75f64.ln());
        assert!((d.entropy(&inp).double_value(&[0]) - h).abs() < 1e-6);
        // KL([.25,.75] || [.5,.5])
        let kl = d.kl(&inp, &t(&[0.0, 0.0], 1)).double_value(&[0]);
        let want = 0.25 * (0.25f64 / 0.5).ln() + 0.75 * (0.75f64 / 0.5).ln();
        assert!((kl - want).abs() < 1e-6);
    }

    #[test]
    fn gaussian_logp_entropy_kl_match_hand_values() {
        let d = ActionDistKind::DiagGaussian { dim: 1 };
        // mean 1, log_std ln 2 (std 2); action 2 -> z = 0.5
        let inp = t(&[1.0, 2f32.ln()], 1);
        let lp = d.logp(&inp, &t(&[2.0], 1)).double_value(&[0]);
        let want = -0.5 * 0.25 - 2f64.ln() - 0.5 * LN_2PI;
        assert!((lp - want).abs() < 1e-6, "{lp} vs {want}");
        let h = d.entropy(&inp).double_value(&[0]);
        assert!((h - (2f64.ln() + 0.5 * (LN_2PI + 1.0))).abs() < 1e-6);
        // KL(N(1, 2^2) || N(0, 1)) = ln(1/2) + (4 + 1) / 2 - 0.5
        let kl = d.kl(&inp, &t(&[0.0, 0.0], 1)).double_value(&[0]);
        assert!((kl - (0.5f64.ln() + 2.5 - 0.5)).abs() < 1e-6);
    }

    #[test]
    fn rust_sampling_logp_agrees_with_torch() {
        use rand::SeedableRng;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let d = ActionDistKind::DiagGaussian { dim: 2 };
        let inp = [0.5f32, -1.0, -0.3, 0.2];
        let mut a = Vec::new();
        let lp = d.sample(&inp, &mut rng, &mut a);
        let tl = d.logp(&t(&inp, 1), &t(&a, 1)).double_value(&[0]);
        assert!((lp - tl).abs() < 1e-5);
        let c = ActionDistKind::Categorical { n: 3 };
        let mut a = Vec::new();
        let lp = c.sample(&[0.1, 0.2, -0.4], &mut rng, &mut a);
        let tl = c
            .logp(&t(&[0.1, 0.2, -0.4], 1), &Tensor::from_slice(&a))
            .double_value(&[0]);
        assert!((lp - tl).abs() < 1e-6);
    }
}
