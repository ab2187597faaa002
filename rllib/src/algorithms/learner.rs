//! The learner: the policy being trained, its optimizer and the state algorithms keep
//! between steps (PPO's KL coefficient, the minibatch shuffler).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

use crate::config::TrainerConfig;
use crate::error::Result;
use crate::policy::adam::Adam;
use crate::policy::TorchPolicy;

/// The learner's side of every algorithm: the policy being trained and Adam.
pub struct Learner {
    /// The policy being trained.
    pub policy: TorchPolicy,
    /// The optimizer.
    pub adam: Adam,
    /// PPO's adaptive KL coefficient.
    pub kl_coeff: f64,
    /// Shuffles minibatches.
    pub rng: ChaCha8Rng,
    /// The trainer config.
    pub config: TrainerConfig,
}

impl Learner {
    /// A learner for `policy` with the config's optimizer settings.
    pub fn new(policy: TorchPolicy, cfg: &TrainerConfig, seed: u64) -> Self {
        let adam = policy.adam(cfg.lr);
        Learner {
            policy,
            adam,
            kl_coeff: cfg.kl_coeff,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x00ff_1ea7),
            config: cfg.clone(),
        }
    }

    /// Applies gradients computed elsewhere (a worker's, for A3C) with Adam; they must
    /// cover the flat parameter buffer.
    pub fn apply_gradients(&mut self, flat_grads: &[f32]) -> Result<f64> {
        let flat = self.policy.model.flat();
        if flat_grads.len() as i64 != flat.numel() as i64 {
            return Err(crate::error::RllibError::Mismatch {
                what: "gradient size",
                expected: format!("{} values (the model's)", flat.numel()),
                got: format!("{} values", flat_grads.len()),
            });
        }
        let g = Tensor::from_slice(flat_grads).to_device(self.policy.device);
        Ok(self.adam.step_with(&[flat], &[g], self.config.grad_clip))
    }

    /// RLlib's adaptive KL coefficient.
    pub fn update_kl(&mut self, kl: f64) {
        if kl > 2.0 * self.config.kl_target {
            self.kl_coeff *= 1.5;
        } else if kl < 0.5 * self.config.kl_target {
            self.kl_coeff *= 0.5;
        }
    }
}
