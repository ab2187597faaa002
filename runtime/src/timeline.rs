//! A timeline of every task in Chrome trace format (chrome://tracing, Perfetto).
//!
//! Each worker appends to its own buffer (an uncontended lock): under the scheduler's lock only
//! into a small staging vector that stays in cache, then, outside it, into a bounded ring, so a
//! long run cannot grow without limit.

use crate::ids::{NodeId, TaskId, WorkerId};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// One finished task attempt as recorded by its worker; times in ns since runtime start.
#[derive(Clone, Debug)]
pub(crate) struct TaskEvent {
    pub task: TaskId,
    pub function: &'static str,
    pub get_args: u64,
    pub execute: u64,
    pub store: u64,
    pub end: u64,
    pub deps: Vec<TaskId>,
}

/// One task attempt on the timeline: its worker and the start of each phase; times in ns since
/// runtime start (`get_arguments` .. `execute` .. `store_outputs` .. `end`).
#[derive(Clone, Debug, Serialize)]
pub struct TaskPhases {
    /// The task.
    pub task_id: TaskId,
    /// Function or actor method name.
    pub function: &'static str,
    /// The worker that ran it.
    pub worker: WorkerId,
    /// Its lane in the trace (`worker:<label>`).
    pub lane: String,
    /// When argument fetching started.
    pub get_arguments: u64,
    /// When the function started.
    pub execute: u64,
    /// When storing the outputs started.
    pub store_outputs: u64,
    /// When the attempt ended.
    pub end: u64,
    /// Tasks whose outputs it consumed (the trace's arrows).
    pub deps: Vec<TaskId>,
}

/// How many events a worker stages before moving them into its ring.
const STAGE: usize = 64;

/// One worker's events: a small staging vector written while the scheduler's lock is held
/// (it stays in cache), and the bounded ring it is moved into afterwards, outside that lock.
/// Writing straight into the ring put a cache miss (the oldest event, read to be dropped and
/// overwritten) inside the scheduler's critical section of every task.
struct Buf {
    ring: VecDeque<TaskEvent>,
    staged: Vec<TaskEvent>,
}

/// The buffer one worker writes to.
pub(crate) struct WorkerTimeline {
    worker: WorkerId,
    label: String,
    events: Mutex<Buf>,
    capacity: usize,
}

impl WorkerTimeline {
    /// Records an event; true when the caller should `flush` (once it holds no other lock).
    pub fn record(&self, e: TaskEvent) -> bool {
        let mut b = self.events.lock();
        b.staged.push(e);
        b.staged.len() >= STAGE
    }

    /// Records a batch, each event ending at `end`; true when the caller should `flush`.
    pub fn record_all(&self, events: impl Iterator<Item = TaskEvent>, end: u64) -> bool {
        let mut b = self.events.lock();
        for mut e in events {
            e.end = end;
            b.staged.push(e);
        }
        b.staged.len() >= STAGE
    }

    /// Moves staged events into the bounded ring.
    pub fn flush(&self) {
        let mut b = self.events.lock();
        let Buf { ring, staged } = &mut *b;
        for e in staged.drain(..) {
            if ring.len() >= self.capacity {
                ring.pop_front();
            }
            ring.push_back(e);
        }
    }
}

/// All workers' buffers.
pub(crate) struct Timeline {
    pub enabled: bool,
    capacity: usize,
    workers: Mutex<Vec<Arc<WorkerTimeline>>>,
}

impl Timeline {
    pub fn new(enabled: bool, capacity: usize) -> Self {
        Timeline {
            enabled,
            capacity,
            workers: Mutex::new(Vec::new()),
        }
    }

    /// A buffer for a new worker; `label` becomes its row name (`worker:<id>`).
    pub fn worker(&self, worker: WorkerId, label: String) -> Arc<WorkerTimeline> {
        let w = Arc::new(WorkerTimeline {
            worker,
            label,
            events: Mutex::new(Buf {
                ring: VecDeque::new(),
                staged: Vec::with_capacity(STAGE),
            }),
            capacity: self.capacity,
        });
        if self.enabled {
            self.workers.lock().push(w.clone());
        }
        w
    }

    /// Every recorded attempt, worker by worker (oldest first within a worker).
    pub fn records(&self) -> Vec<TaskPhases> {
        let workers: Vec<Arc<WorkerTimeline>> = self.workers.lock().clone();
        let mut out = Vec::new();
        for w in &workers {
            let lane = format!("worker:{}", w.label);
            let b = w.events.lock();
            out.extend(b.ring.iter().chain(b.staged.iter()).map(|e| TaskPhases {
                task_id: e.task,
                function: e.function,
                worker: w.worker,
                lane: lane.clone(),
                get_arguments: e.get_args,
                execute: e.execute,
                store_outputs: e.store,
                end: e.end,
                deps: e.deps.clone(),
            }));
        }
        out
    }

    /// Chrome trace events: three slices per task and a flow arrow per consumed dependency.
    pub fn events(&self, node: NodeId) -> Vec<serde_json::Value> {
        let workers: Vec<Arc<WorkerTimeline>> = self.workers.lock().clone();
        let mut out = Vec::new();
        // Where each task ran and ended, so arrows start at the producer's store_outputs.
        let mut producers: HashMap<TaskId, (String, u64)> = HashMap::new();
        let mut all: Vec<(String, WorkerId, TaskEvent)> = Vec::new();
        for w in &workers {
            let tid = format!("worker:{}", w.label);
            let b = w.events.lock();
            for e in b.ring.iter().chain(b.staged.iter()) {
                producers.insert(e.task, (tid.clone(), e.end));
                all.push((tid.clone(), w.worker, e.clone()));
            }
        }
        let pid = node.to_string();
        let us = |ns: u64| ns as f64 / 1000.0;
        let mut flow_id = 0u64;
        for (tid, worker, e) in &all {
            let args = json!({"task_id": e.task.to_string(), "function": e.function, "worker": worker.to_string()});
            for (name, from, to) in [
                ("task:get_arguments", e.get_args, e.execute),
                ("task:execute", e.execute, e.store),
                ("task:store_outputs", e.store, e.end),
            ] {
                out.push(json!({
                    "cat": name, "name": if name == "task:execute" { e.function.to_string() } else { name.to_string() },
                    "pid": pid, "tid": tid, "ts": us(from), "dur": us(to.saturating_sub(from)),
                    "ph": "X", "args": args,
                }));
            }
            for d in &e.deps {
                if let Some((ptid, pend)) = producers.get(d) {
                    flow_id += 1;
                    out.push(json!({"cat": "dependency", "name": "dependency", "ph": "s", "id": flow_id,
                        "pid": pid, "tid": ptid, "ts": us(pend.saturating_sub(1)), "args": {"from": d.to_string(), "to": e.task.to_string()}}));
                    out.push(json!({"cat": "dependency", "name": "dependency", "ph": "f", "bp": "e", "id": flow_id,
                        "pid": pid, "tid": tid, "ts": us(e.get_args), "args": {"from": d.to_string(), "to": e.task.to_string()}}));
                }
            }
        }
        for w in &workers {
            out.push(json!({"name": "thread_name", "ph": "M", "pid": pid, "tid": format!("worker:{}", w.label),
                "args": {"name": format!("worker:{}", w.label)}}));
        }
        out
    }

    /// Writes the trace as a JSON array, the format both viewers load.
    pub fn write(&self, node: NodeId, path: &Path) -> std::io::Result<()> {
        let events = self.events(node);
        let tmp = path.with_extension("json.tmp");
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        serde_json::to_writer(&mut f, &events)?;
        f.flush()?;
        drop(f);
        std::fs::rename(tmp, path)
    }
}
