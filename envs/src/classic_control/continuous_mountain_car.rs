//! MountainCarContinuous-v0: the mountain car with a continuous force, as Gymnasium's
//! `Continuous_MountainCarEnv`.
//!
//! Precision is the subtle part. The reset state is a float64 array, but the force is the
//! float32 action, and numpy 2 (NEP 50) keeps `float32 op python-float` in float32. So the
//! first step mixes float64 and float32, and from then on the state is a float32 array
//! whose arithmetic stays float32 except where `math.cos` widens it. [`Num`] replays
//! numpy's promotion rules value by value instead of guessing a single precision.

use super::{check_state, continuous1, invalid_step, plain_restore, plain_snapshot};
use crate::{Action, Env, EnvError, EnvRng, EnvSnapshot, Space, Step};

const MIN_ACTION: f64 = -1.0;
const MAX_ACTION: f64 = 1.0;
const MIN_POSITION: f64 = -1.2;
const MAX_POSITION: f64 = 0.6;
const MAX_SPEED: f64 = 0.07;
/// 0.45, not MountainCar-v0's 0.5 (Arnaud de Broissia's version, kept by Gymnasium).
const GOAL_POSITION: f64 = 0.45;
const GOAL_VELOCITY: f64 = 0.0;
const POWER: f64 = 0.0015;
/// Snapshot `extra` keys for the numpy type of each state value (see [`Num::dtype_code`]):
/// a float64 value and a float32 one widened to `f64` are the same number but step
/// differently.
const POSITION_DTYPE: &str = "position_dtype";
/// See [`POSITION_DTYPE`].
const VELOCITY_DTYPE: &str = "velocity_dtype";

/// A scalar as numpy 2 sees it: numpy float32, numpy float64, or a (weak) Python float.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Num {
    F32(f32),
    F64(f64),
    Py(f64),
}

impl Num {
    fn value(self) -> f64 {
        match self {
            Num::F32(v) => v as f64,
            Num::F64(v) | Num::Py(v) => v,
        }
    }

    /// The snapshot code of the type: 0 numpy float64, 1 numpy float32, 2 Python float.
    fn dtype_code(self) -> u64 {
        match self {
            Num::F64(_) => 0,
            Num::F32(_) => 1,
            Num::Py(_) => 2,
        }
    }

    /// Rebuilds a value from its snapshot code and widened value; float32 values must be
    /// exactly representable, or the snapshot was not taken of one.
    fn from_code(code: u64, v: f64) -> Option<Num> {
        match code {
            0 => Some(Num::F64(v)),
            1 if (v as f32) as f64 == v || v.is_nan() => Some(Num::F32(v as f32)),
            2 => Some(Num::Py(v)),
            _ => None,
        }
    }

    /// Applies `f` in the precision NEP 50 promotes the pair to: float32 if one side is
    /// float32 and the other float32 or a Python float, else float64.
    fn binop(self, other: Num, f32op: fn(f32, f32) -> f32, f64op: fn(f64, f64) -> f64) -> Num {
        match (self, other) {
            (Num::F32(a), Num::F32(b)) => Num::F32(f32op(a, b)),
            (Num::F32(a), Num::Py(b)) => Num::F32(f32op(a, b as f32)),
            (Num::Py(a), Num::F32(b)) => Num::F32(f32op(a as f32, b)),
            (Num::Py(a), Num::Py(b)) => Num::Py(f64op(a, b)),
            (a, b) => Num::F64(f64op(a.value(), b.value())),
        }
    }

    fn add(self, other: Num) -> Num {
        self.binop(other, |a, b| a + b, |a, b| a + b)
    }

    fn sub(self, other: Num) -> Num {
        self.binop(other, |a, b| a - b, |a, b| a - b)
    }

    fn mul(self, other: Num) -> Num {
        self.binop(other, |a, b| a * b, |a, b| a * b)
    }

    /// `self > other` compared as numpy would (a Python float is cast to float32 first).
    fn gt(self, other: f64) -> bool {
        match self {
            Num::F32(a) => a > other as f32,
            _ => self.value() > other,
        }
    }

    /// `self < other`, as [`Num::gt`].
    fn lt(self, other: f64) -> bool {
        match self {
            Num::F32(a) => a < other as f32,
            _ => self.value() < other,
        }
    }

    /// `self >= other`, as [`Num::gt`].
    fn ge(self, other: f64) -> bool {
        !self.lt(other) && !self.value().is_nan()
    }

    /// `self == other`, as [`Num::gt`].
    fn eq_py(self, other: f64) -> bool {
        match self {
            Num::F32(a) => a == other as f32,
            _ => self.value() == other,
        }
    }
}

/// Gymnasium's `Continuous_MountainCarEnv` (unwrapped): a force in [-1, 1] (clipped);
/// reward 100 on reaching position 0.45, minus 0.1·action² every step.
#[derive(Debug, Clone)]
pub struct ContinuousMountainCar {
    position: Num,
    velocity: Num,
    obs: [f32; 2],
    rng: EnvRng,
    observation_space: Space,
    action_space: Space,
}

impl Default for ContinuousMountainCar {
    fn default() -> Self {
        Self::new()
    }
}

impl ContinuousMountainCar {
    /// A continuous mountain car with an OS-seeded reset generator; call `reset` first.
    pub fn new() -> Self {
        Self {
            position: Num::F64(0.0),
            velocity: Num::F64(0.0),
            obs: [0.0; 2],
            rng: EnvRng::from_entropy(),
            observation_space: Space::Box {
                low: vec![MIN_POSITION as f32, -MAX_SPEED as f32],
                high: vec![MAX_POSITION as f32, MAX_SPEED as f32],
                shape: vec![2],
            },
            action_space: Space::uniform_box(MIN_ACTION as f32, MAX_ACTION as f32, &[1]),
        }
    }

    /// Sets the state as the float32 array Gymnasium holds after any step (`set_state`
    /// assumes the float64 array of a fresh reset; the two step differently).
    pub fn set_state_f32(&mut self, state: [f32; 2]) {
        self.position = Num::F32(state[0]);
        self.velocity = Num::F32(state[1]);
        self.obs = state;
    }

    fn set_f64_state(&mut self, position: f64, velocity: f64) {
        self.position = Num::F64(position);
        self.velocity = Num::F64(velocity);
        self.obs = [position as f32, velocity as f32];
    }
}

impl Env for ContinuousMountainCar {
    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>) -> &[f32] {
        self.rng.reseed(seed);
        let position = self.rng.uniform(-0.6, -0.4);
        self.set_f64_state(position, 0.0);
        &self.obs
    }

    fn step(&mut self, action: Action<'_>) -> Step<'_> {
        let Some(a) = continuous1(action) else {
            return invalid_step(
                "MountainCarContinuous",
                action,
                &self.action_space,
                &self.obs,
            );
        };
        // Python's `min(max(a, -1.0), 1.0)` returns the Python float bound when it clips.
        let force = if (a as f64) < MIN_ACTION {
            Num::Py(MIN_ACTION)
        } else if (a as f64) > MAX_ACTION {
            Num::Py(MAX_ACTION)
        } else {
            Num::F32(a)
        };
        let position = self.position;
        // `3 * position` keeps the position's type; `math.cos` returns a Python float.
        let three_pos = Num::Py(3.0).mul(position);
        let slope = Num::Py(0.0025 * three_pos.value().cos());
        let mut velocity = self.velocity.add(force.mul(Num::Py(POWER)).sub(slope));
        if velocity.gt(MAX_SPEED) {
            velocity = Num::Py(MAX_SPEED);
        }
        if velocity.lt(-MAX_SPEED) {
            velocity = Num::Py(-MAX_SPEED);
        }
        let mut position = position.add(velocity);
        if position.gt(MAX_POSITION) {
            position = Num::Py(MAX_POSITION);
        }
        if position.lt(MIN_POSITION) {
            position = Num::Py(MIN_POSITION);
        }
        if position.eq_py(MIN_POSITION) && velocity.lt(0.0) {
            velocity = Num::Py(0.0);
        }
        let terminated = position.ge(GOAL_POSITION) && velocity.ge(GOAL_VELOCITY);

        // `math.pow(action[0], 2)` of the unclipped action: exact in float64 for a float32.
        let a64 = a as f64;
        let reward = if terminated { 100.0 } else { 0.0 } - a64 * a64 * 0.1;

        // `np.array([position, velocity], dtype=np.float32)`.
        let p = position.value() as f32;
        let v = velocity.value() as f32;
        self.set_state_f32([p, v]);
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
        vec![self.position.value(), self.velocity.value()]
    }

    /// Sets the float64 state of a fresh reset; see [`ContinuousMountainCar::set_state_f32`].
    fn set_state(&mut self, state: &[f64]) -> Result<(), EnvError> {
        check_state("MountainCarContinuous", state, 2)?;
        self.set_f64_state(state[0], state[1]);
        Ok(())
    }

    fn snapshot(&self) -> Result<EnvSnapshot, EnvError> {
        let state = [self.position.value(), self.velocity.value()];
        let mut s = plain_snapshot("MountainCarContinuous", &state, &self.obs, &self.rng);
        s.extra
            .insert(POSITION_DTYPE.into(), self.position.dtype_code());
        s.extra
            .insert(VELOCITY_DTYPE.into(), self.velocity.dtype_code());
        Ok(s)
    }

    fn restore(&mut self, snapshot: &EnvSnapshot) -> Result<(), EnvError> {
        let ([p, v], obs, rng) = plain_restore("MountainCarContinuous", snapshot)?;
        let num = |key: &str, value: f64| {
            let code = snapshot.extra_required(key)?;
            Num::from_code(code, value).ok_or_else(|| {
                EnvError::InvalidState(format!(
                    "MountainCarContinuous snapshot has {key} {code} for the value {value}"
                ))
            })
        };
        let position = num(POSITION_DTYPE, p)?;
        let velocity = num(VELOCITY_DTYPE, v)?;
        (self.position, self.velocity, self.obs, self.rng) = (position, velocity, obs, rng);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotion_follows_nep50() {
        assert_eq!(Num::F32(1.5).mul(Num::Py(0.1)), Num::F32(1.5 * 0.1f32));
        assert_eq!(
            Num::F64(1.5).add(Num::F32(0.1)),
            Num::F64(1.5 + 0.1f32 as f64)
        );
        assert_eq!(Num::Py(1.5).sub(Num::Py(0.1)), Num::Py(1.5 - 0.1));
    }

    #[test]
    fn state_is_float32_after_a_step() {
        let mut env = ContinuousMountainCar::new();
        env.reset(Some(1));
        env.step(Action::Continuous(&[0.3]));
        let s = env.state();
        assert!(s.iter().all(|v| *v as f32 as f64 == *v));
    }

    #[test]
    fn snapshot_keeps_the_numpy_types() {
        let mut env = ContinuousMountainCar::new();
        env.reset(Some(2));
        let fresh = env.snapshot().unwrap();
        assert_eq!(fresh.extra[POSITION_DTYPE], 0);
        env.step(Action::Continuous(&[0.7]));
        let stepped = env.snapshot().unwrap();
        assert_eq!(stepped.extra[POSITION_DTYPE], 1);
        let mut other = ContinuousMountainCar::new();
        other.restore(&fresh).unwrap();
        assert!(matches!(other.position, Num::F64(_)));
        other.restore(&stepped).unwrap();
        assert_eq!(
            (other.position, other.velocity),
            (env.position, env.velocity)
        );
        let mut bad = env.snapshot().unwrap();
        bad.extra.insert(VELOCITY_DTYPE.into(), 7);
        assert!(matches!(
            other.restore(&bad),
            Err(EnvError::InvalidState(_))
        ));
    }

    #[test]
    fn out_of_range_force_is_clipped_but_costs_unclipped() {
        let mut env = ContinuousMountainCar::new();
        env.set_state(&[-0.5, 0.0]).unwrap();
        let r = env.step(Action::Continuous(&[3.0])).reward;
        assert!((r - -0.9).abs() < 1e-12);
    }
}
