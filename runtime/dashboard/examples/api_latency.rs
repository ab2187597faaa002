//! Latency of every API route with 100,000 tasks in the task table.
//!
//! `cargo run --release -p dashboard --example api_latency [-- TASKS]`
//!
//! Runs TASKS tiny tasks (default 100,000; a tenth of them chained on the previous task's
//! result, so the trace has arrows), serves the dashboard over that runtime, and times each
//! route: "cold" with a table copy taken in that request (only the first request a dashboard
//! ever gets works so; later copies are taken in the background), "warm" answered from the
//! latest copy (every other request).

use dashboard::{Dashboard, DashboardConfig, RuntimeSource};
use runtime::{remote_fn, Runtime, RuntimeConfig};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

remote_fn! { pub fn inc(x: u64) -> u64 { x + 1 } }

fn get(addr: &str, path: &str) -> (u16, usize) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer bench\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let st = String::from_utf8_lossy(&raw[..12])
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    (st, raw.len())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let rt = Runtime::new(RuntimeConfig::default().num_cpus(2.0)).unwrap();
    let t0 = Instant::now();
    let mut refs = Vec::with_capacity(n);
    let mut prev = rt.remote(&inc, (0u64,));
    for i in 1..n {
        let r = if i % 10 == 0 {
            rt.remote(&inc, (&prev,))
        } else {
            rt.remote(&inc, (i as u64,))
        };
        prev = r.clone();
        refs.push(r);
        if refs.len() >= 10_000 {
            rt.get_all(&refs).unwrap();
            refs.clear();
        }
    }
    rt.get_all(&refs).unwrap();
    rt.get(&prev).unwrap();
    eprintln!("{n} tasks in {:.2} s", t0.elapsed().as_secs_f64());
    let source = RuntimeSource::new();
    source.set(Some(rt.handle()));
    let logdir = std::env::temp_dir().join(format!("dash-bench-{}", std::process::id()));
    let trial = logdir.join("exp").join("PPO_CartPole-v1_seed0_0");
    std::fs::create_dir_all(&trial).unwrap();
    let mut csv =
        String::from("training_iteration,timesteps_total,time_total_s,episode_reward_mean\n");
    for i in 1..=1000 {
        csv.push_str(&format!(
            "{i},{},{},{}\n",
            i * 4000,
            i as f64 * 1.5,
            (i as f64).sqrt()
        ));
    }
    std::fs::write(trial.join("progress.csv"), csv).unwrap();
    let snap_t = Instant::now();
    let snap = dashboard::snapshot_of(&rt.handle());
    eprintln!(
        "one table copy: {} tasks, {} timeline attempts, {:.1} ms",
        snap.tasks.len(),
        snap.timeline.len(),
        snap_t.elapsed().as_secs_f64() * 1e3
    );
    let task_id = snap.tasks[snap.tasks.len() / 2].task_id.clone();
    let object_id = snap
        .objects
        .first()
        .map(|o| o.object_id.clone())
        .unwrap_or_default();
    drop(snap);
    let routes: Vec<String> = vec![
        "/api/nodes".into(),
        "/api/tasks?limit=50".into(),
        "/api/tasks?q=task-0:0001&limit=50".into(),
        "/api/tasks?state=FINISHED&limit=50&offset=50000".into(),
        format!("/api/tasks/{task_id}"),
        "/api/objects?limit=50".into(),
        format!("/api/objects/{object_id}"),
        "/api/actors".into(),
        "/api/timeline?limit=20000".into(),
        "/api/timeline".into(),
        "/api/usage".into(),
        "/api/completion_times".into(),
        "/api/trials".into(),
        "/api/trials/PPO_CartPole-v1_seed0_0/progress".into(),
    ];
    println!("| route | cold median ms | cold max ms | warm median ms | warm max ms | live median ms | live max ms | bytes |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let serve = |refresh: Duration| {
        let mut c = DashboardConfig::new("bench");
        c.port = 0;
        c.refresh = refresh;
        c.logdir = Some(logdir.clone());
        Dashboard::start(c, Arc::new(source.clone())).unwrap()
    };
    let cold = serve(Duration::ZERO);
    let warm = serve(Duration::from_secs(3600));
    // The default: copies at most once a second (and five copy-times apart), in the background.
    let live = serve(Duration::from_secs(1));
    let (ca, wa, la) = (
        cold.address().to_string(),
        warm.address().to_string(),
        live.address().to_string(),
    );
    let _ = get(&la, "/api/nodes");
    for r in &routes {
        let time = |addr: &str, k: usize, gap: Duration| -> (Vec<f64>, usize) {
            let mut v = Vec::new();
            let mut bytes = 0;
            for _ in 0..k {
                std::thread::sleep(gap);
                let t = Instant::now();
                let (st, b) = get(addr, r);
                v.push(t.elapsed().as_secs_f64() * 1e3);
                assert_eq!(st, 200, "{r}");
                bytes = b;
            }
            (v, bytes)
        };
        let _ = get(&wa, r);
        let (c, bytes) = time(&ca, 5, Duration::ZERO);
        let (w, _) = time(&wa, 10, Duration::ZERO);
        // Ten requests over three seconds: background copies happen meanwhile.
        let (l, _) = time(&la, 10, Duration::from_millis(300));
        let max = |v: &Vec<f64>| v.iter().copied().fold(0.0, f64::max);
        println!(
            "| `{r}` | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {bytes} |",
            median(c.clone()),
            max(&c),
            median(w.clone()),
            max(&w),
            median(l.clone()),
            max(&l)
        );
    }
    let _ = std::fs::remove_dir_all(&logdir);
}
