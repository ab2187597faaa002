//! CartPole: Barto, Sutton and Anderson's cart-pole, as Gymnasium's `CartPoleEnv`.
//!
//! Precision: Gymnasium keeps the state in float64 (numpy float64 scalars, `math.sin/cos`)
//! and casts the observation to float32, so this port does the same, with every
//! expression evaluated in Gymnasium's order (float addition is not associative).

use super::{check_state, discrete, invalid_step, plain_restore, plain_snapshot};
use crate::{Action, Env, EnvError, EnvRng, EnvSnapshot, Space, Step};

const GRAVITY: f64 = 9.8;
const MASSCART: f64 = 1.0;
const MASSPOLE: f64 = 0.1;
const TOTAL_MASS: f64 = MASSPOLE + MASSCART;
/// Actually half the pole's length, as in Gymnasium.
const LENGTH: f64 = 0.5;
const POLEMASS_LENGTH: f64 = MASSPOLE * LENGTH;
const FORCE_MAG: f64 = 10.0;
const TAU: f64 = 0.02;
const THETA_THRESHOLD_RADIANS: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
const X_THRESHOLD: f64 = 2.4;
/// The snapshot's `extra` key for `steps_beyond_terminated` (absent while it is `None`).
const STEPS_BEYOND_TERMINATED: &str = "steps_beyond_terminated";

/// Gymnasium's `CartPoleEnv` (unwrapped): push the cart left (0) or right (1) to keep the
/// pole up; reward 1 per step, terminated when the pole passes 12° or the cart 2.4.
#[derive(Debug, Clone)]
pub struct CartPole {
    state: [f64; 4],
    obs: [f32; 4],
    /// Gymnasium's `steps_beyond_terminated`: steps after termination earn 0.
    steps_beyond_terminated: Option<u64>,
    rng: EnvRng,
    observation_space: Space,
    action_space: Space,
}

impl Default for CartPole {
    fn default() -> Self {
        Self::new()
    }
}

impl CartPole {
    /// A cart-pole with an OS-seeded reset generator; call `reset` before stepping.
    pub fn new() -> Self {
        let high = [
            (X_THRESHOLD * 2.0) as f32,
            f32::MAX,
            (THETA_THRESHOLD_RADIANS * 2.0) as f32,
            f32::MAX,
        ];
        Self {
            state: [0.0; 4],
            obs: [0.0; 4],
            steps_beyond_terminated: None,
            rng: EnvRng::from_entropy(),
            observation_space: Space::Box {
                low: high.iter().map(|h| -h).collect(),
                high: high.to_vec(),
                shape: vec![4],
            },
            action_space: Space::Discrete(2),
        }
    }

    #[inline(always)]
    fn update_obs(&mut self) {
        self.obs = self.state.map(|v| v as f32);
    }
}

impl Env for CartPole {
    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>) -> &[f32] {
        self.rng.reseed(seed);
        for v in &mut self.state {
            *v = self.rng.uniform(-0.05, 0.05);
        }
        self.steps_beyond_terminated = None;
        self.update_obs();
        &self.obs
    }

    // Always inlined, so `TimeLimit<CartPole>` is one function behind one vtable entry.
    #[inline(always)]
    fn step(&mut self, action: Action<'_>) -> Step<'_> {
        let Some(a) = discrete(action, 2) else {
            return invalid_step("CartPole", action, &self.action_space, &self.obs);
        };
        let [x, x_dot, theta, theta_dot] = self.state;
        let force = if a == 1 { FORCE_MAG } else { -FORCE_MAG };
        let (sintheta, costheta) = theta.sin_cos();

        let temp = (force + POLEMASS_LENGTH * (theta_dot * theta_dot) * sintheta) / TOTAL_MASS;
        let thetaacc = (GRAVITY * sintheta - costheta * temp)
            / (LENGTH * (4.0 / 3.0 - MASSPOLE * (costheta * costheta) / TOTAL_MASS));
        let xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS;

        // Gymnasium's default "euler" integrator (not semi-implicit).
        let x = x + TAU * x_dot;
        let x_dot = x_dot + TAU * xacc;
        let theta = theta + TAU * theta_dot;
        let theta_dot = theta_dot + TAU * thetaacc;
        self.state = [x, x_dot, theta, theta_dot];
        self.update_obs();

        // Four comparisons, not `contains`: a NaN state must not terminate, as in Gymnasium.
        #[allow(clippy::manual_range_contains)]
        let terminated = x < -X_THRESHOLD
            || x > X_THRESHOLD
            || theta < -THETA_THRESHOLD_RADIANS
            || theta > THETA_THRESHOLD_RADIANS;
        let reward = if !terminated {
            1.0
        } else {
            match &mut self.steps_beyond_terminated {
                None => {
                    self.steps_beyond_terminated = Some(0);
                    1.0
                }
                Some(n) => {
                    if *n == 0 {
                        tracing::warn!(
                            "CartPole stepped after terminated = true without reset; \
                             further steps are undefined behaviour (reward 0)"
                        );
                    }
                    *n += 1;
                    0.0
                }
            }
        };
        Step {
            obs: &self.obs,
            reward,
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
        check_state("CartPole", state, 4)?;
        self.state.copy_from_slice(state);
        self.steps_beyond_terminated = None;
        self.update_obs();
        Ok(())
    }

    fn snapshot(&self) -> Result<EnvSnapshot, EnvError> {
        let mut s = plain_snapshot("CartPole", &self.state, &self.obs, &self.rng);
        if let Some(n) = self.steps_beyond_terminated {
            s.extra.insert(STEPS_BEYOND_TERMINATED.into(), n);
        }
        Ok(s)
    }

    fn restore(&mut self, snapshot: &EnvSnapshot) -> Result<(), EnvError> {
        (self.state, self.obs, self.rng) = plain_restore("CartPole", snapshot)?;
        self.steps_beyond_terminated = snapshot.extra.get(STEPS_BEYOND_TERMINATED).copied();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_gymnasium() {
        assert_eq!(POLEMASS_LENGTH, 0.05);
        assert_eq!(TOTAL_MASS, 1.1);
        assert_eq!(THETA_THRESHOLD_RADIANS, 0.20943951023931953);
    }

    #[test]
    fn steps_after_termination_earn_nothing() {
        let mut env = CartPole::new();
        env.set_state(&[0.0, 0.0, 0.25, 0.0]).unwrap();
        let s = env.step(Action::Discrete(0));
        assert!(s.terminated);
        assert_eq!(s.reward, 1.0);
        assert_eq!(env.step(Action::Discrete(0)).reward, 0.0);
    }

    #[test]
    fn invalid_action_truncates_without_moving() {
        let mut env = CartPole::new();
        env.reset(Some(0));
        let before = env.state();
        let s = env.step(Action::Discrete(2));
        assert!(s.truncated && !s.terminated && s.reward == 0.0);
        assert_eq!(env.state(), before);
        assert!(env.try_step(Action::Continuous(&[1.0])).is_err());
    }

    #[test]
    fn snapshot_keeps_steps_beyond_terminated() {
        let mut env = CartPole::new();
        env.reset(Some(0));
        env.set_state(&[0.0, 0.0, 0.25, 0.0]).unwrap();
        assert!(env.step(Action::Discrete(0)).terminated);
        let snap = env.snapshot().unwrap();
        assert_eq!(snap.extra.get(STEPS_BEYOND_TERMINATED), Some(&0));
        let mut restored = CartPole::new();
        restored.restore(&snap).unwrap();
        // A restored env that forgot the flag would pay 1 here.
        assert_eq!(restored.step(Action::Discrete(0)).reward, 0.0);
        assert_eq!(env.step(Action::Discrete(0)).reward, 0.0);
        assert_eq!(restored.snapshot().unwrap(), env.snapshot().unwrap());
    }
}
