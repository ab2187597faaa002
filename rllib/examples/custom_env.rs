//! Trains PPO through the Trainer API on a user-defined env registered under its own name.
//!
//! Run: `cargo run --release -p rllib --example custom_env`

use envs::{Action, Env, Space, Step};
use rllib::config::resolve_config;
use rllib::{Algorithm, Trainer};

/// A corridor of `len` cells: start at 0, reach the end (reward 1) by moving right.
struct Corridor {
    len: usize,
    pos: usize,
    obs: [f32; 1],
    obs_space: Space,
    action_space: Space,
}

impl Corridor {
    fn new(len: usize) -> Self {
        Corridor {
            len,
            pos: 0,
            obs: [0.0],
            obs_space: Space::uniform_box(0.0, len as f32, &[1]),
            action_space: Space::Discrete(2),
        }
    }
}

impl Env for Corridor {
    fn observation_space(&self) -> &Space {
        &self.obs_space
    }
    fn action_space(&self) -> &Space {
        &self.action_space
    }
    fn reset(&mut self, _seed: Option<u64>) -> &[f32] {
        self.pos = 0;
        self.obs = [0.0];
        &self.obs
    }
    fn step(&mut self, action: Action<'_>) -> Step<'_> {
        match action {
            Action::Discrete(1) => self.pos += 1,
            _ => self.pos = self.pos.saturating_sub(1),
        }
        self.obs = [self.pos as f32];
        let done = self.pos >= self.len;
        Step {
            obs: &self.obs,
            reward: if done { 1.0 } else { -0.01 },
            terminated: done,
            truncated: false,
        }
    }
    fn obs(&self) -> &[f32] {
        &self.obs
    }
}

fn main() -> anyhow::Result<()> {
    // With `worker_isolation: process` the workers are this program started again.
    runtime::worker_main_if_requested();
    envs::register_with_max_steps("Corridor-v0", 100, || Box::new(Corridor::new(8)));
    let user = serde_json::json!({
        "env": "Corridor-v0", "seed": 1, "num_workers": 0, "num_envs_per_worker": 4,
        "rollout_fragment_length": 64, "train_batch_size": 512, "sgd_minibatch_size": 128,
        "num_sgd_iter": 6, "lr": 0.003, "model": {"fcnet_hiddens": [16]}
    });
    let config = resolve_config(
        Algorithm::Ppo,
        user.as_object().cloned().unwrap_or_default(),
        "example",
        &mut Vec::new(),
    )?;
    let mut trainer = Trainer::from_algorithm(Algorithm::Ppo, config)?;
    for _ in 0..15 {
        let r = trainer.train()?;
        println!(
            "iter {} mean return {:.3} mean length {:.1}",
            r.training_iteration, r.episodes.return_mean, r.episodes.len_mean
        );
    }
    let dir = std::env::temp_dir().join("corridor-example");
    let ckpt = trainer.save(&dir)?;
    trainer.restore(&ckpt)?;
    let eval = trainer.evaluate(5, false)?;
    let action = trainer.compute_action(&[3.0])?;
    println!("compute_action at cell 3: {action:?}");
    println!(
        "checkpoint {}; greedy policy: mean return {:.3}, length {:.1}",
        ckpt.display(),
        eval.mean_return,
        eval.mean_length
    );
    Ok(())
}
