//! Gymnasium's `TimeLimit` wrapper.

use crate::{Action, Env, EnvError, EnvSnapshot, Space, Step};

/// Snapshot `extra` key of the steps taken in the current episode.
const ELAPSED_STEPS: &str = "elapsed_steps";
/// Snapshot `extra` key of the limit, checked on restore: the same counter under another
/// limit would truncate at another step.
const MAX_EPISODE_STEPS: &str = "max_episode_steps";

/// Truncates episodes after `max_episode_steps` steps, as Gymnasium's `TimeLimit`: the
/// step that reaches the limit reports `truncated = true` (even if it also terminates).
///
/// Generic over the wrapped env so that `TimeLimit<CartPole>` inlines into one step
/// function; `TimeLimit<Box<dyn Env>>` works too.
#[derive(Debug, Clone)]
pub struct TimeLimit<E> {
    env: E,
    max_episode_steps: u64,
    elapsed_steps: u64,
}

impl<E: Env> TimeLimit<E> {
    /// Wraps `env`, truncating each episode at `max_episode_steps` steps.
    pub fn new(env: E, max_episode_steps: u64) -> Self {
        Self {
            env,
            max_episode_steps,
            elapsed_steps: 0,
        }
    }

    /// The limit this wrapper truncates at.
    pub fn max_episode_steps(&self) -> u64 {
        self.max_episode_steps
    }

    /// Steps taken since the last `reset`.
    pub fn elapsed_steps(&self) -> u64 {
        self.elapsed_steps
    }

    /// Sets the step counter, e.g. to resume a replay mid-episode.
    pub fn set_elapsed_steps(&mut self, steps: u64) {
        self.elapsed_steps = steps;
    }

    /// The wrapped env.
    pub fn inner(&self) -> &E {
        &self.env
    }

    /// The wrapped env, mutably (stepping it directly bypasses the counter).
    pub fn inner_mut(&mut self) -> &mut E {
        &mut self.env
    }

    /// Unwraps the env.
    pub fn into_inner(self) -> E {
        self.env
    }
}

impl<E: Env> Env for TimeLimit<E> {
    #[inline]
    fn observation_space(&self) -> &Space {
        self.env.observation_space()
    }

    #[inline]
    fn action_space(&self) -> &Space {
        self.env.action_space()
    }

    #[inline]
    fn reset(&mut self, seed: Option<u64>) -> &[f32] {
        self.elapsed_steps = 0;
        self.env.reset(seed)
    }

    #[inline]
    fn step(&mut self, action: Action<'_>) -> Step<'_> {
        self.elapsed_steps += 1;
        let limit_reached = self.elapsed_steps >= self.max_episode_steps;
        let step = self.env.step(action);
        Step {
            truncated: step.truncated || limit_reached,
            ..step
        }
    }

    #[inline]
    fn obs(&self) -> &[f32] {
        self.env.obs()
    }

    fn state(&self) -> Vec<f64> {
        self.env.state()
    }

    /// Sets the inner env's state; the step counter is left as it is (a replay resets
    /// first, which zeroes it).
    fn set_state(&mut self, state: &[f64]) -> Result<(), EnvError> {
        self.env.set_state(state)
    }

    fn snapshot(&self) -> Result<EnvSnapshot, EnvError> {
        let mut s = EnvSnapshot::new("TimeLimit");
        s.extra.insert(ELAPSED_STEPS.into(), self.elapsed_steps);
        s.extra
            .insert(MAX_EPISODE_STEPS.into(), self.max_episode_steps);
        s.inner = Some(Box::new(self.env.snapshot()?));
        Ok(s)
    }

    /// Restores the counter and the inner env. A snapshot taken under another limit is an
    /// error (an env of another kind inside is reported as such first).
    fn restore(&mut self, snapshot: &EnvSnapshot) -> Result<(), EnvError> {
        snapshot.check_kind("TimeLimit")?;
        let elapsed = snapshot.extra_required(ELAPSED_STEPS)?;
        let limit = snapshot.extra_required(MAX_EPISODE_STEPS)?;
        let Some(inner) = snapshot.inner.as_deref() else {
            return Err(EnvError::InvalidState(
                "TimeLimit snapshot has no inner env snapshot".into(),
            ));
        };
        if limit != self.max_episode_steps {
            // Only on this error path: name the kinds if they differ too, as that is the
            // real mistake (e.g. a Pendulum-v1 snapshot given to CartPole-v1).
            if let Ok(current) = self.env.snapshot() {
                inner.check_kind(&current.kind)?;
            }
            return Err(EnvError::InvalidState(format!(
                "snapshot of a TimeLimit at {limit} steps cannot be restored into one at {}",
                self.max_episode_steps
            )));
        }
        self.env.restore(inner)?;
        self.elapsed_steps = elapsed;
        Ok(())
    }
}
