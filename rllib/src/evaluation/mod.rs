//! Sampling: rollout workers, sample batches, GAE postprocessing, filters and episode metrics.

#[doc(hidden)]
pub mod fault_injection;
pub mod filter;
pub mod metrics;
pub mod postprocessing;
pub mod rollout_worker;
pub mod sample_batch;

pub use filter::{MeanStdFilter, RunningStat};
pub use metrics::{EpisodeStats, MetricsWindow};
pub use rollout_worker::{RolloutWorker, WorkerConfig};
pub use sample_batch::SampleBatch;
