//! The histogram of task completion times (end minus start of finished tasks).

use crate::snapshot::Snapshot;
use serde::Serialize;
use std::collections::BTreeSet;

/// One bar.
#[derive(Clone, Debug, Serialize)]
pub struct Bucket {
    /// Lower edge, seconds.
    pub lo: f64,
    /// Upper edge, seconds.
    pub hi: f64,
    /// Tasks in it.
    pub count: usize,
}

/// The histogram and what it was drawn from.
#[derive(Clone, Debug, Serialize)]
pub struct CompletionTimes {
    /// Bars, equal widths from the shortest to the longest duration.
    pub buckets: Vec<Bucket>,
    /// Tasks counted.
    pub count: usize,
    /// Mean duration, seconds.
    pub mean_s: Option<f64>,
    /// Every function name seen (for the page's filter).
    pub functions: Vec<String>,
}

/// Which tasks the histogram counts.
#[derive(Clone, Debug, Default)]
pub struct CompletionFilter {
    /// Only this function (exact name).
    pub function: Option<String>,
    /// Only tasks that ended at or after this time (seconds since runtime start).
    pub start_s: Option<f64>,
    /// Only tasks that ended at or before this time.
    pub end_s: Option<f64>,
}

/// The histogram of finished tasks' durations, in `bins` equal bars.
pub fn completion_times(s: &Snapshot, f: &CompletionFilter, bins: usize) -> CompletionTimes {
    let mut functions = BTreeSet::new();
    let mut d = Vec::new();
    for t in &s.tasks {
        functions.insert(t.function.as_str());
        let (Some(a), Some(b)) = (t.start_time_s, t.end_time_s) else {
            continue;
        };
        if t.state != "FINISHED"
            || f.function.as_ref().is_some_and(|x| *x != t.function)
            || f.start_s.is_some_and(|x| b < x)
            || f.end_s.is_some_and(|x| b > x)
        {
            continue;
        }
        d.push((b - a).max(0.0));
    }
    let bins = bins.max(1);
    let lo = d.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = d.iter().copied().fold(0.0, f64::max);
    let mut buckets = Vec::new();
    if !d.is_empty() {
        let w = ((hi - lo) / bins as f64).max(1e-9);
        buckets = (0..bins)
            .map(|i| Bucket {
                lo: lo + i as f64 * w,
                hi: lo + (i + 1) as f64 * w,
                count: 0,
            })
            .collect();
        for x in &d {
            let i = (((x - lo) / w) as usize).min(bins - 1);
            buckets[i].count += 1;
        }
    }
    CompletionTimes {
        count: d.len(),
        mean_s: (!d.is_empty()).then(|| d.iter().sum::<f64>() / d.len() as f64),
        buckets,
        functions: functions.into_iter().map(str::to_string).collect(),
    }
}
