//! The `Env` trait every environment implements.

use crate::{Action, EnvError, EnvSnapshot, Space};

/// What one `step` returns: Gymnasium's `(obs, reward, terminated, truncated)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step<'a> {
    /// The observation after the step (float32, as Gymnasium's classic control).
    pub obs: &'a [f32],
    /// The reward of the step (a Python float in Gymnasium, so `f64`).
    pub reward: f64,
    /// The episode reached a terminal state of the MDP (no bootstrapping past it).
    pub terminated: bool,
    /// The episode was cut short, e.g. by a time limit (bootstrap from `obs`).
    pub truncated: bool,
}

/// An environment, stepped one action at a time. `Send` so a rollout worker on any thread
/// can own it.
pub trait Env: Send {
    /// The space observations are drawn from.
    fn observation_space(&self) -> &Space;
    /// The space actions must come from.
    fn action_space(&self) -> &Space;
    /// Starts an episode. `Some(seed)` reseeds the env's generator as Gymnasium's
    /// `reset(seed=...)`; `None` continues its stream.
    fn reset(&mut self, seed: Option<u64>) -> &[f32];
    /// Like [`Env::reset`], but an env that can fail (a Python env that raises) returns
    /// the error instead of logging it.
    fn try_reset(&mut self, seed: Option<u64>) -> Result<&[f32], EnvError> {
        Ok(self.reset(seed))
    }
    /// Applies one action. Stepping after `terminated` or `truncated` without a reset is
    /// allowed but meaningless, as in Gymnasium.
    ///
    /// Gymnasium asserts on an invalid action; panicking inside a rollout worker would take
    /// the whole worker down, so instead the built-in envs treat an action that
    /// [`Space::accepts`] rejects (wrong kind, wrong length, discrete index out of range) as
    /// a step that did not happen: the state stays, the reward is 0, and the step reports
    /// `truncated = true` (so callers reset) after logging an error. Continuous values out of
    /// bounds are clipped, as Gymnasium does. Use [`Env::try_step`] to get an error instead.
    fn step(&mut self, action: Action<'_>) -> Step<'_>;
    /// Like [`Env::step`], but an action the action space does not accept is an
    /// [`EnvError::InvalidAction`] and the env is left untouched.
    fn try_step(&mut self, action: Action<'_>) -> Result<Step<'_>, EnvError> {
        if self.action_space().accepts(action) {
            Ok(self.step(action))
        } else {
            Err(EnvError::InvalidAction {
                action: format!("{action:?}"),
                space: format!("{:?}", self.action_space()),
            })
        }
    }
    /// The last observation returned by `reset` or `step`.
    fn obs(&self) -> &[f32];
    /// Gymnasium's `env.unwrapped.state`, widened to `f64`.
    fn state(&self) -> Vec<f64> {
        Vec::new()
    }
    /// Overwrites the internal state (for replaying recordings). Envs without an exposed
    /// state return `EnvError::StateUnsupported`.
    fn set_state(&mut self, _state: &[f64]) -> Result<(), EnvError> {
        Err(EnvError::StateUnsupported)
    }
    /// Everything that decides future steps and resets (state, observation, generator,
    /// counters), exactly, for checkpoints. Envs that cannot return
    /// `EnvError::StateUnsupported`.
    fn snapshot(&self) -> Result<EnvSnapshot, EnvError> {
        Err(EnvError::StateUnsupported)
    }
    /// Puts the env back into a [`Env::snapshot`], after which it continues bit for bit as
    /// the snapshotted env would have. A snapshot of another kind of env is an
    /// `EnvError::InvalidState`; on any error the env is left untouched.
    fn restore(&mut self, _snapshot: &EnvSnapshot) -> Result<(), EnvError> {
        Err(EnvError::StateUnsupported)
    }
}

/// Boxed envs are envs, so generic code (`VectorEnv<E>`, `TimeLimit<E>`) takes them too.
impl<E: Env + ?Sized> Env for Box<E> {
    #[inline]
    fn observation_space(&self) -> &Space {
        (**self).observation_space()
    }
    #[inline]
    fn action_space(&self) -> &Space {
        (**self).action_space()
    }
    #[inline]
    fn reset(&mut self, seed: Option<u64>) -> &[f32] {
        (**self).reset(seed)
    }
    fn try_reset(&mut self, seed: Option<u64>) -> Result<&[f32], EnvError> {
        (**self).try_reset(seed)
    }
    #[inline]
    fn step(&mut self, action: Action<'_>) -> Step<'_> {
        (**self).step(action)
    }
    #[inline]
    fn try_step(&mut self, action: Action<'_>) -> Result<Step<'_>, EnvError> {
        (**self).try_step(action)
    }
    #[inline]
    fn obs(&self) -> &[f32] {
        (**self).obs()
    }
    fn state(&self) -> Vec<f64> {
        (**self).state()
    }
    fn set_state(&mut self, state: &[f64]) -> Result<(), EnvError> {
        (**self).set_state(state)
    }
    fn snapshot(&self) -> Result<EnvSnapshot, EnvError> {
        (**self).snapshot()
    }
    fn restore(&mut self, snapshot: &EnvSnapshot) -> Result<(), EnvError> {
        (**self).restore(snapshot)
    }
}
