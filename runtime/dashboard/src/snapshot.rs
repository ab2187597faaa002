//! What the dashboard shows of a live runtime: one consistent copy of its tables (tasks,
//! objects, actors, nodes, the timeline), taken through [`StateSource`] and kept for a short
//! while so that many requests (and a page polling every few seconds) cost one copy.

use parking_lot::{Mutex, RwLock};
use runtime::{ArgInfo, ObjectStatus, RuntimeHandle, TaskFilter, TaskState};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Ray's names for task states (`ray list tasks`).
pub const TASK_STATES: [&str; 5] = [
    "PENDING_ARGS_AVAIL",
    "PENDING_NODE_ASSIGNMENT",
    "RUNNING",
    "FINISHED",
    "FAILED",
];

/// An argument as the task record shows it.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ArgRow {
    /// Passed by value (only its type is recorded).
    Value {
        /// The value's type.
        r#type: String,
    },
    /// Passed as an object ref.
    Object {
        /// The object.
        object_id: String,
    },
}

/// When each phase of a task's last recorded attempt started, seconds since runtime start.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct PhaseTimes {
    /// Fetching arguments started.
    pub get_arguments: f64,
    /// The function started.
    pub execute: f64,
    /// Storing outputs started.
    pub store_outputs: f64,
    /// The attempt ended.
    pub end: f64,
}

/// One row of the task table, as the API returns it.
#[derive(Clone, Debug, Serialize)]
pub struct TaskRow {
    /// `task-<node>:<counter>`.
    pub task_id: String,
    /// The task that submitted it.
    pub parent_task_id: Option<String>,
    /// Function or actor method.
    pub function: String,
    /// Arguments: values (by type) or object ids.
    pub args: Vec<ArgRow>,
    /// The object holding its return value.
    pub return_object_ids: Vec<String>,
    /// Resources it asked for (`CPU`, `GPU`, custom).
    pub required_resources: BTreeMap<String, f64>,
    /// The actor, for actor calls and constructors.
    pub actor_id: Option<String>,
    /// Its number among the actor's calls.
    pub actor_call_index: Option<u64>,
    /// One of [`TASK_STATES`].
    pub state: &'static str,
    /// The worker that ran it.
    pub worker_id: Option<String>,
    /// That worker's OS pid.
    pub worker_pid: Option<u32>,
    /// The node it ran on.
    pub node_id: String,
    /// Seconds since runtime start.
    pub submit_time_s: f64,
    /// Seconds since runtime start (last attempt).
    pub start_time_s: Option<f64>,
    /// Seconds since runtime start.
    pub end_time_s: Option<f64>,
    /// The phases of its last recorded attempt (from the timeline).
    pub phases: Option<PhaseTimes>,
    /// Attempts started.
    pub attempts: u32,
    /// The error, when it failed.
    pub error: Option<String>,
}

/// One row of the object table.
#[derive(Clone, Debug, Serialize)]
pub struct ObjectRow {
    /// `obj-<node>:<counter>`.
    pub object_id: String,
    /// Serialized size in bytes, when known.
    pub size_bytes: Option<usize>,
    /// Where it lives.
    pub location: String,
    /// The node holding it.
    pub node_id: String,
    /// Created by `put` (otherwise a task's return value).
    pub is_put: bool,
    /// The task that makes it (`None` for `put`).
    pub task_id: Option<String>,
    /// `PENDING`, `READY` or `FAILED`.
    pub status: &'static str,
    /// The error, when its task failed.
    pub error: Option<String>,
    /// Live references to it.
    pub reference_count: u32,
    /// The worker process that returned it.
    pub from_worker: Option<String>,
    /// Tasks waiting for it as an argument.
    pub waiting_tasks: Vec<String>,
}

/// One row of the actor table.
#[derive(Clone, Debug, Serialize)]
pub struct ActorRow {
    /// `actor-<node>:<counter>`.
    pub actor_id: String,
    /// Its class.
    pub class_name: String,
    /// `PENDING_CREATION`, `ALIVE`, `RESTARTING` or `DEAD`.
    pub state: &'static str,
    /// Why it died.
    pub death_cause: Option<String>,
    /// Its worker.
    pub worker_id: Option<String>,
    /// Its worker's pid.
    pub pid: Option<u32>,
    /// Restarts so far.
    pub restarts: u32,
}

/// One node with its resources.
#[derive(Clone, Debug, Serialize)]
pub struct NodeRow {
    /// `node-<n>`, or `place-<i>` while no worker there tells its node.
    pub node_id: String,
    /// `ALIVE` or `DEAD`.
    pub state: &'static str,
    /// Everything it offers.
    pub resources_total: BTreeMap<String, f64>,
    /// What is free now.
    pub resources_available: BTreeMap<String, f64>,
    /// Task workers there.
    pub workers: usize,
}

/// One task attempt on the timeline.
#[derive(Clone, Debug, Serialize)]
pub struct PhaseRow {
    /// The task.
    pub task_id: String,
    /// Function or method.
    pub function: String,
    /// `worker:<n>`: the lane it is drawn in.
    pub lane: String,
    /// The node its worker belongs to.
    pub node_id: String,
    /// Phase start times and end, seconds since runtime start.
    pub phases: PhaseTimes,
    /// Tasks whose outputs it consumed.
    pub deps: Vec<String>,
}

/// Everything the dashboard shows of a runtime at one moment.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Tasks, oldest first.
    pub tasks: Vec<TaskRow>,
    /// Objects by id.
    pub objects: Vec<ObjectRow>,
    /// Actors by id.
    pub actors: Vec<ActorRow>,
    /// Nodes.
    pub nodes: Vec<NodeRow>,
    /// Timeline attempts.
    pub timeline: Vec<PhaseRow>,
    /// Seconds the runtime had run when this was taken.
    pub uptime_s: f64,
    /// Task id -> index in `tasks`.
    task_index: HashMap<String, usize>,
    /// Object id -> index in `objects`.
    object_index: HashMap<String, usize>,
}

impl Snapshot {
    /// A snapshot of these rows (indexes built here).
    pub fn new(
        tasks: Vec<TaskRow>,
        objects: Vec<ObjectRow>,
        actors: Vec<ActorRow>,
        nodes: Vec<NodeRow>,
        timeline: Vec<PhaseRow>,
        uptime_s: f64,
    ) -> Self {
        let task_index = tasks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.task_id.clone(), i))
            .collect();
        let object_index = objects
            .iter()
            .enumerate()
            .map(|(i, o)| (o.object_id.clone(), i))
            .collect();
        Snapshot {
            tasks,
            objects,
            actors,
            nodes,
            timeline,
            uptime_s,
            task_index,
            object_index,
        }
    }

    /// The task with this id.
    pub fn task(&self, id: &str) -> Option<&TaskRow> {
        self.task_index.get(id).map(|&i| &self.tasks[i])
    }

    /// The object with this id.
    pub fn object(&self, id: &str) -> Option<&ObjectRow> {
        self.object_index.get(id).map(|&i| &self.objects[i])
    }
}

/// Where the dashboard's live state comes from (the runtime side implements it).
pub trait StateSource: Send + Sync {
    /// A fresh copy of the tables.
    fn snapshot(&self) -> Snapshot;
}

/// No runtime: past trials only (`rllib dashboard --logdir`).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoRuntime;

impl StateSource for NoRuntime {
    fn snapshot(&self) -> Snapshot {
        Snapshot::default()
    }
}

/// The runtime a training run uses; swapped as trials come and go, and kept after a trial
/// ends so its tables stay visible until the next one starts.
#[derive(Clone, Default)]
pub struct RuntimeSource {
    current: Arc<RwLock<Option<RuntimeHandle>>>,
}

impl RuntimeSource {
    /// A source showing nothing until [`RuntimeSource::set`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Shows this runtime from now on.
    pub fn set(&self, handle: Option<RuntimeHandle>) {
        *self.current.write() = handle;
    }
}

impl StateSource for RuntimeSource {
    fn snapshot(&self) -> Snapshot {
        match self.current.read().clone() {
            Some(h) => snapshot_of(&h),
            None => Snapshot::default(),
        }
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn ns(t: u64) -> f64 {
    t as f64 / 1e9
}

fn resource_map(r: &runtime::Resources) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    if r.cpu != 0.0 {
        m.insert("CPU".to_string(), r.cpu);
    }
    if r.gpu != 0.0 {
        m.insert("GPU".to_string(), r.gpu);
    }
    for (k, v) in &r.custom {
        m.insert(k.clone(), *v);
    }
    m
}

/// Ray's name of a task state.
pub fn state_name(s: TaskState) -> &'static str {
    match s {
        TaskState::WaitingForDependencies => TASK_STATES[0],
        TaskState::Scheduled => TASK_STATES[1],
        TaskState::Running => TASK_STATES[2],
        TaskState::Finished => TASK_STATES[3],
        TaskState::Failed => TASK_STATES[4],
    }
}

/// Copies a runtime's tables into a snapshot.
pub fn snapshot_of(h: &RuntimeHandle) -> Snapshot {
    let uptime_s = h.uptime().map(secs).unwrap_or(0.0);
    let records = h.timeline_records();
    // The last recorded attempt of each task gives its phase times.
    let mut phases: HashMap<runtime::TaskId, PhaseTimes> = HashMap::with_capacity(records.len());
    let timeline: Vec<PhaseRow> = records
        .iter()
        .map(|r| {
            let p = PhaseTimes {
                get_arguments: ns(r.get_arguments),
                execute: ns(r.execute),
                store_outputs: ns(r.store_outputs),
                end: ns(r.end),
            };
            phases.insert(r.task_id, p);
            PhaseRow {
                task_id: r.task_id.to_string(),
                function: r.function.to_string(),
                lane: r.lane.clone(),
                node_id: r.worker.node().to_string(),
                phases: p,
                deps: r.deps.iter().map(ToString::to_string).collect(),
            }
        })
        .collect();
    let tasks: Vec<TaskRow> = h
        .tasks(&TaskFilter::default())
        .into_iter()
        .map(|t| TaskRow {
            task_id: t.task_id.to_string(),
            parent_task_id: t.parent.map(|p| p.to_string()),
            function: t.function,
            args: t
                .args
                .iter()
                .map(|a| match a {
                    ArgInfo::Value(ty) => ArgRow::Value {
                        r#type: ty.to_string(),
                    },
                    ArgInfo::Ref(o) => ArgRow::Object {
                        object_id: o.to_string(),
                    },
                })
                .collect(),
            return_object_ids: vec![t.return_object.to_string()],
            required_resources: resource_map(&t.resources),
            actor_id: t.actor.map(|a| a.to_string()),
            actor_call_index: t.actor_call,
            state: state_name(t.state),
            worker_id: t.worker.map(|w| w.to_string()),
            worker_pid: t.worker_pid,
            node_id: t.worker.map(|w| w.node()).unwrap_or(t.node).to_string(),
            submit_time_s: secs(t.submit_time),
            start_time_s: t.start_time.map(secs),
            end_time_s: t.end_time.map(secs),
            phases: phases.get(&t.task_id).copied(),
            attempts: t.attempts,
            error: t.error,
        })
        .collect();
    let objects = h
        .objects()
        .into_iter()
        .map(|o| {
            let (status, error) = match o.status {
                ObjectStatus::Pending => ("PENDING", None),
                ObjectStatus::Ready => ("READY", None),
                ObjectStatus::Failed(e) => ("FAILED", Some(e)),
            };
            ObjectRow {
                object_id: o.object_id.to_string(),
                size_bytes: o.size,
                node_id: o.object_id.node().to_string(),
                location: o.location,
                is_put: o.is_put,
                task_id: o.task.map(|t| t.to_string()),
                status,
                error,
                reference_count: o.refs,
                from_worker: o.from_worker.map(|w| w.to_string()),
                waiting_tasks: o.waiting_tasks.iter().map(ToString::to_string).collect(),
            }
        })
        .collect();
    let actors = h
        .actors()
        .into_iter()
        .map(|(id, a)| {
            let (state, death_cause) = match a.status {
                runtime::ActorStatus::Pending => ("PENDING_CREATION", None),
                runtime::ActorStatus::Alive => ("ALIVE", None),
                runtime::ActorStatus::Restarting => ("RESTARTING", None),
                runtime::ActorStatus::Dead(why) => ("DEAD", Some(why)),
            };
            ActorRow {
                actor_id: id.to_string(),
                class_name: a.class.to_string(),
                state,
                death_cause,
                worker_id: a.worker.map(|w| w.to_string()),
                pid: a.pid,
                restarts: a.restarts,
            }
        })
        .collect();
    let nodes = h
        .nodes()
        .into_iter()
        .map(|n| NodeRow {
            node_id: n
                .node
                .map(|n| n.to_string())
                .unwrap_or_else(|| format!("place-{}", n.place)),
            state: if n.alive { "ALIVE" } else { "DEAD" },
            resources_available: {
                // Every resource the node has, at 0 when all of it is in use.
                let free = resource_map(&n.available);
                resource_map(&n.total)
                    .into_keys()
                    .map(|k| {
                        let v = free.get(&k).copied().unwrap_or(0.0);
                        (k, v)
                    })
                    .collect()
            },
            resources_total: resource_map(&n.total),
            workers: n.workers,
        })
        .collect();
    Snapshot::new(tasks, objects, actors, nodes, timeline, uptime_s)
}

/// The last snapshot, refreshed behind the requests: a request never waits for a copy except
/// the very first (stale-while-revalidate). A copy of 100,000 tasks takes a good part of a
/// second, so copies are at least `max_age` apart and at least five copy-durations apart:
/// however often pages poll, copying takes at most a fifth of one core, and nothing at all
/// while no one looks.
pub(crate) struct SnapshotCache {
    inner: Arc<CacheInner>,
}

struct CacheInner {
    source: Arc<dyn StateSource>,
    max_age: Duration,
    last: Mutex<Option<Cached>>,
    /// Serializes copies: the first request waits on it, later ones never do.
    copying: Mutex<()>,
}

struct Cached {
    snapshot: Arc<Snapshot>,
    taken: Instant,
    /// How long the copy took.
    cost: Duration,
    refreshing: bool,
}

impl CacheInner {
    fn take(&self) -> Arc<Snapshot> {
        let _one = self.copying.lock();
        let start = Instant::now();
        let s = Arc::new(self.source.snapshot());
        let cost = start.elapsed();
        *self.last.lock() = Some(Cached {
            snapshot: s.clone(),
            taken: Instant::now(),
            cost,
            refreshing: false,
        });
        s
    }
}

impl SnapshotCache {
    pub fn new(source: Arc<dyn StateSource>, max_age: Duration) -> Self {
        SnapshotCache {
            inner: Arc::new(CacheInner {
                source,
                max_age,
                last: Mutex::new(None),
                copying: Mutex::new(()),
            }),
        }
    }

    /// The latest snapshot; starts a fresh copy in the background when it is due.
    pub fn get(&self) -> Arc<Snapshot> {
        // A zero max_age (tests) copies for every request, in the request.
        if self.inner.max_age.is_zero() {
            return self.inner.take();
        }
        let stale = {
            let mut last = self.inner.last.lock();
            match &mut *last {
                None => None,
                Some(c) => {
                    let due = c.taken.elapsed() >= self.inner.max_age.max(c.cost * 5);
                    if due && !c.refreshing {
                        c.refreshing = true;
                        let inner = self.inner.clone();
                        std::thread::spawn(move || {
                            inner.take();
                        });
                    }
                    Some(c.snapshot.clone())
                }
            }
        };
        stale.unwrap_or_else(|| self.inner.take())
    }
}
