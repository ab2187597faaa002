//! One training iteration's result as a typed value, and the one place it becomes RLlib's
//! nested keys (old and new names side by side); the paths stop conditions may name.
//!
//! This module sits at the bottom of the crate: configs validate stop keys against it,
//! algorithms fill in its statistics types, the trainer builds it, loggers write it.

mod stats;

use serde_json::{json, Value};

pub use stats::{A3cStats, AsyncGradientsStats, LearnerStats, PpoStats};

/// Episode metrics smoothed over the last `metrics_smoothing_episodes` episodes (NaN while
/// no episode has finished).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpisodeMetrics {
    /// Mean undiscounted return.
    pub return_mean: f64,
    /// Smallest return.
    pub return_min: f64,
    /// Largest return.
    pub return_max: f64,
    /// Mean episode length.
    pub len_mean: f64,
}

impl Default for EpisodeMetrics {
    fn default() -> Self {
        EpisodeMetrics {
            return_mean: f64::NAN,
            return_min: f64::NAN,
            return_max: f64::NAN,
            len_mean: f64::NAN,
        }
    }
}

/// Where an iteration's wall time went, ms.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timers {
    /// Sampling (waiting for the workers' batches).
    pub sample_time_ms: f64,
    /// Learning on the learner.
    pub learn_time_ms: f64,
    /// Sending weights to the workers.
    pub update_time_ms: f64,
}

/// What one `Trainer::train()` call measured; [`TrainingResult::to_json`] gives RLlib's
/// nested result.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingResult {
    /// 1-based iteration number.
    pub training_iteration: u64,
    /// Env steps sampled in total.
    pub timesteps_total: u64,
    /// Env steps sampled in this iteration.
    pub timesteps_this_iter: u64,
    /// Episodes finished in this iteration.
    pub episodes_this_iter: u64,
    /// Episodes finished in total.
    pub episodes_total: u64,
    /// Steps trained on in total.
    pub num_steps_trained: u64,
    /// Smoothed episode metrics.
    pub episodes: EpisodeMetrics,
    /// Wall time of this iteration, s.
    pub time_this_iter_s: f64,
    /// Wall time since training began (across restores), s.
    pub time_total_s: f64,
    /// Unix time when the result was made, s.
    pub timestamp: u64,
    /// Whether a stop condition holds (set by the experiment loop).
    pub done: bool,
    /// Where the time went.
    pub timers: Timers,
    /// The learner's statistics.
    pub learner: LearnerStats,
    /// The asynchronous optimizer's statistics (A3C only).
    pub async_gradients: Option<AsyncGradientsStats>,
    /// Remote rollout workers that are up (RLlib's `num_healthy_workers`; 0 without remote
    /// workers).
    pub num_healthy_workers: usize,
    /// Remote rollout workers recreated after a failure, since the trainer started.
    pub num_remote_worker_restarts: u64,
}

/// The current Unix time in seconds (a result's `timestamp`).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl TrainingResult {
    /// The nested result RLlib users know, with old (`episode_reward_mean`) and new
    /// (`env_runners/episode_return_mean`) names side by side. `result.json`,
    /// `progress.csv` and TensorBoard all write this value.
    pub fn to_json(&self) -> Value {
        let m = &self.episodes;
        let mut result = json!({
            "episode_reward_mean": m.return_mean,
            "episode_reward_min": m.return_min,
            "episode_reward_max": m.return_max,
            "episode_len_mean": m.len_mean,
            "episodes_this_iter": self.episodes_this_iter,
            "episodes_total": self.episodes_total,
            "timesteps_total": self.timesteps_total,
            "timesteps_this_iter": self.timesteps_this_iter,
            "training_iteration": self.training_iteration,
            "time_this_iter_s": self.time_this_iter_s,
            "time_total_s": self.time_total_s,
            "timestamp": self.timestamp,
            "done": self.done,
            "num_env_steps_sampled_lifetime": self.timesteps_total,
            "num_healthy_workers": self.num_healthy_workers,
            "num_remote_worker_restarts": self.num_remote_worker_restarts,
            "env_runners": {
                "episode_return_mean": m.return_mean,
                "episode_return_min": m.return_min,
                "episode_return_max": m.return_max,
                "episode_len_mean": m.len_mean,
                "num_episodes": self.episodes_this_iter,
                "num_env_steps_sampled": self.timesteps_this_iter,
            },
            "info": {
                "num_steps_sampled": self.timesteps_total,
                "num_steps_trained": self.num_steps_trained,
                "sample_time_ms": self.timers.sample_time_ms,
                "learn_time_ms": self.timers.learn_time_ms,
                "update_time_ms": self.timers.update_time_ms,
                "learner": { "default_policy": to_value(&self.learner) },
            },
        });
        if let (Some(info), Some(Value::Object(o))) = (
            result.get_mut("info").and_then(Value::as_object_mut),
            self.async_gradients.as_ref().map(to_value),
        ) {
            info.extend(o);
        }
        result
    }
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    // Plain structs of numbers and maps with string keys always serialize.
    serde_json::to_value(v).unwrap_or(Value::Null)
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

/// The result flattened to `a/b/c` paths, numbers only (booleans as 0/1, null as NaN).
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

/// Every path a result of any algorithm contains (what stop conditions may name).
pub fn known_result_paths() -> Vec<String> {
    let sample = |learner, async_gradients| TrainingResult {
        training_iteration: 0,
        timesteps_total: 0,
        timesteps_this_iter: 0,
        episodes_this_iter: 0,
        episodes_total: 0,
        num_steps_trained: 0,
        episodes: EpisodeMetrics::default(),
        time_this_iter_s: 0.0,
        time_total_s: 0.0,
        timestamp: 0,
        done: false,
        timers: Timers::default(),
        learner,
        async_gradients,
        num_healthy_workers: 0,
        num_remote_worker_restarts: 0,
    };
    let mut paths: Vec<String> = [
        sample(LearnerStats::Ppo(PpoStats::default()), None),
        sample(
            LearnerStats::A3c(A3cStats::default()),
            Some(AsyncGradientsStats::default()),
        ),
    ]
    .iter()
    .flat_map(|r| flatten_numbers(&r.to_json()))
    .map(|(k, _)| k)
    .collect();
    paths.sort();
    paths.dedup();
    paths
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_paths_cover_both_learners_and_the_async_optimizer() {
        let known = known_result_paths();
        for p in [
            "episode_reward_mean",
            "env_runners/episode_return_mean",
            "timesteps_total",
            "training_iteration",
            "info/learner/default_policy/kl",
            "info/learner/default_policy/grad_gnorm",
            "info/num_grads_applied",
            "num_healthy_workers",
            "num_remote_worker_restarts",
        ] {
            assert!(known.iter().any(|k| k == p), "{p} missing from {known:?}");
        }
    }

    #[test]
    fn without_times_drops_only_wall_clock_keys() {
        let r = json!({"time_total_s": 1.0, "timesteps_total": 5, "info": {"learn_time_ms": 2.0, "num_steps_trained": 5}});
        assert_eq!(
            without_times(&r),
            json!({"timesteps_total": 5, "info": {"num_steps_trained": 5}})
        );
    }
}
