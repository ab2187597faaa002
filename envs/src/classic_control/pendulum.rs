//! Pendulum-v1: the inverted pendulum swing-up, as Gymnasium's `PendulumEnv`.
//!
//! Precision: the state `[theta, theta_dot]` is float64, but the clipped torque `u` is a
//! numpy float32, so `3/(m l²)·u` and `0.001·u²` are float32 products (NEP 50 keeps
//! `float32 op python-float` in float32) that join float64 sums. The reward is float64.

use super::{check_state, continuous1, invalid_step, plain_restore, plain_snapshot};
use crate::{Action, Env, EnvError, EnvRng, EnvSnapshot, Space, Step};
use std::f64::consts::PI;

const MAX_SPEED: f64 = 8.0;
const MAX_TORQUE: f32 = 2.0;
const DT: f64 = 0.05;
const G: f64 = 10.0;
const M: f64 = 1.0;
const L: f64 = 1.0;

/// numpy's `(x + pi) % (2 pi) - pi`: numpy's `%` takes the sign of the divisor.
fn angle_normalize(x: f64) -> f64 {
    let b = 2.0 * PI;
    let mut r = (x + PI) % b;
    if r != 0.0 && r < 0.0 {
        r += b;
    }
    r - PI
}

/// Gymnasium's `PendulumEnv` (unwrapped), with `g = 10`: a torque in [-2, 2] (clipped);
/// reward `-(theta² + 0.1 theta_dot² + 0.001 u²)`; never terminates.
#[derive(Debug, Clone)]
pub struct Pendulum {
    state: [f64; 2],
    obs: [f32; 3],
    rng: EnvRng,
    observation_space: Space,
    action_space: Space,
}

impl Default for Pendulum {
    fn default() -> Self {
        Self::new()
    }
}

impl Pendulum {
    /// A pendulum with an OS-seeded reset generator; call `reset` before stepping.
    pub fn new() -> Self {
        let high = [1.0, 1.0, MAX_SPEED as f32];
        Self {
            state: [0.0; 2],
            obs: [0.0; 3],
            rng: EnvRng::from_entropy(),
            observation_space: Space::Box {
                low: high.iter().map(|h| -h).collect(),
                high: high.to_vec(),
                shape: vec![3],
            },
            action_space: Space::uniform_box(-MAX_TORQUE, MAX_TORQUE, &[1]),
        }
    }

    fn update_obs(&mut self) {
        let [theta, theta_dot] = self.state;
        self.obs = [theta.cos() as f32, theta.sin() as f32, theta_dot as f32];
    }
}

impl Env for Pendulum {
    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>) -> &[f32] {
        self.rng.reseed(seed);
        self.state = [self.rng.uniform(-PI, PI), self.rng.uniform(-1.0, 1.0)];
        self.update_obs();
        &self.obs
    }

    fn step(&mut self, action: Action<'_>) -> Step<'_> {
        let Some(u) = continuous1(action) else {
            return invalid_step("Pendulum", action, &self.action_space, &self.obs);
        };
        let [th, thdot] = self.state;
        // np.clip keeps float32 (and NaN, like numpy).
        let u = u.clamp(-MAX_TORQUE, MAX_TORQUE);
        let an = angle_normalize(th);
        let costs = an * an + 0.1 * (thdot * thdot) + (0.001f32 * (u * u)) as f64;

        let torque_acc = (3.0 / (M * L * L)) as f32 * u;
        let newthdot = thdot + (3.0 * G / (2.0 * L) * th.sin() + torque_acc as f64) * DT;
        let newthdot = newthdot.clamp(-MAX_SPEED, MAX_SPEED);
        let newth = th + newthdot * DT;
        self.state = [newth, newthdot];
        self.update_obs();
        Step {
            obs: &self.obs,
            reward: -costs,
            terminated: false,
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
        check_state("Pendulum", state, 2)?;
        self.state.copy_from_slice(state);
        self.update_obs();
        Ok(())
    }

    fn snapshot(&self) -> Result<EnvSnapshot, EnvError> {
        Ok(plain_snapshot(
            "Pendulum",
            &self.state,
            &self.obs,
            &self.rng,
        ))
    }

    fn restore(&mut self, snapshot: &EnvSnapshot) -> Result<(), EnvError> {
        (self.state, self.obs, self.rng) = plain_restore("Pendulum", snapshot)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn angle_normalize_wraps_like_numpy() {
        assert!(
            (angle_normalize(3.0 * PI) - -PI).abs() < 1e-12
                || (angle_normalize(3.0 * PI) - PI).abs() < 1e-12
        );
        assert!((angle_normalize(-0.5) - -0.5).abs() < 1e-15);
        assert!((angle_normalize(-4.0) - (2.0 * PI - 4.0)).abs() < 1e-12);
    }
}
