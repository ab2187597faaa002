//! Errors of the envs crate.

use thiserror::Error;

use crate::python::PythonEnvError;

/// What can go wrong making, driving or replaying an env.
#[derive(Debug, Error)]
pub enum EnvError {
    /// No env is registered under this id.
    #[error("unknown env id '{id}'; known ids: {known}")]
    UnknownEnv {
        /// The id asked for.
        id: String,
        /// The registered ids, comma-separated.
        known: String,
    },
    /// This env does not expose its internal state.
    #[error("this env does not support setting its state")]
    StateUnsupported,
    /// A state of the wrong length or value was given.
    #[error("invalid state: {0}")]
    InvalidState(String),
    /// An action of the wrong kind, shape or range for the env's action space.
    #[error("invalid action {action}: the action space is {space}")]
    InvalidAction {
        /// The action, as `Debug` prints it.
        action: String,
        /// The action space, as `Debug` prints it.
        space: String,
    },
    /// A vector env was given a number of actions other than its number of envs.
    #[error("expected {expected} actions (one per env), got {got}")]
    ActionCount {
        /// `num_envs` (times the action size, for flat continuous actions).
        expected: usize,
        /// The length that was passed.
        got: usize,
    },
    /// A vector env was built from envs that cannot be batched together.
    #[error("cannot build a vector env: {0}")]
    VectorEnv(String),
    /// An external env backend (such as the gym-rs adapter's worker thread) failed.
    #[error("env backend failed: {0}")]
    Backend(String),
    /// A Python env (through the bridge) failed: its message names the env and quotes
    /// Python's exception.
    /// Boxed: the variant is large and `EnvError` travels in many `Result`s.
    #[error(transparent)]
    Python(Box<PythonEnvError>),
}

impl From<PythonEnvError> for EnvError {
    fn from(e: PythonEnvError) -> Self {
        EnvError::Python(Box::new(e))
    }
}
