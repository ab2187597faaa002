//! A cluster whose machines are network namespaces: the head and the driver in namespace A,
//! a node in namespace B, joined by a veth pair with their own private addresses, so nothing
//! may assume loopback (a daemon or worker that did would find nothing there).
//!
//! Needs root and iproute2's `ip` (CI runs as root); without them the test fails saying so,
//! because a skipped test would hide exactly the regressions it exists for. The daemons are
//! started by `cluster::start` from a thread that entered the namespace (a forked child keeps
//! the network namespace of the thread that forked it); the driver is this binary again, run
//! in namespace A with [`DRIVER_SUBCOMMAND`], so that every socket it opens is A's.

use crate::common::chain_local;
use crate::harness::{one, Test};
use crate::multinode::{chain_across, on};
use runtime::{remote_fn, ActorClass, ActorMethod, Resources, Runtime, RuntimeConfig};
use serde_json::{json, Value};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The hidden first argument that makes this binary the test's driver process.
pub const DRIVER_SUBCOMMAND: &str = "__netns-driver";

/// The token every daemon, driver and worker of this test proves (never the user's file).
const TOKEN: &str = "runtime-netns-test-token-0123456789abcdef";
/// The longest the driver process may run before the test calls it hung.
const DRIVER_LIMIT: Duration = Duration::from_secs(90);
/// `CLONE_NEWNET` from `<sched.h>`: `setns` checks the descriptor is a network namespace.
const CLONE_NEWNET: i32 = 0x4000_0000;

pub fn tests(t: &mut Vec<Test>) {
    one(
        t,
        "netns::nodes_in_separate_network_namespaces_run_tasks_and_actors",
        separate_namespaces,
    );
}

remote_fn! {
    /// The network namespace this worker runs in (`net:[INODE]`) and its pid.
    pub fn where_am_i() -> (String, u32) {
        let ns = std::fs::read_link("/proc/self/ns/net")
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|e| format!("unreadable: {e}"));
        (ns, std::process::id())
    }
}

/// An actor that answers from whichever namespace it was placed in.
pub struct Tally {
    total: i64,
}
pub static TALLY: ActorClass<Tally, ()> = ActorClass::new("netns::Tally", |()| Tally { total: 0 });
pub static TALLY_ADD: ActorMethod<Tally, (i64,), i64> =
    ActorMethod::new("netns::Tally::add", |t, (x,)| {
        t.total += x;
        t.total
    });
pub static TALLY_WHERE: ActorMethod<Tally, (), (String, u32)> =
    ActorMethod::new("netns::Tally::where", |_, ()| {
        where_am_i.call_local(()).expect("where_am_i cannot fail")
    });
runtime::register!(TALLY, TALLY_ADD, TALLY_WHERE);

extern "C" {
    fn setns(fd: i32, nstype: i32) -> i32;
    fn geteuid() -> u32;
}

/// Runs `f` on a fresh thread that entered the named namespace; processes `f` starts live
/// there, while this thread and every other stay where they were.
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    use std::os::unix::io::AsRawFd;
    let path = Path::new("/run/netns").join(ns);
    std::thread::spawn(move || {
        let fd = std::fs::File::open(&path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
        // SAFETY: setns on a descriptor we own; it changes only this thread's namespace.
        if unsafe { setns(fd.as_raw_fd(), CLONE_NEWNET) } != 0 {
            panic!(
                "setns into {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
        }
        f()
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// `ip ARGS`, which must succeed.
fn ip(args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip {}`: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "`ip {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The inode of a named namespace: what `/proc/PID/ns/net` shows as `net:[INODE]` for a
/// process inside it.
fn ns_inode(ns: &str) -> u64 {
    std::fs::metadata(Path::new("/run/netns").join(ns))
        .unwrap_or_else(|e| panic!("namespace {ns}: {e}"))
        .ino()
}

/// Everything the test made, removed when it ends, failed or not: the driver process, the
/// daemons (and with them their workers), the temp dirs, the veth pair and the namespaces.
#[derive(Default)]
struct Netns {
    namespaces: Vec<String>,
    veth: Option<String>,
    dirs: Vec<PathBuf>,
    driver: Option<std::process::Child>,
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Some(mut d) = self.driver.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
        // Daemons first: a namespace outlives `ip netns del` while a process still runs in it.
        for d in self.dirs.iter().rev() {
            let _ = cluster::stop(d);
            let _ = std::fs::remove_dir_all(d);
        }
        let quiet = |args: &[&str]| {
            let _ = Command::new("ip")
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        // Only there if the test failed before moving it into a namespace.
        if let Some(v) = &self.veth {
            quiet(&["link", "del", v]);
        }
        for ns in &self.namespaces {
            quiet(&["netns", "del", ns]);
        }
    }
}

/// A /30 of 10.213.0.0/16 that no interface of this machine uses, so that a process left
/// in the host's namespace by mistake could not reach the test's addresses by chance.
fn free_subnet() -> u8 {
    let host = ip(&["-o", "addr", "show"]);
    let start = std::process::id() % 200;
    (0..200u32)
        .map(|i| (20 + (start + i) % 200) as u8)
        .find(|x| !host.contains(&format!("10.213.{x}.")))
        .expect("every 10.213.x.0/30 probed is in use on this machine")
}

fn require_root_and_ip() {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { geteuid() };
    assert_eq!(
        uid, 0,
        "this test makes network namespaces and a veth pair, which needs root (uid 0, not {uid}); run it as root, as CI does"
    );
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "`ip -V` failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => {
            panic!("this test needs the `ip` command (iproute2) to make network namespaces: {e}")
        }
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rt-netns-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn start_daemon(
    ns: &str,
    kind: cluster::DaemonKind,
    ip: &str,
    cpus: f64,
    resources: &str,
    dir: &Path,
) -> cluster::Started {
    let opts = cluster::StartOptions {
        kind,
        num_cpus: Some(cpus),
        num_gpus: None,
        resources: Some(resources.to_string()),
        temp_dir: dir.to_path_buf(),
        node_ip_address: Some(ip.to_string()),
    };
    let exe = std::env::current_exe().unwrap();
    in_netns(ns, move || cluster::start(&opts, &exe))
        .unwrap_or_else(|e| panic!("daemon in {ns} at {ip}: {e}"))
}

fn separate_namespaces() {
    require_root_and_ip();
    std::env::set_var(cluster::TOKEN_ENV, TOKEN);
    std::env::set_var(cluster::NODE_TIMEOUT_ENV, "2");
    let pid = std::process::id();
    let mut guard = Netns::default();
    let (a, b) = (format!("rt-netns-{pid}-a"), format!("rt-netns-{pid}-b"));
    // Interface names are at most 15 bytes: "rtv" + pid (7 digits at most) + one letter.
    let (va, vb) = (format!("rtv{pid}a"), format!("rtv{pid}b"));
    let x = free_subnet();
    let (ip_a, ip_b) = (format!("10.213.{x}.1"), format!("10.213.{x}.2"));
    for ns in [&a, &b] {
        guard.namespaces.push(ns.clone());
        ip(&["netns", "add", ns]);
    }
    guard.veth = Some(va.clone());
    ip(&["link", "add", &va, "type", "veth", "peer", "name", &vb]);
    ip(&["link", "set", &va, "netns", &a]);
    ip(&["link", "set", &vb, "netns", &b]);
    guard.veth = None;
    for (ns, dev, addr) in [(&a, &va, &ip_a), (&b, &vb, &ip_b)] {
        ip(&["-n", ns, "addr", "add", &format!("{addr}/30"), "dev", dev]);
        ip(&["-n", ns, "link", "set", dev, "up"]);
        ip(&["-n", ns, "link", "set", "lo", "up"]);
    }

    // A head in A offering one CPU and "a"; a node in B offering two CPUs and "b".
    let head_dir = temp_dir("head");
    guard.dirs.push(head_dir.clone());
    let head = start_daemon(
        &a,
        cluster::DaemonKind::Head {
            port: 6379,
            redis_address: None,
        },
        &ip_a,
        1.0,
        r#"{"a": 10}"#,
        &head_dir,
    );
    assert_eq!(head.address, format!("{ip_a}:6379"));
    let node_dir = temp_dir("node");
    guard.dirs.push(node_dir.clone());
    let node = start_daemon(
        &b,
        cluster::DaemonKind::Node {
            head: head.address.clone(),
            port: None,
        },
        &ip_b,
        2.0,
        r#"{"b": 10}"#,
        &node_dir,
    );
    assert!(
        node.address.starts_with(&format!("{ip_b}:")),
        "the node advertises {}",
        node.address
    );

    // The driver: this binary in A, joining the head at A's address.
    // Its output goes to files: a pipe nobody reads while it runs could fill and stall it.
    let driver_dir = temp_dir("driver");
    guard.dirs.push(driver_dir.clone());
    std::fs::create_dir_all(&driver_dir).unwrap();
    let (out_path, err_path) = (driver_dir.join("stdout"), driver_dir.join("stderr"));
    let (stdout, stderr) = (
        std::fs::File::create(&out_path).unwrap(),
        std::fs::File::create(&err_path).unwrap(),
    );
    let exe = std::env::current_exe().unwrap();
    let head_address = head.address.clone();
    let child = in_netns(&a, move || {
        Command::new(exe)
            .arg(DRIVER_SUBCOMMAND)
            .arg(head_address)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("the driver process starts")
    });
    guard.driver = Some(child);
    let deadline = Instant::now() + DRIVER_LIMIT;
    while guard.driver.as_mut().unwrap().try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the driver did not finish within {DRIVER_LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = guard.driver.take().unwrap().wait().unwrap();
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(status.success(), "the driver failed ({status}): {stderr}");
    let report: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no report from the driver: {stdout}\n{stderr}"));

    let (ns_a, ns_b) = (
        format!("net:[{}]", ns_inode(&a)),
        format!("net:[{}]", ns_inode(&b)),
    );
    let here = std::fs::read_link("/proc/self/ns/net").unwrap();
    let here = here.to_string_lossy();
    assert!(
        here != ns_a && here != ns_b,
        "the test itself runs in {here}"
    );
    assert_eq!(report["driver_netns"], ns_a, "{report}");

    // The node table holds the namespaces' own addresses: nobody advertised loopback.
    let mut addresses: Vec<String> = report["node_addresses"]
        .as_array()
        .expect("node addresses")
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    addresses.sort();
    assert_eq!(
        addresses,
        vec![head.address.clone(), node.address.clone()],
        "{report}"
    );

    // Tasks pinned to B ran in B, under B's daemon; those pinned to A in A, under the head.
    let sums: Vec<i64> = serde_json::from_value(report["sums_b"].clone()).unwrap();
    assert_eq!(sums, (1..=20).map(|i| i * i).collect::<Vec<i64>>());
    for (key, ns, daemon) in [
        ("task_b", &ns_b, node.pid),
        ("task_a", &ns_a, head.pid),
        ("actor_b", &ns_b, node.pid),
    ] {
        assert_eq!(report[key]["netns"], **ns, "{key}: {report}");
        assert_eq!(report[key]["netns_seen_by_driver"], **ns, "{key}: {report}");
        assert_eq!(report[key]["parent"], daemon, "{key}: {report}");
    }
    assert_eq!(report["actor_total"], 55, "{report}");
    assert_eq!(report["chain_matches_local"], true, "{report}");
    assert_eq!(report["node_b_usage_seen"], true, "{report}");
}

remote_fn! {
    /// Squares its argument.
    pub fn square(x: i64) -> i64 { x * x }
}

fn parent_of(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name may hold spaces: the fields after its closing parenthesis.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(1).unwrap().parse().unwrap()
}

/// Where a worker says it is, and where the driver sees it (read while it still runs).
fn placed(ns_and_pid: (String, u32)) -> Value {
    let (ns, pid) = ns_and_pid;
    let seen = std::fs::read_link(format!("/proc/{pid}/ns/net"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    json!({"netns": ns, "netns_seen_by_driver": seen, "pid": pid, "parent": parent_of(pid)})
}

/// The driver process (run in namespace A by the test): joins the head at `args[0]`, does
/// the work and prints one JSON line for the test to check; panics (non-zero exit) on error.
pub fn driver_main(args: &[String]) -> i32 {
    let head = args.first().expect("the head's address");
    let rt = Runtime::new(RuntimeConfig::default().address(head.clone())).expect("driver joins");
    let driver_netns = std::fs::read_link("/proc/self/ns/net")
        .unwrap()
        .to_string_lossy()
        .into_owned();

    let refs: Vec<_> = (1..=20i64)
        .map(|i| rt.task(&square, (i,)).resources(on("b")).submit().unwrap())
        .collect();
    let sums: Vec<i64> = refs.iter().map(|r| rt.get(r).unwrap()).collect();
    let task_b = placed(
        rt.get(
            &rt.task(&where_am_i, ())
                .resources(on("b"))
                .submit()
                .unwrap(),
        )
        .unwrap(),
    );
    let task_a = placed(
        rt.get(
            &rt.task(&where_am_i, ())
                .resources(on("a"))
                .submit()
                .unwrap(),
        )
        .unwrap(),
    );

    // Every step of the chain on the other namespace than the one before, no get between.
    let chain = chain_across(&rt, "net.csv");
    let chain_matches_local = chain == chain_local("net.csv");

    let actor = rt
        .actor(&TALLY, ())
        .resources(Resources::none().with("b", 1.0))
        .spawn()
        .unwrap();
    let totals: Vec<_> = (1..=10).map(|i| actor.method(&TALLY_ADD, (i,))).collect();
    let actor_total = rt.get(totals.last().unwrap()).unwrap();
    let actor_b = placed(rt.get(&actor.method(&TALLY_WHERE, ())).unwrap());

    // The head, reached at A's address, sees what this driver holds on B (the actor).
    let (token, _) = cluster::load_token().unwrap();
    let status = cluster::status(head, &token).unwrap();
    let node_addresses: Vec<String> = status
        .nodes
        .iter()
        .map(|n| n.info.address.clone())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    let node_b_usage_seen = loop {
        let st = cluster::status(head, &token).unwrap();
        let b = st
            .nodes
            .iter()
            .find(|n| n.info.resources_total.contains_key("b"))
            .expect("node b in the status");
        if b.resources_available.get("b") == Some(&9.0) {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    println!(
        "{}",
        json!({
            "driver_netns": driver_netns,
            "node_addresses": node_addresses,
            "sums_b": sums,
            "task_b": task_b,
            "task_a": task_a,
            "actor_b": actor_b,
            "actor_total": actor_total,
            "chain": chain,
            "chain_matches_local": chain_matches_local,
            "node_b_usage_seen": node_b_usage_seen,
        })
    );
    drop(rt);
    0
}
