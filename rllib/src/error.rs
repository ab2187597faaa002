//! Errors of the rllib library: typed, with the path, key or worker they concern.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Everything that can go wrong configuring, training, saving or restoring.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RllibError {
    /// The experiment file or config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An algorithm name that this project does not train.
    #[error(transparent)]
    UnknownAlgorithm(#[from] crate::algorithm::UnknownAlgorithm),
    /// A checkpoint could not be read, or belongs to another algorithm or model.
    #[error("checkpoint {}: {message}", path.display())]
    Checkpoint {
        /// The checkpoint directory or the file in it that was wrong.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// An environment could not be made or driven.
    #[error(transparent)]
    Env(#[from] envs::EnvError),
    /// The task runtime reported a failure outside any rollout worker.
    #[error(transparent)]
    Runtime(#[from] runtime::RuntimeError),
    /// libtorch reported an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A remote rollout worker failed and was not recreated: restarts are off
    /// (`restart_failed_env_runners: false`) or `max_num_env_runner_restarts` are used up.
    #[error("rollout worker {index} failed: {cause}; {reason}")]
    WorkerFailed {
        /// The worker's index (remote workers are 1..=num_workers).
        index: usize,
        /// What happened to it (process died, env panicked, ...), on one line.
        cause: String,
        /// Why it was not recreated.
        reason: NoRestart,
    },
    /// A rollout worker could not start (its constructor failed: restarting would not help).
    #[error("rollout worker {index} could not start: {cause}")]
    WorkerStart {
        /// The worker's index.
        index: usize,
        /// Why it could not start.
        cause: String,
    },
    /// A device was asked for that this machine does not have.
    #[error("{message}")]
    Device {
        /// The device asked for (`cuda`, `cuda:1`, ...).
        requested: String,
        /// What is wrong with it.
        message: String,
    },
    /// An action space the policies cannot act in.
    #[error("action space {space} is not supported (Discrete or a non-empty Box)")]
    UnsupportedSpace {
        /// The space, as debug text.
        space: String,
    },
    /// An observation of the wrong size was given to `compute_action`.
    #[error("compute_action: observation has {got} values, the policy expects {expected}")]
    ObservationSize {
        /// What the policy expects.
        expected: usize,
        /// What was given.
        got: usize,
    },
    /// Weights, gradients or states that do not fit this trainer's model or workers.
    #[error("{what}: expected {expected}, got {got}")]
    Mismatch {
        /// What did not fit.
        what: &'static str,
        /// The size or count expected.
        expected: String,
        /// The size or count given.
        got: String,
    },
}

/// Why a failed rollout worker was not recreated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoRestart {
    /// `restart_failed_env_runners` (`recreate_failed_workers`) is false.
    Disabled,
    /// `max_num_env_runner_restarts` restarts were already made in this run.
    Exhausted {
        /// The bound.
        max: u32,
    },
}

impl std::fmt::Display for NoRestart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoRestart::Disabled => {
                f.write_str("not recreated: restart_failed_env_runners is false")
            }
            NoRestart::Exhausted { max } => write!(
                f,
                "not recreated: all {max} restarts of max_num_env_runner_restarts are used"
            ),
        }
    }
}

/// An invalid experiment file, command-line config or stop condition.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The text is not YAML (or JSON).
    #[error("{origin}:{line}:{column}: YAML syntax error: {message}")]
    Syntax {
        /// The file (or flag) the text came from.
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// A key that is not a setting here.
    #[error("{at}: unknown key '{key}'{}", did_you_mean(suggestion))]
    UnknownKey {
        /// Where: file, experiment and section.
        at: String,
        /// The key as written.
        key: String,
        /// The nearest known key, if one is close.
        suggestion: Option<String>,
    },
    /// A stop condition naming a path that no result contains.
    #[error(
        "{at}: stop key '{key}' is never in a result{}",
        did_you_mean(suggestion)
    )]
    UnknownStopKey {
        /// Where: file and experiment.
        at: String,
        /// The key as written.
        key: String,
        /// The nearest result path, if one is close.
        suggestion: Option<String>,
    },
    /// A setting with a value it cannot take.
    #[error("{at}.{key}: {message}")]
    InvalidValue {
        /// Where: file, experiment and section.
        at: String,
        /// The setting (a dotted path for nested ones).
        key: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// Two names of the same setting given together.
    #[error("{at}: '{first}' and '{second}' are the same setting; give only one")]
    DuplicateKey {
        /// Where.
        at: String,
        /// The name given first.
        first: String,
        /// The name given second.
        second: String,
    },
    /// A document whose shape is wrong (not a mapping, a missing section, ...).
    #[error("{at}: {message}")]
    Invalid {
        /// Where.
        at: String,
        /// What is wrong.
        message: String,
    },
}

fn did_you_mean(s: &Option<String>) -> String {
    match s {
        Some(k) => format!(" (did you mean '{k}'?)"),
        None => String::new(),
    }
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, RllibError>;

impl RllibError {
    /// An I/O error tagged with the path it concerns.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        RllibError::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// A checkpoint error for `path`.
    pub fn checkpoint(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        RllibError::Checkpoint {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }

    /// Whether the caller's input caused it (a config, a checkpoint, an env id, a device):
    /// fixing the input fixes it, retrying does not.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            RllibError::Config(_)
                | RllibError::UnknownAlgorithm(_)
                | RllibError::Checkpoint { .. }
                | RllibError::Env(_)
                | RllibError::Device { .. }
                | RllibError::UnsupportedSpace { .. }
                | RllibError::ObservationSize { .. }
        )
    }
}
