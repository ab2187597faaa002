//! `cargo run --release -p runtime --example microbenchmark -- [thread|process|both] [trial-seconds] [--no-timeline] [--only ROW]`
//!
//! Prints Ray's microbenchmark rows from this runtime, with Ray's own figure beside each.

use runtime::microbenchmark::{run_config, trial_from_secs, RAY_REFERENCE};
use runtime::{Isolation, RuntimeConfig};

fn main() {
    runtime::worker_main_if_requested();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let modes = match args
        .iter()
        .find(|a| matches!(a.as_str(), "thread" | "process" | "both"))
        .map(String::as_str)
    {
        Some("process") => vec![Isolation::Process],
        Some("both") => vec![Isolation::Thread, Isolation::Process],
        _ => vec![Isolation::Thread],
    };
    let trial = args
        .iter()
        .find_map(|a| a.parse::<f64>().ok())
        .unwrap_or(2.0);
    let trial_len = match trial_from_secs(trial) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("microbenchmark: {e}");
            std::process::exit(2);
        }
    };
    let timeline = !args.iter().any(|a| a == "--no-timeline");
    let filter = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_default();
    for mode in modes {
        println!("# mode: {mode:?}, timeline: {timeline}, trial: {trial} s");
        let config = RuntimeConfig::default().isolation(mode).timeline(timeline);
        let r = run_config(config, trial_len, &filter, &mut |row| {
            let ray = RAY_REFERENCE
                .iter()
                .find(|(n, _)| *n == row.name)
                .map(|(_, v)| *v)
                .unwrap_or(f64::NAN);
            println!("{row}    (ray: {ray}, x{:.1})", row.mean / ray);
        });
        if let Err(e) = r {
            eprintln!("microbenchmark failed in {mode:?} mode: {e}");
            std::process::exit(1);
        }
    }
}
