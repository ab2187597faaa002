//! Resource-aware scheduling: never over-commit, queue what cannot run, refuse the impossible.

use crate::common::*;
use crate::harness::{both, one, Test};
use runtime::{Isolation, Resources, Runtime, RuntimeConfig, RuntimeError, TaskFilter};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub fn tests(t: &mut Vec<Test>) {
    one(
        t,
        "scheduling::burst_of_10000_never_overcommits::thread",
        burst_thread,
    );
    both(
        t,
        "scheduling::burst_never_overcommits_by_task_table",
        burst_table,
    );
    both(
        t,
        "scheduling::impossible_request_fails_at_submission",
        impossible,
    );
    both(t, "scheduling::custom_resources_and_fractions", custom);
    both(
        t,
        "scheduling::actors_hold_resources_until_they_stop",
        actors_hold,
    );
}

/// Largest number of tasks whose [start, end] intervals overlap, from the task table.
fn max_overlap(rt: &Runtime, function: &str) -> usize {
    let tasks = rt.tasks(&TaskFilter {
        function: Some(function.to_string()),
        ..Default::default()
    });
    let mut ev: Vec<(Duration, i32)> = Vec::new();
    for t in tasks {
        ev.push((t.start_time.unwrap(), 1));
        ev.push((t.end_time.unwrap(), -1));
    }
    // Ends sort before starts at the same instant: a finished task frees its CPU first.
    ev.sort();
    let (mut cur, mut max) = (0i32, 0i32);
    for (_, d) in ev {
        cur += d;
        max = max.max(cur);
    }
    max as usize
}

fn burst_thread() {
    let rt = rt(Isolation::Thread, 2.0);
    let cur = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let refs: Vec<_> = (0..10_000)
        .map(|i| {
            let (cur, max) = (cur.clone(), max.clone());
            rt.spawn("burst", move || {
                let now = cur.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(now, Ordering::SeqCst);
                std::hint::black_box((0..50).sum::<u64>());
                cur.fetch_sub(1, Ordering::SeqCst);
                i
            })
        })
        .collect();
    let got = rt.get_all(&refs).unwrap();
    assert_eq!(got.len(), 10_000);
    assert!(
        max.load(Ordering::SeqCst) <= 2,
        "max concurrency {}",
        max.load(Ordering::SeqCst)
    );
    assert!(max_overlap(&rt, "burst") <= 2);
    assert_eq!(rt.available_resources().cpu, 2.0);
}

fn burst_table(mode: Isolation) {
    let rt = rt(mode, 2.0);
    let n = if mode == Isolation::Thread {
        10_000
    } else {
        2_000
    };
    let refs: Vec<_> = (0..n).map(|i| rt.remote(&add, (i, 1))).collect();
    let got = rt.get_all(&refs).unwrap();
    assert_eq!(got, (1..=n).collect::<Vec<i64>>());
    assert!(max_overlap(&rt, "add") <= 2);
}

fn impossible(mode: Isolation) {
    let rt = rt(mode, 2.0);
    let e = rt.task(&add, (1, 2)).num_cpus(3.0).submit().unwrap_err();
    assert!(matches!(e, RuntimeError::Impossible { .. }), "{e}");
    let e = rt.task(&add, (1, 2)).num_gpus(1.0).submit().unwrap_err();
    assert!(matches!(e, RuntimeError::Impossible { .. }));
    assert!(matches!(
        rt.actor(&COUNTER, (0,))
            .resources(Resources::cpus(1.0).with("tpu", 1.0))
            .spawn(),
        Err(RuntimeError::Impossible { .. })
    ));
    // The convenience form reports the same error at get, immediately.
    let big = rt.remote(&add, (1, 2));
    assert_eq!(rt.get(&big).unwrap(), 3);
}

fn custom(mode: Isolation) {
    let rt = Runtime::new(
        RuntimeConfig::default()
            .num_cpus(4.0)
            .resource("accelerator", 1.0)
            .isolation(mode),
    )
    .unwrap();
    assert_eq!(rt.cluster_resources().custom["accelerator"], 1.0);
    // Three tasks need the single accelerator: they run one at a time.
    let refs: Vec<_> = (0..3)
        .map(|i| {
            rt.task(&sleep_then, (30, i))
                .resources(Resources::cpus(0.5).with("accelerator", 1.0))
                .submit()
                .unwrap()
        })
        .collect();
    assert_eq!(rt.get_all(&refs).unwrap(), vec![0, 1, 2]);
    assert_eq!(max_overlap(&rt, "sleep_then"), 1);
    assert_eq!(rt.available_resources(), rt.cluster_resources());
}

fn actors_hold(mode: Isolation) {
    let rt = rt(mode, 2.0);
    // An explicit request is held for the actor's life (the default holds nothing, see
    // `nested::default_actor_leaves_the_cpu_to_tasks`).
    let a = rt.actor(&COUNTER, (0,)).num_cpus(1.0).spawn().unwrap();
    rt.get(&a.ready()).unwrap();
    assert_eq!(rt.available_resources().cpu, 1.0);
    // A second actor wanting 2 CPUs waits until the first stops, then runs.
    let b = rt.actor(&COUNTER, (7,)).num_cpus(2.0).spawn().unwrap();
    let v = b.method(&GET, ());
    assert!(matches!(
        rt.get_timeout(&v, Duration::from_millis(100)),
        Err(RuntimeError::Timeout(_))
    ));
    drop(a);
    assert_eq!(rt.get(&v).unwrap(), 7);
}
