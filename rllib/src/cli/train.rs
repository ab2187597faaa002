//! `rllib train`: experiments from a file or from flags, one trial after another, and a
//! closing table.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value;

use rllib::config::{self, Experiment};
use rllib::tune::run_experiment;
use rllib::RllibError;

use super::args::TrainArgs;
use super::progress::Progress;
use super::{bad, Failure};

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

/// Runs every experiment (trial) the arguments name.
pub fn train(a: TrainArgs) -> Result<ExitCode, Failure> {
    let mut exps = experiments_from_args(&a)?;
    let address = match (&a.address, std::env::var(cluster::ADDRESS_ENV)) {
        (Some(addr), _) => Some(cluster::check_address("--address", addr)?),
        (None, Ok(addr)) if !addr.trim().is_empty() => {
            Some(cluster::check_address(cluster::ADDRESS_ENV, addr.trim())?)
        }
        _ => None,
    };
    for exp in &mut exps {
        exp.address = address.clone();
    }
    let mut progress = Progress::new(!a.no_progress);
    let logdir = exps
        .first()
        .and_then(|e| e.local_dir.clone())
        .unwrap_or_else(rllib::tune::default_local_dir);
    let mut watch = super::dashboard::TrainWatch::new(
        &mut progress,
        a.dashboard.then_some(a.dashboard_port),
        logdir,
        a.timeline.clone(),
    )?;
    // Every trial's env is checked before the first trial starts, so a bad value in a grid
    // search fails before anything is written.
    for exp in &exps {
        envs::make_with_config(&exp.config.env, &exp.config.env_config)
            .map_err(RllibError::from)?;
    }
    let mut summaries = Vec::new();
    for exp in &exps {
        let s = run_experiment(exp, &mut watch)?;
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
