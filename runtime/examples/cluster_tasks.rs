//! `cargo run --release -p runtime --example cluster_tasks -- HOST:PORT [--tasks N] [--rounds R] [--expect-cpus C] [--spread PREFIX]`
//!
//! Joins the cluster whose head is at `HOST:PORT` as a driver, then, `R` times (default 2),
//! submits `N` tiny registered tasks at once (default 10,000) and waits for them all. Prints
//! one JSON line per round: the seconds taken, tasks per second, and how many distinct
//! worker processes and node daemons (the workers' parents) ran them. The first round
//! includes starting the workers; later rounds reuse them.
//!
//! Each task asks for one CPU and goes, by default, to the first node with a CPU free (the
//! runtime places in node order), so tiny tasks stay on the nodes that free up first. With
//! `--spread PREFIX`, task `i` is pinned round-robin to the custom resources whose names
//! start with `PREFIX` (give each node its own, e.g. `--resources '{"node7": 1}'`), so every
//! node runs its share.
//!
//! This binary is also the worker executable the nodes start, so it must exist at the same
//! path on every node (on one machine it does).

use runtime::{remote_fn, Resources, Runtime, RuntimeConfig};
use std::collections::HashSet;
use std::time::{Duration, Instant};

remote_fn! {
    /// Returns its argument with the worker's pid and its parent's (the node daemon's).
    pub fn whoami(i: u64) -> (u64, u32, u32) {
        (i, std::process::id(), std::os::unix::process::parent_id())
    }
}

struct Args {
    address: String,
    tasks: u64,
    rounds: u32,
    expect_cpus: Option<f64>,
    spread: Option<String>,
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut address = None;
    let (mut tasks, mut rounds, mut expect_cpus, mut spread) = (10_000, 2, None, None);
    while let Some(a) = it.next() {
        let mut value = |flag: &str| it.next().ok_or(format!("{flag} needs a value"));
        match a.as_str() {
            "--tasks" => tasks = value(&a)?.parse().map_err(|e| format!("--tasks: {e}"))?,
            "--rounds" => rounds = value(&a)?.parse().map_err(|e| format!("--rounds: {e}"))?,
            "--expect-cpus" => {
                expect_cpus = Some(
                    value(&a)?
                        .parse()
                        .map_err(|e| format!("--expect-cpus: {e}"))?,
                )
            }
            "--spread" => spread = Some(value(&a)?),
            _ if a.starts_with('-') => return Err(format!("unknown flag {a}")),
            _ => address = Some(a),
        }
    }
    Ok(Args {
        address: address.ok_or(
            "usage: cluster_tasks HOST:PORT [--tasks N] [--rounds R] [--expect-cpus C] [--spread PREFIX]",
        )?,
        tasks,
        rounds,
        expect_cpus,
        spread,
    })
}

fn run(args: &Args) -> Result<(), String> {
    let joined = Instant::now();
    let rt = Runtime::new(RuntimeConfig::default().address(args.address.clone()))
        .map_err(|e| format!("cannot join {}: {e}", args.address))?;
    if let Some(want) = args.expect_cpus {
        // Nodes that joined after this driver arrive as events: wait for them, bounded.
        let deadline = Instant::now() + Duration::from_secs(30);
        while rt.cluster_resources().cpu < want {
            if Instant::now() > deadline {
                return Err(format!(
                    "the cluster offers {} CPUs, not the {want} expected",
                    rt.cluster_resources().cpu
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let total = rt.cluster_resources();
    let cpus = total.cpu;
    let mut pins: Vec<&String> = match &args.spread {
        Some(prefix) => total
            .custom
            .keys()
            .filter(|k| k.starts_with(prefix))
            .collect(),
        None => Vec::new(),
    };
    pins.sort();
    if args.spread.is_some() && pins.is_empty() {
        return Err(format!(
            "no custom resource starts with {:?}",
            args.spread.as_deref().unwrap_or_default()
        ));
    }
    eprintln!(
        "joined {} in {:.3} s: {cpus} CPUs",
        args.address,
        joined.elapsed().as_secs_f64()
    );
    for round in 1..=args.rounds {
        let t0 = Instant::now();
        let refs = (0..args.tasks)
            .map(|i| {
                let task = rt.task(&whoami, (i,));
                match pins.get(i as usize % pins.len().max(1)) {
                    Some(name) => task.resources(Resources::cpus(1.0).with(name, 1.0)),
                    None => task,
                }
                .submit()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("submit: {e}"))?;
        let submitted = t0.elapsed();
        let out = rt.get_all(&refs).map_err(|e| format!("get: {e}"))?;
        let secs = t0.elapsed().as_secs_f64();
        if out.iter().enumerate().any(|(i, r)| r.0 != i as u64) {
            return Err("a task returned another task's value".into());
        }
        let workers: HashSet<u32> = out.iter().map(|r| r.1).collect();
        let nodes: HashSet<u32> = out.iter().map(|r| r.2).collect();
        println!(
            "{{\"placement\": \"{}\", \"round\": {round}, \"tasks\": {}, \"cluster_cpus\": {cpus}, \"seconds\": {secs:.3}, \"submit_seconds\": {:.3}, \"tasks_per_s\": {:.0}, \"distinct_workers\": {}, \"distinct_nodes\": {}}}",
            if pins.is_empty() { "first-fit" } else { "spread" },
            args.tasks,
            submitted.as_secs_f64(),
            args.tasks as f64 / secs,
            workers.len(),
            nodes.len()
        );
    }
    Ok(())
}

fn main() {
    runtime::worker_main_if_requested();
    let result = parse().and_then(|a| run(&a));
    if let Err(e) = result {
        eprintln!("cluster_tasks: {e}");
        std::process::exit(1);
    }
}
