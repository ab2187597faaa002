//! MountainCar-v0: Moore's car in a valley with discrete pushes, as Gymnasium's
//! `MountainCarEnv`.
//!
//! Precision: the state is float64 throughout (`math.cos`, numpy float64 scalars and
//! `np.clip`); the observation is its float32 cast.

use super::{check_state, discrete, invalid_step, plain_restore, plain_snapshot};
use crate::{Action, Env, EnvError, EnvRng, EnvSnapshot, Space, Step};

const MIN_POSITION: f64 = -1.2;
const MAX_POSITION: f64 = 0.6;
const MAX_SPEED: f64 = 0.07;
const GOAL_POSITION: f64 = 0.5;
const GOAL_VELOCITY: f64 = 0.0;
const FORCE: f64 = 0.001;
const GRAVITY: f64 = 0.0025;

/// Gymnasium's `MountainCarEnv` (unwrapped): accelerate left (0), not at all (1) or right
/// (2); reward -1 per step until the car reaches position 0.5.
#[derive(Debug, Clone)]
pub struct MountainCar {
    state: [f64; 2],
    obs: [f32; 2],
    rng: EnvRng,
    observation_space: Space,
    action_space: Space,
}

impl Default for MountainCar {
    fn default() -> Self {
        Self::new()
    }
}

impl MountainCar {
    /// A mountain car with an OS-seeded reset generator; call `reset` before stepping.
    pub fn new() -> Self {
        Self {
            state: [0.0; 2],
            obs: [0.0; 2],
            rng: EnvRng::from_entropy(),
            observation_space: Space::Box {
                low: vec![MIN_POSITION as f32, -MAX_SPEED as f32],
                high: vec![MAX_POSITION as f32, MAX_SPEED as f32],
                shape: vec![2],
            },
            action_space: Space::Discrete(3),
        }
    }

    fn update_obs(&mut self) {
        self.obs = self.state.map(|v| v as f32);
    }
}

impl Env for MountainCar {
    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>) -> &[f32] {
        self.rng.reseed(seed);
        self.state = [self.rng.uniform(-0.6, -0.4), 0.0];
        self.update_obs();
        &self.obs
    }

    fn step(&mut self, action: Action<'_>) -> Step<'_> {
        let Some(a) = discrete(action, 3) else {
            return invalid_step("MountainCar", action, &self.action_space, &self.obs);
        };
        let [position, velocity] = self.state;
        let push = (a as f64 - 1.0) * FORCE;
        let velocity = velocity + (push + (3.0 * position).cos() * (-GRAVITY));
        let mut velocity = velocity.clamp(-MAX_SPEED, MAX_SPEED);
        let position = (position + velocity).clamp(MIN_POSITION, MAX_POSITION);
        if position == MIN_POSITION && velocity < 0.0 {
            velocity = 0.0;
        }
        let terminated = position >= GOAL_POSITION && velocity >= GOAL_VELOCITY;
        self.state = [position, velocity];
        self.update_obs();
        Step {
            obs: &self.obs,
            reward: -1.0,
            terminated,
            truncated: false,
        }
    }

    fn obs(&self) -> &[f32] {
        &self.obs
    }

    fn state(&self) -> Vec<f64> {
        self.state.to_vec()
    }

    fn set_state(&mut self, state: &[f64]) -> Result<(), EnvError> {
        check_state("MountainCar", state, 2)?;
        self.state.copy_from_slice(state);
        self.update_obs();
        Ok(())
    }

    fn snapshot(&self) -> Result<EnvSnapshot, EnvError> {
        Ok(plain_snapshot(
            "MountainCar",
            &self.state,
            &self.obs,
            &self.rng,
        ))
    }

    fn restore(&mut self, snapshot: &EnvSnapshot) -> Result<(), EnvError> {
        (self.state, self.obs, self.rng) = plain_restore("MountainCar", snapshot)?;
        Ok(())
    }
}
