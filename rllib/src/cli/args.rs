//! The `rllib` command line's arguments (clap), shared by `rllib` and `rllib-train`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "rllib",
    version,
    about = "Train RL agents with RLlib's experiment files, in Rust"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
    /// Start a cluster's head (`--head`) or a node joining one (`--address HOST:PORT`) in the background.
    Start(StartArgs),
    /// Show a cluster's nodes and resources, like `ray status`.
    Status(StatusArgs),
    /// Stop the daemon started with a temp dir on this machine, and its workers.
    Stop(StopArgs),
    /// Serve the dashboard: past trials under a results directory, and a live cluster's nodes.
    Dashboard(DashboardArgs),
    /// Write a live runtime's Chrome trace, from its dashboard (Ray's `ray timeline`).
    Timeline(TimelineArgs),
    /// List tasks, objects, actors or nodes of a live runtime, from its dashboard (`ray list`).
    List(ListArgs),
    /// Show one task or object of a live runtime, from its dashboard (`ray get`).
    Get(GetArgs),
    /// Runs a cluster daemon in the foreground (started by `rllib start`).
    #[command(name = "__cluster-daemon", hide = true)]
    ClusterDaemon {
        /// The daemon's spec, as JSON.
        spec: String,
    },
}

#[derive(clap::Args)]
pub(crate) struct StartArgs {
    /// Start the head of a new cluster.
    #[arg(long, conflicts_with = "address")]
    pub(crate) head: bool,
    /// Join the cluster whose head is at HOST:PORT (starts a node).
    #[arg(long, required_unless_present = "head")]
    pub(crate) address: Option<String>,
    /// The head's port (default 6379); for a node, its own port (default: picked by the OS).
    #[arg(long)]
    pub(crate) port: Option<u16>,
    /// CPUs this machine offers (default: its CPU count).
    #[arg(long)]
    pub(crate) num_cpus: Option<f64>,
    /// GPUs this machine offers (default 0).
    #[arg(long)]
    pub(crate) num_gpus: Option<f64>,
    /// Custom resources as JSON, e.g. '{"accelerator": 1}'.
    #[arg(long)]
    pub(crate) resources: Option<String>,
    /// Where the pid file, the address and the logs go (default /tmp/rllib).
    #[arg(long)]
    pub(crate) temp_dir: Option<PathBuf>,
    /// The address to listen on and advertise (default 127.0.0.1: this machine only).
    #[arg(long)]
    pub(crate) node_ip_address: Option<String>,
    /// A Redis server for the cluster's metadata (not supported yet).
    #[arg(long, requires = "head")]
    pub(crate) redis_address: Option<String>,
}

#[derive(clap::Args)]
pub(crate) struct DashboardArgs {
    /// Results directory whose trials are shown (default ~/rllib_results).
    #[arg(long)]
    pub(crate) logdir: Option<PathBuf>,
    /// A cluster's head (HOST:PORT): show its nodes.
    #[arg(long)]
    pub(crate) address: Option<String>,
    /// Port to serve on.
    #[arg(long, default_value_t = dashboard::DEFAULT_PORT)]
    pub(crate) port: u16,
    /// Address to bind (127.0.0.1: this machine only).
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) host: String,
}

#[derive(clap::Args)]
pub(crate) struct TimelineArgs {
    /// The dashboard's HOST:PORT (default RLLIB_DASHBOARD_ADDRESS, else 127.0.0.1:8265).
    #[arg(long)]
    pub(crate) address: Option<String>,
    /// Where to write the trace (JSON).
    #[arg(short = 'o', long = "output")]
    pub(crate) output: PathBuf,
}

#[derive(clap::Args)]
pub(crate) struct ListArgs {
    /// tasks, objects, actors or nodes.
    pub(crate) resource: String,
    /// The dashboard's HOST:PORT (default RLLIB_DASHBOARD_ADDRESS, else 127.0.0.1:8265).
    #[arg(long)]
    pub(crate) address: Option<String>,
    /// KEY=VALUE; repeatable (e.g. state=RUNNING, function=sample, node_id=node-0).
    #[arg(long)]
    pub(crate) filter: Vec<String>,
    /// At most this many rows.
    #[arg(long, default_value_t = 100)]
    pub(crate) limit: usize,
    /// table or json.
    #[arg(long, default_value = "table")]
    pub(crate) format: String,
}

#[derive(clap::Args)]
pub(crate) struct GetArgs {
    /// task or object.
    pub(crate) resource: String,
    /// Its id (e.g. task-0:0000002a).
    pub(crate) id: String,
    /// The dashboard's HOST:PORT (default RLLIB_DASHBOARD_ADDRESS, else 127.0.0.1:8265).
    #[arg(long)]
    pub(crate) address: Option<String>,
    /// text or json.
    #[arg(long, default_value = "text")]
    pub(crate) format: String,
}

#[derive(clap::Args)]
pub(crate) struct StatusArgs {
    /// The head's HOST:PORT (default: RLLIB_ADDRESS, else the head started with /tmp/rllib).
    #[arg(long)]
    pub(crate) address: Option<String>,
    /// Output format: text or json.
    #[arg(long, default_value = "text")]
    pub(crate) format: String,
}

#[derive(clap::Args)]
pub(crate) struct StopArgs {
    /// The temp dir the daemon was started with (default /tmp/rllib).
    #[arg(long)]
    pub(crate) temp_dir: Option<PathBuf>,
}

#[derive(clap::Args)]
pub(crate) struct TrainArgs {
    /// An experiment file (YAML), or a JSON config object used with --run/--env.
    #[arg(long)]
    pub(crate) config: Option<String>,
    /// An experiment file (overrides --run, --env, --stop).
    #[arg(short = 'f', long = "file")]
    pub(crate) file: Option<PathBuf>,
    /// Algorithm, with --env (e.g. PPO).
    #[arg(long)]
    pub(crate) run: Option<String>,
    /// Env id, with --run (e.g. CartPole-v1).
    #[arg(long)]
    pub(crate) env: Option<String>,
    /// Stop conditions as JSON, e.g. '{"episode_reward_mean": 475}'.
    #[arg(long)]
    pub(crate) stop: Option<String>,
    /// Root directory of the results (default ~/rllib_results).
    #[arg(long)]
    pub(crate) local_dir: Option<PathBuf>,
    /// Experiment name (the directory under --local-dir), with --run/--env.
    #[arg(long)]
    pub(crate) experiment_name: Option<String>,
    /// Save a checkpoint every N iterations (0: never).
    #[arg(long)]
    pub(crate) checkpoint_freq: Option<usize>,
    /// Save a checkpoint when training stops.
    #[arg(long)]
    pub(crate) checkpoint_at_end: bool,
    /// Restore this checkpoint and continue training.
    #[arg(long)]
    pub(crate) restore: Option<PathBuf>,
    /// Seed of everything random (overrides the config's).
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Hide the progress bar (live lines go to the log).
    #[arg(long)]
    pub(crate) no_progress: bool,
    /// Run the rollout workers on the cluster whose head is at HOST:PORT (default:
    /// RLLIB_ADDRESS if set; otherwise on this machine). The learner stays here.
    #[arg(long)]
    pub(crate) address: Option<String>,
    /// Serve the dashboard on 127.0.0.1 while training (prints its URL once).
    #[arg(long)]
    pub(crate) dashboard: bool,
    /// The dashboard's port, with --dashboard.
    #[arg(long, default_value_t = dashboard::DEFAULT_PORT, requires = "dashboard")]
    pub(crate) dashboard_port: u16,
    /// Write the run's Chrome trace here when training ends (FILE_1, ... for later trials).
    #[arg(long)]
    pub(crate) timeline: Option<PathBuf>,
}

#[derive(clap::Args)]
pub(crate) struct EvaluateArgs {
    /// A checkpoint directory written by `rllib train`.
    pub(crate) checkpoint: PathBuf,
    /// Episodes to run.
    #[arg(long, default_value_t = 10)]
    pub(crate) episodes: usize,
    /// Sample actions instead of taking the most likely one.
    #[arg(long)]
    pub(crate) explore: bool,
    /// Accepted for RLlib compatibility; the checkpoint records its algorithm.
    #[arg(long)]
    pub(crate) run: Option<String>,
}

#[derive(Subcommand)]
pub(crate) enum EnvCommand {
    /// Replay a Gymnasium recording (.jsonl) against the native env.
    Check {
        /// The recording.
        file: PathBuf,
    },
    /// List the registered env ids.
    List,
}

#[derive(clap::Args)]
pub(crate) struct MicrobenchmarkArgs {
    /// Worker mode: thread, process or both.
    #[arg(long, default_value = "both")]
    pub(crate) mode: String,
    /// Seconds per row and repetition.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) duration: f64,
    /// Also measure the cross-node rows on the cluster whose head is at HOST:PORT.
    #[arg(long)]
    pub(crate) address: Option<String>,
}
