//! How a command's failure becomes one line on stderr and an exit code, and the logging every
//! `rllib` binary sets up.

use std::process::ExitCode;

/// A failure with the exit code it maps to: 2 for bad input, 1 for everything else.
pub struct Failure {
    /// The process's exit code.
    pub code: u8,
    /// The report (printed as one line, causes joined with `: `).
    pub error: anyhow::Error,
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        let bad_input = error.downcast_ref::<BadInput>().is_some();
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

/// Logs through `tracing` to stderr (`RUST_LOG` filters; `info` by default).
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

/// The process's exit code for a command's outcome, printing a failure as one line.
pub fn exit(outcome: Result<ExitCode, Failure>) -> ExitCode {
    match outcome {
        Ok(code) => code,
        Err(f) => {
            eprintln!("error: {:#}", f.error);
            ExitCode::from(f.code)
        }
    }
}
