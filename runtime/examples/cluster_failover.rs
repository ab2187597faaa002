//! A driver for the cluster benchmarks (`experiments/cluster/`).
//!
//! `cluster_failover idle HOST:PORT SECS`: joins, prints `ready`, stays idle (for memory).
//! `cluster_failover failover HOST:PORT TASK_SECS`: on a cluster whose nodes each offer one
//! `work` resource, starts a long task and an actor (`max_restarts = 1`) there, kills the node
//! they run on with -9 (its daemon; its workers die with it), and prints when the node was
//! declared dead, when the task started again elsewhere and finished, and when the actor
//! answered again.

use runtime::{
    register, remote_fn, ActorClass, ActorMethod, Resources, Runtime, RuntimeConfig, TaskFilter,
    TaskState,
};
use std::time::{Duration, Instant};

remote_fn! {
    /// Sleeps, then says which process ran it.
    fn long_task(secs: f64) -> u32 {
        std::thread::sleep(Duration::from_secs_f64(secs));
        std::process::id()
    }
}

/// An actor that only says where it runs.
struct Where;
static WHERE: ActorClass<Where, ()> = ActorClass::new("bench::Where", |()| Where);
static PID: ActorMethod<Where, (), u32> =
    ActorMethod::new("bench::Where::pid", |_, ()| std::process::id());
register!(WHERE, PID);

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(1)?.parse().ok()
}

fn main() {
    runtime::worker_main_if_requested();
    let args: Vec<String> = std::env::args().collect();
    let usage = || -> ! {
        eprintln!("usage: cluster_failover idle|failover HOST:PORT SECS");
        std::process::exit(2)
    };
    if args.len() != 4 {
        usage();
    }
    let secs: f64 = args[3].parse().unwrap_or_else(|_| usage());
    if !(secs.is_finite() && secs > 0.0 && secs < 86_400.0) {
        usage();
    }
    let address = &args[2];
    let rt = match Runtime::new(RuntimeConfig::default().address(address.clone())) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cluster_failover: {e}");
            std::process::exit(1);
        }
    };
    match args[1].as_str() {
        "idle" => {
            println!("ready");
            std::thread::sleep(Duration::from_secs_f64(secs));
        }
        "failover" => failover(&rt, address, secs),
        _ => usage(),
    }
}

fn failover(rt: &Runtime, address: &str, task_secs: f64) {
    let work = Resources::none().with("work", 0.5);
    let actor = rt
        .actor(&WHERE, ())
        .resources(work.clone())
        .max_restarts(1)
        .spawn()
        .expect("actor");
    let actor_pid = rt.get(&actor.method(&PID, ())).expect("actor answers");
    let task = rt
        .task(&long_task, (task_secs,))
        .resources(Resources::cpus(1.0).with("work", 0.5))
        .max_retries(3)
        .submit()
        .expect("task");
    let tid = rt
        .object_info(task.id())
        .and_then(|o| o.task)
        .expect("task id");
    let deadline = Instant::now() + Duration::from_secs(60);
    let task_pid = loop {
        if let Some(p) = rt.task_info(tid).and_then(|t| t.worker_pid) {
            break p;
        }
        assert!(Instant::now() < deadline, "the task never started");
        std::thread::sleep(Duration::from_millis(10));
    };
    let daemon = parent_of(actor_pid).expect("actor's daemon");
    assert_eq!(
        parent_of(task_pid),
        Some(daemon),
        "task and actor on one node"
    );
    let (token, _) = cluster::load_token().expect("token");
    let alive_before = cluster::status(address, &token)
        .expect("status")
        .nodes
        .iter()
        .filter(|n| n.info.alive)
        .count();
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc_kill(daemon as i32, 9) };
    let mut dead_after = None;
    let mut restarted_after = None;
    let mut actor_after = None;
    let mut actor_call = actor.method(&PID, ());
    while dead_after.is_none() || restarted_after.is_none() || actor_after.is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "failover hung: dead {dead_after:?}, task restarted {restarted_after:?}, actor {actor_after:?} ({:?})",
            rt.actor_info(actor.id())
        );
        if dead_after.is_none() {
            let alive = cluster::status(address, &token)
                .map(|s| s.nodes.iter().filter(|n| n.info.alive).count())
                .unwrap_or(alive_before);
            if alive < alive_before {
                dead_after = Some(t0.elapsed());
            }
        }
        if restarted_after.is_none() {
            let running = rt.tasks(&TaskFilter {
                state: Some(TaskState::Running),
                function: Some("long_task".into()),
            });
            if running
                .iter()
                .any(|t| t.worker_pid.is_some_and(|p| p != task_pid) && t.attempts >= 2)
            {
                restarted_after = Some(t0.elapsed());
            }
        }
        if actor_after.is_none() {
            match rt.get_timeout(&actor_call, Duration::from_millis(10)) {
                Ok(pid) if pid != actor_pid => actor_after = Some(t0.elapsed()),
                Err(runtime::RuntimeError::Timeout(_)) => {}
                // The old process answered before it died, or the call died with it: ask again.
                Ok(_) | Err(_) => actor_call = actor.method(&PID, ()),
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = rt.get(&task).expect("task finished elsewhere");
    let finished = t0.elapsed();
    assert_ne!(parent_of(pid), Some(daemon));
    let s = |d: Option<Duration>| format!("{:.3} s", d.unwrap_or_default().as_secs_f64());
    println!("node declared dead after {}", s(dead_after));
    println!(
        "{task_secs} s task restarted elsewhere after {} / finished after {:.2} s",
        s(restarted_after),
        finished.as_secs_f64()
    );
    println!(
        "actor (max_restarts=1) answering again after {}",
        s(actor_after)
    );
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
