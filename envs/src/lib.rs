//! Environments for rllib: the [`Env`] trait, spaces, Gymnasium-exact classic control,
//! a registry by id and a vector env. Nothing here knows of torch.

mod env;
mod error;
mod space;

pub use env::{Env, Step};
pub use error::EnvError;
pub use space::{Action, Space};
