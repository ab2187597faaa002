//! Tasks: what is submitted (`TaskSpec`), and what introspection shows of it (`TaskInfo`).

use crate::actor_spec::ActorStart;
use crate::args::ArgSlot;
use crate::error::TaskError;
use crate::ids::{ActorId, NodeId, ObjectId, TaskId, WorkerId};
use crate::registry::ErasedFn;
use crate::resources::{Demand, Resources};
use crate::value::Value;
use serde::Serialize;
use std::time::Duration;

/// A one-shot closure task (thread mode only).
pub(crate) type ClosureBody = Box<dyn FnOnce(Vec<ArgSlot>) -> Result<Value, TaskError> + Send>;

/// What runs when the task is dispatched.
pub(crate) enum TaskBody {
    Function(&'static dyn ErasedFn),
    Closure(ClosureBody),
    ActorCreation(Box<ActorStart>),
}

/// A submitted task as the scheduler holds it.
pub(crate) struct TaskSpec {
    pub id: TaskId,
    pub function: &'static str,
    pub body: TaskBody,
    pub args: Vec<ArgSlot>,
    pub demand: Demand,
    pub max_retries: u32,
    pub attempts: u32,
    pub return_id: ObjectId,
    pub pending_deps: usize,
    /// Tasks that produced this task's ref arguments (timeline arrows).
    pub dep_tasks: Vec<TaskId>,
}

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum TaskState {
    /// Some argument refs are not ready yet.
    WaitingForDependencies,
    /// Inputs are ready; waiting for resources or a worker.
    Scheduled,
    /// Running on a worker.
    Running,
    /// Finished with a value.
    Finished,
    /// Failed (its error is in `TaskInfo::error` and at `get`).
    Failed,
}

/// How an argument was passed, as the task table shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ArgInfo {
    /// Passed by value; only its type is recorded.
    Value(&'static str),
    /// Passed as a ref to this object.
    Ref(ObjectId),
}

/// One row of the task table (the seed's `task_search_bar`).
#[derive(Clone, Debug, Serialize)]
pub struct TaskInfo {
    /// The task.
    pub task_id: TaskId,
    /// Function or actor method name.
    pub function: String,
    /// Arguments, by value type or by ref.
    pub args: Vec<ArgInfo>,
    /// Current state.
    pub state: TaskState,
    /// Resources it declared.
    pub resources: Resources,
    /// The worker that ran (or runs) it.
    pub worker: Option<WorkerId>,
    /// OS process id of that worker (the driver's own pid in thread mode).
    pub worker_pid: Option<u32>,
    /// The node it ran on.
    pub node: NodeId,
    /// The task that submitted it, if it was submitted from inside a task.
    pub parent: Option<TaskId>,
    /// The actor, for actor method calls and constructors.
    pub actor: Option<ActorId>,
    /// Its number among the calls submitted to its actor (0 first); `None` for plain tasks
    /// and constructors.
    pub actor_call: Option<u64>,
    /// The object holding its return value.
    pub return_object: ObjectId,
    /// Since runtime start.
    pub submit_time: Duration,
    /// Since runtime start; the last attempt's start.
    pub start_time: Option<Duration>,
    /// Since runtime start.
    pub end_time: Option<Duration>,
    /// How many times it was started (more than one after worker deaths).
    pub attempts: u32,
    /// The error, if it failed.
    pub error: Option<String>,
}

/// The scheduler's record of a task, cheap to keep for many tasks.
pub(crate) struct TaskRecord {
    pub function: &'static str,
    pub args: Vec<ArgInfo>,
    pub state: TaskState,
    pub resources: Resources,
    pub worker: Option<WorkerId>,
    pub worker_pid: Option<u32>,
    pub parent: Option<TaskId>,
    pub actor: Option<ActorId>,
    pub actor_call: Option<u64>,
    pub return_id: ObjectId,
    pub submit: u64,
    pub start: Option<u64>,
    pub end: Option<u64>,
    pub attempts: u32,
    pub error: Option<String>,
}

impl TaskRecord {
    pub fn info(&self, id: TaskId, node: NodeId) -> TaskInfo {
        let d = Duration::from_nanos;
        TaskInfo {
            task_id: id,
            function: self.function.to_string(),
            args: self.args.clone(),
            state: self.state,
            resources: self.resources.clone(),
            worker: self.worker,
            worker_pid: self.worker_pid,
            node,
            parent: self.parent,
            actor: self.actor,
            actor_call: self.actor_call,
            return_object: self.return_id,
            submit_time: d(self.submit),
            start_time: self.start.map(d),
            end_time: self.end.map(d),
            attempts: self.attempts,
            error: self.error.clone(),
        }
    }
}

/// The task table: its own lock, so introspection and record keeping stay off the scheduler's.
///
/// Records live in a slab (reused slots) and the id map holds only slot numbers: with
/// `history` finished tasks kept, every task inserts one record and evicts one, and moving
/// 200-byte records through a hash map (and rehashing it as deletions pile up) cost more than
/// the rest of an actor call's bookkeeping.
pub(crate) struct TaskTable {
    map: crate::ids::IdMap<TaskId, u32>,
    slots: Vec<Option<TaskRecord>>,
    free: Vec<u32>,
    finished_order: std::collections::VecDeque<TaskId>,
    history: usize,
    epoch: std::time::Instant,
}

impl TaskTable {
    pub fn new(history: usize, epoch: std::time::Instant) -> Self {
        TaskTable {
            map: Default::default(),
            slots: Vec::new(),
            free: Vec::new(),
            finished_order: Default::default(),
            history,
            epoch,
        }
    }
    pub fn insert(&mut self, id: TaskId, r: TaskRecord) {
        if let Some(&i) = self.map.get(&id) {
            self.slots[i as usize] = Some(r);
            return;
        }
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(r);
                i
            }
            None => {
                self.slots.push(Some(r));
                (self.slots.len() - 1) as u32
            }
        };
        self.map.insert(id, i);
    }
    fn remove(&mut self, id: &TaskId) {
        if let Some(i) = self.map.remove(id) {
            self.slots[i as usize] = None;
            self.free.push(i);
        }
    }
    pub fn get(&self, id: &TaskId) -> Option<&TaskRecord> {
        let i = *self.map.get(id)?;
        self.slots[i as usize].as_ref()
    }
    pub fn get_mut(&mut self, id: &TaskId) -> Option<&mut TaskRecord> {
        let i = *self.map.get(id)?;
        self.slots[i as usize].as_mut()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&TaskId, &TaskRecord)> {
        self.map
            .iter()
            .filter_map(|(id, i)| self.slots[*i as usize].as_ref().map(|r| (id, r)))
    }
    /// Marks a task finished or failed; old finished tasks fall out past `history`.
    pub fn finish(
        &mut self,
        id: TaskId,
        start: Option<u64>,
        result: Result<(), &crate::error::RuntimeError>,
        worker: Option<(WorkerId, Option<u32>)>,
    ) {
        let now = self.epoch.elapsed().as_nanos() as u64;
        self.finish_at(id, start, result, worker, now);
    }

    /// `finish` with the end time (ns since runtime start) already read by the caller, so a
    /// batch of calls or a task that just timed itself needs no further clock read.
    pub fn finish_at(
        &mut self,
        id: TaskId,
        start: Option<u64>,
        result: Result<(), &crate::error::RuntimeError>,
        worker: Option<(WorkerId, Option<u32>)>,
        now: u64,
    ) {
        if let Some(r) = self.get_mut(&id) {
            if let Some(s) = start {
                r.start = Some(s);
                r.attempts = r.attempts.max(1);
            }
            if let Some((w, pid)) = worker {
                r.worker = Some(w);
                r.worker_pid = pid;
            }
            r.end = Some(now);
            match result {
                Ok(()) => r.state = TaskState::Finished,
                Err(e) => {
                    r.state = TaskState::Failed;
                    r.error = Some(e.to_string());
                }
            }
            self.finished_order.push_back(id);
            while self.finished_order.len() > self.history {
                if let Some(old) = self.finished_order.pop_front() {
                    self.remove(&old);
                }
            }
        }
    }
}

/// The task table split by task id into shards with a lock each, so clients submitting at the
/// same time (and actors storing results) rarely wait on one another. A small `history` keeps
/// one shard, so the "last `history` finished tasks" bound stays exact there; with many
/// shards each keeps its share of it.
pub(crate) struct Tasks {
    shards: Box<[parking_lot::Mutex<TaskTable>]>,
}

impl Tasks {
    pub fn new(history: usize, epoch: std::time::Instant) -> Self {
        // `shard_of` picks among 16.
        let n = if history >= 4096 { 16 } else { 1 };
        let per = history.div_ceil(n);
        Tasks {
            shards: (0..n)
                .map(|_| parking_lot::Mutex::new(TaskTable::new(per, epoch)))
                .collect(),
        }
    }
    /// Which shard holds `id`: its low four bits folded with the next twelve, so consecutive ids
    /// land on different shards and ids drawn in a regular stride (say a `put` between
    /// submissions) still spread over every shard, each keeping its share of the history.
    pub fn shard_of(&self, id: TaskId) -> usize {
        if self.shards.len() == 1 {
            return 0;
        }
        let x = id.as_u64();
        ((x ^ (x >> 4) ^ (x >> 8) ^ (x >> 12)) & 15) as usize
    }
    /// The shard holding `id`, locked.
    pub fn lock(&self, id: TaskId) -> parking_lot::MutexGuard<'_, TaskTable> {
        self.shards[self.shard_of(id)].lock()
    }
    /// Every shard, locked one after another.
    pub fn shards(&self) -> &[parking_lot::Mutex<TaskTable>] {
        &self.shards
    }
}

/// Which tasks `RuntimeHandle::tasks` lists.
#[derive(Clone, Debug, Default)]
pub struct TaskFilter {
    /// Only tasks in this state.
    pub state: Option<TaskState>,
    /// Only tasks whose function name contains this text.
    pub function: Option<String>,
}

pub(crate) fn arg_infos(args: &[ArgSlot]) -> Vec<ArgInfo> {
    args.iter()
        .map(|a| match a {
            ArgSlot::Owned(_, t) => ArgInfo::Value(t),
            ArgSlot::Ref(r) => ArgInfo::Ref(r.id()),
            ArgSlot::Ready(_) => ArgInfo::Value("resolved"),
        })
        .collect()
}

thread_local! {
    /// The task or actor call this thread is executing (driver threads and worker processes
    /// alike): nested submissions record it as their parent, and `runtime::current()` answers
    /// only inside one.
    pub(crate) static CURRENT_TASK: std::cell::Cell<Option<TaskId>> = const { std::cell::Cell::new(None) };
}
