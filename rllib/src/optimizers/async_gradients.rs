//! `AsyncGradientsOptimizer`: RLlib's A3C loop. Each worker samples and computes a gradient
//! on its own samples (the sample's ref goes straight into `compute_gradients`, no `get` in
//! between); the learner applies whichever gradient arrives first and sends fresh weights
//! to that worker only, so it never waits for the slowest worker.

use std::time::Instant;

use crate::algorithms::a3c::{compute_gradients, A3cLossConfig, Gradients};
use crate::algorithms::Learner;
use crate::config::TrainerConfig;
use crate::error::Result;
use crate::evaluation::{EpisodeStats, RunningStat, SampleBatch};
use crate::result::A3cStats;

use super::worker_set::{Broadcast, GradientCall, WorkerSet};

/// A gradient request in flight on one worker.
struct Pending {
    call: GradientCall,
    /// The learner's weight version the worker computes against.
    sent_version: u64,
}

/// What one optimizer step did.
#[derive(Debug, Clone, Default)]
pub struct AsyncStepStats {
    /// Gradients applied.
    pub applied: usize,
    /// Sum over applied gradients of (learner version at apply - version they were computed on).
    pub staleness_sum: u64,
    /// Env steps the applied gradients were computed on.
    pub steps: usize,
    /// Episodes finished in those samples.
    pub episodes: Vec<EpisodeStats>,
    /// The last gradient's loss statistics.
    pub last: A3cStats,
    /// Worker time sampling plus computing gradients, summed, seconds.
    pub worker_time_s: f64,
    /// Learner time applying gradients, seconds.
    pub apply_time_s: f64,
    /// The order in which workers' gradients were applied (worker indices, 1-based).
    pub apply_order: Vec<usize>,
}

/// RLlib's asynchronous gradients optimizer.
pub struct AsyncGradientsOptimizer {
    workers: WorkerSet,
    loss: A3cLossConfig,
    grads_per_step: usize,
    pending: Vec<Option<Pending>>,
    /// Gradients applied so far: the learner's weight version.
    pub version: u64,
}

impl AsyncGradientsOptimizer {
    /// Uses `workers` (local or remote) for the config's A3C loss.
    pub fn new(config: &TrainerConfig, workers: WorkerSet) -> Self {
        let n = workers.len();
        AsyncGradientsOptimizer {
            workers,
            loss: A3cLossConfig::from_config(config),
            grads_per_step: config.grads_per_step,
            pending: (0..n).map(|_| None).collect(),
            version: 0,
        }
    }

    /// The workers (for checkpoints and health counts). Gradients in flight stay queued
    /// ahead of any call made through this.
    pub fn workers(&mut self) -> &mut WorkerSet {
        &mut self.workers
    }

    /// The workers, read-only.
    pub fn worker_set(&self) -> &WorkerSet {
        &self.workers
    }

    /// Applies `grads_per_step` gradients, whichever workers they come from. A worker that
    /// fails is recreated (see `WorkerSet`) while the others' gradients keep being applied.
    pub fn step(
        &mut self,
        learner: &mut Learner,
        filter: &mut Option<RunningStat>,
    ) -> Result<AsyncStepStats> {
        let mut out = AsyncStepStats::default();
        match &mut self.workers {
            WorkerSet::Local(w) => {
                for _ in 0..self.grads_per_step {
                    let t0 = Instant::now();
                    w.set_weights(&learner.policy.get_weights()?)?;
                    if let Some(f) = filter.as_ref() {
                        w.sync_filter(f);
                    }
                    let batch: SampleBatch = w.sample()?;
                    let mut g = compute_gradients(w.policy(), &batch, &self.loss)?;
                    g.sample_time_s = t0.elapsed().as_secs_f64();
                    // Sampled with the weights just sent: never stale.
                    apply(learner, filter, g, 1, 0, &mut out)?;
                    self.version += 1;
                }
            }
            WorkerSet::Remote(workers) => {
                let loss = self.loss;
                // Weights first, then sample, then the gradient of that sample: calls to one
                // actor run in order, and the sample's ref is the gradient's argument.
                let submit = |workers: &mut super::worker_set::RemoteWorkers,
                              i: usize,
                              learner: &Learner,
                              filter: &Option<RunningStat>,
                              version: u64|
                 -> Result<Pending> {
                    let b = workers.put_broadcast(Broadcast {
                        weights: learner.policy.get_weights()?,
                        filter: filter.clone(),
                    });
                    Ok(Pending {
                        call: workers.submit_gradient(i, &b, loss),
                        sent_version: version,
                    })
                };
                for i in 0..workers.len() {
                    if self.pending[i].is_none() {
                        self.pending[i] = Some(submit(workers, i, learner, filter, self.version)?);
                    }
                }
                while out.applied < self.grads_per_step {
                    let refs: Vec<_> = self
                        .pending
                        .iter()
                        .flatten()
                        .map(|p| p.call.grads.clone())
                        .collect();
                    let (ready, _) = workers.runtime().wait(&refs, 1, None);
                    let Some(first) = ready.first() else { continue };
                    let Some(i) = self
                        .pending
                        .iter()
                        .position(|p| p.as_ref().is_some_and(|p| p.call.grads.id() == first.id()))
                    else {
                        continue;
                    };
                    let Some(p) = self.pending[i].take() else {
                        continue;
                    };
                    // None: the worker failed and was recreated; its gradient is lost.
                    if let Some(g) = workers.take_gradient(i, &p.call)? {
                        apply(
                            learner,
                            filter,
                            g,
                            i + 1,
                            self.version - p.sent_version,
                            &mut out,
                        )?;
                        self.version += 1;
                    }
                    self.pending[i] = Some(submit(workers, i, learner, filter, self.version)?);
                }
            }
        }
        Ok(out)
    }
}

fn apply(
    learner: &mut Learner,
    filter: &mut Option<RunningStat>,
    g: Gradients,
    worker: usize,
    staleness: u64,
    out: &mut AsyncStepStats,
) -> Result<()> {
    let t0 = Instant::now();
    learner.apply_gradients(&g.flat)?;
    out.apply_time_s += t0.elapsed().as_secs_f64();
    if let (Some(central), Some(delta)) = (filter.as_mut(), g.filter_delta.as_ref()) {
        central.merge(delta);
    }
    out.applied += 1;
    out.staleness_sum += staleness;
    out.steps += g.count;
    out.episodes.extend(g.episodes);
    out.last = g.stats;
    out.worker_time_s += g.sample_time_s;
    out.apply_order.push(worker);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resolve_config;
    use crate::optimizers::WorkerRuntime;
    use crate::policy::TorchPolicy;

    fn setup(workers: usize) -> (AsyncGradientsOptimizer, Learner) {
        let user = serde_json::json!({"env": "CartPole-v1", "seed": 1, "num_workers": workers,
            "grads_per_step": 12, "model": {"fcnet_hiddens": [8]}});
        let c = resolve_config(
            crate::algorithm::Algorithm::A3c,
            user.as_object().cloned().unwrap(),
            "t",
            &mut Vec::new(),
        )
        .unwrap();
        let env = envs::make("CartPole-v1").unwrap();
        let p = TorchPolicy::new(
            env.observation_space(),
            env.action_space(),
            &c.model,
            1,
            tch::Device::Cpu,
        )
        .unwrap();
        (
            AsyncGradientsOptimizer::new(&c, WorkerSet::new(&c, 1, WorkerRuntime::Own).unwrap()),
            Learner::new(p, &c, 1),
        )
    }

    #[test]
    fn local_worker_gradients_are_never_stale() {
        let (mut opt, mut learner) = setup(0);
        let before = learner.policy.get_weights().unwrap();
        let s = opt.step(&mut learner, &mut None).unwrap();
        assert_eq!(s.applied, 12);
        assert_eq!(s.staleness_sum, 0);
        assert_eq!(s.apply_order, vec![1; 12]);
        assert_eq!(opt.version, 12);
        assert_ne!(
            learner.policy.get_weights().unwrap(),
            before,
            "gradients were applied"
        );
    }

    #[test]
    fn remote_gradients_count_their_staleness_in_weight_versions() {
        let (mut opt, mut learner) = setup(3);
        let s = opt.step(&mut learner, &mut None).unwrap();
        assert_eq!(s.applied, 12);
        assert_eq!(s.apply_order.len(), 12);
        assert!(s.apply_order.iter().all(|w| (1..=3).contains(w)));
        // The first three gradients were all computed on version 0 and applied at versions
        // 0, 1 and 2 (in whatever order they arrived), so at least 0 + 1 + 2 is stale.
        assert!(s.staleness_sum >= 3, "{}", s.staleness_sum);
        let s2 = opt.step(&mut learner, &mut None).unwrap();
        assert_eq!(opt.version, 24);
        assert_eq!(s2.applied, 12);
    }
}
