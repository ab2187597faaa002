//! Experiment files and trainer configs in RLlib's format.
//!
//! An experiment file maps experiment names to `{env, run, stop, config, ...}` exactly as
//! RLlib's tuned examples do. Old and new key names are both accepted (`num_workers` /
//! `num_env_runners`, `num_sgd_iter` / `num_epochs`, ...). A key that is unknown is an error
//! naming the key and the nearest known one; keys that only meant something to RLlib's
//! TensorFlow side (`framework: tf`, `use_pytorch: false`) are accepted with one warning each.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::algorithm::Algorithm;
use crate::error::{ConfigError, Result, RllibError};
use crate::result::{canonical_stop_key, known_result_paths};

pub use crate::policy::model::{Activation, ModelConfig};

/// How a rollout worker cuts its samples into fragments (RLlib's `batch_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchMode {
    /// Exactly `rollout_fragment_length` steps per env, cutting episodes (bootstrapped).
    TruncateEpisodes,
    /// Whole episodes only: sample until at least `rollout_fragment_length` steps per env
    /// and every episode in the fragment ended.
    CompleteEpisodes,
}

/// Observation preprocessing on the workers (RLlib's `observation_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FilterKind {
    /// Observations pass unchanged.
    NoFilter,
    /// Running mean and standard deviation, synced from workers to the learner.
    MeanStdFilter,
}

/// Every setting of a trainer, after defaults, aliases and validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainerConfig {
    /// Env id, as registered in `envs`, or a Python env: `gymnasium:<id>`,
    /// `path/to/file.py:ClassName`, `package.module:ClassName`.
    pub env: String,
    /// RLlib's `env_config`: `gymnasium.make`'s keyword arguments, or the dict a user's
    /// Python env class is constructed with (native envs ignore it).
    #[serde(default)]
    pub env_config: serde_json::Map<String, Value>,
    /// Number of remote rollout workers (0: the local worker samples).
    pub num_workers: usize,
    /// Envs each worker steps together as one vector env.
    pub num_envs_per_worker: usize,
    /// Steps per env in one fragment.
    pub rollout_fragment_length: usize,
    /// How fragments treat episode ends.
    pub batch_mode: BatchMode,
    /// Steps gathered for one training iteration.
    pub train_batch_size: usize,
    /// Discount factor.
    pub gamma: f64,
    /// GAE lambda.
    pub lambda: f64,
    /// Learning rate of Adam.
    pub lr: f64,
    /// RLlib's piecewise-linear learning-rate schedule: `[[timestep, lr], ...]`, holding the
    /// last value after the last point; overrides `lr` when set.
    pub lr_schedule: Option<Vec<[f64; 2]>>,
    /// PPO clip range of the probability ratio.
    #[serde(default = "d_clip_param")]
    pub clip_param: f64,
    /// Initial KL penalty coefficient.
    #[serde(default = "d_kl_coeff")]
    pub kl_coeff: f64,
    /// KL target of the adaptive coefficient.
    #[serde(default = "d_kl_target")]
    pub kl_target: f64,
    /// Clip range of the value function update.
    #[serde(default = "d_vf_clip_param")]
    pub vf_clip_param: f64,
    /// Weight of the value loss.
    pub vf_loss_coeff: f64,
    /// Weight of the entropy bonus.
    pub entropy_coeff: f64,
    /// SGD epochs over each train batch.
    #[serde(default = "d_num_sgd_iter")]
    pub num_sgd_iter: usize,
    /// Minibatch size of SGD.
    #[serde(default = "d_sgd_minibatch_size")]
    pub sgd_minibatch_size: usize,
    /// Global-norm gradient clipping (None: no clipping).
    pub grad_clip: Option<f64>,
    /// Whether to use GAE (else plain discounted returns minus the value baseline).
    pub use_gae: bool,
    /// Standardize advantages over the train batch.
    #[serde(default = "d_true")]
    pub standardize_advantages: bool,
    /// The model.
    pub model: ModelConfig,
    /// Observation filter of the workers.
    pub observation_filter: FilterKind,
    /// Seed of everything random; None picks one and records it in params.json.
    pub seed: Option<u64>,
    /// GPUs for the learner (RLlib's key); > 0 asks for CUDA.
    pub num_gpus: f64,
    /// Explicit learner device (`cpu`, `cuda`, `cuda:N`); overrides `num_gpus`.
    pub device: Option<String>,
    /// Episodes averaged in the episode metrics.
    pub metrics_smoothing_episodes: usize,
    /// Clip continuous actions to the action space's bounds when stepping.
    pub clip_actions: bool,
    /// libtorch intra-op threads per worker (and learner).
    pub num_threads_per_worker: usize,
    /// Whether `compute_action`/`evaluate` sample (true) or take the mode (false).
    pub explore: bool,
    /// For experiments, not in RLlib: `[[worker_index, factor], ...]` makes those workers'
    /// sampling `factor` times slower (they sleep `factor - 1` times each sample's duration).
    pub worker_slowdown: Option<Vec<[f64; 2]>>,
    /// An iteration lasts at least this long (RLlib's `min_iter_time_s`).
    pub min_iter_time_s: f64,
    /// A3C: gradients applied per optimizer step.
    #[serde(default = "d_grads_per_step")]
    pub grads_per_step: usize,
    /// Where remote rollout workers run: `thread` (threads of this process, the default) or
    /// `process` (one worker process each, so a crash or `kill -9` takes only that worker).
    #[serde(default)]
    pub worker_isolation: WorkerIsolation,
    /// RLlib's `restart_failed_env_runners` (old name `recreate_failed_workers`): a remote
    /// rollout worker whose process dies or whose env panics is recreated (same index and
    /// seed stream, the learner's current weights and filter) and training goes on. When
    /// false such a failure stops training with an error naming the worker.
    #[serde(default = "d_true")]
    pub restart_failed_env_runners: bool,
    /// RLlib's `max_num_env_runner_restarts`: how many recreations a run may make in all
    /// before a further failure stops it.
    #[serde(default = "d_max_restarts")]
    pub max_num_env_runner_restarts: u32,
    /// RLlib's `num_cpus_per_worker`: logical CPUs each remote rollout worker holds (where
    /// the scheduler places it, on a cluster).
    #[serde(default = "d_one")]
    pub num_cpus_per_worker: f64,
    /// RLlib's `num_gpus_per_worker`: logical GPUs each remote rollout worker holds.
    #[serde(default)]
    pub num_gpus_per_worker: f64,
    /// RLlib's `custom_resources_per_worker`: named resources each remote rollout worker
    /// holds, e.g. `{"sampler": 1}` to keep workers on the nodes that offer `sampler`.
    #[serde(default)]
    pub custom_resources_per_worker: BTreeMap<String, f64>,
}

fn d_one() -> f64 {
    1.0
}

/// Where remote rollout workers run (`worker_isolation`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerIsolation {
    /// Threads of the trainer's process: no serialization, shared memory.
    #[default]
    Thread,
    /// One worker process per rollout worker (the trainer's binary started again; its
    /// `main` must call `runtime::worker_main_if_requested()` first).
    Process,
}

// Defaults of algorithm-specific fields, for configs of algorithms that lack them.
fn d_clip_param() -> f64 {
    0.3
}
fn d_kl_coeff() -> f64 {
    0.2
}
fn d_kl_target() -> f64 {
    0.01
}
fn d_vf_clip_param() -> f64 {
    10.0
}
fn d_num_sgd_iter() -> usize {
    30
}
fn d_sgd_minibatch_size() -> usize {
    128
}
fn d_true() -> bool {
    true
}
fn d_grads_per_step() -> usize {
    100
}
fn d_max_restarts() -> u32 {
    1000
}

/// The largest `num_threads_per_worker` accepted (libtorch takes an `i32`; far more threads
/// than any machine has only slows it down).
pub const MAX_THREADS_PER_WORKER: usize = 1024;
/// The largest `worker_slowdown` factor accepted.
pub const MAX_WORKER_SLOWDOWN: f64 = 1000.0;

/// Config keys that take the same meaning under an old name.
const ALIASES: &[(&str, &str)] = &[
    ("num_env_runners", "num_workers"),
    ("num_rollout_workers", "num_workers"),
    ("num_envs_per_env_runner", "num_envs_per_worker"),
    ("sample_batch_size", "rollout_fragment_length"),
    ("num_epochs", "num_sgd_iter"),
    ("minibatch_size", "sgd_minibatch_size"),
    (
        "metrics_num_episodes_for_smoothing",
        "metrics_smoothing_episodes",
    ),
    ("lambda_", "lambda"),
    ("recreate_failed_workers", "restart_failed_env_runners"),
    ("recreate_failed_env_runners", "restart_failed_env_runners"),
    ("max_num_worker_restarts", "max_num_env_runner_restarts"),
];

/// Keys RLlib used that mean nothing here; each is accepted with a warning.
const IGNORED_KEYS: &[(&str, &str)] = &[
    ("framework", "this project always uses libtorch (torch)"),
    ("use_pytorch", "this project always uses libtorch (torch)"),
    ("eager", "this project always uses libtorch (torch)"),
    ("log_level", "use RUST_LOG to set the log level"),
    ("num_cpus_for_driver", "the learner takes one CPU"),
    (
        "simple_optimizer",
        "PPO always uses the sync samples optimizer",
    ),
    ("shuffle_sequences", "minibatches are always shuffled"),
    ("vf_share_layers", "use model.vf_share_layers"),
    (
        "enable_rl_module_and_learner",
        "only the old API stack exists here",
    ),
    (
        "enable_env_runner_and_connector_v2",
        "only the old API stack exists here",
    ),
    ("api_stack", "only the old API stack exists here"),
];

/// Keys of an experiment entry (beside `config`).
const EXPERIMENT_KEYS: &[&str] = &[
    "env",
    "run",
    "stop",
    "config",
    "checkpoint_freq",
    "checkpoint_at_end",
    "local_dir",
    "storage_path",
    "num_samples",
    "restore",
];

/// RLlib's defaults for an algorithm, as a JSON object of canonical keys. The keys of this
/// object are exactly the keys the algorithm accepts.
pub fn defaults(algorithm: Algorithm) -> Value {
    let mut d = json!({
        "env": "",
        "env_config": {},
        "num_workers": 2,
        "num_envs_per_worker": 1,
        "rollout_fragment_length": 200,
        "batch_mode": "truncate_episodes",
        "train_batch_size": 200,
        "gamma": 0.99,
        "lambda": 1.0,
        "lr": 1e-4,
        "lr_schedule": null,
        "vf_loss_coeff": 1.0,
        "entropy_coeff": 0.0,
        "grad_clip": null,
        "use_gae": true,
        "min_iter_time_s": 0.0,
        "model": {
            "fcnet_hiddens": [256, 256],
            "fcnet_activation": "tanh",
            "vf_share_layers": false,
            "free_log_std": false,
            "squash_to_range": false
        },
        "observation_filter": "NoFilter",
        "seed": null,
        "num_gpus": 0.0,
        "device": null,
        "metrics_smoothing_episodes": 100,
        "clip_actions": true,
        "num_threads_per_worker": 1,
        "explore": true,
        "worker_slowdown": null,
        "worker_isolation": "thread",
        "restart_failed_env_runners": true,
        "max_num_env_runner_restarts": 1000,
        "num_cpus_per_worker": 1.0,
        "num_gpus_per_worker": 0.0,
        "custom_resources_per_worker": {}
    });
    let specific = match algorithm {
        Algorithm::Ppo => json!({
            "train_batch_size": 4000,
            "lr": 5e-5,
            "clip_param": 0.3,
            "kl_coeff": 0.2,
            "kl_target": 0.01,
            "vf_clip_param": 10.0,
            "num_sgd_iter": 30,
            "sgd_minibatch_size": 128,
            "standardize_advantages": true
        }),
        Algorithm::A3c => json!({
            "rollout_fragment_length": 10,
            "lr": 1e-4,
            "grad_clip": 40.0,
            "vf_loss_coeff": 0.5,
            "entropy_coeff": 0.01,
            "min_iter_time_s": 5.0,
            "grads_per_step": 100
        }),
        Algorithm::A2c => json!({
            "rollout_fragment_length": 20,
            "lr": 1e-4,
            "grad_clip": 40.0,
            "vf_loss_coeff": 0.5,
            "entropy_coeff": 0.01,
            "min_iter_time_s": 10.0
        }),
    };
    if let (Some(d), Value::Object(s)) = (d.as_object_mut(), specific) {
        d.extend(s);
    }
    d
}

/// One experiment of an experiment file, with its config resolved.
#[derive(Debug, Clone)]
pub struct Experiment {
    /// The experiment's name (the file's top-level key).
    pub name: String,
    /// The algorithm (`run`).
    pub run: Algorithm,
    /// Stop conditions: result paths (`a/b`) and the threshold that ends training.
    pub stop: BTreeMap<String, f64>,
    /// The trainer config.
    pub config: TrainerConfig,
    /// Save a checkpoint every N iterations (0: never).
    pub checkpoint_freq: usize,
    /// Save a checkpoint when training ends.
    pub checkpoint_at_end: bool,
    /// Root of the results (`~/rllib_results` by default).
    pub local_dir: Option<PathBuf>,
    /// Checkpoint to restore before training.
    pub restore: Option<PathBuf>,
    /// Warnings produced while reading the file, to be logged once.
    pub warnings: Vec<String>,
    /// For a trial of a grid search: the path and value of each grid-searched setting.
    pub grid: Vec<(String, Value)>,
    /// A cluster's head (`HOST:PORT`) to run the remote rollout workers on (`rllib train
    /// --address`, or `RLLIB_ADDRESS`); `None` runs them on this machine.
    pub address: Option<String>,
}

fn invalid(at: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        at: at.into(),
        message: message.into(),
    }
}

fn invalid_value(at: &str, key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        at: at.to_string(),
        key: key.to_string(),
        message: message.into(),
    }
}

fn unknown_key<'a>(at: &str, key: &str, known: impl IntoIterator<Item = &'a str>) -> ConfigError {
    ConfigError::UnknownKey {
        at: at.to_string(),
        key: key.to_string(),
        suggestion: nearest(key, known).map(str::to_string),
    }
}

/// The known key nearest to `key` by edit distance, if any is close.
pub fn nearest<'a>(key: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (strsim::levenshtein(key, k), k))
        .filter(|(d, k)| *d <= (k.len().max(key.len()) / 2).max(2))
        .min()
        .map(|(_, k)| k)
}

/// Parses YAML (or JSON, a subset of YAML) text, reporting syntax errors with line and column.
pub fn parse_yaml(text: &str, origin: &str) -> Result<Value> {
    let yaml: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|e| match e.location() {
            Some(loc) => ConfigError::Syntax {
                origin: origin.to_string(),
                line: loc.line(),
                column: loc.column(),
                message: strip_location(&e.to_string()),
            },
            None => invalid(origin, format!("YAML syntax error: {e}")),
        })?;
    Ok(serde_json::to_value(&yaml).map_err(|e| invalid(origin, e.to_string()))?)
}

fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Reads an experiment file: every experiment in it, validated.
pub fn load_experiment_file(path: &Path) -> Result<Vec<Experiment>> {
    let text = std::fs::read_to_string(path).map_err(|e| RllibError::io(path, e))?;
    let origin = path.display().to_string();
    let doc = parse_yaml(&text, &origin)?;
    let Value::Object(top) = doc else {
        return Err(invalid(
            &origin,
            "expected a mapping of experiment names to {env, run, stop, config}",
        )
        .into());
    };
    if top.is_empty() {
        return Err(invalid(&origin, "no experiment in the file").into());
    }
    let mut out = Vec::new();
    for (name, spec) in top {
        out.extend(experiments_from_spec(&name, spec, &origin)?);
    }
    Ok(out)
}

/// Expands `{grid_search: [...]}` anywhere in a spec (even `env`) into one experiment per
/// combination; grids are taken in sorted key order, later ones varying fastest.
pub fn experiments_from_spec(name: &str, spec: Value, origin: &str) -> Result<Vec<Experiment>> {
    expand_grid(&spec)
        .map_err(|e| invalid(format!("{origin}: experiment '{name}'"), e))?
        .into_iter()
        .map(|(spec, grid)| {
            let mut e = experiment_from_spec(name, spec, origin)?;
            e.grid = grid;
            Ok(e)
        })
        .collect()
}

/// One combination of a grid search: the spec with values filled in, and the chosen
/// (path, value) pairs.
pub type GridTrial = (Value, Vec<(String, Value)>);

/// Every combination of the grid searches in `v`, with the chosen (path, value) pairs.
pub fn expand_grid(v: &Value) -> std::result::Result<Vec<GridTrial>, String> {
    let mut grids: Vec<(Vec<String>, Vec<Value>)> = Vec::new();
    find_grids(v, &mut Vec::new(), &mut grids)?;
    let mut out = vec![(v.clone(), Vec::new())];
    for (path, values) in &grids {
        let mut next = Vec::new();
        for (spec, chosen) in &out {
            for value in values {
                let mut spec = spec.clone();
                let pointer = format!("/{}", path.join("/"));
                if let Some(slot) = spec.pointer_mut(&pointer) {
                    *slot = value.clone();
                }
                let mut chosen = chosen.clone();
                chosen.push((path.join("/"), value.clone()));
                next.push((spec, chosen));
            }
        }
        out = next;
    }
    Ok(out)
}

fn find_grids(
    v: &Value,
    path: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, Vec<Value>)>,
) -> std::result::Result<(), String> {
    if let Value::Object(m) = v {
        if let Some(g) = m.get("grid_search") {
            let at = if path.is_empty() {
                "the top level".to_string()
            } else {
                path.join(".")
            };
            if m.len() != 1 {
                return Err(format!(
                    "{at}: grid_search must be the only key of its mapping"
                ));
            }
            return match g {
                Value::Array(values) if !values.is_empty() => {
                    out.push((path.clone(), values.clone()));
                    Ok(())
                }
                _ => Err(format!(
                    "{at}: grid_search needs a non-empty list of values"
                )),
            };
        }
        for (k, x) in m {
            path.push(k.clone());
            find_grids(x, path, out)?;
            path.pop();
        }
    }
    Ok(())
}

/// Builds one experiment from its `{env, run, stop, config}` mapping.
pub fn experiment_from_spec(name: &str, spec: Value, origin: &str) -> Result<Experiment> {
    let at = format!("{origin}: experiment '{name}'");
    let Value::Object(spec) = spec else {
        return Err(invalid(&at, "expected a mapping with env, run, stop and config").into());
    };
    for key in spec.keys() {
        if !EXPERIMENT_KEYS.contains(&key.as_str()) {
            return Err(unknown_key(&at, key, EXPERIMENT_KEYS.iter().copied()).into());
        }
    }
    let run: Algorithm = match spec.get("run") {
        Some(Value::String(s)) => s.parse().map_err(|e: crate::algorithm::UnknownAlgorithm| {
            invalid_value(&at, "run", e.to_string())
        })?,
        Some(other) => {
            return Err(invalid_value(&at, "run", format!("must be a string, got {other}")).into())
        }
        None => {
            return Err(invalid(
                &at,
                format!("missing 'run' (one of {})", Algorithm::known_names()),
            )
            .into())
        }
    };
    let mut user_config = match spec.get("config") {
        Some(Value::Object(m)) => m.clone(),
        Some(Value::Null) | None => Map::new(),
        Some(other) => {
            return Err(
                invalid_value(&at, "config", format!("must be a mapping, got {other}")).into(),
            )
        }
    };
    if let Some(env) = spec.get("env") {
        user_config.insert("env".into(), env.clone());
    }
    let mut warnings = Vec::new();
    let config = resolve_config(run, user_config, &format!("{at}: config"), &mut warnings)?;
    let stop = parse_stop(spec.get("stop"), &at)?;
    let checkpoint_freq = match spec.get("checkpoint_freq") {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_u64().ok_or_else(|| {
            invalid_value(
                &at,
                "checkpoint_freq",
                format!("must be a non-negative integer, got {v}"),
            )
        })? as usize,
    };
    let checkpoint_at_end = match spec.get("checkpoint_at_end") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            return Err(invalid_value(
                &at,
                "checkpoint_at_end",
                format!("must be true or false, got {v}"),
            )
            .into())
        }
    };
    let path_key = |key: &str| -> Result<Option<PathBuf>> {
        match spec.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(expand_home(s))),
            Some(v) => Err(invalid_value(&at, key, format!("must be a path, got {v}")).into()),
        }
    };
    let local_dir = path_key("local_dir")?.or(path_key("storage_path")?);
    let restore = path_key("restore")?;
    Ok(Experiment {
        name: name.to_string(),
        run,
        stop,
        config,
        checkpoint_freq,
        checkpoint_at_end,
        local_dir,
        restore,
        warnings,
        grid: Vec::new(),
        address: None,
    })
}

/// `~/x` as the home directory's `x`.
pub fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

fn parse_stop(stop: Option<&Value>, at: &str) -> Result<BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    let Some(stop) = stop else { return Ok(out) };
    let Value::Object(m) = stop else {
        if stop.is_null() {
            return Ok(out);
        }
        return Err(
            invalid_value(at, "stop", "must be a mapping of result keys to thresholds").into(),
        );
    };
    let known = known_result_paths();
    for (key, v) in m {
        let path = canonical_stop_key(key);
        if !known.iter().any(|k| k == &path) {
            return Err(ConfigError::UnknownStopKey {
                at: at.to_string(),
                key: key.clone(),
                suggestion: nearest(key, known.iter().map(|s| s.as_str())).map(str::to_string),
            }
            .into());
        }
        let x = v.as_f64().ok_or_else(|| {
            invalid_value(
                at,
                &format!("stop.{key}"),
                format!("must be a number, got {v}"),
            )
        })?;
        out.insert(path, x);
    }
    Ok(out)
}

/// Applies aliases, warnings, defaults and validation to a user's config mapping.
pub fn resolve_config(
    algorithm: Algorithm,
    user: Map<String, Value>,
    at: &str,
    warnings: &mut Vec<String>,
) -> Result<TrainerConfig> {
    let mut merged = defaults(algorithm);
    let known: Vec<String> = {
        let mut k: Vec<String> = merged
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        k.extend(ALIASES.iter().map(|(a, _)| a.to_string()));
        k.extend(IGNORED_KEYS.iter().map(|(a, _)| a.to_string()));
        k
    };
    let mut seen_canonical: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in user {
        if let Some((_, why)) = IGNORED_KEYS.iter().find(|(k, _)| *k == key) {
            let harmless =
                (key == "framework" && value == "torch") || (key == "use_pytorch" && value == true);
            if !harmless {
                warnings.push(format!("{at}: '{key}: {value}' is ignored: {why}"));
            }
            continue;
        }
        let canonical = ALIASES
            .iter()
            .find(|(a, _)| *a == key)
            .map(|(_, c)| c.to_string())
            .unwrap_or_else(|| key.clone());
        let Some(slot) = merged.get_mut(&canonical) else {
            return Err(unknown_key(at, &key, known.iter().map(|s| s.as_str())).into());
        };
        if let Some(prev) = seen_canonical.insert(canonical.clone(), key.clone()) {
            return Err(ConfigError::DuplicateKey {
                at: at.to_string(),
                first: prev,
                second: key,
            }
            .into());
        }
        if canonical == "model" {
            merge_model(slot, value, at)?;
        } else {
            *slot = value;
        }
    }
    // `num_gpus` is resolved against the machine when the policy is built.
    let config: TrainerConfig = serde_path_to_error::deserialize(merged)
        .map_err(|e| invalid_value(at, &e.path().to_string(), e.inner().to_string()))?;
    validate(&config, algorithm, at)?;
    Ok(config)
}

fn merge_model(slot: &mut Value, value: Value, at: &str) -> Result<()> {
    let Value::Object(user) = value else {
        return Err(invalid_value(at, "model", format!("must be a mapping, got {value}")).into());
    };
    let Some(model) = slot.as_object_mut() else {
        return Err(invalid_value(at, "model", "internal default is not a mapping").into());
    };
    let known: Vec<String> = model.keys().cloned().collect();
    for (k, v) in user {
        match model.get_mut(&k) {
            Some(s) => *s = v,
            None => {
                return Err(unknown_key(
                    &format!("{at}.model"),
                    &k,
                    known.iter().map(|s| s.as_str()),
                )
                .into())
            }
        }
    }
    Ok(())
}

fn validate(c: &TrainerConfig, algorithm: Algorithm, at: &str) -> Result<()> {
    let bad = |key: &str, why: &str| Err(invalid_value(at, key, why).into());
    if c.env.is_empty() {
        return bad("env", "missing: name an env id such as CartPole-v1");
    }
    if !(c.lr > 0.0 && c.lr.is_finite()) {
        return bad("lr", &format!("must be a positive number, got {}", c.lr));
    }
    if !(0.0..=1.0).contains(&c.gamma) {
        return bad("gamma", &format!("must be in [0, 1], got {}", c.gamma));
    }
    if !(0.0..=1.0).contains(&c.lambda) {
        return bad("lambda", &format!("must be in [0, 1], got {}", c.lambda));
    }
    for (key, v) in [
        ("clip_param", c.clip_param),
        ("vf_clip_param", c.vf_clip_param),
        ("kl_target", c.kl_target),
    ] {
        if !(v > 0.0 && v.is_finite()) {
            return bad(key, &format!("must be a positive number, got {v}"));
        }
    }
    for (key, v) in [
        ("kl_coeff", c.kl_coeff),
        ("vf_loss_coeff", c.vf_loss_coeff),
        ("entropy_coeff", c.entropy_coeff),
        ("num_gpus", c.num_gpus),
        ("num_cpus_per_worker", c.num_cpus_per_worker),
        ("num_gpus_per_worker", c.num_gpus_per_worker),
    ] {
        if !(v >= 0.0 && v.is_finite()) {
            return bad(key, &format!("must be zero or positive, got {v}"));
        }
    }
    for (name, v) in &c.custom_resources_per_worker {
        if !(*v >= 0.0 && v.is_finite()) {
            return bad(
                "custom_resources_per_worker",
                &format!("{name} must be zero or positive, got {v}"),
            );
        }
    }
    if let Some(g) = c.grad_clip {
        if g <= 0.0 || g.is_nan() {
            return bad("grad_clip", &format!("must be positive or null, got {g}"));
        }
    }
    for (key, v) in [
        ("num_envs_per_worker", c.num_envs_per_worker),
        ("rollout_fragment_length", c.rollout_fragment_length),
        ("train_batch_size", c.train_batch_size),
        ("num_sgd_iter", c.num_sgd_iter),
        ("sgd_minibatch_size", c.sgd_minibatch_size),
        ("metrics_smoothing_episodes", c.metrics_smoothing_episodes),
        ("num_threads_per_worker", c.num_threads_per_worker),
    ] {
        if v == 0 {
            return bad(key, "must be at least 1");
        }
    }
    if !(c.min_iter_time_s >= 0.0 && c.min_iter_time_s.is_finite()) {
        return bad("min_iter_time_s", "must be zero or positive");
    }
    if c.grads_per_step == 0 {
        return bad("grads_per_step", "must be at least 1");
    }
    if algorithm.uses_ppo_loss() && c.sgd_minibatch_size > c.train_batch_size {
        return bad(
            "sgd_minibatch_size",
            &format!(
                "{} is larger than train_batch_size {}",
                c.sgd_minibatch_size, c.train_batch_size
            ),
        );
    }
    if let Some(points) = &c.lr_schedule {
        if points.is_empty() {
            return bad("lr_schedule", "needs at least one [timestep, lr] point");
        }
        if points.windows(2).any(|w| w[1][0] < w[0][0]) {
            return bad("lr_schedule", "timesteps must not decrease");
        }
        if points.iter().any(|p| !(p[1] >= 0.0 && p[1].is_finite())) {
            return bad("lr_schedule", "learning rates must be zero or positive");
        }
    }
    if c.num_threads_per_worker > MAX_THREADS_PER_WORKER {
        return bad(
            "num_threads_per_worker",
            &format!(
                "must be between 1 and {MAX_THREADS_PER_WORKER}, got {}",
                c.num_threads_per_worker
            ),
        );
    }
    for [index, factor] in c.worker_slowdown.iter().flatten() {
        if !(index.is_finite() && *index >= 0.0 && index.fract() == 0.0) {
            return bad(
                "worker_slowdown",
                &format!("worker index {index} must be a whole number >= 0"),
            );
        }
        if !(factor.is_finite() && (1.0..=MAX_WORKER_SLOWDOWN).contains(factor)) {
            return bad(
                "worker_slowdown",
                &format!(
                    "slowdown factor {factor} of worker {index} must be between 1 and {MAX_WORKER_SLOWDOWN}"
                ),
            );
        }
    }
    if c.model.fcnet_hiddens.contains(&0) {
        return bad("model.fcnet_hiddens", "layer sizes must be at least 1");
    }
    if let Some(d) = &c.device {
        if !(d == "cpu"
            || d == "cuda"
            || d.strip_prefix("cuda:")
                .is_some_and(|n| n.parse::<usize>().is_ok()))
        {
            return bad("device", &format!("must be cpu, cuda or cuda:N, got '{d}'"));
        }
    }
    Ok(())
}

/// The value of a piecewise-linear schedule at `t` (RLlib's `PiecewiseSchedule`, holding the
/// end values outside the points).
pub fn piecewise(points: &[[f64; 2]], t: f64) -> f64 {
    match points {
        [] => f64::NAN,
        [first, ..] if t <= first[0] => first[1],
        _ => {
            for w in points.windows(2) {
                let ([t0, v0], [t1, v1]) = (w[0], w[1]);
                if t >= t0 && t < t1 {
                    return v0 + (t - t0) / (t1 - t0) * (v1 - v0);
                }
            }
            points[points.len() - 1][1]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piecewise_schedule_interpolates_and_holds_the_ends() {
        let p = [[0.0, 1.0], [100.0, 0.0]];
        assert_eq!(piecewise(&p, -5.0), 1.0);
        assert!((piecewise(&p, 25.0) - 0.75).abs() < 1e-12);
        assert_eq!(piecewise(&p, 500.0), 0.0);
    }

    #[test]
    fn grid_search_expands_anywhere_in_order() {
        let spec = serde_json::json!({
            "run": "PPO",
            "env": {"grid_search": ["CartPole-v1", "Acrobot-v1"]},
            "config": {"lr": {"grid_search": [0.1, 0.01, 0.001]}, "model": {"fcnet_hiddens": {"grid_search": [[8], [16, 16]]}}}
        });
        let exps = experiments_from_spec("g", spec, "test").unwrap();
        assert_eq!(exps.len(), 12);
        assert_eq!(exps[0].config.env, "CartPole-v1");
        assert_eq!(exps[0].config.lr, 0.1);
        assert_eq!(exps[0].config.model.fcnet_hiddens, vec![8]);
        assert_eq!(exps[1].config.env, "Acrobot-v1");
        assert_eq!(exps[2].config.model.fcnet_hiddens, vec![16, 16]);
        assert_eq!(exps[4].config.lr, 0.01);
        assert_eq!(exps[11].config.env, "Acrobot-v1");
        assert_eq!(exps[11].config.lr, 0.001);
        assert_eq!(exps[11].grid.len(), 3);
        let bad = serde_json::json!({"run": "PPO", "env": "CartPole-v1", "config": {"lr": {"grid_search": []}}});
        assert!(experiments_from_spec("g", bad, "test").is_err());
    }

    #[test]
    fn tensorflow_era_keys_warn_and_unknown_keys_fail() {
        let mut w = Vec::new();
        let user = serde_json::json!({"env": "CartPole-v1", "framework": "tf", "use_pytorch": false, "log_level": "WARN"});
        resolve_config(
            Algorithm::Ppo,
            user.as_object().cloned().unwrap(),
            "t",
            &mut w,
        )
        .unwrap();
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(
            w[0].contains("framework") && w[0].contains("libtorch"),
            "{w:?}"
        );
        let mut w = Vec::new();
        let user = serde_json::json!({"env": "CartPole-v1", "framework": "torch"});
        resolve_config(
            Algorithm::Ppo,
            user.as_object().cloned().unwrap(),
            "t",
            &mut w,
        )
        .unwrap();
        assert!(w.is_empty());
        let user = serde_json::json!({"env": "CartPole-v1", "clip_param": 0.2});
        let e = resolve_config(
            Algorithm::A3c,
            user.as_object().cloned().unwrap(),
            "t",
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("clip_param"), "{e}");
    }

    #[test]
    fn nearest_key_suggestion() {
        assert_eq!(nearest("lrr", ["lr", "gamma"]), Some("lr"));
        assert_eq!(nearest("zzzzzzzz", ["lr", "gamma"]), None);
    }

    #[test]
    fn worker_failure_keys_take_old_and_new_names() {
        let resolve = |user: serde_json::Value| {
            resolve_config(
                Algorithm::Ppo,
                user.as_object().cloned().unwrap(),
                "t",
                &mut Vec::new(),
            )
        };
        let c = resolve(serde_json::json!({"env": "CartPole-v1"})).unwrap();
        assert!(c.restart_failed_env_runners);
        assert_eq!(c.max_num_env_runner_restarts, 1000);
        assert_eq!(c.worker_isolation, WorkerIsolation::Thread);
        let c = resolve(
            serde_json::json!({"env": "CartPole-v1", "recreate_failed_workers": false,
            "max_num_worker_restarts": 3, "worker_isolation": "process"}),
        )
        .unwrap();
        assert!(!c.restart_failed_env_runners);
        assert_eq!(c.max_num_env_runner_restarts, 3);
        assert_eq!(c.worker_isolation, WorkerIsolation::Process);
        let e = resolve(serde_json::json!({"env": "CartPole-v1", "worker_isolation": "fork"}))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("worker_isolation") && e.contains("thread") && e.contains("process"),
            "{e}"
        );
    }
}
