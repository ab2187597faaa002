//! The commands behind `rllib`'s subcommands, and how failures become exit codes.

pub mod args;
pub mod cluster;
pub mod commands;
pub mod dashboard;
mod failure;
pub mod progress;
pub mod train;

pub use failure::{bad, exit, init_logging, Failure};

use rllib::RllibError;

// Here, not beside `Failure`: naming the library's error links libtorch, which `rllib` (the
// thin binary, which shares `failure.rs`) must not load.
impl From<RllibError> for Failure {
    fn from(e: RllibError) -> Self {
        Failure {
            code: if e.is_bad_input() { 2 } else { 1 },
            error: e.into(),
        }
    }
}
