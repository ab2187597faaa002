//! What can go wrong starting or running the dashboard.

use std::path::PathBuf;

/// A dashboard failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DashboardError {
    /// The address could not be bound (in use, not an address of this machine, ...).
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// `HOST:PORT` asked for.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The token is empty.
    #[error("the dashboard needs a non-empty token")]
    EmptyToken,
    /// The server's own threads could not start.
    #[error("cannot start the dashboard's threads: {0}")]
    Threads(std::io::Error),
}
