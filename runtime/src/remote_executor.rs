//! Remote nodes as places of work: a driver joined to a cluster runs tasks and actors in
//! worker processes that other machines' daemons start for it.
//!
//! Joining (`RuntimeConfig::address`): the driver authenticates to the head (the `cluster`
//! crate's `DriverClient`), gets its id (the node part of every id it makes) and the node
//! table, and adds one place per live node, run by a [`ProcessExecutor`] whose launcher asks
//! that node's daemon to start the worker. The worker connects back to the driver over TCP,
//! proves the cluster token (the same challenge-response as every connection), and names
//! the spawn request it answers; from there it speaks the worker protocol a local worker
//! process speaks over its Unix socket, so the scheduler, the retries and the nested-task
//! session are the same code.
//!
//! Failures: a node the head declares dead (heartbeats) stops taking work; the connections
//! of its workers are closed, so their tasks are retried on live nodes (`max_retries`) and
//! their actors restarted where their executor can (`max_restarts`). Objects live in the
//! driver's store, so a node's death loses no object. What this driver uses on each node is
//! reported to the head, so `rllib status` shows what is free.

use crate::config::RuntimeConfig;
use crate::error::RuntimeError;
use crate::process_executor::{Child, Conn, ProcessExecutor, RemoteLauncher, RemoteProcess};
use crate::protocol::{read_frame, FromWorker, ADDRESS_ENV, NONCE_ENV};
use crate::resources::Resources;
use crate::runtime_core::Core;
use cluster::{AuthToken, ClusterEvent, DriverClient, NodeId, NodeInfo, Role, SpawnRequest};
use crossbeam::channel::{bounded, RecvTimeoutError, Sender};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// How long a remote worker may take from the spawn request to its hello.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often usage is reported to the head (when it changed) and events are polled.
const TICK: Duration = Duration::from_millis(200);

/// The resource every node offers one of under its own name, as Ray's `node:<ip>`: a task
/// asking for a little of `node:3` runs on node 3 (`Resources::none().with("node:3", 0.01)`).
pub(crate) fn node_resource(id: NodeId) -> String {
    format!("node:{id}")
}

/// Converts a node's resource map (`CPU`, `GPU`, custom names) to the runtime's form, with
/// its `node:<id>` resource.
fn from_cluster(id: NodeId, r: &cluster::Resources) -> Resources {
    let mut out = Resources::none();
    out.custom.insert(node_resource(id), 1.0);
    for (k, v) in r {
        match k.as_str() {
            "CPU" => out.cpu = *v,
            "GPU" => out.gpu = *v,
            _ => {
                out.custom.insert(k.clone(), *v);
            }
        }
    }
    out
}

fn to_cluster(r: &Resources) -> cluster::Resources {
    let mut out = cluster::Resources::new();
    if r.cpu > 0.0 {
        out.insert("CPU".into(), r.cpu);
    }
    if r.gpu > 0.0 {
        out.insert("GPU".into(), r.gpu);
    }
    for (k, v) in &r.custom {
        // `node:<id>` exists only in this runtime's table, not in the node's own.
        if *v > 0.0 && !k.starts_with("node:") {
            out.insert(k.clone(), *v);
        }
    }
    out
}

fn cluster_err(address: &str, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Cluster {
        address: address.to_string(),
        message: e.to_string(),
    }
}

/// Where workers on other nodes connect back to: a TCP port on the address this driver
/// reaches the head from, accepting only peers that prove the cluster token.
struct WorkerListener {
    addr: SocketAddr,
    /// Spawn requests waiting for their worker, by nonce.
    waiting: Mutex<HashMap<u64, Sender<(TcpStream, u32)>>>,
    stop: AtomicBool,
}

impl WorkerListener {
    fn start(ip: IpAddr, token: AuthToken) -> io::Result<Arc<WorkerListener>> {
        let listener = TcpListener::bind((ip, 0))?;
        listener.set_nonblocking(true)?;
        let me = Arc::new(WorkerListener {
            addr: listener.local_addr()?,
            waiting: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&me);
        std::thread::Builder::new()
            .name("rt-worker-listener".into())
            .spawn(move || accept_loop(listener, weak, token))?;
        Ok(me)
    }
}

fn accept_loop(listener: TcpListener, me: Weak<WorkerListener>, token: AuthToken) {
    loop {
        match me.upgrade() {
            Some(l) if !l.stop.load(Ordering::Acquire) => {}
            _ => return,
        }
        match listener.accept() {
            Ok((stream, peer)) => {
                let (me, token) = (me.clone(), token.clone());
                // A peer that stalls in the handshake must not hold up the next one.
                let _ = std::thread::Builder::new()
                    .name("rt-worker-hello".into())
                    .spawn(move || {
                        if let Err(e) = greet(stream, peer, &me, &token) {
                            tracing::warn!("refused worker connection from {peer}: {e}");
                        }
                    });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => {
                tracing::warn!("worker listener: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Authenticates a worker and hands its connection to the spawn request it names.
fn greet(
    mut stream: TcpStream,
    peer: SocketAddr,
    me: &Weak<WorkerListener>,
    token: &AuthToken,
) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(cluster::HANDSHAKE_TIMEOUT))?;
    stream.set_nodelay(true)?;
    cluster::accept_blocking(&mut stream, token, &[Role::Worker], &peer.to_string())
        .map_err(io::Error::other)?;
    let (pid, nonce) = match read_frame::<FromWorker, _>(&mut stream)? {
        FromWorker::Hello { pid, nonce } => (pid, nonce),
        _ => return Err(io::Error::other("expected a hello")),
    };
    stream.set_read_timeout(None)?;
    let waiter = me.upgrade().and_then(|l| l.waiting.lock().remove(&nonce));
    match waiter {
        Some(tx) => {
            let _ = tx.send((stream, pid));
            Ok(())
        }
        None => Err(io::Error::other(format!(
            "worker {pid} answers no spawn request"
        ))),
    }
}

/// One node of the cluster, as the place that starts workers there.
struct NodeLauncher {
    info: NodeInfo,
    client: Arc<DriverClient>,
    listener: Arc<WorkerListener>,
    alive: Arc<AtomicBool>,
    executable: String,
    /// Connections of this node's workers, closed when the node is declared dead.
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl RemoteLauncher for NodeLauncher {
    fn name(&self) -> String {
        format!("node {} ({})", self.info.node_id, self.info.address)
    }

    fn launch(&self, core: &Arc<Core>) -> io::Result<Conn> {
        static NONCE: AtomicU64 = AtomicU64::new(1);
        if !self.alive.load(Ordering::Acquire) {
            return Err(io::Error::other(format!("{} is dead", self.name())));
        }
        let nonce = NONCE.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = bounded(1);
        self.listener.waiting.lock().insert(nonce, tx);
        let request = SpawnRequest {
            executable: self.executable.clone(),
            args: Vec::new(),
            env: vec![
                (ADDRESS_ENV.into(), self.listener.addr.to_string()),
                (NONCE_ENV.into(), nonce.to_string()),
            ],
        };
        let spawned = self.client.spawn_worker(self.info.node_id, &request);
        let result = spawned.map_err(io::Error::other).and_then(|_| {
            let deadline = Instant::now() + CONNECT_TIMEOUT;
            loop {
                match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(got) => return Ok(got),
                    Err(RecvTimeoutError::Timeout) => {
                        if Instant::now() > deadline {
                            return Err(io::Error::new(
                                io::ErrorKind::TimedOut,
                                format!("worker on {} did not connect back", self.name()),
                            ));
                        }
                        if !self.alive.load(Ordering::Acquire) || core.is_shutdown() {
                            return Err(io::Error::other(format!("{} went away", self.name())));
                        }
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        return Err(io::Error::other("worker listener stopped"))
                    }
                }
            }
        });
        self.listener.waiting.lock().remove(&nonce);
        let (stream, pid) = result?;
        let mut streams = self.streams.lock();
        streams.retain(|s| s.peer_addr().is_ok());
        streams.push(stream.try_clone()?);
        drop(streams);
        let process = RemoteWorker {
            stream: stream.try_clone()?,
            node_alive: self.alive.clone(),
            killed: AtomicBool::new(false),
        };
        let r: Box<dyn Read + Send> = Box::new(stream.try_clone()?);
        let w: Box<dyn Write + Send> = Box::new(stream);
        Ok(Conn::new(
            Arc::new(Child::remote(pid, Box::new(process))),
            r,
            w,
        ))
    }
}

/// A worker process on another node, as its proxy sees it.
struct RemoteWorker {
    stream: TcpStream,
    node_alive: Arc<AtomicBool>,
    killed: AtomicBool,
}

impl RemoteProcess for RemoteWorker {
    fn kill(&self) {
        // The worker exits when its connection closes (its daemon reaps it).
        self.killed.store(true, Ordering::Release);
        let _ = self.stream.shutdown(Shutdown::Both);
    }
    fn alive(&self) -> bool {
        if self.killed.load(Ordering::Acquire) || !self.node_alive.load(Ordering::Acquire) {
            return false;
        }
        // Called only by the thread that reads this connection, between reads: a peek that
        // finds the end of the stream means the process is gone.
        if self.stream.set_nonblocking(true).is_err() {
            return false;
        }
        let peeked = self.stream.peek(&mut [0u8; 1]);
        let _ = self.stream.set_nonblocking(false);
        match peeked {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
        }
    }
}

/// A node's place in this runtime.
struct NodePlace {
    place: usize,
    alive: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    reported: Resources,
}

/// This driver's membership in a cluster: the places of the nodes, kept up to date by a
/// thread that follows the head's events.
pub(crate) struct ClusterLink {
    client: Arc<DriverClient>,
    listener: Arc<WorkerListener>,
    executable: String,
    nodes: Mutex<HashMap<NodeId, NodePlace>>,
}

/// What joining gives the runtime before its core exists.
pub(crate) struct Joined {
    /// This driver's id in the cluster (the node part of its ids).
    pub node_id: NodeId,
    /// Custom resource names over the live nodes (the runtime's resource table).
    pub names: Vec<String>,
    link: ClusterLink,
    nodes: Vec<NodeInfo>,
}

/// Joins the cluster whose head is at `address`.
pub(crate) fn join(address: &str, config: &RuntimeConfig) -> Result<Joined, RuntimeError> {
    let (token, _) = cluster::load_token().map_err(|e| cluster_err(address, e))?;
    let client = DriverClient::connect(address, &token).map_err(|e| cluster_err(address, e))?;
    let ip = local_ip_towards(address).map_err(|e| cluster_err(address, e))?;
    let listener = WorkerListener::start(ip, token).map_err(|e| cluster_err(address, e))?;
    let executable = match &config.worker_program {
        Some(p) => p.clone(),
        None => std::env::current_exe().map_err(|e| cluster_err(address, e))?,
    };
    let nodes: Vec<NodeInfo> = client
        .known_nodes()
        .into_iter()
        .filter(|n| n.alive)
        .collect();
    let mut names: Vec<String> = Vec::new();
    for n in &nodes {
        names.push(node_resource(n.node_id));
        for k in n.resources_total.keys() {
            if k != "CPU" && k != "GPU" && !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    names.sort();
    Ok(Joined {
        node_id: client.node_id(),
        names,
        link: ClusterLink {
            client: Arc::new(client),
            listener,
            executable: executable.to_string_lossy().into_owned(),
            nodes: Mutex::new(HashMap::new()),
        },
        nodes,
    })
}

/// The local address this machine reaches `address` from (no packet is sent).
fn local_ip_towards(address: &str) -> io::Result<IpAddr> {
    let target: SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(address)?
        .next()
        .ok_or_else(|| io::Error::other("address resolves to nothing"))?;
    let bind: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0".parse().map_err(io::Error::other)?
    } else {
        "[::]:0".parse().map_err(io::Error::other)?
    };
    let s = UdpSocket::bind(bind)?;
    s.connect(target)?;
    Ok(s.local_addr()?.ip())
}

impl Joined {
    /// Adds the nodes to `core` as places and starts following the cluster's events.
    pub fn attach(self, core: &Arc<Core>) -> Arc<ClusterLink> {
        let link = Arc::new(self.link);
        for n in self.nodes {
            link.add_node(core, n);
        }
        let (weak_core, weak_link) = (Arc::downgrade(core), Arc::downgrade(&link));
        let events = link.client.events();
        let spawned = std::thread::Builder::new()
            .name("rt-cluster-events".into())
            .spawn(move || loop {
                let event = events.recv_timeout(TICK);
                let (Some(core), Some(link)) = (weak_core.upgrade(), weak_link.upgrade()) else {
                    return;
                };
                if core.is_shutdown() {
                    return;
                }
                match event {
                    Ok(ClusterEvent::NodeAdded(info)) => link.add_node(&core, info),
                    Ok(ClusterEvent::NodeDead { node_id }) => link.node_dead(&core, node_id),
                    Ok(ClusterEvent::HeadLost) => {
                        tracing::warn!("lost the connection to the cluster's head; the nodes known go on running work");
                    }
                    Ok(_) => {}
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
                link.report_usage(&core);
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start the cluster event thread: {e}");
        }
        link
    }
}

impl ClusterLink {
    fn add_node(&self, core: &Arc<Core>, info: NodeInfo) {
        let mut nodes = self.nodes.lock();
        if nodes.contains_key(&info.node_id) || !info.alive {
            return;
        }
        let total = from_cluster(info.node_id, &info.resources_total);
        let alive = Arc::new(AtomicBool::new(true));
        let streams = Arc::new(Mutex::new(Vec::new()));
        let launcher = NodeLauncher {
            info: info.clone(),
            client: self.client.clone(),
            listener: self.listener.clone(),
            alive: alive.clone(),
            executable: self.executable.clone(),
            streams: streams.clone(),
        };
        let max_workers = (total.cpu.ceil() as usize).max(1);
        let executor = Arc::new(ProcessExecutor::remote(Arc::new(launcher), max_workers));
        let place = core.add_place(&total, executor);
        tracing::info!(
            "node {} ({}) is place {place}: {total}",
            info.node_id,
            info.address
        );
        nodes.insert(
            info.node_id,
            NodePlace {
                place,
                alive,
                streams,
                reported: Resources::none(),
            },
        );
    }

    fn node_dead(&self, core: &Arc<Core>, node_id: NodeId) {
        let nodes = self.nodes.lock();
        let Some(n) = nodes.get(&node_id) else {
            return;
        };
        if !n.alive.swap(false, Ordering::AcqRel) {
            return;
        }
        tracing::warn!(
            "node {node_id} died: its tasks are retried and its actors restarted on live nodes"
        );
        core.place_died(n.place);
        // Proxies blocked reading from its workers see the connection end and retry.
        for s in n.streams.lock().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Tells the head what this driver uses on each node, when that changed.
    fn report_usage(&self, core: &Arc<Core>) {
        let usage = core.with(|s, _| {
            s.places
                .iter()
                .map(|p| {
                    let (total, free) = (p.pool.total(), p.pool.available());
                    let mut used = Resources::none();
                    used.cpu = (total.cpu - free.cpu).max(0.0);
                    used.gpu = (total.gpu - free.gpu).max(0.0);
                    for (k, v) in &total.custom {
                        let f = free.custom.get(k).copied().unwrap_or(0.0);
                        used.custom.insert(k.clone(), (v - f).max(0.0));
                    }
                    used
                })
                .collect::<Vec<_>>()
        });
        let mut nodes = self.nodes.lock();
        for (id, n) in nodes.iter_mut() {
            let Some(used) = usage.get(n.place) else {
                continue;
            };
            if *used != n.reported && n.alive.load(Ordering::Acquire) {
                if let Err(e) = self.client.report_usage(*id, &to_cluster(used)) {
                    tracing::debug!("cannot report usage of node {id}: {e}");
                    return;
                }
                n.reported = used.clone();
            }
        }
    }

    /// Stops accepting workers (shutdown).
    pub fn stop(&self) {
        self.listener.stop.store(true, Ordering::Release);
        for n in self.nodes.lock().values() {
            for s in n.streams.lock().drain(..) {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}
