//! Machines joined into one cluster, as Ray's `ray start`: a head daemon that keeps the node
//! table and declares silent nodes dead, node daemons that join it and spawn worker
//! processes for drivers, and a blocking client for drivers. It knows nothing of the task
//! runtime; the runtime uses it to run workers on other nodes.
//!
//! # What runs where
//!
//! - **Head** (`rllib start --head`): one per cluster. Serves nodes (registration,
//!   heartbeats), drivers (id, node table, events, usage), `rllib status`, and worker
//!   spawning for its own resources (the head is node 1).
//! - **Node** (`rllib start --address HOST:PORT`): one per machine. Joins the head,
//!   heartbeats every 0.5 s, spawns workers for drivers on its own port; its workers die
//!   with it.
//! - **Driver**: [`DriverClient::connect`] joins the head and gets an id from the same
//!   counter as nodes (runtime ids carry it in their top 16 bits; 0 is a standalone driver).
//!
//! # Security
//!
//! Every connection starts with a mutual HMAC-SHA256 challenge-response over a shared token
//! (`RLLIB_AUTH_TOKEN` or `~/.rllib/auth_token`, created by the first head); see [`auth`
//! functions](accept_async). Nothing but the bounded handshake frames is read before the peer
//! proved the token. Frames are length-delimited with a limit, reads have timeouts, and a
//! daemon holds at most [`MAX_CONNECTIONS`] connections.
//!
//! # The blocking client
//!
//! ```no_run
//! use cluster::{load_token, DriverClient, Resources, SpawnRequest};
//!
//! let (token, _) = load_token()?;
//! let client = DriverClient::connect("127.0.0.1:6379", &token)?;
//! println!("driver {} sees {} nodes", client.node_id(), client.nodes()?.len());
//! let events = client.events(); // NodeAdded, NodeDead, WorkerExited, HeadLost
//! let pid = client.spawn_worker(1, &SpawnRequest {
//!     executable: "/bin/sleep".into(),
//!     args: vec!["60".into()],
//!     env: vec![],
//! })?;
//! client.report_usage(1, &Resources::from([("CPU".into(), 1.0)]))?;
//! # let _ = (pid, events);
//! # Ok::<(), cluster::ClusterError>(())
//! ```

#![warn(missing_docs)]

mod auth;
mod client;
mod daemon;
mod error;
mod frame;
mod head;
mod listener;
mod node;
mod protocol;
mod redis_store;
mod store;

pub use auth::{
    accept_async, accept_blocking, connect_async, connect_blocking, default_token_path,
    ensure_token, load_token, AuthToken, ClientHandshake, HandshakeFailure, ServerHandshake,
    TokenSource, HANDSHAKE_TIMEOUT, TOKEN_ENV,
};
pub use client::{status, DriverClient, CONNECT_TIMEOUT, REQUEST_TIMEOUT};
pub use daemon::{
    address_path, check_address, default_temp_dir, find_head_address, parse_resources, run_daemon,
    running_daemon, start, stop, DaemonKind, StartOptions, Started, StopOutcome, ADDRESS_ENV,
    DAEMON_SUBCOMMAND, DEFAULT_PORT, NODE_TIMEOUT_ENV, READY_TIMEOUT, RECONNECT_ENV, STOP_TIMEOUT,
};
pub use error::{ClusterError, FrameError, StoreError};
pub use frame::{
    read_frame, read_frame_blocking, read_frame_within, read_msg, read_msg_blocking, write_frame,
    write_frame_blocking, write_msg, write_msg_blocking, MAX_FRAME, MAX_HANDSHAKE_FRAME,
};
pub use head::{DEFAULT_NODE_TIMEOUT, HEARTBEAT_PERIOD};
pub use listener::MAX_CONNECTIONS;
pub use node::DEFAULT_RECONNECT;
pub use protocol::*;
pub use redis_store::{RedisStore, DEFAULT_REDIS_PREFIX, REDIS_TIMEOUT};
pub use store::{node_statuses, InMemoryStore, MetadataStore};
