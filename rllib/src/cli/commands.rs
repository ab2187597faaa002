//! `rllib evaluate`, `rllib env`, `rllib microbenchmark`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use rllib::Trainer;

use super::args::{EnvCommand, EvaluateArgs, MicrobenchmarkArgs};
use super::{bad, Failure};

/// The longest `--duration` accepted: one day per row and repetition.
const MAX_DURATION_S: f64 = 86_400.0;

/// Runs a checkpoint's policy for some episodes and prints the mean return.
pub fn evaluate(a: EvaluateArgs) -> Result<ExitCode, Failure> {
    let state_path = if a.checkpoint.is_file() {
        a.checkpoint
            .parent()
            .unwrap_or(Path::new("."))
            .join("trainer_state.json")
    } else {
        a.checkpoint.join("trainer_state.json")
    };
    let text = std::fs::read_to_string(&state_path).map_err(|e| {
        bad(format!(
            "{}: not a checkpoint ({e})",
            a.checkpoint.display()
        ))
    })?;
    let raw: Value = serde_json::from_str(&text).map_err(|e| {
        bad(format!(
            "{}: damaged checkpoint state: {e}",
            state_path.display()
        ))
    })?;
    let algorithm = raw
        .get("algorithm")
        .and_then(Value::as_str)
        .unwrap_or(rllib::Algorithm::Ppo.name())
        .to_string();
    let cfg_value = raw.get("config").cloned().ok_or_else(|| {
        bad(format!(
            "{}: no config in the checkpoint",
            state_path.display()
        ))
    })?;
    let mut cfg: rllib::TrainerConfig = serde_json::from_value(cfg_value).map_err(|e| {
        bad(format!(
            "{}: damaged checkpoint config: {e}",
            state_path.display()
        ))
    })?;
    // Evaluation needs no rollout workers.
    cfg.num_workers = 0;
    cfg.num_envs_per_worker = 1;
    let mut trainer = Trainer::new(&algorithm, cfg)?;
    trainer.restore_policy_only(&a.checkpoint)?;
    let r = trainer.evaluate(a.episodes, a.explore)?;
    println!(
        "evaluate: {} episodes, mean return {:.2}, mean length {:.1}",
        r.episodes, r.mean_return, r.mean_length
    );
    Ok(ExitCode::SUCCESS)
}

/// Replays a Gymnasium recording, or lists the registered envs.
pub fn env_command(c: EnvCommand) -> Result<ExitCode, Failure> {
    match c {
        EnvCommand::List => {
            for id in envs::registered_ids() {
                println!("{id}");
            }
            Ok(ExitCode::SUCCESS)
        }
        EnvCommand::Check { file } => {
            let report = envs::replay_file(&file).map_err(|e| bad(e.to_string()))?;
            for m in report.mismatches.iter().take(20) {
                eprintln!("mismatch: {m}");
            }
            println!("{report}");
            Ok(if report.mismatches.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// A `--duration` in seconds as a `Duration`: finite, positive, at most a day.
fn duration_arg(seconds: f64) -> Result<Duration, Failure> {
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= MAX_DURATION_S) {
        return Err(bad(format!(
            "--duration must be a number of seconds greater than 0 and at most {MAX_DURATION_S} (one day), got {seconds}"
        )));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// The runtime's microbenchmark, with `ray microbenchmark`'s rows.
pub fn microbenchmark(a: MicrobenchmarkArgs) -> Result<ExitCode, Failure> {
    let modes: Vec<runtime::Isolation> = match a.mode.as_str() {
        "thread" => vec![runtime::Isolation::Thread],
        "process" => vec![runtime::Isolation::Process],
        "both" => vec![runtime::Isolation::Thread, runtime::Isolation::Process],
        other => {
            return Err(bad(format!(
                "--mode must be thread, process or both, got '{other}'"
            )))
        }
    };
    let duration = duration_arg(a.duration)?;
    let address = a
        .address
        .as_deref()
        .map(|addr| cluster::check_address("--address", addr))
        .transpose()?;
    for mode in modes {
        println!("# {mode:?} workers");
        let out = runtime::microbenchmark::run(mode, duration).context("microbenchmark")?;
        for row in out {
            println!(
                "{} per second {:.2} +- {:.2}",
                row.name, row.mean, row.stdev
            );
        }
    }
    if let Some(address) = address {
        println!("# cross-node, cluster at {address}");
        runtime::microbenchmark::run_cluster(&address, duration, &mut |row| {
            println!(
                "{} per second {:.2} +- {:.2}",
                row.name, row.mean, row.stdev
            );
        })
        .context("microbenchmark")?;
    }
    Ok(ExitCode::SUCCESS)
}
