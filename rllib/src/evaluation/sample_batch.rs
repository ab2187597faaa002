//! `SampleBatch`: columns of experience, flat `f32` per row.

use serde::{Deserialize, Serialize};

use super::filter::RunningStat;
use super::metrics::EpisodeStats;

/// Experience in columns; row `i` of a column with width `w` is `col[i*w..(i+1)*w]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SampleBatch {
    /// Rows in the batch.
    pub count: usize,
    /// Width of one observation.
    pub obs_dim: usize,
    /// Width of one action (1 for discrete).
    pub action_dim: usize,
    /// Width of one row of distribution inputs.
    pub dist_dim: usize,
    /// Observations as the policy saw them (after the filter).
    pub obs: Vec<f32>,
    /// Actions taken (discrete indices as f32; continuous actions before clipping).
    pub actions: Vec<f32>,
    /// Rewards.
    pub rewards: Vec<f32>,
    /// Whether the step ended the episode in a terminal state.
    pub terminateds: Vec<bool>,
    /// Whether the step ended the episode by truncation.
    pub truncateds: Vec<bool>,
    /// Log-probability of each action under the sampling policy.
    pub action_logp: Vec<f32>,
    /// The sampling policy's distribution inputs.
    pub action_dist_inputs: Vec<f32>,
    /// Value estimates of the sampling-time weights.
    pub vf_preds: Vec<f32>,
    /// GAE advantages.
    pub advantages: Vec<f32>,
    /// Targets of the value function.
    pub value_targets: Vec<f32>,
    /// Episodes that ended while sampling this batch.
    pub episodes: Vec<EpisodeStats>,
    /// Observations the worker's filter saw since its last sync (None without a filter).
    pub filter_delta: Option<RunningStat>,
}

impl SampleBatch {
    /// An empty batch with the given row widths.
    pub fn empty(obs_dim: usize, action_dim: usize, dist_dim: usize) -> Self {
        SampleBatch {
            obs_dim,
            action_dim,
            dist_dim,
            ..Default::default()
        }
    }

    /// Appends `other`'s rows and metadata to this batch.
    pub fn append(&mut self, mut other: SampleBatch) {
        if self.count == 0 && self.obs.is_empty() {
            self.obs_dim = other.obs_dim;
            self.action_dim = other.action_dim;
            self.dist_dim = other.dist_dim;
        }
        self.count += other.count;
        self.obs.append(&mut other.obs);
        self.actions.append(&mut other.actions);
        self.rewards.append(&mut other.rewards);
        self.terminateds.append(&mut other.terminateds);
        self.truncateds.append(&mut other.truncateds);
        self.action_logp.append(&mut other.action_logp);
        self.action_dist_inputs
            .append(&mut other.action_dist_inputs);
        self.vf_preds.append(&mut other.vf_preds);
        self.advantages.append(&mut other.advantages);
        self.value_targets.append(&mut other.value_targets);
        self.episodes.append(&mut other.episodes);
        match (&mut self.filter_delta, other.filter_delta) {
            (Some(a), Some(b)) => a.merge(&b),
            (a @ None, Some(b)) => *a = Some(b),
            _ => {}
        }
    }
}
