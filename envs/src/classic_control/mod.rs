//! Gymnasium's classic-control envs, ported to match Gymnasium 1.2.2 step for step.
//!
//! Each env is the unwrapped Gymnasium env (`env.unwrapped`): no time limit. The registry
//! ([`crate::make`]) wraps it in [`crate::TimeLimit`] as `gym.make` does. Each file says
//! which arithmetic runs in float64 and which in float32, because that is what makes the
//! trajectories agree with Gymnasium's bit for bit.

mod acrobot;
mod cartpole;
mod continuous_mountain_car;
mod mountain_car;
mod pendulum;

pub use acrobot::Acrobot;
pub use cartpole::CartPole;
pub use continuous_mountain_car::ContinuousMountainCar;
pub use mountain_car::MountainCar;
pub use pendulum::Pendulum;

use crate::{Action, EnvError, EnvRng, EnvSnapshot, Space, Step};

/// The discrete index of `action` if it is below `n`.
#[inline(always)]
pub(crate) fn discrete(action: Action<'_>, n: usize) -> Option<usize> {
    match action {
        Action::Discrete(a) if a < n => Some(a),
        _ => None,
    }
}

/// The single value of a one-dimensional continuous action.
#[inline(always)]
pub(crate) fn continuous1(action: Action<'_>) -> Option<f32> {
    match action {
        Action::Continuous([x]) => Some(*x),
        _ => None,
    }
}

/// The documented response to an action the space does not accept (see [`crate::Env::step`]):
/// nothing moves, reward 0, and `truncated` so that the caller resets.
#[cold]
#[inline(never)]
pub(crate) fn invalid_step<'a>(
    env: &str,
    action: Action<'_>,
    space: &Space,
    obs: &'a [f32],
) -> Step<'a> {
    tracing::error!(
        env,
        ?action,
        ?space,
        "invalid action ignored; the episode is truncated"
    );
    Step {
        obs,
        reward: 0.0,
        terminated: false,
        truncated: true,
    }
}

/// Checks the length and finiteness of a state given to `set_state`.
pub(crate) fn check_state(env: &str, state: &[f64], len: usize) -> Result<(), EnvError> {
    if state.len() != len {
        return Err(EnvError::InvalidState(format!(
            "{env} has a state of {len} values, got {}",
            state.len()
        )));
    }
    if state.iter().any(|v| v.is_nan()) {
        return Err(EnvError::InvalidState(format!(
            "{env} state contains NaN: {state:?}"
        )));
    }
    Ok(())
}

/// The snapshot of an env whose state is a float64 array and whose only other memory is
/// its observation and generator.
pub(crate) fn plain_snapshot(kind: &str, state: &[f64], obs: &[f32], rng: &EnvRng) -> EnvSnapshot {
    EnvSnapshot {
        state: state.to_vec(),
        obs: obs.to_vec(),
        rng: Some(rng.clone()),
        ..EnvSnapshot::new(kind)
    }
}

/// Checks and unpacks a [`plain_snapshot`] of `kind`, without touching the env, so that
/// a failed restore leaves it as it was. NaN is accepted (unlike `set_state`): a snapshot
/// restores whatever the env held.
pub(crate) fn plain_restore<const S: usize, const O: usize>(
    kind: &str,
    snapshot: &EnvSnapshot,
) -> Result<([f64; S], [f32; O], EnvRng), EnvError> {
    snapshot.check_kind(kind)?;
    Ok((
        snapshot.state_array()?,
        snapshot.obs_array()?,
        snapshot.rng_or_err()?,
    ))
}
