//! The timeline as a Chrome trace (chrome://tracing, Perfetto): per task three slices named
//! as Ray 2.x names them (`task:get_arguments`, `task:execute`, `task:store_outputs`; the
//! execute slice's name is the function, as in Ray's `ray timeline`), one lane per worker,
//! and a flow arrow from each dependency's producer to its consumer.

use crate::snapshot::Snapshot;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Which part of the timeline to return.
#[derive(Clone, Debug, Default)]
pub struct TraceWindow {
    /// Only attempts that end at or after this time (seconds since runtime start).
    pub start_s: Option<f64>,
    /// Only attempts that start at or before this time.
    pub end_s: Option<f64>,
    /// At most this many attempts (the latest ones); `None`: all.
    pub limit: Option<usize>,
}

/// The trace events (a JSON array, the format both viewers load).
pub fn chrome_trace(s: &Snapshot, w: &TraceWindow) -> Value {
    let mut rows: Vec<&crate::snapshot::PhaseRow> = s
        .timeline
        .iter()
        .filter(|r| w.start_s.is_none_or(|x| r.phases.end >= x))
        .filter(|r| w.end_s.is_none_or(|x| r.phases.get_arguments <= x))
        .collect();
    if let Some(n) = w.limit {
        if rows.len() > n {
            rows.sort_by(|a, b| a.phases.get_arguments.total_cmp(&b.phases.get_arguments));
            rows.drain(..rows.len() - n);
        }
    }
    let producers: HashMap<&str, (&str, &str, f64)> = rows
        .iter()
        .map(|r| (r.task_id.as_str(), (r.node_id.as_str(), r.lane.as_str(), r.phases.end)))
        .collect();
    let us = |s: f64| (s * 1e6 * 1000.0).round() / 1000.0;
    let mut out = Vec::with_capacity(rows.len() * 3 + 16);
    let mut lanes = std::collections::BTreeSet::new();
    let mut flow = 0u64;
    for r in &rows {
        lanes.insert((r.node_id.as_str(), r.lane.as_str()));
        let args = json!({"task_id": r.task_id, "function": r.function});
        let p = r.phases;
        for (cat, name, a, b) in [
            ("task:get_arguments", "task:get_arguments", p.get_arguments, p.execute),
            ("task:execute", r.function.as_str(), p.execute, p.store_outputs),
            ("task:store_outputs", "task:store_outputs", p.store_outputs, p.end),
        ] {
            out.push(json!({"cat": cat, "name": name, "ph": "X", "pid": r.node_id, "tid": r.lane,
                "ts": us(a), "dur": us((b - a).max(0.0)), "args": args}));
        }
        for d in &r.deps {
            if let Some((pnode, plane, pend)) = producers.get(d.as_str()) {
                flow += 1;
                let a = json!({"from": d, "to": r.task_id});
                out.push(json!({"cat": "dependency", "name": "dependency", "ph": "s", "id": flow,
                    "pid": pnode, "tid": plane, "ts": us((pend - 1e-6).max(0.0)), "args": a}));
                out.push(json!({"cat": "dependency", "name": "dependency", "ph": "f", "bp": "e",
                    "id": flow, "pid": r.node_id, "tid": r.lane, "ts": us(p.get_arguments), "args": a}));
            }
        }
    }
    for (node, lane) in lanes {
        out.push(json!({"name": "thread_name", "ph": "M", "pid": node, "tid": lane, "args": {"name": lane}}));
    }
    Value::Array(out)
}
