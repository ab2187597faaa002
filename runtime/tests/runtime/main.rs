//! The runtime's one integration-test binary, with its own small harness (`harness = false`)
//! so that it can double as the worker executable in process mode: the first thing `main`
//! does is become a worker if the runtime started it as one.
//!
//! Usage: `cargo test -p runtime --test runtime [-- FILTER...]`.

mod actors;
mod common;
mod failures;
mod harness;
mod introspection;
mod multinode;
mod nested;
mod netns;
mod process;
mod scheduling;
mod tasks;

fn main() {
    runtime::worker_main_if_requested();
    // The multi-node tests start this binary as their head and node daemons too.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(cluster::DAEMON_SUBCOMMAND) {
        std::process::exit(cluster::run_daemon(args.get(2).map_or("", String::as_str)));
    }
    // The network-namespace test runs this binary as its driver, inside a namespace.
    if args.get(1).map(String::as_str) == Some(netns::DRIVER_SUBCOMMAND) {
        std::process::exit(netns::driver_main(&args[2..]));
    }
    let mut tests = Vec::new();
    tasks::tests(&mut tests);
    actors::tests(&mut tests);
    scheduling::tests(&mut tests);
    failures::tests(&mut tests);
    introspection::tests(&mut tests);
    process::tests(&mut tests);
    nested::tests(&mut tests);
    multinode::tests(&mut tests);
    netns::tests(&mut tests);
    harness::run(tests);
}
