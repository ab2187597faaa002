//! The Ray UI over the runtime's tables and the trials' files: a JSON API (`/api/...`) and
//! one web app (Overview, Tasks, Objects, Timeline, Completion times, Trials) served from
//! the binary. Read-only; every request needs the cluster's token; binds 127.0.0.1 unless
//! told otherwise.
//!
//! The runtime side provides the state through [`StateSource`] ([`RuntimeSource`] for a live
//! runtime, swappable as trials come and go); the trials come from a results directory. The
//! dashboard does not know what a trial trains.
//!
//! Modules, bottom to top: `error`, `snapshot` (the rows and the source), `trials`, `usage`,
//! `completion_times`, `trace`, `auth`, `api`, `server`.
//!
//! Where Ray is followed: task states use Ray's names (`PENDING_ARGS_AVAIL`, `RUNNING`, ...);
//! the trace names phases `task:get_arguments` / `task:execute` / `task:store_outputs`;
//! tables are paged on the server (`limit` at most [`api::MAX_LIMIT`]), newest first.

#![warn(missing_docs)]

pub mod api;
mod auth;
pub mod completion_times;
mod error;
pub mod server;
pub mod snapshot;
pub mod trace;
pub mod trials;
pub mod usage;

pub use auth::COOKIE;
pub use error::DashboardError;
pub use server::{Dashboard, DashboardConfig, DEFAULT_PORT};
pub use snapshot::{snapshot_of, NoRuntime, RuntimeSource, Snapshot, StateSource};
