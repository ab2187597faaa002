//! What learners and optimizers report about one iteration, as typed values.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// PPO's statistics of one learning step, reported under `info/learner/default_policy/`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PpoStats {
    /// Mean PPO objective with the sign of a loss.
    pub policy_loss: f64,
    /// Mean (clipped) value loss.
    pub vf_loss: f64,
    /// Mean KL(old || new).
    pub kl: f64,
    /// Mean entropy of the new policy.
    pub entropy: f64,
    /// The KL coefficient used in this step (before its update).
    pub cur_kl_coeff: f64,
    /// The learning rate.
    pub cur_lr: f64,
    /// Explained variance of the value function on the value targets.
    pub vf_explained_var: f64,
    /// Mean total loss.
    pub total_loss: f64,
    /// Mean global gradient norm before clipping.
    pub grad_gnorm: f64,
}

/// A3C's (and A2C's) statistics of one gradient, reported under
/// `info/learner/default_policy/`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct A3cStats {
    /// -sum(logp * advantages).
    pub policy_loss: f64,
    /// 0.5 * sum((V - targets)^2).
    pub vf_loss: f64,
    /// Summed entropy.
    pub entropy: f64,
    /// The total loss.
    pub total_loss: f64,
    /// Global gradient norm before clipping.
    pub grad_gnorm: f64,
    /// Explained variance of the value function.
    pub vf_explained_var: f64,
    /// The learner's learning rate when the gradient was applied (set by the learner).
    #[serde(default)]
    pub cur_lr: f64,
}

/// The learner's statistics, by algorithm family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LearnerStats {
    /// PPO's.
    Ppo(PpoStats),
    /// A3C's and A2C's.
    A3c(A3cStats),
}

/// The asynchronous gradients optimizer's statistics, merged into `info/`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AsyncGradientsStats {
    /// Gradients applied in the iteration.
    pub num_grads_applied: usize,
    /// Mean over applied gradients of (learner version at apply - version computed on).
    pub mean_grad_staleness: f64,
    /// Gradients applied so far: the learner's weight version.
    pub weights_version: u64,
    /// Worker time sampling plus computing gradients, summed, ms.
    pub worker_sample_and_grad_time_ms: f64,
    /// Gradients applied per second of the iteration.
    pub grads_per_s: f64,
    /// Gradients applied per worker index (`"1"`, `"2"`, ...).
    pub grads_per_worker: BTreeMap<String, u64>,
}
