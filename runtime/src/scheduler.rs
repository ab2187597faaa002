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

use crate::actor_spec::{ActorCtor, ActorRecord, ActorStatus};
use crate::args::ArgSlot;
use crate::error::RuntimeError;
use crate::ids::{ActorId, IdMap, NodeId, ObjectId, TaskId, WorkerId};
use crate::object_ref::ReleaseQueue;
use crate::object_store::{ObjState, ObjectEntry, Waiter};
use crate::resources::{Demand, ResourcePool, Resources};
use crate::task::{TaskBody, TaskRecord, TaskSpec, TaskState, Tasks};
use crate::value::{codec, Codec, Value};
use crossbeam::channel::Sender;
use serde::Serialize;
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
    /// The place it runs at (an index into `State::places`).
    pub place: usize,
}

/// One place where work runs (the driver's threads or worker processes, or a node of a
/// cluster): its resources and its task workers. Place 0 is this process's own executor.
pub(crate) struct Place {
    pub pool: ResourcePool,
    idle: Vec<WorkerId>,
    /// Task workers registered here.
    workers: usize,
    /// Task workers being started here.
    spawning: usize,
    /// Worker processes that failed to start here in a row.
    spawn_failures: u32,
    /// Task workers the executor keeps when none is blocked.
    max_workers: usize,
    /// Workers here blocked in `get`/`wait` (their resources are back in the pool), including
    /// those waiting in `resume` to take them back.
    blocked: usize,
    runs_closures: bool,
    /// False once a node is declared dead: nothing is placed here any more.
    pub alive: bool,
}

impl Place {
    /// A place with `pool`, keeping up to `max_workers` task workers.
    pub fn new(pool: ResourcePool, max_workers: usize, runs_closures: bool) -> Self {
        Place {
            pool,
            idle: Vec::new(),
            workers: 0,
            spawning: 0,
            spawn_failures: 0,
            max_workers,
            blocked: 0,
            runs_closures,
            alive: true,
        }
    }

    /// Most task workers allowed now: the executor's cap, plus one per blocked worker.
    fn worker_cap(&self) -> usize {
        self.max_workers.saturating_add(self.blocked)
    }

    fn accepts(&self, s: &TaskSpec) -> bool {
        self.alive && (self.runs_closures || !needs_closures(s)) && self.pool.fits(&s.demand)
    }
}

/// Whether a task can only run where closures run (in the driver's memory).
fn needs_closures(s: &TaskSpec) -> bool {
    match &s.body {
        TaskBody::Closure(_) => true,
        TaskBody::ActorCreation(a) => matches!(a.ctor, ActorCtor::Closure(_)),
        TaskBody::Function(_) => false,
    }
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
    /// One entry per task worker to start, naming its place.
    pub spawn_workers: Vec<usize>,
    pub start_actors: Vec<TaskSpec>,
    pub garbage: Vec<Garbage>,
}

/// One node (a place where work runs) as introspection shows it.
#[derive(Clone, Debug, Serialize)]
pub struct NodeInfo {
    /// The node, when known (this process's node, or a node a worker there belongs to).
    pub node: Option<NodeId>,
    /// Its index among the runtime's places (0: this process's executor).
    pub place: usize,
    /// False once the node was declared dead.
    pub alive: bool,
    /// Everything it offers.
    pub total: Resources,
    /// What is free now (tasks blocked in `get` have given theirs back).
    pub available: Resources,
    /// Task workers registered there.
    pub workers: usize,
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
    /// Where work runs; place 0 is this process's own executor.
    pub places: Vec<Place>,
    pub workers: IdMap<WorkerId, WorkerSlot>,
    /// Blocked workers whose value arrived, first come first served, ahead of new tasks.
    resume: VecDeque<Resume>,
    pub actors: IdMap<ActorId, ActorRecord>,
    pub shutdown: bool,
    /// The clock reading of the last `start`, so a worker handed its next task in the same
    /// critical section can end its timeline event there instead of reading the clock again.
    pub last_start: u64,
}

impl State {
    pub fn new(epoch: Instant, tasks: Arc<Tasks>, local: Place) -> Self {
        State {
            epoch,
            objects: IdMap::default(),
            tasks,
            waiting: IdMap::default(),
            ready: VecDeque::new(),
            places: vec![local],
            workers: IdMap::default(),
            resume: VecDeque::new(),
            actors: IdMap::default(),
            shutdown: false,
            last_start: 0,
        }
    }

    pub fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Gives `d` back to the pool of the place it was granted at.
    fn release(&mut self, d: &Demand) {
        if let Some(p) = self.places.get_mut(d.place as usize) {
            p.pool.release(d);
        }
    }

    /// Everything the live places have in total.
    pub fn total(&self) -> Resources {
        let mut r = Resources::none();
        for p in self.places.iter().filter(|p| p.alive) {
            r.add(&p.pool.total());
        }
        r
    }

    /// What the live places have free right now.
    pub fn available(&self) -> Resources {
        let mut r = Resources::none();
        for p in self.places.iter().filter(|p| p.alive) {
            r.add(&p.pool.available());
        }
        r
    }

    /// Whether some live place could ever run `s` (grant its resources, run closures if it
    /// is one).
    fn feasible(&self, s: &TaskSpec) -> bool {
        let closure = needs_closures(s);
        self.places
            .iter()
            .any(|p| p.alive && (p.runs_closures || !closure) && p.pool.could_hold(&s.demand))
    }

    /// The first live place (this process first) where `s` may run and fits now.
    fn place_for(&self, s: &TaskSpec) -> Option<usize> {
        if self.places.len() == 1 {
            return self.places[0].pool.fits(&s.demand).then_some(0);
        }
        self.places.iter().position(|p| p.accepts(s))
    }

    /// Every place as a node row; `local` is this process's node (place 0).
    pub fn nodes(&self, local: NodeId) -> Vec<NodeInfo> {
        let mut node_of: Vec<Option<NodeId>> = vec![None; self.places.len()];
        node_of[0] = Some(local);
        for (w, slot) in self.workers.iter() {
            if let Some(n) = node_of.get_mut(slot.place) {
                n.get_or_insert(w.node());
            }
        }
        self.places
            .iter()
            .enumerate()
            .map(|(i, p)| NodeInfo {
                node: node_of[i],
                place: i,
                alive: p.alive,
                total: p.pool.total(),
                available: p.pool.available(),
                workers: p.workers,
            })
            .collect()
    }

    /// Adds a place (a node that joined); its index.
    pub fn add_place(&mut self, place: Place, fx: &mut Effects) -> usize {
        self.places.push(place);
        self.dispatch(fx);
        self.places.len() - 1
    }

    /// A place's node was declared dead: nothing more is placed there, its idle workers stop
    /// (busy ones find out when their connection fails, and their tasks are retried).
    pub fn place_died(&mut self, place: usize, fx: &mut Effects) {
        let Some(p) = self.places.get_mut(place) else {
            return;
        };
        p.alive = false;
        for w in std::mem::take(&mut p.idle) {
            if let Some(slot) = self.workers.remove(&w) {
                p.workers -= 1;
                fx.send.push((slot.tx, WorkerMsg::Stop));
            }
        }
        self.dispatch(fx);
    }

    /// A task worker started at `place` and is ready for work.
    pub fn worker_started(
        &mut self,
        place: usize,
        id: WorkerId,
        tx: Sender<WorkerMsg>,
        pid: Option<u32>,
        fx: &mut Effects,
    ) {
        let p = &mut self.places[place];
        p.spawning = p.spawning.saturating_sub(1);
        p.spawn_failures = 0;
        if self.shutdown {
            return;
        }
        p.workers += 1;
        p.idle.push(id);
        self.workers.insert(id, WorkerSlot { tx, pid, place });
        self.dispatch(fx);
    }

    /// A task worker could not be started at `place` (or, `registered`, restarted): after
    /// three failures in a row with no worker left there, what waits for it fails.
    pub fn spawn_failed(
        &mut self,
        place: usize,
        registered: Option<WorkerId>,
        error: &str,
        fx: &mut Effects,
    ) {
        match registered {
            Some(w) => {
                if self.workers.remove(&w).is_some() {
                    self.places[place].workers -= 1;
                }
                self.places[place].idle.retain(|i| *i != w);
            }
            None => {
                let p = &mut self.places[place];
                p.spawning = p.spawning.saturating_sub(1);
            }
        }
        let single = self.places.len() == 1;
        let p = &mut self.places[place];
        p.spawn_failures += 1;
        if p.spawn_failures >= 3 && p.workers == 0 {
            if single {
                // No worker can start: fail what waits rather than hang.
                self.fail_ready(
                    RuntimeError::Unsupported(format!("cannot start worker processes: {error}")),
                    fx,
                );
                return;
            }
            // A node that cannot start workers takes no more tasks.
            tracing::error!(
                "place {place} cannot start workers ({error}); no more work goes there"
            );
            p.alive = false;
        }
        self.dispatch(fx);
    }

    /// A worker thread could not be created at `place` (or the runtime is shutting down).
    pub fn spawn_aborted(&mut self, place: usize) {
        let p = &mut self.places[place];
        p.spawning = p.spawning.saturating_sub(1);
    }

    /// Stops every task worker (shutdown).
    pub fn stop_workers(&mut self) {
        for (_, w) in self.workers.drain() {
            let _ = w.tx.send(WorkerMsg::Stop);
        }
        for p in &mut self.places {
            p.idle.clear();
            p.workers = 0;
        }
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
    pub fn submit(
        &mut self,
        mut spec: TaskSpec,
        mut record: TaskRecord,
        fx: &mut Effects,
    ) -> Result<(), RuntimeError> {
        if !self.shutdown && !self.feasible(&spec) {
            let err = RuntimeError::Impossible {
                requested: record.resources.clone(),
                total: self.total(),
            };
            fx.garbage.push(Garbage::Spec(spec));
            return Err(err);
        }
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
            return Ok(());
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
            return Ok(());
        }
        spec.pending_deps = pending;
        if pending > 0 {
            self.waiting.insert(tid, spec);
        } else {
            self.ready.push_back(spec);
            self.dispatch(fx);
        }
        Ok(())
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

    /// Reserves resources at `place` and resolves refs for a task about to start there.
    fn start(&mut self, spec: &mut TaskSpec, worker: Option<WorkerId>, place: usize) {
        spec.demand.place = place as u16;
        if let TaskBody::ActorCreation(a) = &mut spec.body {
            a.held.place = place as u16;
        }
        self.places[place].pool.acquire(&spec.demand);
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

    /// The first queued task (not an actor creation) that may run at `place` now.
    fn take_fitting(&mut self, place: usize) -> Option<TaskSpec> {
        let n = self.ready.len().min(SCAN_LIMIT);
        let p = &self.places[place];
        for i in 0..n {
            let s = &self.ready[i];
            if !matches!(s.body, TaskBody::ActorCreation(_)) && p.accepts(s) {
                return self.ready.remove(i);
            }
        }
        None
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
            let Some(place) = self.place_for(&self.ready[i]) else {
                i += 1;
                continue;
            };
            if matches!(self.ready[i].body, TaskBody::ActorCreation(_)) {
                let Some(mut spec) = self.ready.remove(i) else {
                    break;
                };
                self.start(&mut spec, None, place);
                fx.start_actors.push(spec);
                continue;
            }
            let p = &mut self.places[place];
            let Some(w) = p.idle.pop() else {
                if p.spawning == 0 && p.workers + p.spawning < p.worker_cap() {
                    p.spawning += 1;
                    fx.spawn_workers.push(place);
                }
                if self.places.len() == 1 {
                    break;
                }
                // Tasks further down may fit another place that has a worker.
                i += 1;
                continue;
            };
            let Some(mut spec) = self.ready.remove(i) else {
                self.places[place].idle.push(w);
                break;
            };
            self.start(&mut spec, Some(w), place);
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
        self.release(demand);
        if let (Some(w), Some(e)) = (from_worker, self.objects.get_mut(&oid)) {
            e.from_worker = Some(w);
        }
        self.store(oid, result, fx);
        self.next_for(worker, fx)
    }

    /// The next task for a worker that just became free, or park it as idle (or, past the
    /// worker cap because blocked workers woke up, stop it).
    pub fn next_for(&mut self, worker: WorkerId, fx: &mut Effects) -> Option<TaskSpec> {
        if self.shutdown {
            return None;
        }
        let place = self.workers.get(&worker).map(|w| w.place)?;
        // Freed resources go to workers resuming from a block before any new task.
        let next = if self.resume.is_empty() || self.grant_resumes(fx) {
            self.take_fitting(place).map(|mut s| {
                self.start(&mut s, Some(worker), place);
                s
            })
        } else {
            None
        };
        if next.is_none() {
            let p = &mut self.places[place];
            if p.workers > p.worker_cap() || !p.alive {
                if let Some(w) = self.workers.remove(&worker) {
                    p.workers -= 1;
                    fx.send.push((w.tx, WorkerMsg::Stop));
                }
            } else {
                p.idle.push(worker);
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
        self.release(held);
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
        self.release(demand);
        if let Some(p) = self.places.get_mut(demand.place as usize) {
            p.blocked += 1;
        }
        self.dispatch(fx);
    }

    /// A blocked worker's wait ended: it takes its resources back now (true) if they are free
    /// and no one resuming is ahead of it, otherwise it queues and `waiter` is notified once
    /// dispatch grants them. Either way it counts as blocked until granted.
    pub fn resume(&mut self, demand: &Demand, waiter: &Arc<Waiter>) -> bool {
        let Some(p) = self.places.get_mut(demand.place as usize) else {
            return true;
        };
        // A dead place's worker is going away: nothing to take back.
        if self.shutdown || !p.alive {
            p.blocked = p.blocked.saturating_sub(1);
            return true;
        }
        if self.resume.is_empty() && p.pool.fits(demand) {
            p.pool.acquire(demand);
            p.blocked = p.blocked.saturating_sub(1);
            return true;
        }
        self.resume.push_back(Resume {
            demand: demand.clone(),
            waiter: waiter.clone(),
        });
        false
    }

    /// A blocked worker's process died: it no longer waits, and takes nothing back.
    pub fn abandon_block(&mut self, demand: &Demand) {
        if let Some(p) = self.places.get_mut(demand.place as usize) {
            p.blocked = p.blocked.saturating_sub(1);
        }
    }

    /// Grants queued resumes in order while they fit; true when none is left waiting.
    fn grant_resumes(&mut self, fx: &mut Effects) -> bool {
        while let Some(r) = self.resume.front() {
            let p = &mut self.places[r.demand.place as usize];
            if p.alive && !p.pool.fits(&r.demand) {
                return false;
            }
            if let Some(r) = self.resume.pop_front() {
                let p = &mut self.places[r.demand.place as usize];
                if p.alive {
                    p.pool.acquire(&r.demand);
                }
                p.blocked = p.blocked.saturating_sub(1);
                fx.wake.push(r.waiter);
            }
        }
        true
    }

    /// An actor's constructor ran: it gives back what it needed to be placed and keeps what it
    /// holds while alive (the same, or nothing for Ray's default actor).
    pub fn actor_constructed(&mut self, placement: &Demand, held: &Demand, fx: &mut Effects) {
        if placement != held {
            self.release(placement);
            if let Some(p) = self.places.get_mut(held.place as usize) {
                if p.alive {
                    p.pool.acquire(held);
                }
            }
            self.dispatch(fx);
        }
    }

    /// An actor's proxy ended because it moves to another place: what it held goes back,
    /// its row stays as it is (it is restarting).
    pub fn actor_stopped_elsewhere(&mut self, held: &Demand, fx: &mut Effects) {
        self.release(held);
        self.dispatch(fx);
    }

    /// An actor stopped: what it held goes back, its row says so.
    pub fn actor_stopped(&mut self, id: ActorId, held: &Demand, fx: &mut Effects) {
        self.release(held);
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
        for p in &mut self.places {
            p.blocked = 0;
        }
    }
}
