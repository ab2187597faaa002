//! Identifiers of tasks, objects, actors, workers and nodes, unique across machines.
//!
//! Every id is one `u64`: the [`NodeId`] of the node that made it in the top 16 bits and that
//! node's counter in the low 48 bits. Two nodes never mint the same id, and an id stays one
//! machine word, so the tables hashed on every task (object table, task table) stay as cheap as
//! with plain counters. A task and the object holding its return value share the counter, as in
//! Ray. `Display` shows both parts: `task-0:0000002a` is counter 0x2a made by node 0.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Bits of an id below the node number.
const COUNTER_BITS: u32 = 48;
const COUNTER_MASK: u64 = (1 << COUNTER_BITS) - 1;

/// A node: one machine's runtime. The driver's node is [`NodeId::DRIVER`]; a cluster assigns others.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeId(u16);

impl NodeId {
    /// The driver's own node (the only one until nodes join over the network).
    pub const DRIVER: NodeId = NodeId(0);

    /// The node with this number.
    pub const fn new(n: u16) -> Self {
        NodeId(n)
    }

    /// Its number.
    pub const fn index(self) -> u16 {
        self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node-{:x}", self.0)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident, $prefix:literal) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(u64);

        impl $name {
            /// The id numbered `counter` on `node` (the counter keeps its low 48 bits).
            pub(crate) const fn new(node: NodeId, counter: u64) -> Self {
                $name(((node.0 as u64) << COUNTER_BITS) | (counter & COUNTER_MASK))
            }
            /// The node that made it.
            pub const fn node(self) -> NodeId {
                NodeId((self.0 >> COUNTER_BITS) as u16)
            }
            /// Its number on that node.
            pub const fn counter(self) -> u64 {
                self.0 & COUNTER_MASK
            }
            /// The whole id as one word (node in the top 16 bits).
            pub const fn as_u64(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{:x}:{:08x}"), self.node().0, self.counter())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }
    };
}

id_type!(
    /// A task: one call of a remote function, actor method or actor constructor.
    TaskId, "task-"
);
id_type!(
    /// An object in the object store (a task's return value or a `put`).
    ObjectId, "obj-"
);
id_type!(
    /// An actor instance.
    ActorId, "actor-"
);
id_type!(
    /// A worker (a thread in thread mode, a process in process mode).
    WorkerId, "worker-"
);

impl TaskId {
    /// The object holding this task's return value (same node, same counter).
    pub const fn return_object(self) -> ObjectId {
        ObjectId(self.0)
    }
}

/// A fast hasher for the id-keyed tables: ids are unique u64s, so one multiply mixes enough
/// (SipHash's DoS resistance buys nothing here and cost a tenth of actor-call throughput).
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 =
                (self.0.rotate_left(5) ^ u64::from(*b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0 ^ x).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_u16(&mut self, x: u16) {
        self.write_u64(u64::from(x));
    }
}

/// `HashMap` keyed by ids with `IdHasher`.
pub(crate) type IdMap<K, V> =
    std::collections::HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_node() {
        let t = TaskId::new(NodeId::new(3), 0x2a);
        assert_eq!(t.node(), NodeId::new(3));
        assert_eq!(t.counter(), 0x2a);
        assert_eq!(t.to_string(), "task-3:0000002a");
        assert_ne!(t, TaskId::new(NodeId::new(4), 0x2a));
        assert_eq!(t.return_object().as_u64(), t.as_u64());
        // A counter past 48 bits wraps inside its node instead of changing the node.
        assert_eq!(TaskId::new(NodeId::DRIVER, u64::MAX).node(), NodeId::DRIVER);
    }
}
