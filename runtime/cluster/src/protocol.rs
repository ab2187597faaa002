//! The wire protocol: its version and every message, postcard-encoded, one per frame.
//!
//! A connection opens with the handshake ([`ServerHello`], [`ClientAuth`], [`ServerVerdict`]),
//! then carries the messages of the role the client proved: node <-> head ([`NodeToHead`],
//! [`HeadToNode`]), driver <-> head ([`DriverToHead`], [`HeadToDriver`]), CLI <-> head
//! ([`CliRequest`], [`CliReply`]) and driver <-> node ([`DriverToNode`], [`NodeToDriver`]).
//! No I/O here: framing is in `frame`, the handshake's logic in `auth`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The version of this protocol; peers of another version are refused at the handshake.
pub const PROTOCOL_VERSION: u32 = 2;

/// A resource name (`CPU`, `GPU`, custom) to its quantity.
pub type Resources = BTreeMap<String, f64>;

/// A node's id in the cluster: 1 is the head, 0 a standalone driver; ids are never reused.
pub type NodeId = u16;

/// The version this process speaks: [`PROTOCOL_VERSION`], unless the hidden test hook
/// `RLLIB_TEST_PROTOCOL_VERSION` fakes another build.
pub fn effective_version() -> u32 {
    static VERSION: OnceLock<u32> = OnceLock::new();
    *VERSION.get_or_init(|| {
        std::env::var("RLLIB_TEST_PROTOCOL_VERSION")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(PROTOCOL_VERSION)
    })
}

/// What a connecting peer claims to be; the server serves only the roles it accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// A node daemon joining the head.
    Node,
    /// A driver joining the head (gets an id, the node table and events).
    Driver,
    /// `rllib status` and other one-shot queries of the head.
    Cli,
    /// A driver asking a node (or the head, which is a node too) to spawn workers.
    NodeClient,
    /// A worker process connecting back to the driver that had it spawned.
    Worker,
}

impl Role {
    /// The role's name as it appears in logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            Role::Node => "node",
            Role::Driver => "driver",
            Role::Cli => "cli",
            Role::NodeClient => "node client",
            Role::Worker => "worker",
        }
    }
}

// The three handshake messages must stay readable by every build: a build of another
// version has to decode them to say which version it met. Never change their shape.

/// The server's opening message: its protocol version and a fresh random challenge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerHello {
    /// The server's protocol version.
    pub version: u32,
    /// The challenge the client must answer.
    pub nonce: [u8; 32],
}

/// The client's answer to [`ServerHello`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientAuth {
    /// Proof of the token: HMAC over both nonces and the role, and the client's own challenge.
    Proof {
        /// The client's protocol version.
        version: u32,
        /// The role the client asks to be served as.
        role: Role,
        /// The client's challenge for the server.
        nonce: [u8; 32],
        /// HMAC-SHA256(token, client label, role, server nonce, client nonce).
        mac: [u8; 32],
    },
    /// The client speaks another version and says which before it hangs up.
    WrongVersion {
        /// The client's protocol version.
        version: u32,
    },
}

/// The server's verdict on [`ClientAuth`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerVerdict {
    /// Accepted; the server proves it holds the token too.
    Accepted {
        /// HMAC-SHA256(token, server label, client nonce, server nonce).
        mac: [u8; 32],
    },
    /// Refused, with the reason shown to the client.
    Refused {
        /// Why, on one line.
        reason: String,
    },
}

/// One node as the head knows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The node's id.
    pub node_id: NodeId,
    /// Where drivers reach the node's worker-spawning port (`HOST:PORT`).
    pub address: String,
    /// False once the node was declared dead.
    pub alive: bool,
    /// True for the head (which is a node too).
    pub is_head: bool,
    /// Everything the node offers.
    pub resources_total: Resources,
}

/// One node in a status report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// What the head knows of the node.
    pub info: NodeInfo,
    /// Total less what drivers report in use (never below zero).
    pub resources_available: Resources,
}

/// The cluster as `rllib status` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// The head's join address.
    pub head_address: String,
    /// Every node ever joined, dead ones included, by id.
    pub nodes: Vec<NodeStatus>,
    /// Drivers connected now.
    pub drivers: u32,
}

/// A change of the cluster pushed to drivers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ClusterEvent {
    /// A node joined.
    NodeAdded(NodeInfo),
    /// A node was declared dead (silent past the timeout, or its connection closed).
    NodeDead {
        /// The dead node.
        node_id: NodeId,
    },
    /// A worker this driver spawned exited.
    WorkerExited {
        /// The node it ran on.
        node_id: NodeId,
        /// Its pid there.
        pid: u32,
        /// How it ended.
        exit: WorkerExit,
    },
    /// The connection to the head is gone; node events stop until the driver rejoins.
    HeadLost,
    /// The driver rejoined its head with its id (a head restarted on Redis); node events
    /// go on, and what changed meanwhile came before this as `NodeAdded`/`NodeDead`.
    HeadRejoined,
}

/// How a worker process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkerExit {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
}

/// A worker process to start on a node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpawnRequest {
    /// The program (a path on the node).
    pub executable: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Variables added to the node daemon's environment.
    pub env: Vec<(String, String)>,
}

/// Node daemon -> head.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum NodeToHead {
    /// The first message: join with this address and these resources.
    Register {
        /// The node's worker-spawning address (`HOST:PORT`).
        address: String,
        /// What it offers.
        resources: Resources,
    },
    /// I am alive.
    Heartbeat,
    /// The first message of a node that lost its head: join again, as `node_id` if the head
    /// still knows it (a head restarted on a persistent store), else with a new id.
    Rejoin {
        /// The id the node had.
        node_id: NodeId,
        /// The node's worker-spawning address (`HOST:PORT`).
        address: String,
        /// What it offers.
        resources: Resources,
    },
}

/// Head -> node daemon.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum HeadToNode {
    /// Joined, with this id; send a heartbeat every `heartbeat_ms`, the head declares the
    /// node dead after `timeout_ms` of silence.
    Registered {
        /// The node's id.
        node_id: NodeId,
        /// The heartbeat period.
        heartbeat_ms: u64,
        /// The head's node timeout.
        timeout_ms: u64,
    },
    /// The answer to a heartbeat.
    HeartbeatAck,
    /// Not joined.
    Refused {
        /// Why.
        reason: String,
    },
}

/// Driver -> head: a request with an id that its reply carries back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriverToHead {
    /// Chosen by the driver; echoed in the reply.
    pub id: u64,
    /// The request.
    pub request: DriverRequest,
}

/// What a driver asks the head.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DriverRequest {
    /// The first request: an id for this driver and the node table.
    Join,
    /// The node table now.
    Nodes,
    /// Resources this driver uses on a node now (replaces its previous report for that node).
    ReportUsage {
        /// The node.
        node_id: NodeId,
        /// What is in use there.
        in_use: Resources,
    },
    /// The cluster status.
    Status,
    /// The first request of a driver that lost its head: join again with the id it had,
    /// which a head restarted on a persistent store grants; others answer an error.
    Rejoin {
        /// The driver's id.
        node_id: NodeId,
    },
}

/// Head -> driver.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum HeadToDriver {
    /// The reply to the request with this id.
    Reply {
        /// The request's id.
        id: u64,
        /// The answer.
        reply: DriverReply,
    },
    /// A change of the cluster.
    Event(ClusterEvent),
}

/// The head's answer to a [`DriverRequest`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DriverReply {
    /// Joined with this id (node ids and driver ids share one counter).
    Joined {
        /// The driver's id: the top 16 bits of the runtime ids it makes.
        node_id: NodeId,
        /// The node table.
        nodes: Vec<NodeInfo>,
    },
    /// The node table.
    Nodes(Vec<NodeInfo>),
    /// Done.
    Ack,
    /// The cluster status.
    Status(ClusterStatus),
    /// The request failed.
    Error(String),
}

/// CLI -> head (one request per connection).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CliRequest {
    /// The cluster status.
    Status,
}

/// Head -> CLI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CliReply {
    /// The cluster status.
    Status(ClusterStatus),
}

/// Driver -> node: a request with an id that its reply carries back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriverToNode {
    /// Chosen by the driver; echoed in the reply.
    pub id: u64,
    /// The request.
    pub request: NodeRequest,
}

/// What a driver asks a node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum NodeRequest {
    /// Start a worker process.
    SpawnWorker(SpawnRequest),
}

/// Node -> driver.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum NodeToDriver {
    /// The worker of request `id` runs with this pid.
    Spawned {
        /// The request's id.
        id: u64,
        /// The worker's pid on the node.
        pid: u32,
    },
    /// Request `id` failed.
    Failed {
        /// The request's id.
        id: u64,
        /// Why, on one line.
        message: String,
    },
    /// A worker this connection spawned exited.
    WorkerExited {
        /// Its pid.
        pid: u32,
        /// How it ended.
        exit: WorkerExit,
    },
}

/// Encodes a message for one frame.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    // Serializing these plain enums into a Vec cannot fail.
    postcard::to_allocvec(msg).expect("protocol messages always encode")
}

/// Decodes one frame's message.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, crate::FrameError> {
    postcard::from_bytes(bytes).map_err(|e| crate::FrameError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let m = HeadToDriver::Event(ClusterEvent::NodeAdded(NodeInfo {
            node_id: 7,
            address: "127.0.0.1:5000".into(),
            alive: true,
            is_head: false,
            resources_total: Resources::from([("CPU".into(), 2.0)]),
        }));
        assert_eq!(decode::<HeadToDriver>(&encode(&m)).unwrap(), m);
        let hello = ServerHello {
            version: 3,
            nonce: [9; 32],
        };
        assert_eq!(decode::<ServerHello>(&encode(&hello)).unwrap(), hello);
    }

    #[test]
    fn garbage_does_not_decode_as_a_message() {
        assert!(decode::<ClientAuth>(&[0xff, 0xff, 0xff]).is_err());
    }
}
