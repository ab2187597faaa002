//! The user-facing API: start a runtime, submit tasks, put and get objects, create actors,
//! and look inside (task and object tables, resources, timeline).

use crate::actor::{ActorBuilder, ActorRecord};
use crate::error::{RuntimeError, TaskError};
use crate::ids::{ActorId, ObjectId, TaskId};
use crate::object_ref::ObjectRef;
use crate::object_store::{ObjState, ObjectInfo, ObjectStatus, SizeHint};
use crate::registry::{ActorClass, RemoteFn};
use crate::resources::Resources;
use crate::scheduler::Inner;
use crate::task::{
    arg_infos, ClosureBody, TaskBody, TaskFilter, TaskInfo, TaskRecord, TaskSpec, TaskState,
    CURRENT_TASK,
};
use crate::value::{ArgSlot, ArgTuple, Data, IntoArgs, Value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Where tasks and actors run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// Threads of the driver process: fastest, values never serialized.
    #[default]
    Thread,
    /// Worker processes on this machine: functions and actors must be registered, values serde.
    Process,
}

/// How to start a runtime (Ray's `init` arguments).
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Logical CPUs of this node (default: the machine's parallelism).
    pub num_cpus: f64,
    /// Logical GPUs of this node.
    pub num_gpus: f64,
    /// Custom named resources of this node.
    pub custom: BTreeMap<String, f64>,
    /// Threads (default) or worker processes.
    pub isolation: Isolation,
    /// Worker processes in process mode (default: `num_cpus` rounded up).
    pub num_worker_processes: Option<usize>,
    /// Record the timeline (default on; bounded per worker).
    pub timeline: bool,
    /// Timeline events kept per worker.
    pub timeline_capacity: usize,
    /// Finished tasks kept in the task table.
    pub task_history: usize,
    /// How long shutdown waits for running user code before leaving it behind.
    pub shutdown_timeout: Duration,
    /// The worker executable in process mode (default: this executable).
    pub worker_program: Option<std::path::PathBuf>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            num_cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1) as f64,
            num_gpus: 0.0,
            custom: BTreeMap::new(),
            isolation: Isolation::Thread,
            num_worker_processes: None,
            timeline: true,
            timeline_capacity: 100_000,
            task_history: 100_000,
            shutdown_timeout: Duration::from_secs(2),
            worker_program: None,
        }
    }
}

impl RuntimeConfig {
    /// Sets the CPUs.
    pub fn num_cpus(mut self, n: f64) -> Self {
        self.num_cpus = n;
        self
    }
    /// Sets the GPUs.
    pub fn num_gpus(mut self, n: f64) -> Self {
        self.num_gpus = n;
        self
    }
    /// Adds a custom resource.
    pub fn resource(mut self, name: &str, n: f64) -> Self {
        self.custom.insert(name.to_string(), n);
        self
    }
    /// Chooses threads or processes.
    pub fn isolation(mut self, i: Isolation) -> Self {
        self.isolation = i;
        self
    }
    /// Turns timeline recording on or off.
    pub fn timeline(mut self, on: bool) -> Self {
        self.timeline = on;
        self
    }
    fn total(&self) -> Resources {
        Resources {
            cpu: self.num_cpus,
            gpu: self.num_gpus,
            custom: self.custom.clone(),
        }
    }
}

/// The runtime, owned by the driver: dropping it shuts everything down (never hangs).
pub struct Runtime {
    handle: RuntimeHandle,
}

/// A cheap, cloneable, `Send + Sync` handle to a runtime, usable inside tasks and actors.
#[derive(Clone)]
pub struct RuntimeHandle {
    pub(crate) inner: Arc<Inner>,
}

impl Runtime {
    /// Starts a runtime in this process; nothing to launch first.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        crate::process_worker::check_worker_binary()?;
        let total = config.total();
        Ok(Runtime {
            handle: RuntimeHandle {
                inner: Inner::new(config, &total),
            },
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
        self.handle.inner.shutdown();
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
        self.handle.inner.shutdown();
    }
}

/// Options of one task before it is submitted.
pub struct TaskBuilder<R> {
    rt: RuntimeHandle,
    function: &'static str,
    body: Option<TaskBody>,
    args: Vec<ArgSlot>,
    resources: Resources,
    max_retries: u32,
    _r: std::marker::PhantomData<fn() -> R>,
}

impl<R> TaskBuilder<R> {
    /// What the task needs while it runs (default 1 CPU).
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
    /// Submits; an impossible resource request is an error here, never a hang.
    pub fn submit(mut self) -> Result<ObjectRef<R>, RuntimeError> {
        let inner = self.rt.inner.clone();
        let demand = inner.with(|s, _| {
            s.pool
                .demand(&self.resources)
                .map_err(|_| RuntimeError::Impossible {
                    requested: self.resources.clone(),
                    total: s.pool.total(),
                })
        })?;
        let tid = TaskId(inner.next_id());
        let oid = ObjectId(tid.0);
        let r = ObjectRef::new(oid, inner.release.clone());
        let record = TaskRecord {
            function: self.function,
            args: arg_infos(&self.args),
            state: TaskState::Scheduled,
            resources: std::mem::take(&mut self.resources),
            worker: None,
            worker_pid: None,
            parent: CURRENT_TASK.get(),
            actor: None,
            return_id: oid,
            submit: inner.now(),
            start: None,
            end: None,
            attempts: 0,
            error: None,
        };
        let spec = TaskSpec {
            id: tid,
            function: self.function,
            body: self.body.take().expect("submitted once"),
            args: std::mem::take(&mut self.args),
            demand,
            max_retries: self.max_retries,
            attempts: 0,
            return_id: oid,
            pending_deps: 0,
            dep_tasks: Vec::new(),
        };
        inner.with(|s, fx| s.submit(spec, record, fx));
        Ok(r)
    }
}

impl RuntimeHandle {
    fn builder<R>(
        &self,
        function: &'static str,
        body: TaskBody,
        args: Vec<ArgSlot>,
    ) -> TaskBuilder<R> {
        TaskBuilder {
            rt: self.clone(),
            function,
            body: Some(body),
            args,
            resources: Resources::cpus(1.0),
            max_retries: 3,
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
        self.builder(f.name(), TaskBody::Function(f), args.into_slots())
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
        let b = self.task(f, args);
        match b.submit() {
            Ok(r) => r,
            Err(e) => self.failed(e),
        }
    }

    /// A thread-mode-only task from a closure (no registration, no serde); `.submit()` it.
    pub fn closure_task<R, F>(&self, name: &'static str, f: F) -> TaskBuilder<R>
    where
        R: Send + Sync + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        let body: ClosureBody = Box::new(move |_| Ok(Arc::new(f()) as Value));
        let mut b = self.builder(name, TaskBody::Closure(body), Vec::new());
        if self.inner.config.isolation == Isolation::Process {
            b.body = Some(TaskBody::Closure(Box::new(move |_| {
                Err(TaskError::msg(format!(
                    "{name}: closure tasks need thread mode"
                )))
            })));
        }
        b
    }

    /// Submits a closure task with default options (thread mode).
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

    fn failed<R>(&self, e: RuntimeError) -> ObjectRef<R> {
        let inner = &self.inner;
        let oid = ObjectId(inner.next_id());
        let mut entry = crate::object_store::ObjectEntry::pending(TaskId(oid.0));
        entry.state = ObjState::Failed(Box::new(e));
        inner.with(|s, _| {
            s.objects.insert(oid, entry);
        });
        ObjectRef::new(oid, inner.release.clone())
    }

    /// Stores a value and returns its ref (no copy: the value is moved into the store).
    pub fn put<T: Send + Sync + 'static>(&self, v: T) -> ObjectRef<T> {
        let size = SizeHint::Known(std::mem::size_of::<T>());
        let oid = self.inner.put_value(Arc::new(v), size);
        ObjectRef::new(oid, self.inner.release.clone())
    }

    /// Stores a byte buffer; `object_info` reports its length.
    pub fn put_bytes(&self, v: Arc<Vec<u8>>) -> ObjectRef<Arc<Vec<u8>>> {
        let size = SizeHint::Known(v.len());
        let oid = self.inner.put_value(Arc::new(v), size);
        ObjectRef::new(oid, self.inner.release.clone())
    }

    /// Blocks for the value, shared (no copy).
    pub fn get_arc<T: Send + Sync + 'static>(
        &self,
        r: &ObjectRef<T>,
    ) -> Result<Arc<T>, RuntimeError> {
        let v = self.inner.get_value(r.id(), None)?;
        v.downcast::<T>()
            .map_err(|_| RuntimeError::TypeMismatch(r.id(), std::any::type_name::<T>()))
    }

    /// Blocks for the value and clones it out of the store.
    pub fn get<T: Clone + Send + Sync + 'static>(
        &self,
        r: &ObjectRef<T>,
    ) -> Result<T, RuntimeError> {
        self.get_arc(r).map(|a| (*a).clone())
    }

    /// Like `get`, giving up with `Timeout` after `timeout`.
    pub fn get_timeout<T: Clone + Send + Sync + 'static>(
        &self,
        r: &ObjectRef<T>,
        timeout: Duration,
    ) -> Result<T, RuntimeError> {
        let v = self.inner.get_value(r.id(), Some(timeout))?;
        v.downcast_ref::<T>()
            .cloned()
            .ok_or(RuntimeError::TypeMismatch(
                r.id(),
                std::any::type_name::<T>(),
            ))
    }

    /// All values in the list's order, whatever order their tasks finish in; the first error wins.
    pub fn get_all<T: Clone + Send + Sync + 'static>(
        &self,
        refs: &[ObjectRef<T>],
    ) -> Result<Vec<T>, RuntimeError> {
        let ids: Vec<ObjectId> = refs.iter().map(|r| r.id()).collect();
        let values = self.inner.get_values(&ids)?;
        values
            .iter()
            .zip(&ids)
            .map(|(v, id)| {
                v.downcast_ref::<T>()
                    .cloned()
                    .ok_or(RuntimeError::TypeMismatch(*id, std::any::type_name::<T>()))
            })
            .collect()
    }

    /// Like `get_all`, sharing the values instead of cloning them.
    pub fn get_all_arc<T: Send + Sync + 'static>(
        &self,
        refs: &[ObjectRef<T>],
    ) -> Result<Vec<Arc<T>>, RuntimeError> {
        let ids: Vec<ObjectId> = refs.iter().map(|r| r.id()).collect();
        let values = self.inner.get_values(&ids)?;
        values
            .into_iter()
            .zip(&ids)
            .map(|(v, id)| {
                v.downcast::<T>()
                    .map_err(|_| RuntimeError::TypeMismatch(*id, std::any::type_name::<T>()))
            })
            .collect()
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
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        let done = self.inner.wait_ids(&ids, num_returns, deadline);
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

    /// Creates an actor of a registered class (both modes); `.spawn()` it.
    pub fn actor<A, Args, X>(&self, class: &'static ActorClass<A, Args>, args: X) -> ActorBuilder<A>
    where
        A: Send + 'static,
        Args: ArgTuple,
        X: IntoArgs<Args>,
    {
        ActorBuilder::class(self.clone(), class, args.into_slots())
    }

    /// Creates an actor from a closure (thread mode): state needs only `Send + 'static`.
    pub fn actor_local<A, F>(&self, class: &'static str, ctor: F) -> ActorBuilder<A>
    where
        A: Send + 'static,
        F: FnOnce() -> A + Send + 'static,
    {
        ActorBuilder::closure(self.clone(), class, ctor)
    }

    /// The task table row of a task, while it is kept (see `RuntimeConfig::task_history`).
    pub fn task_info(&self, id: TaskId) -> Option<TaskInfo> {
        let node = self.inner.node;
        self.inner.tasks.lock(id).get(&id).map(|r| r.info(id, node))
    }

    /// Tasks matching the filter, oldest first.
    pub fn tasks(&self, filter: &TaskFilter) -> Vec<TaskInfo> {
        let node = self.inner.node;
        let mut v: Vec<TaskInfo> = Vec::new();
        for shard in self.inner.tasks.shards() {
            v.extend(
                shard
                    .lock()
                    .iter()
                    .filter(|(_, r)| filter.state.map_or(true, |st| r.state == st))
                    .filter(|(_, r)| {
                        filter
                            .function
                            .as_ref()
                            .map_or(true, |f| r.function.contains(f.as_str()))
                    })
                    .map(|(id, r)| r.info(*id, node)),
            );
        }
        v.sort_by_key(|t| t.task_id);
        v
    }

    /// The object table row of an object, while it exists.
    pub fn object_info(&self, id: ObjectId) -> Option<ObjectInfo> {
        let node = self.inner.node;
        let mode = self.inner.config.isolation;
        self.inner.with(|s, _| {
            s.objects.get(&id).map(|e| {
                let size = match (&e.size, &e.state) {
                    (SizeHint::Known(n), _) => Some(*n),
                    (SizeHint::Serialized(f), ObjState::Ready(v)) => f.result_size(v),
                    _ => None,
                };
                let location = match (mode, e.from_worker) {
                    (Isolation::Process, Some(w)) => {
                        format!("{node} driver object store (returned by worker process {w})")
                    }
                    _ => format!("{node} driver object store (in memory)"),
                };
                ObjectInfo {
                    object_id: id,
                    size,
                    task: e.producer,
                    location,
                    is_put: e.is_put,
                    status: match &e.state {
                        ObjState::Pending => ObjectStatus::Pending,
                        ObjState::Ready(_) => ObjectStatus::Ready,
                        ObjState::Failed(err) => ObjectStatus::Failed(err.to_string()),
                    },
                }
            })
        })
    }

    /// The actor table row of an actor.
    pub fn actor_info(&self, id: ActorId) -> Option<ActorRecord> {
        self.inner.with(|s, _| s.actors.get(&id).cloned())
    }

    /// Everything this node has.
    pub fn cluster_resources(&self) -> Resources {
        self.inner.with(|s, _| s.pool.total())
    }

    /// What is free right now.
    pub fn available_resources(&self) -> Resources {
        self.inner.with(|s, _| s.pool.available())
    }

    /// The worker mode.
    pub fn isolation(&self) -> Isolation {
        self.inner.config.isolation
    }

    /// Writes the timeline as Chrome trace JSON (load in chrome://tracing or Perfetto).
    pub fn timeline(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        self.inner.timeline.write(self.inner.node, path.as_ref())
    }

    /// The timeline's events, as written by `timeline`.
    pub fn timeline_events(&self) -> Vec<serde_json::Value> {
        self.inner.timeline.events(self.inner.node)
    }
}
