//! The experiment loop behind `rllib train`: a trial directory, iterations until a stop
//! condition holds, checkpoints, a live line per iteration and a closing summary.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
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

/// Options of a run that are not part of the experiment file.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Show the progress bar and live lines.
    pub progress: bool,
}

/// Runs one experiment to its stop condition. Everything is validated (the trainer is
/// built, a checkpoint to restore is read) before the trial directory is created.
pub fn run_experiment(exp: &Experiment, opts: &RunOptions) -> Result<TrialSummary> {
    for w in &exp.warnings {
        tracing::warn!("{w}");
    }
    let mut trainer = Trainer::new(&exp.run, exp.config.clone())?;
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
    let bar = progress_bar(exp, opts.progress);
    let mut best = f64::NEG_INFINITY;
    let mut last_checkpoint = None;
    let mut last_result;
    let stopped_by = loop {
        let mut result = trainer.train()?;
        let stop = should_stop(&exp.stop, &result);
        if let (Some(m), true) = (result.as_object_mut(), stop.is_some()) {
            m.insert("done".into(), json!(true));
        }
        logger.log(&result)?;
        let it = trainer.iteration();
        let r = lookup(&result, "episode_reward_mean").unwrap_or(f64::NAN);
        if r > best {
            best = r;
        }
        let line = iteration_line(&result);
        if let Some(b) = &bar {
            b.println(line);
            update_bar(b, exp, &result);
        } else {
            tracing::info!("{line}");
        }
        if exp.checkpoint_freq > 0 && it % exp.checkpoint_freq as u64 == 0 {
            last_checkpoint = Some(trainer.save(&dir)?);
        }
        last_result = result;
        if let Some(s) = stop {
            break s;
        }
        if exp.stop.is_empty() && it >= 1 {
            break "no stop condition: one iteration".to_string();
        }
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if exp.checkpoint_at_end {
        let it = trainer.iteration();
        let already = exp.checkpoint_freq > 0 && it % exp.checkpoint_freq as u64 == 0;
        if !already {
            last_checkpoint = Some(trainer.save(&dir)?);
        }
    }
    Ok(TrialSummary {
        dir,
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
    let base = format!(
        "{}_{}{grid}_seed{}_{}",
        exp.run, exp.config.env, seed, stamp
    );
    let mut dir = exp_dir.join(&base);
    let mut i = 1;
    while dir.exists() {
        dir = exp_dir.join(format!("{base}_{i}"));
        i += 1;
    }
    dir
}

/// The live line printed after each iteration.
pub fn iteration_line(r: &Value) -> String {
    let g = |k: &str| lookup(r, k).unwrap_or(f64::NAN);
    format!(
        "iter {:>4}  steps {:>8}  return mean {:>8.2} min {:>7.2} max {:>7.2}  len {:>6.1}  time {:>6.2}s",
        g("training_iteration"),
        g("timesteps_total"),
        g("episode_reward_mean"),
        g("episode_reward_min"),
        g("episode_reward_max"),
        g("episode_len_mean"),
        g("time_total_s"),
    )
}

fn progress_bar(exp: &Experiment, on: bool) -> Option<ProgressBar> {
    if !on {
        return None;
    }
    let (key, target) = exp.stop.iter().next().map(|(k, v)| (k.clone(), *v))?;
    let b = ProgressBar::new(1000);
    let style = ProgressStyle::with_template("{bar:40} {percent:>3}% {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    b.set_style(style);
    b.set_message(format!("toward {key} >= {target}"));
    Some(b)
}

fn update_bar(b: &ProgressBar, exp: &Experiment, r: &Value) {
    // The bar follows whichever stop condition is closest to being met.
    let frac = exp
        .stop
        .iter()
        .filter_map(|(k, t)| lookup(r, k).map(|v| if *t > 0.0 { v / t } else { 0.0 }))
        .filter(|f| f.is_finite())
        .fold(0.0f64, f64::max)
        .clamp(0.0, 1.0);
    b.set_position((frac * 1000.0) as u64);
}
