//! `RolloutWorker` (RLlib's policy evaluator): steps a vector env with a policy copy and
//! returns postprocessed sample batches.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use envs::{Space, VectorEnv};

use super::filter::{MeanStdFilter, RunningStat};
use super::metrics::EpisodeStats;
use super::postprocessing::compute_advantages;
use super::sample_batch::SampleBatch;
use crate::config::{BatchMode, FilterKind, ModelConfig, TrainerConfig};
use crate::error::Result;
use crate::policy::{ActionDistKind, TorchPolicy, Weights};

/// What a rollout worker needs of the trainer config (plain data, so it can cross to a
/// worker process).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerConfig {
    /// Env id.
    pub env: String,
    /// `env_config` for the env's constructor (Python envs), as JSON text: the runtime's
    /// binary encoding cannot carry a free-form JSON value.
    #[serde(default)]
    pub env_config: String,
    /// Envs in the worker's vector env.
    pub num_envs: usize,
    /// Steps per env in one fragment.
    pub rollout_fragment_length: usize,
    /// How fragments treat episode ends.
    pub batch_mode: BatchMode,
    /// Discount.
    pub gamma: f64,
    /// GAE lambda.
    pub lambda: f64,
    /// Whether to use GAE.
    pub use_gae: bool,
    /// Observation filter.
    pub observation_filter: FilterKind,
    /// The model.
    pub model: ModelConfig,
    /// Clip continuous actions to the space's bounds before stepping.
    pub clip_actions: bool,
    /// libtorch intra-op threads for this worker.
    pub num_threads: usize,
    /// Base seed of the run.
    pub seed: u64,
    /// Worker index (0: local worker; remote workers 1..=n).
    pub index: usize,
    /// Sampling slowdown factor of this worker (1: none), for experiments.
    pub slowdown: f64,
    /// Whether this worker replaces one that failed (RLlib's `recreated_worker`).
    #[serde(default)]
    pub recreated_worker: bool,
}

impl WorkerConfig {
    /// The worker config for worker `index` of a trainer config.
    pub fn from_trainer(c: &TrainerConfig, seed: u64, index: usize) -> Self {
        WorkerConfig {
            env: c.env.clone(),
            env_config: serde_json::Value::Object(c.env_config.clone()).to_string(),
            num_envs: c.num_envs_per_worker,
            rollout_fragment_length: c.rollout_fragment_length,
            batch_mode: c.batch_mode,
            gamma: c.gamma,
            lambda: c.lambda,
            use_gae: c.use_gae,
            observation_filter: c.observation_filter,
            model: c.model.clone(),
            clip_actions: c.clip_actions,
            num_threads: c.num_threads_per_worker,
            seed,
            index,
            slowdown: c
                .worker_slowdown
                .iter()
                .flatten()
                .find(|[i, _]| *i as usize == index)
                .map(|[_, f]| f.max(1.0))
                .unwrap_or(1.0),
            recreated_worker: false,
        }
    }
}

/// How a trajectory's return is bootstrapped past its last step.
#[derive(Debug, Clone)]
enum Bootstrap {
    /// The episode terminated: nothing follows.
    Zero,
    /// Truncated or cut: the value of this (filtered) observation follows.
    Obs(Vec<f32>),
}

/// The steps of one env since its trajectory began.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Trajectory {
    obs: Vec<f32>,
    actions: Vec<f32>,
    rewards: Vec<f32>,
    terminateds: Vec<bool>,
    truncateds: Vec<bool>,
    logp: Vec<f32>,
    dist_inputs: Vec<f32>,
}

impl Trajectory {
    fn len(&self) -> usize {
        self.rewards.len()
    }
}

/// What a checkpoint keeps of a rollout worker so that sampling continues exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerState {
    /// The action-sampling RNG.
    pub rng: ChaCha8Rng,
    /// The observation filter.
    pub filter: Option<MeanStdFilter>,
    /// Filtered current observations.
    pub cur_obs: Vec<f32>,
    /// Steps sampled so far.
    pub steps_sampled: u64,
    /// Open trajectories (non-empty only with `complete_episodes`).
    open: Vec<Trajectory>,
    /// The vector env mid-episode: every env's dynamics, time-limit counter and RNG.
    pub env: envs::VectorEnvState,
}

/// Steps `num_envs` envs with a local policy copy and turns what happened into batches.
pub struct RolloutWorker {
    cfg: WorkerConfig,
    env: VectorEnv,
    policy: TorchPolicy,
    filter: Option<MeanStdFilter>,
    rng: ChaCha8Rng,
    /// Filtered current observations, one row per env.
    cur_obs: Vec<f32>,
    open: Vec<Trajectory>,
    closed: Vec<(Trajectory, Bootstrap)>,
    episodes: Vec<EpisodeStats>,
    action_dim: usize,
    /// Steps sampled by this worker so far.
    pub steps_sampled: u64,
}

/// The seed of env `j` of worker `index` for a run seeded with `seed`.
fn env_seed(seed: u64, index: usize) -> u64 {
    seed.wrapping_mul(1_000_003)
        .wrapping_add(index as u64 * 10_007)
}

impl RolloutWorker {
    /// Makes the envs and a policy copy (on the CPU), and resets the envs.
    pub fn new(cfg: WorkerConfig) -> Result<RolloutWorker> {
        tch::set_num_threads(i32::try_from(cfg.num_threads).unwrap_or(i32::MAX));
        let env_config: envs::EnvConfig = if cfg.env_config.is_empty() {
            envs::EnvConfig::new()
        } else {
            serde_json::from_str(&cfg.env_config).map_err(|e| {
                crate::error::RllibError::Mismatch {
                    what: "env_config of the worker config",
                    expected: "a JSON object".into(),
                    got: e.to_string(),
                }
            })?
        };
        let mut env = match super::fault_injection::panic_after_steps(cfg.index) {
            Some(steps) if !cfg.recreated_worker => {
                let mut envs = (0..cfg.num_envs)
                    .map(|_| envs::make_with_config(&cfg.env, &env_config))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                let first = envs.remove(0);
                envs.insert(
                    0,
                    Box::new(super::fault_injection::PanicAfter::new(first, steps)),
                );
                VectorEnv::new(envs)?
            }
            _ => VectorEnv::make_with_config(&cfg.env, cfg.num_envs, &env_config)?,
        };
        let obs_space = env.single_observation_space().clone();
        let action_space = env.single_action_space().clone();
        let policy = TorchPolicy::new(
            &obs_space,
            &action_space,
            &cfg.model,
            cfg.seed,
            tch::Device::Cpu,
        )?;
        let obs_dim = obs_space.flat_dim();
        let filter = match cfg.observation_filter {
            FilterKind::NoFilter => None,
            FilterKind::MeanStdFilter => Some(MeanStdFilter::new(obs_dim)),
        };
        let rng = ChaCha8Rng::seed_from_u64(env_seed(cfg.seed, cfg.index) ^ 0x5eed);
        let first = env.try_reset(Some(env_seed(cfg.seed, cfg.index)))?.to_vec();
        let action_dim = policy.dist.action_dim();
        let n = cfg.num_envs;
        let mut w = RolloutWorker {
            cfg,
            env,
            policy,
            filter,
            rng,
            cur_obs: Vec::new(),
            open: vec![Trajectory::default(); n],
            closed: Vec::new(),
            episodes: Vec::new(),
            action_dim,
            steps_sampled: 0,
        };
        w.cur_obs = first;
        for i in 0..n {
            w.filter_row(i, true);
        }
        Ok(w)
    }

    fn filter_row(&mut self, i: usize, update: bool) {
        let d = self.policy.obs_dim;
        if let Some(f) = &mut self.filter {
            f.apply(&mut self.cur_obs[i * d..(i + 1) * d], update);
        }
    }

    /// The worker's observation space.
    pub fn observation_space(&self) -> &Space {
        self.env.single_observation_space()
    }

    /// The worker's action space.
    pub fn action_space(&self) -> &Space {
        self.env.single_action_space()
    }

    /// The worker's policy copy.
    pub fn policy(&self) -> &TorchPolicy {
        &self.policy
    }

    /// Loads the learner's weights.
    pub fn set_weights(&mut self, w: &Weights) -> Result<()> {
        self.policy.set_weights(w)
    }

    /// Replaces the filter statistics with the learner's merged ones.
    pub fn sync_filter(&mut self, base: &RunningStat) {
        if let Some(f) = &mut self.filter {
            f.sync(base);
        }
    }

    /// The worker's state, for a checkpoint (between `sample` calls).
    pub fn state(&self) -> Result<WorkerState> {
        Ok(WorkerState {
            rng: self.rng.clone(),
            filter: self.filter.clone(),
            cur_obs: self.cur_obs.clone(),
            steps_sampled: self.steps_sampled,
            open: self.open.clone(),
            env: self.env.state()?,
        })
    }

    /// Puts the worker back into a checkpointed state. Envs that cannot be snapshotted
    /// (Python envs) start fresh episodes instead, seeded from the run's seed, the worker
    /// index and the steps sampled, so a restored run is still reproducible; everything
    /// else (generator, filter, counters) is restored.
    pub fn restore_state(&mut self, st: &WorkerState) -> Result<()> {
        if st.cur_obs.len() != self.cur_obs.len() || st.open.len() != self.open.len() {
            return Err(crate::error::RllibError::Mismatch {
                what: "envs in the rollout worker state",
                expected: format!("{} (this worker's)", self.open.len()),
                got: st.open.len().to_string(),
            });
        }
        self.rng = st.rng.clone();
        self.filter = st.filter.clone();
        self.steps_sampled = st.steps_sampled;
        if self.env.snapshots_envs() {
            self.env.set_state(&st.env)?;
            self.cur_obs = st.cur_obs.clone();
            self.open = st.open.clone();
        } else {
            let seed = env_seed(self.cfg.seed, self.cfg.index).wrapping_add(st.steps_sampled);
            self.cur_obs = self.env.try_reset(Some(seed))?.to_vec();
            self.open = vec![Trajectory::default(); self.cfg.num_envs];
            for i in 0..self.cfg.num_envs {
                self.filter_row(i, false);
            }
        }
        Ok(())
    }

    /// Samples one fragment per env (`batch_mode` decides where it ends) and postprocesses
    /// it with GAE.
    pub fn sample(&mut self) -> Result<SampleBatch> {
        let t0 = std::time::Instant::now();
        let batch = self.sample_fragment();
        if self.cfg.slowdown > 1.0 {
            std::thread::sleep(t0.elapsed().mul_f64(self.cfg.slowdown - 1.0));
        }
        batch
    }

    fn sample_fragment(&mut self) -> Result<SampleBatch> {
        let n = self.cfg.num_envs;
        let target = self.cfg.rollout_fragment_length * n;
        let mut t = 0;
        loop {
            self.step_once()?;
            t += 1;
            match self.cfg.batch_mode {
                BatchMode::TruncateEpisodes if t >= self.cfg.rollout_fragment_length => {
                    // Cut every open trajectory; its return is bootstrapped from the
                    // value of the observation the next fragment starts from.
                    let d = self.policy.obs_dim;
                    for i in 0..n {
                        let traj = std::mem::take(&mut self.open[i]);
                        if traj.len() > 0 {
                            let boot = self.cur_obs[i * d..(i + 1) * d].to_vec();
                            self.closed.push((traj, Bootstrap::Obs(boot)));
                        }
                    }
                    break;
                }
                BatchMode::CompleteEpisodes
                    if self.closed.iter().map(|(tr, _)| tr.len()).sum::<usize>() >= target =>
                {
                    break
                }
                _ => {}
            }
        }
        self.postprocess()
    }

    fn step_once(&mut self) -> Result<()> {
        let n = self.cfg.num_envs;
        let d = self.policy.obs_dim;
        let k = self.policy.dist.num_inputs();
        let dist_in = self.policy.dist_inputs(&self.cur_obs)?;
        let mut actions = Vec::with_capacity(n * self.action_dim);
        let mut logps = Vec::with_capacity(n);
        for i in 0..n {
            logps.push(self.policy.dist.sample(
                &dist_in[i * k..(i + 1) * k],
                &mut self.rng,
                &mut actions,
            ) as f32);
        }
        let step = match self.policy.dist {
            ActionDistKind::Categorical { .. } => {
                let idx: Vec<usize> = actions.iter().map(|a| *a as usize).collect();
                self.env.step_discrete(&idx)?
            }
            ActionDistKind::DiagGaussian { .. } => {
                let mut env_actions = actions.clone();
                to_env_actions(
                    &mut env_actions,
                    self.env.single_action_space(),
                    self.cfg.model.squash_to_range,
                    self.cfg.clip_actions,
                );
                self.env.step_continuous(&env_actions)?
            }
        };
        let next_obs = step.obs.to_vec();
        let rewards = step.rewards.to_vec();
        let terminated = step.terminated.to_vec();
        let truncated = step.truncated.to_vec();
        for i in 0..n {
            let tr = &mut self.open[i];
            tr.obs.extend_from_slice(&self.cur_obs[i * d..(i + 1) * d]);
            tr.actions
                .extend_from_slice(&actions[i * self.action_dim..(i + 1) * self.action_dim]);
            tr.rewards.push(rewards[i] as f32);
            tr.terminateds.push(terminated[i]);
            tr.truncateds.push(truncated[i]);
            tr.logp.push(logps[i]);
            tr.dist_inputs
                .extend_from_slice(&dist_in[i * k..(i + 1) * k]);
        }
        self.cur_obs = next_obs;
        for i in 0..n {
            if terminated[i] || truncated[i] {
                if let Some(ep) = self.env.finished_episode(i) {
                    self.episodes.push(EpisodeStats {
                        episode_return: ep.episode_return,
                        length: ep.length as usize,
                    });
                }
                let traj = std::mem::take(&mut self.open[i]);
                let boot = if terminated[i] {
                    Bootstrap::Zero
                } else {
                    let mut last = self
                        .env
                        .final_obs(i)
                        .map(<[f32]>::to_vec)
                        .unwrap_or_default();
                    if let Some(f) = &mut self.filter {
                        f.apply(&mut last, false);
                    }
                    Bootstrap::Obs(last)
                };
                self.closed.push((traj, boot));
            }
            self.filter_row(i, true);
        }
        self.steps_sampled += n as u64;
        Ok(())
    }

    /// Values for every closed trajectory in one forward pass, then GAE per trajectory.
    fn postprocess(&mut self) -> Result<SampleBatch> {
        let closed = std::mem::take(&mut self.closed);
        let d = self.policy.obs_dim;
        let mut all_obs: Vec<f32> = Vec::new();
        for (tr, boot) in &closed {
            all_obs.extend_from_slice(&tr.obs);
            if let Bootstrap::Obs(o) = boot {
                all_obs.extend_from_slice(o);
            }
        }
        let values = self.policy.values(&all_obs)?;
        let mut batch = SampleBatch::empty(d, self.action_dim, self.policy.dist.num_inputs());
        let mut at = 0;
        for (tr, boot) in closed {
            let len = tr.len();
            let vf = &values[at..at + len];
            at += len;
            let last_r = match boot {
                Bootstrap::Zero => 0.0,
                Bootstrap::Obs(_) => {
                    at += 1;
                    values[at - 1]
                }
            };
            let (adv, targets) = compute_advantages(
                &tr.rewards,
                vf,
                last_r,
                self.cfg.gamma,
                self.cfg.lambda,
                self.cfg.use_gae,
            );
            batch.count += len;
            batch.obs.extend_from_slice(&tr.obs);
            batch.actions.extend_from_slice(&tr.actions);
            batch.rewards.extend_from_slice(&tr.rewards);
            batch.terminateds.extend_from_slice(&tr.terminateds);
            batch.truncateds.extend_from_slice(&tr.truncateds);
            batch.action_logp.extend_from_slice(&tr.logp);
            batch.action_dist_inputs.extend_from_slice(&tr.dist_inputs);
            batch.vf_preds.extend_from_slice(vf);
            batch.advantages.extend(adv);
            batch.value_targets.extend(targets);
        }
        batch.episodes = std::mem::take(&mut self.episodes);
        batch.filter_delta = self.filter.as_mut().map(|f| f.take_buffer());
        Ok(batch)
    }
}

/// Maps sampled continuous actions to what the env gets: squashed into the bounds with tanh
/// (`squash_to_range`), else clipped to them (`clip_actions`), else unchanged. The batch keeps
/// the sampled actions, whose log-probabilities the losses use.
pub fn to_env_actions(actions: &mut [f32], space: &Space, squash: bool, clip: bool) {
    if squash {
        if let Space::Box { low, high, .. } = space {
            let k = low.len();
            for (j, a) in actions.iter_mut().enumerate() {
                let (l, h) = (low[j % k], high[j % k]);
                *a = l + (a.tanh() + 1.0) * 0.5 * (h - l);
            }
        }
    } else if clip {
        clip_to_space(actions, space);
    }
}

/// Clips a batch of flat continuous actions to a `Box` space's bounds.
pub fn clip_to_space(actions: &mut [f32], space: &Space) {
    if let Space::Box { low, high, .. } = space {
        let k = low.len();
        for (j, a) in actions.iter_mut().enumerate() {
            *a = a.clamp(low[j % k], high[j % k]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(batch_mode: &str, env: &str) -> RolloutWorker {
        let user = serde_json::json!({"env": env, "seed": 5, "num_envs_per_worker": 3,
            "rollout_fragment_length": 50, "batch_mode": batch_mode, "model": {"fcnet_hiddens": [8]}});
        let c = crate::config::resolve_config(
            crate::algorithm::Algorithm::Ppo,
            user.as_object().cloned().unwrap(),
            "t",
            &mut Vec::new(),
        )
        .unwrap();
        RolloutWorker::new(WorkerConfig::from_trainer(&c, 5, 1)).unwrap()
    }

    #[test]
    fn complete_episodes_batches_hold_only_whole_episodes() {
        let mut w = worker("complete_episodes", "CartPole-v1");
        let b = w.sample().unwrap();
        assert!(b.count >= 150, "{}", b.count);
        let ends = b
            .terminateds
            .iter()
            .zip(&b.truncateds)
            .filter(|(t, u)| **t || **u)
            .count();
        assert_eq!(ends, b.episodes.len());
        let last = b.count - 1;
        assert!(
            b.terminateds[last] || b.truncateds[last],
            "the batch ends with an episode end"
        );
        let lens: usize = b.episodes.iter().map(|e| e.length).sum();
        assert_eq!(lens, b.count, "every row belongs to a finished episode");
    }

    #[test]
    fn truncate_episodes_batches_are_exactly_fragment_sized() {
        let mut w = worker("truncate_episodes", "CartPole-v1");
        assert_eq!(w.sample().unwrap().count, 150);
        assert_eq!(w.sample().unwrap().count, 150);
    }

    #[test]
    fn squashed_and_clipped_actions_stay_in_bounds() {
        let space = Space::uniform_box(-2.0, 2.0, &[1]);
        let mut a = [-100.0f32, 0.0, 3.0];
        to_env_actions(&mut a, &space, true, true);
        assert!(
            a.iter().all(|x| (-2.0..=2.0).contains(x)) && a[1] == 0.0,
            "{a:?}"
        );
        let mut c = [-100.0f32, 0.5, 3.0];
        to_env_actions(&mut c, &space, false, true);
        assert_eq!(c, [-2.0, 0.5, 2.0]);
    }
}
