//! Environments for rllib: the [`Env`] trait, spaces, Gymnasium-exact classic control,
//! a registry by id and a vector env. Nothing here knows of torch.
//!
//! - [`make`] builds an env by Gymnasium id (`"CartPole-v1"`), wrapped in [`TimeLimit`]
//!   as `gym.make` does; [`register`] adds user envs to the same registry.
//! - [`classic_control`] holds the native ports of CartPole, MountainCar,
//!   MountainCarContinuous, Acrobot and Pendulum, matching Gymnasium 1.2.2 step for step.
//! - [`VectorEnv`] steps N envs together with same-step auto-reset.
//! - [`Env::snapshot`] / [`Env::restore`] and [`VectorEnv::state`] /
//!   [`VectorEnv::set_state`] save envs mid-episode for checkpoints, exactly.
//! - [`python`] runs Python Gymnasium envs (`gymnasium:<id>`, `file.py:Class`,
//!   `package.module:Class`, or a plain id no native env has) in a Python process per
//!   worker; [`make_with_config`] and [`VectorEnv::make_with_config`] pass `env_config`.
//! - [`recording`] replays Gymnasium recordings (`.jsonl`) against the native envs.
//! - With the `gym-rs` feature, `gym_rs::GymRsEnv` adapts envs from the gym-rs crate
//!   (see the crate README for why native envs are the default).

#![warn(missing_docs)]

pub mod classic_control;
mod env;
mod error;
#[cfg(feature = "gym-rs")]
pub mod gym_rs;
pub mod python;
pub mod recording;
mod registry;
mod rng;
mod snapshot;
mod space;
mod time_limit;
mod vector_env;

pub use env::{Env, Step};
pub use error::EnvError;
pub use python::EnvConfig;
pub use recording::{replay_file, Mismatch, RecordingError, ReplayReport};
pub use registry::{
    make, make_with_config, make_with_max_steps, register, register_with_max_steps, registered_ids,
    spec, EnvSpec,
};
pub use rng::EnvRng;
pub use snapshot::EnvSnapshot;
pub use space::{Action, Space};
pub use time_limit::TimeLimit;
pub use vector_env::{EpisodeStats, VectorEnv, VectorEnvState, VectorStep};
