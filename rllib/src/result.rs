//! Training results with RLlib's keys, and the paths stop conditions may name.

use serde_json::{json, Value};

use crate::evaluation::MetricsWindow;

/// What one iteration measured, before it becomes RLlib's nested result.
#[derive(Debug, Clone, Default)]
pub struct IterationInfo {
    /// 1-based iteration number.
    pub training_iteration: u64,
    /// Env steps sampled in total.
    pub timesteps_total: u64,
    /// Env steps sampled in this iteration.
    pub timesteps_this_iter: u64,
    /// Episodes finished in this iteration.
    pub episodes_this_iter: u64,
    /// Steps trained on in total.
    pub num_steps_trained: u64,
    /// Wall time of this iteration.
    pub time_this_iter_s: f64,
    /// Wall time since training began (across restores).
    pub time_total_s: f64,
    /// Time spent sampling, ms.
    pub sample_time_ms: f64,
    /// Time spent learning, ms.
    pub learn_time_ms: f64,
    /// Time spent broadcasting weights, ms.
    pub update_time_ms: f64,
    /// The learner's statistics (algorithm-specific keys).
    pub learner: Value,
    /// The optimizer's own statistics, merged into `info`.
    pub optimizer: serde_json::Map<String, Value>,
}

/// Builds the nested result RLlib users know, with old (`episode_reward_mean`) and new
/// (`env_runners/episode_return_mean`) names side by side.
pub fn build_result(it: &IterationInfo, metrics: &MetricsWindow, done: bool) -> Value {
    let (mean, min, max) = metrics.returns();
    let len = metrics.mean_length();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut result = json!({
        "episode_reward_mean": mean,
        "episode_reward_min": min,
        "episode_reward_max": max,
        "episode_len_mean": len,
        "episodes_this_iter": it.episodes_this_iter,
        "episodes_total": metrics.episodes_total,
        "timesteps_total": it.timesteps_total,
        "timesteps_this_iter": it.timesteps_this_iter,
        "training_iteration": it.training_iteration,
        "time_this_iter_s": it.time_this_iter_s,
        "time_total_s": it.time_total_s,
        "timestamp": now,
        "done": done,
        "num_env_steps_sampled_lifetime": it.timesteps_total,
        "env_runners": {
            "episode_return_mean": mean,
            "episode_return_min": min,
            "episode_return_max": max,
            "episode_len_mean": len,
            "num_episodes": it.episodes_this_iter,
            "num_env_steps_sampled": it.timesteps_this_iter,
        },
        "info": {
            "num_steps_sampled": it.timesteps_total,
            "num_steps_trained": it.num_steps_trained,
            "sample_time_ms": it.sample_time_ms,
            "learn_time_ms": it.learn_time_ms,
            "update_time_ms": it.update_time_ms,
            "learner": { "default_policy": it.learner },
        },
    });
    if let Some(info) = result.get_mut("info").and_then(Value::as_object_mut) {
        info.extend(it.optimizer.clone());
    }
    result
}

/// Keys whose values are wall-clock measurements (differ between identical runs).
pub const TIME_KEYS: &[&str] = &[
    "time_this_iter_s",
    "time_total_s",
    "timestamp",
    "info/sample_time_ms",
    "info/learn_time_ms",
    "info/update_time_ms",
    "info/worker_sample_and_grad_time_ms",
    "info/grads_per_s",
];

/// The result flattened to `a/b/c` paths, numbers only (booleans as 0/1).
pub fn flatten_numbers(v: &Value) -> Vec<(String, f64)> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, f64)>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}/{k}")
                    };
                    walk(&p, x, out);
                }
            }
            Value::Number(n) => out.push((prefix.to_string(), n.as_f64().unwrap_or(f64::NAN))),
            Value::Bool(b) => out.push((prefix.to_string(), if *b { 1.0 } else { 0.0 })),
            // NaN metrics (no episode finished yet) serialize as null.
            Value::Null => out.push((prefix.to_string(), f64::NAN)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", v, &mut out);
    out
}

/// Looks up an `a/b/c` path in a nested result.
pub fn lookup(v: &Value, path: &str) -> Option<f64> {
    let mut cur = v;
    for part in path.split('/') {
        cur = cur.get(part)?;
    }
    cur.as_f64()
}

/// Every path a result contains (what stop conditions may name).
pub fn known_result_paths() -> Vec<String> {
    // Every algorithm's learner keys and the async optimizer's keys count as known.
    let mut learner = serde_json::to_value(crate::algorithms::ppo::LearnerStats::default())
        .unwrap_or(Value::Null);
    if let (Some(l), Ok(Value::Object(a))) = (
        learner.as_object_mut(),
        serde_json::to_value(crate::algorithms::a3c::A3cStats::default()),
    ) {
        l.extend(a);
    }
    let optimizer = [
        "num_grads_applied",
        "mean_grad_staleness",
        "weights_version",
        "grads_per_s",
    ]
    .iter()
    .map(|k| (k.to_string(), json!(0)))
    .collect();
    let it = IterationInfo {
        learner,
        optimizer,
        ..Default::default()
    };
    let sample = build_result(&it, &MetricsWindow::new(1), false);
    flatten_numbers(&sample)
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

/// Stop keys are paths into the result; RLlib also accepted dots in old files.
pub fn canonical_stop_key(key: &str) -> String {
    key.replace('.', "/")
}

/// The result without its wall-clock keys (for comparing two runs).
pub fn without_times(v: &Value) -> Value {
    let mut v = v.clone();
    for k in TIME_KEYS {
        let (parent, last) = match k.rsplit_once('/') {
            Some((p, l)) => (Some(p), l),
            None => (None, *k),
        };
        let target = match parent {
            Some(p) => v.pointer_mut(&format!("/{p}")),
            None => Some(&mut v),
        };
        if let Some(m) = target.and_then(Value::as_object_mut) {
            m.remove(last);
        }
    }
    v
}
