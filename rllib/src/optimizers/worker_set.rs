//! `WorkerSet`: the local rollout worker, or remote ones running as runtime actors of a
//! registered class, recreated when they fail.
//!
//! Remote workers are actors of the registered class `rllib::RolloutWorker`, called only
//! through registered methods, so they run as threads of the trainer's process or, with
//! `worker_isolation: process`, each in a worker process of its own (the trainer's binary
//! started again: its `main` must call `runtime::worker_main_if_requested()` first, as the
//! `rllib` binary does).
//!
//! Failures (RLlib's `restart_failed_env_runners`): a worker whose process dies, whose env
//! panics or whose call fails otherwise is replaced by a new actor with the same index and
//! config (so the same seed stream, as RLlib recreates workers), marked
//! `recreated_worker`, and synced with the learner's latest weights and filter. At most
//! `max_num_env_runner_restarts` replacements are made per trainer; with restarts off, or
//! past that bound, the failure is an error naming the worker. A worker whose constructor
//! fails is an error at once (a restart would fail the same way).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use runtime::{
    ActorClass, ActorHandle, ActorMethod, Isolation, ObjectRef, Resources, Runtime, RuntimeConfig,
    RuntimeError, RuntimeHandle,
};

use crate::algorithms::a3c::{compute_gradients, A3cLossConfig, Gradients};
use crate::config::{TrainerConfig, WorkerIsolation};
use crate::error::{NoRestart, Result, RllibError};
use crate::evaluation::rollout_worker::WorkerState;
use crate::evaluation::{RolloutWorker, RunningStat, SampleBatch, WorkerConfig};
use crate::policy::Weights;

/// A remote worker's actor state: the worker, or why it could not be built.
pub type WorkerSlot = std::result::Result<RolloutWorker, String>;

/// Weights and filter statistics sent to workers through the object store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Broadcast {
    /// The learner's weights.
    pub weights: Weights,
    /// The learner's merged filter statistics.
    pub filter: Option<RunningStat>,
}

/// A sample batch and the seconds the worker took to sample it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimedSample {
    /// The batch.
    pub batch: SampleBatch,
    /// Sampling time, s.
    pub seconds: f64,
}

/// Runs `f` on a worker slot; a failed start or an error becomes the call's error message.
fn on_worker<R>(
    slot: &mut WorkerSlot,
    f: impl FnOnce(&mut RolloutWorker) -> Result<R>,
) -> std::result::Result<R, String> {
    match slot {
        Ok(w) => f(w).map_err(|e| e.to_string()),
        Err(e) => Err(format!("rollout worker could not start: {e}")),
    }
}

fn sync_worker(w: &mut RolloutWorker, b: &Broadcast) -> Result<()> {
    w.set_weights(&b.weights)?;
    if let Some(f) = &b.filter {
        w.sync_filter(f);
    }
    Ok(())
}

/// The rollout worker actor class: built from its `WorkerConfig` in whichever thread or
/// process the runtime gives it.
static ROLLOUT_WORKER: ActorClass<WorkerSlot, (WorkerConfig,)> =
    ActorClass::new("rllib::RolloutWorker", |(cfg,)| {
        RolloutWorker::new(cfg).map_err(|e| e.to_string())
    });
/// Resolves once the worker is built; fails if its constructor failed.
static READY: ActorMethod<WorkerSlot, (), ()> =
    ActorMethod::fallible("rllib::RolloutWorker::ready", |s, ()| match s {
        Ok(_) => Ok(()),
        Err(e) => Err(e.clone().into()),
    });
/// Loads the learner's weights and filter statistics.
static SYNC: ActorMethod<WorkerSlot, (Broadcast,), ()> =
    ActorMethod::fallible("rllib::RolloutWorker::sync", |s, (b,)| {
        Ok(on_worker(s, |w| sync_worker(w, &b))?)
    });
/// One postprocessed fragment.
static SAMPLE: ActorMethod<WorkerSlot, (), SampleBatch> =
    ActorMethod::fallible("rllib::RolloutWorker::sample", |s, ()| {
        Ok(on_worker(s, |w| w.sample())?)
    });
/// One fragment with its sampling time (A3C).
static SAMPLE_TIMED: ActorMethod<WorkerSlot, (), TimedSample> =
    ActorMethod::fallible("rllib::RolloutWorker::sample_timed", |s, ()| {
        let t0 = std::time::Instant::now();
        let batch = on_worker(s, |w| w.sample())?;
        Ok(TimedSample {
            batch,
            seconds: t0.elapsed().as_secs_f64(),
        })
    });
/// The A3C gradient of a sample, on the worker's policy copy (A3C).
static COMPUTE_GRADIENTS: ActorMethod<WorkerSlot, (A3cLossConfig, TimedSample), Gradients> =
    ActorMethod::fallible(
        "rllib::RolloutWorker::compute_gradients",
        |s, (loss, sample)| {
            Ok(on_worker(s, |w| {
                let mut g = compute_gradients(w.policy(), &sample.batch, &loss)?;
                g.sample_time_s = sample.seconds + g.grad_time_s;
                Ok(g)
            })?)
        },
    );
/// The worker's state, for checkpoints.
static GET_STATE: ActorMethod<WorkerSlot, (), WorkerState> =
    ActorMethod::fallible("rllib::RolloutWorker::state", |s, ()| {
        Ok(on_worker(s, |w| w.state())?)
    });
/// Puts the worker into a checkpointed state.
static SET_STATE: ActorMethod<WorkerSlot, (WorkerState,), ()> =
    ActorMethod::fallible("rllib::RolloutWorker::restore_state", |s, (st,)| {
        Ok(on_worker(s, |w| w.restore_state(&st))?)
    });

runtime::register!(
    ROLLOUT_WORKER,
    READY,
    SYNC,
    SAMPLE,
    SAMPLE_TIMED,
    COMPUTE_GRADIENTS,
    GET_STATE,
    SET_STATE
);

/// Whether failed remote workers are recreated, and how often at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// `restart_failed_env_runners`.
    pub enabled: bool,
    /// `max_num_env_runner_restarts`.
    pub max_restarts: u32,
}

/// One remote worker: its actor and the calls whose errors are still to be read.
struct RemoteWorker {
    handle: ActorHandle<WorkerSlot>,
    /// Resolves once the constructor ran; an error there means it can never start.
    ready: ObjectRef<()>,
    /// Calls made without waiting for them (a recreated worker's sync); they run before
    /// any later call on the actor, so they are resolved when a later call is.
    unchecked: Vec<ObjectRef<()>>,
    /// How many times this slot's worker was recreated (calls to an earlier one fail, but
    /// that failure is already handled).
    generation: u64,
}

/// A3C's chain on one worker: load weights, sample, compute the gradient of that sample.
pub struct GradientCall {
    /// The worker it was submitted to (its slot's generation).
    generation: u64,
    /// Loading the weights the gradient is computed on.
    pub sync: ObjectRef<()>,
    /// The gradient.
    pub grads: ObjectRef<Gradients>,
}

/// Remote rollout workers as runtime actors, in index order (worker 1 first).
pub struct RemoteWorkers {
    runtime: RuntimeHandle,
    configs: Vec<WorkerConfig>,
    workers: Vec<RemoteWorker>,
    latest: Option<ObjectRef<Broadcast>>,
    policy: RestartPolicy,
    restarts: u64,
    /// What each worker holds (`num_cpus_per_worker` and the like).
    per_worker: Resources,
    /// The runtime when the trainer made its own (dropped last: it shuts everything down).
    _owned: Option<Runtime>,
}

/// Where a trainer's remote rollout workers run.
#[derive(Clone)]
pub enum WorkerRuntime {
    /// A runtime of the trainer's own on this machine, sized so every worker fits, running
    /// workers as `worker_isolation` says.
    Own,
    /// A runtime the caller owns (shared with other work), as it runs actors.
    Shared(RuntimeHandle),
    /// The cluster whose head is at this address (`HOST:PORT`): workers run in worker
    /// processes on its nodes, placed by `num_cpus_per_worker`, `num_gpus_per_worker` and
    /// `custom_resources_per_worker`; the learner stays here.
    Cluster(String),
}

/// The rollout workers of a trainer.
pub enum WorkerSet {
    /// `num_workers: 0`: the driver samples with its own worker.
    Local(Box<RolloutWorker>),
    /// Remote workers as runtime actors.
    Remote(RemoteWorkers),
}

impl WorkerSet {
    /// Builds the workers for `config`: the local worker, or remote ones (starting in
    /// parallel) on `runtime`, or on a runtime of their own sized so that every worker fits
    /// and run as `worker_isolation` says.
    pub fn new(config: &TrainerConfig, seed: u64, runtime: WorkerRuntime) -> Result<Self> {
        if config.num_workers == 0 {
            if let WorkerRuntime::Cluster(a) = &runtime {
                tracing::warn!("num_workers is 0: the driver samples itself and the cluster at {a} is not used");
            }
            let w = RolloutWorker::new(WorkerConfig::from_trainer(config, seed, 0))?;
            return Ok(WorkerSet::Local(Box::new(w)));
        }
        let (handle, owned) = match runtime {
            WorkerRuntime::Cluster(address) => {
                let rt = Runtime::new(
                    RuntimeConfig::default()
                        .address(address)
                        .isolation(Isolation::Process),
                )?;
                (rt.handle(), Some(rt))
            }
            WorkerRuntime::Shared(h) => {
                let wanted = isolation(config.worker_isolation);
                if h.isolation() != wanted {
                    tracing::warn!(
                        "worker_isolation is {:?} but the given runtime runs {:?} workers; the runtime's mode is used",
                        wanted,
                        h.isolation()
                    );
                }
                (h, None)
            }
            WorkerRuntime::Own => {
                // Every worker fits: a config written for a bigger machine still runs here.
                let cpus = std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1) as f64;
                let n = config.num_workers as f64;
                let mut rc = RuntimeConfig::default()
                    .num_cpus((n * config.num_cpus_per_worker).max(cpus))
                    .num_gpus(n * config.num_gpus_per_worker)
                    .isolation(isolation(config.worker_isolation));
                for (name, v) in &config.custom_resources_per_worker {
                    rc = rc.resource(name, n * v);
                }
                let rt = Runtime::new(rc)?;
                (rt.handle(), Some(rt))
            }
        };
        let mut per_worker =
            Resources::cpus(config.num_cpus_per_worker).with_gpus(config.num_gpus_per_worker);
        for (name, v) in &config.custom_resources_per_worker {
            per_worker = per_worker.with(name, *v);
        }
        let mut set = RemoteWorkers {
            runtime: handle,
            per_worker,
            configs: (1..=config.num_workers)
                .map(|i| WorkerConfig::from_trainer(config, seed, i))
                .collect(),
            workers: Vec::new(),
            latest: None,
            policy: RestartPolicy {
                enabled: config.restart_failed_env_runners,
                max_restarts: config.max_num_env_runner_restarts,
            },
            restarts: 0,
            _owned: owned,
        };
        for i in 0..set.configs.len() {
            let w = set.spawn(set.configs[i].clone())?;
            set.workers.push(w);
        }
        Ok(WorkerSet::Remote(set))
    }

    /// Number of workers that sample (1 for the local worker).
    pub fn len(&self) -> usize {
        match self {
            WorkerSet::Local(_) => 1,
            WorkerSet::Remote(r) => r.workers.len(),
        }
    }

    /// Whether there is no worker (never: a set has the local worker or remote ones).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Remote workers that are up (0 for the local worker).
    pub fn num_healthy(&self) -> usize {
        match self {
            WorkerSet::Local(_) => 0,
            WorkerSet::Remote(r) => r.num_healthy(),
        }
    }

    /// Remote workers recreated after failures so far.
    pub fn num_restarts(&self) -> u64 {
        match self {
            WorkerSet::Local(_) => 0,
            WorkerSet::Remote(r) => r.restarts,
        }
    }

    /// Sends weights and filter statistics to every worker.
    pub fn sync(&mut self, weights: Weights, filter: Option<RunningStat>) -> Result<()> {
        match self {
            WorkerSet::Local(w) => sync_worker(w, &Broadcast { weights, filter }),
            WorkerSet::Remote(r) => r.sync(Broadcast { weights, filter }),
        }
    }

    /// One fragment from every worker, in worker order. A remote worker that fails is
    /// recreated and its fragment of this round left out.
    pub fn sample(&mut self) -> Result<Vec<SampleBatch>> {
        match self {
            WorkerSet::Local(w) => Ok(vec![w.sample()?]),
            WorkerSet::Remote(r) => r.sample(),
        }
    }

    /// Every worker's state, for checkpoints.
    pub fn states(&mut self) -> Result<Vec<WorkerState>> {
        match self {
            WorkerSet::Local(w) => Ok(vec![w.state()?]),
            WorkerSet::Remote(r) => r.states(),
        }
    }

    /// Puts every worker back into a checkpointed state.
    pub fn restore_states(&mut self, states: &[WorkerState]) -> Result<()> {
        if states.len() != self.len() {
            return Err(RllibError::Mismatch {
                what: "rollout worker states in the checkpoint",
                expected: format!("{} (this trainer's workers)", self.len()),
                got: states.len().to_string(),
            });
        }
        match self {
            WorkerSet::Local(w) => w.restore_state(&states[0]),
            WorkerSet::Remote(r) => r.restore_states(states),
        }
    }
}

fn isolation(w: WorkerIsolation) -> Isolation {
    match w {
        WorkerIsolation::Thread => Isolation::Thread,
        WorkerIsolation::Process => Isolation::Process,
    }
}

/// A runtime error as one line (panic messages may span several).
fn one_line(e: &RuntimeError) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl RemoteWorkers {
    fn spawn(&self, cfg: WorkerConfig) -> Result<RemoteWorker> {
        let handle = self
            .runtime
            .actor(&ROLLOUT_WORKER, (cfg,))
            .resources(self.per_worker.clone())
            .spawn()?;
        let ready = handle.method(&READY, ());
        Ok(RemoteWorker {
            handle,
            ready,
            unchecked: Vec::new(),
            generation: 0,
        })
    }

    /// The runtime the workers live on.
    pub fn runtime(&self) -> &RuntimeHandle {
        &self.runtime
    }

    /// Number of remote workers.
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// Whether there are none (never, once built).
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// Workers whose constructor has run (a recreated one counts once it is up).
    pub fn num_healthy(&self) -> usize {
        let readies: Vec<ObjectRef<()>> = self.workers.iter().map(|w| w.ready.clone()).collect();
        let (ready, _) = self
            .runtime
            .wait(&readies, readies.len(), Some(Duration::ZERO));
        ready.iter().filter(|r| self.runtime.get(r).is_ok()).count()
    }

    /// Puts `b` in the object store as the latest broadcast and returns its ref.
    pub fn put_broadcast(&mut self, b: Broadcast) -> ObjectRef<Broadcast> {
        let r = self.runtime.put(b);
        self.latest = Some(r.clone());
        r
    }

    fn sync(&mut self, b: Broadcast) -> Result<()> {
        let b = self.put_broadcast(b);
        let refs: Vec<_> = self
            .workers
            .iter()
            .map(|w| w.handle.method(&SYNC, (&b,)))
            .collect();
        for (i, r) in refs.iter().enumerate() {
            if let Err(e) = self.runtime.get(r).and_then(|()| self.settle(i)) {
                self.recover(i, e)?;
            }
        }
        Ok(())
    }

    fn sample(&mut self) -> Result<Vec<SampleBatch>> {
        let refs: Vec<_> = self
            .workers
            .iter()
            .map(|w| w.handle.method(&SAMPLE, ()))
            .collect();
        let mut out = Vec::with_capacity(refs.len());
        for (i, r) in refs.iter().enumerate() {
            match self.runtime.get(r).and_then(|b| self.settle(i).map(|()| b)) {
                Ok(b) => out.push(b),
                Err(e) => self.recover(i, e)?,
            }
        }
        Ok(out)
    }

    fn states(&mut self) -> Result<Vec<WorkerState>> {
        let refs: Vec<_> = self
            .workers
            .iter()
            .map(|w| w.handle.method(&GET_STATE, ()))
            .collect();
        let mut out = Vec::with_capacity(refs.len());
        for (i, r) in refs.iter().enumerate() {
            let st = match self.runtime.get(r).and_then(|s| self.settle(i).map(|()| s)) {
                Ok(s) => s,
                Err(e) => {
                    // The recreated worker's state is the worker's state now.
                    self.recover(i, e)?;
                    let r = self.workers[i].handle.method(&GET_STATE, ());
                    self.runtime.get(&r)?
                }
            };
            out.push(st);
        }
        Ok(out)
    }

    fn restore_states(&mut self, states: &[WorkerState]) -> Result<()> {
        let refs: Vec<_> = self
            .workers
            .iter()
            .zip(states.iter().cloned())
            .map(|(w, st)| w.handle.method(&SET_STATE, (st,)))
            .collect();
        for (i, r) in refs.iter().enumerate() {
            if let Err(e) = self.runtime.get(r).and_then(|()| self.settle(i)) {
                self.recover(i, e)?;
                let r = self.workers[i]
                    .handle
                    .method(&SET_STATE, (states[i].clone(),));
                self.runtime.get(&r)?;
            }
        }
        Ok(())
    }

    /// A3C: on worker `i`, load the broadcast `b`, sample, and compute the gradient of that
    /// sample; the sample's ref goes straight into the gradient call.
    pub fn submit_gradient(
        &self,
        i: usize,
        b: &ObjectRef<Broadcast>,
        loss: A3cLossConfig,
    ) -> GradientCall {
        let h = &self.workers[i].handle;
        let sync = h.method(&SYNC, (b,));
        let sample = h.method(&SAMPLE_TIMED, ());
        let grads = h.method(&COMPUTE_GRADIENTS, (loss, &sample));
        GradientCall {
            generation: self.workers[i].generation,
            sync,
            grads,
        }
    }

    /// A3C: the gradient of a finished call; `None` when worker `i` failed (it is recreated,
    /// or the error says why not) or the call went to a worker already replaced.
    pub fn take_gradient(&mut self, i: usize, call: &GradientCall) -> Result<Option<Gradients>> {
        // The gradient is computed after the sync; a failed sync means stale weights.
        let got = self
            .runtime
            .get(&call.grads)
            .and_then(|g| self.runtime.get(&call.sync).map(|()| g));
        if call.generation != self.workers[i].generation {
            return Ok(None);
        }
        match got.and_then(|g| self.settle(i).map(|()| g)) {
            Ok(g) => Ok(Some(g)),
            Err(e) => self.recover(i, e).map(|()| None),
        }
    }

    /// Reads the errors of worker `i`'s unchecked calls (all resolved once a later call is).
    fn settle(&mut self, i: usize) -> std::result::Result<(), RuntimeError> {
        for r in std::mem::take(&mut self.workers[i].unchecked) {
            self.runtime.get(&r)?;
        }
        Ok(())
    }

    /// Handles a failed call of worker `i` (0-based): recreates the worker (same index and
    /// config, synced with the latest broadcast) if the restart policy allows, else returns
    /// the error naming it. Calls already submitted to the old worker are dropped.
    pub fn recover(&mut self, i: usize, err: RuntimeError) -> Result<()> {
        if matches!(err, RuntimeError::Shutdown) {
            return Err(err.into());
        }
        let index = i + 1;
        let cause = one_line(&err);
        // A constructor that failed (its process alive) fails again on a restart.
        let w = &self.workers[i];
        let (built, _) = self
            .runtime
            .wait(std::slice::from_ref(&w.ready), 1, Some(Duration::ZERO));
        if !built.is_empty() {
            if let Err(e @ RuntimeError::TaskFailed { .. }) = self.runtime.get(&w.ready) {
                return Err(RllibError::WorkerStart {
                    index,
                    cause: one_line(&e),
                });
            }
        }
        if !self.policy.enabled {
            return Err(RllibError::WorkerFailed {
                index,
                cause,
                reason: NoRestart::Disabled,
            });
        }
        if self.restarts >= u64::from(self.policy.max_restarts) {
            return Err(RllibError::WorkerFailed {
                index,
                cause,
                reason: NoRestart::Exhausted {
                    max: self.policy.max_restarts,
                },
            });
        }
        self.workers[i].handle.kill();
        let mut cfg = self.configs[i].clone();
        cfg.recreated_worker = true;
        let mut fresh = self.spawn(cfg)?;
        fresh.generation = self.workers[i].generation + 1;
        if let Some(b) = &self.latest {
            fresh.unchecked.push(fresh.handle.method(&SYNC, (b,)));
        }
        self.workers[i] = fresh;
        self.restarts += 1;
        tracing::warn!(
            "rollout worker {index} failed ({cause}); recreated it (restart {} of at most {})",
            self.restarts,
            self.policy.max_restarts
        );
        Ok(())
    }
}
