//! End-to-end tests: the `rllib` binary driven as a user drives it.

mod harness;
mod webdriver;

mod algorithms;
mod bad_input;
mod checkpoints;
mod cluster;
mod dashboard;
mod env_check;
mod python_envs;
mod train;
mod workers;
