//! Runs the `rllib` binary as a user would, in a temporary directory per test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (tests find `../shared/` and `.venv` from here).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `../shared/` beside the repository.
pub fn shared() -> PathBuf {
    repo_root().join("../shared")
}

/// The project's virtual environment's python (created by `.ci/setup`).
pub fn venv_python() -> PathBuf {
    repo_root().join(".venv/bin/python")
}

/// Output of one `rllib` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "rllib failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// `rllib ARGS` as a command with the working directory `cwd`, ready to run.
pub fn rllib_command(cwd: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rllib"));
    c.args(args).current_dir(cwd).env("RUST_LOG", "warn");
    c
}

/// The run's exit code and output.
pub fn finished(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `rllib ARGS` with the working directory `cwd`.
pub fn rllib(cwd: &Path, args: &[&str]) -> Run {
    finished(
        rllib_command(cwd, args)
            .output()
            .expect("the rllib binary runs"),
    )
}

/// `rllib train --run RUN --env ENV --config CONFIG --stop STOP --no-progress EXTRA...` with
/// results under `dir/r`; returns the run and that results root.
pub fn train_flags(
    dir: &Path,
    run: &str,
    env: &str,
    config: &str,
    stop: &str,
    extra: &[&str],
) -> (Run, PathBuf) {
    let local = dir.join("r");
    let args = train_args(&local, run, env, config, stop, extra);
    (rllib(dir, &args), local)
}

/// The arguments of `train_flags`, with results under `local`.
pub fn train_args<'a>(
    local: &'a Path,
    run: &'a str,
    env: &'a str,
    config: &'a str,
    stop: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "train",
        "--run",
        run,
        "--env",
        env,
        "--config",
        config,
        "--stop",
        stop,
        "--local-dir",
        local.to_str().expect("temporary paths are UTF-8"),
        "--no-progress",
    ];
    args.extend_from_slice(extra);
    args
}

/// The trial directories under `root/<experiment>/`.
pub fn trial_dirs(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(exps) = std::fs::read_dir(root) {
        for e in exps.flatten() {
            if let Ok(trials) = std::fs::read_dir(e.path()) {
                out.extend(trials.flatten().map(|t| t.path()).filter(|p| p.is_dir()));
            }
        }
    }
    out.sort();
    out
}

/// The results of a trial, one JSON value per iteration.
pub fn results(trial: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(trial.join("result.json"))
        .expect("result.json exists")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// A small, fast CartPole config as a JSON string for `--config`.
pub const FAST_CARTPOLE: &str = r#"{"seed": 7, "num_workers": 0, "num_envs_per_worker": 4,
  "rollout_fragment_length": 64, "train_batch_size": 256, "sgd_minibatch_size": 128,
  "num_sgd_iter": 4, "lr": 0.001, "model": {"fcnet_hiddens": [32, 32]}}"#;
