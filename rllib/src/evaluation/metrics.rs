//! Episode metrics, smoothed over the last episodes as RLlib reports them.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// The return and length of one finished episode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpisodeStats {
    /// Sum of rewards.
    pub episode_return: f64,
    /// Steps in the episode.
    pub length: usize,
}

/// The last `capacity` episodes, from which `episode_reward_mean` and friends are computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsWindow {
    capacity: usize,
    episodes: VecDeque<EpisodeStats>,
    /// Episodes ever finished.
    pub episodes_total: u64,
}

impl MetricsWindow {
    /// An empty window of `capacity` episodes.
    pub fn new(capacity: usize) -> Self {
        MetricsWindow {
            capacity,
            episodes: VecDeque::with_capacity(capacity),
            episodes_total: 0,
        }
    }

    /// Adds finished episodes, forgetting the oldest beyond capacity.
    pub fn extend(&mut self, eps: &[EpisodeStats]) {
        for e in eps {
            if self.episodes.len() == self.capacity {
                self.episodes.pop_front();
            }
            self.episodes.push_back(*e);
            self.episodes_total += 1;
        }
    }

    /// Mean, min and max return over the window (NaN when empty).
    pub fn returns(&self) -> (f64, f64, f64) {
        if self.episodes.is_empty() {
            return (f64::NAN, f64::NAN, f64::NAN);
        }
        let r = self.episodes.iter().map(|e| e.episode_return);
        let sum: f64 = r.clone().sum();
        let min = r.clone().fold(f64::INFINITY, f64::min);
        let max = r.fold(f64::NEG_INFINITY, f64::max);
        (sum / self.episodes.len() as f64, min, max)
    }

    /// Mean episode length over the window (NaN when empty).
    pub fn mean_length(&self) -> f64 {
        if self.episodes.is_empty() {
            return f64::NAN;
        }
        self.episodes.iter().map(|e| e.length as f64).sum::<f64>() / self.episodes.len() as f64
    }

    /// Episodes in the window.
    pub fn len(&self) -> usize {
        self.episodes.len()
    }

    /// Whether no episode finished yet.
    pub fn is_empty(&self) -> bool {
        self.episodes.is_empty()
    }
}
