//! The user-facing API: start a runtime, submit tasks, put and get objects, and look inside
//! (task and object tables, resources, timeline). Actors are in `actor.rs`.
//!
//! A [`RuntimeHandle`] is either the driver's core in this process, or a client of it from
//! inside a worker process (the same calls, as requests over the worker's connection). A
//! remote node's handle will be the second kind.

use crate::actor_spec::ActorRecord;
use crate::args::{ArgSlot, ArgTuple, IntoArgs};
use crate::client::{process_client, Client};
use crate::config::{Isolation, RuntimeConfig};
use crate::error::RuntimeError;
use crate::ids::{ActorId, NodeId, ObjectId, TaskId};
use crate::object_ref::{collect_refs, with_ref_serde, Decoder, ObjectRef, RefSerde, RefToken};
use crate::object_store::{ObjState, ObjectEntry, ObjectInfo, ObjectStatus};
use crate::process_executor::{refuse_unregistered_worker, ProcessExecutor};
use crate::registry::RemoteFn;
use crate::remote_executor::{self, ClusterLink};
use crate::resources::Resources;
use crate::runtime_core::{thread_core, Core, Executor};
use crate::scheduler::NodeInfo;
use crate::task::{ClosureBody, TaskBody, TaskFilter, TaskInfo, CURRENT_TASK};
use crate::thread_executor::ThreadExecutor;
use crate::timeline::TaskPhases;
use crate::value::{codec, decode_value, encode_value, Blob, Data, Serialized, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The runtime, owned by the driver: dropping it shuts everything down (never hangs).
pub struct Runtime {
    handle: RuntimeHandle,
    core: Arc<Core>,
    /// The cluster this runtime joined, if any.
    link: Option<Arc<ClusterLink>>,
}

/// A cheap, cloneable, `Send + Sync` handle to a runtime, usable inside tasks and actors.
#[derive(Clone)]
pub struct RuntimeHandle {
    pub(crate) backend: Backend,
}

/// What a handle talks to.
#[derive(Clone)]
pub(crate) enum Backend {
    /// The driver's core, in this process.
    Local(Arc<Core>),
    /// The driver, from inside a worker process.
    Remote(Arc<Client>),
}

/// The runtime that the current task or actor method runs on, if this thread is running one.
///
/// Registered functions are plain `fn`s and cannot capture a handle: this is how a task submits
/// tasks, creates actors or gets objects (Ray's nested tasks). It answers on the thread running
/// a task or actor method, in thread mode and inside worker processes; elsewhere (the driver's
/// own threads, threads a task spawns) it is `None`: pass a handle there instead.
pub fn current() -> Option<RuntimeHandle> {
    CURRENT_TASK.get()?;
    if let Some(core) = thread_core() {
        return Some(RuntimeHandle {
            backend: Backend::Local(core),
        });
    }
    process_client().map(|c| RuntimeHandle {
        backend: Backend::Remote(c),
    })
}

impl Runtime {
    /// Starts a runtime in this process; nothing to launch first.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        refuse_unregistered_worker();
        // Where work runs is chosen here, once: the rest of the runtime only sees `Executor`.
        let executor: Arc<dyn Executor> = match config.isolation {
            Isolation::Thread => Arc::new(ThreadExecutor),
            Isolation::Process => Arc::new(ProcessExecutor::new(&config)),
        };
        let (core, link) = match config.address.clone() {
            None => (
                Core::new(config, executor, Vec::new(), NodeId::DRIVER),
                None,
            ),
            Some(address) => {
                let joined = remote_executor::join(&address, &config)?;
                let node = NodeId::new(joined.node_id);
                let core = Core::new(config, executor, joined.names.clone(), node);
                let link = joined.attach(&core);
                (core, Some(link))
            }
        };
        Ok(Runtime {
            handle: RuntimeHandle {
                backend: Backend::Local(core.clone()),
            },
            core,
            link,
        })
    }

    /// A runtime with default settings (threads, all CPUs of the machine).
    pub fn init() -> Runtime {
        Runtime::new(RuntimeConfig::default()).expect("thread mode always starts")
    }

    /// A handle to give to tasks, actors or other threads.
    pub fn handle(&self) -> RuntimeHandle {
        self.handle.clone()
    }

    /// Stops everything now; pending `get`s return `Shutdown`.
    pub fn shutdown(&self) {
        self.core.shutdown();
        if let Some(l) = &self.link {
            l.stop();
        }
    }
}

impl std::ops::Deref for Runtime {
    type Target = RuntimeHandle;
    fn deref(&self) -> &RuntimeHandle {
        &self.handle
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Options of one task before it is submitted.
pub struct TaskBuilder<R> {
    rt: RuntimeHandle,
    function: &'static str,
    body: TaskBody,
    args: Vec<ArgSlot>,
    resources: Resources,
    max_retries: u32,
    decode: Option<Decoder>,
    _r: std::marker::PhantomData<fn() -> R>,
}

impl<R> TaskBuilder<R> {
    /// What the task needs while it runs (default 1 CPU; given back while it waits in `get`).
    pub fn resources(mut self, r: Resources) -> Self {
        self.resources = r;
        self
    }
    /// Sets the CPUs it needs.
    pub fn num_cpus(mut self, n: f64) -> Self {
        self.resources.cpu = n;
        self
    }
    /// Sets the GPUs it needs.
    pub fn num_gpus(mut self, n: f64) -> Self {
        self.resources.gpu = n;
        self
    }
    /// Retries after its worker process dies (default 3; application errors are never retried).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }
    /// Submits; an impossible resource request (or a closure where closures cannot run) is an
    /// error here, never a hang.
    pub fn submit(self) -> Result<ObjectRef<R>, RuntimeError> {
        let TaskBuilder {
            rt,
            function,
            body,
            args,
            resources,
            max_retries,
            decode,
            ..
        } = self;
        let oid = match &rt.backend {
            Backend::Local(core) => core.submit_task(
                function,
                body,
                args,
                resources,
                max_retries,
                CURRENT_TASK.get(),
            )?,
            Backend::Remote(client) => {
                let TaskBody::Function(f) = body else {
                    return Err(RuntimeError::Unsupported(format!(
                        "{function}: closure tasks cannot be submitted from a worker process"
                    )));
                };
                let args = f
                    .wire_args(args)
                    .map_err(|e| RuntimeError::Serialization(format!("{function}: {e}")))?;
                client.submit(function, args, resources, max_retries)?
            }
        };
        Ok(rt.object_ref(oid, decode))
    }
}

impl RuntimeHandle {
    /// The ref the caller gets for an object just made for it (its entry counts this one ref).
    pub(crate) fn object_ref<T>(&self, oid: ObjectId, decode: Option<Decoder>) -> ObjectRef<T> {
        let token = match &self.backend {
            Backend::Local(core) => core.new_token(oid),
            Backend::Remote(client) => client.token(oid),
        };
        ObjectRef::from_token(token, decode)
    }

    /// A ref whose `get` returns `e`.
    pub(crate) fn failed<T>(&self, e: RuntimeError) -> ObjectRef<T> {
        match &self.backend {
            Backend::Local(core) => self.object_ref(core.failed_object(e), None),
            Backend::Remote(client) => match client.fail(&e) {
                Ok(oid) => self.object_ref(oid, None),
                // The driver is gone: any id reads as lost.
                Err(_) => ObjectRef::from_token(
                    RefToken::untracked(ObjectId::new(NodeId::DRIVER, 0)),
                    None,
                ),
            },
        }
    }

    fn builder<R>(
        &self,
        function: &'static str,
        body: TaskBody,
        args: Vec<ArgSlot>,
        decode: Option<Decoder>,
    ) -> TaskBuilder<R> {
        TaskBuilder {
            rt: self.clone(),
            function,
            body,
            args,
            resources: Resources::cpus(1.0),
            max_retries: 3,
            decode,
            _r: std::marker::PhantomData,
        }
    }

    /// A task of a registered function with options; finish with `.submit()`.
    pub fn task<Args, R, X>(&self, f: &'static RemoteFn<Args, R>, args: X) -> TaskBuilder<R>
    where
        Args: ArgTuple,
        R: Data,
        X: IntoArgs<Args>,
    {
        self.builder(
            f.name(),
            TaskBody::Function(f),
            args.into_slots(),
            Some(decode_value::<R>),
        )
    }

    /// Submits a registered function with default options; returns at once.
    ///
    /// A submission error (an impossible resource request) is returned by `get` on the ref.
    pub fn remote<Args, R, X>(&self, f: &'static RemoteFn<Args, R>, args: X) -> ObjectRef<R>
    where
        Args: ArgTuple,
        R: Data,
        X: IntoArgs<Args>,
    {
        match self.task(f, args).submit() {
            Ok(r) => r,
            Err(e) => self.failed(e),
        }
    }

    /// A task from a closure (no registration, no serde); `.submit()` it. Thread mode only:
    /// where closures cannot run, `submit` returns `Unsupported`.
    pub fn closure_task<R, F>(&self, name: &'static str, f: F) -> TaskBuilder<R>
    where
        R: Send + Sync + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        let body: ClosureBody = Box::new(move |_| Ok(Arc::new(f()) as Value));
        self.builder(name, TaskBody::Closure(body), Vec::new(), None)
    }

    /// Submits a closure task with default options (thread mode; elsewhere `get` returns
    /// `Unsupported`).
    pub fn spawn<R, F>(&self, name: &'static str, f: F) -> ObjectRef<R>
    where
        R: Send + Sync + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        match self.closure_task(name, f).submit() {
            Ok(r) => r,
            Err(e) => self.failed(e),
        }
    }

    /// Stores a value and returns its ref. In the driver the value is moved into the store (no
    /// copy); inside a worker process it is serialized and stored in the driver.
    pub fn put<T: Data>(&self, v: T) -> ObjectRef<T> {
        self.put_sized(v, None)
    }

    fn put_sized<T: Data>(&self, v: T, size: Option<usize>) -> ObjectRef<T> {
        let oid = match &self.backend {
            Backend::Local(core) => Ok(core.put_value(Arc::new(v), Some(codec::<T>()), size)),
            Backend::Remote(client) => {
                let (bytes, contained) = collect_refs(|| encode_value(&v));
                match bytes {
                    Ok(b) => client.put(b, contained),
                    Err(e) => Err(RuntimeError::Serialization(e)),
                }
            }
        };
        match oid {
            Ok(oid) => self.object_ref(oid, Some(decode_value::<T>)),
            Err(e) => self.failed(e),
        }
    }

    /// Stores a byte buffer; `object_info` reports its length.
    pub fn put_bytes(&self, v: Arc<Vec<u8>>) -> ObjectRef<Arc<Vec<u8>>> {
        let n = v.len();
        self.put_sized(v, Some(n))
    }

    /// A value read from the store as `T`: shared when it is a `T`, decoded when it arrived as
    /// bytes (from a worker process).
    fn typed<T: Send + Sync + 'static>(
        &self,
        v: Value,
        id: ObjectId,
        decode: Option<Decoder>,
    ) -> Result<Arc<T>, RuntimeError> {
        let mismatch = || RuntimeError::TypeMismatch(id, std::any::type_name::<T>());
        match v.downcast::<T>() {
            Ok(a) => Ok(a),
            Err(v) => match (v.downcast_ref::<Serialized>(), decode) {
                (Some(s), Some(d)) => self
                    .decode_bytes(d, &s.bytes, id)?
                    .downcast::<T>()
                    .map_err(|_| mismatch()),
                _ => Err(mismatch()),
            },
        }
    }

    /// Bytes read as a value; refs inside count for whoever reads them.
    fn decode_bytes(&self, d: Decoder, b: &Blob, id: ObjectId) -> Result<Value, RuntimeError> {
        let r = match &self.backend {
            Backend::Local(core) => {
                let serde: Arc<dyn RefSerde> = core.clone();
                with_ref_serde(&serde, || d(b))
            }
            Backend::Remote(_) => d(b),
        };
        r.map_err(|e| RuntimeError::Serialization(format!("{id}: {e}")))
    }

    fn get_arcs<T: Send + Sync + 'static>(
        &self,
        refs: &[&ObjectRef<T>],
        timeout: Option<Duration>,
    ) -> Result<Vec<Arc<T>>, RuntimeError> {
        match &self.backend {
            Backend::Local(core) => {
                let values = if let [r] = refs {
                    vec![core.get_value(r.id(), timeout)?]
                } else {
                    let ids: Vec<ObjectId> = refs.iter().map(|r| r.id()).collect();
                    core.get_values(&ids, timeout, None)?
                };
                values
                    .into_iter()
                    .zip(refs)
                    .map(|(v, r)| self.typed(v, r.id(), r.decoder()))
                    .collect()
            }
            Backend::Remote(client) => {
                let ids: Vec<ObjectId> = refs.iter().map(|r| r.id()).collect();
                let bytes = client.get(ids, timeout)?;
                bytes
                    .iter()
                    .zip(refs)
                    .map(|(b, r)| {
                        let d = r.decoder().ok_or_else(|| {
                            RuntimeError::Unsupported(format!(
                                "{}: a value without serde cannot be read in a worker process",
                                r.id()
                            ))
                        })?;
                        self.decode_bytes(d, b, r.id())?
                            .downcast::<T>()
                            .map_err(|_| {
                                RuntimeError::TypeMismatch(r.id(), std::any::type_name::<T>())
                            })
                    })
                    .collect()
            }
        }
    }

    fn get_one<T: Send + Sync + 'static>(
        &self,
        r: &ObjectRef<T>,
        timeout: Option<Duration>,
    ) -> Result<Arc<T>, RuntimeError> {
        if let Backend::Local(core) = &self.backend {
            // The common case without a Vec.
            let v = core.get_value(r.id(), timeout)?;
            return self.typed(v, r.id(), r.decoder());
        }
        self.get_arcs(&[r], timeout)?
            .pop()
            .ok_or_else(|| RuntimeError::Protocol("no value".into()))
    }

    /// Blocks for the value, shared (no copy in the driver).
    ///
    /// Inside a task or actor method, a wait gives the task's resources back until the value
    /// is there (as every `get` and `wait` does), so tasks that wait for tasks never deadlock.
    pub fn get_arc<T: Send + Sync + 'static>(
        &self,
        r: &ObjectRef<T>,
    ) -> Result<Arc<T>, RuntimeError> {
        self.get_one(r, None)
    }

    /// Blocks for the value and clones it out of the store.
    pub fn get<T: Clone + Send + Sync + 'static>(
        &self,
        r: &ObjectRef<T>,
    ) -> Result<T, RuntimeError> {
        self.get_one(r, None).map(|a| (*a).clone())
    }

    /// Like `get`, giving up with `Timeout` after `timeout`.
    pub fn get_timeout<T: Clone + Send + Sync + 'static>(
        &self,
        r: &ObjectRef<T>,
        timeout: Duration,
    ) -> Result<T, RuntimeError> {
        self.get_one(r, Some(timeout)).map(|a| (*a).clone())
    }

    /// All values in the list's order, whatever order their tasks finish in; the first error wins.
    pub fn get_all<T: Clone + Send + Sync + 'static>(
        &self,
        refs: &[ObjectRef<T>],
    ) -> Result<Vec<T>, RuntimeError> {
        let refs: Vec<&ObjectRef<T>> = refs.iter().collect();
        self.get_arcs(&refs, None)
            .map(|v| v.into_iter().map(|a| (*a).clone()).collect())
    }

    /// Like `get_all`, sharing the values instead of cloning them.
    pub fn get_all_arc<T: Send + Sync + 'static>(
        &self,
        refs: &[ObjectRef<T>],
    ) -> Result<Vec<Arc<T>>, RuntimeError> {
        let refs: Vec<&ObjectRef<T>> = refs.iter().collect();
        self.get_arcs(&refs, None)
    }

    /// Splits `refs` into (ready, pending) once `num_returns` are ready or `timeout` passes;
    /// both keep the list's order. Failed objects count as ready (their `get` returns the error).
    pub fn wait<T>(
        &self,
        refs: &[ObjectRef<T>],
        num_returns: usize,
        timeout: Option<Duration>,
    ) -> (Vec<ObjectRef<T>>, Vec<ObjectRef<T>>) {
        let ids: Vec<ObjectId> = refs.iter().map(|r| r.id()).collect();
        let done = match &self.backend {
            Backend::Local(core) => {
                let deadline = timeout.map(|t| std::time::Instant::now() + t);
                core.wait_ids(&ids, num_returns, deadline, None)
            }
            // The driver is gone: everything is "done", and its `get` reports why.
            Backend::Remote(client) => client
                .wait(ids, num_returns, timeout)
                .unwrap_or_else(|_| vec![true; refs.len()]),
        };
        let mut ready = Vec::new();
        let mut pending = Vec::new();
        for (r, d) in refs.iter().zip(done) {
            if d && ready.len() < num_returns.max(1) {
                ready.push(r.clone());
            } else {
                pending.push(r.clone());
            }
        }
        (ready, pending)
    }

    /// The driver's core, for calls only the driver can answer.
    fn local(&self) -> Option<&Arc<Core>> {
        match &self.backend {
            Backend::Local(core) => Some(core),
            Backend::Remote(_) => None,
        }
    }

    /// The task table row of a task, while it is kept (see `RuntimeConfig::task_history`);
    /// `None` inside a worker process (the tables live in the driver).
    pub fn task_info(&self, id: TaskId) -> Option<TaskInfo> {
        let core = self.local()?;
        let node = core.node;
        core.tasks.lock(id).get(&id).map(|r| r.info(id, node))
    }

    /// Tasks matching the filter, oldest first (empty inside a worker process).
    pub fn tasks(&self, filter: &TaskFilter) -> Vec<TaskInfo> {
        let Some(core) = self.local() else {
            return Vec::new();
        };
        let node = core.node;
        let mut v: Vec<TaskInfo> = Vec::new();
        for shard in core.tasks.shards() {
            v.extend(
                shard
                    .lock()
                    .iter()
                    .filter(|(_, r)| filter.state.is_none_or(|st| r.state == st))
                    .filter(|(_, r)| {
                        filter
                            .function
                            .as_ref()
                            .is_none_or(|f| r.function.contains(f.as_str()))
                    })
                    .map(|(id, r)| r.info(*id, node)),
            );
        }
        v.sort_by_key(|t| t.task_id);
        v
    }

    /// The object table row of an object, while it exists (`None` inside a worker process).
    pub fn object_info(&self, id: ObjectId) -> Option<ObjectInfo> {
        let core = self.local()?;
        let node = core.node;
        core.with(|s, _| s.objects.get(&id).map(|e| object_row(node, id, e)))
    }

    /// Every object in the store, by id (empty inside a worker process).
    pub fn objects(&self) -> Vec<ObjectInfo> {
        let Some(core) = self.local() else {
            return Vec::new();
        };
        let node = core.node;
        // Copy the entries' small fields under the lock; the rows are built outside it.
        let mut v: Vec<ObjectInfo> = core.with(|s, _| {
            s.objects
                .iter()
                .map(|(id, e)| object_row(node, *id, e))
                .collect()
        });
        v.sort_by_key(|o| o.object_id);
        v
    }

    /// The actor table row of an actor (`None` inside a worker process).
    pub fn actor_info(&self, id: ActorId) -> Option<ActorRecord> {
        self.local()?.with(|s, _| s.actors.get(&id).cloned())
    }

    /// Every actor with its row, by id (empty inside a worker process).
    pub fn actors(&self) -> Vec<(ActorId, ActorRecord)> {
        let Some(core) = self.local() else {
            return Vec::new();
        };
        let mut v: Vec<(ActorId, ActorRecord)> =
            core.with(|s, _| s.actors.iter().map(|(id, a)| (*id, a.clone())).collect());
        v.sort_by_key(|(id, _)| *id);
        v
    }

    /// The nodes (places of work) with their resources (empty inside a worker process).
    pub fn nodes(&self) -> Vec<NodeInfo> {
        let Some(core) = self.local() else {
            return Vec::new();
        };
        let node = core.node;
        core.with(|s, _| s.nodes(node))
    }

    /// How long this runtime has run (the clock of every recorded time).
    pub fn uptime(&self) -> Option<std::time::Duration> {
        Some(self.local()?.epoch.elapsed())
    }

    /// The timeline's task attempts as typed records (empty inside a worker process).
    pub fn timeline_records(&self) -> Vec<TaskPhases> {
        match self.local() {
            Some(core) => core.timeline.records(),
            None => Vec::new(),
        }
    }

    /// Everything this node has.
    pub fn cluster_resources(&self) -> Resources {
        match &self.backend {
            Backend::Local(core) => core.total_resources(),
            Backend::Remote(client) => client.resources(false).unwrap_or_default(),
        }
    }

    /// What is free right now (tasks blocked in `get` have given theirs back).
    pub fn available_resources(&self) -> Resources {
        match &self.backend {
            Backend::Local(core) => core.with(|s, _| s.available()),
            Backend::Remote(client) => client.resources(true).unwrap_or_default(),
        }
    }

    /// The worker mode (inside a worker process: `Process`).
    pub fn isolation(&self) -> Isolation {
        match &self.backend {
            Backend::Local(core) => core.config.isolation,
            Backend::Remote(_) => Isolation::Process,
        }
    }

    /// Writes the timeline as Chrome trace JSON (load in chrome://tracing or Perfetto).
    pub fn timeline(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        match self.local() {
            Some(core) => core.timeline.write(core.node, path.as_ref()),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "the timeline is written by the driver",
            )),
        }
    }

    /// The timeline's events, as written by `timeline` (empty inside a worker process).
    pub fn timeline_events(&self) -> Vec<serde_json::Value> {
        match self.local() {
            Some(core) => core.timeline.events(core.node),
            None => Vec::new(),
        }
    }
}

/// An object's row from its store entry.
fn object_row(node: crate::ids::NodeId, id: ObjectId, e: &ObjectEntry) -> ObjectInfo {
    let location = match e.from_worker {
        Some(w) => format!("{node} driver object store (returned by worker process {w})"),
        None => format!("{node} driver object store (in memory)"),
    };
    ObjectInfo {
        object_id: id,
        size: e.size(),
        task: e.producer,
        location,
        is_put: e.is_put,
        status: match &e.state {
            ObjState::Pending => ObjectStatus::Pending,
            ObjState::Ready(_) => ObjectStatus::Ready,
            ObjState::Failed(err) => ObjectStatus::Failed(err.to_string()),
        },
        refs: e.refs,
        from_worker: e.from_worker,
        waiting_tasks: e.dependents.clone(),
    }
}
