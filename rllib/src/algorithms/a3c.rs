//! A3C and A2C as RLlib computes them: a policy-gradient loss with GAE advantages, a value
//! loss and an entropy bonus, summed over the batch. A3C's workers compute gradients on their
//! own samples and the learner applies whichever arrives first (`AsyncGradientsOptimizer`);
//! A2C gathers a batch synchronously and takes one gradient step on the learner.

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::config::TrainerConfig;
use crate::error::Result;
use crate::evaluation::{EpisodeStats, RunningStat, SampleBatch};
use crate::policy::adam::global_norm;
use crate::policy::torch_policy::column_tensor;
use crate::policy::TorchPolicy;
use crate::result::A3cStats;

/// What the A3C loss needs of the config (plain data, so it can travel to workers).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct A3cLossConfig {
    /// Weight of the value loss.
    pub vf_loss_coeff: f64,
    /// Weight of the entropy bonus.
    pub entropy_coeff: f64,
    /// Global-norm clipping of the gradient.
    pub grad_clip: Option<f64>,
}

impl A3cLossConfig {
    /// The loss settings of a trainer config.
    pub fn from_config(c: &TrainerConfig) -> Self {
        A3cLossConfig {
            vf_loss_coeff: c.vf_loss_coeff,
            entropy_coeff: c.entropy_coeff,
            grad_clip: c.grad_clip,
        }
    }
}

/// A worker's gradient on its own samples, with what the learner needs besides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Gradients {
    /// The gradient of the flat parameter buffer (clipped by `grad_clip`).
    pub flat: Vec<f32>,
    /// Rows in the batch it was computed on.
    pub count: usize,
    /// Loss statistics.
    pub stats: A3cStats,
    /// Episodes that ended while sampling.
    pub episodes: Vec<EpisodeStats>,
    /// The worker's filter observations since its last sync.
    pub filter_delta: Option<RunningStat>,
    /// Seconds spent sampling and computing the gradient.
    pub sample_time_s: f64,
    /// Seconds spent on the gradient itself.
    pub grad_time_s: f64,
}

/// The A3C loss over a batch; returns the total and `[total, pi, vf, entropy, explained_var]`.
pub fn a3c_loss(
    policy: &TorchPolicy,
    batch: &SampleBatch,
    cfg: &A3cLossConfig,
) -> (Tensor, Tensor) {
    let dev = policy.device;
    let col = |d: &[f32], w: usize| column_tensor(d, w, dev);
    let obs = col(&batch.obs, batch.obs_dim);
    let actions = col(&batch.actions, batch.action_dim);
    let adv = col(&batch.advantages, 0);
    let targets = col(&batch.value_targets, 0);
    let (dist_inputs, v) = policy.model.forward(&obs);
    let logp = policy.dist.logp(&dist_inputs, &actions);
    let pi_loss = -(logp * &adv).sum(Kind::Float);
    let vf_loss = (&v - &targets).square().sum(Kind::Float) * 0.5;
    let entropy = policy.dist.entropy(&dist_inputs).sum(Kind::Float);
    let total = &pi_loss + &vf_loss * cfg.vf_loss_coeff - &entropy * cfg.entropy_coeff;
    let stats = tch::no_grad(|| {
        let explained = 1.0 - (&targets - &v).var(false) / (targets.var(false) + 1e-8);
        Tensor::stack(
            &[
                total.detach(),
                pi_loss.detach(),
                vf_loss.detach(),
                entropy.detach(),
                explained,
            ],
            0,
        )
    });
    (total, stats)
}

/// The gradient of the A3C loss on `batch` for `policy`'s parameters, clipped by global norm.
pub fn compute_gradients(
    policy: &TorchPolicy,
    batch: &SampleBatch,
    cfg: &A3cLossConfig,
) -> Result<Gradients> {
    let t0 = std::time::Instant::now();
    policy.model.zero_grad();
    let (loss, stats) = a3c_loss(policy, batch, cfg);
    loss.f_backward()?;
    let grad = policy.model.flat_grad();
    let norm = global_norm(std::slice::from_ref(&grad));
    let grad = match cfg.grad_clip {
        Some(c) if norm > c => grad * (c / (norm + 1e-6)),
        _ => grad,
    };
    let flat_grad = Vec::<f32>::try_from(grad.to_device(Device::Cpu))?;
    let s = Vec::<f64>::try_from(stats.to_device(Device::Cpu).to_kind(Kind::Double))?;
    Ok(Gradients {
        flat: flat_grad,
        count: batch.count,
        stats: A3cStats {
            total_loss: s[0],
            policy_loss: s[1],
            vf_loss: s[2],
            entropy: s[3],
            vf_explained_var: s[4],
            grad_gnorm: norm,
            cur_lr: 0.0,
        },
        episodes: batch.episodes.clone(),
        filter_delta: batch.filter_delta.clone(),
        sample_time_s: 0.0,
        grad_time_s: t0.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resolve_config;
    use envs::Space;

    #[test]
    fn a3c_loss_matches_hand_computation() {
        let mut user = serde_json::Map::new();
        user.insert("env".into(), "CartPole-v1".into());
        user.insert("model".into(), serde_json::json!({"fcnet_hiddens": [3]}));
        let c = resolve_config(
            crate::algorithm::Algorithm::A3c,
            user,
            "test",
            &mut Vec::new(),
        )
        .unwrap();
        let policy = TorchPolicy::new(
            &Space::uniform_box(-1.0, 1.0, &[2]),
            &Space::Discrete(2),
            &c.model,
            3,
            Device::Cpu,
        )
        .unwrap();
        let obs = [0.2f32, -0.1, 0.5, 0.3];
        let mut b = SampleBatch::empty(2, 1, 2);
        b.count = 2;
        b.obs = obs.to_vec();
        b.actions = vec![1.0, 0.0];
        b.advantages = vec![0.5, -1.5];
        b.value_targets = vec![1.0, 2.0];
        let di = policy.dist_inputs(&obs).unwrap();
        let v = policy.values(&obs).unwrap();
        let cfg = A3cLossConfig::from_config(&c);
        let mut want = 0.0;
        for i in 0..2 {
            let lp = crate::policy::distributions::log_softmax(&di[i * 2..i * 2 + 2]);
            let a = b.actions[i] as usize;
            let ent: f64 = -lp.iter().map(|l| l.exp() * l).sum::<f64>();
            want += -lp[a] * b.advantages[i] as f64
                + cfg.vf_loss_coeff * 0.5 * (v[i] as f64 - b.value_targets[i] as f64).powi(2)
                - cfg.entropy_coeff * ent;
        }
        let (loss, _) = a3c_loss(&policy, &b, &cfg);
        assert!(
            (loss.double_value(&[]) - want).abs() < 1e-5,
            "{} vs {want}",
            loss.double_value(&[])
        );
        // Gradients come back clipped to grad_clip (40 by default: far above this one).
        let g = compute_gradients(&policy, &b, &cfg).unwrap();
        assert_eq!(g.flat.len() as i64, policy.model.flat().numel() as i64);
        assert!(g.stats.grad_gnorm > 0.0);
    }
}
