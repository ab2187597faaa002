//! Machines joined into one cluster (WIP).

mod auth;
mod error;
mod frame;
mod protocol;
mod store;

pub use auth::*;
pub use error::{ClusterError, FrameError, StoreError};
pub use frame::*;
pub use protocol::*;
pub use store::*;
