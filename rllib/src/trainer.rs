//! The `Trainer` API: build from a config, `train()`, `save()`, `restore()`,
//! `compute_action()`, `evaluate()`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use runtime::RuntimeHandle;

use crate::algorithm::Algorithm;
use crate::algorithms::a3c::{compute_gradients, A3cLossConfig};
use crate::algorithms::Learner;
use crate::config::{FilterKind, TrainerConfig};
use crate::error::{Result, RllibError};
use crate::evaluation::rollout_worker::WorkerState;
use crate::evaluation::{EpisodeStats, MeanStdFilter, MetricsWindow, RunningStat, SampleBatch};
use crate::logging::checkpoint::{self, CheckpointState};
use crate::optimizers::{AsyncGradientsOptimizer, SyncSamplesOptimizer, WorkerRuntime, WorkerSet};
use crate::policy::TorchPolicy;
use crate::result::{
    unix_now, AsyncGradientsStats, EpisodeMetrics, LearnerStats, Timers, TrainingResult,
};

/// What `evaluate` measured.
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluationResult {
    /// Episodes run.
    pub episodes: usize,
    /// Mean undiscounted return.
    pub mean_return: f64,
    /// Mean episode length.
    pub mean_length: f64,
}

/// How samples reach the learner: RLlib's policy optimizers.
enum Optimizer {
    /// PPO and A2C: gather a batch from every worker, learn on the learner.
    Sync(SyncSamplesOptimizer),
    /// A3C: workers send gradients, applied as they arrive.
    Async(AsyncGradientsOptimizer),
}

impl Optimizer {
    fn workers(&mut self) -> &mut WorkerSet {
        match self {
            Optimizer::Sync(o) => o.workers(),
            Optimizer::Async(o) => o.workers(),
        }
    }

    fn worker_set(&self) -> &WorkerSet {
        match self {
            Optimizer::Sync(o) => o.worker_set(),
            Optimizer::Async(o) => o.worker_set(),
        }
    }
}

/// What one inner step of an iteration produced.
struct StepOutcome {
    steps: usize,
    episodes: Vec<EpisodeStats>,
    learner: LearnerStats,
    async_gradients: Option<AsyncGradientsStats>,
    sample_time: f64,
    learn_time: f64,
    update_time: f64,
}

/// A trainer for one algorithm on one env: the learner, its rollout workers and counters.
///
/// With remote workers in process mode (`worker_isolation: process`) the worker processes
/// are this program started again: its `main` must call `runtime::worker_main_if_requested()`
/// before anything else, as the `rllib` binary does.
pub struct Trainer {
    config: TrainerConfig,
    algorithm: Algorithm,
    seed: u64,
    learner: Learner,
    optimizer: Optimizer,
    filter: Option<RunningStat>,
    metrics: MetricsWindow,
    iteration: u64,
    timesteps_total: u64,
    steps_trained: u64,
    time_total_s: f64,
    action_rng: rand_chacha::ChaCha8Rng,
}

impl Trainer {
    /// Builds the learner and the rollout workers for `config` running `algorithm` (RLlib's
    /// name: `PPO`, `A3C`, `A2C`), on a runtime of its own when there are remote workers.
    pub fn new(algorithm: &str, config: TrainerConfig) -> Result<Trainer> {
        Self::build(algorithm.parse()?, config, WorkerRuntime::Own)
    }

    /// As [`Trainer::new`], with the algorithm as a type.
    pub fn from_algorithm(algorithm: Algorithm, config: TrainerConfig) -> Result<Trainer> {
        Self::build(algorithm, config, WorkerRuntime::Own)
    }

    /// Builds the trainer with its remote rollout workers on the cluster whose head is at
    /// `address` (`HOST:PORT`); the learner stays in this process.
    pub fn on_cluster(
        address: &str,
        algorithm: Algorithm,
        config: TrainerConfig,
    ) -> Result<Trainer> {
        Self::build(
            algorithm,
            config,
            WorkerRuntime::Cluster(address.to_string()),
        )
    }

    /// Builds the trainer on a runtime the caller owns (shared with other work): remote
    /// rollout workers become actors there, each holding one CPU of it, and run as that
    /// runtime runs actors (threads or processes; `worker_isolation` is not consulted).
    pub fn with_runtime(
        runtime: RuntimeHandle,
        algorithm: Algorithm,
        config: TrainerConfig,
    ) -> Result<Trainer> {
        Self::build(algorithm, config, WorkerRuntime::Shared(runtime))
    }

    fn build(
        algorithm: Algorithm,
        config: TrainerConfig,
        runtime: WorkerRuntime,
    ) -> Result<Trainer> {
        let seed = config.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        });
        tch::set_num_threads(i32::try_from(config.num_threads_per_worker).unwrap_or(i32::MAX));
        let probe = envs::make_with_config(&config.env, &config.env_config)?;
        let obs_space = probe.observation_space().clone();
        let action_space = probe.action_space().clone();
        drop(probe);
        let device =
            crate::policy::torch_policy::resolve_device(config.device.as_deref(), config.num_gpus)?;
        let policy = TorchPolicy::new(&obs_space, &action_space, &config.model, seed, device)?;
        let learner = Learner::new(policy, &config, seed);
        let workers = WorkerSet::new(&config, seed, runtime)?;
        let optimizer = if algorithm.is_async() {
            Optimizer::Async(AsyncGradientsOptimizer::new(&config, workers))
        } else {
            Optimizer::Sync(SyncSamplesOptimizer::new(workers))
        };
        let filter = match config.observation_filter {
            FilterKind::MeanStdFilter => Some(RunningStat::new(obs_space.flat_dim())),
            FilterKind::NoFilter => None,
        };
        let metrics = MetricsWindow::new(config.metrics_smoothing_episodes);
        Ok(Trainer {
            config,
            algorithm,
            seed,
            learner,
            optimizer,
            filter,
            metrics,
            iteration: 0,
            timesteps_total: 0,
            steps_trained: 0,
            time_total_s: 0.0,
            action_rng: rand::SeedableRng::seed_from_u64(seed ^ 0xac7),
        })
    }

    /// The resolved config.
    pub fn config(&self) -> &TrainerConfig {
        &self.config
    }

    /// The runtime the remote rollout workers live on (`None` with `num_workers: 0`).
    pub fn runtime(&self) -> Option<RuntimeHandle> {
        match self.optimizer.worker_set() {
            WorkerSet::Local(_) => None,
            WorkerSet::Remote(r) => Some(r.runtime().clone()),
        }
    }

    /// The seed actually used (the config's, or one picked at start).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Iterations trained so far.
    pub fn iteration(&self) -> u64 {
        self.iteration
    }

    /// The learner's policy.
    pub fn policy(&self) -> &TorchPolicy {
        &self.learner.policy
    }

    /// One training iteration: optimizer steps until `min_iter_time_s` has passed (at least
    /// one). PPO and A2C: broadcast weights, gather `train_batch_size` steps, learn. A3C:
    /// apply `grads_per_step` gradients from whichever workers finish first.
    /// `TrainingResult::to_json` gives RLlib's nested result.
    pub fn train(&mut self) -> Result<TrainingResult> {
        let start = Instant::now();
        let mut steps = 0usize;
        let mut episodes = Vec::new();
        let mut timers = Timers::default();
        let last = loop {
            if let Some(points) = &self.config.lr_schedule {
                self.learner.adam.lr =
                    crate::config::piecewise(points, self.timesteps_total as f64);
            }
            let out = self.step()?;
            self.timesteps_total += out.steps as u64;
            self.steps_trained += out.steps as u64;
            steps += out.steps;
            episodes.extend_from_slice(&out.episodes);
            timers.sample_time_ms += out.sample_time * 1e3;
            timers.learn_time_ms += out.learn_time * 1e3;
            timers.update_time_ms += out.update_time * 1e3;
            if start.elapsed().as_secs_f64() >= self.config.min_iter_time_s {
                break out;
            }
        };
        self.metrics.extend(&episodes);
        self.iteration += 1;
        let dt = start.elapsed().as_secs_f64();
        self.time_total_s += dt;
        let (return_mean, return_min, return_max) = self.metrics.returns();
        let workers = self.optimizer.worker_set();
        Ok(TrainingResult {
            training_iteration: self.iteration,
            timesteps_total: self.timesteps_total,
            timesteps_this_iter: steps as u64,
            episodes_this_iter: episodes.len() as u64,
            episodes_total: self.metrics.episodes_total,
            num_steps_trained: self.steps_trained,
            episodes: EpisodeMetrics {
                return_mean,
                return_min,
                return_max,
                len_mean: self.metrics.mean_length(),
            },
            time_this_iter_s: dt,
            time_total_s: self.time_total_s,
            timestamp: unix_now(),
            done: false,
            timers,
            learner: last.learner,
            async_gradients: last.async_gradients,
            num_healthy_workers: workers.num_healthy(),
            num_remote_worker_restarts: workers.num_restarts(),
        })
    }

    fn step(&mut self) -> Result<StepOutcome> {
        match &mut self.optimizer {
            Optimizer::Sync(opt) => {
                let t_update = Instant::now();
                opt.broadcast(self.learner.policy.get_weights()?, self.filter.clone())?;
                let update_time = t_update.elapsed().as_secs_f64();
                let t_sample = Instant::now();
                let batch: SampleBatch = opt.gather(self.config.train_batch_size)?;
                let sample_time = t_sample.elapsed().as_secs_f64();
                if let (Some(central), Some(delta)) = (&mut self.filter, &batch.filter_delta) {
                    central.merge(delta);
                }
                let t_learn = Instant::now();
                let learner = if self.algorithm.uses_ppo_loss() {
                    LearnerStats::Ppo(self.learner.learn_on_batch(&batch)?)
                } else {
                    let loss = A3cLossConfig::from_config(&self.config);
                    let g = compute_gradients(&self.learner.policy, &batch, &loss)?;
                    self.learner.apply_gradients(&g.flat)?;
                    let mut stats = g.stats;
                    stats.cur_lr = self.learner.adam.lr;
                    LearnerStats::A3c(stats)
                };
                Ok(StepOutcome {
                    steps: batch.count,
                    episodes: batch.episodes,
                    learner,
                    async_gradients: None,
                    sample_time,
                    learn_time: t_learn.elapsed().as_secs_f64(),
                    update_time,
                })
            }
            Optimizer::Async(opt) => {
                let t0 = Instant::now();
                let s = opt.step(&mut self.learner, &mut self.filter)?;
                let mut last = s.last;
                last.cur_lr = self.learner.adam.lr;
                let mut grads_per_worker = std::collections::BTreeMap::new();
                for w in &s.apply_order {
                    *grads_per_worker.entry(w.to_string()).or_insert(0u64) += 1;
                }
                let stats = AsyncGradientsStats {
                    num_grads_applied: s.applied,
                    mean_grad_staleness: s.staleness_sum as f64 / s.applied.max(1) as f64,
                    weights_version: opt.version,
                    worker_sample_and_grad_time_ms: s.worker_time_s * 1e3,
                    grads_per_s: s.applied as f64 / t0.elapsed().as_secs_f64().max(1e-9),
                    grads_per_worker,
                };
                Ok(StepOutcome {
                    steps: s.steps,
                    episodes: s.episodes,
                    learner: LearnerStats::A3c(last),
                    async_gradients: Some(stats),
                    sample_time: 0.0,
                    learn_time: s.apply_time_s,
                    update_time: 0.0,
                })
            }
        }
    }

    /// Writes a checkpoint `checkpoint_<iteration>` under `dir` and returns its path.
    pub fn save(&mut self, dir: &Path) -> Result<PathBuf> {
        let workers = self.optimizer.workers().states()?;
        let state = CheckpointState {
            format: checkpoint::FORMAT.into(),
            version: checkpoint::VERSION,
            algorithm: self.algorithm,
            env: self.config.env.clone(),
            model: self.config.model.clone(),
            config: self.config.clone(),
            seed: self.seed,
            iteration: self.iteration,
            timesteps_total: self.timesteps_total,
            steps_trained: self.steps_trained,
            time_total_s: self.time_total_s,
            kl_coeff: self.learner.kl_coeff,
            adam_step: self.learner.adam.step,
            filter: self.filter.clone(),
            metrics: self.metrics.clone(),
            learner_rng: self.learner.rng.clone(),
            workers,
        };
        checkpoint::write(dir, self.iteration, &state, &self.learner)
    }

    /// Restores a checkpoint written by `save` (the directory, or the file inside it).
    pub fn restore(&mut self, path: &Path) -> Result<()> {
        let state = checkpoint::read(path, self.algorithm, &mut self.learner)?;
        if state.config.model != self.config.model || state.env != self.config.env {
            return Err(RllibError::Checkpoint {
                path: path.to_path_buf(),
                message: format!(
                    "it was trained on {} with model {:?}, this trainer runs {} with model {:?}",
                    state.env, state.model, self.config.env, self.config.model
                ),
            });
        }
        self.iteration = state.iteration;
        self.timesteps_total = state.timesteps_total;
        self.steps_trained = state.steps_trained;
        self.time_total_s = state.time_total_s;
        self.learner.kl_coeff = state.kl_coeff;
        self.learner.adam.step = state.adam_step;
        self.learner.rng = state.learner_rng;
        self.filter = state.filter;
        self.metrics = state.metrics;
        self.restore_worker_states(&state.workers)
    }

    fn restore_worker_states(&mut self, st: &[WorkerState]) -> Result<()> {
        self.optimizer.workers().restore_states(st)
    }

    /// Loads only the policy (weights, filter) of a checkpoint, for evaluation.
    pub fn restore_policy_only(&mut self, path: &Path) -> Result<()> {
        let state = checkpoint::read(path, self.algorithm, &mut self.learner)?;
        self.filter = state.filter;
        self.iteration = state.iteration;
        Ok(())
    }

    /// The action for one observation, as RLlib's `compute_action`: sampled when the
    /// config's `explore` is set (from the trainer's own seeded generator), else the most
    /// likely one. Continuous actions are returned as sampled, before clipping.
    pub fn compute_action(&mut self, obs: &[f32]) -> Result<Vec<f32>> {
        let mut rng = std::mem::replace(&mut self.action_rng, rand::SeedableRng::seed_from_u64(0));
        let out = self.compute_action_with(obs, self.config.explore, &mut rng);
        self.action_rng = rng;
        out
    }

    /// The action for one observation (as the env returns it; the filter is applied
    /// without updating): sampled with `rng` when `explore`, else the most likely one.
    pub fn compute_action_with(
        &self,
        obs: &[f32],
        explore: bool,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Result<Vec<f32>> {
        let policy = &self.learner.policy;
        if obs.len() != policy.obs_dim {
            return Err(RllibError::ObservationSize {
                expected: policy.obs_dim,
                got: obs.len(),
            });
        }
        let mut o = obs.to_vec();
        if let Some(rs) = &self.filter {
            let mut f = MeanStdFilter::new(rs.mean.len());
            f.sync(rs);
            f.apply(&mut o, false);
        }
        let inputs = policy.dist_inputs(&o)?;
        let mut out = Vec::new();
        if explore {
            policy.dist.sample(&inputs, rng, &mut out);
        } else {
            policy.dist.deterministic(&inputs, &mut out);
        }
        Ok(out)
    }

    /// Runs `episodes` episodes with the current policy on a fresh env and reports the
    /// mean return (deterministic actions unless `explore`).
    pub fn evaluate(&self, episodes: usize, explore: bool) -> Result<EvaluationResult> {
        use rand::SeedableRng;
        let mut env = envs::make_with_config(&self.config.env, &self.config.env_config)?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed ^ 0xe7a1);
        let (mut total_r, mut total_len) = (0.0, 0usize);
        for ep in 0..episodes {
            let mut obs = env
                .try_reset(Some(self.seed.wrapping_add(1_000_000 + ep as u64)))?
                .to_vec();
            loop {
                let mut a = self.compute_action_with(&obs, explore, &mut rng)?;
                crate::evaluation::rollout_worker::to_env_actions(
                    &mut a,
                    env.action_space(),
                    self.config.model.squash_to_range,
                    self.config.clip_actions,
                );
                let action = match env.action_space() {
                    envs::Space::Discrete(_) => envs::Action::Discrete(a[0] as usize),
                    envs::Space::Box { .. } => envs::Action::Continuous(&a),
                };
                let step = env.try_step(action)?;
                total_r += step.reward;
                total_len += 1;
                let done = step.terminated || step.truncated;
                obs = step.obs.to_vec();
                if done {
                    break;
                }
            }
        }
        let n = episodes.max(1) as f64;
        Ok(EvaluationResult {
            episodes,
            mean_return: total_r / n,
            mean_length: total_len as f64 / n,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trainer() -> Trainer {
        let user = serde_json::json!({"env": "CartPole-v1", "seed": 2, "num_workers": 0,
            "train_batch_size": 128, "sgd_minibatch_size": 64, "num_sgd_iter": 1,
            "rollout_fragment_length": 128, "model": {"fcnet_hiddens": [8]}});
        let c = crate::config::resolve_config(
            Algorithm::Ppo,
            user.as_object().cloned().unwrap(),
            "t",
            &mut Vec::new(),
        )
        .unwrap();
        Trainer::new("PPO", c).unwrap()
    }

    #[test]
    fn trainer_api_round_trip() {
        let mut t = trainer();
        let r = t.train().unwrap();
        assert_eq!(r.training_iteration, 1);
        assert_eq!(r.timesteps_total, 128);
        let j = r.to_json();
        assert_eq!(j["training_iteration"], 1);
        assert_eq!(j["timesteps_total"], 128);
        assert_eq!(j["num_healthy_workers"], 0);
        let a = t.compute_action(&[0.0, 0.1, 0.0, -0.1]).unwrap();
        assert!(a.len() == 1 && (a[0] == 0.0 || a[0] == 1.0), "{a:?}");
        assert!(
            t.compute_action(&[0.0]).is_err(),
            "a wrong-sized observation is an error"
        );
        let e = t.evaluate(2, false).unwrap();
        assert!(e.mean_length >= 8.0 && e.episodes == 2);
        let dir = std::env::temp_dir().join(format!("trainer-api-{}", std::process::id()));
        let ckpt = t.save(&dir).unwrap();
        let mut u = trainer();
        u.restore(&ckpt).unwrap();
        assert_eq!(u.iteration(), 1);
        assert_eq!(
            u.policy().get_weights().unwrap(),
            t.policy().get_weights().unwrap()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    runtime::remote_fn! {
        fn double(x: i64) -> i64 { x * 2 }
    }

    #[test]
    fn trainer_on_a_caller_owned_runtime_shares_it_with_other_work() {
        let rt = runtime::Runtime::new(runtime::RuntimeConfig::default().num_cpus(3.0)).unwrap();
        let user = serde_json::json!({"env": "CartPole-v1", "seed": 2, "num_workers": 2,
            "train_batch_size": 128, "sgd_minibatch_size": 64, "num_sgd_iter": 1,
            "rollout_fragment_length": 64, "model": {"fcnet_hiddens": [8]}});
        let c = crate::config::resolve_config(
            Algorithm::Ppo,
            user.as_object().cloned().unwrap(),
            "t",
            &mut Vec::new(),
        )
        .unwrap();
        let mut t = Trainer::with_runtime(rt.handle(), Algorithm::Ppo, c).unwrap();
        // The workers are actors of the caller's runtime, one CPU each.
        assert_eq!(rt.available_resources().cpu, 1.0);
        let r = t.train().unwrap();
        assert_eq!(r.timesteps_total, 128);
        assert_eq!(r.num_healthy_workers, 2);
        let x = rt.remote(&double, (21,));
        assert_eq!(rt.get(&x).unwrap(), 42);
        drop(t);
        let y = rt.remote(&double, (4,));
        assert_eq!(rt.get(&y).unwrap(), 8, "the runtime outlives the trainer");
    }
}
