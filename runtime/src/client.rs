//! Inside a worker process: the connection to the driver, and the `RuntimeHandle` backend that
//! turns API calls into requests on it.
//!
//! The worker's main loop and the task code it runs share one connection. A request takes the
//! connection, sends, and reads until its reply; calls the driver pipelined meanwhile (an actor's
//! next methods) are queued for the main loop. Requests from one process are therefore served
//! one at a time, in order.
//!
//! Refs the worker holds are counted by the driver (`session.rs`); the worker reports the ones
//! it dropped with its next message. A task worker starts each task with fresh release queues:
//! the driver releases everything a task held when it ends, so a ref that outlives its task
//! (stashed in a static) must not be released twice.

use crate::args::WireArg;
use crate::error::RuntimeError;
use crate::ids::{ActorId, ObjectId, TaskId};
use crate::object_ref::{set_process_ref_serde, RefSerde, RefToken, ReleaseQueue};
use crate::protocol::{read_frame, write_frame, FromWorker, Released, Reply, Request, ToWorker};
use crate::resources::Resources;
use crate::value::{Blob, WireValue};
use crossbeam::queue::SegQueue;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// A worker process's connection to the driver.
pub(crate) struct Client {
    io: Mutex<Io>,
    releases: Mutex<Arc<ReleaseQueue>>,
    actor_releases: Mutex<Arc<SegQueue<ActorId>>>,
}

struct Io {
    r: BufReader<Box<dyn Read + Send>>,
    w: BufWriter<Box<dyn Write + Send>>,
    /// Calls that arrived while a request waited for its reply.
    pending: VecDeque<ToWorker>,
    /// Set once the connection failed: later requests fail at once.
    broken: bool,
}

static CLIENT: OnceLock<Arc<Client>> = OnceLock::new();

/// This process's client, if it is a worker process.
pub(crate) fn process_client() -> Option<Arc<Client>> {
    CLIENT.get().cloned()
}

fn lost() -> RuntimeError {
    RuntimeError::Shutdown
}

impl Client {
    /// Connects to the driver's socket on this machine and says hello.
    pub fn connect(path: &Path) -> io::Result<Arc<Client>> {
        let stream = UnixStream::connect(path)?;
        let r: Box<dyn Read + Send> = Box::new(stream.try_clone()?);
        Self::hello(r, Box::new(stream), 0)
    }

    /// Connects back to the driver at `address` from a worker another node started: proves
    /// the cluster token, then says hello naming the spawn request (`nonce`) it answers.
    pub fn connect_tcp(address: &str, nonce: u64) -> io::Result<Arc<Client>> {
        let target = address
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::other(format!("{address} resolves to nothing")))?;
        let mut stream = TcpStream::connect_timeout(&target, cluster::CONNECT_TIMEOUT)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(cluster::HANDSHAKE_TIMEOUT))?;
        let (token, _) = cluster::load_token().map_err(io::Error::other)?;
        cluster::connect_blocking(&mut stream, &token, cluster::Role::Worker, address)
            .map_err(io::Error::other)?;
        stream.set_read_timeout(None)?;
        let r: Box<dyn Read + Send> = Box::new(stream.try_clone()?);
        Self::hello(r, Box::new(stream), nonce)
    }

    /// Says hello over a connection to the driver (`nonce` names the spawn request it
    /// answers, for a worker started on another node).
    pub fn hello(
        r: Box<dyn Read + Send>,
        w: Box<dyn Write + Send>,
        nonce: u64,
    ) -> io::Result<Arc<Client>> {
        let r = BufReader::new(r);
        let mut w = BufWriter::new(w);
        write_frame(
            &mut w,
            &FromWorker::Hello {
                pid: std::process::id(),
                nonce,
            },
        )?;
        w.flush()?;
        Ok(Arc::new(Client {
            io: Mutex::new(Io {
                r,
                w,
                pending: VecDeque::new(),
                broken: false,
            }),
            releases: Mutex::new(Arc::new(ReleaseQueue::new())),
            actor_releases: Mutex::new(Arc::new(SegQueue::new())),
        }))
    }

    /// Makes this the process's client: `runtime::current()` and refs read from bytes use it.
    pub fn install(self: &Arc<Self>) {
        let _ = CLIENT.set(self.clone());
        set_process_ref_serde(self.clone());
    }

    /// The next call from the driver (queued ones first).
    pub fn next_call(&self) -> io::Result<ToWorker> {
        let mut io = self.io.lock();
        if let Some(m) = io.pending.pop_front() {
            return Ok(m);
        }
        read_frame(&mut io.r)
    }

    /// Reports a finished call with the refs dropped since the last message.
    pub fn done(&self, task: TaskId, result: Result<WireValue, String>) -> io::Result<()> {
        let released = self.released();
        let mut io = self.io.lock();
        write_frame(
            &mut io.w,
            &FromWorker::Done {
                task,
                result,
                released,
            },
        )?;
        // Replies to a batch of pipelined calls go out together.
        if io.pending.is_empty() && io.r.buffer().is_empty() {
            io.w.flush()?;
        }
        Ok(())
    }

    /// A task ended: the driver released what it held, so start counting afresh.
    pub fn end_task(&self) {
        *self.releases.lock() = Arc::new(ReleaseQueue::new());
        *self.actor_releases.lock() = Arc::new(SegQueue::new());
    }

    fn released(&self) -> Released {
        let q = self.releases.lock().clone();
        let a = self.actor_releases.lock().clone();
        let mut r = Released::default();
        while let Some(id) = q.pop() {
            r.objects.push(id);
        }
        while let Some(id) = a.pop() {
            r.actors.push(id);
        }
        r
    }

    /// Where this worker's tokens report their drop.
    pub fn release_queue(&self) -> Arc<ReleaseQueue> {
        self.releases.lock().clone()
    }

    /// Where this worker's actor handles report their drop.
    pub fn actor_release_queue(&self) -> Arc<SegQueue<ActorId>> {
        self.actor_releases.lock().clone()
    }

    /// A token for an object the driver counted for this worker.
    pub fn token(&self, id: ObjectId) -> Arc<RefToken> {
        RefToken::tracked(id, self.release_queue())
    }

    /// Sends a request and waits for its reply.
    fn request(&self, request: Request) -> Result<Reply, RuntimeError> {
        let released = self.released();
        let mut io = self.io.lock();
        if io.broken {
            return Err(lost());
        }
        let r = (|| {
            write_frame(&mut io.w, &FromWorker::Request { request, released })?;
            io.w.flush()?;
            loop {
                match read_frame::<ToWorker, _>(&mut io.r)? {
                    ToWorker::Reply(r) => return Ok(r),
                    other => io.pending.push_back(other),
                }
            }
        })();
        r.map_err(|e: io::Error| {
            io.broken = true;
            match e.kind() {
                io::ErrorKind::InvalidData => RuntimeError::Protocol(e.to_string()),
                _ => lost(),
            }
        })
    }

    fn object(&self, request: Request) -> Result<ObjectId, RuntimeError> {
        match self.request(request)? {
            Reply::Object(r) => r.map_err(Into::into),
            other => Err(unexpected(&other)),
        }
    }

    /// Submits a registered function by name.
    pub fn submit(
        &self,
        function: &str,
        args: Vec<WireArg>,
        resources: Resources,
        max_retries: u32,
    ) -> Result<ObjectId, RuntimeError> {
        self.object(Request::Submit {
            function: function.to_string(),
            args,
            resources,
            max_retries,
        })
    }

    /// Stores serialized bytes (with the ids of the refs inside them).
    pub fn put(&self, bytes: Vec<u8>, contained: Vec<ObjectId>) -> Result<ObjectId, RuntimeError> {
        self.object(Request::Put {
            bytes: Blob::from(bytes),
            contained,
        })
    }

    /// An object that holds `e`.
    pub fn fail(&self, e: &RuntimeError) -> Result<ObjectId, RuntimeError> {
        self.object(Request::Fail { error: e.into() })
    }

    /// Serialized values of `ids`, in order.
    pub fn get(
        &self,
        ids: Vec<ObjectId>,
        timeout: Option<Duration>,
    ) -> Result<Vec<Blob>, RuntimeError> {
        let n = ids.len();
        match self.request(Request::Get { ids, timeout })? {
            Reply::Values(Ok(v)) if v.len() == n => Ok(v),
            Reply::Values(Ok(_)) => Err(RuntimeError::Protocol("wrong number of values".into())),
            Reply::Values(Err(e)) => Err(e.into()),
            other => Err(unexpected(&other)),
        }
    }

    /// For each id, whether it is done, once `num_returns` are or `timeout` passes.
    pub fn wait(
        &self,
        ids: Vec<ObjectId>,
        num_returns: usize,
        timeout: Option<Duration>,
    ) -> Result<Vec<bool>, RuntimeError> {
        let n = ids.len();
        match self.request(Request::Wait {
            ids,
            num_returns,
            timeout,
        })? {
            Reply::Ready(v) if v.len() == n => Ok(v),
            other => Err(unexpected(&other)),
        }
    }

    /// Creates an actor of a registered class: its id and the object that resolves once built.
    pub fn create_actor(
        &self,
        class: &str,
        args: Vec<WireArg>,
        resources: Option<Resources>,
        max_restarts: u32,
    ) -> Result<(ActorId, ObjectId), RuntimeError> {
        match self.request(Request::CreateActor {
            class: class.to_string(),
            args,
            resources,
            max_restarts,
        })? {
            Reply::Actor(r) => r.map_err(Into::into),
            other => Err(unexpected(&other)),
        }
    }

    /// Calls a registered method of an actor.
    pub fn call_actor(
        &self,
        actor: ActorId,
        method: &str,
        args: Vec<WireArg>,
    ) -> Result<ObjectId, RuntimeError> {
        self.object(Request::CallActor {
            actor,
            method: method.to_string(),
            args,
        })
    }

    /// Stops an actor after its queued calls.
    pub fn kill_actor(&self, actor: ActorId) -> Result<(), RuntimeError> {
        match self.request(Request::KillActor { actor })? {
            Reply::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// The node's total (or free) resources.
    pub fn resources(&self, available: bool) -> Result<Resources, RuntimeError> {
        match self.request(Request::Resources { available })? {
            Reply::Resources(r) => Ok(r),
            other => Err(unexpected(&other)),
        }
    }
}

fn unexpected(r: &Reply) -> RuntimeError {
    RuntimeError::Protocol(format!("unexpected reply {r:?}"))
}

/// Refs read from bytes in this worker are counted by the driver already (it noted them when
/// it serialized them for this worker): the token only reports their drop.
impl RefSerde for Client {
    fn serialize_ref(&self, _id: ObjectId) {}
    fn deserialize_ref(&self, id: ObjectId) -> Arc<RefToken> {
        self.token(id)
    }
}
