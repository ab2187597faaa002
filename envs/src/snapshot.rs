//! Exact, serializable env snapshots, so a checkpoint can save an env mid-episode.

use crate::{EnvError, EnvRng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything an env needs to continue bit for bit as it would have: what
/// [`crate::Env::snapshot`] returns and [`crate::Env::restore`] takes.
///
/// One shape for every env, so that a vector env or a checkpoint can hold any of them. It
/// avoids self-describing-only types (no `serde_json::Value`), so binary formats such as
/// postcard work as well as JSON. JSON cannot hold NaN or infinities: a snapshot of an env
/// whose state has diverged serializes, but does not parse back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvSnapshot {
    /// Which env type took it (e.g. `"CartPole"`, `"TimeLimit"`); restoring into another
    /// type is an error rather than a silently wrong state.
    pub kind: String,
    /// The internal state, widened to `f64` (exact for float32 values too).
    pub state: Vec<f64>,
    /// The current observation, as returned by the last `reset` or `step`.
    pub obs: Vec<f32>,
    /// The reset generator, mid-stream, so later `reset(None)` calls draw the same starts.
    pub rng: Option<EnvRng>,
    /// Integer bookkeeping by name (step counters, flags, precision tags); each env
    /// documents its keys. An absent key stands for `None`.
    #[serde(default)]
    pub extra: BTreeMap<String, u64>,
    /// The wrapped env's snapshot, for wrappers such as [`crate::TimeLimit`].
    #[serde(default)]
    pub inner: Option<Box<EnvSnapshot>>,
}

impl EnvSnapshot {
    /// An empty snapshot of `kind`, to fill in.
    pub fn new(kind: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            state: Vec::new(),
            obs: Vec::new(),
            rng: None,
            extra: BTreeMap::new(),
            inner: None,
        }
    }

    /// `Ok` if this snapshot was taken of a `kind` env, else an [`EnvError::InvalidState`]
    /// naming both kinds.
    pub fn check_kind(&self, kind: &str) -> Result<(), EnvError> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(EnvError::InvalidState(format!(
                "cannot restore a snapshot of {} into {kind}",
                self.kind
            )))
        }
    }

    /// The state as a fixed-size array, or an error naming the env.
    pub(crate) fn state_array<const N: usize>(&self) -> Result<[f64; N], EnvError> {
        self.state.as_slice().try_into().map_err(|_| {
            EnvError::InvalidState(format!(
                "{} snapshot has {} state values, expected {N}",
                self.kind,
                self.state.len()
            ))
        })
    }

    /// The observation as a fixed-size array, or an error naming the env.
    pub(crate) fn obs_array<const N: usize>(&self) -> Result<[f32; N], EnvError> {
        self.obs.as_slice().try_into().map_err(|_| {
            EnvError::InvalidState(format!(
                "{} snapshot has an observation of {} values, expected {N}",
                self.kind,
                self.obs.len()
            ))
        })
    }

    /// The reset generator, which every built-in env needs to continue its stream.
    pub(crate) fn rng_or_err(&self) -> Result<EnvRng, EnvError> {
        self.rng.clone().ok_or_else(|| {
            EnvError::InvalidState(format!("{} snapshot has no generator", self.kind))
        })
    }

    /// A required `extra` entry.
    pub(crate) fn extra_required(&self, key: &str) -> Result<u64, EnvError> {
        self.extra
            .get(key)
            .copied()
            .ok_or_else(|| EnvError::InvalidState(format!("{} snapshot lacks '{key}'", self.kind)))
    }
}
