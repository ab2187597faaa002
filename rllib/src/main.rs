//! The `rllib` command line: `train`, `evaluate`, `env check`, `microbenchmark`, the
//! cluster commands `start`, `status`, `stop`, and `dashboard` with Ray's state commands
//! `list`, `get`, `timeline` over a dashboard.
//!
//! A thin layer over the `rllib` library: argument parsing (clap), progress bars
//! (indicatif), error reports with exit codes (anyhow); the commands live in `cli/`. This
//! binary does not load libtorch (its start-up alone takes ~0.4 s): it runs the cluster
//! commands itself, so `rllib start` returns at once, and hands every other command to
//! `rllib-train` beside it (same arguments, same process id: `exec`).

use std::os::unix::process::CommandExt;
use std::process::ExitCode;

use clap::Parser;

#[path = "cli"]
mod cli {
    pub mod args;
    pub mod cluster;
    mod failure;
    pub use failure::{bad, exit, init_logging, Failure};
}

use cli::args::{Cli, Command};

fn main() -> ExitCode {
    cli::init_logging();
    // Parsed here too, so that a typo is reported without loading libtorch.
    let outcome = match Cli::parse().command {
        Command::Start(a) => cli::cluster::start(a),
        Command::Status(a) => cli::cluster::status(a),
        Command::Stop(a) => cli::cluster::stop(a),
        Command::ClusterDaemon { spec } => Ok(cli::cluster::daemon(&spec)),
        _ => Err(run_trainer()),
    };
    cli::exit(outcome)
}

/// Replaces this process with `rllib-train` on the same arguments; returns only on failure.
fn run_trainer() -> cli::Failure {
    let trainer = match std::env::current_exe() {
        Ok(exe) => exe.with_file_name("rllib-train"),
        Err(e) => return anyhow::anyhow!("cannot locate the rllib binary: {e}").into(),
    };
    let e = std::process::Command::new(&trainer)
        .arg0("rllib")
        .args(std::env::args_os().skip(1))
        .exec();
    anyhow::anyhow!(
        "cannot run {}: {e} (it is built beside rllib: cargo build --release -p rllib)",
        trainer.display()
    )
    .into()
}
