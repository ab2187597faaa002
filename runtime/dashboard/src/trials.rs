//! Trials under a results directory (`~/rllib_results/<experiment>/<trial>/progress.csv`).
//!
//! A trial is named by its directory's name. A name from a URL is never joined onto a path:
//! it is checked for its characters, then looked up among the directories a listing found, so
//! `../`, absolute paths and percent-encoded escapes cannot reach a file outside the log dir.

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How deep under the log dir trial directories are looked for (experiment/trial, plus one
/// level for a log dir that is a parent of several results roots).
const MAX_DEPTH: usize = 3;

/// A trial found under the log dir.
#[derive(Clone, Debug, Serialize)]
pub struct TrialInfo {
    /// Its directory's name (the id the API takes).
    pub name: String,
    /// The experiment (its parent directory's name).
    pub experiment: String,
    /// Columns of its progress.csv.
    pub columns: Vec<String>,
    /// Rows (iterations) so far.
    pub iterations: usize,
    /// The last row's `episode_reward_mean`.
    pub episode_reward_mean: Option<f64>,
    /// The last row's `timesteps_total`.
    pub timesteps_total: Option<f64>,
    /// Seconds since progress.csv last changed.
    pub updated_s_ago: Option<f64>,
    #[serde(skip)]
    path: PathBuf,
}

/// Whether a trial name is acceptable at all (what trial directories are named with).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '=' | ',' | '+'))
}

/// Every trial under `logdir`, most recently updated first.
pub fn list(logdir: &Path) -> Vec<TrialInfo> {
    let mut out = Vec::new();
    walk(logdir, 0, &mut out);
    out.sort_by(|a, b| {
        a.updated_s_ago
            .unwrap_or(f64::MAX)
            .total_cmp(&b.updated_s_ago.unwrap_or(f64::MAX))
    });
    out
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<TrialInfo>) {
    let progress = dir.join("progress.csv");
    if progress.is_file() {
        if let Some(t) = trial_at(dir, &progress) {
            out.push(t);
        }
        return;
    }
    if depth >= MAX_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        // Symlinks are not followed: a link could lead out of the log dir.
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&e.path(), depth + 1, out);
        }
    }
}

fn trial_at(dir: &Path, progress: &Path) -> Option<TrialInfo> {
    let name = dir.file_name()?.to_str()?.to_string();
    if !valid_name(&name) {
        return None;
    }
    let experiment = dir
        .parent()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_string();
    let text = std::fs::read_to_string(progress).ok()?;
    let table = parse_csv(&text);
    let last = |col: &str| {
        let i = table.columns.iter().position(|c| c == col)?;
        table.rows.last().and_then(|r| r[i])
    };
    let updated_s_ago = std::fs::metadata(progress)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .map(|d| d.as_secs_f64());
    Some(TrialInfo {
        episode_reward_mean: last("episode_reward_mean"),
        timesteps_total: last("timesteps_total"),
        iterations: table.rows.len(),
        columns: table.columns,
        name,
        experiment,
        updated_s_ago,
        path: dir.to_path_buf(),
    })
}

/// A progress.csv as columns and numeric rows (empty or non-numeric cells are `None`).
#[derive(Clone, Debug, Default)]
pub struct ProgressTable {
    /// Header.
    pub columns: Vec<String>,
    /// One row per iteration.
    pub rows: Vec<Vec<Option<f64>>>,
}

/// Parses progress.csv as the trial logger writes it (numbers only, no quoting); a torn last
/// line (the file is being appended to) is dropped.
pub fn parse_csv(text: &str) -> ProgressTable {
    let mut lines = text.split_inclusive('\n');
    let Some(header) = lines.next() else {
        return ProgressTable::default();
    };
    let columns: Vec<String> = header
        .trim_end()
        .split(',')
        .map(|c| c.trim().to_string())
        .collect();
    let rows = lines
        .filter(|l| l.ends_with('\n'))
        .map(|l| {
            l.trim_end()
                .split(',')
                .map(|c| c.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
                .collect::<Vec<_>>()
        })
        .filter(|r| r.len() == columns.len())
        .collect();
    ProgressTable { columns, rows }
}

/// A trial's curves: the chosen columns, each as a series, at most `max_points` rows
/// (evenly thinned, the last row always kept).
#[derive(Clone, Debug, Serialize)]
pub struct Progress {
    /// The trial.
    pub name: String,
    /// Every column of its progress.csv.
    pub columns: Vec<String>,
    /// Rows in the file.
    pub iterations: usize,
    /// The chosen columns' values.
    pub series: BTreeMap<String, Vec<Option<f64>>>,
}

/// What reading a trial's progress can fail with.
#[derive(Debug, PartialEq, Eq)]
pub enum ProgressError {
    /// No trial has this name.
    UnknownTrial,
    /// The trial has no such column.
    UnknownColumn(String),
}

/// The progress of trial `name` under `logdir`.
pub fn progress(
    logdir: &Path,
    name: &str,
    columns: &[String],
    max_points: usize,
) -> Result<Progress, ProgressError> {
    let trial = list(logdir)
        .into_iter()
        .find(|t| t.name == name)
        .ok_or(ProgressError::UnknownTrial)?;
    let text = std::fs::read_to_string(trial.path.join("progress.csv"))
        .map_err(|_| ProgressError::UnknownTrial)?;
    let table = parse_csv(&text);
    let n = table.rows.len();
    let keep: Vec<usize> = if n <= max_points.max(2) {
        (0..n).collect()
    } else {
        let step = n as f64 / max_points as f64;
        let mut v: Vec<usize> = (0..max_points)
            .map(|i| (i as f64 * step) as usize)
            .collect();
        v.dedup();
        if v.last() != Some(&(n - 1)) {
            v.push(n - 1);
        }
        v
    };
    let mut series = BTreeMap::new();
    for c in columns {
        let i = table
            .columns
            .iter()
            .position(|x| x == c)
            .ok_or_else(|| ProgressError::UnknownColumn(c.clone()))?;
        series.insert(c.clone(), keep.iter().map(|&r| table.rows[r][i]).collect());
    }
    Ok(Progress {
        name: trial.name,
        columns: table.columns,
        iterations: n,
        series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_are_not_valid() {
        for bad in [
            "..",
            ".",
            "../x",
            "/etc/passwd",
            "a/b",
            "%2e%2e",
            "a\\b",
            "",
            ".hidden",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert!(valid_name("PPO_CartPole-v1_lr=0.001_seed1_1700000000000"));
    }

    #[test]
    fn a_torn_last_line_is_dropped() {
        let t = parse_csv("a,b\n1,2\n3,nan\n4");
        assert_eq!(t.columns, vec!["a", "b"]);
        assert_eq!(
            t.rows,
            vec![vec![Some(1.0), Some(2.0)], vec![Some(3.0), None]]
        );
    }
}
