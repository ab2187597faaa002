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
