//! `rllib-daemon`: the cluster's head and node daemons, without libtorch.
//!
//! `rllib start` runs this binary when it sits beside `rllib` (else `rllib` itself, through
//! the same hidden subcommand): a daemon that never trains should not pay libtorch's load
//! time and its ~60 MB of private memory per process.

use std::process::ExitCode;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    match (args.next(), args.next(), args.next()) {
        (Some(sub), Some(spec), None) if sub == cluster::DAEMON_SUBCOMMAND => {
            ExitCode::from(cluster::run_daemon(&spec).clamp(0, 255) as u8)
        }
        _ => {
            eprintln!("rllib-daemon is started by `rllib start`; run `rllib start --help` instead");
            ExitCode::from(2)
        }
    }
}
