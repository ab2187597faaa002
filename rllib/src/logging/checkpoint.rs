//! Checkpoints: open, versioned files, written under a temporary name and renamed.
//!
//! `checkpoint_<NNNNNN>/` holds
//! - `policy.safetensors`: the model's weights by name, plus Adam's moments as
//!   `adam.m` and `adam.v` over all parameters, concatenated in the model's construction
//!   order (float32, readable without this project);
//! - `trainer_state.json`: `format` (`rllib-rs-checkpoint`), `version`, the algorithm, env,
//!   config, iteration, timesteps, KL coefficient, Adam's step, filter statistics, the
//!   episode window behind the smoothed metrics, RNG states and each rollout worker's state.
//!
//! Nothing is a pickle; a checkpoint from another algorithm, another model shape or a
//! damaged file is an error that says which.

use std::path::{Path, PathBuf};

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::algorithm::Algorithm;
use crate::algorithms::Learner;
use crate::config::{ModelConfig, TrainerConfig};
use crate::error::{Result, RllibError};
use crate::evaluation::rollout_worker::WorkerState;
use crate::evaluation::{MetricsWindow, RunningStat};
use crate::policy::torch_policy::{check_same_shapes, to_named};

/// The `format` field of every checkpoint.
pub const FORMAT: &str = "rllib-rs-checkpoint";
/// The checkpoint layout's version; bumped on any incompatible change.
pub const VERSION: u32 = 1;

const STATE_FILE: &str = "trainer_state.json";
const WEIGHTS_FILE: &str = "policy.safetensors";

/// Everything but the tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Always `rllib-rs-checkpoint`.
    pub format: String,
    /// Layout version.
    pub version: u32,
    /// Algorithm that wrote it.
    pub algorithm: Algorithm,
    /// Env trained on.
    pub env: String,
    /// Model shape.
    pub model: ModelConfig,
    /// The full config.
    pub config: TrainerConfig,
    /// The run's seed.
    pub seed: u64,
    /// Iterations done.
    pub iteration: u64,
    /// Env steps sampled.
    pub timesteps_total: u64,
    /// Steps trained on.
    pub steps_trained: u64,
    /// Wall time trained.
    pub time_total_s: f64,
    /// PPO's adaptive KL coefficient.
    pub kl_coeff: f64,
    /// Adam's step count.
    pub adam_step: i64,
    /// Central filter statistics.
    pub filter: Option<RunningStat>,
    /// The episodes behind the smoothed metrics.
    pub metrics: MetricsWindow,
    /// The learner's shuffling RNG.
    pub learner_rng: ChaCha8Rng,
    /// Each rollout worker's state, in worker order.
    pub workers: Vec<WorkerState>,
}

fn ckpt_err(path: &Path, message: impl Into<String>) -> RllibError {
    RllibError::checkpoint(path, message)
}

/// Writes `checkpoint_<iteration>` under `dir` (via a temporary directory and a rename).
pub fn write(
    dir: &Path,
    iteration: u64,
    state: &CheckpointState,
    learner: &Learner,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| RllibError::io(dir, e))?;
    let final_path = dir.join(format!("checkpoint_{iteration:06}"));
    let tmp = dir.join(format!(
        ".checkpoint_{iteration:06}.tmp-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| RllibError::io(&tmp, e))?;
    let params = learner.policy.model.named_parameters();
    let mut tensors: Vec<(String, Tensor)> = Vec::new();
    for (name, p) in &params {
        tensors.push((name.clone(), p.detach().to_device(tch::Device::Cpu)));
    }
    // Adam's moments cover the flat parameter buffer: the named tensors above, in
    // construction order.
    tensors.push((
        "adam.m".into(),
        learner.adam.m[0].to_device(tch::Device::Cpu),
    ));
    tensors.push((
        "adam.v".into(),
        learner.adam.v[0].to_device(tch::Device::Cpu),
    ));
    let wpath = tmp.join(WEIGHTS_FILE);
    Tensor::write_safetensors(&tensors, &wpath).map_err(|e| ckpt_err(&wpath, e.to_string()))?;
    let spath = tmp.join(STATE_FILE);
    let text = serde_json::to_string_pretty(state).map_err(|e| ckpt_err(&spath, e.to_string()))?;
    std::fs::write(&spath, text).map_err(|e| RllibError::io(&spath, e))?;
    if final_path.exists() {
        std::fs::remove_dir_all(&final_path).map_err(|e| RllibError::io(&final_path, e))?;
    }
    std::fs::rename(&tmp, &final_path).map_err(|e| RllibError::io(&final_path, e))?;
    Ok(final_path)
}

/// Reads a checkpoint into `learner` (weights and Adam moments) and returns its state.
/// `path` may be the checkpoint directory or a file inside it.
pub fn read(path: &Path, algorithm: Algorithm, learner: &mut Learner) -> Result<CheckpointState> {
    let dir = if path.is_file() {
        path.parent().unwrap_or(path)
    } else {
        path
    };
    if !dir.is_dir() {
        return Err(ckpt_err(path, "no such checkpoint directory"));
    }
    let spath = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&spath).map_err(|e| ckpt_err(&spath, e.to_string()))?;
    let raw: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| ckpt_err(&spath, format!("damaged state file: {e}")))?;
    if raw.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(ckpt_err(
            &spath,
            "not a checkpoint of this project (no 'format: rllib-rs-checkpoint')",
        ));
    }
    let version = raw.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
    if version != VERSION as u64 {
        return Err(ckpt_err(
            &spath,
            format!("checkpoint version {version}; this build reads version {VERSION}"),
        ));
    }
    let algo = raw.get("algorithm").and_then(|a| a.as_str()).unwrap_or("?");
    if algo != algorithm.name() {
        return Err(ckpt_err(
            dir,
            format!("written by {algo}, cannot restore into {algorithm}"),
        ));
    }
    let state: CheckpointState = serde_json::from_value(raw)
        .map_err(|e| ckpt_err(&spath, format!("damaged state file: {e}")))?;
    let wpath = dir.join(WEIGHTS_FILE);
    let tensors = Tensor::read_safetensors(&wpath)
        .map_err(|e| ckpt_err(&wpath, format!("damaged weights file: {e}")))?;
    let params = learner.policy.model.named_parameters();
    let find = |name: &str| -> Result<&Tensor> {
        tensors
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t)
            .ok_or_else(|| ckpt_err(&wpath, format!("missing tensor '{name}': the checkpoint's model differs from this config's")))
    };
    let mut named = Vec::new();
    for (name, _) in &params {
        named.push(to_named(name.clone(), find(name)?)?);
    }
    check_same_shapes(&params, &named).map_err(|e| ckpt_err(&wpath, e.to_string()))?;
    learner
        .policy
        .set_weights(&crate::policy::Weights { tensors: named })?;
    let device = learner.policy.device;
    let numel = learner.policy.model.flat().size();
    for (key, slot) in [
        ("adam.m", &mut learner.adam.m[0]),
        ("adam.v", &mut learner.adam.v[0]),
    ] {
        let t = find(key)?;
        if t.size() != numel {
            return Err(ckpt_err(
                &wpath,
                format!(
                    "{key} has shape {:?}, the model has {:?} parameters",
                    t.size(),
                    numel
                ),
            ));
        }
        *slot = t.to_device(device);
    }
    Ok(state)
}
