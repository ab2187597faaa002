//! The envs crate's one integration-test binary; each concern is a module.

mod harness;

#[cfg(feature = "gym-rs")]
mod gym_rs;
mod python_env;
mod recording;
mod registry;
mod reset;
mod snapshot;
mod time_limit;
mod vector_env;
