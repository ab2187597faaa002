//! The timeline as a Chrome trace (chrome://tracing, Perfetto): per task three slices named
//! as Ray 2.x names them (`task:get_arguments`, `task:execute`, `task:store_outputs`; the
//! execute slice's name is the function, as in Ray's `ray timeline`), one lane per worker,
//! and a flow arrow from each dependency's producer to its consumer.

use crate::snapshot::Snapshot;
use std::collections::HashMap;
use std::io::Write;

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

/// The trace events as JSON text (an array, the format both viewers load). Written straight
/// into bytes: building a `serde_json::Value` per event took most of a second at 100,000 tasks.
pub fn chrome_trace(s: &Snapshot, w: &TraceWindow) -> Vec<u8> {
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
        .map(|r| {
            (
                r.task_id.as_str(),
                (r.node_id.as_str(), r.lane.as_str(), r.phases.end),
            )
        })
        .collect();
    // Times as integer nanoseconds printed as microseconds with three decimals: formatting
    // floats was most of the cost of a 100,000-task trace.
    let ns = |s: f64| (s.max(0.0) * 1e9).round() as u64;
    struct Us(u64);
    impl std::fmt::Display for Us {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
        }
    }
    // Ids, nodes and lanes are the runtime's own ASCII names; only function names need JSON
    // escaping, done once per name.
    let mut escaped: HashMap<&str, String> = HashMap::new();
    for r in &rows {
        escaped.entry(r.function.as_str()).or_insert_with(|| {
            serde_json::to_string(&r.function).unwrap_or_else(|_| "\"?\"".into())
        });
    }
    let mut out: Vec<u8> = Vec::with_capacity(rows.len() * 600 + 64);
    out.push(b'[');
    let mut first = true;
    let mut sep = |out: &mut Vec<u8>| {
        if !first {
            out.extend_from_slice(b",\n");
        }
        first = false;
    };
    let mut lanes = std::collections::BTreeSet::new();
    let mut flow = 0u64;
    for r in &rows {
        lanes.insert((r.node_id.as_str(), r.lane.as_str()));
        let (node, lane, task) = (&r.node_id, &r.lane, &r.task_id);
        let func = &escaped[r.function.as_str()];
        let p = r.phases;
        let (a, b, c, d) = (
            ns(p.get_arguments),
            ns(p.execute),
            ns(p.store_outputs),
            ns(p.end),
        );
        for (cat, name, from, to) in [
            ("task:get_arguments", "\"task:get_arguments\"", a, b),
            ("task:execute", func.as_str(), b, c),
            ("task:store_outputs", "\"task:store_outputs\"", c, d),
        ] {
            sep(&mut out);
            let _ = write!(
                out,
                "{{\"cat\":\"{cat}\",\"name\":{name},\"ph\":\"X\",\"pid\":\"{node}\",\"tid\":\"{lane}\",\"ts\":{},\"dur\":{},\"args\":{{\"task_id\":\"{task}\",\"function\":{func}}}}}",
                Us(from),
                Us(to.saturating_sub(from))
            );
        }
        for dep in &r.deps {
            if let Some((pnode, plane, pend)) = producers.get(dep.as_str()) {
                flow += 1;
                sep(&mut out);
                let _ = write!(
                    out,
                    "{{\"cat\":\"dependency\",\"name\":\"dependency\",\"ph\":\"s\",\"id\":{flow},\"pid\":\"{pnode}\",\"tid\":\"{plane}\",\"ts\":{},\"args\":{{\"from\":\"{dep}\",\"to\":\"{task}\"}}}}",
                    Us(ns(*pend).saturating_sub(1000))
                );
                sep(&mut out);
                let _ = write!(
                    out,
                    "{{\"cat\":\"dependency\",\"name\":\"dependency\",\"ph\":\"f\",\"bp\":\"e\",\"id\":{flow},\"pid\":\"{node}\",\"tid\":\"{lane}\",\"ts\":{},\"args\":{{\"from\":\"{dep}\",\"to\":\"{task}\"}}}}",
                    Us(a)
                );
            }
        }
    }
    for (node, lane) in lanes {
        sep(&mut out);
        let _ = write!(
            out,
            "{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":\"{node}\",\"tid\":\"{lane}\",\"args\":{{\"name\":\"{lane}\"}}}}"
        );
    }
    out.push(b']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{PhaseRow, PhaseTimes};

    fn row(id: &str, deps: &[&str], t: f64) -> PhaseRow {
        PhaseRow {
            task_id: id.into(),
            function: "f\"quoted\"".into(),
            lane: "worker:1".into(),
            node_id: "node-0".into(),
            phases: PhaseTimes {
                get_arguments: t,
                execute: t + 0.1,
                store_outputs: t + 0.2,
                end: t + 0.3,
            },
            deps: deps.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn the_trace_is_json_with_phases_arrows_and_lanes() {
        let s = Snapshot::new(
            vec![],
            vec![],
            vec![],
            vec![],
            vec![
                row("task-0:1", &[], 0.0),
                row("task-0:2", &["task-0:1"], 1.0),
            ],
            2.0,
        );
        let v: serde_json::Value =
            serde_json::from_slice(&chrome_trace(&s, &TraceWindow::default())).unwrap();
        let a = v.as_array().unwrap();
        assert_eq!(a.iter().filter(|e| e["ph"] == "X").count(), 6);
        assert_eq!(a.iter().filter(|e| e["cat"] == "dependency").count(), 2);
        assert!(a.iter().any(|e| e["name"] == "f\"quoted\""));
        assert_eq!(a.iter().filter(|e| e["ph"] == "M").count(), 1);
        let w = TraceWindow {
            start_s: Some(1.05),
            ..Default::default()
        };
        let v: serde_json::Value = serde_json::from_slice(&chrome_trace(&s, &w)).unwrap();
        assert_eq!(
            v.as_array()
                .unwrap()
                .iter()
                .filter(|e| e["ph"] == "X")
                .count(),
            3
        );
        let empty: serde_json::Value =
            serde_json::from_slice(&chrome_trace(&Snapshot::default(), &TraceWindow::default()))
                .unwrap();
        assert_eq!(empty, serde_json::json!([]));
    }
}
