//! The blocking client a driver uses: join the head, follow the node table, report usage,
//! spawn workers on nodes. Plain threads and `std::net` (the runtime is thread-based): one
//! reader thread per connection routes replies to their callers and events to one channel.

use std::collections::{BTreeMap, HashMap};
use std::io::ErrorKind;
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::{bounded, unbounded, Receiver, Sender};
use parking_lot::Mutex;

use crate::auth::{connect_blocking, AuthToken, HANDSHAKE_TIMEOUT};
use crate::frame::{self, MAX_FRAME};
use crate::node::DEFAULT_RECONNECT;
use crate::protocol::{
    CliReply, CliRequest, ClusterEvent, ClusterStatus, DriverReply, DriverRequest, DriverToHead,
    DriverToNode, HeadToDriver, NodeId, NodeInfo, NodeRequest, NodeToDriver, Resources, Role,
    SpawnRequest,
};
use crate::{ClusterError, FrameError};

/// How long a connect may take (an unreachable host or dropped packets fail within this).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request waits for its reply.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to `address` (`HOST:PORT`) within [`CONNECT_TIMEOUT`] and proves the token.
fn connect(address: &str, token: &AuthToken, role: Role) -> Result<TcpStream, ClusterError> {
    let addrs: Vec<_> = address
        .to_socket_addrs()
        .map_err(|e| ClusterError::Connect {
            address: address.to_string(),
            message: format!("not a reachable HOST:PORT ({e})"),
        })?
        .collect();
    let mut last = None;
    let mut stream = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, CONNECT_TIMEOUT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let mut stream = stream.ok_or_else(|| ClusterError::Connect {
        address: address.to_string(),
        message: match last {
            Some(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => format!(
                "no answer within {} s (wrong address, or a firewall dropping packets)",
                CONNECT_TIMEOUT.as_secs()
            ),
            Some(e) => crate::node::connect_message(&e),
            None => "the name resolves to no address".into(),
        },
    })?;
    let _ = stream.set_nodelay(true);
    let io = |e| ClusterError::Connect {
        address: address.to_string(),
        message: format!("{e}"),
    };
    stream
        .set_read_timeout(Some(HANDSHAKE_TIMEOUT))
        .map_err(io)?;
    stream
        .set_write_timeout(Some(HANDSHAKE_TIMEOUT))
        .map_err(io)?;
    connect_blocking(&mut stream, token, role, address)?;
    crate::listener::keepalive(&stream);
    Ok(stream)
}

/// The cluster's status from the head at `address`, as `rllib status` shows it.
pub fn status(address: &str, token: &AuthToken) -> Result<ClusterStatus, ClusterError> {
    let mut s = connect(address, token, Role::Cli)?;
    let _ = s.set_read_timeout(Some(REQUEST_TIMEOUT));
    frame::write_msg_blocking(&mut s, &CliRequest::Status)
        .map_err(|e| ClusterError::frame(address, e))?;
    match frame::read_msg_blocking::<CliReply, _>(&mut s, MAX_FRAME)
        .map_err(|e| timeout_as(e, address))?
    {
        CliReply::Status(st) => Ok(st),
    }
}

fn timeout_as(e: FrameError, peer: &str) -> ClusterError {
    match e {
        FrameError::Timeout(_) => ClusterError::frame(peer, FrameError::Timeout(REQUEST_TIMEOUT)),
        e => ClusterError::frame(peer, e),
    }
}

/// One authenticated connection whose reader thread routes replies by request id.
struct Conn<R: Send + 'static> {
    peer: String,
    writer: Mutex<TcpStream>,
    next_id: AtomicU64,
    pending: Arc<Mutex<HashMap<u64, Sender<R>>>>,
    closed: Arc<AtomicBool>,
    reader: Mutex<Option<JoinHandle<()>>>,
}

impl<R: Send + 'static> Conn<R> {
    /// Starts the reader thread: `route` turns each frame into a reply for a request id, or
    /// handles it itself (events) and returns `None`; `on_close` runs once when it ends.
    fn start(
        peer: &str,
        stream: TcpStream,
        route: impl Fn(&[u8]) -> Result<Option<(u64, R)>, FrameError> + Send + 'static,
        on_close: impl FnOnce() + Send + 'static,
    ) -> Result<Conn<R>, ClusterError> {
        let io = |e| ClusterError::Connect {
            address: peer.to_string(),
            message: format!("{e}"),
        };
        // Idle connections are normal after the handshake; the head may say nothing for hours.
        stream.set_read_timeout(None).map_err(io)?;
        stream
            .set_write_timeout(Some(REQUEST_TIMEOUT))
            .map_err(io)?;
        let mut rd = stream.try_clone().map_err(io)?;
        let pending: Arc<Mutex<HashMap<u64, Sender<R>>>> = Arc::default();
        let p = pending.clone();
        let closed = Arc::new(AtomicBool::new(false));
        let c = closed.clone();
        let reader = std::thread::Builder::new()
            .name(format!("cluster-{peer}"))
            .spawn(move || {
                while let Ok(f) = frame::read_frame_blocking(&mut rd, MAX_FRAME) {
                    match route(&f) {
                        Ok(Some((id, reply))) => {
                            if let Some(tx) = p.lock().remove(&id) {
                                let _ = tx.send(reply);
                            }
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!("cluster connection: {e}");
                            break;
                        }
                    }
                }
                // Set before the pending replies are dropped: a caller that registers after
                // this point sees the flag, one that registered before sees its channel close.
                c.store(true, Ordering::SeqCst);
                p.lock().clear();
                on_close();
            })
            .map_err(|e| ClusterError::Daemon {
                message: format!("cannot start a client thread: {e}"),
            })?;
        Ok(Conn {
            peer: peer.to_string(),
            writer: Mutex::new(stream),
            next_id: AtomicU64::new(1),
            pending,
            closed,
            reader: Mutex::new(Some(reader)),
        })
    }

    /// Sends the request made from a fresh id and waits for its reply.
    fn call<M: serde::Serialize>(&self, make: impl FnOnce(u64) -> M) -> Result<R, ClusterError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = bounded(1);
        self.pending.lock().insert(id, tx);
        if self.is_closed() {
            self.pending.lock().remove(&id);
            return Err(ClusterError::Disconnected {
                peer: self.peer.clone(),
            });
        }
        let sent = frame::write_msg_blocking(&mut *self.writer.lock(), &make(id));
        if let Err(e) = sent {
            self.pending.lock().remove(&id);
            return Err(ClusterError::frame(&self.peer, e));
        }
        match rx.recv_timeout(REQUEST_TIMEOUT) {
            Ok(r) => Ok(r),
            Err(crossbeam::channel::RecvTimeoutError::Timeout) => {
                self.pending.lock().remove(&id);
                Err(ClusterError::frame(
                    &self.peer,
                    FrameError::Timeout(REQUEST_TIMEOUT),
                ))
            }
            Err(crossbeam::channel::RecvTimeoutError::Disconnected) => {
                Err(ClusterError::Disconnected {
                    peer: self.peer.clone(),
                })
            }
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    fn close(&self) {
        let _ = self.writer.lock().shutdown(Shutdown::Both);
        if let Some(h) = self.reader.lock().take() {
            let _ = h.join();
        }
    }
}

/// The driver's side of its head connection, shared with the thread that gets a lost head
/// back.
struct HeadLink {
    address: String,
    token: AuthToken,
    node_id: AtomicU16,
    /// The connection in use and its number; only its end counts as losing the head.
    conn: Mutex<Option<(u64, Arc<Conn<DriverReply>>)>>,
    next_conn: AtomicU64,
    nodes: Arc<Mutex<BTreeMap<NodeId, NodeInfo>>>,
    events_tx: Sender<ClusterEvent>,
    /// What this driver last reported per node, told again to a head it rejoins.
    usage: Mutex<BTreeMap<NodeId, Resources>>,
    closing: AtomicBool,
}

impl HeadLink {
    /// Starts the reader of a head connection: replies to callers, events to the table and
    /// the channel; its end sends [`ClusterEvent::HeadLost`] and starts getting the head back.
    fn start(
        self: &Arc<Self>,
        stream: TcpStream,
    ) -> Result<(u64, Arc<Conn<DriverReply>>), ClusterError> {
        let (n, etx) = (self.nodes.clone(), self.events_tx.clone());
        let weak = Arc::downgrade(self);
        let number = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let conn = Conn::start(
            &self.address,
            stream,
            move |f| match crate::protocol::decode::<HeadToDriver>(f)? {
                HeadToDriver::Reply { id, reply } => Ok(Some((id, reply))),
                HeadToDriver::Event(ev) => {
                    match &ev {
                        ClusterEvent::NodeAdded(info) => {
                            n.lock().insert(info.node_id, info.clone());
                        }
                        ClusterEvent::NodeDead { node_id } => {
                            if let Some(i) = n.lock().get_mut(node_id) {
                                i.alive = false;
                            }
                        }
                        _ => {}
                    }
                    let _ = etx.send(ev);
                    Ok(None)
                }
            },
            move || {
                let Some(link) = weak.upgrade() else { return };
                let current = link.conn.lock().as_ref().map(|(k, _)| *k);
                if current != Some(number) {
                    return;
                }
                let _ = link.events_tx.send(ClusterEvent::HeadLost);
                if link.closing.load(Ordering::SeqCst) {
                    return;
                }
                let weak = Arc::downgrade(&link);
                drop(link);
                let spawned = std::thread::Builder::new()
                    .name("cluster-rejoin".into())
                    .spawn(move || rejoin(weak));
                if let Err(e) = spawned {
                    tracing::warn!("cannot start the thread that rejoins the head: {e}");
                }
            },
        )?;
        Ok((number, Arc::new(conn)))
    }

    fn current(&self) -> Result<Arc<Conn<DriverReply>>, ClusterError> {
        self.conn
            .lock()
            .as_ref()
            .map(|(_, c)| c.clone())
            .ok_or_else(|| ClusterError::Disconnected {
                peer: self.address.clone(),
            })
    }

    /// Takes the head's node table: every node in it, dead or alive, becomes an event when
    /// it differs from what this driver knew, so a driver misses nothing while it was away.
    fn apply_table(&self, nodes: Vec<NodeInfo>) {
        let mut table = self.nodes.lock();
        for n in nodes {
            let changed = table.get(&n.node_id) != Some(&n);
            table.insert(n.node_id, n.clone());
            if changed {
                let ev = if n.alive {
                    ClusterEvent::NodeAdded(n)
                } else {
                    ClusterEvent::NodeDead { node_id: n.node_id }
                };
                let _ = self.events_tx.send(ev);
            }
        }
    }
}

/// Gets a lost head back: tries its address every second for [`DEFAULT_RECONNECT`] and asks
/// to rejoin with this driver's id, which a head restarted on a persistent store grants.
/// Meanwhile the driver goes on using the nodes it knows (their ports are their own).
fn rejoin(weak: std::sync::Weak<HeadLink>) {
    let deadline = std::time::Instant::now() + DEFAULT_RECONNECT;
    loop {
        let Some(link) = weak.upgrade() else { return };
        if link.closing.load(Ordering::SeqCst) {
            return;
        }
        let id = link.node_id.load(Ordering::SeqCst);
        if id == 0 {
            return;
        }
        match try_rejoin(&link, id) {
            Ok(()) => {
                tracing::info!("driver {id} rejoined the head at {}", link.address);
                let _ = link.events_tx.send(ClusterEvent::HeadRejoined);
                return;
            }
            Err(ClusterError::Remote { message, .. }) => {
                tracing::warn!("the head at {} refused driver {id} back: {message}; going on with the nodes known", link.address);
                return;
            }
            Err(e) if std::time::Instant::now() >= deadline => {
                tracing::warn!(
                    "the head at {} stayed away ({e}); going on with the nodes known",
                    link.address
                );
                return;
            }
            Err(_) => {}
        }
        drop(link);
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn try_rejoin(link: &Arc<HeadLink>, id: NodeId) -> Result<(), ClusterError> {
    let stream = connect(&link.address, &link.token, Role::Driver)?;
    // Not current yet, so its failure here starts no second attempt.
    let (number, conn) = link.start(stream)?;
    let reply = conn.call(|rid| DriverToHead {
        id: rid,
        request: DriverRequest::Rejoin { node_id: id },
    });
    let nodes = match reply {
        Ok(DriverReply::Joined { node_id, nodes }) if node_id == id => nodes,
        Ok(other) => {
            conn.close();
            return Err(unexpected(&link.address, other));
        }
        Err(e) => {
            conn.close();
            return Err(e);
        }
    };
    *link.conn.lock() = Some((number, conn.clone()));
    if link.closing.load(Ordering::SeqCst) {
        // The client was dropped meanwhile; its drop closed the connection before this one.
        conn.close();
        return Ok(());
    }
    if conn.is_closed() {
        // It ended before it became current: nobody else will notice.
        return Err(ClusterError::Disconnected {
            peer: link.address.clone(),
        });
    }
    link.apply_table(nodes);
    let usage: Vec<(NodeId, Resources)> = link
        .usage
        .lock()
        .iter()
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    for (node_id, in_use) in usage {
        let _ = conn.call(|rid| DriverToHead {
            id: rid,
            request: DriverRequest::ReportUsage {
                node_id,
                in_use: in_use.clone(),
            },
        });
    }
    Ok(())
}

/// A connection to a node: spawn replies are a pid or the node's error message.
type NodeConn = Conn<Result<u32, String>>;

/// A driver's membership in a cluster: its id, the node table, events, and worker spawning.
/// Blocking, `Send + Sync`; dropping it leaves the cluster (the nodes stop the workers it
/// spawned). When the head goes away the driver keeps its nodes and tries to rejoin the same
/// address with the same id for [`DEFAULT_RECONNECT`]; a head restarted on Redis lets it.
pub struct DriverClient {
    token: AuthToken,
    link: Arc<HeadLink>,
    events_tx: Sender<ClusterEvent>,
    events_rx: Receiver<ClusterEvent>,
    node_conns: Mutex<HashMap<NodeId, Arc<NodeConn>>>,
}

impl DriverClient {
    /// Joins the head at `address` (`HOST:PORT`): authenticates, gets this driver's id and
    /// the node table, and starts following the cluster's events.
    pub fn connect(address: &str, token: &AuthToken) -> Result<DriverClient, ClusterError> {
        let stream = connect(address, token, Role::Driver)?;
        let (events_tx, events_rx) = unbounded();
        let link = Arc::new(HeadLink {
            address: address.to_string(),
            token: token.clone(),
            node_id: AtomicU16::new(0),
            conn: Mutex::new(None),
            next_conn: AtomicU64::new(0),
            nodes: Arc::default(),
            events_tx: events_tx.clone(),
            usage: Mutex::default(),
            closing: AtomicBool::new(false),
        });
        let (number, conn) = link.start(stream)?;
        *link.conn.lock() = Some((number, conn.clone()));
        let client = DriverClient {
            token: token.clone(),
            link,
            events_tx,
            events_rx,
            node_conns: Mutex::default(),
        };
        let joined = conn.call(|id| DriverToHead {
            id,
            request: DriverRequest::Join,
        });
        match joined {
            Ok(DriverReply::Joined { node_id, nodes }) => {
                let mut table = client.link.nodes.lock();
                for n in nodes {
                    table.insert(n.node_id, n);
                }
                drop(table);
                client.link.node_id.store(node_id, Ordering::SeqCst);
                Ok(client)
            }
            Ok(other) => Err(unexpected(address, other)),
            Err(e) => Err(e),
        }
    }

    /// This driver's id (the top 16 bits of the ids its runtime makes).
    pub fn node_id(&self) -> NodeId {
        self.link.node_id.load(Ordering::SeqCst)
    }

    /// The node table as the head has it now, dead nodes included.
    pub fn nodes(&self) -> Result<Vec<NodeInfo>, ClusterError> {
        match self.request(DriverRequest::Nodes)? {
            DriverReply::Nodes(nodes) => {
                let mut table = self.link.nodes.lock();
                for n in &nodes {
                    table.insert(n.node_id, n.clone());
                }
                Ok(nodes)
            }
            other => Err(unexpected(&self.link.address, other)),
        }
    }

    /// The node table as the events have kept it, without asking the head.
    pub fn known_nodes(&self) -> Vec<NodeInfo> {
        self.link.nodes.lock().values().cloned().collect()
    }

    /// Cluster events: nodes added and dead, exits of workers this driver spawned,
    /// [`ClusterEvent::HeadLost`] when the head connection ends and
    /// [`ClusterEvent::HeadRejoined`] when the driver got its head back.
    pub fn events(&self) -> Receiver<ClusterEvent> {
        self.events_rx.clone()
    }

    /// Tells the head what this driver uses on `node_id` now, so `rllib status` shows
    /// available = total - used (an empty map clears it). Also kept here, to be told again
    /// to a head the driver rejoins.
    pub fn report_usage(&self, node_id: NodeId, in_use: &Resources) -> Result<(), ClusterError> {
        {
            let mut kept = self.link.usage.lock();
            if in_use.is_empty() {
                kept.remove(&node_id);
            } else {
                kept.insert(node_id, in_use.clone());
            }
        }
        match self.request(DriverRequest::ReportUsage {
            node_id,
            in_use: in_use.clone(),
        })? {
            DriverReply::Ack => Ok(()),
            other => Err(unexpected(&self.link.address, other)),
        }
    }

    /// The cluster's status.
    pub fn status(&self) -> Result<ClusterStatus, ClusterError> {
        match self.request(DriverRequest::Status)? {
            DriverReply::Status(s) => Ok(s),
            other => Err(unexpected(&self.link.address, other)),
        }
    }

    /// Starts a worker process on `node_id` and returns its pid there. Its exit arrives as
    /// [`ClusterEvent::WorkerExited`].
    pub fn spawn_worker(&self, node_id: NodeId, req: &SpawnRequest) -> Result<u32, ClusterError> {
        let conn = self.node_conn(node_id)?;
        let result = conn.call(|id| DriverToNode {
            id,
            request: NodeRequest::SpawnWorker(req.clone()),
        });
        if matches!(result, Err(ClusterError::Disconnected { .. })) {
            self.node_conns.lock().remove(&node_id);
        }
        result?.map_err(|message| ClusterError::Remote {
            peer: format!("node {node_id} ({})", conn.peer),
            message,
        })
    }

    fn request(&self, request: DriverRequest) -> Result<DriverReply, ClusterError> {
        match self
            .link
            .current()?
            .call(|id| DriverToHead { id, request })?
        {
            DriverReply::Error(message) => Err(ClusterError::Remote {
                peer: self.link.address.clone(),
                message,
            }),
            r => Ok(r),
        }
    }

    fn node_conn(&self, node_id: NodeId) -> Result<Arc<NodeConn>, ClusterError> {
        let address = match self.link.nodes.lock().get(&node_id) {
            Some(n) if n.alive => n.address.clone(),
            _ => {
                self.node_conns.lock().remove(&node_id);
                return Err(ClusterError::UnknownNode { node_id });
            }
        };
        {
            let mut conns = self.node_conns.lock();
            match conns.get(&node_id) {
                Some(c) if !c.is_closed() => return Ok(c.clone()),
                Some(_) => {
                    conns.remove(&node_id);
                }
                None => {}
            }
        }
        let stream = connect(&address, &self.token, Role::NodeClient)?;
        let events = self.events_tx.clone();
        let conn = Arc::new(Conn::start(
            &address,
            stream,
            move |f| match crate::protocol::decode::<NodeToDriver>(f)? {
                NodeToDriver::Spawned { id, pid } => Ok(Some((id, Ok(pid)))),
                NodeToDriver::Failed { id, message } => Ok(Some((id, Err(message)))),
                NodeToDriver::WorkerExited { pid, exit } => {
                    let _ = events.send(ClusterEvent::WorkerExited { node_id, pid, exit });
                    Ok(None)
                }
            },
            || {},
        )?);
        // Another thread may have connected meanwhile; keep the first, close ours.
        let mut conns = self.node_conns.lock();
        match conns.get(&node_id) {
            Some(existing) => {
                let existing = existing.clone();
                drop(conns);
                conn.close();
                Ok(existing)
            }
            None => {
                conns.insert(node_id, conn.clone());
                Ok(conn)
            }
        }
    }
}

impl Drop for DriverClient {
    fn drop(&mut self) {
        for c in self.node_conns.lock().drain().map(|(_, c)| c) {
            c.close();
        }
        self.link.closing.store(true, Ordering::SeqCst);
        let head = self.link.conn.lock().clone();
        if let Some((_, c)) = head {
            c.close();
        }
    }
}

fn unexpected(peer: &str, reply: DriverReply) -> ClusterError {
    match reply {
        DriverReply::Error(message) => ClusterError::Remote {
            peer: peer.to_string(),
            message,
        },
        other => ClusterError::protocol(peer, format!("unexpected reply {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<DriverClient>();
    }
}
