//! N envs stepped together, with the batch layout a batched policy wants.

use crate::python::{EnvConfig, PythonActions, PythonStepOut, PythonVectorEnv};
use crate::registry::{resolve, unknown_anywhere, Resolved};
use crate::{Action, Env, EnvError, EnvSnapshot, Space};
use serde::{Deserialize, Serialize};

/// What one [`VectorEnv`] step returns, one entry per env, borrowed from the vector env's
/// own buffers (no allocation per step).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VectorStep<'a> {
    /// `num_envs * obs_dim` observations, env-major. For an env whose episode ended in this
    /// step, its row is already the first observation of the next episode; the last
    /// observation of the finished one is [`VectorEnv::final_obs`].
    pub obs: &'a [f32],
    /// Rewards of this step.
    pub rewards: &'a [f64],
    /// Which envs reached a terminal state in this step.
    pub terminated: &'a [bool],
    /// Which envs were cut short (e.g. by the time limit) in this step.
    pub truncated: &'a [bool],
}

/// Copies an observation into its batch row. An env whose observations are not
/// `obs_dim` long is a bug in that env, but a panic here would kill a rollout worker, so
/// only the overlap is copied. Rows of classic-control size are copied with fixed-size
/// moves: a `memcpy` call per 16 bytes showed up as 7% of a vector step.
#[inline(always)]
fn copy_row(row: &mut [f32], obs: &[f32]) {
    #[inline(always)]
    fn fixed<const N: usize>(row: &mut [f32], obs: &[f32]) -> bool {
        match (row.first_chunk_mut::<N>(), obs.first_chunk::<N>()) {
            (Some(dst), Some(src)) => {
                *dst = *src;
                true
            }
            _ => false,
        }
    }
    let copied = match (row.len(), obs.len()) {
        (2, 2) => fixed::<2>(row, obs),
        (3, 3) => fixed::<3>(row, obs),
        (4, 4) => fixed::<4>(row, obs),
        (6, 6) => fixed::<6>(row, obs),
        _ => false,
    };
    if !copied {
        let n = row.len().min(obs.len());
        row[..n].copy_from_slice(&obs[..n]);
    }
}

/// Return and length of an episode that ended in the last step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpisodeStats {
    /// Undiscounted sum of the episode's rewards.
    pub episode_return: f64,
    /// Number of steps in the episode.
    pub length: u64,
}

/// A [`VectorEnv`] mid-run, for checkpoints: every env's snapshot and every per-env buffer
/// that later steps read or return, so that a restored vector env continues bit for bit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorEnvState {
    /// Each env's [`Env::snapshot`].
    pub envs: Vec<EnvSnapshot>,
    /// The batch of current observations (`num_envs * obs_dim`).
    pub obs: Vec<f32>,
    /// Last observations of episodes that ended in the last step (`num_envs * obs_dim`).
    pub final_obs: Vec<f32>,
    /// Rewards of the last step.
    pub rewards: Vec<f64>,
    /// `terminated` flags of the last step.
    pub terminated: Vec<bool>,
    /// `truncated` flags of the last step.
    pub truncated: Vec<bool>,
    /// Running returns of the open episodes.
    pub returns: Vec<f64>,
    /// Running lengths of the open episodes.
    pub lengths: Vec<u64>,
    /// Stats of episodes that ended in the last step.
    pub finished: Vec<EpisodeStats>,
}

/// `num_envs` copies of an env stepped together, auto-resetting an env in the same step
/// its episode ends (as RLlib's and SB3's vector envs), so every step returns a full batch.
///
/// Generic over the env type: `VectorEnv<TimeLimit<CartPole>>` steps without virtual
/// calls, the default `VectorEnv<Box<dyn Env>>` takes any registered env.
///
/// Python envs ([`VectorEnv::make_with_config`] with a Python env string) live in one
/// Python process instead, which applies the same auto-reset rule and steps every copy in
/// one round trip; such a vector env has no Rust `envs()` and cannot snapshot its envs.
pub struct VectorEnv<E = Box<dyn Env>> {
    envs: Vec<E>,
    num_envs: usize,
    python: Option<PythonVectorEnv>,
    obs_dim: usize,
    observation_space: Space,
    action_space: Space,
    obs: Vec<f32>,
    final_obs: Vec<f32>,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    returns: Vec<f64>,
    lengths: Vec<u64>,
    /// Per env: the return and length of the episode that ended in the last step (read
    /// only while that env's `terminated` or `truncated` flag is set).
    finished: Vec<EpisodeStats>,
}

impl VectorEnv<Box<dyn Env>> {
    /// `num_envs` envs made by id from the registry (see [`crate::make`]).
    pub fn make(id: &str, num_envs: usize) -> Result<Self, EnvError> {
        Self::make_with_config(id, num_envs, &EnvConfig::new())
    }

    /// `num_envs` envs named by `id` with RLlib's `env_config` (see
    /// [`crate::make_with_config`]); Python envs all live in one Python process.
    pub fn make_with_config(
        id: &str,
        num_envs: usize,
        env_config: &EnvConfig,
    ) -> Result<Self, EnvError> {
        match resolve(id, env_config)? {
            Resolved::Native(_) => {
                let envs = (0..num_envs)
                    .map(|_| crate::make(id))
                    .collect::<Result<Vec<_>, _>>()?;
                Self::new(envs)
            }
            Resolved::Python(spec) => {
                if num_envs == 0 {
                    return Err(EnvError::VectorEnv("no envs given".into()));
                }
                let fallback = crate::python::PythonEnvTarget::parse(id)
                    .ok()
                    .flatten()
                    .is_none();
                let python = match PythonVectorEnv::spawn(&spec, num_envs, true) {
                    Ok(p) => p,
                    Err(e) if fallback => return Err(unknown_anywhere(id, e)),
                    Err(e) => return Err(e.into()),
                };
                let mut v = Self::with_spaces(
                    Vec::new(),
                    num_envs,
                    python.observation_space().clone(),
                    python.action_space().clone(),
                );
                v.python = Some(python);
                Ok(v)
            }
        }
    }
}

impl<E: Env> VectorEnv<E> {
    /// Batches `envs`, which must be at least one and share their spaces.
    pub fn new(envs: Vec<E>) -> Result<Self, EnvError> {
        let Some(first) = envs.first() else {
            return Err(EnvError::VectorEnv("no envs given".into()));
        };
        let observation_space = first.observation_space().clone();
        let action_space = first.action_space().clone();
        if let Some(i) = envs.iter().position(|e| {
            *e.observation_space() != observation_space || *e.action_space() != action_space
        }) {
            return Err(EnvError::VectorEnv(format!(
                "env {i} has other spaces than env 0"
            )));
        }
        let n = envs.len();
        Ok(Self::with_spaces(envs, n, observation_space, action_space))
    }

    fn with_spaces(envs: Vec<E>, n: usize, observation_space: Space, action_space: Space) -> Self {
        let obs_dim = observation_space.flat_dim();
        Self {
            envs,
            num_envs: n,
            python: None,
            obs_dim,
            observation_space,
            action_space,
            obs: vec![0.0; n * obs_dim],
            final_obs: vec![0.0; n * obs_dim],
            rewards: vec![0.0; n],
            terminated: vec![false; n],
            truncated: vec![false; n],
            returns: vec![0.0; n],
            lengths: vec![0; n],
            finished: vec![
                EpisodeStats {
                    episode_return: 0.0,
                    length: 0
                };
                n
            ],
        }
    }

    /// `num_envs` envs built by `f(i)`.
    pub fn from_fn(num_envs: usize, f: impl FnMut(usize) -> E) -> Result<Self, EnvError> {
        Self::new((0..num_envs).map(f).collect())
    }

    /// How many envs step together.
    pub fn num_envs(&self) -> usize {
        self.num_envs
    }

    /// Whether [`VectorEnv::state`] captures the envs themselves, so that
    /// [`VectorEnv::set_state`] continues them exactly (false for Python envs, whose
    /// internal state stays in Python).
    pub fn snapshots_envs(&self) -> bool {
        self.python.is_none()
    }

    /// The id of the Python process hosting the envs, if they are Python envs.
    pub fn python_pid(&self) -> Option<u32> {
        self.python.as_ref().map(PythonVectorEnv::pid)
    }

    /// Length of one env's flattened observation.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// The observation space of one env.
    pub fn single_observation_space(&self) -> &Space {
        &self.observation_space
    }

    /// The action space of one env.
    pub fn single_action_space(&self) -> &Space {
        &self.action_space
    }

    /// The envs, e.g. to read their state (empty for Python envs).
    pub fn envs(&self) -> &[E] {
        &self.envs
    }

    /// The batch of current observations (`num_envs * obs_dim`).
    pub fn obs(&self) -> &[f32] {
        &self.obs
    }

    /// Resets every env: `Some(seed)` seeds env `i` with `seed + i` (wrapping), `None`
    /// continues each env's stream. Returns the batch of first observations.
    /// An env that fails to reset (a Python env that raises) logs the error; use
    /// [`VectorEnv::try_reset`] to get it.
    pub fn reset(&mut self, seed: Option<u64>) -> &[f32] {
        if let Err(e) = self.try_reset(seed) {
            tracing::error!("{e}");
        }
        &self.obs
    }

    /// Like [`VectorEnv::reset`], but returns the error of an env that fails to reset.
    pub fn try_reset(&mut self, seed: Option<u64>) -> Result<&[f32], EnvError> {
        let d = self.obs_dim;
        if let Some(python) = &mut self.python {
            python.reset(seed, &mut self.obs)?;
        }
        for (i, env) in self.envs.iter_mut().enumerate() {
            let o = env.try_reset(seed.map(|s| s.wrapping_add(i as u64)))?;
            copy_row(&mut self.obs[i * d..(i + 1) * d], o);
        }
        self.rewards.fill(0.0);
        self.terminated.fill(false);
        self.truncated.fill(false);
        self.returns.fill(0.0);
        self.lengths.fill(0);
        Ok(&self.obs)
    }

    /// Steps every env with its action (`actions[i]` for env `i`). The actions are all
    /// checked before any env moves, so an error leaves the vector env untouched.
    pub fn step(&mut self, actions: &[Action<'_>]) -> Result<VectorStep<'_>, EnvError> {
        self.check_count(actions.len(), 1)?;
        if let Some(bad) = actions.iter().find(|a| !self.action_space.accepts(**a)) {
            return Err(self.invalid(*bad));
        }
        if self.python.is_some() {
            return match self.action_space {
                Space::Discrete(_) => {
                    let idx: Vec<usize> = actions
                        .iter()
                        .map(|a| match a {
                            Action::Discrete(i) => *i,
                            Action::Continuous(_) => 0,
                        })
                        .collect();
                    self.step_python(PythonActions::Discrete(&idx))
                }
                Space::Box { .. } => {
                    let flat: Vec<f32> = actions
                        .iter()
                        .flat_map(|a| match a {
                            Action::Continuous(x) => x.to_vec(),
                            Action::Discrete(_) => Vec::new(),
                        })
                        .collect();
                    self.step_python(PythonActions::Continuous(&flat))
                }
            };
        }
        Ok(self.step_with(|i| actions[i]))
    }

    /// Steps every env of a `Discrete` action space with the index `actions[i]`.
    pub fn step_discrete(&mut self, actions: &[usize]) -> Result<VectorStep<'_>, EnvError> {
        self.check_count(actions.len(), 1)?;
        let n = match self.action_space {
            Space::Discrete(n) => n,
            Space::Box { .. } => usize::MAX,
        };
        if let Some(&bad) = actions.iter().find(|&&a| a >= n) {
            return Err(self.invalid(Action::Discrete(bad)));
        }
        if self.python.is_some() {
            return self.step_python(PythonActions::Discrete(actions));
        }
        Ok(self.step_with(|i| Action::Discrete(actions[i])))
    }

    /// Steps every env of a `Box` action space; `actions` is `num_envs * action_dim`
    /// values, env-major (the layout a batched policy outputs).
    pub fn step_continuous(&mut self, actions: &[f32]) -> Result<VectorStep<'_>, EnvError> {
        let k = self.action_space.flat_dim();
        self.check_count(actions.len(), k)?;
        if let Space::Discrete(_) = self.action_space {
            return Err(self.invalid(Action::Continuous(&actions[..k.min(actions.len())])));
        }
        if self.python.is_some() {
            return self.step_python(PythonActions::Continuous(actions));
        }
        Ok(self.step_with(|i| Action::Continuous(&actions[i * k..(i + 1) * k])))
    }

    /// The last observation of env `i`'s episode if it ended in the last step (the batch
    /// row already holds the next episode's first one); learners bootstrap from it on
    /// truncation.
    pub fn final_obs(&self, i: usize) -> Option<&[f32]> {
        let done = *self.terminated.get(i)? || self.truncated[i];
        done.then(|| &self.final_obs[i * self.obs_dim..(i + 1) * self.obs_dim])
    }

    /// Return and length of env `i`'s episode if it ended in the last step.
    pub fn finished_episode(&self, i: usize) -> Option<EpisodeStats> {
        let done = *self.terminated.get(i)? || self.truncated[i];
        done.then(|| self.finished[i])
    }

    /// Snapshots every env and per-env buffer (between steps); fails if an env cannot
    /// snapshot itself. For Python envs only the buffers are kept (`envs` is empty): see
    /// [`VectorEnv::snapshots_envs`].
    pub fn state(&self) -> Result<VectorEnvState, EnvError> {
        Ok(VectorEnvState {
            envs: self
                .envs
                .iter()
                .map(Env::snapshot)
                .collect::<Result<_, _>>()?,
            obs: self.obs.clone(),
            final_obs: self.final_obs.clone(),
            rewards: self.rewards.clone(),
            terminated: self.terminated.clone(),
            truncated: self.truncated.clone(),
            returns: self.returns.clone(),
            lengths: self.lengths.clone(),
            finished: self.finished.clone(),
        })
    }

    /// Puts the vector env back into a [`VectorEnv::state`]. The state must be of as many
    /// envs of the same kind and observation size; on any error the vector env is left
    /// as it was.
    pub fn set_state(&mut self, state: &VectorEnvState) -> Result<(), EnvError> {
        if self.python.is_some() {
            return Err(EnvError::StateUnsupported);
        }
        let n = self.envs.len();
        let rows = n * self.obs_dim;
        let lengths = [
            ("envs", state.envs.len(), n),
            ("obs", state.obs.len(), rows),
            ("final_obs", state.final_obs.len(), rows),
            ("rewards", state.rewards.len(), n),
            ("terminated", state.terminated.len(), n),
            ("truncated", state.truncated.len(), n),
            ("returns", state.returns.len(), n),
            ("lengths", state.lengths.len(), n),
            ("finished", state.finished.len(), n),
        ];
        if let Some((name, got, expected)) = lengths.iter().find(|(_, got, exp)| got != exp) {
            return Err(EnvError::InvalidState(format!(
                "vector env state has {got} values in '{name}', this vector env of {n} envs \
                 with observations of {} needs {expected}",
                self.obs_dim
            )));
        }
        // Envs restore one by one, so keep what they were to undo a failure halfway.
        let backup = self.state()?;
        for (i, snapshot) in state.envs.iter().enumerate() {
            if let Err(e) = self.envs[i].restore(snapshot) {
                for (env, old) in self.envs[..i].iter_mut().zip(&backup.envs) {
                    // Restoring an env's own snapshot cannot fail unless the env is broken,
                    // and then there is nothing better to do than report the first error.
                    let _ = env.restore(old);
                }
                return Err(match e {
                    EnvError::InvalidState(msg) => {
                        EnvError::InvalidState(format!("env {i} of the vector env: {msg}"))
                    }
                    e => e,
                });
            }
        }
        self.obs.copy_from_slice(&state.obs);
        self.final_obs.copy_from_slice(&state.final_obs);
        self.rewards.copy_from_slice(&state.rewards);
        self.terminated.copy_from_slice(&state.terminated);
        self.truncated.copy_from_slice(&state.truncated);
        self.returns.copy_from_slice(&state.returns);
        self.lengths.copy_from_slice(&state.lengths);
        self.finished.copy_from_slice(&state.finished);
        Ok(())
    }

    fn check_count(&self, got: usize, per_env: usize) -> Result<(), EnvError> {
        let expected = self.num_envs * per_env;
        if got == expected {
            Ok(())
        } else {
            Err(EnvError::ActionCount { expected, got })
        }
    }

    #[cold]
    fn invalid(&self, action: Action<'_>) -> EnvError {
        EnvError::InvalidAction {
            action: format!("{action:?}"),
            space: format!("{:?}", self.action_space),
        }
    }

    /// One round trip to the Python process; it auto-resets as [`VectorEnv::step_with`].
    fn step_python(&mut self, actions: PythonActions<'_>) -> Result<VectorStep<'_>, EnvError> {
        let Some(python) = &mut self.python else {
            return Err(EnvError::VectorEnv("not a Python vector env".into()));
        };
        python.step(
            actions,
            PythonStepOut {
                obs: &mut self.obs,
                final_obs: &mut self.final_obs,
                rewards: &mut self.rewards,
                terminated: &mut self.terminated,
                truncated: &mut self.truncated,
            },
        )?;
        for i in 0..self.num_envs {
            self.returns[i] += self.rewards[i];
            self.lengths[i] += 1;
            if self.terminated[i] || self.truncated[i] {
                self.finished[i] = EpisodeStats {
                    episode_return: self.returns[i],
                    length: self.lengths[i],
                };
                self.returns[i] = 0.0;
                self.lengths[i] = 0;
            }
        }
        Ok(VectorStep {
            obs: &self.obs,
            rewards: &self.rewards,
            terminated: &self.terminated,
            truncated: &self.truncated,
        })
    }

    #[inline(always)]
    fn step_with<'a>(&mut self, action: impl Fn(usize) -> Action<'a>) -> VectorStep<'_> {
        let n = self.envs.len();
        let d = self.obs_dim;
        // Re-slicing every buffer to `n` lets the compiler drop the bounds checks below.
        let envs = &mut self.envs[..n];
        let obs = &mut self.obs[..n * d];
        let final_obs = &mut self.final_obs[..n * d];
        let rewards = &mut self.rewards[..n];
        let terminated = &mut self.terminated[..n];
        let truncated = &mut self.truncated[..n];
        let returns = &mut self.returns[..n];
        let lengths = &mut self.lengths[..n];
        let finished = &mut self.finished[..n];
        for i in 0..n {
            let env = &mut envs[i];
            let row = i * d..(i + 1) * d;
            let s = env.step(action(i));
            rewards[i] = s.reward;
            terminated[i] = s.terminated;
            truncated[i] = s.truncated;
            returns[i] += s.reward;
            lengths[i] += 1;
            if s.terminated || s.truncated {
                copy_row(&mut final_obs[row.clone()], s.obs);
                finished[i] = EpisodeStats {
                    episode_return: returns[i],
                    length: lengths[i],
                };
                returns[i] = 0.0;
                lengths[i] = 0;
                copy_row(&mut obs[row], env.reset(None));
            } else {
                copy_row(&mut obs[row], s.obs);
            }
        }
        VectorStep {
            obs: &self.obs,
            rewards: &self.rewards,
            terminated: &self.terminated,
            truncated: &self.truncated,
        }
    }
}
