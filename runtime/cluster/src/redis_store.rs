//! [`RedisStore`]: the cluster's metadata in a Redis server, so that a head killed and started
//! again with the same `--redis-address` finds its node table, its id counter (no id is ever
//! handed out twice) and the drivers that had joined.
//!
//! Layout, every key under one prefix (`rllib:` by default):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `rllib:last_id` | string | the last id handed out (`INCR`) |
//! | `rllib:nodes` | hash | node id -> the node's record as JSON |
//! | `rllib:drivers` | set | ids of the drivers that joined and did not leave |
//! | `rllib:usage` | hash | `DRIVER:NODE` -> what that driver uses there, as JSON |
//!
//! One head writes a prefix; two heads sharing a server need two prefixes.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use redis::{Connection, RedisResult};

use crate::protocol::{NodeId, NodeInfo, Resources};
use crate::store::MetadataStore;
use crate::StoreError;

/// How long connecting to Redis, or waiting for one reply, may take.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// The prefix of every key the head writes.
pub const DEFAULT_REDIS_PREFIX: &str = "rllib:";

/// The metadata store kept in a Redis server at `HOST:PORT`.
pub struct RedisStore {
    address: String,
    prefix: String,
    client: redis::Client,
    // One connection, reopened after a failure: the head calls the store from one thread.
    conn: Mutex<Option<Connection>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("address", &self.address)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisStore {
    /// Connects to the Redis server at `address` (`HOST:PORT`) with the default prefix and
    /// checks that it answers, within [`REDIS_TIMEOUT`].
    pub fn connect(address: &str) -> Result<RedisStore, StoreError> {
        RedisStore::connect_with_prefix(address, DEFAULT_REDIS_PREFIX)
    }

    /// As [`RedisStore::connect`], with every key under `prefix`.
    pub fn connect_with_prefix(address: &str, prefix: &str) -> Result<RedisStore, StoreError> {
        let fail = |message: String| StoreError::Redis {
            address: address.to_string(),
            message,
        };
        let (host, port) = address
            .rsplit_once(':')
            .filter(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p != 0))
            .ok_or_else(|| fail("expected HOST:PORT".into()))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let url = if host.contains(':') {
            format!("redis://[{host}]:{port}/")
        } else {
            format!("redis://{host}:{port}/")
        };
        let client = redis::Client::open(url.as_str()).map_err(|e| fail(one_line(&e)))?;
        let store = RedisStore {
            address: address.to_string(),
            prefix: prefix.to_string(),
            client,
            conn: Mutex::new(None),
        };
        let pong: String = store.run(|c| redis::cmd("PING").query(c))?;
        if pong != "PONG" {
            return Err(fail(format!("answered PING with '{pong}'")));
        }
        Ok(store)
    }

    /// The server's `HOST:PORT`.
    pub fn address(&self) -> &str {
        &self.address
    }

    fn key(&self, table: &str) -> String {
        format!("{}{table}", self.prefix)
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let conn = self
            .client
            .get_connection_with_timeout(REDIS_TIMEOUT)
            .map_err(|e| self.error(format!("cannot connect ({})", one_line(&e))))?;
        let timeouts = conn
            .set_read_timeout(Some(REDIS_TIMEOUT))
            .and_then(|()| conn.set_write_timeout(Some(REDIS_TIMEOUT)));
        timeouts.map_err(|e| self.error(one_line(&e)))?;
        Ok(conn)
    }

    /// Runs `f` on the connection, opening it when there is none. Any failure drops the
    /// connection (a reply may be half read); a failure of the connection itself is tried
    /// once more on a fresh one, so a Redis restart costs the head one error at most. A
    /// retried `INCR` may skip an id, which is harmless: ids must be unique, not dense.
    fn run<T>(
        &self,
        mut f: impl FnMut(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, StoreError> {
        let mut slot = self.conn.lock();
        let mut retried = false;
        loop {
            let conn = match slot.as_mut() {
                Some(c) => c,
                None => slot.insert(self.open()?),
            };
            match f(conn) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    *slot = None;
                    if retried || !is_connection_failure(&e) {
                        return Err(self.error(one_line(&e)));
                    }
                    retried = true;
                    tracing::warn!("Redis at {}: {}; reconnecting", self.address, one_line(&e));
                }
            }
        }
    }

    fn error(&self, message: String) -> StoreError {
        StoreError::Redis {
            address: self.address.clone(),
            message,
        }
    }

    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        json: &str,
    ) -> Result<T, StoreError> {
        serde_json::from_str(json)
            .map_err(|e| self.error(format!("unreadable {what} ({e}): {json}")))
    }
}

fn is_connection_failure(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_unrecoverable_error()
}

fn one_line(e: &redis::RedisError) -> String {
    e.to_string().replace('\n', " ")
}

fn usage_field(driver: NodeId, node: NodeId) -> String {
    format!("{driver}:{node}")
}

impl MetadataStore for RedisStore {
    fn allocate_id(&self) -> Result<NodeId, StoreError> {
        let key = self.key("last_id");
        let next: i64 = self.run(|c| redis::cmd("INCR").arg(&key).query(c))?;
        NodeId::try_from(next)
            .ok()
            .filter(|&id| id > 0)
            .ok_or(StoreError::IdsExhausted(NodeId::MAX as u32))
    }

    fn put_node(&self, node: NodeInfo) -> Result<(), StoreError> {
        let json = serde_json::to_string(&node).map_err(|e| self.error(e.to_string()))?;
        let key = self.key("nodes");
        self.run(|c| {
            redis::cmd("HSET")
                .arg(&key)
                .arg(node.node_id)
                .arg(&json)
                .query::<()>(c)
        })
    }

    fn mark_node_dead(&self, node_id: NodeId) -> Result<bool, StoreError> {
        match self.node(node_id)? {
            Some(mut n) if n.alive => {
                n.alive = false;
                self.put_node(n)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn node(&self, node_id: NodeId) -> Result<Option<NodeInfo>, StoreError> {
        let key = self.key("nodes");
        let json: Option<String> =
            self.run(|c| redis::cmd("HGET").arg(&key).arg(node_id).query(c))?;
        json.map(|j| self.decode(&format!("record of node {node_id}"), &j))
            .transpose()
    }

    fn nodes(&self) -> Result<Vec<NodeInfo>, StoreError> {
        let key = self.key("nodes");
        let all: HashMap<String, String> =
            self.run(|c| redis::cmd("HGETALL").arg(&key).query(c))?;
        let mut nodes = all
            .iter()
            .map(|(id, json)| self.decode::<NodeInfo>(&format!("record of node {id}"), json))
            .collect::<Result<Vec<_>, _>>()?;
        nodes.sort_by_key(|n| n.node_id);
        Ok(nodes)
    }

    fn set_usage(
        &self,
        driver: NodeId,
        node_id: NodeId,
        in_use: Resources,
    ) -> Result<(), StoreError> {
        let key = self.key("usage");
        let field = usage_field(driver, node_id);
        if in_use.is_empty() {
            return self.run(|c| redis::cmd("HDEL").arg(&key).arg(&field).query::<()>(c));
        }
        let json = serde_json::to_string(&in_use).map_err(|e| self.error(e.to_string()))?;
        self.run(|c| {
            redis::cmd("HSET")
                .arg(&key)
                .arg(&field)
                .arg(&json)
                .query::<()>(c)
        })
    }

    fn clear_usage(&self, driver: NodeId) -> Result<(), StoreError> {
        let key = self.key("usage");
        let fields: Vec<String> = self.run(|c| redis::cmd("HKEYS").arg(&key).query(c))?;
        let mine: Vec<&String> = fields
            .iter()
            .filter(|f| {
                f.split_once(':')
                    .is_some_and(|(d, _)| d == driver.to_string())
            })
            .collect();
        if mine.is_empty() {
            return Ok(());
        }
        self.run(|c| redis::cmd("HDEL").arg(&key).arg(&mine).query::<()>(c))
    }

    fn usage(&self) -> Result<HashMap<NodeId, Resources>, StoreError> {
        let key = self.key("usage");
        let all: HashMap<String, String> =
            self.run(|c| redis::cmd("HGETALL").arg(&key).query(c))?;
        let mut sum: HashMap<NodeId, Resources> = HashMap::new();
        for (field, json) in &all {
            let node: NodeId = field
                .split_once(':')
                .and_then(|(_, n)| n.parse().ok())
                .ok_or_else(|| self.error(format!("unreadable usage field '{field}'")))?;
            let res: Resources = self.decode(&format!("usage {field}"), json)?;
            let s = sum.entry(node).or_default();
            for (k, v) in res {
                *s.entry(k).or_default() += v;
            }
        }
        Ok(sum)
    }

    fn add_driver(&self, driver: NodeId) -> Result<(), StoreError> {
        let key = self.key("drivers");
        self.run(|c| redis::cmd("SADD").arg(&key).arg(driver).query::<()>(c))
    }

    fn remove_driver(&self, driver: NodeId) -> Result<(), StoreError> {
        let key = self.key("drivers");
        self.run(|c| redis::cmd("SREM").arg(&key).arg(driver).query::<()>(c))?;
        self.clear_usage(driver)
    }

    fn drivers(&self) -> Result<Vec<NodeId>, StoreError> {
        let key = self.key("drivers");
        let members: Vec<String> = self.run(|c| redis::cmd("SMEMBERS").arg(&key).query(c))?;
        let mut ids = members
            .iter()
            .map(|m| {
                m.parse::<NodeId>()
                    .map_err(|_| self.error(format!("unreadable driver id '{m}'")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        ids.sort_unstable();
        Ok(ids)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::node_statuses;
    use std::process::{Child, Command, Stdio};
    use std::time::Instant;

    /// A `redis-server` of this test's own on a free port of 127.0.0.1, persisting nothing,
    /// its files in a temp dir; killed when dropped, a failed test included.
    pub(crate) struct RedisServer {
        child: Child,
        port: u16,
        _dir: tempfile::TempDir,
    }

    impl RedisServer {
        pub(crate) fn start() -> RedisServer {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            RedisServer::start_on(port)
        }

        pub(crate) fn start_on(port: u16) -> RedisServer {
            let dir = tempfile::tempdir().unwrap();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot run redis-server ({e}): run .ci/setup, which installs it")
                });
            let server = RedisServer {
                child,
                port,
                _dir: dir,
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while RedisStore::connect(&server.address()).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "redis-server on port {port} did not answer within 10 s"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            server
        }

        pub(crate) fn address(&self) -> String {
            format!("127.0.0.1:{}", self.port)
        }
    }

    impl Drop for RedisServer {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    use crate::store::tests::node;

    #[test]
    fn a_second_store_on_the_same_server_finds_everything_and_never_reuses_an_id() {
        let redis = RedisServer::start();
        let a = RedisStore::connect(&redis.address()).unwrap();
        assert_eq!(a.allocate_id().unwrap(), 1);
        assert_eq!(a.allocate_id().unwrap(), 2);
        a.put_node(node(1, 2.0)).unwrap();
        a.put_node(node(2, 4.0)).unwrap();
        a.add_driver(3).unwrap();
        a.set_usage(3, 2, Resources::from([("CPU".into(), 1.5)]))
            .unwrap();
        assert!(a.mark_node_dead(1).unwrap());
        drop(a);

        let b = RedisStore::connect(&redis.address()).unwrap();
        assert_eq!(b.allocate_id().unwrap(), 3, "the counter goes on");
        let nodes = b.nodes().unwrap();
        assert_eq!(nodes.iter().map(|n| n.node_id).collect::<Vec<_>>(), [1, 2]);
        assert!(!nodes[0].alive && nodes[1].alive);
        assert_eq!(nodes[1], node(2, 4.0));
        assert_eq!(b.drivers().unwrap(), [3]);
        let st = node_statuses(&b).unwrap();
        assert_eq!(st[1].resources_available["CPU"], 2.5);
        assert!(!b.mark_node_dead(1).unwrap(), "a second death is no news");
        assert!(b.node(9).unwrap().is_none());
    }

    #[test]
    fn usage_sums_over_drivers_and_leaves_with_its_driver() {
        let redis = RedisServer::start();
        let s = RedisStore::connect(&redis.address()).unwrap();
        s.put_node(node(1, 4.0)).unwrap();
        for d in [10, 11] {
            s.add_driver(d).unwrap();
        }
        s.set_usage(10, 1, Resources::from([("CPU".into(), 1.0)]))
            .unwrap();
        s.set_usage(11, 1, Resources::from([("CPU".into(), 1.5)]))
            .unwrap();
        assert_eq!(s.usage().unwrap()[&1]["CPU"], 2.5);
        s.remove_driver(10).unwrap();
        assert_eq!(s.drivers().unwrap(), [11]);
        assert_eq!(s.usage().unwrap()[&1]["CPU"], 1.5);
        s.set_usage(11, 1, Resources::new()).unwrap();
        assert!(s.usage().unwrap().is_empty());
        s.clear_usage(11).unwrap();
    }

    #[test]
    fn prefixes_keep_two_clusters_apart() {
        let redis = RedisServer::start();
        let a = RedisStore::connect_with_prefix(&redis.address(), "a:").unwrap();
        let b = RedisStore::connect_with_prefix(&redis.address(), "b:").unwrap();
        a.put_node(node(1, 1.0)).unwrap();
        assert_eq!(a.allocate_id().unwrap(), 1);
        assert_eq!(b.allocate_id().unwrap(), 1);
        assert!(b.nodes().unwrap().is_empty());
    }

    #[test]
    fn ids_run_out_with_an_error() {
        let redis = RedisServer::start();
        let s = RedisStore::connect(&redis.address()).unwrap();
        s.run(|c| {
            redis::cmd("SET")
                .arg("rllib:last_id")
                .arg(NodeId::MAX - 1)
                .query::<()>(c)
        })
        .unwrap();
        assert_eq!(s.allocate_id().unwrap(), NodeId::MAX);
        assert!(matches!(s.allocate_id(), Err(StoreError::IdsExhausted(_))));
    }

    #[test]
    fn an_unreachable_server_is_an_error_naming_it_within_seconds() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let t = Instant::now();
        let e = RedisStore::connect(&address).unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        let msg = e.to_string();
        assert!(
            msg.contains(&address) && msg.contains("cannot connect"),
            "{msg}"
        );
        assert!(!msg.contains('\n'), "{msg}");
        let e = RedisStore::connect("nocolon").unwrap_err();
        assert!(e.to_string().contains("HOST:PORT"), "{e}");
    }

    #[test]
    fn a_server_that_is_not_redis_is_refused() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let speaker = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 64];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        });
        let e = RedisStore::connect(&address).unwrap_err();
        assert!(e.to_string().contains(&address), "{e}");
        speaker.join().unwrap();
    }

    #[test]
    fn a_lost_server_is_an_error_and_a_new_one_on_the_same_port_is_used() {
        let redis = RedisServer::start();
        let port = redis.port;
        let s = RedisStore::connect(&redis.address()).unwrap();
        s.put_node(node(1, 1.0)).unwrap();
        drop(redis);
        let e = s.nodes().unwrap_err();
        assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
        let _again = RedisServer::start_on(port);
        assert!(s.nodes().unwrap().is_empty(), "the new server is empty");
        s.put_node(node(2, 1.0)).unwrap();
        assert_eq!(s.nodes().unwrap().len(), 1);
    }
}
