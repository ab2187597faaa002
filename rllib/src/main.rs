//! The `rllib` command line: `train`, `evaluate`, `env check`, `microbenchmark`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context};
use clap::{Parser, Subcommand};
use serde_json::Value;

use rllib::config::{self, Experiment};
use rllib::tune::{run_experiment, RunOptions};
use rllib::{RllibError, Trainer};

#[derive(Parser)]
#[command(
    name = "rllib",
    version,
    about = "Train RL agents with RLlib's experiment files, in Rust"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train from an experiment file (`--config FILE.yaml` / `-f FILE`) or from flags.
    Train(TrainArgs),
    /// Run a checkpoint's policy for some episodes and print the mean return.
    #[command(alias = "rollout")]
    Evaluate(EvaluateArgs),
    /// Environment tools.
    Env {
        #[command(subcommand)]
        command: EnvCommand,
    },
    /// The runtime's microbenchmark, with `ray microbenchmark`'s rows.
    Microbenchmark(MicrobenchmarkArgs),
}

#[derive(clap::Args)]
struct TrainArgs {
    /// An experiment file (YAML), or a JSON config object used with --run/--env.
    #[arg(long)]
    config: Option<String>,
    /// An experiment file (overrides --run, --env, --stop).
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// Algorithm, with --env (e.g. PPO).
    #[arg(long)]
    run: Option<String>,
    /// Env id, with --run (e.g. CartPole-v1).
    #[arg(long)]
    env: Option<String>,
    /// Stop conditions as JSON, e.g. '{"episode_reward_mean": 475}'.
    #[arg(long)]
    stop: Option<String>,
    /// Root directory of the results (default ~/rllib_results).
    #[arg(long)]
    local_dir: Option<PathBuf>,
    /// Experiment name (the directory under --local-dir), with --run/--env.
    #[arg(long)]
    experiment_name: Option<String>,
    /// Save a checkpoint every N iterations (0: never).
    #[arg(long)]
    checkpoint_freq: Option<usize>,
    /// Save a checkpoint when training stops.
    #[arg(long)]
    checkpoint_at_end: bool,
    /// Restore this checkpoint and continue training.
    #[arg(long)]
    restore: Option<PathBuf>,
    /// Seed of everything random (overrides the config's).
    #[arg(long)]
    seed: Option<u64>,
    /// Hide the progress bar (live lines go to the log).
    #[arg(long)]
    no_progress: bool,
}

#[derive(clap::Args)]
struct EvaluateArgs {
    /// A checkpoint directory written by `rllib train`.
    checkpoint: PathBuf,
    /// Episodes to run.
    #[arg(long, default_value_t = 10)]
    episodes: usize,
    /// Sample actions instead of taking the most likely one.
    #[arg(long)]
    explore: bool,
    /// Accepted for RLlib compatibility; the checkpoint records its algorithm.
    #[arg(long)]
    run: Option<String>,
}

#[derive(Subcommand)]
enum EnvCommand {
    /// Replay a Gymnasium recording (.jsonl) against the native env.
    Check {
        /// The recording.
        file: PathBuf,
    },
    /// List the registered env ids.
    List,
}

#[derive(clap::Args)]
struct MicrobenchmarkArgs {
    /// Worker mode: thread, process or both.
    #[arg(long, default_value = "both")]
    mode: String,
    /// Seconds per row and repetition.
    #[arg(long, default_value_t = 1.0)]
    duration: f64,
}

/// A failure with the exit code it maps to: 2 for bad input, 1 for everything else.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        let code = match error.downcast_ref::<RllibError>() {
            Some(RllibError::Config(_))
            | Some(RllibError::Checkpoint { .. })
            | Some(RllibError::Env(_))
            | Some(RllibError::Device(_)) => 2,
            _ if error.downcast_ref::<BadInput>().is_some() => 2,
            _ => 1,
        };
        Failure { code, error }
    }
}

impl From<RllibError> for Failure {
    fn from(e: RllibError) -> Self {
        anyhow::Error::from(e).into()
    }
}

/// Bad input found by the binary itself (exit code 2).
#[derive(Debug)]
struct BadInput(String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

fn bad(msg: impl Into<String>) -> Failure {
    Failure {
        code: 2,
        error: anyhow!(BadInput(msg.into())),
    }
}

fn main() -> ExitCode {
    // Process-mode runtime workers re-execute this binary; they never reach the CLI.
    runtime::worker_main_if_requested();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Train(a) => train(a),
        Command::Evaluate(a) => evaluate(a),
        Command::Env { command } => env_command(command),
        Command::Microbenchmark(a) => microbenchmark(a),
    };
    match outcome {
        Ok(code) => code,
        Err(f) => {
            eprintln!("error: {:#}", f.error);
            ExitCode::from(f.code)
        }
    }
}

fn parse_json_arg(flag: &str, text: &str) -> Result<Value, Failure> {
    config::parse_yaml(text, flag).map_err(Failure::from)
}

fn experiments_from_args(a: &TrainArgs) -> Result<Vec<Experiment>, Failure> {
    let file = match (&a.file, &a.config) {
        (Some(f), _) => Some(f.clone()),
        (None, Some(c)) if !c.trim_start().starts_with('{') => Some(PathBuf::from(c)),
        _ => None,
    };
    let mut exps = if let Some(f) = file {
        if !f.exists() {
            return Err(bad(format!("{}: no such experiment file", f.display())));
        }
        config::load_experiment_file(&f)?
    } else {
        let run = a.run.clone().ok_or_else(|| {
            bad("train needs --config FILE.yaml (or -f FILE), or --run ALGO --env ENV")
        })?;
        let env = a
            .env
            .clone()
            .ok_or_else(|| bad("--run needs --env ENV (e.g. --env CartPole-v1)"))?;
        let mut spec = serde_json::Map::new();
        spec.insert("run".into(), Value::String(run));
        // `--env '{"grid_search": [...]}'` searches over envs, as in a file.
        let env_value = if env.trim_start().starts_with('{') {
            parse_json_arg("--env", &env)?
        } else {
            Value::String(env)
        };
        spec.insert("env".into(), env_value);
        if let Some(c) = &a.config {
            spec.insert("config".into(), parse_json_arg("--config", c)?);
        }
        if let Some(s) = &a.stop {
            spec.insert("stop".into(), parse_json_arg("--stop", s)?);
        }
        let name = a
            .experiment_name
            .clone()
            .unwrap_or_else(|| "default".into());
        config::experiments_from_spec(&name, Value::Object(spec), "command line")?
    };
    for e in &mut exps {
        if a.file.is_some()
            || a.config
                .as_deref()
                .is_some_and(|c| !c.trim_start().starts_with('{'))
        {
            if let Some(s) = &a.stop {
                let extra = parse_json_arg("--stop", s)?;
                let m = extra
                    .as_object()
                    .ok_or_else(|| bad("--stop must be a JSON object"))?;
                let parsed = config::experiment_from_spec(
                    &e.name,
                    serde_json::json!({"run": e.run, "env": e.config.env, "stop": m}),
                    "--stop",
                )?;
                e.stop.extend(parsed.stop);
            }
        }
        if let Some(d) = &a.local_dir {
            e.local_dir = Some(d.clone());
        }
        if let Some(f) = a.checkpoint_freq {
            e.checkpoint_freq = f;
        }
        if a.checkpoint_at_end {
            e.checkpoint_at_end = true;
        }
        if let Some(r) = &a.restore {
            e.restore = Some(r.clone());
        }
        if let Some(s) = a.seed {
            e.config.seed = Some(s);
        }
    }
    Ok(exps)
}

fn train(a: TrainArgs) -> Result<ExitCode, Failure> {
    let exps = experiments_from_args(&a)?;
    let opts = RunOptions {
        progress: !a.no_progress,
    };
    // Every trial's env is checked before the first trial starts, so a bad value in a grid
    // search fails before anything is written.
    for exp in &exps {
        envs::make(&exp.config.env).map_err(RllibError::from)?;
    }
    let mut summaries = Vec::new();
    for exp in &exps {
        let s = run_experiment(exp, &opts)?;
        summaries.push((exp.name.clone(), s));
    }
    if exps.len() > 1 {
        println!(
            "{:<4} {:<48} {:>6} {:>12}",
            "#", "trial parameters", "iters", "best return"
        );
        for (i, (exp, (_, s))) in exps.iter().zip(&summaries).enumerate() {
            let params: Vec<String> = if exp.grid.is_empty() {
                vec![format!("{} on {}", exp.run, exp.config.env)]
            } else {
                exp.grid.iter().map(|(k, v)| format!("{k}={v}")).collect()
            };
            println!(
                "{:<4} {:<48} {:>6} {:>12.2}",
                i,
                params.join(" "),
                s.iterations,
                s.best_reward
            );
        }
    }
    for (name, s) in &summaries {
        println!(
            "== {name}: {} iterations, stopped by {}",
            s.iterations, s.stopped_by
        );
        if s.best_reward.is_finite() {
            println!("   best episode_reward_mean {:.2}", s.best_reward);
        } else {
            println!("   no episode finished");
        }
        println!("   results in {}", s.dir.display());
        match &s.last_checkpoint {
            Some(c) => println!("   last checkpoint {}", c.display()),
            None => println!("   no checkpoint (use --checkpoint-freq N or --checkpoint-at-end)"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn evaluate(a: EvaluateArgs) -> Result<ExitCode, Failure> {
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
        .unwrap_or("PPO")
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

fn env_command(c: EnvCommand) -> Result<ExitCode, Failure> {
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

fn microbenchmark(a: MicrobenchmarkArgs) -> Result<ExitCode, Failure> {
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
    if a.duration.is_nan() || a.duration <= 0.0 {
        return Err(bad("--duration must be positive"));
    }
    for mode in modes {
        println!("# {mode:?} workers");
        let out =
            runtime::microbenchmark::run(mode, std::time::Duration::from_secs_f64(a.duration))
                .context("microbenchmark")?;
        for row in out {
            println!(
                "{} per second {:.2} +- {:.2}",
                row.name, row.mean, row.stdev
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
