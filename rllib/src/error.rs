//! Errors of the rllib library crate.

use thiserror::Error;

/// Everything that can go wrong configuring, training, saving or restoring.
#[derive(Debug, Error)]
pub enum RllibError {
    /// The experiment file or config is invalid; the message says what and where.
    #[error("{0}")]
    Config(String),
    /// A checkpoint could not be read, or belongs to another algorithm or model.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint directory.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// An environment could not be made or driven.
    #[error(transparent)]
    Env(#[from] envs::EnvError),
    /// The task runtime reported a failure (a worker died, a task panicked, ...).
    #[error(transparent)]
    Runtime(#[from] runtime::RuntimeError),
    /// libtorch reported an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A rollout worker failed (its message says why).
    #[error("rollout worker: {0}")]
    Worker(String),
    /// A device was asked for that this machine does not have.
    #[error("{0}")]
    Device(String),
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, RllibError>;

impl RllibError {
    /// An I/O error tagged with the path it concerns.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        RllibError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}
