//! `WorkerSet`: the local rollout worker, or remote ones running as runtime actors.

use runtime::{ActorHandle, Resources, Runtime, RuntimeConfig};

use crate::config::TrainerConfig;
use crate::error::{Result, RllibError};
use crate::evaluation::rollout_worker::WorkerState;
use crate::evaluation::{RolloutWorker, RunningStat, SampleBatch, WorkerConfig};
use crate::policy::Weights;

/// A remote worker's actor state: the worker, or why it could not be built.
pub type WorkerSlot = std::result::Result<RolloutWorker, String>;

/// Weights and filter statistics sent to workers through the object store.
pub struct Broadcast {
    /// The learner's weights.
    pub weights: Weights,
    /// The learner's merged filter statistics.
    pub filter: Option<RunningStat>,
}

/// Runs `f` on a worker slot, turning a failed start or an error into a message.
pub fn with_worker<R>(
    slot: &mut WorkerSlot,
    f: impl FnOnce(&mut RolloutWorker) -> Result<R>,
) -> std::result::Result<R, String> {
    match slot {
        Ok(w) => f(w).map_err(|e| e.to_string()),
        Err(e) => Err(format!("rollout worker could not start: {e}")),
    }
}

/// The rollout workers of a trainer.
pub enum WorkerSet {
    /// `num_workers: 0`: the driver samples with its own worker.
    Local(Box<RolloutWorker>),
    /// Remote workers as runtime actors, in index order.
    Remote {
        /// The runtime the actors live on.
        runtime: Runtime,
        /// The workers' handles, worker 1 first.
        workers: Vec<ActorHandle<WorkerSlot>>,
    },
}

impl WorkerSet {
    /// Builds the workers for `config`; remote workers start in parallel.
    pub fn new(config: &TrainerConfig, seed: u64) -> Result<WorkerSet> {
        if config.num_workers == 0 {
            let w = RolloutWorker::new(WorkerConfig::from_trainer(config, seed, 0))?;
            return Ok(WorkerSet::Local(Box::new(w)));
        }
        // Each worker holds one logical CPU; the runtime is sized so that every worker the
        // config asks for fits, as a config written for a bigger machine still runs here.
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let runtime =
            Runtime::new(RuntimeConfig::default().num_cpus(config.num_workers.max(cpus) as f64))?;
        let mut workers = Vec::new();
        for i in 1..=config.num_workers {
            let wc = WorkerConfig::from_trainer(config, seed, i);
            let h = runtime
                .actor_local("RolloutWorker", move || {
                    RolloutWorker::new(wc).map_err(|e| e.to_string())
                })
                .resources(Resources::cpus(1.0))
                .spawn()?;
            workers.push(h);
        }
        Ok(WorkerSet::Remote { runtime, workers })
    }

    /// Number of workers that sample (1 for the local worker).
    pub fn len(&self) -> usize {
        match self {
            WorkerSet::Local(_) => 1,
            WorkerSet::Remote { workers, .. } => workers.len(),
        }
    }

    /// Whether there is no worker (never: a set has the local worker or remote ones).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sends weights and filter statistics to every worker.
    pub fn sync(&mut self, weights: Weights, filter: Option<RunningStat>) -> Result<()> {
        match self {
            WorkerSet::Local(w) => {
                w.set_weights(&weights)?;
                if let Some(f) = &filter {
                    w.sync_filter(f);
                }
                Ok(())
            }
            WorkerSet::Remote { runtime, workers } => {
                let b = runtime.put(Broadcast { weights, filter });
                let refs: Vec<_> = workers
                    .iter()
                    .map(|h| {
                        h.call_with(&b, |s: &mut WorkerSlot, b| {
                            with_worker(s, |w| {
                                w.set_weights(&b.weights)?;
                                if let Some(f) = &b.filter {
                                    w.sync_filter(f);
                                }
                                Ok(())
                            })
                        })
                    })
                    .collect();
                for r in runtime.get_all(&refs)? {
                    r.map_err(RllibError::Worker)?;
                }
                Ok(())
            }
        }
    }

    /// One fragment from every worker, in worker order.
    pub fn sample(&mut self) -> Result<Vec<SampleBatch>> {
        match self {
            WorkerSet::Local(w) => Ok(vec![w.sample()?]),
            WorkerSet::Remote { runtime, workers } => {
                let refs: Vec<_> = workers
                    .iter()
                    .map(|h| h.call(|s: &mut WorkerSlot| with_worker(s, |w| w.sample())))
                    .collect();
                runtime
                    .get_all(&refs)?
                    .into_iter()
                    .map(|r| r.map_err(RllibError::Worker))
                    .collect()
            }
        }
    }

    /// Every worker's state, for checkpoints.
    pub fn states(&self) -> Result<Vec<WorkerState>> {
        match self {
            WorkerSet::Local(w) => Ok(vec![w.state()?]),
            WorkerSet::Remote { runtime, workers } => {
                let refs: Vec<_> = workers
                    .iter()
                    .map(|h| h.call(|s: &mut WorkerSlot| with_worker(s, |w| w.state())))
                    .collect();
                runtime
                    .get_all(&refs)?
                    .into_iter()
                    .map(|r| r.map_err(RllibError::Worker))
                    .collect()
            }
        }
    }

    /// Puts every worker back into a checkpointed state.
    pub fn restore_states(&mut self, states: &[WorkerState]) -> Result<()> {
        let n = match self {
            WorkerSet::Local(_) => 1,
            WorkerSet::Remote { workers, .. } => workers.len(),
        };
        if states.len() != n {
            return Err(RllibError::Config(format!(
                "the checkpoint has {} rollout worker states, this trainer has {n} workers",
                states.len()
            )));
        }
        match self {
            WorkerSet::Local(w) => w.restore_state(&states[0]),
            WorkerSet::Remote { runtime, workers } => {
                let refs: Vec<_> = workers
                    .iter()
                    .zip(states.iter().cloned())
                    .map(|(h, st)| {
                        h.call(move |s: &mut WorkerSlot| with_worker(s, |w| w.restore_state(&st)))
                    })
                    .collect();
                for r in runtime.get_all(&refs)? {
                    r.map_err(RllibError::Worker)?;
                }
                Ok(())
            }
        }
    }
}
