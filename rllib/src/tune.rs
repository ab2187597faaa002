//! The experiment loop behind `rllib train`: a trial directory, iterations until a stop
//! condition holds, checkpoints, a live line per iteration and a closing summary.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::config::Experiment;
use crate::error::Result;
use crate::logging::TrialLogger;
use crate::result::lookup;
use crate::trainer::Trainer;

/// How a finished trial ended.
#[derive(Debug, Clone)]
pub struct TrialSummary {
    /// The trial directory.
    pub dir: PathBuf,
    /// Iterations run (including restored ones).
    pub iterations: u64,
    /// Best `episode_reward_mean` seen.
    pub best_reward: f64,
    /// The last result.
    pub last_result: Value,
    /// The last checkpoint written, if any.
    pub last_checkpoint: Option<PathBuf>,
    /// Which stop condition ended the trial.
    pub stopped_by: String,
}

/// The default results root: `~/rllib_results`.
pub fn default_local_dir() -> PathBuf {
    crate::config::expand_home("~/rllib_results")
}

/// Whether a stop condition holds for `result`; returns the key that triggered.
pub fn should_stop(
    stop: &std::collections::BTreeMap<String, f64>,
    result: &Value,
) -> Option<String> {
    stop.iter().find_map(|(k, thr)| match lookup(result, k) {
        Some(v) if v >= *thr => Some(format!("{k} = {v} >= {thr}")),
        _ => None,
    })
}

/// What the experiment loop reports while a trial runs (the `rllib` binary draws its
/// progress bar and live lines from it). Every method does nothing by default.
pub trait TrialObserver {
    /// The trial directory was created; training starts.
    fn trial_started(&mut self, _exp: &Experiment, _dir: &Path) {}
    /// The trainer is built; `runtime` is where its rollout workers run (`None` when the
    /// driver samples alone), for tools that look inside it (dashboard, timeline).
    fn runtime_ready(&mut self, _exp: &Experiment, _runtime: Option<&runtime::RuntimeHandle>) {}
    /// An iteration finished; `result` is what `result.json` got.
    fn iteration(&mut self, _exp: &Experiment, _result: &Value) {}
    /// The trial ended, normally or with an error.
    fn trial_ended(&mut self, _exp: &Experiment) {}
}

/// An observer that reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl TrialObserver for Quiet {}

/// Runs one experiment to its stop condition. Everything is validated (the trainer is
/// built, a checkpoint to restore is read) before the trial directory is created.
pub fn run_experiment(exp: &Experiment, observer: &mut dyn TrialObserver) -> Result<TrialSummary> {
    for w in &exp.warnings {
        tracing::warn!("{w}");
    }
    let mut trainer = match &exp.address {
        Some(a) => Trainer::on_cluster(a, exp.run, exp.config.clone())?,
        None => Trainer::from_algorithm(exp.run, exp.config.clone())?,
    };
    if let Some(r) = &exp.restore {
        trainer.restore(r)?;
        tracing::info!(
            "restored {} at iteration {}",
            r.display(),
            trainer.iteration()
        );
    }
    let root = exp.local_dir.clone().unwrap_or_else(default_local_dir);
    let dir = trial_dir(&root.join(&exp.name), exp, trainer.seed());
    let mut params = serde_json::to_value(trainer.config()).unwrap_or(Value::Null);
    if let Some(m) = params.as_object_mut() {
        m.insert("seed".into(), json!(trainer.seed()));
        m.insert("run".into(), json!(exp.run));
    }
    let mut logger = TrialLogger::create(&dir, &params)?;
    tracing::info!("trial directory {}", dir.display());
    observer.trial_started(exp, &dir);
    observer.runtime_ready(exp, trainer.runtime().as_ref());
    let out = train_until_stopped(exp, &mut trainer, &mut logger, &dir, observer);
    observer.trial_ended(exp);
    out
}

fn train_until_stopped(
    exp: &Experiment,
    trainer: &mut Trainer,
    logger: &mut TrialLogger,
    dir: &Path,
    observer: &mut dyn TrialObserver,
) -> Result<TrialSummary> {
    let mut best = f64::NEG_INFINITY;
    let mut last_checkpoint = None;
    let mut last_result;
    let stopped_by = loop {
        let mut typed = trainer.train()?;
        let mut result = typed.to_json();
        let stop = should_stop(&exp.stop, &result);
        if stop.is_some() {
            typed.done = true;
            result = typed.to_json();
        }
        logger.log(&result)?;
        let it = trainer.iteration();
        let r = lookup(&result, "episode_reward_mean").unwrap_or(f64::NAN);
        if r > best {
            best = r;
        }
        observer.iteration(exp, &result);
        if exp.checkpoint_freq > 0 && it.is_multiple_of(exp.checkpoint_freq as u64) {
            last_checkpoint = Some(trainer.save(dir)?);
        }
        last_result = result;
        if let Some(s) = stop {
            break s;
        }
        if exp.stop.is_empty() && it >= 1 {
            break "no stop condition: one iteration".to_string();
        }
    };
    if exp.checkpoint_at_end {
        let it = trainer.iteration();
        let already = exp.checkpoint_freq > 0 && it.is_multiple_of(exp.checkpoint_freq as u64);
        if !already {
            last_checkpoint = Some(trainer.save(dir)?);
        }
    }
    Ok(TrialSummary {
        dir: dir.to_path_buf(),
        iterations: trainer.iteration(),
        best_reward: best,
        last_result,
        last_checkpoint,
        stopped_by,
    })
}

fn trial_dir(exp_dir: &Path, exp: &Experiment, seed: u64) -> PathBuf {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let grid: String = exp
        .grid
        .iter()
        .map(|(k, v)| {
            let key = k.rsplit('/').next().unwrap_or(k);
            let val: String = v
                .to_string()
                .chars()
                .filter(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ','))
                .collect();
            format!("_{key}={val}")
        })
        .collect();
    // A Python env string may hold a path and ':' (`envs/grid.py:GridWorld`): only its
    // last component, in characters safe in a file name, names the trial.
    let env: String = exp
        .config
        .env
        .rsplit('/')
        .next()
        .unwrap_or(&exp.config.env)
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let base = format!("{}_{env}{grid}_seed{}_{}", exp.run, seed, stamp);
    let mut dir = exp_dir.join(&base);
    let mut i = 1;
    while dir.exists() {
        dir = exp_dir.join(format!("{base}_{i}"));
        i += 1;
    }
    dir
}
