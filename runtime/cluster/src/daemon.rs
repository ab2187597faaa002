//! Starting and stopping the head and node daemons (`rllib start`, `rllib stop`).
//!
//! `start` validates the options, then runs the same executable with a hidden subcommand
//! ([`DAEMON_SUBCOMMAND`]) in its own session, stdio to `<temp-dir>/logs/`. The daemon binds
//! its port (and, for a node, joins the head) before it answers on a pipe with one line,
//! `ready ...` or `error ...`, so every failure comes back to the user as one line while
//! nothing is left running. A daemon holds `<temp-dir>/daemon.lock` for its whole life and
//! writes its pid to `<temp-dir>/daemon.pid`; a head also writes its join address to
//! `<temp-dir>/address`.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{error, info};

use crate::auth::{ensure_token, load_token, TokenSource};
use crate::head::{run_head, Head, HeadConfig, DEFAULT_NODE_TIMEOUT, HEARTBEAT_PERIOD};
use crate::node::{join_head, run_node, NodeConfig, DEFAULT_RECONNECT};
use crate::protocol::{NodeId, Resources};
use crate::store::{InMemoryStore, MetadataStore};
use crate::ClusterError;
use crate::RedisStore;

/// The hidden subcommand that runs a daemon in the foreground: `<exe> __cluster-daemon SPEC`.
pub const DAEMON_SUBCOMMAND: &str = "__cluster-daemon";
/// The default head port (Ray's).
pub const DEFAULT_PORT: u16 = 6379;
/// How long `start` waits for the daemon to report ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `stop` waits for a daemon to exit after SIGTERM before it sends SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// The environment variable that sets the head's node timeout in seconds (default 3).
pub const NODE_TIMEOUT_ENV: &str = "RLLIB_NODE_TIMEOUT_S";
/// The environment variable that sets how long a node tries to get its head back (default 30 s).
pub const RECONNECT_ENV: &str = "RLLIB_NODE_RECONNECT_S";
/// The environment variable naming a head's address for commands without `--address`.
pub const ADDRESS_ENV: &str = "RLLIB_ADDRESS";

/// `/tmp/rllib`, where daemons keep their pid file, address and logs by default.
pub fn default_temp_dir() -> PathBuf {
    PathBuf::from("/tmp/rllib")
}

/// Which daemon to start.
#[derive(Clone, Debug)]
pub enum DaemonKind {
    /// A head (`rllib start --head`).
    Head {
        /// Its port.
        port: u16,
        /// A Redis server (`HOST:PORT`) for the metadata, so that a restarted head finds its
        /// nodes again; `None` keeps them in the head's memory.
        redis_address: Option<String>,
    },
    /// A node joining the head at `head` (`rllib start --address HOST:PORT`).
    Node {
        /// The head's address.
        head: String,
        /// The node's own port (the OS picks one when `None`).
        port: Option<u16>,
    },
}

/// The options of `rllib start`.
#[derive(Clone, Debug)]
pub struct StartOptions {
    /// Head or node.
    pub kind: DaemonKind,
    /// CPUs offered (default: this machine's count).
    pub num_cpus: Option<f64>,
    /// GPUs offered (default 0).
    pub num_gpus: Option<f64>,
    /// Custom resources as a JSON object of non-negative numbers.
    pub resources: Option<String>,
    /// Where the pid file, address and logs go.
    pub temp_dir: PathBuf,
    /// The address to bind and advertise (default 127.0.0.1: never all interfaces unasked).
    pub node_ip_address: Option<String>,
}

/// A daemon that answered.
#[derive(Clone, Debug)]
pub struct Started {
    /// The daemon's pid.
    pub pid: u32,
    /// Its node id.
    pub node_id: NodeId,
    /// For a head, its join address; for a node, its worker-spawning address.
    pub address: String,
    /// True for a head.
    pub is_head: bool,
    /// The resources it offers.
    pub resources: Resources,
    /// Where the token came from.
    pub token: TokenSource,
    /// Its log file.
    pub log: PathBuf,
}

/// What the child is told to run (passed as JSON on its command line).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct DaemonSpec {
    /// The head to join; `None` for a head.
    head: Option<String>,
    /// A head's Redis server, if any.
    #[serde(default)]
    redis: Option<String>,
    listen: SocketAddr,
    resources: Resources,
    temp_dir: PathBuf,
    node_timeout_ms: u64,
    reconnect_ms: u64,
}

fn bad(flag: &str, message: impl Into<String>) -> ClusterError {
    ClusterError::BadOption {
        flag: flag.to_string(),
        message: message.into(),
    }
}

/// Parses `--resources`: a JSON object of finite, non-negative numbers, CPU and GPU excluded
/// (they have their own flags).
pub fn parse_resources(json: &str) -> Result<Resources, ClusterError> {
    const FLAG: &str = "--resources";
    let v: Value = serde_json::from_str(json).map_err(|e| {
        bad(
            FLAG,
            format!("not valid JSON ({e}); expected an object such as '{{\"accelerator\": 1}}'"),
        )
    })?;
    let Value::Object(map) = v else {
        return Err(bad(
            FLAG,
            "expected a JSON object of resource names to numbers, such as '{\"accelerator\": 1}'",
        ));
    };
    let mut out = Resources::new();
    for (k, v) in map {
        if k == "CPU" || k == "GPU" {
            return Err(bad(
                FLAG,
                format!(
                    "use --num-{}s instead of \"{k}\" in --resources",
                    k.to_lowercase()
                ),
            ));
        }
        if k.is_empty() {
            return Err(bad(FLAG, "a resource name is empty"));
        }
        match v.as_f64() {
            Some(x) if x.is_finite() && x >= 0.0 => {
                out.insert(k, x);
            }
            _ => {
                return Err(bad(
                    FLAG,
                    format!("\"{k}\" must be a non-negative number, got {v}"),
                ))
            }
        }
    }
    Ok(out)
}

fn check_amount(flag: &str, x: f64) -> Result<f64, ClusterError> {
    if x.is_finite() && x >= 0.0 {
        Ok(x)
    } else {
        Err(bad(flag, format!("must be a non-negative number, got {x}")))
    }
}

fn env_seconds(name: &str, default: Duration) -> Result<Duration, ClusterError> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => match v.trim().parse::<f64>() {
            Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Ok(Duration::from_secs_f64(s)),
            _ => Err(bad(
                name,
                format!("must be a number of seconds in (0, 86400], got '{v}'"),
            )),
        },
    }
}

/// The `HOST:PORT` of `--address`, checked for shape (not for reachability).
pub fn check_address(flag: &str, address: &str) -> Result<String, ClusterError> {
    let shape_ok = address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0));
    if shape_ok {
        Ok(address.to_string())
    } else {
        Err(bad(flag, format!("expected HOST:PORT, got '{address}'")))
    }
}

fn spec_of(opts: &StartOptions) -> Result<DaemonSpec, ClusterError> {
    let ip: IpAddr = match &opts.node_ip_address {
        None => IpAddr::from([127, 0, 0, 1]),
        Some(s) => s.parse().map_err(|_| {
            bad(
                "--node-ip-address",
                format!("expected an IP address, got '{s}'"),
            )
        })?,
    };
    // The address is advertised to every peer: 0.0.0.0 would send them to themselves.
    if ip.is_unspecified() {
        return Err(bad(
            "--node-ip-address",
            format!("{ip} is not an address other machines can reach; give this machine's own IP"),
        ));
    }
    let mut resources = match &opts.resources {
        Some(j) => parse_resources(j)?,
        None => Resources::new(),
    };
    let cpus = match opts.num_cpus {
        Some(n) => check_amount("--num-cpus", n)?,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()) as f64,
    };
    resources.insert("CPU".into(), cpus);
    let gpus = check_amount("--num-gpus", opts.num_gpus.unwrap_or(0.0))?;
    if gpus > 0.0 {
        resources.insert("GPU".into(), gpus);
    }
    let (head, redis, port) = match &opts.kind {
        DaemonKind::Head {
            port,
            redis_address,
        } => {
            let redis = redis_address
                .as_deref()
                .map(|a| check_address("--redis-address", a))
                .transpose()?;
            (None, redis, *port)
        }
        DaemonKind::Node { head, port } => (
            Some(check_address("--address", head)?),
            None,
            port.unwrap_or(0),
        ),
    };
    Ok(DaemonSpec {
        head,
        redis,
        listen: SocketAddr::new(ip, port),
        resources,
        temp_dir: opts.temp_dir.clone(),
        node_timeout_ms: env_seconds(NODE_TIMEOUT_ENV, DEFAULT_NODE_TIMEOUT)?.as_millis() as u64,
        reconnect_ms: env_seconds(RECONNECT_ENV, DEFAULT_RECONNECT)?.as_millis() as u64,
    })
}

fn pid_path(dir: &Path) -> PathBuf {
    dir.join("daemon.pid")
}

/// The `<temp-dir>/address` file a head writes.
pub fn address_path(dir: &Path) -> PathBuf {
    dir.join("address")
}

/// The head address for a command without `--address`: `RLLIB_ADDRESS`, else the address a
/// head started with `temp_dir` wrote.
pub fn find_head_address(temp_dir: &Path) -> Result<String, ClusterError> {
    if let Ok(a) = std::env::var(ADDRESS_ENV) {
        if !a.trim().is_empty() {
            return check_address(ADDRESS_ENV, a.trim());
        }
    }
    let path = address_path(temp_dir);
    match std::fs::read_to_string(&path) {
        Ok(a) if !a.trim().is_empty() => Ok(a.trim().to_string()),
        _ => Err(bad(
            "--address",
            format!(
                "no head address given and no head running with temp dir {} (pass --address HOST:PORT or set {ADDRESS_ENV})",
                temp_dir.display()
            ),
        )),
    }
}

fn read_pid(dir: &Path) -> Option<u32> {
    std::fs::read_to_string(pid_path(dir))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|&p| p > 0)
}

/// The state letter of a process from `/proc/PID/stat`; `None` when it is gone.
fn proc_state(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses; the fields after its last ')' don't.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    Some((state, ppid))
}

fn alive(pid: u32) -> bool {
    matches!(proc_state(pid), Some((s, _)) if s != 'Z' && s != 'X')
}

fn is_daemon(pid: u32) -> bool {
    alive(pid)
        && std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
            c.split(|&b| b == 0)
                .any(|a| a == DAEMON_SUBCOMMAND.as_bytes())
        })
}

fn children_of(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| matches!(proc_state(p), Some((_, ppid)) if ppid == pid))
        .collect()
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

fn wait_gone(pids: &[u32], limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if pids.iter().all(|&p| !alive(p)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pid of the daemon running with `dir`, if one runs; a stale pid file is removed.
pub fn running_daemon(dir: &Path) -> Option<u32> {
    let pid = read_pid(dir)?;
    if is_daemon(pid) {
        Some(pid)
    } else {
        let _ = std::fs::remove_file(pid_path(dir));
        None
    }
}

/// Starts a daemon in the background with `exe` (the `rllib` binary) and returns once it
/// answers: ready, or its one-line error with nothing left running.
pub fn start(opts: &StartOptions, exe: &Path) -> Result<Started, ClusterError> {
    let spec = spec_of(opts)?;
    let is_head = spec.head.is_none();
    let (_, token) = if is_head {
        ensure_token()?
    } else {
        load_token()?
    };
    let dir = &opts.temp_dir;
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| ClusterError::io(&logs, e))?;
    if let Some(pid) = running_daemon(dir) {
        return Err(ClusterError::TempDirInUse {
            dir: dir.clone(),
            pid,
        });
    }
    let log = logs.join(if is_head { "head.log" } else { "node.log" });
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| ClusterError::io(&log, e))?;
    let spec_json = serde_json::to_string(&spec).expect("the spec serializes");
    let mut cmd = Command::new(exe);
    cmd.arg(DAEMON_SUBCOMMAND)
        .arg(spec_json)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file));
    // SAFETY: setsid is async-signal-safe; it detaches the daemon from our terminal and
    // process group so it outlives this command and ^C here.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| ClusterError::Daemon {
        message: format!("cannot run {}: {e}", exe.display()),
    })?;
    let pid = child.id();
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let see_log = format!("see {}", log.display());
    let fail = |child: &mut std::process::Child, message: String| {
        // Only this daemon's session: it has not reported ready, so it is ours to end.
        signal(pid, libc::SIGKILL);
        let _ = child.wait();
        if read_pid(dir) == Some(pid) {
            let _ = std::fs::remove_file(pid_path(dir));
        }
        Err(ClusterError::Daemon { message })
    };
    let line = match rx.recv_timeout(READY_TIMEOUT) {
        Ok(l) => l,
        Err(_) => {
            return fail(
                &mut child,
                format!(
                    "the daemon did not report ready within {} s; {see_log}",
                    READY_TIMEOUT.as_secs()
                ),
            )
        }
    };
    let line = line.trim_end();
    if let Some(rest) = line.strip_prefix("ready ") {
        let mut parts = rest.splitn(2, ' ');
        let node_id = parts.next().and_then(|s| s.parse().ok());
        let address = parts.next().map(str::to_string);
        if let (Some(node_id), Some(address)) = (node_id, address) {
            return Ok(Started {
                pid,
                node_id,
                address,
                is_head,
                resources: spec.resources,
                token,
                log,
            });
        }
        return fail(
            &mut child,
            format!("the daemon answered '{line}'; {see_log}"),
        );
    }
    if let Some(message) = line.strip_prefix("error ") {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return Err(ClusterError::Daemon {
                    message: message.to_string(),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        return fail(&mut child, message.to_string());
    }
    let status = child.try_wait().ok().flatten();
    let how = status.map_or("without a word".to_string(), |s| format!("({s})"));
    fail(
        &mut child,
        format!("the daemon exited before it was ready {how}; {see_log}"),
    )
}

/// What `stop` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopOutcome {
    /// The daemon with this pid was stopped, and these workers of it are gone too.
    Stopped {
        /// The daemon's pid.
        pid: u32,
        /// True when SIGTERM was not enough and SIGKILL was sent.
        killed: bool,
        /// Its worker processes that were running when it was stopped.
        workers: Vec<u32>,
    },
    /// No daemon runs with this temp dir.
    NotRunning,
}

/// Stops the daemon started with `dir`: SIGTERM, a bounded wait, SIGKILL if needed; then
/// makes sure its workers are gone and removes its pid file.
pub fn stop(dir: &Path) -> Result<StopOutcome, ClusterError> {
    let Some(pid) = running_daemon(dir) else {
        return Ok(StopOutcome::NotRunning);
    };
    let workers = children_of(pid);
    signal(pid, libc::SIGTERM);
    let mut killed = false;
    if !wait_gone(&[pid], STOP_TIMEOUT) {
        killed = true;
        signal(pid, libc::SIGKILL);
        wait_gone(&[pid], Duration::from_secs(2));
    }
    if !wait_gone(&workers, Duration::from_secs(2)) {
        for &w in &workers {
            signal(w, libc::SIGKILL);
        }
        wait_gone(&workers, Duration::from_secs(2));
    }
    let left: Vec<u32> = std::iter::once(pid)
        .chain(workers.iter().copied())
        .filter(|&p| alive(p))
        .collect();
    if !left.is_empty() {
        return Err(ClusterError::Daemon {
            message: format!("processes {left:?} of the daemon {pid} did not exit"),
        });
    }
    if read_pid(dir) == Some(pid) {
        let _ = std::fs::remove_file(pid_path(dir));
    }
    let _ = std::fs::remove_file(address_path(dir));
    Ok(StopOutcome::Stopped {
        pid,
        killed,
        workers,
    })
}

/// The one line a daemon writes on its stdout pipe for `start`, then stdout goes to the log.
struct Ready {
    sent: bool,
}

impl Ready {
    fn send(&mut self, line: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", line.replace('\n', " "));
        let _ = out.flush();
        drop(out);
        // SAFETY: dup2 onto fd 1 closes the pipe `start` reads, so it sees the line end,
        // and later prints go to the log with stderr.
        unsafe {
            libc::dup2(2, 1);
        }
        self.sent = true;
    }
}

/// Runs a daemon in the foreground (the hidden subcommand); returns the process exit code.
pub fn run_daemon(spec_json: &str) -> i32 {
    let mut ready = Ready { sent: false };
    let result = serde_json::from_str::<DaemonSpec>(spec_json)
        .map_err(|e| ClusterError::Daemon {
            message: format!("bad daemon spec: {e}"),
        })
        .and_then(|spec| daemon(spec, &mut ready));
    match result {
        Ok(()) => 0,
        Err(e) => {
            error!("{e}");
            if !ready.sent {
                ready.send(&format!("error {e}"));
            }
            1
        }
    }
}

/// Holds `<temp-dir>/daemon.lock` for the life of the process (closed, so released, at exit).
fn lock_temp_dir(dir: &Path) -> Result<std::fs::File, ClusterError> {
    use std::os::unix::io::AsRawFd;
    let path = dir.join("daemon.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| ClusterError::io(&path, e))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(ClusterError::TempDirInUse {
            dir: dir.to_path_buf(),
            pid: read_pid(dir).unwrap_or(0),
        });
    }
    Ok(f)
}

fn write_atomically(path: &Path, text: &str) -> Result<(), ClusterError> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(|e| ClusterError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| ClusterError::io(path, e))
}

fn daemon(spec: DaemonSpec, ready: &mut Ready) -> Result<(), ClusterError> {
    let dir = spec.temp_dir.clone();
    let _lock = lock_temp_dir(&dir)?;
    let (token, _) = load_token()?;
    // One thread: workers are forked from it, and PR_SET_PDEATHSIG follows the forking thread.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClusterError::Daemon {
            message: format!("cannot start the event loop: {e}"),
        })?;
    let result = rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let sig = |k| {
            signal(k).map_err(|e| ClusterError::Daemon {
                message: format!("cannot handle signals: {e}"),
            })
        };
        let (mut term, mut int) = (sig(SignalKind::terminate())?, sig(SignalKind::interrupt())?);
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => info!("SIGTERM: stopping"),
                _ = int.recv() => info!("SIGINT: stopping"),
            }
        };
        let listener = tokio::net::TcpListener::bind(spec.listen)
            .await
            .map_err(|source| ClusterError::Bind {
                address: spec.listen.to_string(),
                source,
            })?;
        let local = listener.local_addr().map_err(|source| ClusterError::Bind {
            address: spec.listen.to_string(),
            source,
        })?;
        let address = local.to_string();
        match &spec.head {
            None => {
                let cfg = HeadConfig {
                    address: address.clone(),
                    resources: spec.resources.clone(),
                    heartbeat_period: HEARTBEAT_PERIOD,
                    node_timeout: Duration::from_millis(spec.node_timeout_ms),
                };
                let store: Arc<dyn MetadataStore> = match &spec.redis {
                    Some(redis) => {
                        let s = RedisStore::connect(redis)?;
                        info!("metadata in Redis at {redis}");
                        Arc::new(s)
                    }
                    None => Arc::new(InMemoryStore::new()),
                };
                let head = Head::open(cfg, store)?;
                write_atomically(&pid_path(&dir), &format!("{}\n", std::process::id()))?;
                write_atomically(&address_path(&dir), &format!("{address}\n"))?;
                ready.send(&format!("ready {} {address}", head.node_id()));
                info!("head listening on {address}");
                run_head(listener, head, token, shutdown).await
            }
            Some(head) => {
                let joined = join_head(head, &token, &address, &spec.resources, None).await?;
                write_atomically(&pid_path(&dir), &format!("{}\n", std::process::id()))?;
                ready.send(&format!("ready {} {address}", joined.node_id));
                info!(
                    "node {} joined the head at {head}; workers at {address}",
                    joined.node_id
                );
                let cfg = NodeConfig {
                    head: head.clone(),
                    address,
                    resources: spec.resources.clone(),
                    reconnect_for: Duration::from_millis(spec.reconnect_ms),
                };
                run_node(listener, joined, cfg, token, shutdown).await
            }
        }
    });
    if read_pid(&dir) == Some(std::process::id()) {
        let _ = std::fs::remove_file(pid_path(&dir));
        if spec.head.is_none() {
            let _ = std::fs::remove_file(address_path(&dir));
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_json_must_be_an_object_of_non_negative_numbers() {
        let r = parse_resources(r#"{"accelerator": 1, "disk": 0.5}"#).unwrap();
        assert_eq!(r["accelerator"], 1.0);
        assert_eq!(r["disk"], 0.5);
        for (bad_json, needle) in [
            ("{nope", "not valid JSON"),
            ("[1, 2]", "expected a JSON object"),
            (r#"{"a": -1}"#, "\"a\" must be a non-negative number"),
            (r#"{"a": "2"}"#, "\"a\" must be a non-negative number"),
            (r#"{"CPU": 2}"#, "use --num-cpus"),
            (r#"{"GPU": 1}"#, "use --num-gpus"),
        ] {
            let e = parse_resources(bad_json).unwrap_err();
            assert!(e.is_bad_input());
            let msg = e.to_string();
            assert!(msg.starts_with("--resources: "), "{msg}");
            assert!(msg.contains(needle), "{bad_json}: {msg}");
            assert!(!msg.contains('\n'), "{msg}");
        }
    }

    fn opts(kind: DaemonKind) -> StartOptions {
        StartOptions {
            kind,
            num_cpus: Some(2.0),
            num_gpus: None,
            resources: None,
            temp_dir: "/tmp/x".into(),
            node_ip_address: None,
        }
    }

    #[test]
    fn the_spec_binds_loopback_by_default_and_counts_cpus() {
        let s = spec_of(&opts(DaemonKind::Head {
            port: 7000,
            redis_address: None,
        }))
        .unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:7000");
        assert_eq!(s.resources, Resources::from([("CPU".into(), 2.0)]));
        assert!(s.head.is_none());
        let mut o = opts(DaemonKind::Node {
            head: "h:7000".into(),
            port: None,
        });
        o.num_gpus = Some(1.0);
        o.resources = Some(r#"{"x": 3}"#.into());
        let s = spec_of(&o).unwrap();
        assert_eq!(s.head.as_deref(), Some("h:7000"));
        assert_eq!(s.listen.port(), 0);
        assert_eq!(s.resources["GPU"], 1.0);
        assert_eq!(s.resources["x"], 3.0);
    }

    #[test]
    fn an_unspecified_address_is_refused() {
        for ip in ["0.0.0.0", "::"] {
            let mut o = opts(DaemonKind::Head {
                port: 7000,
                redis_address: None,
            });
            o.node_ip_address = Some(ip.into());
            let e = spec_of(&o).unwrap_err();
            assert!(e.is_bad_input());
            assert!(e.to_string().contains("--node-ip-address"), "{e}");
        }
    }

    #[test]
    fn bad_options_are_refused_naming_the_flag() {
        let mut o = opts(DaemonKind::Node {
            head: "nocolon".into(),
            port: None,
        });
        assert!(spec_of(&o)
            .unwrap_err()
            .to_string()
            .starts_with("--address: "));
        o.kind = DaemonKind::Head {
            port: 1,
            redis_address: Some("redis-without-port".into()),
        };
        let e = spec_of(&o).unwrap_err();
        assert!(
            e.is_bad_input() && e.to_string().starts_with("--redis-address: "),
            "{e}"
        );
        o.kind = DaemonKind::Head {
            port: 1,
            redis_address: Some("r:6380".into()),
        };
        assert_eq!(spec_of(&o).unwrap().redis.as_deref(), Some("r:6380"));
        o.kind = DaemonKind::Head {
            port: 1,
            redis_address: None,
        };
        o.num_cpus = Some(-1.0);
        assert!(spec_of(&o)
            .unwrap_err()
            .to_string()
            .starts_with("--num-cpus: "));
        o.num_cpus = None;
        o.node_ip_address = Some("not-an-ip".into());
        assert!(spec_of(&o)
            .unwrap_err()
            .to_string()
            .starts_with("--node-ip-address: "));
    }

    #[test]
    fn proc_parsing_sees_this_process_and_its_parent() {
        let me = std::process::id();
        let (state, ppid) = proc_state(me).unwrap();
        assert!(state != 'Z');
        assert!(children_of(ppid).contains(&me));
        assert!(!is_daemon(me), "a test binary is not a daemon");
    }
}
