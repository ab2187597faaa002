//! Policy optimizers: the control loop of who samples, who learns and what moves.

pub mod async_gradients;
pub mod sync_samples;
pub mod worker_set;

pub use async_gradients::AsyncGradientsOptimizer;
pub use sync_samples::SyncSamplesOptimizer;
pub use worker_set::{RestartPolicy, WorkerRuntime, WorkerSet};
