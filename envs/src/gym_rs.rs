//! An adapter that runs an env of the [gym-rs](https://crates.io/crates/gym-rs) crate behind
//! this crate's [`Env`] trait (feature `gym-rs`, off by default).
//!
//! **Untested in CI**: gym-rs builds SDL2 from source (it needs cmake and a C toolchain) and
//! links SDL2_gfx, which the project's machines lack. It was written against gym-rs 0.3.0
//! and checked by hand once: with `apt-get install cmake libsdl2-gfx-1.0-0` and a
//! `libSDL2_gfx.so` symlink on `-L`, `cargo clippy -p envs --features gym-rs` is clean and
//! `cargo test -p envs --features gym-rs --test envs gym_rs` passes. Prefer the native
//! [`crate::classic_control`] envs: see the crate README for how gym-rs's CartPole differs.
//!
//! gym-rs envs hold SDL2 handles, which are not `Send`, while [`Env`] is. Rather than an
//! `unsafe impl Send`, the adapter builds and owns the gym-rs env on a thread of its own and
//! talks to it over channels: a few microseconds per step, fine for a compatibility path.
//!
//! Semantics that differ from the native envs: gym-rs's `reset(None)` draws a fresh seed
//! instead of continuing the stream; gym-rs never truncates (wrap in [`crate::TimeLimit`],
//! as [`register_all`] does); only discrete-action gym-rs envs are supported (all of its
//! envs are); `state`/`set_state` are unsupported.

use crate::classic_control::invalid_step;
use crate::{register_with_max_steps, Action, Env, EnvError, Space, Step};
use gym_rs::core::{Env as GymEnv, EnvProperties};
use gym_rs::envs::classical_control::cartpole::CartPoleEnv;
use gym_rs::envs::classical_control::mountain_car::MountainCarEnv;
use gym_rs::spaces::{BoxR, Discrete};
use gym_rs::utils::custom::traits::Sample;
use gym_rs::utils::renderer::RenderMode;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;

/// A request to the thread that owns the gym-rs env.
enum Command {
    Reset(Option<u64>),
    Step(usize),
}

/// The gym-rs env's answer, already widened to plain numbers.
struct Reply {
    obs: Vec<f64>,
    reward: f64,
    done: bool,
    truncated: bool,
}

/// What the env thread reports once the gym-rs env exists.
struct Spaces {
    actions: usize,
    low: Vec<f64>,
    high: Vec<f64>,
}

/// A gym-rs env (discrete actions, box observations) behind this crate's [`Env`] trait.
pub struct GymRsEnv {
    name: &'static str,
    commands: Sender<Command>,
    replies: Receiver<Reply>,
    obs: Vec<f32>,
    observation_space: Space,
    action_space: Space,
    thread: Option<JoinHandle<()>>,
}

impl GymRsEnv {
    /// Starts a thread that builds the gym-rs env with `make` and serves it; `name` is used
    /// in log messages.
    pub fn spawn<E, F>(name: &'static str, make: F) -> Result<Self, EnvError>
    where
        F: FnOnce() -> E + Send + 'static,
        E: 'static,
        E: GymEnv<Action = usize>
            + EnvProperties<
                ActionSpace = Discrete,
                ObservationSpace = BoxR<<E as GymEnv>::Observation>,
            >,
        <E as GymEnv>::Observation: Sample + Into<Vec<f64>> + Clone,
    {
        let (command_tx, command_rx) = channel::<Command>();
        let (reply_tx, reply_rx) = channel::<Reply>();
        let (spaces_tx, spaces_rx) = channel::<Spaces>();
        let thread = std::thread::Builder::new()
            .name(format!("gym-rs {name}"))
            .spawn(move || {
                let mut env = make();
                let space = env.observation_space();
                let spaces = Spaces {
                    actions: env.action_space().0,
                    low: space.low.clone().into(),
                    high: space.high.clone().into(),
                };
                if spaces_tx.send(spaces).is_err() {
                    return;
                }
                // Ends when the adapter (the only sender) is dropped.
                for command in command_rx {
                    let reply = match command {
                        Command::Reset(seed) => {
                            let (obs, _) = env.reset(seed, false, None);
                            Reply {
                                obs: obs.into(),
                                reward: 0.0,
                                done: false,
                                truncated: false,
                            }
                        }
                        Command::Step(action) => {
                            let r = env.step(action);
                            Reply {
                                obs: r.observation.into(),
                                reward: r.reward.0,
                                done: r.done,
                                truncated: r.truncated,
                            }
                        }
                    };
                    if reply_tx.send(reply).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| EnvError::Backend(format!("cannot start the gym-rs thread: {e}")))?;
        let spaces = spaces_rx
            .recv()
            .map_err(|_| EnvError::Backend(format!("gym-rs {name} panicked while being built")))?;
        let to_f32 = |v: &[f64]| v.iter().map(|x| *x as f32).collect::<Vec<f32>>();
        let dim = spaces.low.len();
        Ok(Self {
            name,
            commands: command_tx,
            replies: reply_rx,
            obs: vec![0.0; dim],
            observation_space: Space::Box {
                low: to_f32(&spaces.low),
                high: to_f32(&spaces.high),
                shape: vec![dim],
            },
            action_space: Space::Discrete(spaces.actions),
            thread: Some(thread),
        })
    }

    /// gym-rs's CartPole (no rendering). Note its `polemass_length` bug (see the README).
    pub fn cartpole() -> Result<Self, EnvError> {
        Self::spawn("CartPole", || CartPoleEnv::new(RenderMode::None))
    }

    /// gym-rs's MountainCar (no rendering).
    pub fn mountain_car() -> Result<Self, EnvError> {
        Self::spawn("MountainCar", || MountainCarEnv::new(RenderMode::None))
    }

    /// Sends a command and waits for the answer; `None` if the thread is gone.
    fn call(&mut self, command: Command) -> Option<Reply> {
        self.commands.send(command).ok()?;
        let reply = self.replies.recv().ok()?;
        self.obs = reply.obs.iter().map(|x| *x as f32).collect();
        Some(reply)
    }
}

impl Drop for GymRsEnv {
    fn drop(&mut self) {
        // Closing the command channel ends the thread's loop; join so SDL2 is torn down
        // before the process moves on.
        let (closed, _) = channel();
        self.commands = closed;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Env for GymRsEnv {
    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>) -> &[f32] {
        if self.call(Command::Reset(seed)).is_none() {
            tracing::error!(env = self.name, "the gym-rs thread is gone; reset ignored");
        }
        &self.obs
    }

    fn step(&mut self, action: Action<'_>) -> Step<'_> {
        let a = match action {
            Action::Discrete(a) if self.action_space.accepts(action) => a,
            _ => return invalid_step(self.name, action, &self.action_space, &self.obs),
        };
        match self.call(Command::Step(a)) {
            Some(reply) => Step {
                obs: &self.obs,
                reward: reply.reward,
                terminated: reply.done,
                truncated: reply.truncated,
            },
            None => {
                tracing::error!(
                    env = self.name,
                    "the gym-rs thread is gone; episode truncated"
                );
                Step {
                    obs: &self.obs,
                    reward: 0.0,
                    terminated: false,
                    truncated: true,
                }
            }
        }
    }

    fn obs(&self) -> &[f32] {
        &self.obs
    }
}

/// Registers `gym-rs/CartPole-v1` (500 steps) and `gym-rs/MountainCar-v0` (200 steps).
/// A factory cannot fail, so one whose thread fails to start yields an env whose steps
/// truncate at once (and log the error).
pub fn register_all() {
    register_with_max_steps("gym-rs/CartPole-v1", 500, || boxed(GymRsEnv::cartpole()));
    register_with_max_steps("gym-rs/MountainCar-v0", 200, || {
        boxed(GymRsEnv::mountain_car())
    });
}

fn boxed(env: Result<GymRsEnv, EnvError>) -> Box<dyn Env> {
    match env {
        Ok(env) => Box::new(env),
        Err(e) => {
            tracing::error!("{e}");
            Box::new(Failed {
                obs: Vec::new(),
                space: Space::Discrete(0),
            })
        }
    }
}

/// Stands in for an env that could not be built: every step truncates.
struct Failed {
    obs: Vec<f32>,
    space: Space,
}

impl Env for Failed {
    fn observation_space(&self) -> &Space {
        &self.space
    }

    fn action_space(&self) -> &Space {
        &self.space
    }

    fn reset(&mut self, _seed: Option<u64>) -> &[f32] {
        &self.obs
    }

    fn step(&mut self, action: Action<'_>) -> Step<'_> {
        invalid_step("gym-rs (failed to start)", action, &self.space, &self.obs)
    }

    fn obs(&self) -> &[f32] {
        &self.obs
    }
}
