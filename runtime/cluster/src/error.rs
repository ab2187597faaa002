//! Errors of the cluster crate: typed, naming the peer, address, path or flag they concern.

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

/// Everything that can go wrong starting daemons, joining a cluster or talking to one.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// A command-line option or its value is invalid.
    #[error("{flag}: {message}")]
    BadOption {
        /// The flag, as the user typed it (`--resources`).
        flag: String,
        /// What is wrong with its value.
        message: String,
    },
    /// Something the user asked for that this build does not do yet.
    #[error("{what} is not supported yet")]
    Unsupported {
        /// The feature, e.g. `--redis-address (Redis metadata store)`.
        what: String,
    },
    /// No auth token: neither `RLLIB_AUTH_TOKEN` nor the token file.
    #[error("no auth token: set RLLIB_AUTH_TOKEN or copy the head's token file to {}", path.display())]
    NoToken {
        /// Where the token file was looked for.
        path: PathBuf,
    },
    /// A temp dir already holds a running daemon.
    #[error(
        "temp dir {} is in use by a running daemon (pid {pid}); stop it with `rllib stop --temp-dir {}` or pick another --temp-dir",
        dir.display(),
        dir.display()
    )]
    TempDirInUse {
        /// The temp dir.
        dir: PathBuf,
        /// The running daemon's pid (0 when only its lock was seen).
        pid: u32,
    },
    /// Listening on an address failed (port in use, address not on this machine, ...).
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: String,
        /// Why the operating system refused.
        source: std::io::Error,
    },
    /// A peer could not be reached (nothing listening, unknown host, packets dropped).
    #[error("cannot reach {address}: {message}")]
    Connect {
        /// The address tried.
        address: String,
        /// Why, on one line.
        message: String,
    },
    /// The challenge-response handshake failed: wrong or missing token on one side.
    #[error("authentication failed with {peer}: {reason}")]
    AuthFailed {
        /// The other side's address.
        peer: String,
        /// What failed.
        reason: String,
    },
    /// The other side speaks another version of the wire protocol.
    #[error("protocol version mismatch with {peer}: this build speaks version {local}, the peer speaks version {remote}")]
    VersionMismatch {
        /// The other side's address.
        peer: String,
        /// This build's protocol version.
        local: u32,
        /// The peer's protocol version.
        remote: u32,
    },
    /// A frame could not be read or written.
    #[error("{peer}: {source}")]
    Frame {
        /// The other side's address.
        peer: String,
        /// What went wrong with the frame.
        source: FrameError,
    },
    /// The peer sent something the protocol does not allow at this point.
    #[error("{peer}: protocol error: {message}")]
    Protocol {
        /// The other side's address.
        peer: String,
        /// What was wrong.
        message: String,
    },
    /// The peer answered with an error of its own (e.g. a worker executable that does not exist).
    #[error("{peer} refused: {message}")]
    Remote {
        /// The other side's address.
        peer: String,
        /// Its message.
        message: String,
    },
    /// The connection is gone (the head or node went away).
    #[error("connection to {peer} is closed")]
    Disconnected {
        /// The other side's address.
        peer: String,
    },
    /// No node with this id is known (or it is dead).
    #[error("node {node_id} is not an alive node of this cluster")]
    UnknownNode {
        /// The id asked for.
        node_id: u16,
    },
    /// A daemon could not be started or stopped.
    #[error("{message}")]
    Daemon {
        /// What happened, on one line.
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The metadata store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ClusterError {
    /// True when the user's input is at fault (the CLI exits 2), false for bad luck (exit 1).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            ClusterError::BadOption { .. }
                | ClusterError::Unsupported { .. }
                | ClusterError::NoToken { .. }
        )
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ClusterError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn frame(peer: impl ToString, source: FrameError) -> Self {
        match source {
            FrameError::Closed => ClusterError::Disconnected {
                peer: peer.to_string(),
            },
            source => ClusterError::Frame {
                peer: peer.to_string(),
                source,
            },
        }
    }

    pub(crate) fn protocol(peer: impl ToString, message: impl Into<String>) -> Self {
        ClusterError::Protocol {
            peer: peer.to_string(),
            message: message.into(),
        }
    }
}

/// A frame that could not be read or written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix announces more than the limit; nothing of it was allocated.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The announced length.
        len: u64,
        /// The limit in force.
        max: usize,
    },
    /// The peer sent nothing for too long.
    #[error("no data for {0:?}")]
    Timeout(Duration),
    /// The peer closed the connection.
    #[error("connection closed")]
    Closed,
    /// The payload is not a valid message.
    #[error("undecodable message: {0}")]
    Decode(String),
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A failure of the metadata store.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// All 65,535 node ids are used.
    #[error("no node id left: all {0} ids are in use")]
    IdsExhausted(u32),
    /// The backend failed.
    #[error("metadata store: {0}")]
    Backend(String),
    /// The Redis server failed: unreachable, not Redis, gone, or holding a record this build
    /// cannot read.
    #[error("Redis at {address}: {message}")]
    Redis {
        /// The server's `HOST:PORT`.
        address: String,
        /// What went wrong, on one line.
        message: String,
    },
}
