//! RLlib-style reinforcement learning on the `runtime`: rollout workers, sample batches,
//! PPO on libtorch, RLlib's experiment files, results, TensorBoard curves and checkpoints.
//!
//! Layers, bottom to top: [`policy`] (model, distributions, weights), [`evaluation`]
//! (rollout workers, GAE, filters, metrics), [`optimizers`] (who samples, who learns),
//! [`algorithms`] (losses and defaults), [`trainer`] (the `Trainer` API), [`tune`] (the
//! experiment loop behind `rllib train`) and [`logging`] (one writer per trial).

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

pub use config::{Experiment, TrainerConfig};
pub use error::{Result, RllibError};
pub use trainer::{EvaluationResult, Trainer};
