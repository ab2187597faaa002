//! PPO as RLlib computes it: clipped surrogate, clipped value loss, entropy bonus and an
//! adaptive KL penalty, learned with minibatch SGD epochs over each train batch gathered by
//! the sync samples optimizer.

use rand::seq::SliceRandom;
use tch::{Device, Kind, Tensor};

use crate::algorithms::learner::Learner;
use crate::config::TrainerConfig;
use crate::error::Result;
use crate::evaluation::SampleBatch;
use crate::policy::torch_policy::column_tensor;
use crate::policy::{ActionDistKind, TorchPolicy};
use crate::result::PpoStats;

/// The PPO loss on one minibatch; returns the total loss and a row of stats
/// `[total, policy, vf, kl, entropy]`.
#[allow(clippy::too_many_arguments)]
pub fn ppo_loss(
    policy: &TorchPolicy,
    cfg: &TrainerConfig,
    kl_coeff: f64,
    obs: &Tensor,
    actions: &Tensor,
    old_logp: &Tensor,
    old_dist_inputs: &Tensor,
    advantages: &Tensor,
    value_targets: &Tensor,
    old_vf: &Tensor,
) -> (Tensor, Tensor) {
    let dist: ActionDistKind = policy.dist;
    let (dist_inputs, v) = policy.model.forward(obs);
    let logp = dist.logp(&dist_inputs, actions);
    let ratio = (logp - old_logp).exp();
    let clipped = ratio.clamp(1.0 - cfg.clip_param, 1.0 + cfg.clip_param);
    let surrogate = (advantages * &ratio)
        .minimum(&(advantages * clipped))
        .mean(Kind::Float);
    // Terms whose coefficient is zero are still reported, but computed without autograd:
    // on models this small every op and its backward node cost more than the math.
    let term = |coeff: f64, f: &dyn Fn() -> Tensor| {
        if coeff != 0.0 {
            f()
        } else {
            tch::no_grad(f)
        }
    };
    let kl = term(kl_coeff, &|| {
        dist.kl(old_dist_inputs, &dist_inputs).mean(Kind::Float)
    });
    let entropy = term(cfg.entropy_coeff, &|| {
        dist.entropy(&dist_inputs).mean(Kind::Float)
    });
    let vf_loss1 = (&v - value_targets).square();
    let v_clipped = old_vf + (&v - old_vf).clamp(-cfg.vf_clip_param, cfg.vf_clip_param);
    let vf_loss2 = (v_clipped - value_targets).square();
    let vf_loss = vf_loss1.maximum(&vf_loss2).mean(Kind::Float);
    // The mean of the per-row loss, written as the sum of the terms' means.
    let mut terms = vec![-&surrogate, &vf_loss * cfg.vf_loss_coeff];
    if kl_coeff != 0.0 {
        terms.push(&kl * kl_coeff);
    }
    if cfg.entropy_coeff != 0.0 {
        terms.push(&entropy * -cfg.entropy_coeff);
    }
    let total = terms[1..]
        .iter()
        .fold(terms[0].shallow_clone(), |acc, t| acc + t);
    let stats = tch::no_grad(|| {
        Tensor::stack(
            &[
                total.detach(),
                -surrogate.detach(),
                vf_loss.detach(),
                kl.detach(),
                entropy.detach(),
            ],
            0,
        )
    });
    (total, stats)
}

/// PPO's learning step.
impl Learner {
    /// `num_sgd_iter` epochs of shuffled minibatches over `batch`, then the KL update.
    pub fn learn_on_batch(&mut self, batch: &SampleBatch) -> Result<PpoStats> {
        let n = batch.count;
        let mut adv = batch.advantages.clone();
        if self.config.standardize_advantages && n > 1 {
            let mean = adv.iter().map(|a| *a as f64).sum::<f64>() / n as f64;
            let var = adv.iter().map(|a| (*a as f64 - mean).powi(2)).sum::<f64>() / n as f64;
            let std = var.sqrt().max(1e-4);
            for a in adv.iter_mut() {
                *a = ((*a as f64 - mean) / std) as f32;
            }
        }
        let dev = self.policy.device;
        let obs = column_tensor(&batch.obs, batch.obs_dim, dev);
        let actions = column_tensor(&batch.actions, batch.action_dim, dev);
        let old_logp = column_tensor(&batch.action_logp, 0, dev);
        let old_dist = column_tensor(&batch.action_dist_inputs, batch.dist_dim, dev);
        let adv = column_tensor(&adv, 0, dev);
        let targets = column_tensor(&batch.value_targets, 0, dev);
        let old_vf = column_tensor(&batch.vf_preds, 0, dev);
        let params = self.policy.parameters();
        let mb = self.config.sgd_minibatch_size.min(n).max(1);
        let mut indices: Vec<i64> = (0..n as i64).collect();
        let mut stat_rows = Vec::new();
        let mut gnorm_sum = 0.0;
        let kl_coeff = self.kl_coeff;
        for _ in 0..self.config.num_sgd_iter {
            indices.shuffle(&mut self.rng);
            for chunk in indices.chunks(mb) {
                // A short tail minibatch would weigh its few rows like a full one.
                if chunk.len() < mb && n >= mb {
                    continue;
                }
                let idx = Tensor::from_slice(chunk).to_device(self.policy.device);
                let (loss, stats) = ppo_loss(
                    &self.policy,
                    &self.config,
                    kl_coeff,
                    &obs.index_select(0, &idx),
                    &actions.index_select(0, &idx),
                    &old_logp.index_select(0, &idx),
                    &old_dist.index_select(0, &idx),
                    &adv.index_select(0, &idx),
                    &targets.index_select(0, &idx),
                    &old_vf.index_select(0, &idx),
                );
                self.policy.model.zero_grad();
                loss.f_backward()?;
                let grad = self.policy.model.flat_grad();
                gnorm_sum += self.adam.step_with(&params, &[grad], self.config.grad_clip);
                stat_rows.push(stats);
            }
        }
        let steps = stat_rows.len().max(1);
        let means: Vec<f64> = if stat_rows.is_empty() {
            vec![0.0; 5]
        } else {
            let m = Tensor::stack(&stat_rows, 0)
                .to_device(Device::Cpu)
                .to_kind(Kind::Double)
                .mean_dim([0i64].as_slice(), false, Kind::Double);
            Vec::<f64>::try_from(m)?
        };
        let stats = PpoStats {
            total_loss: means[0],
            policy_loss: means[1],
            vf_loss: means[2],
            kl: means[3],
            entropy: means[4],
            vf_explained_var: tch::no_grad(|| {
                let v = self.policy.model.value(&obs);
                let ev: Tensor = 1.0 - (&targets - v).var(false) / (targets.var(false) + 1e-8);
                ev.double_value(&[])
            }),
            cur_kl_coeff: kl_coeff,
            cur_lr: self.adam.lr,
            grad_gnorm: gnorm_sum / steps as f64,
        };
        self.update_kl(stats.kl);
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::Algorithm;
    use crate::config::{defaults, resolve_config};
    use envs::Space;

    fn cfg(extra: serde_json::Value) -> TrainerConfig {
        let mut user = extra.as_object().cloned().unwrap_or_default();
        user.insert("env".into(), "CartPole-v1".into());
        resolve_config(Algorithm::Ppo, user, "test", &mut Vec::new()).unwrap()
    }

    #[test]
    fn ppo_loss_matches_hand_computation() {
        let _ = defaults(Algorithm::Ppo);
        let c = cfg(serde_json::json!({
            "clip_param": 0.2, "vf_clip_param": 0.5, "vf_loss_coeff": 0.5,
            "entropy_coeff": 0.1, "model": {"fcnet_hiddens": [4]}
        }));
        let policy = TorchPolicy::new(
            &Space::uniform_box(-1.0, 1.0, &[2]),
            &Space::Discrete(2),
            &c.model,
            1,
            Device::Cpu,
        )
        .unwrap();
        let obs = Tensor::from_slice(&[0.1f32, -0.2, 0.3, 0.4]).view([2, 2]);
        let (dist_in, v) = tch::no_grad(|| policy.model.forward(&obs));
        let di: Vec<f32> = Vec::try_from(dist_in.reshape([-1])).unwrap();
        let vv: Vec<f32> = Vec::try_from(v.shallow_clone()).unwrap();
        // Old policy: uniform logits; actions [0, 1]; advantages [1, -2].
        let actions = [0usize, 1];
        let adv = [1.0f64, -2.0];
        let targets = [1.0f64, -1.0];
        let old_vf = [vv[0] as f64 + 1.0, vv[1] as f64 - 0.1];
        let kl_coeff = 0.3;
        let mut want = 0.0;
        for i in 0..2 {
            let lp = crate::policy::distributions::log_softmax(&di[i * 2..i * 2 + 2]);
            let ratio = (lp[actions[i]] - 0.5f64.ln()).exp();
            let surr = (adv[i] * ratio).min(adv[i] * ratio.clamp(0.8, 1.2));
            let p: Vec<f64> = lp.iter().map(|l| l.exp()).collect();
            let kl: f64 = 0.5 * (0.5f64.ln() - lp[0]) + 0.5 * (0.5f64.ln() - lp[1]);
            let ent: f64 = -(p[0] * lp[0] + p[1] * lp[1]);
            let v = vv[i] as f64;
            let l1 = (v - targets[i]).powi(2);
            let vc = old_vf[i] + (v - old_vf[i]).clamp(-0.5, 0.5);
            let l2 = (vc - targets[i]).powi(2);
            want += -surr + kl_coeff * kl + 0.5 * l1.max(l2) - 0.1 * ent;
        }
        want /= 2.0;
        let f = |v: &[f32]| Tensor::from_slice(v);
        let (loss, _) = ppo_loss(
            &policy,
            &c,
            kl_coeff,
            &obs,
            &f(&[0.0, 1.0]),
            &f(&[0.5f32.ln(), 0.5f32.ln()]),
            &Tensor::zeros([2, 2], (Kind::Float, Device::Cpu)),
            &f(&[1.0, -2.0]),
            &f(&[1.0, -1.0]),
            &f(&[old_vf[0] as f32, old_vf[1] as f32]),
        );
        let got = loss.double_value(&[]);
        assert!((got - want).abs() < 1e-5, "loss {got} vs hand {want}");
    }

    #[test]
    fn kl_coefficient_adapts_as_rllib() {
        let c = cfg(serde_json::json!({"kl_target": 0.01, "kl_coeff": 0.2}));
        let policy = TorchPolicy::new(
            &Space::uniform_box(-1.0, 1.0, &[2]),
            &Space::Discrete(2),
            &c.model,
            1,
            Device::Cpu,
        )
        .unwrap();
        let mut l = Learner::new(policy, &c, 0);
        l.update_kl(0.05);
        assert!((l.kl_coeff - 0.3).abs() < 1e-12);
        l.update_kl(0.001);
        assert!((l.kl_coeff - 0.15).abs() < 1e-12);
        l.update_kl(0.01);
        assert!((l.kl_coeff - 0.15).abs() < 1e-12);
    }
}
