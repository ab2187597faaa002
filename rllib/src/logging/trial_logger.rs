//! `TrialLogger`: the one writer of a trial directory.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::tensorboard::EventWriter;
use crate::error::{Result, RllibError};
use crate::result::flatten_numbers;

/// Writes a trial's files; one per trial, so TensorBoard never sees two writers.
pub struct TrialLogger {
    dir: PathBuf,
    result_json: BufWriter<File>,
    progress_csv: BufWriter<File>,
    csv_columns: Option<Vec<String>>,
    events: EventWriter,
}

impl TrialLogger {
    /// Creates the trial directory and writes `params.json`.
    pub fn create(dir: &Path, params: &Value) -> Result<TrialLogger> {
        std::fs::create_dir_all(dir).map_err(|e| RllibError::io(dir, e))?;
        let params_path = dir.join("params.json");
        let text = serde_json::to_string_pretty(params).unwrap_or_default();
        std::fs::write(&params_path, text).map_err(|e| RllibError::io(&params_path, e))?;
        let open = |name: &str| -> Result<BufWriter<File>> {
            let p = dir.join(name);
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p)
                .map(BufWriter::new)
                .map_err(|e| RllibError::io(&p, e))
        };
        let result_json = open("result.json")?;
        let progress_csv = open("progress.csv")?;
        // Appending to an existing progress.csv (a restored run): keep its header.
        let csv_columns = std::fs::read_to_string(dir.join("progress.csv"))
            .ok()
            .and_then(|t| {
                t.lines()
                    .next()
                    .map(|h| h.split(',').map(String::from).collect())
            });
        let events = EventWriter::create(dir).map_err(|e| RllibError::io(dir, e))?;
        Ok(TrialLogger {
            dir: dir.to_path_buf(),
            result_json,
            progress_csv,
            csv_columns,
            events,
        })
    }

    /// The trial directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one result to result.json, progress.csv and the event file.
    pub fn log(&mut self, result: &Value) -> Result<()> {
        let io = |e| RllibError::io(&self.dir, e);
        let line = serde_json::to_string(result).unwrap_or_default();
        writeln!(self.result_json, "{line}").map_err(io)?;
        self.result_json.flush().map_err(io)?;
        let flat = flatten_numbers(result);
        if self.csv_columns.is_none() {
            let cols: Vec<String> = flat.iter().map(|(k, _)| k.clone()).collect();
            writeln!(self.progress_csv, "{}", cols.join(",")).map_err(io)?;
            self.csv_columns = Some(cols);
        }
        if let Some(cols) = &self.csv_columns {
            let row: Vec<String> = cols
                .iter()
                .map(|c| match flat.iter().find(|(k, _)| k == c) {
                    Some((_, v)) if v.is_finite() => format!("{v}"),
                    Some(_) => "nan".into(),
                    None => String::new(),
                })
                .collect();
            writeln!(self.progress_csv, "{}", row.join(",")).map_err(io)?;
        }
        self.progress_csv.flush().map_err(io)?;
        let step = result
            .get("timesteps_total")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let scalars: Vec<(String, f32)> = flat
            .into_iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(k, v)| (format!("ray/tune/{k}"), v as f32))
            .collect();
        self.events.add_scalars(&scalars, step).map_err(io)?;
        self.events.flush().map_err(io)
    }
}
