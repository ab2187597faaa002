//! Errors of the envs crate.

use thiserror::Error;

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
}
