//! The commands behind `rllib`'s subcommands, and how failures become exit codes.

pub mod cluster;
pub mod commands;
pub mod dashboard;
pub mod progress;
pub mod train;

use rllib::RllibError;

/// A failure with the exit code it maps to: 2 for bad input, 1 for everything else.
pub struct Failure {
    /// The process's exit code.
    pub code: u8,
    /// The report (printed as one line, causes joined with `: `).
    pub error: anyhow::Error,
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        let bad_input = error.downcast_ref::<BadInput>().is_some()
            || error
                .downcast_ref::<RllibError>()
                .is_some_and(RllibError::is_bad_input);
        Failure {
            code: if bad_input { 2 } else { 1 },
            error,
        }
    }
}

impl From<::cluster::ClusterError> for Failure {
    fn from(e: ::cluster::ClusterError) -> Self {
        let code = if e.is_bad_input() { 2 } else { 1 };
        Failure {
            code,
            error: anyhow::Error::from(e),
        }
    }
}

impl From<RllibError> for Failure {
    fn from(e: RllibError) -> Self {
        anyhow::Error::from(e).into()
    }
}

/// Bad input found by the binary itself (exit code 2).
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// A bad-input failure (exit code 2) with this message.
pub fn bad(msg: impl Into<String>) -> Failure {
    Failure {
        code: 2,
        error: anyhow::anyhow!(BadInput(msg.into())),
    }
}
