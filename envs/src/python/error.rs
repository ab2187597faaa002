//! Errors of the Python env bridge.

use std::path::PathBuf;
use thiserror::Error;

/// What can go wrong starting, building or stepping Python envs. Every message is one line
/// that names the env and, for an exception, quotes its type and message.
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum PythonEnvError {
    /// The env string names a Python env in a form that cannot be read.
    #[error("bad Python env '{env}': {reason}")]
    BadTarget {
        /// The env string as given.
        env: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The interpreter could not be started.
    #[error(
        "cannot start Python '{python}' for env '{env}': {reason}; set RLLIB_PYTHON to a Python \
         that has gymnasium, or run .ci/setup to make the project's .venv"
    )]
    Interpreter {
        /// The env being made.
        env: String,
        /// The interpreter tried.
        python: PathBuf,
        /// Why it did not start.
        reason: String,
    },
    /// A Python package the env needs is not installed in the interpreter.
    #[error(
        "env '{env}' needs the Python package '{package}', which {python} does not have: \
         install it with `{python} -m pip install {package}`{hint}"
    )]
    MissingPackage {
        /// The env being made.
        env: String,
        /// The package to install (pip's name).
        package: String,
        /// The interpreter used.
        python: PathBuf,
        /// Where the set-up would install it, when the interpreter is the project's.
        hint: String,
    },
    /// Gymnasium says the env needs packages that are not installed (its message says which).
    #[error("env '{env}' needs Python packages that {python} does not have: {message}")]
    MissingDependency {
        /// The env being made.
        env: String,
        /// The interpreter used.
        python: PathBuf,
        /// Gymnasium's `DependencyNotInstalled` message, e.g. `pip install "gymnasium[box2d]"`.
        message: String,
    },
    /// A file, module, class or Gymnasium id the env string names does not exist.
    #[error("env '{env}': {what}")]
    NotFound {
        /// The env being made.
        env: String,
        /// What was not found, e.g. "no class 'Foo' in file 'envs/foo.py'".
        what: String,
    },
    /// The env's Python code raised.
    #[error("env '{env}' raised {exception}: {message} (in {stage}{at})")]
    Raised {
        /// The env.
        env: String,
        /// Where: `__init__`, `gymnasium.make`, `reset`, `step`, `import`.
        stage: String,
        /// The exception's type name, e.g. `ValueError`.
        exception: String,
        /// The exception's message.
        message: String,
        /// Which of the process's env copies raised, as ", env copy 2 of 4", or empty.
        at: String,
    },
    /// A space the bridge cannot map.
    #[error(
        "env '{env}': the {which} space {space} is not supported (supported: Discrete and Box \
         for actions; Box, Discrete, MultiDiscrete, MultiBinary, Dict and Tuple observations, \
         flattened)"
    )]
    UnsupportedSpace {
        /// The env.
        env: String,
        /// `observation` or `action`.
        which: &'static str,
        /// The space as Python prints it.
        space: String,
    },
    /// The Python process exited or was killed.
    #[error("the Python process of env '{env}' died ({status}) while {doing}{stderr}")]
    Died {
        /// The env.
        env: String,
        /// Its exit status, e.g. "killed by signal 9".
        status: String,
        /// What it was asked to do.
        doing: &'static str,
        /// The last line it wrote to stderr, as "; last said: ...", or empty.
        stderr: String,
    },
    /// The process answered with a frame that does not fit the protocol.
    #[error("bad frame from the Python process of env '{env}': {detail}")]
    Protocol {
        /// The env.
        env: String,
        /// What was wrong.
        detail: String,
    },
    /// An earlier error left the process unusable; this is that error again.
    #[error("{0} (the Python process has stopped since)")]
    Stopped(Box<PythonEnvError>),
}
