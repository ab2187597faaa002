//! `SyncSamplesOptimizer`: broadcast weights, gather `train_batch_size` steps from every
//! worker in worker order, and hand the batch to the learner.
//!
//! A remote worker that fails mid-round is recreated (see `WorkerSet`) and its fragment of
//! that round dropped; rounds go on until `train_batch_size` steps are in, so the batch is
//! still full, with the recreated worker sampling from the next round on.

use crate::error::Result;
use crate::evaluation::{RunningStat, SampleBatch};
use crate::policy::Weights;

use super::worker_set::WorkerSet;

/// RLlib's synchronous samples optimizer.
pub struct SyncSamplesOptimizer {
    workers: WorkerSet,
}

impl SyncSamplesOptimizer {
    /// Uses `workers` (local or remote).
    pub fn new(workers: WorkerSet) -> Self {
        SyncSamplesOptimizer { workers }
    }

    /// Sends the learner's weights and merged filter statistics to every worker.
    pub fn broadcast(&mut self, weights: Weights, filter: Option<RunningStat>) -> Result<()> {
        self.workers.sync(weights, filter)
    }

    /// Samples rounds from all workers until at least `train_batch_size` steps are in.
    /// Batches join in a fixed order (round, then worker index), so runs reproduce.
    pub fn gather(&mut self, train_batch_size: usize) -> Result<SampleBatch> {
        let mut out = SampleBatch::default();
        while out.count < train_batch_size {
            for b in self.workers.sample()? {
                out.append(b);
            }
        }
        Ok(out)
    }

    /// The workers (for checkpoints and health counts).
    pub fn workers(&mut self) -> &mut WorkerSet {
        &mut self.workers
    }

    /// The workers, read-only.
    pub fn worker_set(&self) -> &WorkerSet {
        &self.workers
    }
}
