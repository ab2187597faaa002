//! Every API route, with and without the token, against a live runtime and a log dir.

use dashboard::{Dashboard, DashboardConfig, RuntimeSource};
use runtime::{remote_fn, Runtime, RuntimeConfig};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

remote_fn! { pub fn add(a: i64, b: i64) -> i64 { a + b } }
remote_fn! { pub fn fail(x: i64) -> i64 { if x > 0 { panic!("boom {x}") } x } }

const TOKEN: &str = "test-token-0123456789";

/// One HTTP/1.1 request; the status, the headers (lowercased) and the body.
fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Content-Length: 0\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head, raw[split + 4..].to_vec())
}

fn get(addr: &str, path: &str) -> (u16, Value) {
    let (st, _, body) = request(
        addr,
        "GET",
        path,
        &[("Authorization", &format!("Bearer {TOKEN}"))],
    );
    (st, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

struct Fixture {
    _rt: Runtime,
    _logdir: tempfile::TempDir,
    dash: Dashboard,
    task_id: String,
    object_id: String,
    _put: runtime::ObjectRef<Vec<u8>>,
}

fn fixture() -> Fixture {
    let rt = Runtime::new(RuntimeConfig::default().num_cpus(2.0)).unwrap();
    let x = rt.remote(&add, (1, 2));
    let y = rt.remote(&add, (&x, 10));
    assert_eq!(rt.get(&y).unwrap(), 13);
    let f = rt.remote(&fail, (1,));
    assert!(rt.get(&f).is_err());
    let p = rt.put(vec![1u8, 2, 3]);
    let source = RuntimeSource::new();
    source.set(Some(rt.handle()));
    let logdir = tempfile::tempdir().unwrap();
    let trial = logdir.path().join("exp").join("PPO_CartPole-v1_seed1_1");
    std::fs::create_dir_all(&trial).unwrap();
    std::fs::write(
        trial.join("progress.csv"),
        "training_iteration,timesteps_total,time_total_s,episode_reward_mean\n1,4000,1.5,20.5\n2,8000,3.0,31.25\n",
    )
    .unwrap();
    // A progress.csv outside the log dir that no trial name may reach.
    std::fs::write(
        logdir.path().parent().unwrap().join("progress.csv"),
        "a\n1\n",
    )
    .ok();
    let mut cfg = DashboardConfig::new(TOKEN);
    cfg.port = 0;
    cfg.logdir = Some(logdir.path().to_path_buf());
    cfg.refresh = Duration::ZERO;
    let dash = Dashboard::start(cfg, Arc::new(source)).unwrap();
    let task_id = y.id().to_string().replace("obj-", "task-");
    Fixture {
        _rt: rt,
        _logdir: logdir,
        dash,
        task_id,
        object_id: p.id().to_string(),
        _put: p,
    }
}

#[test]
fn every_route_needs_the_token_and_answers_with_it() {
    let fx = fixture();
    let addr = fx.dash.address().to_string();
    assert!(fx.dash.address().ip().is_loopback());
    let routes = [
        "/".to_string(),
        "/app.js".into(),
        "/app.css".into(),
        "/api/nodes".into(),
        "/api/tasks".into(),
        format!("/api/tasks/{}", fx.task_id),
        "/api/objects".into(),
        format!("/api/objects/{}", fx.object_id),
        "/api/actors".into(),
        "/api/timeline".into(),
        "/api/usage".into(),
        "/api/completion_times".into(),
        "/api/trials".into(),
        "/api/trials/PPO_CartPole-v1_seed1_1/progress".into(),
    ];
    for r in &routes {
        let (st, _, body) = request(&addr, "GET", r, &[]);
        assert_eq!(st, 401, "{r} without a token");
        assert!(String::from_utf8_lossy(&body).contains("token"), "{r}");
        let (st, _, _) = request(&addr, "GET", r, &[("Authorization", "Bearer wrong")]);
        assert_eq!(st, 401, "{r} with a wrong token");
        let (st, _, _) = request(
            &addr,
            "GET",
            r,
            &[("Authorization", &format!("Bearer {TOKEN}"))],
        );
        assert_eq!(st, 200, "{r} with the token");
    }
}

#[test]
fn the_printed_url_sets_an_httponly_cookie_that_then_suffices() {
    let fx = fixture();
    let addr = fx.dash.address().to_string();
    assert!(fx.dash.url().ends_with(&format!("/?token={TOKEN}")));
    let (st, head, _) = request(&addr, "GET", &format!("/?token={TOKEN}"), &[]);
    assert_eq!(st, 303);
    assert!(
        head.contains("set-cookie: rllib_dashboard_token="),
        "{head}"
    );
    assert!(head.contains("httponly"), "{head}");
    let (st, _, _) = request(&addr, "GET", "/?token=nope", &[]);
    assert_eq!(st, 401);
    let cookie = format!("{}={TOKEN}", dashboard::COOKIE);
    let (st, _, body) = request(&addr, "GET", "/api/nodes", &[("Cookie", &cookie)]);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
}

#[test]
fn other_origins_and_writes_are_refused() {
    let fx = fixture();
    let addr = fx.dash.address().to_string();
    let auth = format!("Bearer {TOKEN}");
    let (st, _, _) = request(
        &addr,
        "GET",
        "/api/tasks",
        &[("Authorization", &auth), ("Origin", "http://evil.example")],
    );
    assert_eq!(st, 403);
    let (st, _, _) = request(
        &addr,
        "GET",
        "/api/tasks",
        &[("Authorization", &auth), ("Sec-Fetch-Site", "cross-site")],
    );
    assert_eq!(st, 403);
    let own = format!("http://{addr}");
    let (st, _, _) = request(
        &addr,
        "GET",
        "/api/tasks",
        &[("Authorization", &auth), ("Origin", &own)],
    );
    assert_eq!(st, 200);
    for m in ["POST", "PUT", "DELETE"] {
        let (st, _, _) = request(&addr, m, "/api/tasks", &[("Authorization", &auth)]);
        assert_eq!(st, 405, "{m}");
    }
}

#[test]
fn tables_search_page_and_show_whole_records() {
    let fx = fixture();
    let addr = fx.dash.address().to_string();
    let (st, v) = get(&addr, "/api/tasks?limit=2");
    assert_eq!(st, 200);
    assert_eq!(v["total"], 3);
    assert_eq!(v["tasks"].as_array().unwrap().len(), 2);
    let (_, v2) = get(&addr, "/api/tasks?limit=2&offset=2");
    assert_eq!(v2["tasks"].as_array().unwrap().len(), 1);
    let (_, v) = get(&addr, "/api/tasks?state=failed");
    assert_eq!(v["total"], 1);
    assert!(v["tasks"][0]["error"].as_str().unwrap().contains("boom 1"));
    let (_, v) = get(
        &addr,
        &format!("/api/tasks?q={}", &fx.task_id[..fx.task_id.len() - 1]),
    );
    assert!(v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["task_id"] == fx.task_id.as_str()));
    let (_, v) = get(&addr, "/api/tasks?q=fail");
    assert_eq!(v["total"], 1);
    let (st, t) = get(&addr, &format!("/api/tasks/{}", fx.task_id));
    assert_eq!(st, 200);
    assert_eq!(t["function"], "api::add");
    assert_eq!(t["state"], "FINISHED");
    assert_eq!(t["args"][0]["kind"], "object");
    assert_eq!(t["args"][1]["kind"], "value");
    assert_eq!(t["required_resources"]["CPU"], 1.0);
    assert!(t["phases"]["execute"].as_f64().unwrap() <= t["phases"]["end"].as_f64().unwrap());
    let (st, o) = get(&addr, &format!("/api/objects/{}", fx.object_id));
    assert_eq!(st, 200);
    assert_eq!(o["is_put"], true);
    assert!(o["size_bytes"].as_u64().unwrap() >= 3, "{o}");
    let (_, v) = get(&addr, "/api/objects?q=obj-");
    assert!(v["total"].as_u64().unwrap() >= 1);
    let (_, n) = get(&addr, "/api/nodes");
    assert_eq!(n["nodes"][0]["resources_total"]["CPU"], 2.0);
}

#[test]
fn timeline_usage_and_histogram_have_their_shapes() {
    let fx = fixture();
    let addr = fx.dash.address().to_string();
    let (_, tr) = get(&addr, "/api/timeline");
    let cats: Vec<&str> = tr
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["cat"].as_str())
        .collect();
    for phase in [
        "task:get_arguments",
        "task:execute",
        "task:store_outputs",
        "dependency",
    ] {
        assert!(cats.contains(&phase), "{phase} in {cats:?}");
    }
    let (_, tr) = get(&addr, "/api/timeline?limit=1");
    assert_eq!(
        tr.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["ph"] == "X")
            .count(),
        3
    );
    let (_, u) = get(&addr, "/api/usage?buckets=10");
    assert_eq!(u["t"].as_array().unwrap().len(), 10);
    assert_eq!(u["cpus_total"], 2.0);
    let (_, h) = get(&addr, "/api/completion_times?function=api::add&bins=5");
    assert_eq!(h["count"], 2);
    assert_eq!(h["buckets"].as_array().unwrap().len(), 5);
    let (_, h) = get(&addr, "/api/completion_times?start=100000");
    assert_eq!(h["count"], 0);
}

#[test]
fn trials_show_progress_and_names_cannot_escape_the_log_dir() {
    let fx = fixture();
    let addr = fx.dash.address().to_string();
    let (_, t) = get(&addr, "/api/trials");
    assert_eq!(t["trials"][0]["name"], "PPO_CartPole-v1_seed1_1");
    assert_eq!(t["trials"][0]["episode_reward_mean"], 31.25);
    let (st, p) = get(
        &addr,
        "/api/trials/PPO_CartPole-v1_seed1_1/progress?columns=timesteps_total,episode_reward_mean",
    );
    assert_eq!(st, 200);
    assert_eq!(
        p["series"]["episode_reward_mean"],
        serde_json::json!([20.5, 31.25])
    );
    let (st, _) = get(
        &addr,
        "/api/trials/PPO_CartPole-v1_seed1_1/progress?columns=nope",
    );
    assert_eq!(st, 400);
    for bad in [
        "..",
        "%2e%2e",
        "..%2F..%2Fetc",
        "%2Fetc%2Fpasswd",
        "..%2fprogress.csv",
        "%252e%252e",
        "exp%2FPPO_CartPole-v1_seed1_1",
        "..%5C..",
        ".hidden",
    ] {
        let (st, v) = get(&addr, &format!("/api/trials/{bad}/progress"));
        assert!(st == 400 || st == 404, "{bad}: {st}");
        assert!(v["error"].is_string(), "{bad}: a JSON error");
    }
    // Not a route at all (the path has more segments): still no file.
    let (st, _) = get(&addr, "/api/trials/../../progress");
    assert_ne!(st, 200);
    let (st, _) = get(&addr, "/api/trials/exp/progress");
    assert_eq!(st, 404, "an experiment directory is not a trial");
}

#[test]
fn bad_queries_are_400_and_unknown_ids_404_with_json_errors() {
    let fx = fixture();
    let addr = fx.dash.address().to_string();
    for (path, want) in [
        ("/api/tasks?limit=abc", 400),
        ("/api/tasks?limit=1000000", 400),
        ("/api/tasks?state=sleeping", 400),
        ("/api/tasks?offset=-1", 400),
        ("/api/tasks?bogus=1", 400),
        ("/api/objects?limit=x", 400),
        ("/api/timeline?start=yesterday", 400),
        ("/api/usage?buckets=-3", 400),
        ("/api/completion_times?bins=abc", 400),
        ("/api/tasks/not-an-id", 400),
        ("/api/objects/obj-zz:1", 400),
        ("/api/tasks/task-0:ffffffffff", 404),
        ("/api/objects/obj-0:ffffffffff", 404),
        ("/api/trials/nobody/progress", 404),
        ("/api/nothing", 404),
    ] {
        let (st, v) = get(&addr, path);
        assert_eq!(st, want, "{path}: {v}");
        assert!(v["error"].is_string(), "{path}: {v}");
    }
}
