//! The head daemon: the node table, node ids, heartbeats and death, events to drivers, status.
//! The head is a node too (node 1): it has resources and spawns workers on its own port.
//!
//! A head started on a store that already holds a cluster (Redis, after a restart) takes its
//! old id back when it has the same address, and gives the nodes and drivers it finds there
//! a grace period ([`rejoin_grace`]) to come back with their old ids; those that don't are
//! declared dead (nodes) or forgotten (drivers) when it ends.
//!
//! Each node's connection is its own task that waits for that node's next heartbeat with the
//! node timeout as its deadline, so a heartbeat costs the head one read and one reply, and
//! detecting a silent node needs no scan of the table: the head's work per heartbeat does not
//! grow with the number of nodes.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
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

/// How long a restarted head waits for the nodes and drivers its store remembers to come
/// back: the node timeout plus two of the nodes' one-second reconnect attempts.
pub(crate) fn rejoin_grace(node_timeout: Duration) -> Duration {
    node_timeout + Duration::from_secs(2)
}

/// A head registered in its store, not yet serving.
pub(crate) struct Head {
    cfg: HeadConfig,
    store: Arc<dyn MetadataStore>,
    events: broadcast::Sender<ClusterEvent>,
    drivers: AtomicU32,
    workers: Arc<Workers>,
    node_id: NodeId,
    /// Nodes the store lists alive that may rejoin with their ids until the grace ends.
    awaiting_nodes: Mutex<HashSet<NodeId>>,
    /// Drivers the store lists that may rejoin with their ids until the grace ends.
    awaiting_drivers: Mutex<HashSet<NodeId>>,
}

impl Head {
    /// Puts the head itself in the store's node table and notes which nodes and drivers of
    /// an earlier head may come back. The head keeps its old id when an earlier head had
    /// its address; earlier heads elsewhere are marked dead.
    pub(crate) fn open(
        cfg: HeadConfig,
        store: Arc<dyn MetadataStore>,
    ) -> Result<Arc<Head>, ClusterError> {
        let known = store.nodes()?;
        let mut earlier = None;
        let mut awaiting_nodes = HashSet::new();
        for n in &known {
            if n.is_head && n.address == cfg.address {
                earlier = Some(n.node_id);
            } else if n.is_head {
                store.mark_node_dead(n.node_id)?;
            } else if n.alive {
                awaiting_nodes.insert(n.node_id);
            }
        }
        let node_id = match earlier {
            Some(id) => id,
            None => store.allocate_id()?,
        };
        store.put_node(NodeInfo {
            node_id,
            address: cfg.address.clone(),
            alive: true,
            is_head: true,
            resources_total: cfg.resources.clone(),
        })?;
        let awaiting_drivers: HashSet<NodeId> = store.drivers()?.into_iter().collect();
        if earlier.is_some() || !awaiting_nodes.is_empty() || !awaiting_drivers.is_empty() {
            info!(
                "head is node {node_id} at {} again; waiting {:.1} s for nodes {:?} and drivers {:?} to rejoin",
                cfg.address,
                rejoin_grace(cfg.node_timeout).as_secs_f64(),
                sorted(&awaiting_nodes),
                sorted(&awaiting_drivers),
            );
        } else {
            info!("head is node {node_id} at {}", cfg.address);
        }
        let (events, _) = broadcast::channel(1024);
        Ok(Arc::new(Head {
            cfg,
            store,
            events,
            drivers: AtomicU32::new(0),
            workers: Arc::new(Workers::default()),
            node_id,
            awaiting_nodes: Mutex::new(awaiting_nodes),
            awaiting_drivers: Mutex::new(awaiting_drivers),
        }))
    }

    /// The head's own node id.
    pub(crate) fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// Declares dead the nodes that did not rejoin, forgets the drivers that did not.
    fn end_grace(&self) {
        let nodes: Vec<NodeId> = self.awaiting_nodes.lock().drain().collect();
        for id in nodes {
            match self.store.mark_node_dead(id) {
                Ok(true) => {
                    warn!("node {id} declared dead: it did not rejoin the restarted head");
                    let _ = self.events.send(ClusterEvent::NodeDead { node_id: id });
                }
                Ok(false) => {}
                Err(e) => warn!("cannot mark node {id} dead: {e}"),
            }
        }
        let drivers: Vec<NodeId> = self.awaiting_drivers.lock().drain().collect();
        for id in drivers {
            match self.store.remove_driver(id) {
                Ok(()) => info!("driver {id} did not rejoin; its usage is forgotten"),
                Err(e) => warn!("cannot forget driver {id}: {e}"),
            }
        }
    }
}

fn sorted(ids: &HashSet<NodeId>) -> Vec<NodeId> {
    let mut v: Vec<NodeId> = ids.iter().copied().collect();
    v.sort_unstable();
    v
}

/// Serves `head` on `listener` until `shutdown` completes; stops its workers before returning.
pub(crate) async fn run_head(
    listener: TcpListener,
    head: Arc<Head>,
    token: AuthToken,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ClusterError> {
    let workers = head.workers.clone();
    let h = head.clone();
    let serve = crate::listener::serve(listener, token, HEAD_ROLES, move |role, stream, peer| {
        let h = h.clone();
        async move { h.handle(role, stream, peer).await }
    });
    let h = head.clone();
    let grace = async move {
        let pending = !h.awaiting_nodes.lock().is_empty() || !h.awaiting_drivers.lock().is_empty();
        if pending {
            tokio::time::sleep(rejoin_grace(h.cfg.node_timeout)).await;
            h.end_grace();
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = serve => {},
        _ = grace => {},
        _ = shutdown => {},
    }
    workers.stop_all().await;
    Ok(())
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
        let (address, resources, previous) = match first {
            NodeToHead::Register { address, resources } => (address, resources, None),
            NodeToHead::Rejoin {
                node_id,
                address,
                resources,
            } => (address, resources, Some(node_id)),
            NodeToHead::Heartbeat => {
                return Err(ClusterError::protocol(peer, "a node must register first"))
            }
        };
        let reused = match previous {
            Some(id) => self.may_rejoin(id, &address)?.then_some(id),
            None => None,
        };
        let node_id = match reused.map_or_else(|| self.store.allocate_id(), Ok) {
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
                let how = if reused.is_some() {
                    "rejoined"
                } else {
                    "joined"
                };
                info!("node {node_id} {how} from {peer} (workers at {address})");
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

    /// True when node `id` of an earlier head, at `address`, may take its id back (once).
    fn may_rejoin(&self, id: NodeId, address: &str) -> Result<bool, ClusterError> {
        if !self.awaiting_nodes.lock().contains(&id) {
            return Ok(false);
        }
        let same = self
            .store
            .node(id)?
            .is_some_and(|n| n.address == address && !n.is_head);
        Ok(same && self.awaiting_nodes.lock().remove(&id))
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
            self.store.remove_driver(id)?;
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
                    self.store.add_driver(id)?;
                    *driver_id = Some(id);
                    self.drivers.fetch_add(1, Ordering::Relaxed);
                    info!("driver {id} joined from {peer}");
                    DriverReply::Joined {
                        node_id: id,
                        nodes: self.store.nodes()?,
                    }
                }
                DriverRequest::Rejoin { node_id: id } => {
                    if driver_id.is_some() {
                        return Ok(DriverReply::Error("this driver joined already".into()));
                    }
                    if !self.awaiting_drivers.lock().remove(&id) {
                        return Ok(DriverReply::Error(format!(
                            "driver {id} cannot rejoin: this head does not know it (it started without a persistent store, or the driver came back too late)"
                        )));
                    }
                    *driver_id = Some(id);
                    self.drivers.fetch_add(1, Ordering::Relaxed);
                    info!("driver {id} rejoined from {peer}");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::join_head;
    use crate::redis_store::tests::RedisServer;
    use crate::{InMemoryStore, RedisStore};

    fn cpus(n: f64) -> Resources {
        Resources::from([("CPU".into(), n)])
    }

    fn config(address: &str) -> HeadConfig {
        HeadConfig {
            address: address.to_string(),
            resources: cpus(1.0),
            heartbeat_period: HEARTBEAT_PERIOD,
            node_timeout: DEFAULT_NODE_TIMEOUT,
        }
    }

    /// A head serving `store` on a fresh port of 127.0.0.1, the store as an earlier head at
    /// the same address left it when `earlier` prepares it.
    async fn serve(
        store: impl Fn() -> Arc<dyn MetadataStore>,
        earlier: impl FnOnce(&HeadConfig, &dyn MetadataStore),
    ) -> (Arc<Head>, String, AuthToken) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let cfg = config(&address);
        let first = Head::open(cfg.clone(), store()).unwrap();
        assert_eq!(first.node_id(), 1);
        earlier(&cfg, first.store.as_ref());
        drop(first);
        let head = Head::open(cfg, store()).unwrap();
        let token = AuthToken::new("test token").unwrap();
        tokio::spawn(run_head(
            listener,
            head.clone(),
            token.clone(),
            std::future::pending(),
        ));
        (head, address, token)
    }

    fn an_earlier_cluster(_: &HeadConfig, s: &dyn MetadataStore) {
        for port in [7002, 7003, 7004] {
            let node_id = s.allocate_id().unwrap();
            s.put_node(NodeInfo {
                node_id,
                address: format!("127.0.0.1:{port}"),
                alive: node_id != 4,
                is_head: false,
                resources_total: cpus(2.0),
            })
            .unwrap();
        }
        let driver = s.allocate_id().unwrap();
        s.add_driver(driver).unwrap();
        s.set_usage(driver, 2, cpus(1.0)).unwrap();
    }

    #[tokio::test]
    async fn a_head_restarted_on_redis_gives_nodes_their_ids_back_once() {
        let redis = RedisServer::start();
        let at = redis.address();
        let (head, address, token) = serve(
            || Arc::new(RedisStore::connect(&at).unwrap()),
            an_earlier_cluster,
        )
        .await;
        assert_eq!(head.node_id(), 1, "the head keeps its id at its address");
        assert_eq!(head.store.allocate_id().unwrap(), 6, "ids go on");
        assert_eq!(head.store.nodes().unwrap().len(), 4);

        let join = |addr: &'static str, previous| {
            let (address, token) = (address.clone(), token.clone());
            async move {
                join_head(&address, &token, addr, &cpus(2.0), previous)
                    .await
                    .unwrap()
            }
        };
        let back = join("127.0.0.1:7002", Some(2)).await;
        assert_eq!(back.node_id, 2);
        let twice = join("127.0.0.1:7002", Some(2)).await;
        assert_eq!(twice.node_id, 7, "an id is given back once");
        let elsewhere = join("127.0.0.1:9999", Some(3)).await;
        assert_eq!(elsewhere.node_id, 8, "only to the node at its address");
        let dead = join("127.0.0.1:7004", Some(4)).await;
        assert_eq!(dead.node_id, 9, "never to a node declared dead");

        head.end_grace();
        let alive = |id| head.store.node(id).unwrap().unwrap().alive;
        assert!(alive(2) && !alive(3), "node 3 did not come back in time");
        assert!(head.store.drivers().unwrap().is_empty());
        assert!(head.store.usage().unwrap().is_empty());
        drop((back, twice, elsewhere, dead));
    }

    #[tokio::test]
    async fn a_head_on_a_fresh_store_gives_rejoining_nodes_new_ids() {
        let (head, address, token) = serve(|| Arc::new(InMemoryStore::new()), |_, _| {}).await;
        let j = join_head(&address, &token, "127.0.0.1:7002", &cpus(1.0), Some(5))
            .await
            .unwrap();
        assert_eq!(j.node_id, 2);
        assert!(head.awaiting_nodes.lock().is_empty());
    }
}
