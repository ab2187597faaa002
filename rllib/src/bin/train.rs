//! `rllib-train`: every `rllib` command, with libtorch loaded (`train`, `evaluate`, `env`,
//! `microbenchmark`, `dashboard`, `list`, `get`, `timeline`, and the cluster commands too).
//!
//! `rllib` itself does not link libtorch, whose start-up costs ~0.4 s, so that `rllib start`,
//! `status` and `stop` answer at once; it runs this binary, which sits beside it, for the rest.
//! Process-mode rollout workers re-execute this binary.

use std::process::ExitCode;

use clap::Parser;

#[path = "../cli/mod.rs"]
mod cli;

use cli::args::{Cli, Command};

fn main() -> ExitCode {
    // Process-mode rollout workers re-execute this binary; they never reach the CLI.
    runtime::worker_main_if_requested();
    cli::init_logging();
    let outcome = match Cli::parse().command {
        Command::Train(a) => cli::train::train(a),
        Command::Evaluate(a) => cli::commands::evaluate(a),
        Command::Env { command } => cli::commands::env_command(command),
        Command::Microbenchmark(a) => cli::commands::microbenchmark(a),
        Command::Start(a) => cli::cluster::start(a),
        Command::Status(a) => cli::cluster::status(a),
        Command::Stop(a) => cli::cluster::stop(a),
        Command::Dashboard(a) => cli::dashboard::dashboard(a),
        Command::Timeline(a) => cli::dashboard::timeline(a),
        Command::List(a) => cli::dashboard::list(a),
        Command::Get(a) => cli::dashboard::get(a),
        Command::ClusterDaemon { spec } => Ok(cli::cluster::daemon(&spec)),
    };
    cli::exit(outcome)
}
