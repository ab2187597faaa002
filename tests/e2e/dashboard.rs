//! The dashboard of a live `rllib train --dashboard` in headless Chromium (chromedriver), the
//! state commands (`rllib list`, `get`, `timeline`) against it, `--timeline FILE`, and
//! `rllib dashboard --logdir`.

use crate::harness::{rllib, rllib_command, trial_dirs};
use crate::webdriver::Browser;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

const TOKEN: &str = "e2e-dashboard-token";

/// Remote workers, so the runtime has tasks, actors and objects to show.
const LIVE_CARTPOLE: &str = r#"{"seed": 3, "num_workers": 2, "num_envs_per_worker": 2,
  "rollout_fragment_length": 64, "train_batch_size": 256, "sgd_minibatch_size": 128,
  "num_sgd_iter": 2, "model": {"fcnet_hiddens": [16, 16]}}"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A child process killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `rllib ARGS` and waits for its `Dashboard: URL` line; the process and the URL.
fn start_with_dashboard(dir: &Path, args: &[&str]) -> (Running, String) {
    let mut c = rllib_command(dir, args);
    c.env("RLLIB_AUTH_TOKEN", TOKEN)
        .env("HOME", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().expect("rllib starts");
    let out = child.stdout.take().expect("stdout piped");
    let running = Running(child);
    let mut lines = BufReader::new(out).lines();
    let url = loop {
        match lines.next() {
            Some(Ok(l)) => {
                if let Some(u) = l.strip_prefix("Dashboard: ") {
                    break u.trim().to_string();
                }
            }
            _ => panic!("rllib ended without printing the dashboard's URL"),
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (running, url)
}

fn screenshots_dir(tmp: &Path) -> PathBuf {
    let d = std::env::var_os("RLLIB_DASHBOARD_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.join("screenshots"));
    std::fs::create_dir_all(&d).expect("screenshot dir");
    d
}

fn state_cli(dir: &Path, args: &[&str]) -> crate::harness::Run {
    let out = rllib_command(dir, args)
        .env("RLLIB_AUTH_TOKEN", TOKEN)
        .env("HOME", dir)
        .output()
        .expect("rllib runs");
    crate::harness::finished(out)
}

#[test]
fn live_dashboard_pages_in_headless_chromium_and_the_state_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let port = free_port().to_string();
    let local = dir.join("r");
    let (_train, url) = start_with_dashboard(
        dir,
        &[
            "train",
            "--run",
            "PPO",
            "--env",
            "CartPole-v1",
            "--config",
            LIVE_CARTPOLE,
            "--stop",
            r#"{"training_iteration": 1000000}"#,
            "--local-dir",
            local.to_str().unwrap(),
            "--no-progress",
            "--dashboard",
            "--dashboard-port",
            &port,
        ],
    );
    assert_eq!(url, format!("http://127.0.0.1:{port}/?token={TOKEN}"));
    let address = format!("127.0.0.1:{port}");

    // The state commands against the live dashboard.
    let list = state_cli(
        dir,
        &[
            "list",
            "tasks",
            "--address",
            &address,
            "--limit",
            "5",
            "--format",
            "json",
        ],
    );
    list.ok();
    let tasks: Vec<Value> = serde_json::from_str(&list.stdout).expect("a JSON list");
    assert!(!tasks.is_empty() && tasks.len() <= 5, "{}", list.stdout);
    let id = tasks[0]["task_id"].as_str().unwrap().to_string();
    let get = state_cli(dir, &["get", "task", &id, "--address", &address]);
    get.ok();
    assert!(
        get.stdout.contains(&format!("task_id: {id}")),
        "{}",
        get.stdout
    );
    let table = state_cli(
        dir,
        &[
            "list",
            "actors",
            "--address",
            &address,
            "--filter",
            "state=ALIVE",
        ],
    );
    table.ok();
    assert_eq!(
        table.stdout.matches("rllib::RolloutWorker").count(),
        2,
        "{}",
        table.stdout
    );
    let nodes = state_cli(dir, &["list", "nodes", "--address", &address]);
    assert!(nodes.ok().stdout.contains("node-0"), "{}", nodes.stdout);
    let missing = state_cli(
        dir,
        &["get", "task", "task-0:ffffffffff", "--address", &address],
    );
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(missing.stderr.contains("404"), "{}", missing.stderr);
    let trace = dir.join("live.json");
    state_cli(
        dir,
        &[
            "timeline",
            "--address",
            &address,
            "-o",
            trace.to_str().unwrap(),
        ],
    )
    .ok();
    let events: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    assert!(events.iter().any(|e| e["cat"] == "task:execute"));

    // The pages, in a real browser.
    let shots = screenshots_dir(dir);
    let b = Browser::start(free_port());
    b.goto(&url);
    b.wait_for(
        "the overview's node table",
        "return document.querySelectorAll('#node-table tr').length > 1",
    );
    b.wait_for(
        "the heat map",
        "return document.querySelectorAll('#heatmap rect.cell').length",
    );
    b.wait_for(
        "the CPU usage curves",
        "return document.querySelectorAll('#cpu-usage path.curve').length == 2",
    );
    let cookie_visible = b.eval("return document.cookie");
    assert_eq!(cookie_visible, "", "the token cookie is HttpOnly");
    b.screenshot(&shots.join("overview.png"));

    b.goto(&format!("http://127.0.0.1:{port}/#/tasks"));
    let first = b.wait_for(
        "task rows",
        "const r = document.querySelector('#task-table tr.row'); return r && r.dataset.id",
    );
    let id = first.as_str().unwrap().to_string();
    b.screenshot(&shots.join("tasks.png"));
    let prefix = &id[..id.len() - 1];
    let search = b.find_all("#search");
    b.type_into(&search[0], prefix);
    let script = format!(
        "const rows = [...document.querySelectorAll('#task-table tr.row')]; \
         return rows.length > 0 && rows.every(r => r.dataset.id.startsWith('{prefix}')) && rows.some(r => r.dataset.id == '{id}')"
    );
    b.wait_for("only tasks with the typed id prefix", &script);
    // The table is redrawn every few seconds: find the row again until a click lands.
    let selector = format!("#task-table tr.row[data-id='{id}']");
    b.wait_for(
        "the row to click",
        &format!("return !!document.querySelector(\"{selector}\")"),
    );
    let row = b.find_all(&selector);
    assert!(!row.is_empty(), "the row {id} is in the table");
    b.click(&row[0]);
    b.wait_for(
        "the task's record",
        &format!("const r = document.querySelector('#task-record'); return r && r.innerText.includes('{id}') && r.innerText.includes('execute')"),
    );
    b.screenshot(&shots.join("task_record.png"));

    b.goto(&format!("http://127.0.0.1:{port}/#/objects"));
    b.wait_for(
        "object rows",
        "return document.querySelectorAll('#object-table tr.row').length",
    );
    b.screenshot(&shots.join("objects.png"));

    b.goto(&format!("http://127.0.0.1:{port}/#/timeline"));
    b.wait_for(
        "slices drawn on the timeline",
        "const c = document.querySelector('#timeline-canvas'); return c && +c.dataset.slices > 0 && +c.dataset.lanes >= 2",
    );
    let href = b.eval("return document.querySelector('#tl-download').getAttribute('href')");
    assert_eq!(href, "/api/timeline?download=1");
    b.screenshot(&shots.join("timeline.png"));

    b.goto(&format!("http://127.0.0.1:{port}/#/completion"));
    b.wait_for("histogram bars", "return [...document.querySelectorAll('#histogram rect.bar')].some(r => +r.getAttribute('height') > 0)");
    b.wait_for("the function filter", "return [...document.querySelectorAll('#hist-function option')].some(o => o.value == 'rllib::RolloutWorker::sample')");
    b.screenshot(&shots.join("completion_times.png"));

    b.goto(&format!("http://127.0.0.1:{port}/#/trials"));
    b.wait_for(
        "the trial in the list",
        "return document.querySelectorAll('#trial-table tr.row').length == 1",
    );
    b.wait_for(
        "a curve of at least two points",
        "const p = document.querySelector('#trial-chart path.curve'); return p && (p.getAttribute('d').match(/L/g) || []).length >= 1",
    );
    b.screenshot(&shots.join("trials.png"));
    assert_eq!(trial_dirs(&local).len(), 1);
}

#[test]
fn train_timeline_writes_a_chrome_trace_and_dashboard_serves_past_trials() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let local = dir.join("r");
    let trace = dir.join("trace.json");
    let run = rllib(
        dir,
        &[
            "train",
            "--run",
            "PPO",
            "--env",
            "CartPole-v1",
            "--config",
            LIVE_CARTPOLE,
            "--stop",
            r#"{"training_iteration": 2}"#,
            "--local-dir",
            local.to_str().unwrap(),
            "--no-progress",
            "--timeline",
            trace.to_str().unwrap(),
        ],
    );
    run.ok();
    let events: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    for phase in ["task:get_arguments", "task:execute", "task:store_outputs"] {
        assert!(
            events.iter().any(|e| e["cat"] == phase && e["ph"] == "X"),
            "{phase}"
        );
    }
    assert!(events
        .iter()
        .any(|e| e["args"]["function"] == "rllib::RolloutWorker::sample"));

    let port = free_port().to_string();
    let (_serve, url) = start_with_dashboard(
        dir,
        &[
            "dashboard",
            "--logdir",
            local.to_str().unwrap(),
            "--port",
            &port,
        ],
    );
    assert!(url.starts_with(&format!("http://127.0.0.1:{port}/")));
    let address = format!("127.0.0.1:{port}");
    let (st, body) = rllib_http(&address, "/api/trials", Some(TOKEN));
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["trials"][0]["iterations"], 2, "{body}");
    let (st, _) = rllib_http(&address, "/api/trials", None);
    assert_eq!(st, 401);
}

/// A GET with an optional bearer token; status and JSON body.
fn rllib_http(address: &str, path: &str, token: Option<&str>) -> (u16, Value) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(address).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let st = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (
        st,
        serde_json::from_slice(&raw[split + 4..]).unwrap_or(Value::Null),
    )
}
