//! Envs by id, as Gymnasium's `gym.make` / `gym.register`.

use crate::classic_control::{Acrobot, CartPole, ContinuousMountainCar, MountainCar, Pendulum};
use crate::python::{
    python_interpreter, EnvConfig, PythonEnv, PythonEnvError, PythonEnvSpec, PythonEnvTarget,
};
use crate::{Env, EnvError, TimeLimit};
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, LazyLock};

/// Builds an env; the argument is the time limit to wrap it in (`None`: no wrapper).
type Factory = Arc<dyn Fn(Option<u64>) -> Box<dyn Env> + Send + Sync>;

/// What the registry knows about an id, as Gymnasium's `EnvSpec`.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvSpec {
    /// The id, e.g. `"CartPole-v1"`.
    pub id: String,
    /// The `TimeLimit` that `make` applies, if any.
    pub max_episode_steps: Option<u64>,
    /// The episode return at which the task counts as solved, if known.
    pub reward_threshold: Option<f64>,
}

#[derive(Clone)]
pub(crate) struct Entry {
    spec: EnvSpec,
    factory: Factory,
}

/// Old ids that resolve to a newer version, with a warning (as Gymnasium's deprecations).
const ALIASES: &[(&str, &str)] = &[("Pendulum-v0", "Pendulum-v1")];

static REGISTRY: LazyLock<RwLock<BTreeMap<String, Entry>>> =
    LazyLock::new(|| RwLock::new(builtins()));

/// A factory for a built-in env type that applies the time limit statically, so that the
/// boxed `TimeLimit<CartPole>` is one virtual call per step, not two.
fn builtin<E: Env + 'static>(new: fn() -> E) -> Factory {
    Arc::new(move |limit| match limit {
        Some(n) => Box::new(TimeLimit::new(new(), n)),
        None => Box::new(new()),
    })
}

fn builtins() -> BTreeMap<String, Entry> {
    let table: [(&str, u64, Option<f64>, Factory); 6] = [
        ("CartPole-v0", 200, Some(195.0), builtin(CartPole::new)),
        ("CartPole-v1", 500, Some(475.0), builtin(CartPole::new)),
        (
            "MountainCar-v0",
            200,
            Some(-110.0),
            builtin(MountainCar::new),
        ),
        (
            "MountainCarContinuous-v0",
            999,
            Some(90.0),
            builtin(ContinuousMountainCar::new),
        ),
        ("Acrobot-v1", 500, Some(-100.0), builtin(Acrobot::new)),
        ("Pendulum-v1", 200, None, builtin(Pendulum::new)),
    ];
    table
        .into_iter()
        .map(|(id, steps, threshold, factory)| {
            let spec = EnvSpec {
                id: id.to_string(),
                max_episode_steps: Some(steps),
                reward_threshold: threshold,
            };
            (id.to_string(), Entry { spec, factory })
        })
        .collect()
}

/// The entry for `id`, following aliases; the lock is released before the caller builds
/// anything, so a factory may itself call [`make`].
fn lookup(id: &str) -> Result<Entry, EnvError> {
    let registry = REGISTRY.read();
    if let Some(entry) = registry.get(id) {
        return Ok(entry.clone());
    }
    if let Some((old, new)) = ALIASES.iter().find(|(old, _)| *old == id) {
        if let Some(entry) = registry.get(*new) {
            tracing::warn!("env id '{old}' is deprecated; using '{new}'");
            return Ok(entry.clone());
        }
    }
    Err(EnvError::UnknownEnv {
        id: id.to_string(),
        known: registry.keys().cloned().collect::<Vec<_>>().join(", "),
    })
}

/// Builds the env registered as `id`, with its default time limit (as `gym.make(id)`).
/// Python env strings and ids no native env has are made in Python, as
/// [`make_with_config`] with an empty `env_config`.
pub fn make(id: &str) -> Result<Box<dyn Env>, EnvError> {
    make_with_config(id, &EnvConfig::new())
}

/// Builds the env named by `id` with RLlib's `env_config`: a native env by id (which
/// ignores `env_config`), or a Python env (see [`crate::python`]): `gymnasium:<id>`,
/// `path/to/file.py:ClassName`, `package.module:ClassName`, or an id no native env has,
/// which falls back to Gymnasium's registry.
pub fn make_with_config(id: &str, env_config: &EnvConfig) -> Result<Box<dyn Env>, EnvError> {
    match resolve(id, env_config)? {
        Resolved::Native(entry) => Ok((entry.factory)(entry.spec.max_episode_steps)),
        Resolved::Python(spec) => {
            let fallback = matches!(spec.target, PythonEnvTarget::Gymnasium { .. })
                && PythonEnvTarget::parse(id).ok().flatten().is_none();
            match PythonEnv::new(&spec) {
                Ok(env) => Ok(Box::new(env)),
                Err(e) if fallback => Err(unknown_anywhere(id, e)),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// How an env string is made.
pub(crate) enum Resolved {
    /// A native env of the registry.
    Native(Entry),
    /// A Python env through the bridge.
    Python(PythonEnvSpec),
}

/// Ids whose fallback to Gymnasium was announced already (once per process is enough).
static ANNOUNCED: LazyLock<Mutex<BTreeSet<String>>> = LazyLock::new(Default::default);

/// Decides between a native env and a Python one; a plain id that no native env has falls
/// back to Gymnasium's registry, with one log line saying so.
pub(crate) fn resolve(id: &str, env_config: &EnvConfig) -> Result<Resolved, EnvError> {
    let target = match PythonEnvTarget::parse(id)? {
        Some(target) => target,
        None => match lookup(id) {
            Ok(entry) => {
                if !env_config.is_empty() {
                    tracing::warn!("env '{id}' is native and ignores env_config");
                }
                return Ok(Resolved::Native(entry));
            }
            Err(EnvError::UnknownEnv { .. }) => {
                if ANNOUNCED.lock().insert(id.to_string()) {
                    tracing::info!(
                        "no native env '{id}'; making it from Gymnasium's registry in Python"
                    );
                }
                PythonEnvTarget::Gymnasium { id: id.to_string() }
            }
            Err(e) => return Err(e),
        },
    };
    Ok(Resolved::Python(PythonEnvSpec {
        env: id.to_string(),
        target,
        env_config: env_config.clone(),
        python: python_interpreter(),
    }))
}

/// The error for a plain id that neither the native registry nor Gymnasium's has (or whose
/// Gymnasium fallback could not run): the native ids, and why Gymnasium did not help.
pub(crate) fn unknown_anywhere(id: &str, e: PythonEnvError) -> EnvError {
    let native = registered_ids().join(", ");
    let why = match e {
        PythonEnvError::NotFound { .. } => format!("nor has Gymnasium's registry an env '{id}'"),
        e @ (PythonEnvError::Interpreter { .. } | PythonEnvError::MissingPackage { .. }) => {
            format!("and Gymnasium's registry could not be asked: {e}")
        }
        // Gymnasium has the id; what went wrong making it is the error.
        other => return EnvError::from(other),
    };
    EnvError::UnknownEnv {
        id: id.to_string(),
        known: format!("{native}; {why}"),
    }
}

/// Builds the env registered as `id` truncated at `max_episode_steps` instead of its
/// default (as `gym.make(id, max_episode_steps=n)`).
pub fn make_with_max_steps(id: &str, max_episode_steps: u64) -> Result<Box<dyn Env>, EnvError> {
    let entry = lookup(id)?;
    Ok((entry.factory)(Some(max_episode_steps)))
}

/// The spec registered for `id` (aliases resolve to their target's spec).
pub fn spec(id: &str) -> Result<EnvSpec, EnvError> {
    lookup(id).map(|entry| entry.spec)
}

/// Registers a user env under `id`, with no time limit of its own (wrap in [`TimeLimit`]
/// inside the factory, or use [`register_with_max_steps`]). Registering an existing id
/// replaces it, with a warning, as Gymnasium does.
pub fn register<F>(id: impl Into<String>, factory: F)
where
    F: Fn() -> Box<dyn Env> + Send + Sync + 'static,
{
    insert(id.into(), None, factory);
}

/// Registers a user env under `id` that [`make`] truncates at `max_episode_steps`.
pub fn register_with_max_steps<F>(id: impl Into<String>, max_episode_steps: u64, factory: F)
where
    F: Fn() -> Box<dyn Env> + Send + Sync + 'static,
{
    insert(id.into(), Some(max_episode_steps), factory);
}

fn insert<F>(id: String, max_episode_steps: Option<u64>, factory: F)
where
    F: Fn() -> Box<dyn Env> + Send + Sync + 'static,
{
    let factory: Factory = Arc::new(move |limit| match limit {
        Some(n) => Box::new(TimeLimit::new(factory(), n)),
        None => factory(),
    });
    let spec = EnvSpec {
        id: id.clone(),
        max_episode_steps,
        reward_threshold: None,
    };
    let mut registry = REGISTRY.write();
    if registry.contains_key(&id) {
        tracing::warn!("overriding the env registered as '{id}'");
    }
    registry.insert(id, Entry { spec, factory });
}

/// Every registered id, sorted (aliases such as `Pendulum-v0` are not listed).
pub fn registered_ids() -> Vec<String> {
    REGISTRY.read().keys().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_have_gymnasium_limits() {
        assert_eq!(spec("CartPole-v0").unwrap().max_episode_steps, Some(200));
        assert_eq!(spec("CartPole-v0").unwrap().reward_threshold, Some(195.0));
        assert_eq!(
            spec("MountainCarContinuous-v0").unwrap().max_episode_steps,
            Some(999)
        );
        assert_eq!(spec("Pendulum-v0").unwrap().id, "Pendulum-v1");
    }
}
