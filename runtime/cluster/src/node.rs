//! The node daemon: joins the head, sends heartbeats, and spawns worker processes for
//! authenticated drivers. The head runs the same worker-spawning service on its own port.
//!
//! Workers die with their daemon: each is started with `PR_SET_PDEATHSIG` (so even a
//! `kill -9` of the daemon takes them along), and the daemon kills them itself on SIGTERM.
//! The signal fires when the *thread* that forked exits, which is why the daemons run a
//! current-thread tokio runtime: every fork happens on the main thread.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::auth::{connect_async, AuthToken};
use crate::frame::{self, MAX_FRAME};
use crate::protocol::{
    DriverToNode, HeadToNode, NodeId, NodeRequest, NodeToDriver, NodeToHead, Resources, Role,
    SpawnRequest, WorkerExit,
};
use crate::ClusterError;

/// How long joining the head may take before the node gives up (unreachable host,
/// firewall dropping packets).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a node keeps trying to get its head back before it exits.
pub const DEFAULT_RECONNECT: Duration = Duration::from_secs(30);
/// The roles a node's own port serves.
pub(crate) const NODE_ROLES: &[Role] = &[Role::NodeClient];

/// The worker processes a daemon started and that still run.
#[derive(Default)]
pub(crate) struct Workers {
    pids: Mutex<HashSet<u32>>,
}

impl Workers {
    /// Starts a worker; `events` hears of its exit.
    pub(crate) fn spawn(
        self: &Arc<Self>,
        req: &SpawnRequest,
        events: mpsc::UnboundedSender<NodeToDriver>,
    ) -> Result<u32, String> {
        if req.executable.contains('/') && !std::path::Path::new(&req.executable).exists() {
            return Err(format!(
                "executable {} does not exist on this node",
                req.executable
            ));
        }
        let mut cmd = tokio::process::Command::new(&req.executable);
        cmd.args(&req.args)
            .envs(req.env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null());
        let daemon = std::process::id();
        // SAFETY: only async-signal-safe calls (prctl, getppid) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The daemon may have died before prctl took effect.
                if libc::getppid() as u32 != daemon {
                    return Err(std::io::Error::other("the node daemon exited"));
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                format!("executable {} does not exist on this node", req.executable)
            }
            _ => format!("cannot start {}: {e}", req.executable),
        })?;
        let pid = child.id().ok_or("the worker exited at once")?;
        self.pids.lock().expect("workers lock").insert(pid);
        info!("worker {pid} started: {}", req.executable);
        let me = self.clone();
        tokio::spawn(async move {
            let exit = match child.wait().await {
                Ok(status) => {
                    use std::os::unix::process::ExitStatusExt;
                    match (status.code(), status.signal()) {
                        (Some(c), _) => WorkerExit::Code(c),
                        (None, Some(s)) => WorkerExit::Signal(s),
                        (None, None) => WorkerExit::Code(-1),
                    }
                }
                Err(e) => {
                    warn!("waiting for worker {pid}: {e}");
                    WorkerExit::Code(-1)
                }
            };
            me.pids.lock().expect("workers lock").remove(&pid);
            info!("worker {pid} exited: {exit:?}");
            let _ = events.send(NodeToDriver::WorkerExited { pid, exit });
        });
        Ok(pid)
    }

    fn running(&self) -> Vec<u32> {
        self.pids
            .lock()
            .expect("workers lock")
            .iter()
            .copied()
            .collect()
    }

    /// Stops the given workers: SIGTERM, up to 2 s to exit, then SIGKILL.
    pub(crate) async fn stop(&self, pids: &[u32]) {
        let alive = |pids: &[u32]| -> Vec<u32> {
            let running = self.pids.lock().expect("workers lock");
            pids.iter()
                .copied()
                .filter(|p| running.contains(p))
                .collect()
        };
        for &p in pids {
            signal(p, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while !alive(pids).is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for p in alive(pids) {
            signal(p, libc::SIGKILL);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while !alive(pids).is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops every worker of this daemon.
    pub(crate) async fn stop_all(&self) {
        let pids = self.running();
        if !pids.is_empty() {
            info!("stopping {} worker(s)", pids.len());
            self.stop(&pids).await;
        }
    }
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// Serves one authenticated driver: spawn requests, and the exits of the workers it
/// spawned. Its workers are stopped when it disconnects: a driver that is gone has no use
/// for them (Ray cleans up a dead driver's workers too).
pub(crate) async fn serve_node_client(stream: TcpStream, peer: SocketAddr, workers: Arc<Workers>) {
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<NodeToDriver>();
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if frame::write_msg(&mut wr, &m).await.is_err() {
                break;
            }
        }
    });
    let mut mine = Vec::new();
    loop {
        let frame = match frame::read_frame(&mut rd, MAX_FRAME).await {
            Ok(f) => f,
            Err(crate::FrameError::Closed) => break,
            Err(e) => {
                warn!("driver {peer}: {e}");
                break;
            }
        };
        let msg: DriverToNode = match crate::protocol::decode(&frame) {
            Ok(m) => m,
            Err(e) => {
                warn!("driver {peer}: {e}");
                break;
            }
        };
        match msg.request {
            NodeRequest::SpawnWorker(req) => {
                let reply = match workers.spawn(&req, tx.clone()) {
                    Ok(pid) => {
                        mine.push(pid);
                        NodeToDriver::Spawned { id: msg.id, pid }
                    }
                    Err(message) => NodeToDriver::Failed {
                        id: msg.id,
                        message,
                    },
                };
                let _ = tx.send(reply);
            }
        }
    }
    drop(tx);
    workers.stop(&mine).await;
    writer.abort();
}

/// A node's registration with the head.
pub(crate) struct Joined {
    pub(crate) stream: TcpStream,
    pub(crate) node_id: NodeId,
    pub(crate) heartbeat: Duration,
    pub(crate) timeout: Duration,
}

/// Connects to the head (bounded), proves the token and registers: as a new node, or as
/// `previous` when the node lost its head (a head restarted on Redis gives that id back).
pub(crate) async fn join_head(
    head: &str,
    token: &AuthToken,
    address: &str,
    resources: &Resources,
    previous: Option<NodeId>,
) -> Result<Joined, ClusterError> {
    let mut stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(head)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return Err(ClusterError::Connect {
                address: head.to_string(),
                message: connect_message(&e),
            })
        }
        Err(_) => {
            return Err(ClusterError::Connect {
                address: head.to_string(),
                message: format!(
                    "no answer within {} s (wrong address, or a firewall dropping packets)",
                    CONNECT_TIMEOUT.as_secs()
                ),
            })
        }
    };
    let _ = stream.set_nodelay(true);
    connect_async(&mut stream, token, Role::Node, head).await?;
    let first = match previous {
        None => NodeToHead::Register {
            address: address.to_string(),
            resources: resources.clone(),
        },
        Some(node_id) => NodeToHead::Rejoin {
            node_id,
            address: address.to_string(),
            resources: resources.clone(),
        },
    };
    frame::write_msg(&mut stream, &first)
        .await
        .map_err(|e| ClusterError::frame(head, e))?;
    let reply: HeadToNode = frame::read_msg(&mut stream, MAX_FRAME, CONNECT_TIMEOUT)
        .await
        .map_err(|e| ClusterError::frame(head, e))?;
    match reply {
        HeadToNode::Registered {
            node_id,
            heartbeat_ms,
            timeout_ms,
        } => Ok(Joined {
            stream,
            node_id,
            heartbeat: Duration::from_millis(heartbeat_ms.max(1)),
            timeout: Duration::from_millis(timeout_ms.max(1)),
        }),
        HeadToNode::Refused { reason } => Err(ClusterError::Remote {
            peer: head.to_string(),
            message: reason,
        }),
        other => Err(ClusterError::protocol(
            head,
            format!("expected Registered, got {other:?}"),
        )),
    }
}

/// A connect error on one line, with the likely cause.
pub(crate) fn connect_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => {
            "connection refused (nothing listens there: is the head running, and is the port right?)".into()
        }
        _ => e.to_string(),
    }
}

/// Heartbeats until the head is lost; returns why.
async fn heartbeat(j: &mut Joined, head: &str) -> ClusterError {
    loop {
        tokio::time::sleep(j.heartbeat).await;
        if let Err(e) = frame::write_msg(&mut j.stream, &NodeToHead::Heartbeat).await {
            return ClusterError::frame(head, e);
        }
        match frame::read_msg::<HeadToNode, _>(&mut j.stream, MAX_FRAME, j.timeout).await {
            Ok(HeadToNode::HeartbeatAck) => {}
            Ok(other) => {
                return ClusterError::protocol(
                    head,
                    format!("expected HeartbeatAck, got {other:?}"),
                )
            }
            Err(e) => return ClusterError::frame(head, e),
        }
    }
}

/// What a node daemon needs besides its listener and first registration.
pub(crate) struct NodeConfig {
    pub(crate) head: String,
    pub(crate) address: String,
    pub(crate) resources: Resources,
    pub(crate) reconnect_for: Duration,
}

/// Runs a node until `shutdown` completes (Ok) or the head stays away past
/// `reconnect_for` (Err); its workers are stopped either way.
pub(crate) async fn run_node(
    listener: TcpListener,
    mut joined: Joined,
    cfg: NodeConfig,
    token: AuthToken,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ClusterError> {
    let workers = Arc::new(Workers::default());
    let w = workers.clone();
    let serve = crate::listener::serve(
        listener,
        token.clone(),
        NODE_ROLES,
        move |_role, stream, peer| serve_node_client(stream, peer, w.clone()),
    );
    let membership = async {
        loop {
            let lost = heartbeat(&mut joined, &cfg.head).await;
            warn!(
                "lost the head at {}: {lost}; retrying for {} s",
                cfg.head,
                cfg.reconnect_for.as_secs()
            );
            let deadline = Instant::now() + cfg.reconnect_for;
            loop {
                let previous = Some(joined.node_id);
                match join_head(&cfg.head, &token, &cfg.address, &cfg.resources, previous).await {
                    Ok(j) => {
                        info!("rejoined the head at {} as node {}", cfg.head, j.node_id);
                        joined = j;
                        break;
                    }
                    Err(e) if Instant::now() >= deadline => {
                        return ClusterError::Daemon {
                            message: format!(
                                "the head at {} stayed unreachable for {} s ({e}); exiting",
                                cfg.head,
                                cfg.reconnect_for.as_secs()
                            ),
                        }
                    }
                    Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
                }
            }
        }
    };
    let result = tokio::select! {
        _ = serve => Ok(()),
        e = membership => Err(e),
        _ = shutdown => Ok(()),
    };
    workers.stop_all().await;
    result
}
