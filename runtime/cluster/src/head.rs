//! The head daemon: the node table, node ids, heartbeats and death, events to drivers, status.
//! The head is a node too (node 1): it has resources and spawns workers on its own port.
//!
//! Each node's connection is its own task that waits for that node's next heartbeat with the
//! node timeout as its deadline, so a heartbeat costs the head one read and one reply, and
//! detecting a silent node needs no scan of the table: the head's work per heartbeat does not
//! grow with the number of nodes.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc};
use tracing::{info, warn};

use crate::auth::AuthToken;
use crate::frame::{self, MAX_FRAME};
use crate::node::{serve_node_client, Workers};
use crate::protocol::{
    CliReply, CliRequest, ClusterEvent, ClusterStatus, DriverReply, DriverRequest, DriverToHead,
    HeadToDriver, HeadToNode, NodeId, NodeInfo, NodeToHead, Resources, Role,
};
use crate::store::{node_statuses, MetadataStore};
use crate::{ClusterError, FrameError};

/// The heartbeat period nodes are told to keep.
pub const HEARTBEAT_PERIOD: Duration = Duration::from_millis(500);
/// A node silent for longer than this is declared dead (Ray waits far longer, see the README).
pub const DEFAULT_NODE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a one-shot CLI connection may take to send its request.
const CLI_TIMEOUT: Duration = Duration::from_secs(10);
/// The roles the head's port serves.
pub(crate) const HEAD_ROLES: &[Role] = &[Role::Node, Role::Driver, Role::Cli, Role::NodeClient];

/// What the head is and offers.
#[derive(Clone, Debug)]
pub(crate) struct HeadConfig {
    /// The address nodes and drivers join (`HOST:PORT`).
    pub(crate) address: String,
    /// The head's own resources (it runs workers too).
    pub(crate) resources: Resources,
    /// The heartbeat period nodes are told to keep.
    pub(crate) heartbeat_period: Duration,
    /// How long a node may stay silent before it is declared dead.
    pub(crate) node_timeout: Duration,
}

struct Head {
    cfg: HeadConfig,
    store: Arc<dyn MetadataStore>,
    events: broadcast::Sender<ClusterEvent>,
    drivers: AtomicU32,
    workers: Arc<Workers>,
}

/// Runs the head on `listener` until `shutdown` completes; stops its workers before returning.
/// Returns the head's own node id through the store (the first id, 1, for a fresh store).
pub(crate) async fn run_head(
    listener: TcpListener,
    cfg: HeadConfig,
    token: AuthToken,
    store: Arc<dyn MetadataStore>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ClusterError> {
    let head = register_self(cfg, store)?;
    let workers = head.workers.clone();
    let h = head.clone();
    let serve = crate::listener::serve(listener, token, HEAD_ROLES, move |role, stream, peer| {
        let h = h.clone();
        async move { h.handle(role, stream, peer).await }
    });
    tokio::select! {
        _ = serve => {},
        _ = shutdown => {},
    }
    workers.stop_all().await;
    Ok(())
}

/// Puts the head itself in the node table.
fn register_self(
    cfg: HeadConfig,
    store: Arc<dyn MetadataStore>,
) -> Result<Arc<Head>, ClusterError> {
    let node_id = store.allocate_id()?;
    store.put_node(NodeInfo {
        node_id,
        address: cfg.address.clone(),
        alive: true,
        is_head: true,
        resources_total: cfg.resources.clone(),
    })?;
    info!("head is node {node_id} at {}", cfg.address);
    let (events, _) = broadcast::channel(1024);
    Ok(Arc::new(Head {
        cfg,
        store,
        events,
        drivers: AtomicU32::new(0),
        workers: Arc::new(Workers::default()),
    }))
}

impl Head {
    async fn handle(self: Arc<Self>, role: Role, stream: TcpStream, peer: SocketAddr) {
        let result = match role {
            Role::Node => self.serve_node(stream, peer).await,
            Role::Driver => self.serve_driver(stream, peer).await,
            Role::Cli => self.serve_cli(stream, peer).await,
            Role::NodeClient => {
                serve_node_client(stream, peer, self.workers.clone()).await;
                Ok(())
            }
            // Not in the head's accepted roles: the handshake refused it already.
            Role::Worker => Ok(()),
        };
        if let Err(e) = result {
            warn!("{} {peer}: {e}", role.name());
        }
    }

    fn status(&self) -> Result<ClusterStatus, ClusterError> {
        Ok(ClusterStatus {
            head_address: self.cfg.address.clone(),
            nodes: node_statuses(self.store.as_ref())?,
            drivers: self.drivers.load(Ordering::Relaxed),
        })
    }

    async fn serve_node(
        &self,
        mut stream: TcpStream,
        peer: SocketAddr,
    ) -> Result<(), ClusterError> {
        let first: NodeToHead = frame::read_msg(&mut stream, MAX_FRAME, self.cfg.node_timeout)
            .await
            .map_err(|e| ClusterError::frame(peer, e))?;
        let NodeToHead::Register { address, resources } = first else {
            return Err(ClusterError::protocol(peer, "a node must register first"));
        };
        let node_id = match self.store.allocate_id() {
            Ok(id) => id,
            Err(e) => {
                let reason = e.to_string();
                let _ = frame::write_msg(&mut stream, &HeadToNode::Refused { reason }).await;
                return Err(e.into());
            }
        };
        let info = NodeInfo {
            node_id,
            address: address.clone(),
            alive: true,
            is_head: false,
            resources_total: resources,
        };
        self.store.put_node(info.clone())?;
        let registered = HeadToNode::Registered {
            node_id,
            heartbeat_ms: self.cfg.heartbeat_period.as_millis() as u64,
            timeout_ms: self.cfg.node_timeout.as_millis() as u64,
        };
        let why = match frame::write_msg(&mut stream, &registered).await {
            Ok(()) => {
                info!("node {node_id} joined from {peer} (workers at {address})");
                let _ = self.events.send(ClusterEvent::NodeAdded(info));
                self.heartbeats(&mut stream).await
            }
            Err(e) => e.to_string(),
        };
        if self.store.mark_node_dead(node_id)? {
            warn!("node {node_id} ({address}) declared dead: {why}");
            let _ = self.events.send(ClusterEvent::NodeDead { node_id });
        }
        Ok(())
    }

    /// Answers heartbeats until the node goes silent or away; returns why it is dead.
    async fn heartbeats(&self, stream: &mut TcpStream) -> String {
        loop {
            match frame::read_msg::<NodeToHead, _>(stream, MAX_FRAME, self.cfg.node_timeout).await {
                Ok(NodeToHead::Heartbeat) => {
                    if let Err(e) = frame::write_msg(stream, &HeadToNode::HeartbeatAck).await {
                        return format!("cannot answer its heartbeat: {e}");
                    }
                }
                Ok(other) => return format!("protocol error: unexpected {other:?}"),
                Err(FrameError::Timeout(d)) => {
                    return format!("no heartbeat for {:.1} s", d.as_secs_f64())
                }
                Err(FrameError::Closed) => return "its connection closed".into(),
                Err(e) => return e.to_string(),
            }
        }
    }

    async fn serve_cli(&self, mut stream: TcpStream, peer: SocketAddr) -> Result<(), ClusterError> {
        let req: CliRequest = frame::read_msg(&mut stream, MAX_FRAME, CLI_TIMEOUT)
            .await
            .map_err(|e| ClusterError::frame(peer, e))?;
        match req {
            CliRequest::Status => {
                let status = self.status()?;
                frame::write_msg(&mut stream, &CliReply::Status(status))
                    .await
                    .map_err(|e| ClusterError::frame(peer, e))
            }
        }
    }

    async fn serve_driver(
        self: &Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> Result<(), ClusterError> {
        // Subscribed before the node table is read, so no event can fall between the two.
        let mut events = self.events.subscribe();
        let (mut rd, mut wr) = stream.into_split();
        let (tx, mut rx) = mpsc::unbounded_channel::<HeadToDriver>();
        let writer = tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                if frame::write_msg(&mut wr, &m).await.is_err() {
                    break;
                }
            }
        });
        let me = self.clone();
        let events_tx = tx.clone();
        let forwarder = tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(ev) => {
                        if events_tx.send(HeadToDriver::Event(ev)).is_err() {
                            break;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Missed events are replaced by the whole table, which drivers
                        // apply idempotently.
                        for n in me.store.nodes().unwrap_or_default() {
                            let ev = if n.alive {
                                ClusterEvent::NodeAdded(n)
                            } else {
                                ClusterEvent::NodeDead { node_id: n.node_id }
                            };
                            let _ = events_tx.send(HeadToDriver::Event(ev));
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        let mut driver_id: Option<NodeId> = None;
        let result = loop {
            let msg: DriverToHead = match frame::read_frame(&mut rd, MAX_FRAME).await {
                Ok(f) => match crate::protocol::decode(&f) {
                    Ok(m) => m,
                    Err(e) => break Err(ClusterError::frame(peer, e)),
                },
                Err(FrameError::Closed) => break Ok(()),
                Err(e) => break Err(ClusterError::frame(peer, e)),
            };
            let reply = self.driver_request(&mut driver_id, msg.request, peer);
            if tx.send(HeadToDriver::Reply { id: msg.id, reply }).is_err() {
                break Ok(());
            }
        };
        forwarder.abort();
        drop(tx);
        let _ = writer.await;
        if let Some(id) = driver_id {
            self.drivers.fetch_sub(1, Ordering::Relaxed);
            self.store.clear_usage(id)?;
            info!("driver {id} ({peer}) left");
        }
        result
    }

    fn driver_request(
        &self,
        driver_id: &mut Option<NodeId>,
        req: DriverRequest,
        peer: SocketAddr,
    ) -> DriverReply {
        let out = || -> Result<DriverReply, ClusterError> {
            Ok(match req {
                DriverRequest::Join => {
                    if driver_id.is_some() {
                        return Ok(DriverReply::Error("this driver joined already".into()));
                    }
                    let id = self.store.allocate_id()?;
                    *driver_id = Some(id);
                    self.drivers.fetch_add(1, Ordering::Relaxed);
                    info!("driver {id} joined from {peer}");
                    DriverReply::Joined {
                        node_id: id,
                        nodes: self.store.nodes()?,
                    }
                }
                DriverRequest::Nodes => DriverReply::Nodes(self.store.nodes()?),
                DriverRequest::Status => DriverReply::Status(self.status()?),
                DriverRequest::ReportUsage { node_id, in_use } => {
                    let Some(id) = *driver_id else {
                        return Ok(DriverReply::Error("join before reporting usage".into()));
                    };
                    if self.store.node(node_id)?.is_none() {
                        return Ok(DriverReply::Error(format!(
                            "node {node_id} is not in this cluster"
                        )));
                    }
                    self.store.set_usage(id, node_id, in_use)?;
                    DriverReply::Ack
                }
            })
        };
        out().unwrap_or_else(|e| DriverReply::Error(e.to_string()))
    }
}
