//! RLlib-style reinforcement learning on the `runtime`: rollout workers, sample batches,
//! PPO, A3C and A2C on libtorch, RLlib's experiment files, results, TensorBoard curves and
//! checkpoints. The `rllib` command line is a thin binary over this library.
//!
//! Modules, bottom to top (each uses only those before it):
//! - [`algorithm`]: the [`Algorithm`] enum, parsed once from RLlib's `run` names;
//! - [`error`]: typed errors ([`RllibError`], [`ConfigError`]);
//! - [`result`]: an iteration's [`TrainingResult`] and the one place it becomes RLlib's keys;
//! - [`policy`]: model (with its own [`ModelConfig`]), distributions, Adam, weights;
//! - [`config`]: experiment files and [`TrainerConfig`] (stop keys checked against `result`);
//! - [`evaluation`]: rollout workers, sample batches, GAE, filters, episode metrics;
//! - [`algorithms`]: the losses and the learner;
//! - [`optimizers`]: who samples and who learns (`WorkerSet`, sync samples, async gradients);
//! - [`logging`]: one writer per trial, checkpoints;
//! - [`trainer`]: the [`Trainer`] API;
//! - [`tune`]: the experiment loop behind `rllib train`.
//!
//! Remote rollout workers are runtime actors of a registered class. With
//! `worker_isolation: process` they run in worker processes that are the trainer's own
//! program started again: a binary that trains with them must call
//! `runtime::worker_main_if_requested()` first thing in `main`, as the `rllib` binary does.

#![warn(missing_docs)]

pub mod algorithm;
pub mod algorithms;
pub mod config;
pub mod error;
pub mod evaluation;
pub mod logging;
pub mod optimizers;
pub mod policy;
pub mod result;
pub mod trainer;
pub mod tune;

pub use algorithm::Algorithm;
pub use config::{Experiment, TrainerConfig, WorkerIsolation};
pub use error::{ConfigError, Result, RllibError};
pub use policy::ModelConfig;
pub use result::TrainingResult;
pub use trainer::{EvaluationResult, Trainer};
