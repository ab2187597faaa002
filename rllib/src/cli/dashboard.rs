//! `rllib dashboard`, `rllib train --dashboard/--timeline`, and Ray's state CLI over a
//! dashboard's JSON API: `rllib list`, `rllib get`, `rllib timeline`.
//!
//! As in Ray, the state commands' `--address` is the dashboard's (API server's) address,
//! `127.0.0.1:8265` by default (or `RLLIB_DASHBOARD_ADDRESS`); they send the cluster token
//! (`RLLIB_AUTH_TOKEN` or `~/.rllib/auth_token`) as `Authorization: Bearer`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use dashboard::snapshot::NodeRow;
use dashboard::{Dashboard, DashboardConfig, RuntimeSource, Snapshot, StateSource};
use rllib::config::Experiment;
use rllib::tune::TrialObserver;
use serde_json::Value;

use super::args::{DashboardArgs, GetArgs, ListArgs, TimelineArgs};
use super::{bad, Failure};

/// The environment variable naming the dashboard the state commands talk to.
pub const DASHBOARD_ADDRESS_ENV: &str = "RLLIB_DASHBOARD_ADDRESS";

/// The cluster token as text (created in `~/.rllib/auth_token` when missing).
pub fn token_text() -> Result<String, Failure> {
    let (_, source) = cluster::ensure_token()?;
    let text = match source {
        cluster::TokenSource::Env => std::env::var(cluster::TOKEN_ENV).unwrap_or_default(),
        cluster::TokenSource::File { path, .. } => std::fs::read_to_string(&path)
            .with_context(|| format!("reading the token {}", path.display()))?,
    };
    let t = text.trim().to_string();
    if t.is_empty() {
        return Err(bad("the cluster token is empty"));
    }
    Ok(t)
}

/// Starts a dashboard and prints its URL (with the token) once.
fn serve(
    host: &str,
    port: u16,
    logdir: Option<PathBuf>,
    source: Arc<dyn StateSource>,
) -> Result<Dashboard, Failure> {
    let mut config = DashboardConfig::new(token_text()?);
    config.host = host.to_string();
    config.port = port;
    config.logdir = logdir;
    let d = Dashboard::start(config, source).map_err(anyhow::Error::from)?;
    println!("Dashboard: {}", d.url());
    let _ = std::io::stdout().flush();
    Ok(d)
}

/// What `rllib train` adds around the progress display: the dashboard's view of each trial's
/// runtime, and the Chrome trace written when a trial ends.
pub struct TrainWatch<'a> {
    inner: &'a mut dyn TrialObserver,
    source: RuntimeSource,
    runtime: Option<runtime::RuntimeHandle>,
    timeline: Option<PathBuf>,
    trials: usize,
    _dashboard: Option<Dashboard>,
}

impl<'a> TrainWatch<'a> {
    /// Wraps `inner`; serves the dashboard when `dashboard_port` is given.
    pub fn new(
        inner: &'a mut dyn TrialObserver,
        dashboard_port: Option<u16>,
        logdir: PathBuf,
        timeline: Option<PathBuf>,
    ) -> Result<Self, Failure> {
        let source = RuntimeSource::new();
        let dashboard = match dashboard_port {
            Some(p) => Some(serve(
                "127.0.0.1",
                p,
                Some(logdir),
                Arc::new(source.clone()),
            )?),
            None => None,
        };
        Ok(TrainWatch {
            inner,
            source,
            runtime: None,
            timeline,
            trials: 0,
            _dashboard: dashboard,
        })
    }

    /// Where trial number `n` (from 0) writes its trace: FILE for the first, FILE_n after.
    fn timeline_path(base: &Path, n: usize) -> PathBuf {
        if n == 0 {
            return base.to_path_buf();
        }
        let stem = base
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("timeline");
        let ext = base.extension().and_then(|s| s.to_str()).unwrap_or("json");
        base.with_file_name(format!("{stem}_{n}.{ext}"))
    }
}

impl TrialObserver for TrainWatch<'_> {
    fn trial_started(&mut self, exp: &Experiment, dir: &Path) {
        self.inner.trial_started(exp, dir);
    }
    fn runtime_ready(&mut self, exp: &Experiment, runtime: Option<&runtime::RuntimeHandle>) {
        self.runtime = runtime.cloned();
        self.source.set(self.runtime.clone());
        self.inner.runtime_ready(exp, runtime);
    }
    fn iteration(&mut self, exp: &Experiment, result: &Value) {
        self.inner.iteration(exp, result);
    }
    fn trial_ended(&mut self, exp: &Experiment) {
        if let Some(base) = &self.timeline {
            let path = Self::timeline_path(base, self.trials);
            let written = match &self.runtime {
                Some(rt) => rt.timeline(&path),
                // num_workers: 0 runs no task: an empty trace says so.
                None => std::fs::write(&path, "[]"),
            };
            match written {
                Ok(()) => tracing::info!("timeline written to {}", path.display()),
                Err(e) => tracing::error!("cannot write the timeline {}: {e}", path.display()),
            }
        }
        self.trials += 1;
        self.inner.trial_ended(exp);
    }
}

/// The nodes of a live cluster, asked of its head at every refresh (`rllib dashboard
/// --address`): tasks, objects and the timeline live in each driver, so only nodes show.
struct ClusterSource {
    address: String,
    token: cluster::AuthToken,
}

impl StateSource for ClusterSource {
    fn snapshot(&self) -> Snapshot {
        let st = match cluster::status(&self.address, &self.token) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("dashboard: cluster status from {}: {e}", self.address);
                return Snapshot::default();
            }
        };
        let nodes = st
            .nodes
            .into_iter()
            .map(|n| NodeRow {
                node_id: runtime::NodeId::new(n.info.node_id).to_string(),
                state: if n.info.alive { "ALIVE" } else { "DEAD" },
                resources_total: n.info.resources_total,
                resources_available: n.resources_available,
                workers: 0,
            })
            .collect();
        Snapshot::new(Vec::new(), Vec::new(), Vec::new(), nodes, Vec::new(), 0.0)
    }
}

/// `rllib dashboard`: past trials under a results directory, and a live cluster's nodes.
pub fn dashboard(a: DashboardArgs) -> Result<ExitCode, Failure> {
    let logdir = a.logdir.unwrap_or_else(rllib::tune::default_local_dir);
    let source: Arc<dyn StateSource> = match &a.address {
        Some(addr) => {
            let address = cluster::check_address("--address", addr)?;
            let (token, _) = cluster::load_token()?;
            Arc::new(ClusterSource { address, token })
        }
        None => Arc::new(dashboard::NoRuntime),
    };
    let d = serve(&a.host, a.port, Some(logdir.clone()), source)?;
    println!("Serving trials under {}; Ctrl-C stops.", logdir.display());
    d.wait();
    Ok(ExitCode::SUCCESS)
}

/// Where the state commands send their requests.
fn api_address(given: &Option<String>) -> Result<String, Failure> {
    let a = match given {
        Some(a) => a.clone(),
        None => std::env::var(DASHBOARD_ADDRESS_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| format!("127.0.0.1:{}", dashboard::DEFAULT_PORT)),
    };
    let a = a
        .trim()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    if !a.contains(':') {
        return Err(bad(format!("--address must be HOST:PORT, got '{a}'")));
    }
    Ok(a)
}

/// One GET to the dashboard's API: the status and the body.
pub fn http_get(address: &str, path: &str, token: &str) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(address)
        .with_context(|| format!("cannot reach the dashboard at {address}"))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("the dashboard's answer has no header end")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("the dashboard's answer has no status")?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body)?;
    }
    Ok((status, body))
}

fn dechunk(mut b: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("bad chunk")?;
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16)?;
        b = &b[eol + 2..];
        if n == 0 {
            return Ok(out);
        }
        anyhow::ensure!(b.len() >= n + 2, "truncated chunk");
        out.extend_from_slice(&b[..n]);
        b = &b[n + 2..];
    }
}

/// GETs `path` as JSON; an error status becomes a failure with the API's message.
fn api_json(address: &str, path: &str) -> Result<Value, Failure> {
    let token = token_text()?;
    let (status, body) = http_get(address, path, &token)?;
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if status != 200 {
        let msg = v
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no message")
            .to_string();
        let text = format!("the dashboard at {address} answered {status}: {msg}");
        return Err(if (400..500).contains(&status) {
            bad(text)
        } else {
            anyhow::anyhow!(text).into()
        });
    }
    Ok(v)
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Which query parameter the API takes for a `--filter` key, per resource.
fn server_filter(kind: &str, key: &str) -> Option<&'static str> {
    match (kind, key) {
        ("tasks", "state") => Some("state"),
        ("tasks", "node_id" | "node") => Some("node"),
        ("tasks", "function" | "name" | "func_or_class_name") => Some("function"),
        ("tasks", "task_id") => Some("q"),
        ("objects", "object_id") => Some("q"),
        _ => None,
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `rllib list tasks|objects|actors|nodes`.
pub fn list(a: ListArgs) -> Result<ExitCode, Failure> {
    let kind = a.resource.as_str();
    let columns: &[&str] = match kind {
        "tasks" => &[
            "task_id",
            "state",
            "function",
            "node_id",
            "worker_id",
            "attempts",
        ],
        "objects" => &[
            "object_id",
            "status",
            "size_bytes",
            "is_put",
            "task_id",
            "reference_count",
        ],
        "actors" => &["actor_id", "class_name", "state", "pid", "restarts"],
        "nodes" => &[
            "node_id",
            "state",
            "resources_total",
            "resources_available",
            "workers",
        ],
        other => {
            return Err(bad(format!(
                "list takes tasks, objects, actors or nodes, got '{other}'"
            )))
        }
    };
    let json_out = match a.format.as_str() {
        "json" => true,
        "table" => false,
        other => {
            return Err(bad(format!(
                "--format must be table or json, got '{other}'"
            )))
        }
    };
    let mut query = vec![];
    let mut local = vec![];
    for f in &a.filter {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| bad(format!("--filter takes KEY=VALUE, got '{f}'")))?;
        let (k, v) = (k.trim(), v.trim());
        match server_filter(kind, k) {
            Some(p) => query.push(format!("{p}={}", encode(v))),
            None => local.push((k.to_string(), v.to_string())),
        }
    }
    let limit = a.limit.min(dashboard::api::MAX_LIMIT);
    if matches!(kind, "tasks" | "objects" | "actors") {
        query.push(format!("limit={limit}"));
    }
    let address = api_address(&a.address)?;
    let path = format!("/api/{kind}?{}", query.join("&"));
    let v = api_json(&address, &path)?;
    let rows: Vec<Value> = v
        .get(kind)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| {
            local
                .iter()
                .all(|(k, want)| r.get(k).is_some_and(|x| cell(x) == *want))
        })
        .take(a.limit)
        .collect();
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            columns
                .iter()
                .map(|c| cell(r.get(*c).unwrap_or(&Value::Null)))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            table
                .iter()
                .map(|r| r[i].len())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    println!(
        "{}",
        line(columns.iter().map(|c| c.to_uppercase()).collect())
    );
    for r in table {
        println!("{}", line(r));
    }
    if let Some(total) = v.get("total").and_then(Value::as_u64) {
        if total as usize > rows.len() && local.is_empty() {
            println!("({} of {total} shown; --limit N for more)", rows.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `rllib get task|object ID`.
pub fn get(a: GetArgs) -> Result<ExitCode, Failure> {
    let kind = match a.resource.as_str() {
        "task" | "tasks" => "tasks",
        "object" | "objects" => "objects",
        other => return Err(bad(format!("get takes task or object, got '{other}'"))),
    };
    let address = api_address(&a.address)?;
    let v = api_json(&address, &format!("/api/{kind}/{}", encode(&a.id)))?;
    if a.format == "json" {
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else if let Some(m) = v.as_object() {
        for (k, x) in m {
            println!("{k}: {}", cell(x));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `rllib timeline -o FILE`: a live runtime's Chrome trace, from its dashboard.
pub fn timeline(a: TimelineArgs) -> Result<ExitCode, Failure> {
    let address = api_address(&a.address)?;
    let token = token_text()?;
    let (status, body) = http_get(&address, "/api/timeline", &token)?;
    if status != 200 {
        return Err(anyhow::anyhow!(
            "the dashboard at {address} answered {status}: {}",
            String::from_utf8_lossy(&body)
        )
        .into());
    }
    let tmp = a.output.with_extension("json.tmp");
    std::fs::write(&tmp, &body).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &a.output).with_context(|| format!("writing {}", a.output.display()))?;
    let events = serde_json::from_slice::<Vec<Value>>(&body)
        .map(|v| v.len())
        .unwrap_or(0);
    println!(
        "Trace with {events} events written to {} (open it in https://ui.perfetto.dev or chrome://tracing).",
        a.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
