//! The control plane: one lock over the object table, task table and resource pool.
//!
//! Everything that changes scheduling state happens inside `Inner::with`; side effects that may
//! block or run user code (waking threads, sending to workers, spawning, dropping values) are
//! collected in `Effects` and applied after the lock is released.

use crate::actor::{ActorRecord, ActorShared, ActorStatus};
use crate::error::RuntimeError;
use crate::ids::{ActorId, IdMap, NodeId, ObjectId, TaskId, WorkerId};
use crate::object_ref::{erased_id, ReleaseQueue};
use crate::object_store::{ObjState, ObjectEntry, SizeHint, Waiter};
use crate::resources::{Demand, ResourcePool};
use crate::runtime::{Isolation, RuntimeConfig};
use crate::task::{TaskBody, TaskRecord, TaskSpec, TaskState, Tasks};
use crate::timeline::Timeline;
use crate::timeline::{TaskEvent, WorkerTimeline};
use crate::value::{ArgSlot, Value};
use crossbeam::channel::Sender;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How far down the ready queue dispatch looks for a task that fits, so one large request
/// does not block small ones behind it (and a huge queue does not make dispatch quadratic).
const SCAN_LIMIT: usize = 256;

/// A message to a task worker (a thread, or the driver-side proxy of a worker process).
pub(crate) enum WorkerMsg {
    Run(TaskSpec),
    Stop,
}

pub(crate) struct WorkerSlot {
    pub tx: Sender<WorkerMsg>,
    pub pid: Option<u32>,
}

/// Things to drop outside the lock: they may run user destructors.
pub(crate) enum Garbage {
    Value(#[allow(dead_code)] Value),
    Spec(#[allow(dead_code)] TaskSpec),
}

#[derive(Default)]
pub(crate) struct Effects {
    pub wake: Vec<Arc<Waiter>>,
    pub send: Vec<(Sender<WorkerMsg>, WorkerMsg)>,
    pub spawn_workers: usize,
    pub start_actors: Vec<TaskSpec>,
    pub garbage: Vec<Garbage>,
}

pub(crate) struct State {
    pub epoch: Instant,
    pub objects: IdMap<ObjectId, ObjectEntry>,
    pub tasks: Arc<Tasks>,
    pub waiting: IdMap<TaskId, TaskSpec>,
    pub ready: VecDeque<TaskSpec>,
    pub pool: ResourcePool,
    pub idle: Vec<WorkerId>,
    pub workers: IdMap<WorkerId, WorkerSlot>,
    pub spawning: usize,
    /// Worker processes that failed to start in a row.
    pub spawn_failures: u32,
    max_workers: usize,
    pub actors: IdMap<ActorId, ActorRecord>,
    pub shutdown: bool,
    /// The clock reading of the last `start`, so a worker handed its next task in the same
    /// critical section can end its timeline event there instead of reading the clock again.
    pub last_start: u64,
}

impl State {
    pub fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn gc(&mut self, q: &ReleaseQueue, fx: &mut Effects) {
        while let Some(id) = q.pop() {
            if let Some(e) = self.objects.get_mut(&id) {
                if matches!(e.state, ObjState::Pending) {
                    e.released = true;
                } else if let Some(e) = self.objects.remove(&id) {
                    if let ObjState::Ready(v) = e.state {
                        fx.garbage.push(Garbage::Value(v));
                    }
                }
            }
        }
    }

    /// Accepts a task: registers its return object, counts unready dependencies, queues it.
    pub fn submit(&mut self, mut spec: TaskSpec, mut record: TaskRecord, fx: &mut Effects) {
        let tid = spec.id;
        let mut entry = ObjectEntry::pending(tid);
        if let TaskBody::Function(f) = &spec.body {
            entry.size = SizeHint::Serialized(*f);
        }
        if self.shutdown {
            entry.state = ObjState::Failed(Box::new(RuntimeError::Shutdown));
            self.objects.insert(spec.return_id, entry);
            fx.garbage.push(Garbage::Spec(spec));
            return;
        }
        self.objects.insert(spec.return_id, entry);
        let mut pending = 0;
        let mut failed = None;
        for slot in &spec.args {
            if let ArgSlot::Ref(r) = slot {
                let oid = erased_id(r);
                match self.objects.get_mut(&oid) {
                    None => {
                        failed = Some(RuntimeError::ObjectLost(
                            oid,
                            "unknown or already freed".into(),
                        ))
                    }
                    Some(e) => {
                        if let Some(p) = e.producer {
                            spec.dep_tasks.push(p);
                        }
                        match &e.state {
                            ObjState::Pending => {
                                e.dependents.push(tid);
                                pending += 1;
                            }
                            ObjState::Ready(_) => {}
                            ObjState::Failed(err) => failed = Some((**err).clone()),
                        }
                    }
                }
            }
        }
        record.state = if pending > 0 {
            TaskState::WaitingForDependencies
        } else {
            TaskState::Scheduled
        };
        self.tasks.lock(tid).insert(tid, record);
        if let Some(cause) = failed {
            let err = RuntimeError::UpstreamFailed {
                function: spec.function.to_string(),
                task_id: tid,
                cause: Box::new(cause),
            };
            self.fail_unstarted(spec, err, fx);
            return;
        }
        spec.pending_deps = pending;
        if pending > 0 {
            self.waiting.insert(tid, spec);
        } else {
            self.ready.push_back(spec);
            self.dispatch(fx);
        }
    }

    /// Fails a task that never ran; an actor constructor still starts, dead, so its queued
    /// calls get `ActorDied` rather than waiting forever.
    fn fail_unstarted(&mut self, mut spec: TaskSpec, err: RuntimeError, fx: &mut Effects) {
        self.finish_record(spec.id, None, Err(&err));
        if let TaskBody::ActorCreation(start) = &mut spec.body {
            start.dead = Some(err.to_string());
            spec.demand = Demand {
                cpu: 0,
                gpu: 0,
                custom: Box::new([]),
            };
            self.store(spec.return_id, Err(err), fx);
            fx.start_actors.push(spec);
            return;
        }
        self.store(spec.return_id, Err(err), fx);
        fx.garbage.push(Garbage::Spec(spec));
    }

    fn finish_record(
        &mut self,
        tid: TaskId,
        start: Option<u64>,
        result: Result<(), &RuntimeError>,
    ) {
        self.tasks.lock(tid).finish(tid, start, result, None);
    }

    /// Stores a task's outcome and moves (or fails) the tasks waiting on it.
    pub fn store(&mut self, oid: ObjectId, result: Result<Value, RuntimeError>, fx: &mut Effects) {
        let Some(e) = self.objects.get_mut(&oid) else {
            if let Ok(v) = result {
                fx.garbage.push(Garbage::Value(v));
            }
            return;
        };
        if !matches!(e.state, ObjState::Pending) {
            if let Ok(v) = result {
                fx.garbage.push(Garbage::Value(v));
            }
            return;
        }
        for w in &e.waiters {
            w.offer(&result);
        }
        fx.wake.append(&mut e.waiters);
        let deps = std::mem::take(&mut e.dependents);
        let released = e.released;
        match result {
            Ok(v) => {
                if released {
                    self.objects.remove(&oid);
                    fx.garbage.push(Garbage::Value(v));
                } else {
                    e.state = ObjState::Ready(v);
                }
                for t in deps {
                    if let Some(s) = self.waiting.get_mut(&t) {
                        s.pending_deps -= 1;
                        if s.pending_deps == 0 {
                            let s = self.waiting.remove(&t).expect("present");
                            if let Some(r) = self.tasks.lock(t).get_mut(&t) {
                                r.state = TaskState::Scheduled;
                            }
                            self.ready.push_back(s);
                        }
                    }
                }
                // No dispatch here: a finishing worker first claims its own next task
                // (`next_for`), otherwise dispatch would spawn a needless extra worker.
            }
            Err(err) => {
                if released {
                    self.objects.remove(&oid);
                } else {
                    e.state = ObjState::Failed(Box::new(err.clone()));
                }
                for t in deps {
                    if let Some(s) = self.waiting.remove(&t) {
                        let e2 = RuntimeError::UpstreamFailed {
                            function: s.function.to_string(),
                            task_id: t,
                            cause: Box::new(err.clone()),
                        };
                        self.fail_unstarted(s, e2, fx);
                    }
                }
            }
        }
    }

    /// Reserves resources and resolves refs for a task about to start.
    fn start(&mut self, spec: &mut TaskSpec, worker: Option<WorkerId>) {
        self.pool.acquire(&spec.demand);
        spec.attempts += 1;
        for slot in spec.args.iter_mut() {
            if let ArgSlot::Ref(r) = slot {
                if let Some(ObjectEntry {
                    state: ObjState::Ready(v),
                    ..
                }) = self.objects.get(&erased_id(r))
                {
                    *slot = ArgSlot::Ready(v.clone());
                }
            }
        }
        let now = self.now();
        self.last_start = now;
        let pid = worker
            .and_then(|w| self.workers.get(&w))
            .and_then(|w| w.pid);
        if let Some(r) = self.tasks.lock(spec.id).get_mut(&spec.id) {
            r.state = TaskState::Running;
            r.worker = worker;
            r.worker_pid = pid;
            r.start = Some(now);
            r.attempts = spec.attempts;
        }
    }

    fn take_fitting(&mut self, actors_too: bool) -> Option<TaskSpec> {
        let n = self.ready.len().min(SCAN_LIMIT);
        for i in 0..n {
            let s = &self.ready[i];
            if (actors_too || !matches!(s.body, TaskBody::ActorCreation(_)))
                && self.pool.fits(&s.demand)
            {
                return self.ready.remove(i);
            }
        }
        None
    }

    /// Starts every queued task that fits the free resources and has a worker.
    pub fn dispatch(&mut self, fx: &mut Effects) {
        if self.shutdown {
            return;
        }
        let mut i = 0;
        while i < self.ready.len() && i < SCAN_LIMIT {
            if !self.pool.fits(&self.ready[i].demand) {
                i += 1;
                continue;
            }
            if matches!(self.ready[i].body, TaskBody::ActorCreation(_)) {
                let mut spec = self.ready.remove(i).expect("index checked");
                self.start(&mut spec, None);
                fx.start_actors.push(spec);
                continue;
            }
            let Some(w) = self.idle.pop() else {
                if self.spawning == 0 && self.workers.len() < self.max_workers {
                    self.spawning += 1;
                    fx.spawn_workers += 1;
                }
                break;
            };
            let mut spec = self.ready.remove(i).expect("index checked");
            self.start(&mut spec, Some(w));
            let tx = self.workers[&w].tx.clone();
            fx.send.push((tx, WorkerMsg::Run(spec)));
        }
    }

    /// A worker finished a task: store its outcome, hand the worker its next task directly.
    #[allow(clippy::too_many_arguments)]
    pub fn finish(
        &mut self,
        worker: WorkerId,
        tid: TaskId,
        oid: ObjectId,
        demand: &Demand,
        result: Result<Value, RuntimeError>,
        from_worker: Option<WorkerId>,
        fx: &mut Effects,
    ) -> Option<TaskSpec> {
        // The task table was updated by the caller, outside this lock (`Inner::record_finish`).
        let _ = tid;
        self.pool.release(demand);
        if let (Some(w), Some(e)) = (from_worker, self.objects.get_mut(&oid)) {
            e.from_worker = Some(w);
        }
        self.store(oid, result, fx);
        self.next_for(worker, fx)
    }

    /// The next task for a worker that just became free, or park it as idle.
    pub fn next_for(&mut self, worker: WorkerId, fx: &mut Effects) -> Option<TaskSpec> {
        if self.shutdown || !self.workers.contains_key(&worker) {
            return None;
        }
        let next = self.take_fitting(false).map(|mut s| {
            self.start(&mut s, Some(worker));
            s
        });
        if next.is_none() {
            self.idle.push(worker);
        }
        if !self.ready.is_empty() {
            self.dispatch(fx);
        }
        next
    }

    /// A worker process died while running `spec`: run it again elsewhere, or report the loss.
    pub fn retry(&mut self, spec: TaskSpec, fx: &mut Effects) {
        self.pool.release(&spec.demand);
        if spec.attempts <= spec.max_retries && !self.shutdown {
            if let Some(r) = self.tasks.lock(spec.id).get_mut(&spec.id) {
                r.state = TaskState::Scheduled;
            }
            self.ready.push_front(spec);
            self.dispatch(fx);
        } else {
            let err = RuntimeError::WorkerDied {
                function: spec.function.to_string(),
                task_id: spec.id,
                attempts: spec.attempts,
            };
            self.finish_record(spec.id, None, Err(&err));
            self.store(spec.return_id, Err(err), fx);
            fx.garbage.push(Garbage::Spec(spec));
        }
    }

    /// Registers an actor method call (it goes to the actor's mailbox, not the ready queue).
    /// The caller has already put its record in the task table (outside this lock).
    pub fn submit_actor_call(&mut self, tid: TaskId, oid: ObjectId) {
        let mut entry = ObjectEntry::pending(tid);
        if self.shutdown {
            entry.state = ObjState::Failed(Box::new(RuntimeError::Shutdown));
        }
        self.objects.insert(oid, entry);
    }

    /// `store`, then start whatever it made ready.
    pub fn store_and_dispatch(
        &mut self,
        oid: ObjectId,
        result: Result<Value, RuntimeError>,
        fx: &mut Effects,
    ) {
        self.store(oid, result, fx);
        if !self.ready.is_empty() {
            self.dispatch(fx);
        }
    }

    /// Fails every queued task (no worker can ever run them).
    pub fn fail_ready(&mut self, err: RuntimeError, fx: &mut Effects) {
        let ready: Vec<TaskSpec> = self.ready.drain(..).collect();
        for s in ready {
            self.fail_unstarted(s, err.clone(), fx);
        }
    }

    /// Fails everything still pending so no `get` waits past shutdown.
    fn fail_all(&mut self, fx: &mut Effects) {
        for (_, e) in self.objects.iter_mut() {
            if matches!(e.state, ObjState::Pending) {
                e.state = ObjState::Failed(Box::new(RuntimeError::Shutdown));
                fx.wake.append(&mut e.waiters);
            }
        }
        for (_, s) in self.waiting.drain() {
            fx.garbage.push(Garbage::Spec(s));
        }
        for s in self.ready.drain(..) {
            fx.garbage.push(Garbage::Spec(s));
        }
    }
}

/// The shared core every handle points to.
pub(crate) struct Inner {
    pub config: RuntimeConfig,
    pub state: Mutex<State>,
    pub tasks: Arc<Tasks>,
    pub release: Arc<ReleaseQueue>,
    next_id: AtomicU64,
    pub node: NodeId,
    pub epoch: Instant,
    pub timeline: Timeline,
    shutdown: AtomicBool,
    pub threads: Mutex<Vec<JoinHandle<()>>>,
    pub actor_handles: Mutex<Vec<Weak<ActorShared>>>,
    pub processes: Mutex<Vec<Arc<crate::process_worker::Child>>>,
}

impl Inner {
    pub fn new(config: RuntimeConfig, total: &crate::resources::Resources) -> Arc<Self> {
        let epoch = Instant::now();
        let max_workers = match config.isolation {
            Isolation::Thread => usize::MAX,
            Isolation::Process => config
                .num_worker_processes
                .unwrap_or_else(|| (config.num_cpus.ceil() as usize).max(1)),
        };
        let tasks = Arc::new(Tasks::new(config.task_history, epoch));
        let state = State {
            epoch,
            objects: IdMap::default(),
            tasks: tasks.clone(),
            waiting: IdMap::default(),
            ready: VecDeque::new(),
            pool: ResourcePool::new(total),
            idle: Vec::new(),
            workers: IdMap::default(),
            spawning: 0,
            spawn_failures: 0,
            max_workers,
            actors: IdMap::default(),
            shutdown: false,
            last_start: 0,
        };
        Arc::new(Inner {
            timeline: Timeline::new(config.timeline, config.timeline_capacity),
            config,
            state: Mutex::new(state),
            tasks,
            release: Arc::new(ReleaseQueue::new()),
            next_id: AtomicU64::new(1),
            node: NodeId(0),
            epoch,
            shutdown: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
            actor_handles: Mutex::new(Vec::new()),
            processes: Mutex::new(Vec::new()),
        })
    }

    /// A fresh id; tasks and their return objects share the number, as in Ray.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
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
        for _ in 0..fx.spawn_workers {
            match self.config.isolation {
                Isolation::Thread => crate::worker::spawn_thread_worker(self),
                Isolation::Process => crate::process_worker::spawn_task_worker(self),
            }
        }
        for spec in fx.start_actors {
            crate::actor::start(self, spec);
        }
        drop(fx.garbage);
    }

    /// Blocks until the object is ready or failed, or the deadline passes.
    pub fn get_value(
        self: &Arc<Self>,
        oid: ObjectId,
        timeout: Option<Duration>,
    ) -> Result<Value, RuntimeError> {
        let deadline = timeout.map(|t| Instant::now() + t);
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
            let w = waiter.as_ref().expect("registered");
            if !w.wait(deadline) {
                return Err(RuntimeError::Timeout(timeout.unwrap_or_default()));
            }
            if let Some(r) = w.take() {
                return r;
            }
        }
    }

    /// Values of all `oids` in order, taking the lock once per run of ready objects; the first
    /// error in list order wins.
    pub fn get_values(self: &Arc<Self>, oids: &[ObjectId]) -> Result<Vec<Value>, RuntimeError> {
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
                out.push(self.get_value(oid, None)?);
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
    ) -> Vec<bool> {
        let k = k.min(oids.len());
        let waiter = Waiter::new();
        let mut registered = false;
        loop {
            let done = self.with(|s, _| {
                let done: Vec<bool> = oids
                    .iter()
                    .map(|o| {
                        s.objects
                            .get(o)
                            .map_or(true, |e| !matches!(e.state, ObjState::Pending))
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
            if done.iter().filter(|d| **d).count() >= k || !waiter.wait(deadline) {
                return done;
            }
        }
    }

    pub fn put_value(self: &Arc<Self>, v: Value, size: SizeHint) -> ObjectId {
        let oid = ObjectId(self.next_id());
        let mut e = ObjectEntry::pending(TaskId(0));
        e.producer = None;
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

    /// Completes an actor call (or constructor): task table, then the value, then the timeline.
    #[allow(clippy::too_many_arguments)]
    pub fn complete_actor_call(
        self: &Arc<Self>,
        tid: TaskId,
        oid: ObjectId,
        worker: WorkerId,
        pid: Option<u32>,
        start: u64,
        result: Result<Value, RuntimeError>,
        event: Option<(&WorkerTimeline, TaskEvent)>,
    ) {
        self.record_finish(tid, Some(start), &result, Some((worker, pid)));
        let flush = self.with(|s, fx| {
            s.store_and_dispatch(oid, result, fx);
            match event {
                Some((tl, mut e)) if self.timeline.enabled => {
                    e.end = s.now();
                    tl.record(e).then_some(tl)
                }
                _ => None,
            }
        });
        if let Some(tl) = flush {
            tl.flush();
        }
    }

    /// Stores a batch of finished actor calls under one lock (task table first, as above).
    pub fn complete_actor_calls(
        self: &Arc<Self>,
        done: &mut Vec<crate::actor::Completed>,
        worker: WorkerId,
        pid: Option<u32>,
        tl: &WorkerTimeline,
    ) {
        if done.is_empty() {
            return;
        }
        // One clock read and one lock of each table for the whole batch.
        let now = self.now();
        // Each shard the batch touches is locked once.
        let mut shards = 0u32;
        for c in done.iter() {
            shards |= 1 << self.tasks.shard_of(c.event.task);
        }
        while shards != 0 {
            let k = shards.trailing_zeros() as usize;
            shards &= shards - 1;
            let mut t = self.tasks.shards()[k].lock();
            for c in done
                .iter()
                .filter(|c| self.tasks.shard_of(c.event.task) == k)
            {
                t.finish_at(
                    c.event.task,
                    Some(c.event.get_args),
                    c.result.as_ref().map(|_| ()),
                    Some((worker, pid)),
                    now,
                );
            }
        }
        let flush = self.with(|s, fx| {
            for c in done.iter_mut() {
                let result = std::mem::replace(&mut c.result, Err(RuntimeError::Shutdown));
                s.store(c.oid, result, fx);
            }
            let flush = if self.timeline.enabled {
                tl.record_all(done.drain(..).map(|c| c.event), s.now())
            } else {
                done.clear();
                false
            };
            if !s.ready.is_empty() {
                s.dispatch(fx);
            }
            flush
        });
        if flush {
            tl.flush();
        }
    }

    pub fn register_thread(&self, h: JoinHandle<()>) {
        let mut t = self.threads.lock();
        t.retain(|h| !h.is_finished());
        t.push(h);
    }

    /// Stops workers and actors, fails pending objects, kills worker processes; never hangs.
    pub fn shutdown(self: &Arc<Self>) {
        if self.shutdown.swap(true, Ordering::AcqRel) {
            return;
        }
        let actors: Vec<Arc<ActorShared>> = self
            .actor_handles
            .lock()
            .drain(..)
            .filter_map(|w| w.upgrade())
            .collect();
        self.with(|s, fx| {
            s.shutdown = true;
            s.fail_all(fx);
            for (_, w) in s.workers.drain() {
                let _ = w.tx.send(WorkerMsg::Stop);
            }
            s.idle.clear();
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
        for c in self.processes.lock().drain(..) {
            c.kill();
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
        // Values may hold actor handles, which hold this `Inner`: drop them to break the cycle.
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
