//! The control plane's state: object table, ready queue, resource pool, workers, actor table.
//!
//! Everything here runs under one lock (`Core::with`); side effects that may block or run user
//! code (waking threads, sending to workers, starting workers and actors, dropping values) are
//! collected in `Effects` and applied by the core after the lock is released. The scheduler
//! does not know where work runs: it asks for workers and actors through `Effects`, and the
//! core hands those requests to its `Executor`.
//!
//! Blocked workers: a task (or actor call) waiting in `get`/`wait` gives its resources back
//! (`block`), so tasks it waits for can run; more workers are started as needed, up to the
//! executor's cap plus the number blocked. When its value arrives it takes its resources back
//! (`resume`) before running on: at once if they are free and no one resuming is ahead of it,
//! otherwise from the resume queue, which dispatch serves before any new task.

use crate::actor_spec::{ActorRecord, ActorStatus};
use crate::args::ArgSlot;
use crate::error::RuntimeError;
use crate::ids::{ActorId, IdMap, ObjectId, TaskId, WorkerId};
use crate::object_ref::ReleaseQueue;
use crate::object_store::{ObjState, ObjectEntry, Waiter};
use crate::resources::{Demand, ResourcePool};
use crate::task::{TaskBody, TaskRecord, TaskSpec, TaskState, Tasks};
use crate::value::{codec, Codec, Value};
use crossbeam::channel::Sender;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

/// How far down the ready queue dispatch looks for a task that fits, so one large request
/// does not block small ones behind it (and a huge queue does not make dispatch quadratic).
const SCAN_LIMIT: usize = 256;

/// A message to a task worker (a thread, or the driver-side proxy of a worker process).
pub(crate) enum WorkerMsg {
    Run(TaskSpec),
    Stop,
}

/// A task worker as the scheduler sees it.
pub(crate) struct WorkerSlot {
    pub tx: Sender<WorkerMsg>,
    pub pid: Option<u32>,
}

/// Things to drop outside the lock: they may run user destructors.
pub(crate) enum Garbage {
    Value(#[allow(dead_code)] Value),
    Spec(#[allow(dead_code)] TaskSpec),
}

/// What the core does once the lock is released.
#[derive(Default)]
pub(crate) struct Effects {
    pub wake: Vec<Arc<Waiter>>,
    pub send: Vec<(Sender<WorkerMsg>, WorkerMsg)>,
    pub spawn_workers: usize,
    pub start_actors: Vec<TaskSpec>,
    pub garbage: Vec<Garbage>,
}

/// A blocked worker whose value arrived, waiting to take its resources back.
struct Resume {
    demand: Demand,
    waiter: Arc<Waiter>,
}

/// Everything the scheduler's lock protects.
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
    /// Task workers the executor keeps when none is blocked.
    max_workers: usize,
    /// Workers blocked in `get`/`wait` (their resources are back in the pool), including
    /// those waiting in `resume` to take them back.
    blocked: usize,
    /// Blocked workers whose value arrived, first come first served, ahead of new tasks.
    resume: VecDeque<Resume>,
    pub actors: IdMap<ActorId, ActorRecord>,
    pub shutdown: bool,
    /// The clock reading of the last `start`, so a worker handed its next task in the same
    /// critical section can end its timeline event there instead of reading the clock again.
    pub last_start: u64,
}

impl State {
    pub fn new(epoch: Instant, tasks: Arc<Tasks>, pool: ResourcePool, max_workers: usize) -> Self {
        State {
            epoch,
            objects: IdMap::default(),
            tasks,
            waiting: IdMap::default(),
            ready: VecDeque::new(),
            pool,
            idle: Vec::new(),
            workers: IdMap::default(),
            spawning: 0,
            spawn_failures: 0,
            max_workers,
            blocked: 0,
            resume: VecDeque::new(),
            actors: IdMap::default(),
            shutdown: false,
            last_start: 0,
        }
    }

    pub fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Counts down the refs whose tokens dropped; frees objects nobody refers to any more.
    pub fn gc(&mut self, q: &ReleaseQueue, fx: &mut Effects) {
        while let Some(id) = q.pop() {
            let Some(e) = self.objects.get_mut(&id) else {
                continue;
            };
            e.refs = e.refs.saturating_sub(1);
            if e.refs > 0 {
                continue;
            }
            if matches!(e.state, ObjState::Pending) {
                e.released = true;
            } else if let Some(e) = self.objects.remove(&id) {
                if let ObjState::Ready(v) = e.state {
                    fx.garbage.push(Garbage::Value(v));
                }
            }
        }
    }

    /// Counts one more ref to an object; false if it is gone.
    pub fn add_ref(&mut self, id: ObjectId) -> bool {
        match self.objects.get_mut(&id) {
            Some(e) => {
                e.refs += 1;
                e.released = false;
                true
            }
            None => false,
        }
    }

    /// Accepts a task: registers its return object, counts unready dependencies, queues it.
    pub fn submit(&mut self, mut spec: TaskSpec, mut record: TaskRecord, fx: &mut Effects) {
        let tid = spec.id;
        let codec = match &spec.body {
            TaskBody::Function(f) => Some(f.result_codec()),
            // `ready()` resolves to `()`, readable in worker processes too.
            TaskBody::ActorCreation(_) => Some(codec::<()>()),
            TaskBody::Closure(_) => None,
        };
        let mut entry = ObjectEntry::pending(Some(tid), codec);
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
                let oid = r.id();
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
            start.held = Demand::none();
            spec.demand = Demand::none();
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
                            if let Some(s) = self.waiting.remove(&t) {
                                if let Some(r) = self.tasks.lock(t).get_mut(&t) {
                                    r.state = TaskState::Scheduled;
                                }
                                self.ready.push_back(s);
                            }
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
                }) = self.objects.get(&r.id())
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

    /// Most task workers allowed now: the executor's cap, plus one per blocked worker.
    fn worker_cap(&self) -> usize {
        self.max_workers.saturating_add(self.blocked)
    }

    /// Starts every queued task that fits the free resources and has a worker; workers
    /// resuming from a block go first.
    pub fn dispatch(&mut self, fx: &mut Effects) {
        if self.shutdown {
            return;
        }
        if !self.resume.is_empty() && !self.grant_resumes(fx) {
            return;
        }
        let mut i = 0;
        while i < self.ready.len() && i < SCAN_LIMIT {
            if !self.pool.fits(&self.ready[i].demand) {
                i += 1;
                continue;
            }
            if matches!(self.ready[i].body, TaskBody::ActorCreation(_)) {
                let Some(mut spec) = self.ready.remove(i) else {
                    break;
                };
                self.start(&mut spec, None);
                fx.start_actors.push(spec);
                continue;
            }
            let Some(w) = self.idle.pop() else {
                if self.spawning == 0 && self.workers.len() < self.worker_cap() {
                    self.spawning += 1;
                    fx.spawn_workers += 1;
                }
                break;
            };
            let Some(mut spec) = self.ready.remove(i) else {
                self.idle.push(w);
                break;
            };
            self.start(&mut spec, Some(w));
            match self.workers.get(&w) {
                Some(slot) => fx.send.push((slot.tx.clone(), WorkerMsg::Run(spec))),
                None => self.retry(spec, fx),
            }
        }
    }

    /// A worker finished a task: store its outcome, hand the worker its next task directly.
    #[allow(clippy::too_many_arguments)]
    pub fn finish(
        &mut self,
        worker: WorkerId,
        oid: ObjectId,
        demand: &Demand,
        result: Result<Value, RuntimeError>,
        from_worker: Option<WorkerId>,
        fx: &mut Effects,
    ) -> Option<TaskSpec> {
        // The task table was updated by the caller, outside this lock (`Core::record_finish`).
        self.pool.release(demand);
        if let (Some(w), Some(e)) = (from_worker, self.objects.get_mut(&oid)) {
            e.from_worker = Some(w);
        }
        self.store(oid, result, fx);
        self.next_for(worker, fx)
    }

    /// The next task for a worker that just became free, or park it as idle (or, past the
    /// worker cap because blocked workers woke up, stop it).
    pub fn next_for(&mut self, worker: WorkerId, fx: &mut Effects) -> Option<TaskSpec> {
        if self.shutdown || !self.workers.contains_key(&worker) {
            return None;
        }
        // Freed resources go to workers resuming from a block before any new task.
        let next = if self.resume.is_empty() || self.grant_resumes(fx) {
            self.take_fitting(false).map(|mut s| {
                self.start(&mut s, Some(worker));
                s
            })
        } else {
            None
        };
        if next.is_none() {
            if self.workers.len() > self.worker_cap() {
                if let Some(w) = self.workers.remove(&worker) {
                    fx.send.push((w.tx, WorkerMsg::Stop));
                }
            } else {
                self.idle.push(worker);
            }
        }
        if !self.ready.is_empty() {
            self.dispatch(fx);
        }
        next
    }

    /// A worker process died while running `spec`: run it again elsewhere, or report the loss.
    pub fn retry(&mut self, spec: TaskSpec, fx: &mut Effects) {
        let held = spec.demand.clone();
        self.retry_holding(spec, &held, fx);
    }

    /// `retry` for a task that holds `held` (nothing, if it died while blocked in `get`).
    pub fn retry_holding(&mut self, spec: TaskSpec, held: &Demand, fx: &mut Effects) {
        self.pool.release(held);
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
    pub fn submit_actor_call(
        &mut self,
        tid: TaskId,
        oid: ObjectId,
        codec: Option<&'static dyn Codec>,
    ) {
        let mut entry = ObjectEntry::pending(Some(tid), codec);
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

    /// A worker running a task gave its resources back while it waits in `get`/`wait`.
    pub fn block(&mut self, demand: &Demand, fx: &mut Effects) {
        self.pool.release(demand);
        self.blocked += 1;
        self.dispatch(fx);
    }

    /// A blocked worker's wait ended: it takes its resources back now (true) if they are free
    /// and no one resuming is ahead of it, otherwise it queues and `waiter` is notified once
    /// dispatch grants them. Either way it counts as blocked until granted.
    pub fn resume(&mut self, demand: &Demand, waiter: &Arc<Waiter>) -> bool {
        if self.shutdown {
            self.blocked = self.blocked.saturating_sub(1);
            return true;
        }
        if self.resume.is_empty() && self.pool.fits(demand) {
            self.pool.acquire(demand);
            self.blocked = self.blocked.saturating_sub(1);
            return true;
        }
        self.resume.push_back(Resume {
            demand: demand.clone(),
            waiter: waiter.clone(),
        });
        false
    }

    /// A blocked worker's process died: it no longer waits, and takes nothing back.
    pub fn abandon_block(&mut self) {
        self.blocked = self.blocked.saturating_sub(1);
    }

    /// Grants queued resumes in order while they fit; true when none is left waiting.
    fn grant_resumes(&mut self, fx: &mut Effects) -> bool {
        while let Some(r) = self.resume.front() {
            if !self.pool.fits(&r.demand) {
                return false;
            }
            if let Some(r) = self.resume.pop_front() {
                self.pool.acquire(&r.demand);
                self.blocked = self.blocked.saturating_sub(1);
                fx.wake.push(r.waiter);
            }
        }
        true
    }

    /// An actor's constructor ran: it gives back what it needed to be placed and keeps what it
    /// holds while alive (the same, or nothing for Ray's default actor).
    pub fn actor_constructed(&mut self, placement: &Demand, held: &Demand, fx: &mut Effects) {
        if placement != held {
            self.pool.release(placement);
            self.pool.acquire(held);
            self.dispatch(fx);
        }
    }

    /// An actor stopped: what it held goes back, its row says so.
    pub fn actor_stopped(&mut self, id: ActorId, held: &Demand, fx: &mut Effects) {
        self.pool.release(held);
        if let Some(a) = self.actors.get_mut(&id) {
            if !matches!(a.status, ActorStatus::Dead(_)) {
                a.status = ActorStatus::Dead("stopped".into());
            }
        }
        self.dispatch(fx);
    }

    /// Fails everything still pending so no `get` waits past shutdown.
    pub fn fail_all(&mut self, fx: &mut Effects) {
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
        for r in self.resume.drain(..) {
            fx.wake.push(r.waiter);
        }
        self.blocked = 0;
    }
}
