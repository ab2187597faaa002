//! `rllib start/status/stop`: a head and nodes as separate daemon processes on 127.0.0.1,
//! each with its own temp dir and port, HOME in a temporary directory (the user's real
//! ~/.rllib is never touched). Every test stops its daemons on the way out, failed or not.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

/// The longest any single command may take before the test calls it hung.
const HANG: Duration = Duration::from_secs(60);

/// A cluster's daemons on this machine; dropping it stops them all and kills what is left.
struct Cluster {
    home: tempfile::TempDir,
    dirs: Vec<PathBuf>,
    extra_pids: Vec<u32>,
}

impl Cluster {
    fn new() -> Cluster {
        Cluster {
            home: tempfile::tempdir().unwrap(),
            dirs: Vec::new(),
            extra_pids: Vec::new(),
        }
    }

    /// `rllib ARGS` with this cluster's HOME, and `envs` set; killed after [`HANG`].
    fn rllib_env(&self, args: &[&str], envs: &[(&str, &str)]) -> Run {
        let mut c = rllib_command(self.home.path(), args);
        c.env("HOME", self.home.path())
            .env_remove("RLLIB_AUTH_TOKEN")
            .env_remove("RLLIB_ADDRESS")
            .env_remove("RLLIB_TEST_PROTOCOL_VERSION")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("the rllib binary runs");
        let deadline = Instant::now() + HANG;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("rllib {args:?} did not finish within {HANG:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        finished(child.wait_with_output().unwrap())
    }

    /// Starts `rllib train` on the cluster at `head`: PPO with two workers that hold a
    /// `sampler` each, 30 iterations, results under `local`.
    fn train_on(&self, head: &str, local: &Path) -> std::process::Child {
        let cfg = cluster_ppo_config();
        let mut args = train_args(
            local,
            "PPO",
            "CartPole-v1",
            &cfg,
            r#"{"training_iteration": 30}"#,
            &[],
        );
        args.extend(["--address", head]);
        rllib_command(self.home.path(), &args)
            .env("HOME", self.home.path())
            .env_remove("RLLIB_AUTH_TOKEN")
            .env_remove("RLLIB_ADDRESS")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn rllib(&self, args: &[&str]) -> Run {
        self.rllib_env(args, &[])
    }

    /// A fresh temp dir for one daemon, stopped when the cluster drops.
    fn dir(&mut self, name: &str) -> PathBuf {
        let d = self.home.path().join(name);
        self.dirs.push(d.clone());
        d
    }

    fn start_head(&mut self, port: u16, extra: &[&str]) -> (String, PathBuf) {
        self.start_head_env(port, extra, &[])
    }

    fn start_head_env(
        &mut self,
        port: u16,
        extra: &[&str],
        envs: &[(&str, &str)],
    ) -> (String, PathBuf) {
        let dir = self.dir("head");
        let port_s = port.to_string();
        let mut args = vec![
            "start",
            "--head",
            "--port",
            &port_s,
            "--temp-dir",
            dir.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let r = self.rllib_env(&args, envs);
        r.ok();
        let address = format!("127.0.0.1:{port}");
        assert!(
            r.stdout
                .contains(&format!("rllib start --address {address}")),
            "{}",
            r.stdout
        );
        (address, dir)
    }

    fn start_node(&mut self, name: &str, head: &str, extra: &[&str]) -> PathBuf {
        let dir = self.dir(name);
        let mut args = vec![
            "start",
            "--address",
            head,
            "--temp-dir",
            dir.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        self.rllib(&args).ok();
        dir
    }

    fn status(&self, address: &str) -> Value {
        let r = self.rllib(&["status", "--address", address, "--format", "json"]);
        r.ok();
        serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
    }

    fn token(&self) -> cluster::AuthToken {
        let text = std::fs::read_to_string(self.home.path().join(".rllib/auth_token")).unwrap();
        cluster::AuthToken::new(&text).unwrap()
    }

    fn log(&self, dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join("logs").join(name)).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for &p in &self.extra_pids {
            kill(p, libc::SIGCONT);
            kill(p, libc::SIGKILL);
        }
        for d in &self.dirs {
            if let Some(pid) = pid_of(d) {
                // A stopped daemon cannot handle SIGTERM.
                kill(pid, libc::SIGCONT);
            }
            let _ = rllib_command(
                self.home.path(),
                &["stop", "--temp-dir", d.to_str().unwrap()],
            )
            .env("HOME", self.home.path())
            .output();
            if let Some(pid) = pid_of(d) {
                kill(pid, libc::SIGKILL);
            }
        }
    }
}

fn kill(pid: u32, sig: libc::c_int) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

fn pid_of(dir: &Path) -> Option<u32> {
    std::fs::read_to_string(dir.join("daemon.pid"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// True while `pid` runs (a zombie does not count: it is dead, only not yet reaped).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat[stat.rfind(')').unwrap() + 1..]
                .trim_start()
                .chars()
                .next();
            !matches!(state, Some('Z') | Some('X'))
        }
        Err(_) => false,
    }
}

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| alive(p))
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .collect()
}

/// Polls `check` every 50 ms for up to `limit`; true once it held.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `redis-server` of the test's own on a free port of 127.0.0.1, persisting nothing, its
/// files in a temp dir; killed when dropped, a failed test included.
struct Redis {
    child: std::process::Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Redis {
    fn start() -> Redis {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run redis-server ({e}): run .ci/setup, which installs it")
            });
        let redis = Redis {
            child,
            address: format!("127.0.0.1:{port}"),
            _dir: dir,
        };
        let answers = || {
            let Ok(mut s) = TcpStream::connect(&redis.address) else {
                return false;
            };
            let mut buf = [0u8; 7];
            s.write_all(b"PING\r\n").is_ok()
                && s.read_exact(&mut buf).is_ok()
                && &buf == b"+PONG\r\n"
        };
        assert!(
            eventually(Duration::from_secs(10), answers),
            "redis-server at {} did not answer",
            redis.address
        );
        redis
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn nodes(status: &Value) -> Vec<Value> {
    status["nodes"].as_array().expect("a nodes array").clone()
}

fn node(status: &Value, id: u64) -> Value {
    nodes(status)
        .into_iter()
        .find(|n| n["node_id"] == id)
        .unwrap_or_else(|| panic!("no node {id} in {status}"))
}

/// A failed command: exit code `code`, one line on stderr naming every needle, no panic.
fn one_line_error(r: &Run, code: i32, needles: &[&str]) {
    assert_eq!(r.code, code, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let err = r.stderr.trim();
    assert_eq!(err.lines().count(), 1, "one line expected:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks '{n}':\n{err}");
    }
}

#[test]
fn a_head_and_two_nodes_show_as_three_alive_nodes_with_their_resources() {
    let mut c = Cluster::new();
    let (head, head_dir) = c.start_head(free_port(), &["--num-cpus", "2"]);
    let n1 = c.start_node(
        "n1",
        &head,
        &["--num-cpus", "1", "--resources", r#"{"accel": 2}"#],
    );
    let n2 = c.start_node("n2", &head, &["--num-cpus", "3", "--num-gpus", "1"]);
    let st = c.status(&head);
    let ns = nodes(&st);
    assert_eq!(ns.len(), 3, "{st}");
    assert!(ns.iter().all(|n| n["alive"] == true), "{st}");
    let ids: Vec<u64> = ns.iter().map(|n| n["node_id"].as_u64().unwrap()).collect();
    assert_eq!(ids, vec![1, 2, 3]);
    assert_eq!(node(&st, 1)["address"], head.as_str());
    assert_eq!(
        node(&st, 1)["resources_total"],
        serde_json::json!({"CPU": 2})
    );
    assert_eq!(
        node(&st, 2)["resources_total"],
        serde_json::json!({"CPU": 1, "accel": 2})
    );
    assert_eq!(
        node(&st, 3)["resources_total"],
        serde_json::json!({"CPU": 3, "GPU": 1})
    );
    for n in &ns {
        assert_eq!(n["resources_available"], n["resources_total"], "{n}");
        assert!(
            n["address"].as_str().unwrap().starts_with("127.0.0.1:"),
            "{n}"
        );
    }

    // Text status, and the address found through the head's temp dir being the default is
    // not assumed: RLLIB_ADDRESS names it.
    let r = c.rllib_env(&["status"], &[("RLLIB_ADDRESS", &head)]);
    r.ok();
    assert!(
        r.stdout.contains("(head)") && r.stdout.contains("0.0/6.0 CPU"),
        "{}",
        r.stdout
    );

    // A driver's usage shows as less available.
    let driver = cluster::DriverClient::connect(&head, &c.token()).unwrap();
    assert_eq!(
        driver.node_id(),
        4,
        "drivers take ids from the nodes' counter"
    );
    driver
        .report_usage(2, &cluster::Resources::from([("CPU".into(), 1.0)]))
        .unwrap();
    let st = c.status(&head);
    assert_eq!(
        node(&st, 2)["resources_available"],
        serde_json::json!({"CPU": 0, "accel": 2})
    );

    // Events: a node that joins later, and the exit of a worker this driver spawned.
    let events = driver.events();
    let n3 = c.start_node("n3", &head, &["--num-cpus", "1"]);
    let added = events.recv_timeout(HANG).unwrap();
    assert!(
        matches!(&added, cluster::ClusterEvent::NodeAdded(n) if n.node_id == 5 && n.alive),
        "{added:?}"
    );
    assert!(driver.known_nodes().iter().any(|n| n.node_id == 5));
    let exits_3 = cluster::SpawnRequest {
        executable: "/bin/sh".into(),
        args: vec!["-c".into(), "exit 3".into()],
        env: vec![],
    };
    let pid = driver.spawn_worker(5, &exits_3).unwrap();
    let exited = events.recv_timeout(HANG).unwrap();
    assert_eq!(
        exited,
        cluster::ClusterEvent::WorkerExited {
            node_id: 5,
            pid,
            exit: cluster::WorkerExit::Code(3)
        }
    );
    drop(driver);
    c.rllib(&["stop", "--temp-dir", n3.to_str().unwrap()]).ok();
    assert!(
        eventually(HANG, || node(&c.status(&head), 2)["resources_available"]
            ["CPU"]
            == 1),
        "a driver's usage is dropped when it leaves"
    );

    // Stop everything: no daemon left, no pid file left; a second stop says nothing runs.
    let pids: Vec<u32> = [&head_dir, &n1, &n2]
        .iter()
        .map(|d| pid_of(d).unwrap())
        .collect();
    for d in [&n1, &n2, &head_dir] {
        let r = c.rllib(&["stop", "--temp-dir", d.to_str().unwrap()]);
        r.ok();
        assert!(r.stdout.contains("Stopped the daemon"), "{}", r.stdout);
        assert!(pid_of(d).is_none(), "the pid file is removed");
    }
    assert!(pids.iter().all(|&p| !alive(p)), "daemons left: {pids:?}");
    assert!(!head_dir.join("address").exists());
    let r = c.rllib(&["stop", "--temp-dir", head_dir.to_str().unwrap()]);
    r.ok();
    assert!(r.stdout.contains("No daemon is running"), "{}", r.stdout);
}

#[test]
fn wrong_tokens_garbage_oversized_frames_stalls_and_other_versions_do_not_hurt_the_head() {
    let mut c = Cluster::new();
    let (head, head_dir) = c.start_head(free_port(), &["--num-cpus", "1"]);

    // A peer that connects and says nothing holds no one up.
    let stalled = TcpStream::connect(&head).unwrap();

    let r = c.rllib_env(
        &["status", "--address", &head],
        &[("RLLIB_AUTH_TOKEN", "not-the-token")],
    );
    one_line_error(&r, 1, &["authentication failed", &head]);
    assert!(
        eventually(HANG, || {
            let log = c.log(&head_dir, "head.log");
            log.contains("refused peer") && log.contains("authentication failed with 127.0.0.1:")
        }),
        "the head logs the refused peer:\n{}",
        c.log(&head_dir, "head.log")
    );

    // Garbage where the handshake belongs: the head hangs up (it reads a bounded frame).
    let mut g = TcpStream::connect(&head).unwrap();
    g.set_read_timeout(Some(HANG)).unwrap();
    g.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut sink = Vec::new();
    let _ = g.read_to_end(&mut sink);
    assert!(
        sink.len() < 1024,
        "only the hello came back, got {} bytes",
        sink.len()
    );

    // An oversized length prefix after the hello: refused without waiting for the body.
    let mut o = TcpStream::connect(&head).unwrap();
    o.set_read_timeout(Some(HANG)).unwrap();
    let hello = cluster::read_frame_blocking(&mut o, cluster::MAX_HANDSHAKE_FRAME).unwrap();
    assert!(!hello.is_empty());
    o.write_all(&u32::MAX.to_be_bytes()).unwrap();
    let mut rest = Vec::new();
    let _ = o.read_to_end(&mut rest);
    assert!(rest.is_empty(), "no verdict for an oversized frame");
    assert!(
        eventually(HANG, || c
            .log(&head_dir, "head.log")
            .contains("exceeds the limit")),
        "{}",
        c.log(&head_dir, "head.log")
    );

    // Another build's protocol version is refused, both sides naming both versions.
    let r = c.rllib_env(
        &["status", "--address", &head],
        &[("RLLIB_TEST_PROTOCOL_VERSION", "99")],
    );
    let ours = format!("version {}", cluster::PROTOCOL_VERSION);
    one_line_error(&r, 1, &["version mismatch", "version 99", &ours]);
    assert!(
        eventually(HANG, || {
            let log = c.log(&head_dir, "head.log");
            log.contains(&format!(
                "this build speaks {ours}, the peer speaks version 99"
            ))
        }),
        "{}",
        c.log(&head_dir, "head.log")
    );

    // Through all of it the head serves others, the stalled peer still connected.
    let st = c.status(&head);
    assert_eq!(nodes(&st).len(), 1);
    let _ = c.start_node("n1", &head, &["--num-cpus", "1"]);
    assert_eq!(nodes(&c.status(&head)).len(), 2);
    drop(stalled);
}

#[test]
fn a_node_killed_with_sigkill_is_declared_dead_and_its_workers_die() {
    let mut c = Cluster::new();
    let (head, _head_dir) = c.start_head(free_port(), &["--num-cpus", "1"]);
    let n1 = c.start_node("n1", &head, &["--num-cpus", "1"]);
    let driver = cluster::DriverClient::connect(&head, &c.token()).unwrap();
    let events = driver.events();
    let sleep = cluster::SpawnRequest {
        executable: "/bin/sleep".into(),
        args: vec!["300".into()],
        env: vec![("RLLIB_E2E".into(), "1".into())],
    };
    let worker = driver.spawn_worker(2, &sleep).unwrap();
    c.extra_pids.push(worker);
    assert!(alive(worker));

    // A worker that cannot start is a clear error, not a hang.
    let missing = cluster::SpawnRequest {
        executable: "/no/such/worker".into(),
        ..Default::default()
    };
    let e = driver.spawn_worker(2, &missing).unwrap_err().to_string();
    assert!(
        e.contains("/no/such/worker") && e.contains("does not exist"),
        "{e}"
    );

    let daemon = pid_of(&n1).unwrap();
    kill(daemon, libc::SIGKILL);
    assert!(
        eventually(HANG, || node(&c.status(&head), 2)["alive"] == false),
        "node 2 is shown dead"
    );
    assert!(
        eventually(HANG, || !alive(worker)),
        "the dead node's worker {worker} is gone"
    );
    let mut saw_dead = false;
    while let Ok(ev) = events.recv_timeout(Duration::from_secs(5)) {
        if ev == (cluster::ClusterEvent::NodeDead { node_id: 2 }) {
            saw_dead = true;
            break;
        }
    }
    assert!(saw_dead, "the driver hears NodeDead");
    assert!(node(&c.status(&head), 1)["alive"] == true);
    assert!(
        matches!(
            driver.spawn_worker(2, &sleep),
            Err(cluster::ClusterError::UnknownNode { node_id: 2 })
        ),
        "a dead node takes no workers"
    );
}

#[test]
fn a_silent_node_is_declared_dead_after_the_timeout() {
    let mut c = Cluster::new();
    // A 1 s timeout keeps the test short; the default is 3 s.
    let (head, _) = c.start_head_env(
        free_port(),
        &["--num-cpus", "1"],
        &[("RLLIB_NODE_TIMEOUT_S", "1")],
    );
    let n1 = c.start_node("n1", &head, &["--num-cpus", "1"]);
    let daemon = pid_of(&n1).unwrap();
    c.extra_pids.push(daemon);
    // Stopped, its socket stays open: only the missing heartbeats can tell.
    kill(daemon, libc::SIGSTOP);
    assert!(
        eventually(HANG, || node(&c.status(&head), 2)["alive"] == false),
        "a silent node is declared dead"
    );
    kill(daemon, libc::SIGCONT);
}

#[test]
fn stop_leaves_no_process_behind_workers_included() {
    let mut c = Cluster::new();
    let (head, head_dir) = c.start_head(free_port(), &["--num-cpus", "1"]);
    let n1 = c.start_node("n1", &head, &["--num-cpus", "1"]);
    let driver = cluster::DriverClient::connect(&head, &c.token()).unwrap();
    let sleep = cluster::SpawnRequest {
        executable: "/bin/sleep".into(),
        args: vec!["300".into()],
        env: vec![],
    };
    let on_head = driver.spawn_worker(1, &sleep).unwrap();
    let on_node = driver.spawn_worker(2, &sleep).unwrap();
    c.extra_pids.extend([on_head, on_node]);
    let daemons = [pid_of(&head_dir).unwrap(), pid_of(&n1).unwrap()];
    for d in [&n1, &head_dir] {
        c.rllib(&["stop", "--temp-dir", d.to_str().unwrap()]).ok();
    }
    for p in daemons.iter().chain([&on_head, &on_node]) {
        assert!(!alive(*p), "process {p} is left behind");
    }
    let home = c.home.path().to_str().unwrap().to_string();
    assert_eq!(processes_mentioning(&home), Vec::<u32>::new());
}

#[test]
fn start_errors_are_one_line_with_a_nonzero_exit_and_leave_nothing_running() {
    let mut c = Cluster::new();
    let port = free_port();
    let (head, head_dir) = c.start_head(port, &["--num-cpus", "1"]);

    // The port is taken (by our head).
    let other = c.dir("other");
    let port_s = port.to_string();
    let r = c.rllib(&[
        "start",
        "--head",
        "--port",
        &port_s,
        "--temp-dir",
        other.to_str().unwrap(),
    ]);
    one_line_error(&r, 1, &["cannot listen on", &head, "in use"]);

    // Bad --resources JSON.
    let r = c.rllib(&[
        "start",
        "--head",
        "--port",
        "1",
        "--temp-dir",
        other.to_str().unwrap(),
        "--resources",
        "{oops",
    ]);
    one_line_error(&r, 2, &["--resources", "not valid JSON"]);
    let r = c.rllib(&[
        "start",
        "--address",
        &head,
        "--temp-dir",
        other.to_str().unwrap(),
        "--resources",
        r#"{"x": -1}"#,
    ]);
    one_line_error(&r, 2, &["--resources", "non-negative"]);

    // Nothing listens at the head address.
    let nobody = format!("127.0.0.1:{}", free_port());
    let r = c.rllib(&[
        "start",
        "--address",
        &nobody,
        "--temp-dir",
        other.to_str().unwrap(),
    ]);
    one_line_error(&r, 1, &["cannot reach", &nobody]);

    // The temp dir holds a running daemon.
    let head_pid = pid_of(&head_dir).unwrap();
    let r = c.rllib(&[
        "start",
        "--head",
        "--port",
        "1",
        "--temp-dir",
        head_dir.to_str().unwrap(),
    ]);
    one_line_error(
        &r,
        1,
        &["in use", &head_pid.to_string(), head_dir.to_str().unwrap()],
    );

    // No Redis where --redis-address points; then an address of the wrong shape.
    let no_redis = format!("127.0.0.1:{}", free_port());
    let r = c.rllib(&[
        "start",
        "--head",
        "--port",
        &free_port().to_string(),
        "--redis-address",
        &no_redis,
        "--temp-dir",
        other.to_str().unwrap(),
    ]);
    one_line_error(&r, 1, &["Redis at", &no_redis, "cannot connect"]);
    let r = c.rllib(&[
        "start",
        "--head",
        "--redis-address",
        "redis-without-port",
        "--temp-dir",
        other.to_str().unwrap(),
    ]);
    one_line_error(&r, 2, &["--redis-address", "HOST:PORT"]);

    // Nothing of the failed starts runs or claims the temp dir; the head still serves.
    assert!(pid_of(&other).is_none());
    assert_eq!(
        processes_mentioning(other.to_str().unwrap()),
        Vec::<u32>::new()
    );
    assert_eq!(nodes(&c.status(&head)).len(), 1);
}

#[test]
fn a_head_killed_and_restarted_on_redis_gets_its_nodes_and_driver_back_with_their_ids() {
    let redis = Redis::start();
    let mut c = Cluster::new();
    let port = free_port();
    let with_redis = ["--num-cpus", "1", "--redis-address", &redis.address];
    let (head, head_dir) = c.start_head(port, &with_redis);
    let n1 = c.start_node("n1", &head, &["--num-cpus", "1"]);
    let n2 = c.start_node("n2", &head, &["--num-cpus", "2"]);
    let driver = cluster::DriverClient::connect(&head, &c.token()).unwrap();
    let events = driver.events();
    let driver_id = driver.node_id();
    assert_eq!(driver_id, 4);
    driver
        .report_usage(3, &cluster::Resources::from([("CPU".into(), 1.5)]))
        .unwrap();
    let before = c.status(&head);
    let node_pids = [pid_of(&n1).unwrap(), pid_of(&n2).unwrap()];

    let head_pid = pid_of(&head_dir).unwrap();
    kill(head_pid, libc::SIGKILL);
    assert!(eventually(HANG, || !alive(head_pid)), "the head is gone");
    // The same temp dir: its pid file names a dead process, which start sees through.
    let port_s = port.to_string();
    let mut args = vec![
        "start",
        "--head",
        "--port",
        &port_s,
        "--temp-dir",
        head_dir.to_str().unwrap(),
    ];
    args.extend_from_slice(&with_redis);
    let r = c.rllib(&args);
    r.ok();
    assert!(
        r.stdout.contains("(node 1,"),
        "the head keeps its id: {}",
        r.stdout
    );

    let back = |st: &Value| {
        let ns = nodes(st);
        ns.len() == 3 && ns.iter().all(|n| n["alive"] == true)
    };
    let mut after = Value::Null;
    assert!(
        eventually(HANG, || {
            after = c.status(&head);
            back(&after)
        }),
        "the nodes rejoin: {after}\nhead log:\n{}",
        c.log(&head_dir, "head.log")
    );
    for id in [2, 3] {
        let (was, is) = (node(&before, id), node(&after, id));
        assert_eq!(was["address"], is["address"], "node {id} kept its id");
        assert_eq!(was["resources_total"], is["resources_total"]);
    }
    assert!(
        node_pids.iter().all(|&p| alive(p)),
        "the node daemons went on"
    );

    let mut rejoined = false;
    while let Ok(ev) = events.recv_timeout(HANG) {
        if ev == cluster::ClusterEvent::HeadRejoined {
            rejoined = true;
            break;
        }
    }
    assert!(rejoined, "the driver rejoins");
    assert_eq!(driver.node_id(), driver_id, "with its id");
    assert_eq!(driver.status().unwrap().drivers, 1);
    assert_eq!(
        node(&c.status(&head), 3)["resources_available"]["CPU"],
        0.5,
        "what it uses is still counted"
    );
    let sleep = cluster::SpawnRequest {
        executable: "/bin/sleep".into(),
        args: vec!["300".into()],
        env: vec![],
    };
    let worker = driver.spawn_worker(2, &sleep).unwrap();
    c.extra_pids.push(worker);
    assert!(alive(worker), "and starts workers on a rejoined node");
}

#[test]
fn a_head_restarted_without_redis_starts_a_new_cluster() {
    let mut c = Cluster::new();
    let port = free_port();
    let (head, head_dir) = c.start_head(port, &["--num-cpus", "1"]);
    let n1 = c.start_node("n1", &head, &["--num-cpus", "1"]);
    let node_pid = pid_of(&n1).unwrap();
    let head_pid = pid_of(&head_dir).unwrap();
    kill(head_pid, libc::SIGKILL);
    assert!(eventually(HANG, || !alive(head_pid)));
    let port_s = port.to_string();
    c.rllib(&[
        "start",
        "--head",
        "--port",
        &port_s,
        "--num-cpus",
        "1",
        "--temp-dir",
        head_dir.to_str().unwrap(),
    ])
    .ok();
    let mut st = Value::Null;
    assert!(
        eventually(HANG, || {
            st = c.status(&head);
            nodes(&st).len() == 2
        }),
        "the node joins the new head: {st}"
    );
    // The new head's counter starts again: the node gets the next id it hands out.
    assert_eq!(node(&st, 2)["alive"], true);
    assert!(alive(node_pid), "the same node daemon joined again");
}

#[test]
fn status_without_a_head_is_one_clear_line() {
    let c = Cluster::new();
    let nobody = format!("127.0.0.1:{}", free_port());
    let r = c.rllib(&["status", "--address", &nobody]);
    // No token in this HOME yet: that is what the user must fix first.
    one_line_error(&r, 2, &["no auth token"]);
    let r = c.rllib_env(
        &["status", "--address", &nobody],
        &[("RLLIB_AUTH_TOKEN", "t")],
    );
    one_line_error(&r, 1, &["cannot reach", &nobody]);
    let r = c.rllib_env(
        &["status", "--address", "nocolon"],
        &[("RLLIB_AUTH_TOKEN", "t")],
    );
    one_line_error(&r, 2, &["--address", "HOST:PORT"]);
}

/// The daemon binary without libtorch is what `rllib start` runs (it is the lean one).
#[test]
fn daemons_run_the_lean_binary() {
    let mut c = Cluster::new();
    let (_, head_dir) = c.start_head(free_port(), &["--num-cpus", "1"]);
    let pid = pid_of(&head_dir).unwrap();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert_eq!(
        exe.file_name().unwrap(),
        "rllib-daemon",
        "{}",
        exe.display()
    );
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    assert!(!maps.contains("libtorch"), "the daemon loaded libtorch");
    let out = Command::new(&exe).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "run alone, it points to rllib start"
    );
}

#[test]
fn a_node_whose_head_stays_away_exits_and_cleans_up() {
    let mut c = Cluster::new();
    let (head, head_dir) = c.start_head(free_port(), &["--num-cpus", "1"]);
    let dir = c.dir("n1");
    c.rllib_env(
        &[
            "start",
            "--address",
            &head,
            "--temp-dir",
            dir.to_str().unwrap(),
        ],
        &[("RLLIB_NODE_RECONNECT_S", "1")],
    )
    .ok();
    let node_pid = pid_of(&dir).unwrap();
    c.rllib(&["stop", "--temp-dir", head_dir.to_str().unwrap()])
        .ok();
    assert!(
        eventually(HANG, || !alive(node_pid)),
        "the node gives up on its head"
    );
    assert!(pid_of(&dir).is_none(), "and removes its pid file");
    let log = c.log(&dir, "node.log");
    assert!(
        log.contains("lost the head") && log.contains("stayed unreachable"),
        "{log}"
    );
}

/// PPO on CartPole with two remote workers, each holding a `sampler` (only nodes offer it).
fn cluster_ppo_config() -> String {
    FAST_CARTPOLE.replace(
        "\"num_workers\": 0",
        "\"num_workers\": 2, \"custom_resources_per_worker\": {\"sampler\": 1}",
    )
}

#[test]
fn training_with_workers_on_another_node_writes_the_local_curve() {
    let mut c = Cluster::new();
    let (head, _) = c.start_head(free_port(), &["--num-cpus", "0"]);
    let node_dir = c.start_node(
        "node",
        &head,
        &["--num-cpus", "2", "--resources", r#"{"sampler": 2}"#],
    );
    let node_pid = pid_of(&node_dir).unwrap();
    let cfg = cluster_ppo_config();
    let stop = r#"{"training_iteration": 3}"#;
    let mut curves = Vec::new();
    for address in [Some(head.as_str()), None] {
        let local = c.home.path().join(if address.is_some() {
            "cluster"
        } else {
            "local"
        });
        let mut args = train_args(&local, "PPO", "CartPole-v1", &cfg, stop, &[]);
        if let Some(a) = address {
            args.extend(["--address", a]);
        }
        let r = c.rllib(&args);
        r.ok();
        curves.push(results(&trial_dirs(&local)[0]));
    }
    assert_eq!(curves[0].len(), 3);
    for (on_cluster, here) in curves[0].iter().zip(&curves[1]) {
        assert_eq!(
            crate::train::strip_times(on_cluster),
            crate::train::strip_times(here)
        );
        assert_eq!(on_cluster["num_healthy_workers"], 2);
    }
    // Only the node offers `sampler` (and the head no CPU): the workers ran there.
    assert!(alive(node_pid));
}

#[test]
fn training_goes_on_when_a_node_with_workers_dies() {
    let mut c = Cluster::new();
    let (head, _) = c.start_head(free_port(), &["--num-cpus", "0"]);
    let a = c.start_node(
        "a",
        &head,
        &["--num-cpus", "2", "--resources", r#"{"sampler": 2}"#],
    );
    let b = c.start_node(
        "b",
        &head,
        &["--num-cpus", "2", "--resources", r#"{"sampler": 2}"#],
    );
    let (a_pid, b_pid) = (pid_of(&a).unwrap(), pid_of(&b).unwrap());
    let local = c.home.path().join("r");
    let mut child = c.train_on(&head, &local);
    // Once a result line is written, the workers run on the first node (placement goes in
    // node order); that node dies: its daemon is killed with -9, its workers with it.
    first_result(&mut child, &local);
    let workers_on_a = processes_mentioning("")
        .into_iter()
        .filter(|&p| parent_of(p) == Some(a_pid))
        .count();
    assert!(workers_on_a >= 1, "the workers run on node a");
    kill(a_pid, libc::SIGKILL);
    let r = finish_within(
        child,
        Duration::from_secs(300),
        "training did not finish after the node died (hang guard)",
    );
    r.ok();
    let res = results(&trial_dirs(&local)[0]);
    let last = res.last().unwrap();
    assert_eq!(last["training_iteration"], 30);
    assert!(
        last["num_remote_worker_restarts"].as_u64().unwrap() >= 1,
        "{last}"
    );
    assert_eq!(last["num_healthy_workers"], 2, "{last}");
    // The node is shown dead; the other one ran the recreated workers and is alive.
    let st = c.status(&head);
    assert_eq!(
        nodes(&st).iter().filter(|n| n["alive"] == false).count(),
        1,
        "{st}"
    );
    assert!(alive(b_pid));
}

/// Waits until the run under `local` has written its first result line (kills it on a hang).
fn first_result(child: &mut std::process::Child, local: &Path) {
    let started = eventually(Duration::from_secs(120), || {
        trial_dirs(local).first().is_some_and(|t| {
            std::fs::read_to_string(t.join("result.json")).is_ok_and(|s| s.contains('\n'))
        })
    });
    if !started {
        let _ = child.kill();
        panic!("no result line (hang guard)");
    }
}

/// Waits for `child` to exit; a hang guard only, never a timed assertion.
fn finish_within(mut child: std::process::Child, limit: Duration, what: &str) -> Run {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    finished(child.wait_with_output().unwrap())
}

/// The parent of a process, if it still runs.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(1)?.parse().ok()
}

#[test]
fn training_goes_on_when_the_head_is_killed_and_restarted_on_redis() {
    let redis = Redis::start();
    let mut c = Cluster::new();
    let port = free_port();
    let with_redis = ["--num-cpus", "0", "--redis-address", &redis.address];
    let (head, head_dir) = c.start_head(port, &with_redis);
    let a = c.start_node(
        "a",
        &head,
        &["--num-cpus", "2", "--resources", r#"{"sampler": 2}"#],
    );
    let a_pid = pid_of(&a).unwrap();
    let local = c.home.path().join("r");
    let mut child = c.train_on(&head, &local);
    first_result(&mut child, &local);
    let head_pid = pid_of(&head_dir).unwrap();
    kill(head_pid, libc::SIGKILL);
    if !eventually(HANG, || !alive(head_pid)) {
        let _ = child.kill();
        panic!("the head did not die");
    }
    let port_s = port.to_string();
    let mut restart = vec![
        "start",
        "--head",
        "--port",
        &port_s,
        "--temp-dir",
        head_dir.to_str().unwrap(),
    ];
    restart.extend_from_slice(&with_redis);
    let r = c.rllib(&restart);
    if r.code != 0 {
        let _ = child.kill();
        r.ok();
    }
    let r = finish_within(
        child,
        Duration::from_secs(300),
        "training did not finish after the head restarted (hang guard)",
    );
    r.ok();
    let res = results(&trial_dirs(&local)[0]);
    let last = res.last().unwrap();
    assert_eq!(last["training_iteration"], 30);
    assert_eq!(last["num_healthy_workers"], 2, "{last}");
    assert_eq!(
        last["num_remote_worker_restarts"], 0,
        "the workers on the node never noticed: {last}"
    );
    let mut st = Value::Null;
    assert!(
        eventually(HANG, || {
            st = c.status(&head);
            nodes(&st).len() == 2 && node(&st, 2)["alive"] == true
        }),
        "the node is back with its id: {st}"
    );
    assert!(alive(a_pid));
}
