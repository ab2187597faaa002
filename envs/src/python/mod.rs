//! Python Gymnasium envs through a bridge: a Python process hosts a worker's env copies and
//! steps them together, one binary round trip per vector step.
//!
//! - `gymnasium:<id>` makes `gymnasium.make(id, **env_config)`; a plain id that no native
//!   env has falls back to Gymnasium's registry (see [`crate::make`]).
//! - `path/to/file.py:ClassName` and `package.module:ClassName` construct
//!   `ClassName(env_config)`, as RLlib does.
//! - The interpreter is `RLLIB_PYTHON` if set, else the project's `.venv` (see
//!   [`python_interpreter`]).
//! - Observations cross as float32 bit for bit as Python made them (other dtypes are cast
//!   as numpy's `astype(float32)`); `Discrete`, `MultiDiscrete`, `MultiBinary`, `Dict` and
//!   `Tuple` observations are flattened as `gymnasium.spaces.flatten` does (one-hot for
//!   discrete parts). Actions are `Discrete` or `Box` (any shape, flattened).
//! - Python envs cannot be snapshotted: checkpoints keep everything but the envs' internal
//!   state, and a restored worker starts fresh episodes.

mod env;
mod error;
mod process;
mod target;

pub use env::PythonEnv;
pub use error::PythonEnvError;
pub use process::{EnvConfig, PythonActions, PythonEnvSpec, PythonStepOut, PythonVectorEnv};
pub use target::{
    project_venv_python, python_interpreter, PythonEnvTarget, GYMNASIUM_PREFIX, PYTHON_ENV_VAR,
};
