//! Per-trial output: params.json, result.json, progress.csv, TensorBoard events, checkpoints.

pub mod checkpoint;
pub mod tensorboard;
pub mod trial_logger;

pub use trial_logger::TrialLogger;
