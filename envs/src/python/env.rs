//! One Python env as an ordinary [`Env`] (a process of its own).

use super::error::PythonEnvError;
use super::process::{PythonActions, PythonEnvSpec, PythonStepOut, PythonVectorEnv};
use crate::{Action, Env, EnvError, Space, Step};

/// A single Python env behind the [`Env`] trait, without auto-reset: as the env itself in
/// Python. Used for probing spaces and for evaluation; rollout workers step all their copies
/// through one [`PythonVectorEnv`] instead.
///
/// `Env::reset` and `Env::step` cannot fail; when Python raises, they log the error and
/// return the last observation (a step then reports `truncated`). [`Env::try_reset`] and
/// [`Env::try_step`] return the error.
#[derive(Debug)]
pub struct PythonEnv {
    process: PythonVectorEnv,
    obs: Vec<f32>,
    final_obs: Vec<f32>,
    reward: [f64; 1],
    terminated: [bool; 1],
    truncated: [bool; 1],
    action: Vec<f32>,
}

impl PythonEnv {
    /// Starts the env's Python process.
    pub fn new(spec: &PythonEnvSpec) -> Result<Self, PythonEnvError> {
        let process = PythonVectorEnv::spawn(spec, 1, false)?;
        let d = process.observation_space().flat_dim();
        Ok(PythonEnv {
            process,
            obs: vec![0.0; d],
            final_obs: vec![0.0; d],
            reward: [0.0],
            terminated: [false],
            truncated: [false],
            action: Vec::new(),
        })
    }

    fn step_inner(&mut self, action: Action<'_>) -> Result<(), EnvError> {
        let index;
        let actions = match action {
            Action::Discrete(a) => {
                index = [a];
                PythonActions::Discrete(&index)
            }
            Action::Continuous(x) => {
                self.action.clear();
                self.action.extend_from_slice(x);
                PythonActions::Continuous(&self.action)
            }
        };
        self.process.step(
            actions,
            PythonStepOut {
                obs: &mut self.obs,
                final_obs: &mut self.final_obs,
                rewards: &mut self.reward,
                terminated: &mut self.terminated,
                truncated: &mut self.truncated,
            },
        )?;
        Ok(())
    }

    fn last_step(&self) -> Step<'_> {
        Step {
            obs: &self.obs,
            reward: self.reward[0],
            terminated: self.terminated[0],
            truncated: self.truncated[0],
        }
    }
}

impl Env for PythonEnv {
    fn observation_space(&self) -> &Space {
        self.process.observation_space()
    }

    fn action_space(&self) -> &Space {
        self.process.action_space()
    }

    fn reset(&mut self, seed: Option<u64>) -> &[f32] {
        if let Err(e) = self.process.reset(seed, &mut self.obs) {
            tracing::error!("{e}");
        }
        &self.obs
    }

    fn try_reset(&mut self, seed: Option<u64>) -> Result<&[f32], EnvError> {
        self.process.reset(seed, &mut self.obs)?;
        Ok(&self.obs)
    }

    fn step(&mut self, action: Action<'_>) -> Step<'_> {
        if !self.action_space().accepts(action) {
            tracing::error!(
                "invalid action {action:?} for the action space {:?}; the step did not happen",
                self.action_space()
            );
            return self.failed_step();
        }
        match self.step_inner(action) {
            Ok(()) => self.last_step(),
            Err(e) => {
                tracing::error!("{e}");
                self.failed_step()
            }
        }
    }

    fn try_step(&mut self, action: Action<'_>) -> Result<Step<'_>, EnvError> {
        if !self.action_space().accepts(action) {
            return Err(EnvError::InvalidAction {
                action: format!("{action:?}"),
                space: format!("{:?}", self.action_space()),
            });
        }
        self.step_inner(action)?;
        Ok(self.last_step())
    }

    fn obs(&self) -> &[f32] {
        &self.obs
    }
}

impl PythonEnv {
    /// A step that did not happen: no reward, `truncated` so that callers reset.
    fn failed_step(&mut self) -> Step<'_> {
        self.reward = [0.0];
        self.terminated = [false];
        self.truncated = [true];
        self.last_step()
    }
}
