//! Failure injection for the end-to-end tests, not a user feature: with
//! `RLLIB_TEST_PANIC_WORKER=<index>:<steps>` in the environment, the first env of rollout
//! worker `<index>` panics at its `<steps>`-th step, once: a recreated worker
//! (`recreated_worker`) steps normally. Worker processes inherit the variable.

use envs::{Action, Env, EnvError, EnvSnapshot, Space, Step};

/// The environment variable read.
pub const PANIC_WORKER_VAR: &str = "RLLIB_TEST_PANIC_WORKER";

/// The step after which worker `index`'s first env panics, if the variable asks for it.
pub fn panic_after_steps(index: usize) -> Option<u64> {
    let spec = std::env::var(PANIC_WORKER_VAR).ok()?;
    let (i, steps) = spec.split_once(':')?;
    (i.trim().parse::<usize>().ok()? == index)
        .then(|| steps.trim().parse::<u64>().ok())
        .flatten()
}

/// An env that panics at its `steps`-th step (as an env with a bug would).
pub struct PanicAfter {
    inner: Box<dyn Env>,
    left: u64,
}

impl PanicAfter {
    /// Wraps `inner`, panicking at step `steps` (counted from 1 over all episodes).
    pub fn new(inner: Box<dyn Env>, steps: u64) -> Self {
        PanicAfter {
            inner,
            left: steps.max(1),
        }
    }

    fn count(&mut self) {
        self.left -= 1;
        if self.left == 0 {
            panic!("injected env failure ({PANIC_WORKER_VAR})");
        }
    }
}

impl Env for PanicAfter {
    fn observation_space(&self) -> &Space {
        self.inner.observation_space()
    }
    fn action_space(&self) -> &Space {
        self.inner.action_space()
    }
    fn reset(&mut self, seed: Option<u64>) -> &[f32] {
        self.inner.reset(seed)
    }
    fn step(&mut self, action: Action<'_>) -> Step<'_> {
        self.count();
        self.inner.step(action)
    }
    fn try_step(&mut self, action: Action<'_>) -> Result<Step<'_>, EnvError> {
        self.count();
        self.inner.try_step(action)
    }
    fn obs(&self) -> &[f32] {
        self.inner.obs()
    }
    fn state(&self) -> Vec<f64> {
        self.inner.state()
    }
    fn set_state(&mut self, state: &[f64]) -> Result<(), EnvError> {
        self.inner.set_state(state)
    }
    fn snapshot(&self) -> Result<EnvSnapshot, EnvError> {
        self.inner.snapshot()
    }
    fn restore(&mut self, snapshot: &EnvSnapshot) -> Result<(), EnvError> {
        self.inner.restore(snapshot)
    }
}
