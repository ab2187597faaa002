//! A timeline of every task in Chrome trace format (chrome://tracing, Perfetto).
//!
//! Each worker appends to its own buffer (an uncontended lock), so recording stays far below the
//! 5% throughput budget; buffers are bounded so a long run cannot grow without limit.

use crate::ids::{NodeId, TaskId, WorkerId};
use parking_lot::Mutex;
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

/// The buffer one worker writes to.
pub(crate) struct WorkerTimeline {
    worker: WorkerId,
    label: String,
    events: Mutex<VecDeque<TaskEvent>>,
    capacity: usize,
}

impl WorkerTimeline {
    pub fn record(&self, e: TaskEvent) {
        let mut ev = self.events.lock();
        if ev.len() >= self.capacity {
            ev.pop_front();
        }
        ev.push_back(e);
    }

    /// Records a batch under one lock, each event ending at `end`.
    pub fn record_all(&self, events: impl Iterator<Item = TaskEvent>, end: u64) {
        let mut ev = self.events.lock();
        for mut e in events {
            e.end = end;
            if ev.len() >= self.capacity {
                ev.pop_front();
            }
            ev.push_back(e);
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
            events: Mutex::new(VecDeque::new()),
            capacity: self.capacity,
        });
        if self.enabled {
            self.workers.lock().push(w.clone());
        }
        w
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
            for e in w.events.lock().iter() {
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
