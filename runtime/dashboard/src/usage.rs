//! CPU usage over time and cluster usage (the seed's `cpu_usage` and `cluster_usage`),
//! derived from the task table: a task occupies its worker from start to end, so the busy
//! series is the average number of tasks running in each time bucket.

use crate::snapshot::Snapshot;
use serde::Serialize;
use std::collections::BTreeMap;

/// The usage series.
#[derive(Clone, Debug, Serialize)]
pub struct Usage {
    /// Bucket width, seconds.
    pub bucket_s: f64,
    /// Each bucket's start, seconds since runtime start.
    pub t: Vec<f64>,
    /// CPUs the live nodes have in total.
    pub cpus_total: f64,
    /// Average tasks running per bucket (each keeps one worker, so one CPU, busy).
    pub cpus_busy: Vec<f64>,
    /// Per node: average tasks running per bucket (the heat map's rows).
    pub nodes: BTreeMap<String, Vec<f64>>,
}

/// The series over `[0, uptime]` in at most `buckets` buckets.
pub fn usage(s: &Snapshot, buckets: usize) -> Usage {
    let end = s
        .tasks
        .iter()
        .filter_map(|t| t.end_time_s)
        .fold(s.uptime_s, f64::max)
        .max(1e-3);
    let n = buckets.max(1);
    let w = end / n as f64;
    let mut busy = vec![0.0; n];
    let mut nodes: BTreeMap<String, Vec<f64>> = s
        .nodes
        .iter()
        .map(|nd| (nd.node_id.clone(), vec![0.0; n]))
        .collect();
    for t in &s.tasks {
        let Some(a) = t.start_time_s else { continue };
        let b = t.end_time_s.unwrap_or(end);
        if b <= a {
            continue;
        }
        let row = nodes
            .entry(t.node_id.clone())
            .or_insert_with(|| vec![0.0; n]);
        let first = ((a / w) as usize).min(n - 1);
        let last = ((b / w) as usize).min(n - 1);
        for i in first..=last {
            let lo = i as f64 * w;
            let overlap = (b.min(lo + w) - a.max(lo)).max(0.0) / w;
            busy[i] += overlap;
            row[i] += overlap;
        }
    }
    let cpus_total = s
        .nodes
        .iter()
        .filter(|nd| nd.state == "ALIVE")
        .filter_map(|nd| nd.resources_total.get("CPU"))
        .sum();
    Usage {
        bucket_s: w,
        t: (0..n).map(|i| i as f64 * w).collect(),
        cpus_total,
        cpus_busy: busy,
        nodes,
    }
}
