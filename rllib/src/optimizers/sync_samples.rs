//! `SyncSamplesOptimizer`: broadcast weights, gather `train_batch_size` steps from every
//! worker in worker order, and hand the batch to the learner.

use crate::config::TrainerConfig;
use crate::error::Result;
use crate::evaluation::rollout_worker::WorkerState;
use crate::evaluation::{RunningStat, SampleBatch};
use crate::policy::Weights;

use super::worker_set::WorkerSet;

/// RLlib's synchronous samples optimizer.
pub struct SyncSamplesOptimizer {
    workers: WorkerSet,
}

impl SyncSamplesOptimizer {
    /// Starts the workers the config asks for.
    pub fn new(config: &TrainerConfig, seed: u64) -> Result<Self> {
        Ok(SyncSamplesOptimizer {
            workers: WorkerSet::new(config, seed)?,
        })
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

    /// The workers' states, for checkpoints.
    pub fn worker_states(&self) -> Result<Vec<WorkerState>> {
        self.workers.states()
    }

    /// Restores the workers' states from a checkpoint.
    pub fn restore_worker_states(&mut self, states: &[WorkerState]) -> Result<()> {
        self.workers.restore_states(states)
    }
}
