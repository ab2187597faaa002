//! The driver's core: the scheduler's state behind one lock, the one `Executor` that says where
//! work runs, and the operations every `RuntimeHandle` asks for (submit, put, get, wait,
//! actors), whether the handle lives in the driver or talks to it from a worker process.
//!
//! The scheduler knows where work runs only through [`Executor`]: the driver's threads, local
//! worker processes, and (later) remote nodes each implement it, and the runtime picks one at
//! `Runtime::new`. Executors sit above this module and call back into it.

use crate::actor_spec::{
    ActorCall, ActorCtor, ActorMailbox, ActorRecord, ActorStart, ActorStatus, CallBody,
};
use crate::args::ArgSlot;
use crate::config::RuntimeConfig;
use crate::error::RuntimeError;
use crate::ids::{ActorId, IdMap, NodeId, ObjectId, TaskId, WorkerId};
use crate::object_ref::{ErasedRef, RefSerde, RefToken, ReleaseQueue};
use crate::object_store::{ObjState, ObjectEntry, Waiter};
use crate::resources::{Demand, ResourcePool, Resources};
use crate::scheduler::{Effects, Place, State, WorkerMsg};
use crate::task::{arg_infos, TaskBody, TaskRecord, TaskSpec, TaskState, Tasks};
use crate::timeline::Timeline;
use crate::value::{Codec, Value};
use crossbeam::channel::unbounded;
use parking_lot::Mutex;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where work runs: one implementation per place (driver threads, worker processes, remote
/// nodes). The core calls it for the effects the scheduler asks for, outside its lock.
pub(crate) trait Executor: Send + Sync {
    /// The place in words, for logs and errors.
    fn name(&self) -> &'static str;
    /// Whether closures can run here (they cannot leave the driver's memory).
    fn runs_closures(&self) -> bool;
    /// Task workers to keep when none is blocked (more start while workers are blocked).
    fn max_workers(&self) -> usize;
    /// Starts one task worker at `place` (this executor's index in the scheduler's places),
    /// which registers with the scheduler (`State::worker_started`) or reports that it could
    /// not start (`State::spawn_failed`).
    fn spawn_worker(&self, core: &Arc<Core>, place: usize);
    /// Starts an actor whose placement resources were granted here (`spec.demand.place`).
    fn start_actor(&self, core: &Arc<Core>, spec: TaskSpec);
    /// Stops what this executor started outside the scheduler's tables (worker processes).
    fn shutdown(&self, core: &Arc<Core>);
}

/// How often a wait on behalf of a worker process checks that the process is still there.
const ALIVE_POLL: Duration = Duration::from_millis(50);

/// The shared core every local handle points to.
pub(crate) struct Core {
    pub config: RuntimeConfig,
    pub state: Mutex<State>,
    pub tasks: Arc<Tasks>,
    pub release: Arc<ReleaseQueue>,
    next_id: AtomicU64,
    pub node: NodeId,
    pub epoch: Instant,
    pub timeline: Timeline,
    shutdown: AtomicBool,
    /// The runtime's resource table (names shared by every place, unbounded totals): requests
    /// are converted against it without taking the lock; whether some place can ever grant
    /// one is checked under the lock at submission.
    shape: ResourcePool,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Live actors by id: calls from worker processes find their mailbox here, and shutdown
    /// stops them. Weak, so an actor still stops when its last handle drops.
    directory: Mutex<IdMap<ActorId, Weak<ActorMailbox>>>,
    /// One executor per place, in the order of `State::places`; place 0 is this process's.
    executors: parking_lot::RwLock<Vec<Arc<dyn Executor>>>,
}

thread_local! {
    /// The core whose worker (thread or process proxy) this thread is, and what the task or
    /// actor it runs holds: a `get`/`wait` that must wait gives that back meanwhile.
    static BLOCK_CTX: RefCell<Option<BlockCtx>> = const { RefCell::new(None) };
    /// The core of a worker or actor thread, for `runtime::current()`.
    static THREAD_CORE: RefCell<Weak<Core>> = const { RefCell::new(Weak::new()) };
}

struct BlockCtx {
    core: *const Core,
    demand: Demand,
    /// False once a wait was abandoned because the worker process died: the resources were
    /// given back and not taken again.
    holding: bool,
}

/// Marks this thread as running a task (or actor) of `core` that holds `demand`.
pub(crate) fn enter_task(core: &Arc<Core>, demand: Demand) {
    BLOCK_CTX.with(|c| {
        *c.borrow_mut() = Some(BlockCtx {
            core: Arc::as_ptr(core),
            demand,
            holding: true,
        })
    });
}

/// Ends `enter_task`: what the task holds now (nothing if it died while blocked).
pub(crate) fn leave_task() -> Demand {
    BLOCK_CTX
        .with(|c| c.borrow_mut().take())
        .filter(|b| b.holding)
        .map_or_else(Demand::none, |b| b.demand)
}

/// Takes back what an abandoned wait gave up (an actor whose process was replaced goes on
/// holding its resources); waits for them like any resuming worker.
pub(crate) fn reacquire(core: &Arc<Core>) {
    let me = Arc::as_ptr(core);
    let demand = BLOCK_CTX.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|b| std::ptr::eq(b.core, me) && !b.holding)
            .map(|b| b.demand.clone())
    });
    if let Some(d) = demand {
        // Counted as blocked while it waits, like a worker resuming from `get`.
        core.with(|s, fx| s.block(&Demand::none(), fx));
        resume(core, &d);
        BLOCK_CTX.with(|c| {
            if let Some(b) = c.borrow_mut().as_mut() {
                b.holding = true;
            }
        });
    }
}

/// Takes `d` back for a blocked worker, waiting behind earlier resumers if it must.
fn resume(core: &Arc<Core>, d: &Demand) {
    let w = Waiter::new();
    if !core.with(|s, _| s.resume(d, &w)) {
        while !w.wait(None) {}
    }
}

/// Makes this thread a worker of `core` for `runtime::current()`.
pub(crate) fn set_thread_core(core: &Arc<Core>) {
    THREAD_CORE.with(|c| *c.borrow_mut() = Arc::downgrade(core));
}

/// The core this thread works for, if it is a worker or actor thread.
pub(crate) fn thread_core() -> Option<Arc<Core>> {
    THREAD_CORE.with(|c| c.borrow().upgrade())
}

/// A wait in `get`/`wait`: if this thread runs a task of the core, the task's resources go back
/// to the pool the first time it must actually wait, and are taken back when the wait ends.
struct Blocking<'a> {
    core: &'a Arc<Core>,
    checked: bool,
    held: Option<Demand>,
    /// The worker process this wait was for died: give up without taking resources back.
    abandoned: bool,
}

impl<'a> Blocking<'a> {
    fn new(core: &'a Arc<Core>) -> Self {
        Blocking {
            core,
            checked: false,
            held: None,
            abandoned: false,
        }
    }

    fn enter(&mut self) {
        if self.checked {
            return;
        }
        self.checked = true;
        let me = Arc::as_ptr(self.core);
        let demand = BLOCK_CTX.with(|c| {
            c.borrow()
                .as_ref()
                .filter(|b| std::ptr::eq(b.core, me) && b.holding)
                .map(|b| b.demand.clone())
        });
        if let Some(d) = demand {
            self.core.with(|s, fx| s.block(&d, fx));
            self.held = Some(d);
        }
    }
}

impl Drop for Blocking<'_> {
    fn drop(&mut self) {
        let Some(d) = self.held.take() else {
            return;
        };
        if self.abandoned {
            self.core.with(|s, _| s.abandon_block(&d));
            BLOCK_CTX.with(|c| {
                if let Some(b) = c.borrow_mut().as_mut() {
                    b.holding = false;
                }
            });
        } else {
            resume(self.core, &d);
        }
    }
}

impl Core {
    /// A core with everything in `config` at place 0, running work there through
    /// `executor`; `names` is the resource table every place shares (custom resources of
    /// the places added later that are not in it are left out).
    pub fn new(
        config: RuntimeConfig,
        executor: Arc<dyn Executor>,
        mut names: Vec<String>,
        node: NodeId,
    ) -> Arc<Self> {
        let epoch = Instant::now();
        let tasks = Arc::new(Tasks::new(config.task_history, epoch));
        // A driver joined to a cluster is not a node: it offers nothing of its own.
        let total = if config.address.is_some() {
            Resources::none()
        } else {
            config.total()
        };
        for n in total.custom.keys() {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        let pool = ResourcePool::with_names(names, &total);
        let shape = pool.unbounded_shape();
        let local = Place::new(pool, executor.max_workers(), executor.runs_closures());
        let state = State::new(epoch, tasks.clone(), local);
        Arc::new(Core {
            timeline: Timeline::new(config.timeline, config.timeline_capacity),
            config,
            state: Mutex::new(state),
            tasks,
            release: Arc::new(ReleaseQueue::new()),
            next_id: AtomicU64::new(1),
            node,
            epoch,
            shutdown: AtomicBool::new(false),
            shape,
            threads: Mutex::new(Vec::new()),
            directory: Mutex::new(IdMap::default()),
            executors: parking_lot::RwLock::new(vec![executor]),
        })
    }

    /// Adds a place (a node of the cluster) with `total` resources, run by `executor`; its
    /// index.
    pub fn add_place(self: &Arc<Self>, total: &Resources, executor: Arc<dyn Executor>) -> usize {
        let pool = ResourcePool::with_names(self.shape.names().to_vec(), total);
        let place = Place::new(pool, executor.max_workers(), executor.runs_closures());
        // The executor goes in first: dispatch may start work at the new place at once.
        let mut executors = self.executors.write();
        executors.push(executor);
        let n = executors.len();
        drop(executors);
        let i = self.with(|s, fx| s.add_place(place, fx));
        debug_assert_eq!(i + 1, n);
        i
    }

    /// A place's node was declared dead: nothing more goes there.
    pub fn place_died(self: &Arc<Self>, place: usize) {
        self.with(|s, fx| s.place_died(place, fx));
    }

    fn executor(&self, place: usize) -> Arc<dyn Executor> {
        self.executors.read()[place].clone()
    }

    /// Whether this process's own executor runs closures (they never leave it).
    fn local_runs_closures(&self) -> bool {
        self.executors.read()[0].runs_closures()
    }

    fn local_name(&self) -> &'static str {
        self.executors.read()[0].name()
    }

    fn next_counter(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh task id; its return object has the same number.
    pub fn task_id(&self) -> TaskId {
        TaskId::new(self.node, self.next_counter())
    }

    /// A fresh worker id.
    pub fn worker_id(&self) -> WorkerId {
        WorkerId::new(self.node, self.next_counter())
    }

    fn object_id(&self) -> ObjectId {
        ObjectId::new(self.node, self.next_counter())
    }

    pub fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    pub fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Runs `f` under the lock, then applies its effects without it.
    pub fn with<R>(self: &Arc<Self>, f: impl FnOnce(&mut State, &mut Effects) -> R) -> R {
        let mut fx = Effects::default();
        let r = {
            let mut s = self.state.lock();
            s.gc(&self.release, &mut fx);
            f(&mut s, &mut fx)
        };
        self.apply(fx);
        r
    }

    fn apply(self: &Arc<Self>, fx: Effects) {
        for w in fx.wake {
            w.notify();
        }
        for (tx, msg) in fx.send {
            if let Err(e) = tx.send(msg) {
                // The worker is gone (shutdown or a dead process proxy): treat as a lost attempt.
                if let WorkerMsg::Run(spec) = e.into_inner() {
                    self.with(|s, fx| s.retry(spec, fx));
                }
            }
        }
        for place in fx.spawn_workers {
            self.executor(place).spawn_worker(self, place);
        }
        for spec in fx.start_actors {
            self.executor(spec.demand.place as usize)
                .start_actor(self, spec);
        }
        drop(fx.garbage);
    }

    /// Keeps a worker or actor thread to join at shutdown.
    pub fn register_thread(&self, h: JoinHandle<()>) {
        let mut t = self.threads.lock();
        t.retain(|h| !h.is_finished());
        t.push(h);
    }

    /// A token for a freshly created object (its entry already counts one ref).
    pub fn new_token(&self, id: ObjectId) -> ErasedRef {
        RefToken::tracked(id, self.release.clone())
    }

    /// One more counted ref to an existing object; `None` if it is gone.
    pub fn add_ref(self: &Arc<Self>, id: ObjectId) -> Option<ErasedRef> {
        self.with(|s, _| s.add_ref(id)).then(|| self.new_token(id))
    }

    /// What `resources` means in the runtime's table, or why it can never be granted (a
    /// resource no place has).
    fn demand(self: &Arc<Self>, r: &Resources) -> Result<Demand, RuntimeError> {
        self.shape.demand(r).map_err(|_| RuntimeError::Impossible {
            requested: r.clone(),
            total: self.total_resources(),
        })
    }

    /// Everything the live places have.
    pub fn total_resources(self: &Arc<Self>) -> Resources {
        self.with(|s, _| s.total())
    }

    /// Submits a task; its return object (one ref, the caller's) or why it cannot run.
    pub fn submit_task(
        self: &Arc<Self>,
        function: &'static str,
        body: TaskBody,
        args: Vec<ArgSlot>,
        resources: Resources,
        max_retries: u32,
        parent: Option<TaskId>,
    ) -> Result<ObjectId, RuntimeError> {
        if matches!(body, TaskBody::Closure(_)) && !self.local_runs_closures() {
            return Err(RuntimeError::Unsupported(format!(
                "{function}: closure tasks need thread mode ({} cannot run closures); register a RemoteFn",
                self.local_name()
            )));
        }
        let demand = self.demand(&resources)?;
        let tid = self.task_id();
        let oid = tid.return_object();
        let record = TaskRecord {
            function,
            args: arg_infos(&args),
            state: TaskState::Scheduled,
            resources,
            worker: None,
            worker_pid: None,
            parent,
            actor: None,
            actor_call: None,
            return_id: oid,
            submit: self.now(),
            start: None,
            end: None,
            attempts: 0,
            error: None,
        };
        let spec = TaskSpec {
            id: tid,
            function,
            body,
            args,
            demand,
            max_retries,
            attempts: 0,
            return_id: oid,
            pending_deps: 0,
            dep_tasks: Vec::new(),
        };
        self.with(|s, fx| s.submit(spec, record, fx))?;
        Ok(oid)
    }

    /// An object holding `e` (one ref, the caller's).
    pub fn failed_object(self: &Arc<Self>, e: RuntimeError) -> ObjectId {
        let oid = self.object_id();
        let mut entry = ObjectEntry::pending(None, None);
        entry.state = ObjState::Failed(Box::new(e));
        self.with(|s, _| {
            s.objects.insert(oid, entry);
        });
        oid
    }

    /// Stores a value (one ref, the caller's).
    pub fn put_value(
        self: &Arc<Self>,
        v: Value,
        codec: Option<&'static dyn Codec>,
        size: Option<usize>,
    ) -> ObjectId {
        let oid = self.object_id();
        let mut e = ObjectEntry::pending(None, codec);
        e.is_put = true;
        e.size = size;
        e.state = if self.is_shutdown() {
            ObjState::Failed(Box::new(RuntimeError::Shutdown))
        } else {
            ObjState::Ready(v)
        };
        self.with(|s, _| {
            s.objects.insert(oid, e);
        });
        oid
    }

    /// Blocks until the object is ready or failed, or the deadline passes.
    pub fn get_value(
        self: &Arc<Self>,
        oid: ObjectId,
        timeout: Option<Duration>,
    ) -> Result<Value, RuntimeError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut blocking = Blocking::new(self);
        self.wait_one(oid, deadline, timeout, &mut blocking, None)
    }

    fn wait_one(
        self: &Arc<Self>,
        oid: ObjectId,
        deadline: Option<Instant>,
        timeout: Option<Duration>,
        blocking: &mut Blocking<'_>,
        alive: Option<&dyn Fn() -> bool>,
    ) -> Result<Value, RuntimeError> {
        let mut waiter: Option<Arc<Waiter>> = None;
        loop {
            let r = self.with(|s, _| match s.objects.get_mut(&oid) {
                None => Some(Err(RuntimeError::ObjectLost(
                    oid,
                    "unknown or already freed".into(),
                ))),
                Some(e) => match &e.state {
                    ObjState::Ready(v) => Some(Ok(v.clone())),
                    ObjState::Failed(err) => Some(Err((**err).clone())),
                    ObjState::Pending => {
                        if waiter.is_none() {
                            let w = Waiter::new();
                            e.waiters.push(w.clone());
                            waiter = Some(w);
                        }
                        None
                    }
                },
            });
            if let Some(r) = r {
                return r;
            }
            blocking.enter();
            let Some(w) = waiter.as_ref() else {
                return Err(RuntimeError::Shutdown);
            };
            let until = match alive {
                Some(_) => {
                    let poll = Instant::now() + ALIVE_POLL;
                    Some(deadline.map_or(poll, |d| d.min(poll)))
                }
                None => deadline,
            };
            if !w.wait(until) {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(RuntimeError::Timeout(timeout.unwrap_or_default()));
                }
                if alive.is_some_and(|a| !a()) {
                    blocking.abandoned = true;
                    return Err(RuntimeError::Protocol("worker process died".into()));
                }
                continue;
            }
            if let Some(r) = w.take() {
                return r;
            }
        }
    }

    /// Values of all `oids` in order, taking the lock once per run of ready objects; the first
    /// error in list order wins. `alive` (for waits on behalf of a worker process) is polled
    /// while waiting; when it turns false the wait ends with an error.
    pub fn get_values(
        self: &Arc<Self>,
        oids: &[ObjectId],
        timeout: Option<Duration>,
        alive: Option<&dyn Fn() -> bool>,
    ) -> Result<Vec<Value>, RuntimeError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut blocking = Blocking::new(self);
        let mut out = Vec::with_capacity(oids.len());
        while out.len() < oids.len() {
            let blocked = self.with(|s, _| {
                for oid in &oids[out.len()..] {
                    match s.objects.get(oid).map(|e| &e.state) {
                        Some(ObjState::Ready(v)) => out.push(v.clone()),
                        Some(ObjState::Failed(e)) => return Err((**e).clone()),
                        Some(ObjState::Pending) => return Ok(Some(*oid)),
                        None => {
                            return Err(RuntimeError::ObjectLost(
                                *oid,
                                "unknown or already freed".into(),
                            ))
                        }
                    }
                }
                Ok(None)
            })?;
            if let Some(oid) = blocked {
                out.push(self.wait_one(oid, deadline, timeout, &mut blocking, alive)?);
            }
        }
        Ok(out)
    }

    /// Which of `oids` are done (ready or failed); waits until `k` are or the deadline passes.
    pub fn wait_ids(
        self: &Arc<Self>,
        oids: &[ObjectId],
        k: usize,
        deadline: Option<Instant>,
        alive: Option<&dyn Fn() -> bool>,
    ) -> Vec<bool> {
        let k = k.min(oids.len());
        let waiter = Waiter::new();
        let mut registered = false;
        let mut blocking = Blocking::new(self);
        loop {
            let done = self.with(|s, _| {
                let done: Vec<bool> = oids
                    .iter()
                    .map(|o| {
                        s.objects
                            .get(o)
                            .is_none_or(|e| !matches!(e.state, ObjState::Pending))
                    })
                    .collect();
                if done.iter().filter(|d| **d).count() < k && !registered {
                    for o in oids {
                        if let Some(e) = s.objects.get_mut(o) {
                            if matches!(e.state, ObjState::Pending) {
                                e.waiters.push(waiter.clone());
                            }
                        }
                    }
                    registered = true;
                }
                done
            });
            if done.iter().filter(|d| **d).count() >= k {
                return done;
            }
            blocking.enter();
            let until = match alive {
                Some(_) => {
                    let poll = Instant::now() + ALIVE_POLL;
                    Some(deadline.map_or(poll, |d| d.min(poll)))
                }
                None => deadline,
            };
            if !waiter.wait(until) {
                if alive.is_some_and(|a| !a()) {
                    blocking.abandoned = true;
                    return done;
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return done;
                }
            }
        }
    }

    /// Creates an actor: its mailbox, its table row, and the creation task that places it.
    /// `resources: None` is Ray's default: 1 CPU to be placed, nothing held while alive.
    #[allow(clippy::too_many_arguments)]
    pub fn create_actor(
        self: &Arc<Self>,
        class: &'static str,
        ctor: ActorCtor,
        args: Vec<ArgSlot>,
        resources: Option<Resources>,
        max_restarts: u32,
        parent: Option<TaskId>,
    ) -> Result<(ActorId, ObjectId, Arc<ActorMailbox>), RuntimeError> {
        if self.is_shutdown() {
            return Err(RuntimeError::Shutdown);
        }
        if matches!(ctor, ActorCtor::Closure(_)) && !self.local_runs_closures() {
            return Err(RuntimeError::Unsupported(format!(
                "{class}: closure actors need thread mode ({} cannot run closures); declare an ActorClass",
                self.local_name()
            )));
        }
        let placement = resources.clone().unwrap_or_else(|| Resources::cpus(1.0));
        let demand = self.demand(&placement)?;
        let held = match &resources {
            Some(r) => self.demand(r)?,
            None => Demand::none(),
        };
        let actor_id = ActorId::new(self.node, self.next_counter());
        let (tx, rx) = unbounded();
        let mailbox = Arc::new(ActorMailbox::new(actor_id, class, tx));
        let start = ActorStart {
            actor_id,
            class,
            ctor,
            mailbox: rx,
            max_restarts,
            held,
            dead: None,
            restarts: 0,
        };
        let (oid, spec, record) = self.actor_creation(start, args, demand, placement, parent);
        {
            let mut d = self.directory.lock();
            if d.len() >= 64 && d.len().is_power_of_two() {
                d.retain(|_, m| m.strong_count() > 0);
            }
            d.insert(actor_id, Arc::downgrade(&mailbox));
        }
        self.with(|s, fx| {
            s.submit(spec, record, fx)?;
            s.actors.insert(
                actor_id,
                ActorRecord {
                    class,
                    status: ActorStatus::Pending,
                    worker: None,
                    pid: None,
                    restarts: 0,
                },
            );
            Ok::<(), RuntimeError>(())
        })
        .inspect_err(|_| {
            self.directory.lock().remove(&actor_id);
        })?;
        Ok((actor_id, oid, mailbox))
    }

    /// The creation task that places an actor: its return object (`ready()`), spec and row.
    fn actor_creation(
        &self,
        start: ActorStart,
        args: Vec<ArgSlot>,
        demand: Demand,
        resources: Resources,
        parent: Option<TaskId>,
    ) -> (ObjectId, TaskSpec, TaskRecord) {
        let (actor_id, class) = (start.actor_id, start.class);
        let tid = self.task_id();
        let oid = tid.return_object();
        let record = TaskRecord {
            function: class,
            args: arg_infos(&args),
            state: TaskState::Scheduled,
            resources,
            worker: None,
            worker_pid: None,
            parent,
            actor: Some(actor_id),
            actor_call: None,
            return_id: oid,
            submit: self.now(),
            start: None,
            end: None,
            attempts: 0,
            error: None,
        };
        let spec = TaskSpec {
            id: tid,
            function: class,
            body: TaskBody::ActorCreation(Box::new(start)),
            args,
            demand,
            max_retries: 0,
            attempts: 0,
            return_id: oid,
            pending_deps: 0,
            dep_tasks: Vec::new(),
        };
        (oid, spec, record)
    }

    /// Places an actor again (its node died): a new creation task with the same actor id,
    /// mailbox and constructor arguments goes through the scheduler to a live place. If no
    /// live place can ever hold it, the actor is dead.
    pub fn relocate_actor(
        self: &Arc<Self>,
        start: ActorStart,
        args: Vec<ArgSlot>,
        mut placement: Demand,
        resources: Resources,
    ) {
        let (actor_id, restarts) = (start.actor_id, start.restarts);
        placement.place = 0;
        let (oid, spec, record) = self.actor_creation(start, args, placement, resources, None);
        self.with(|s, fx| {
            if let Some(a) = s.actors.get_mut(&actor_id) {
                a.status = ActorStatus::Restarting;
                a.restarts = restarts;
            }
            match s.submit(spec, record, fx) {
                Ok(()) => {
                    // Nobody holds this creation's `ready()` object: freed once stored.
                    if let Some(e) = s.objects.get_mut(&oid) {
                        e.refs = 0;
                        e.released = true;
                    }
                }
                Err(e) => {
                    if let Some(a) = s.actors.get_mut(&actor_id) {
                        a.status = ActorStatus::Dead(format!("no live node can hold it: {e}"));
                    }
                }
            }
        });
    }

    /// A live actor's mailbox, for calls that arrive by id (from worker processes).
    pub fn actor_mailbox(&self, id: ActorId) -> Option<Arc<ActorMailbox>> {
        self.directory.lock().get(&id).and_then(Weak::upgrade)
    }

    /// Queues a call on an actor; its return object (one ref, the caller's).
    pub fn submit_actor_call(
        self: &Arc<Self>,
        mailbox: &ActorMailbox,
        method: &'static str,
        args: Vec<ArgSlot>,
        body: CallBody,
        codec: Option<&'static dyn Codec>,
        parent: Option<TaskId>,
    ) -> ObjectId {
        let tid = self.task_id();
        let oid = tid.return_object();
        let record = TaskRecord {
            function: method,
            args: arg_infos(&args),
            state: TaskState::Scheduled,
            resources: Resources::none(),
            worker: None,
            worker_pid: None,
            parent,
            actor: Some(mailbox.id),
            actor_call: Some(mailbox.next_call()),
            return_id: oid,
            submit: self.now(),
            start: None,
            end: None,
            attempts: 0,
            error: None,
        };
        self.tasks.lock(tid).insert(tid, record);
        self.with(|s, _| s.submit_actor_call(tid, oid, codec));
        if matches!(body, CallBody::Closure(_)) && !self.local_runs_closures() {
            let err = RuntimeError::Unsupported(format!(
                "{method}: closure calls need thread mode ({} cannot run closures); register an ActorMethod",
                self.local_name()
            ));
            self.with(|s, fx| s.store_and_dispatch(oid, Err(err), fx));
            return oid;
        }
        let call = ActorCall {
            task_id: tid,
            return_id: oid,
            method,
            args,
            body,
        };
        if !mailbox.send(call) {
            let err = RuntimeError::ActorDied {
                class: mailbox.class.to_string(),
                actor_id: mailbox.id,
                message: "actor stopped".into(),
            };
            self.with(|s, fx| s.store_and_dispatch(oid, Err(err), fx));
        }
        oid
    }

    /// Marks a task done in the task table; done before the value is stored so anyone woken by
    /// the value already sees the task finished.
    pub fn record_finish(
        &self,
        tid: TaskId,
        start: Option<u64>,
        result: &Result<Value, RuntimeError>,
        worker: Option<(WorkerId, Option<u32>)>,
    ) {
        self.tasks
            .lock(tid)
            .finish(tid, start, result.as_ref().map(|_| ()), worker);
    }

    /// `record_finish` with the end time already read (a task's own end-of-execution time).
    pub fn record_finish_at(&self, tid: TaskId, result: &Result<Value, RuntimeError>, end: u64) {
        self.tasks
            .lock(tid)
            .finish_at(tid, None, result.as_ref().map(|_| ()), None, end);
    }

    /// Stops workers and actors, fails pending objects, kills worker processes; never hangs.
    pub fn shutdown(self: &Arc<Self>) {
        if self.shutdown.swap(true, Ordering::AcqRel) {
            return;
        }
        let actors: Vec<Arc<ActorMailbox>> = self
            .directory
            .lock()
            .drain()
            .filter_map(|(_, w)| w.upgrade())
            .collect();
        self.with(|s, fx| {
            s.shutdown = true;
            s.fail_all(fx);
            s.stop_workers();
            for (_, a) in s.actors.iter_mut() {
                if !matches!(a.status, ActorStatus::Dead(_)) {
                    a.status = ActorStatus::Dead("runtime shut down".into());
                }
            }
        });
        for a in &actors {
            a.stop();
        }
        drop(actors);
        let executors: Vec<Arc<dyn Executor>> = self.executors.read().clone();
        for e in executors {
            e.shutdown(self);
        }
        let deadline = Instant::now() + self.config.shutdown_timeout;
        let handles: Vec<JoinHandle<()>> = self.threads.lock().drain(..).collect();
        for h in handles {
            while !h.is_finished() && Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            if h.is_finished() {
                let _ = h.join();
            }
            // A thread still running user code past the deadline is left detached, not joined.
        }
        // Values may hold actor handles, which hold this core: drop them to break the cycle.
        let mut values = Vec::new();
        for e in self.state.lock().objects.values_mut() {
            if let ObjState::Ready(v) = std::mem::replace(
                &mut e.state,
                ObjState::Failed(Box::new(RuntimeError::Shutdown)),
            ) {
                values.push(v);
            }
        }
        drop(values);
    }
}

/// Refs read from bytes in the driver (a worker process's result) are counted here.
impl RefSerde for Core {
    fn serialize_ref(&self, _id: ObjectId) {}
    fn deserialize_ref(&self, id: ObjectId) -> Arc<RefToken> {
        // No `gc` here (it may drop values, which must not happen under the lock): a release
        // still queued for this id is counted down at the next operation, after this +1.
        let counted = self.state.lock().add_ref(id);
        if counted {
            self.new_token(id)
        } else {
            RefToken::untracked(id)
        }
    }
}
