//! The cluster's metadata behind one interface: [`MetadataStore`], kept in memory by
//! [`InMemoryStore`] (the default: a restarted head starts a new cluster) or in a Redis
//! server by [`RedisStore`](crate::RedisStore) (a restarted head finds its cluster again).
//!
//! Tables now: the id counter, nodes, the drivers that joined, and what each driver reports
//! in use per node. Actors, object locations and the task table will be further tables of the
//! same trait, each keyed by its id, so a backend maps each table to one hash.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use parking_lot::Mutex;

use crate::protocol::{NodeId, NodeInfo, NodeStatus, Resources};
use crate::StoreError;

/// Cluster metadata that must outlive one head process.
pub trait MetadataStore: Send + Sync {
    /// A fresh id for a node or driver: 1, 2, ... never reused.
    fn allocate_id(&self) -> Result<NodeId, StoreError>;
    /// Adds or replaces a node's record.
    fn put_node(&self, node: NodeInfo) -> Result<(), StoreError>;
    /// Marks a node dead; false when it was unknown or dead already.
    fn mark_node_dead(&self, node_id: NodeId) -> Result<bool, StoreError>;
    /// One node's record.
    fn node(&self, node_id: NodeId) -> Result<Option<NodeInfo>, StoreError>;
    /// Every node ever joined, dead ones included, by id.
    fn nodes(&self) -> Result<Vec<NodeInfo>, StoreError>;
    /// Sets what `driver` uses on `node_id` (an empty map clears it).
    fn set_usage(
        &self,
        driver: NodeId,
        node_id: NodeId,
        in_use: Resources,
    ) -> Result<(), StoreError>;
    /// Forgets everything `driver` reported (it disconnected).
    fn clear_usage(&self, driver: NodeId) -> Result<(), StoreError>;
    /// The sum of every driver's usage, per node.
    fn usage(&self) -> Result<HashMap<NodeId, Resources>, StoreError>;
    /// Records that `driver` joined (so a restarted head lets it rejoin with its id).
    fn add_driver(&self, driver: NodeId) -> Result<(), StoreError>;
    /// Forgets `driver` and everything it reported (it left).
    fn remove_driver(&self, driver: NodeId) -> Result<(), StoreError>;
    /// The drivers that joined and did not leave, by id.
    fn drivers(&self) -> Result<Vec<NodeId>, StoreError>;
}

/// The nodes with what is available on each: total less the usage drivers report, at least 0.
pub fn node_statuses(store: &dyn MetadataStore) -> Result<Vec<NodeStatus>, StoreError> {
    let usage = store.usage()?;
    Ok(store
        .nodes()?
        .into_iter()
        .map(|info| {
            let used = usage.get(&info.node_id);
            let resources_available = info
                .resources_total
                .iter()
                .map(|(k, total)| {
                    let u = used.and_then(|u| u.get(k)).copied().unwrap_or(0.0);
                    (k.clone(), (total - u).max(0.0))
                })
                .collect();
            NodeStatus {
                info,
                resources_available,
            }
        })
        .collect())
}

/// The store kept in the head's memory (lost when the head exits).
#[derive(Default)]
pub struct InMemoryStore {
    inner: Mutex<Tables>,
}

#[derive(Default)]
struct Tables {
    last_id: NodeId,
    nodes: BTreeMap<NodeId, NodeInfo>,
    drivers: BTreeSet<NodeId>,
    usage: HashMap<NodeId, HashMap<NodeId, Resources>>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> InMemoryStore {
        InMemoryStore::default()
    }
}

impl MetadataStore for InMemoryStore {
    fn allocate_id(&self) -> Result<NodeId, StoreError> {
        let mut t = self.inner.lock();
        let next = t
            .last_id
            .checked_add(1)
            .ok_or(StoreError::IdsExhausted(NodeId::MAX as u32))?;
        t.last_id = next;
        Ok(next)
    }

    fn put_node(&self, node: NodeInfo) -> Result<(), StoreError> {
        self.inner.lock().nodes.insert(node.node_id, node);
        Ok(())
    }

    fn mark_node_dead(&self, node_id: NodeId) -> Result<bool, StoreError> {
        let mut t = self.inner.lock();
        match t.nodes.get_mut(&node_id) {
            Some(n) if n.alive => {
                n.alive = false;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn node(&self, node_id: NodeId) -> Result<Option<NodeInfo>, StoreError> {
        Ok(self.inner.lock().nodes.get(&node_id).cloned())
    }

    fn nodes(&self) -> Result<Vec<NodeInfo>, StoreError> {
        Ok(self.inner.lock().nodes.values().cloned().collect())
    }

    fn set_usage(
        &self,
        driver: NodeId,
        node_id: NodeId,
        in_use: Resources,
    ) -> Result<(), StoreError> {
        let mut t = self.inner.lock();
        let per_node = t.usage.entry(driver).or_default();
        if in_use.is_empty() {
            per_node.remove(&node_id);
        } else {
            per_node.insert(node_id, in_use);
        }
        Ok(())
    }

    fn clear_usage(&self, driver: NodeId) -> Result<(), StoreError> {
        self.inner.lock().usage.remove(&driver);
        Ok(())
    }

    fn usage(&self) -> Result<HashMap<NodeId, Resources>, StoreError> {
        let t = self.inner.lock();
        let mut sum: HashMap<NodeId, Resources> = HashMap::new();
        for per_node in t.usage.values() {
            for (node, res) in per_node {
                let s = sum.entry(*node).or_default();
                for (k, v) in res {
                    *s.entry(k.clone()).or_default() += v;
                }
            }
        }
        Ok(sum)
    }

    fn add_driver(&self, driver: NodeId) -> Result<(), StoreError> {
        self.inner.lock().drivers.insert(driver);
        Ok(())
    }

    fn remove_driver(&self, driver: NodeId) -> Result<(), StoreError> {
        let mut t = self.inner.lock();
        t.drivers.remove(&driver);
        t.usage.remove(&driver);
        Ok(())
    }

    fn drivers(&self) -> Result<Vec<NodeId>, StoreError> {
        Ok(self.inner.lock().drivers.iter().copied().collect())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A node record for store tests.
    pub(crate) fn node(id: NodeId, cpus: f64) -> NodeInfo {
        NodeInfo {
            node_id: id,
            address: format!("127.0.0.1:{}", 5000 + id),
            alive: true,
            is_head: id == 1,
            resources_total: Resources::from([("CPU".into(), cpus)]),
        }
    }

    #[test]
    fn ids_count_from_one_and_run_out_with_an_error() {
        let s = InMemoryStore::new();
        assert_eq!(s.allocate_id().unwrap(), 1);
        assert_eq!(s.allocate_id().unwrap(), 2);
        s.inner.lock().last_id = NodeId::MAX - 1;
        assert_eq!(s.allocate_id().unwrap(), NodeId::MAX);
        assert!(matches!(s.allocate_id(), Err(StoreError::IdsExhausted(_))));
    }

    #[test]
    fn nodes_die_once_and_stay_listed() {
        let s = InMemoryStore::new();
        s.put_node(node(1, 2.0)).unwrap();
        s.put_node(node(2, 4.0)).unwrap();
        assert!(s.mark_node_dead(2).unwrap());
        assert!(!s.mark_node_dead(2).unwrap(), "a second death is no news");
        assert!(!s.mark_node_dead(9).unwrap());
        let alive: Vec<bool> = s.nodes().unwrap().iter().map(|n| n.alive).collect();
        assert_eq!(alive, vec![true, false]);
        assert_eq!(s.node(2).unwrap().unwrap().address, "127.0.0.1:5002");
    }

    #[test]
    fn available_is_total_less_every_drivers_usage_and_never_negative() {
        let s = InMemoryStore::new();
        s.put_node(node(1, 4.0)).unwrap();
        s.set_usage(10, 1, Resources::from([("CPU".into(), 1.0)]))
            .unwrap();
        s.set_usage(11, 1, Resources::from([("CPU".into(), 1.5)]))
            .unwrap();
        let avail = |s: &InMemoryStore| node_statuses(s).unwrap()[0].resources_available["CPU"];
        assert_eq!(avail(&s), 1.5);
        s.set_usage(10, 1, Resources::from([("CPU".into(), 9.0)]))
            .unwrap();
        assert_eq!(avail(&s), 0.0);
        s.clear_usage(10).unwrap();
        assert_eq!(avail(&s), 2.5);
        s.set_usage(11, 1, Resources::new()).unwrap();
        assert_eq!(avail(&s), 4.0);
    }

    #[test]
    fn a_driver_that_leaves_takes_its_usage_along() {
        let s = InMemoryStore::new();
        s.put_node(node(1, 4.0)).unwrap();
        s.add_driver(3).unwrap();
        s.add_driver(5).unwrap();
        s.set_usage(3, 1, Resources::from([("CPU".into(), 1.0)]))
            .unwrap();
        assert_eq!(s.drivers().unwrap(), vec![3, 5]);
        s.remove_driver(3).unwrap();
        assert_eq!(s.drivers().unwrap(), vec![5]);
        assert!(s.usage().unwrap().is_empty());
    }
}
