//! Acrobot-v1: the two-link underactuated swing-up, as Gymnasium's `AcrobotEnv` with its
//! defaults ("book" dynamics, no torque noise, RK4 over one 0.2 s step).
//!
//! Precision: the reset state is float32 (`uniform(-0.1, 0.1).astype(float32)`); appending
//! the torque makes the RK4 input float64, so after a step the state is float64. The
//! observation `[cos t1, sin t1, cos t2, sin t2, dt1, dt2]` is float32. The dynamics are
//! chaotic, so every expression keeps Gymnasium's evaluation order.

use super::{check_state, discrete, invalid_step, plain_restore, plain_snapshot};
use crate::{Action, Env, EnvError, EnvRng, EnvSnapshot, Space, Step};
use std::f64::consts::PI;

const DT: f64 = 0.2;
const MAX_VEL_1: f64 = 4.0 * PI;
const MAX_VEL_2: f64 = 9.0 * PI;
const AVAIL_TORQUE: [f64; 3] = [-1.0, 0.0, 1.0];
const G: f64 = 9.8;

/// Gymnasium's `wrap`: shifts `x` by whole turns into `[m, big_m]`.
fn wrap(mut x: f64, m: f64, big_m: f64) -> f64 {
    let diff = big_m - m;
    while x > big_m {
        x -= diff;
    }
    while x < m {
        x += diff;
    }
    x
}

/// Gymnasium's `bound`: Python's `min(max(x, m), big_m)`.
fn bound(x: f64, m: f64, big_m: f64) -> f64 {
    let x = if m > x { m } else { x };
    if big_m < x {
        big_m
    } else {
        x
    }
}

/// Gymnasium's `_dsdt` for the "book" dynamics, all link masses, lengths and inertias 1,
/// centres of mass at 0.5. Constants are written as Gymnasium multiplies them out.
#[inline]
fn dsdt(s: [f64; 4], a: f64) -> [f64; 4] {
    let (m1, m2, l1, lc1, lc2, i1, i2) = (1.0f64, 1.0f64, 1.0f64, 0.5f64, 0.5f64, 1.0f64, 1.0f64);
    let [theta1, theta2, dtheta1, dtheta2] = s;
    let cos_t2 = theta2.cos();
    let sin_t2 = theta2.sin();
    let d1 = m1 * (lc1 * lc1) + m2 * ((l1 * l1) + (lc2 * lc2) + 2.0 * l1 * lc2 * cos_t2) + i1 + i2;
    let d2 = m2 * ((lc2 * lc2) + l1 * lc2 * cos_t2) + i2;
    let phi2 = m2 * lc2 * G * (theta1 + theta2 - PI / 2.0).cos();
    let phi1 = -m2 * l1 * lc2 * (dtheta2 * dtheta2) * sin_t2
        - 2.0 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin_t2
        + (m1 * lc1 + m2 * l1) * G * (theta1 - PI / 2.0).cos()
        + phi2;
    let ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * (dtheta1 * dtheta1) * sin_t2 - phi2)
        / (m2 * (lc2 * lc2) + i2 - (d2 * d2) / d1);
    let ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
    [dtheta1, dtheta2, ddtheta1, ddtheta2]
}

/// Gymnasium's `rk4` over `[0, dt]`: one classic Runge-Kutta step, numpy's elementwise
/// order (`y0 + dt/6 * (k1 + 2 k2 + 2 k3 + k4)`).
fn rk4(y0: [f64; 4], a: f64) -> [f64; 4] {
    let dt = DT - 0.0;
    let dt2 = dt / 2.0;
    let axpy = |y: [f64; 4], h: f64, k: [f64; 4]| std::array::from_fn(|i| y[i] + h * k[i]);
    let k1 = dsdt(y0, a);
    let k2 = dsdt(axpy(y0, dt2, k1), a);
    let k3 = dsdt(axpy(y0, dt2, k2), a);
    let k4 = dsdt(axpy(y0, dt, k3), a);
    std::array::from_fn(|i| y0[i] + dt / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]))
}

/// Gymnasium's `AcrobotEnv` (unwrapped): torque -1 (0), 0 (1) or +1 (2) on the joint
/// between the links; reward -1 per step until the tip swings above the bar.
#[derive(Debug, Clone)]
pub struct Acrobot {
    state: [f64; 4],
    obs: [f32; 6],
    rng: EnvRng,
    observation_space: Space,
    action_space: Space,
}

impl Default for Acrobot {
    fn default() -> Self {
        Self::new()
    }
}

impl Acrobot {
    /// An acrobot with an OS-seeded reset generator; call `reset` before stepping.
    pub fn new() -> Self {
        let high = [1.0, 1.0, 1.0, 1.0, MAX_VEL_1 as f32, MAX_VEL_2 as f32];
        Self {
            state: [0.0; 4],
            obs: [0.0; 6],
            rng: EnvRng::from_entropy(),
            observation_space: Space::Box {
                low: high.iter().map(|h| -h).collect(),
                high: high.to_vec(),
                shape: vec![6],
            },
            action_space: Space::Discrete(3),
        }
    }

    fn update_obs(&mut self) {
        let s = self.state;
        self.obs = [
            s[0].cos() as f32,
            s[0].sin() as f32,
            s[1].cos() as f32,
            s[1].sin() as f32,
            s[2] as f32,
            s[3] as f32,
        ];
    }

    fn terminal(&self) -> bool {
        let s = self.state;
        -s[0].cos() - (s[1] + s[0]).cos() > 1.0
    }
}

impl Env for Acrobot {
    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>) -> &[f32] {
        self.rng.reseed(seed);
        for v in &mut self.state {
            *v = self.rng.uniform(-0.1, 0.1) as f32 as f64;
        }
        self.update_obs();
        &self.obs
    }

    fn step(&mut self, action: Action<'_>) -> Step<'_> {
        let Some(a) = discrete(action, 3) else {
            return invalid_step("Acrobot", action, &self.action_space, &self.obs);
        };
        let mut ns = rk4(self.state, AVAIL_TORQUE[a]);
        ns[0] = wrap(ns[0], -PI, PI);
        ns[1] = wrap(ns[1], -PI, PI);
        ns[2] = bound(ns[2], -MAX_VEL_1, MAX_VEL_1);
        ns[3] = bound(ns[3], -MAX_VEL_2, MAX_VEL_2);
        self.state = ns;
        let terminated = self.terminal();
        self.update_obs();
        Step {
            obs: &self.obs,
            reward: if terminated { 0.0 } else { -1.0 },
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
        check_state("Acrobot", state, 4)?;
        self.state.copy_from_slice(state);
        self.update_obs();
        Ok(())
    }

    fn snapshot(&self) -> Result<EnvSnapshot, EnvError> {
        Ok(plain_snapshot("Acrobot", &self.state, &self.obs, &self.rng))
    }

    fn restore(&mut self, snapshot: &EnvSnapshot) -> Result<(), EnvError> {
        (self.state, self.obs, self.rng) = plain_restore("Acrobot", snapshot)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_and_bound_behave_as_gymnasium() {
        assert!((wrap(4.0, -PI, PI) - (4.0 - 2.0 * PI)).abs() < 1e-15);
        assert_eq!(wrap(1.0, -PI, PI), 1.0);
        assert_eq!(bound(20.0, -MAX_VEL_1, MAX_VEL_1), MAX_VEL_1);
        assert_eq!(bound(-0.5, -1.0, 1.0), -0.5);
    }
}
