//! Replaying Gymnasium recordings (`.jsonl`) against the native envs.
//!
//! A recording is one JSON object per line (see `shared/gymnasium/README.md`): a `header`
//! naming the env id, then per seed a `reset` (with `env.unwrapped.state`), its `step`s and
//! an `end`. Each episode is replayed from the reset record's `state` (not from `obs`:
//! the state carries more precision), applying the recorded actions and comparing every
//! observation (as float32) and reward within [`TOLERANCE`], and `terminated`/`truncated`
//! exactly. Differences are collected in the report; a malformed file is an error that
//! names its line.

use crate::{make, make_with_max_steps, Action, Env, EnvError, Space};
use serde_json::{Map, Value};
use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The largest |difference| of an observation element or a reward that still matches.
pub const TOLERANCE: f64 = 1e-6;

/// Why a recording could not be replayed. Every variant but `Io` names a 1-based line.
#[derive(Debug, Error)]
pub enum RecordingError {
    /// The file could not be opened.
    #[error("cannot open {path}: {source}")]
    Io {
        /// The path given.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A line could not be read (an I/O error or invalid UTF-8).
    #[error("line {line}: cannot read: {source}")]
    Read {
        /// The line.
        line: usize,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A line is not a JSON object.
    #[error("line {line}: invalid JSON: {message}")]
    Json {
        /// The line.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// A record lacks a field it needs.
    #[error("line {line}: missing field '{field}'")]
    MissingField {
        /// The line.
        line: usize,
        /// The field.
        field: &'static str,
    },
    /// A field has the wrong JSON type or value range.
    #[error("line {line}: field '{field}' should be {expected}, found {found}")]
    WrongType {
        /// The line.
        line: usize,
        /// The field.
        field: &'static str,
        /// What it should be.
        expected: &'static str,
        /// What it is (the JSON, shortened).
        found: String,
    },
    /// The first record is not a header, or a second header appears.
    #[error("line {line}: {message}")]
    Header {
        /// The line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A record type other than header, reset, step or end.
    #[error("line {line}: unknown record type '{kind}'")]
    UnknownRecord {
        /// The line.
        line: usize,
        /// The `type` found.
        kind: String,
    },
    /// A step record that does not continue the episode in progress.
    #[error("line {line}: {message}")]
    OutOfSequence {
        /// The line.
        line: usize,
        /// What is out of order.
        message: String,
    },
    /// The env failed: an unknown env id, a state it rejects, an action outside its space.
    #[error("line {line}: {source}")]
    Env {
        /// The line.
        line: usize,
        /// The env's error.
        source: EnvError,
    },
    /// The input has no records at all.
    #[error("line 1: the recording is empty (expected a header record)")]
    Empty,
}

impl RecordingError {
    /// The 1-based line the error is about (`None` when the file could not be opened).
    pub fn line(&self) -> Option<usize> {
        match self {
            RecordingError::Io { .. } => None,
            RecordingError::Empty => Some(1),
            RecordingError::Read { line, .. }
            | RecordingError::Json { line, .. }
            | RecordingError::MissingField { line, .. }
            | RecordingError::WrongType { line, .. }
            | RecordingError::Header { line, .. }
            | RecordingError::UnknownRecord { line, .. }
            | RecordingError::OutOfSequence { line, .. }
            | RecordingError::Env { line, .. } => Some(*line),
        }
    }
}

/// One disagreement between the native env and the recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// The 1-based line of the record.
    pub line: usize,
    /// The episode's seed.
    pub seed: u64,
    /// The step index `t` (`None` for the reset and end records).
    pub t: Option<u64>,
    /// What differs, with both values.
    pub what: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.t {
            Some(t) => write!(
                f,
                "line {} (seed {}, t {}): {}",
                self.line, self.seed, t, self.what
            ),
            None => write!(f, "line {} (seed {}): {}", self.line, self.seed, self.what),
        }
    }
}

/// The outcome of replaying one recording.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayReport {
    /// The env id from the header.
    pub env_id: String,
    /// Reset records replayed.
    pub episodes: usize,
    /// Step records replayed.
    pub steps: u64,
    /// Largest |native - recorded| over all observation elements (as float32).
    pub max_obs_diff: f64,
    /// Largest |native - recorded| over all rewards.
    pub max_reward_diff: f64,
    /// Largest |native - recorded| over the step records' `state` (informational: states
    /// are not compared against the tolerance, but 0 means the dynamics agree bit for bit).
    pub max_state_diff: f64,
    /// Every disagreement, in file order.
    pub mismatches: Vec<Mismatch>,
}

impl ReplayReport {
    /// Whether the replay agreed everywhere.
    pub fn is_ok(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// The one-line summary `rllib env check` prints:
/// `env check: <env_id> <steps> steps, max |obs diff| <x>, <m> mismatches`.
impl fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "env check: {} {} steps, max |obs diff| {:.3e}, {} mismatches",
            self.env_id,
            self.steps,
            self.max_obs_diff,
            self.mismatches.len()
        )
    }
}

/// Replays the recording at `path`.
pub fn replay_file(path: impl AsRef<Path>) -> Result<ReplayReport, RecordingError> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|source| RecordingError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    replay_reader(std::io::BufReader::new(file))
}

/// Replays a recording held in a string.
pub fn replay_str(text: &str) -> Result<ReplayReport, RecordingError> {
    replay_reader(text.as_bytes())
}

/// Replays a recording read line by line from `reader`.
pub fn replay_reader(reader: impl BufRead) -> Result<ReplayReport, RecordingError> {
    let mut replay: Option<Replay> = None;
    for (i, text) in reader.lines().enumerate() {
        let line = i + 1;
        let text = text.map_err(|source| RecordingError::Read { line, source })?;
        if text.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(&text).map_err(|e| RecordingError::Json {
            line,
            message: e.to_string(),
        })?;
        let Value::Object(obj) = &value else {
            return Err(RecordingError::Json {
                line,
                message: format!("expected a JSON object, found {}", short(&value)),
            });
        };
        let rec = Record { line, obj };
        let kind = rec.str("type")?;
        match (&mut replay, kind) {
            (None, "header") => replay = Some(Replay::from_header(&rec)?),
            (None, other) => {
                return Err(RecordingError::Header {
                    line,
                    message: format!("expected a header record first, found '{other}'"),
                })
            }
            (Some(_), "header") => {
                return Err(RecordingError::Header {
                    line,
                    message: "a second header record".into(),
                })
            }
            (Some(r), "reset") => r.reset(&rec)?,
            (Some(r), "step") => r.step(&rec)?,
            (Some(r), "end") => r.end(&rec)?,
            (Some(_), other) => {
                return Err(RecordingError::UnknownRecord {
                    line,
                    kind: other.to_string(),
                })
            }
        }
    }
    replay.map(|r| r.report).ok_or(RecordingError::Empty)
}

/// The episode being replayed.
struct Episode {
    seed: u64,
    steps: u64,
}

struct Replay {
    env: Box<dyn Env>,
    episode: Option<Episode>,
    report: ReplayReport,
}

impl Replay {
    fn from_header(rec: &Record<'_>) -> Result<Self, RecordingError> {
        let env_id = rec.str("env_id")?.to_string();
        let max_steps = match rec.obj.get("max_episode_steps") {
            None | Some(Value::Null) => None,
            Some(_) => Some(rec.u64("max_episode_steps")?),
        };
        // The recording's own time limit, so that truncation is replayed as recorded.
        let env = match max_steps {
            Some(n) => make_with_max_steps(&env_id, n),
            None => make(&env_id),
        }
        .map_err(|source| RecordingError::Env {
            line: rec.line,
            source,
        })?;
        Ok(Self {
            env,
            episode: None,
            report: ReplayReport {
                env_id,
                episodes: 0,
                steps: 0,
                max_obs_diff: 0.0,
                max_reward_diff: 0.0,
                max_state_diff: 0.0,
                mismatches: Vec::new(),
            },
        })
    }

    fn reset(&mut self, rec: &Record<'_>) -> Result<(), RecordingError> {
        let seed = rec.u64("seed")?;
        let state = rec.f64s("state")?;
        let obs = rec.f64s("obs")?;
        // Reset first so that wrappers (the time-limit counter) start a fresh episode.
        self.env.reset(Some(seed));
        self.env
            .set_state(&state)
            .map_err(|source| RecordingError::Env {
                line: rec.line,
                source,
            })?;
        self.episode = Some(Episode { seed, steps: 0 });
        self.report.episodes += 1;
        let native = self.env.obs().to_vec();
        self.compare_obs(rec.line, seed, None, &native, &obs);
        Ok(())
    }

    fn step(&mut self, rec: &Record<'_>) -> Result<(), RecordingError> {
        let line = rec.line;
        let seed = rec.u64("seed")?;
        let t = rec.u64("t")?;
        let Some(episode) = &mut self.episode else {
            return Err(RecordingError::OutOfSequence {
                line,
                message: "a step record before any reset".into(),
            });
        };
        if seed != episode.seed {
            return Err(RecordingError::OutOfSequence {
                line,
                message: format!(
                    "a step for seed {seed}, but the episode in progress has seed {}",
                    episode.seed
                ),
            });
        }
        if t != episode.steps {
            return Err(RecordingError::OutOfSequence {
                line,
                message: format!("step t = {t}, expected t = {}", episode.steps),
            });
        }
        episode.steps += 1;
        let obs = rec.f64s("obs")?;
        let reward = rec.f64("reward")?;
        let terminated = rec.bool("terminated")?;
        let truncated = rec.bool("truncated")?;
        let continuous: Vec<f32>;
        let action = match self.env.action_space() {
            Space::Discrete(_) => Action::Discrete(rec.usize("action")?),
            Space::Box { .. } => {
                continuous = rec.action_f32s()?;
                Action::Continuous(&continuous)
            }
        };
        let step = self
            .env
            .try_step(action)
            .map_err(|source| RecordingError::Env { line, source })?;
        let (native_obs, native) = (
            step.obs.to_vec(),
            (step.reward, step.terminated, step.truncated),
        );
        self.report.steps += 1;
        self.compare_obs(line, seed, Some(t), &native_obs, &obs);
        if let Some(Ok(state)) = rec.obj.contains_key("state").then(|| rec.f64s("state")) {
            let native_state = self.env.state();
            if native_state.len() == state.len() {
                for (a, b) in native_state.iter().zip(&state) {
                    let diff = (a - b).abs();
                    raise(&mut self.report.max_state_diff, diff);
                }
            }
        }
        let reward_diff = (native.0 - reward).abs();
        if !within_tolerance(reward_diff) {
            self.mismatch(
                line,
                seed,
                Some(t),
                format!("reward {} vs recorded {reward}", native.0),
            );
        }
        raise(&mut self.report.max_reward_diff, reward_diff);
        if native.1 != terminated {
            self.mismatch(
                line,
                seed,
                Some(t),
                format!("terminated {} vs recorded {terminated}", native.1),
            );
        }
        if native.2 != truncated {
            self.mismatch(
                line,
                seed,
                Some(t),
                format!("truncated {} vs recorded {truncated}", native.2),
            );
        }
        Ok(())
    }

    fn end(&mut self, rec: &Record<'_>) -> Result<(), RecordingError> {
        let seed = rec.u64("seed")?;
        let steps = rec.u64("steps")?;
        match &self.episode {
            Some(episode) if episode.seed == seed => {
                if episode.steps != steps {
                    let what = format!("end record says {steps} steps, replayed {}", episode.steps);
                    self.mismatch(rec.line, seed, None, what);
                }
                self.episode = None;
                Ok(())
            }
            _ => Err(RecordingError::OutOfSequence {
                line: rec.line,
                message: format!("an end record for seed {seed} without its episode"),
            }),
        }
    }

    fn compare_obs(
        &mut self,
        line: usize,
        seed: u64,
        t: Option<u64>,
        native: &[f32],
        recorded: &[f64],
    ) {
        if native.len() != recorded.len() {
            let what = format!(
                "obs has {} values, recorded {}",
                native.len(),
                recorded.len()
            );
            self.mismatch(line, seed, t, what);
            return;
        }
        let mut worst = 0.0f64;
        for (a, b) in native.iter().zip(recorded) {
            let diff = (*a as f64 - (*b as f32) as f64).abs();
            raise(&mut worst, diff);
        }
        raise(&mut self.report.max_obs_diff, worst);
        if !within_tolerance(worst) {
            let what = format!("obs {native:?} vs recorded {recorded:?} (max diff {worst:e})");
            self.mismatch(line, seed, t, what);
        }
    }

    fn mismatch(&mut self, line: usize, seed: u64, t: Option<u64>, what: String) {
        self.report.mismatches.push(Mismatch {
            line,
            seed,
            t,
            what,
        });
    }
}

/// One parsed line, with typed field access whose errors name the line.
struct Record<'a> {
    line: usize,
    obj: &'a Map<String, Value>,
}

impl Record<'_> {
    fn get(&self, field: &'static str) -> Result<&Value, RecordingError> {
        self.obj.get(field).ok_or(RecordingError::MissingField {
            line: self.line,
            field,
        })
    }

    fn wrong(&self, field: &'static str, expected: &'static str, found: &Value) -> RecordingError {
        RecordingError::WrongType {
            line: self.line,
            field,
            expected,
            found: short(found),
        }
    }

    fn str(&self, field: &'static str) -> Result<&str, RecordingError> {
        let v = self.get(field)?;
        v.as_str().ok_or_else(|| self.wrong(field, "a string", v))
    }

    fn u64(&self, field: &'static str) -> Result<u64, RecordingError> {
        let v = self.get(field)?;
        v.as_u64()
            .ok_or_else(|| self.wrong(field, "a non-negative integer", v))
    }

    fn usize(&self, field: &'static str) -> Result<usize, RecordingError> {
        let v = self.get(field)?;
        v.as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| self.wrong(field, "a non-negative integer", v))
    }

    fn f64(&self, field: &'static str) -> Result<f64, RecordingError> {
        let v = self.get(field)?;
        v.as_f64().ok_or_else(|| self.wrong(field, "a number", v))
    }

    fn bool(&self, field: &'static str) -> Result<bool, RecordingError> {
        let v = self.get(field)?;
        v.as_bool().ok_or_else(|| self.wrong(field, "a boolean", v))
    }

    fn f64s(&self, field: &'static str) -> Result<Vec<f64>, RecordingError> {
        let v = self.get(field)?;
        let arr = v
            .as_array()
            .ok_or_else(|| self.wrong(field, "an array of numbers", v))?;
        arr.iter()
            .map(|x| {
                x.as_f64()
                    .ok_or_else(|| self.wrong(field, "an array of numbers", v))
            })
            .collect()
    }

    /// A continuous action: an array of numbers, or a bare number for a 1-d box.
    fn action_f32s(&self) -> Result<Vec<f32>, RecordingError> {
        let v = self.get("action")?;
        match v.as_f64() {
            Some(x) => Ok(vec![x as f32]),
            None => Ok(self.f64s("action")?.into_iter().map(|x| x as f32).collect()),
        }
    }
}

/// A JSON value for an error message, cut to a readable length.
fn short(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 60 {
        let mut end = 57;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("...");
    }
    s
}

/// Whether a difference matches; NaN never does.
fn within_tolerance(diff: f64) -> bool {
    diff <= TOLERANCE
}

/// Raises a running maximum; a NaN difference sticks, so it shows in the report.
fn raise(max: &mut f64, diff: f64) {
    if diff.is_nan() || diff > *max {
        *max = diff;
    }
}
