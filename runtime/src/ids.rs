//! Identifiers of tasks, objects, actors, workers and nodes.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident, $prefix:literal) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub u64);
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{:08x}"), self.0)
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
id_type!(
    /// A node (one machine; today always the local one).
    NodeId, "node-"
);

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
}

/// `HashMap` keyed by ids with `IdHasher`.
pub(crate) type IdMap<K, V> =
    std::collections::HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;
