//! A cluster on this machine, as Ray's own tests run one: a head and node daemons as separate
//! processes on 127.0.0.1 (this test binary doubles as the daemon), and a driver that joins.

use crate::common::{
    add, chain_local, compute_loss, extract_features, load_data, normalize_data, sleep_pid,
    worker_pid, COUNTER, INCR, PID,
};
use crate::harness::{one, Test};
use crate::nested::{depth, incr_through};
use runtime::{Resources, Runtime, RuntimeConfig, RuntimeError};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub fn tests(t: &mut Vec<Test>) {
    one(
        t,
        "multinode::tasks_actors_and_chains_run_on_other_nodes",
        cross_node,
    );
    one(
        t,
        "multinode::killed_node_tasks_are_retried_on_a_live_node",
        node_killed,
    );
    one(
        t,
        "multinode::a_gigabyte_crosses_with_one_extra_copy_at_most",
        gigabyte_crosses,
    );
}

/// The token every daemon, driver and worker of these tests proves (never the user's file).
const TOKEN: &str = "runtime-cluster-test-token-0123456789abcdef";

/// Every daemon these tests started, for `kill_leftover_daemons`.
static STARTED: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

/// Kills the daemons of tests that never finished (a hang leaves their guards unrun); their
/// workers die with them.
pub fn kill_leftover_daemons() {
    for pid in STARTED.lock().map(|p| p.clone()).unwrap_or_default() {
        // Only a process that is still one of our daemons (a stopped one's pid may be reused).
        let ours = std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(cluster::DAEMON_SUBCOMMAND));
        if ours {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc_kill(pid as i32, 9) };
        }
    }
}

/// Daemons started by one test, stopped (with their workers) when it ends, even on failure.
struct Cluster {
    head: String,
    dirs: Vec<PathBuf>,
    pids: Vec<u32>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rt-cluster-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

impl Cluster {
    /// A head offering no CPU, and one node per entry of `nodes` (CPUs, custom resources JSON).
    fn start(nodes: &[(f64, &str)]) -> Cluster {
        std::env::set_var(cluster::TOKEN_ENV, TOKEN);
        std::env::set_var(cluster::NODE_TIMEOUT_ENV, "2");
        let exe = std::env::current_exe().unwrap();
        let mut c = Cluster {
            head: String::new(),
            dirs: Vec::new(),
            pids: Vec::new(),
        };
        let dir = temp_dir("head");
        let head = cluster::start(
            &cluster::StartOptions {
                kind: cluster::DaemonKind::Head {
                    port: free_port(),
                    redis_address: None,
                },
                num_cpus: Some(0.0),
                num_gpus: None,
                resources: None,
                temp_dir: dir.clone(),
                node_ip_address: None,
            },
            &exe,
        )
        .expect("head starts");
        c.dirs.push(dir);
        c.pids.push(head.pid);
        STARTED.lock().unwrap().push(head.pid);
        c.head = head.address;
        for (i, (cpus, resources)) in nodes.iter().enumerate() {
            let dir = temp_dir(&format!("node{i}"));
            let n = cluster::start(
                &cluster::StartOptions {
                    kind: cluster::DaemonKind::Node {
                        head: c.head.clone(),
                        port: None,
                    },
                    num_cpus: Some(*cpus),
                    num_gpus: None,
                    resources: Some(resources.to_string()),
                    temp_dir: dir.clone(),
                    node_ip_address: None,
                },
                &exe,
            )
            .expect("node starts");
            c.dirs.push(dir);
            c.pids.push(n.pid);
            STARTED.lock().unwrap().push(n.pid);
        }
        c
    }

    fn driver(&self) -> Runtime {
        Runtime::new(RuntimeConfig::default().address(self.head.clone())).expect("driver joins")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for d in self.dirs.iter().rev() {
            let _ = cluster::stop(d);
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// The parent of a process (its node daemon, for a worker).
fn parent_of(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name may hold spaces: the fields after its closing parenthesis.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(1).unwrap().parse().unwrap()
}

/// The seed's chain with its steps alternating between the places offering `a` and `b`,
/// with no `get` between them; its result.
pub fn chain_across(rt: &Runtime, file: &str) -> f64 {
    let d = rt
        .task(&load_data, (file.to_string(),))
        .resources(on("a"))
        .submit()
        .unwrap();
    let d = rt
        .task(&normalize_data, (&d,))
        .resources(on("b"))
        .submit()
        .unwrap();
    let d = rt
        .task(&extract_features, (&d,))
        .resources(on("a"))
        .submit()
        .unwrap();
    let loss = rt
        .task(&compute_loss, (&d,))
        .resources(on("b"))
        .submit()
        .unwrap();
    rt.get(&loss).unwrap()
}

/// One CPU and one of `name` (pins a task to the nodes that offer `name`).
pub fn on(name: &str) -> Resources {
    Resources::cpus(1.0).with(name, 1.0)
}

fn cross_node() {
    let c = Cluster::start(&[(2.0, r#"{"a": 100}"#), (2.0, r#"{"b": 100}"#)]);
    let rt = c.driver();
    let total = rt.cluster_resources();
    assert_eq!(total.cpu, 4.0, "{total}");
    assert_eq!(total.custom.get("a"), Some(&100.0));
    assert_eq!(total.custom.get("b"), Some(&100.0));

    // Tasks pinned to node a run in processes its daemon started.
    let refs: Vec<_> = (0..20)
        .map(|i| rt.task(&add, (i, 1)).resources(on("a")).submit().unwrap())
        .collect();
    let sums: Vec<i64> = refs.iter().map(|r| rt.get(r).unwrap()).collect();
    assert_eq!(sums, (1..=20).collect::<Vec<i64>>());
    let pid = rt
        .get(
            &rt.task(&worker_pid, ())
                .resources(on("a"))
                .submit()
                .unwrap(),
        )
        .unwrap();
    assert_eq!(
        parent_of(pid),
        c.pids[1],
        "a task on node a runs under its daemon"
    );
    let pid = rt
        .get(
            &rt.task(&worker_pid, ())
                .resources(on("b"))
                .submit()
                .unwrap(),
        )
        .unwrap();
    assert_eq!(
        parent_of(pid),
        c.pids[2],
        "a task on node b runs under its daemon"
    );

    // A dependency chain that crosses nodes at every step, without a get between.
    assert_eq!(chain_across(&rt, "file.csv"), chain_local("file.csv"));

    // An actor on node b: calls in order, in a process of that node.
    let actor = rt
        .actor(&COUNTER, (0,))
        .resources(Resources::none().with("b", 1.0))
        .spawn()
        .unwrap();
    let refs: Vec<_> = (1..=10).map(|i| actor.method(&INCR, (i,))).collect();
    assert_eq!(rt.get(refs.last().unwrap()).unwrap(), 55);
    let pid = rt.get(&actor.method(&PID, ())).unwrap();
    assert_eq!(parent_of(pid), c.pids[2]);
    // Its handle, passed to a task on node a, calls the same actor on node b.
    let via = rt
        .task(&incr_through, (actor.clone(), 45))
        .resources(on("a"))
        .submit()
        .unwrap();
    assert_eq!(rt.get(&via).unwrap(), 100);

    // `wait` over refs made on both nodes: the quick one first, then the slow one.
    let slow = rt
        .task(&sleep_pid, (800,))
        .resources(on("a"))
        .submit()
        .unwrap();
    let quick = rt
        .task(&sleep_pid, (10,))
        .resources(on("b"))
        .submit()
        .unwrap();
    let (ready, rest) = rt.wait(&[slow.clone(), quick.clone()], 1, None);
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0].id(), quick.id());
    assert_eq!(rest[0].id(), slow.id());
    let (ready, _) = rt.wait(&[slow, quick], 2, Some(Duration::from_secs(60)));
    assert_eq!(ready.len(), 2);

    // Nested tasks on the cluster: each level submits and waits for the next from a worker
    // process on some node, giving its CPU back meanwhile (4 CPUs, depth 12).
    assert_eq!(rt.get(&rt.remote(&depth, (12,))).unwrap(), 12);

    // A request no node can ever satisfy is an error at submission; a busy one waits.
    let e = rt
        .task(&add, (1, 1))
        .resources(Resources::cpus(3.0))
        .submit()
        .err();
    assert!(matches!(e, Some(RuntimeError::Impossible { .. })), "{e:?}");
    let e = rt
        .task(&add, (1, 1))
        .resources(Resources::cpus(1.0).with("c", 1.0))
        .submit()
        .err();
    assert!(matches!(e, Some(RuntimeError::Impossible { .. })), "{e:?}");
    // Closures never leave the driver: they have nowhere to run in a cluster.
    assert!(rt.closure_task("closure", || 1).submit().is_err());

    // What the driver uses shows in the head's status.
    let busy = rt
        .task(&sleep_pid, (1500,))
        .resources(on("a"))
        .submit()
        .unwrap();
    let (token, _) = cluster::load_token().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let st = cluster::status(&c.head, &token).unwrap();
        let a = st
            .nodes
            .iter()
            .find(|n| n.info.resources_total.contains_key("a"))
            .unwrap();
        if a.resources_available.get("CPU") == Some(&1.0) {
            break;
        }
        assert!(Instant::now() < deadline, "usage never reported: {a:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    rt.get(&busy).unwrap();
}

fn node_killed() {
    let c = Cluster::start(&[(2.0, r#"{"x": 2}"#), (2.0, r#"{"x": 2}"#)]);
    let rt = c.driver();
    // An actor and a long task land on the first node (placement goes in node order).
    let actor = rt
        .actor(&COUNTER, (0,))
        .resources(Resources::none().with("x", 1.0))
        .max_restarts(1)
        .spawn()
        .unwrap();
    assert_eq!(rt.get(&actor.method(&INCR, (5,))).unwrap(), 5);
    let actor_pid = rt.get(&actor.method(&PID, ())).unwrap();
    let daemon = parent_of(actor_pid);
    assert!(c.pids[1..].contains(&daemon));
    // An object a task made on that node (objects live in the driver that owns them).
    let made_there = rt.task(&add, (40, 2)).resources(on("x")).submit().unwrap();
    assert_eq!(rt.get(&made_there).unwrap(), 42);
    let r = rt
        .task(&sleep_pid, (1500,))
        .resources(on("x"))
        .max_retries(3)
        .submit()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        if let Some(pid) = rt
            .object_info(r.id())
            .and_then(|o| o.task)
            .and_then(|t| rt.task_info(t))
            .and_then(|t| t.worker_pid)
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "the task never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(parent_of(first), daemon, "placement goes in node order");
    // The node dies: its daemon is killed with -9 (its workers die with it).
    let killed_at = Instant::now();
    unsafe { libc_kill(daemon as i32, 9) };
    // The object made there is not lost with the node (nothing to rebuild from lineage).
    assert_eq!(rt.get(&made_there).unwrap(), 42);
    // The task is retried on the other node and finishes there.
    let pid = rt.get(&r).expect("retried on the live node");
    assert_ne!(parent_of(pid), daemon);
    let task_done = killed_at.elapsed();
    // The actor is restarted on the other node (its constructor runs again: state 0).
    let pid = rt
        .get(&actor.method(&PID, ()))
        .expect("the actor answers again");
    assert_ne!(parent_of(pid), daemon);
    let actor_back = killed_at.elapsed();
    assert_eq!(rt.get(&actor.method(&INCR, (1,))).unwrap(), 1);
    let info = rt.actor_info(actor.id()).unwrap();
    assert_eq!(info.restarts, 1);
    let (token, _) = cluster::load_token().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let st = cluster::status(&c.head, &token).unwrap();
        let dead = st.nodes.iter().filter(|n| !n.info.alive).count();
        if dead == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the node was never declared dead"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "node killed: 1.5 s task finished elsewhere after {:.2} s, actor answering again after {:.2} s, declared dead after {:.2} s",
        task_done.as_secs_f64(),
        actor_back.as_secs_f64(),
        killed_at.elapsed().as_secs_f64()
    );
    // New work goes to the live node only.
    let pid = rt
        .get(
            &rt.task(&worker_pid, ())
                .resources(on("x"))
                .submit()
                .unwrap(),
        )
        .unwrap();
    assert_ne!(parent_of(pid), daemon);
}

/// Bytes written as one byte string (serde writes a `Vec<u8>` element by element).
#[derive(Clone, Debug)]
pub struct Bytes(pub Vec<u8>);

impl serde::Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

runtime::remote_fn! {
    /// A gigabyte made on the node the task runs on.
    pub fn gigabyte(fill: u8) -> Bytes { Bytes(vec![fill; GIB]) }
}
runtime::remote_fn! {
    /// A gigabyte as the runtime's zero-copy `Blob`.
    pub fn gigablob(fill: u8) -> runtime::Blob { runtime::Blob::from(vec![fill; GIB]) }
}
runtime::remote_fn! {
    /// The process's own id (to read its peak memory from /proc).
    pub fn my_pid() -> u32 { std::process::id() }
}

const GIB: usize = 1 << 30;

/// A process's peak resident memory in bytes (`VmHWM`).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

fn current_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

fn gigabyte_crosses() {
    let c = Cluster::start(&[(1.0, r#"{"g": 1}"#)]);
    let rt = c.driver();
    let on_node = on("g");
    // The node's one worker process makes the value; the same process says who it is.
    let worker = rt
        .get(
            &rt.task(&my_pid, ())
                .resources(on_node.clone())
                .submit()
                .unwrap(),
        )
        .unwrap();
    let me = std::process::id();
    let slack = 300 << 20;
    // A Blob is never copied: each side holds the value and nothing more (first, while the
    // peaks are still low).
    let (driver_before, driver_rss) = (peak_rss(me), current_rss(me));
    let r = rt
        .task(&gigablob, (9u8,))
        .resources(on_node.clone())
        .submit()
        .unwrap();
    let v = rt.get_arc(&r).unwrap();
    assert_eq!(v.len(), GIB);
    assert!(v.iter().step_by(4096).all(|b| *b == 9));
    let (worker_peak, driver_peak) = (peak_rss(worker), peak_rss(me));
    assert!(
        worker_peak < GIB as u64 + slack,
        "Blob: worker peak {} MiB",
        worker_peak >> 20
    );
    assert!(
        driver_peak <= driver_before.max(driver_rss + GIB as u64 + slack),
        "Blob: driver peak {} MiB (rss before {} MiB)",
        driver_peak >> 20,
        driver_rss >> 20
    );
    eprintln!(
        "1 GiB Blob from another node: worker peak {} MiB, driver peak {} MiB (rss before {} MiB)",
        worker_peak >> 20,
        driver_peak >> 20,
        driver_rss >> 20
    );
    drop((v, r));
    // Any other serde type: at most one more copy (the encoded bytes) on each side.
    let (driver_before, driver_rss) = (peak_rss(me), current_rss(me));
    let r = rt
        .task(&gigabyte, (7u8,))
        .resources(on_node)
        .submit()
        .unwrap();
    let v = rt.get_arc(&r).unwrap();
    assert_eq!(v.0.len(), GIB);
    assert!(v.0.iter().step_by(4096).all(|b| *b == 7));
    // Each side holds the value plus at most one more copy of it (the encoded bytes), with
    // 300 MiB of slack for the rest of the process.
    let worker_peak = peak_rss(worker);
    assert!(
        worker_peak < 2 * GIB as u64 + slack,
        "worker peak {} MiB",
        worker_peak >> 20
    );
    let driver_peak = peak_rss(me);
    assert!(
        driver_peak <= driver_before.max(driver_rss + 2 * GIB as u64 + slack),
        "driver peak {} MiB (rss before {} MiB)",
        driver_peak >> 20,
        driver_rss >> 20
    );
    eprintln!(
        "1 GiB from another node: worker peak {} MiB, driver peak {} MiB (rss before {} MiB)",
        worker_peak >> 20,
        driver_peak >> 20,
        driver_rss >> 20
    );
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
