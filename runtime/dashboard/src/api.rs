//! The JSON API (`/api/...`) and the pages' files: one read-only route per view.

use crate::completion_times::{completion_times, CompletionFilter};
use crate::snapshot::{Snapshot, SnapshotCache, TASK_STATES};
use crate::trace::{chrome_trace, TraceWindow};
use crate::trials::{self, ProgressError};
use crate::usage::usage;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The most rows one page of a table returns.
pub const MAX_LIMIT: usize = 1000;

/// What the handlers share.
pub(crate) struct App {
    pub cache: SnapshotCache,
    pub logdir: Option<PathBuf>,
}

/// A failed request: its status and a JSON `{"error": ...}` body.
#[derive(Debug)]
pub(crate) struct ApiError(StatusCode, String);

impl ApiError {
    fn bad(msg: impl Into<String>) -> Self {
        ApiError(StatusCode::BAD_REQUEST, msg.into())
    }
    fn not_found(msg: impl Into<String>) -> Self {
        ApiError(StatusCode::NOT_FOUND, msg.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

type Reply = Result<Response, ApiError>;

/// Query parameters, checked against the names a route takes.
struct Params(HashMap<String, String>);

impl Params {
    fn new(
        q: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
        allowed: &[&str],
    ) -> Result<Self, ApiError> {
        let Query(m) = q.map_err(|e| ApiError::bad(format!("bad query: {e}")))?;
        if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(ApiError::bad(format!(
                "unknown query parameter '{k}' (this route takes: {})",
                allowed.join(", ")
            )));
        }
        Ok(Params(m))
    }
    fn text(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }
    fn usize(&self, k: &str, default: usize, max: usize) -> Result<usize, ApiError> {
        match self.text(k) {
            None => Ok(default),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n <= max => Ok(n),
                Ok(_) => Err(ApiError::bad(format!("{k} must be at most {max}"))),
                Err(_) => Err(ApiError::bad(format!(
                    "{k} must be a whole number, got '{v}'"
                ))),
            },
        }
    }
    fn seconds(&self, k: &str) -> Result<Option<f64>, ApiError> {
        match self.text(k) {
            None => Ok(None),
            Some(v) => match v.parse::<f64>() {
                Ok(x) if x.is_finite() && x >= 0.0 => Ok(Some(x)),
                _ => Err(ApiError::bad(format!(
                    "{k} must be seconds since the runtime started (a number >= 0), got '{v}'"
                ))),
            },
        }
    }
}

type RawQuery = Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>;

/// Runs `f` on the current snapshot off the async threads (copying tables takes a while).
async fn with_snapshot<F>(app: Arc<App>, f: F) -> Reply
where
    F: FnOnce(&Snapshot) -> Reply + Send + 'static,
{
    tokio::task::spawn_blocking(move || f(&app.cache.get()))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

fn json_reply<T: serde::Serialize>(v: &T) -> Reply {
    Ok(Json(v).into_response())
}

/// Checks an id's shape (`task-1:0000002a`): a wrong shape is a bad request, not a miss.
fn check_id(kind: &str, id: &str) -> Result<(), ApiError> {
    let ok = id
        .strip_prefix(kind)
        .and_then(|r| r.strip_prefix('-'))
        .and_then(|r| r.split_once(':'))
        .is_some_and(|(n, c)| {
            !n.is_empty()
                && !c.is_empty()
                && n.len() <= 4
                && c.len() <= 12
                && n.bytes().chain(c.bytes()).all(|b| b.is_ascii_hexdigit())
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad(format!(
            "'{id}' is not a {kind} id (like {kind}-0:0000002a)"
        )))
    }
}

async fn nodes(State(app): State<Arc<App>>, q: RawQuery) -> Reply {
    Params::new(q, &[])?;
    with_snapshot(app, |s| json_reply(&json!({ "nodes": s.nodes }))).await
}

async fn actors(State(app): State<Arc<App>>, q: RawQuery) -> Reply {
    let p = Params::new(q, &["limit"])?;
    let limit = p.usize("limit", MAX_LIMIT, MAX_LIMIT)?;
    with_snapshot(app, move |s| {
        let a: Vec<_> = s.actors.iter().take(limit).collect();
        json_reply(&json!({ "total": s.actors.len(), "actors": a }))
    })
    .await
}

async fn tasks(State(app): State<Arc<App>>, q: RawQuery) -> Reply {
    let p = Params::new(q, &["q", "state", "node", "function", "limit", "offset"])?;
    let limit = p.usize("limit", 100, MAX_LIMIT)?;
    let offset = p.usize("offset", 0, usize::MAX)?;
    let state = match p.text("state") {
        None => None,
        Some(v) => {
            let up = v.to_ascii_uppercase();
            Some(*TASK_STATES.iter().find(|s| **s == up).ok_or_else(|| {
                ApiError::bad(format!(
                    "state must be one of {}, got '{v}'",
                    TASK_STATES.join(", ")
                ))
            })?)
        }
    };
    let text = p.text("q").map(str::to_string);
    let node = p.text("node").map(str::to_string);
    let function = p.text("function").map(str::to_string);
    with_snapshot(app, move |s| {
        let matched: Vec<_> = s
            .tasks
            .iter()
            .rev()
            .filter(|t| state.is_none_or(|st| t.state == st))
            .filter(|t| node.as_ref().is_none_or(|n| t.node_id == *n))
            .filter(|t| function.as_ref().is_none_or(|f| t.function == *f))
            .filter(|t| {
                text.as_ref().is_none_or(|q| {
                    t.task_id.starts_with(q.as_str()) || t.function.contains(q.as_str())
                })
            })
            .collect();
        let page: Vec<_> = matched.iter().skip(offset).take(limit).collect();
        json_reply(&json!({
            "total": matched.len(), "offset": offset, "limit": limit, "tasks": page,
        }))
    })
    .await
}

async fn task(State(app): State<Arc<App>>, UrlPath(id): UrlPath<String>, q: RawQuery) -> Reply {
    Params::new(q, &[])?;
    check_id("task", &id)?;
    with_snapshot(app, move |s| match s.task(&id) {
        Some(t) => json_reply(t),
        None => Err(ApiError::not_found(format!(
            "no task {id} (finished tasks past the history cap are evicted)"
        ))),
    })
    .await
}

async fn objects(State(app): State<Arc<App>>, q: RawQuery) -> Reply {
    let p = Params::new(q, &["q", "limit", "offset"])?;
    let limit = p.usize("limit", 100, MAX_LIMIT)?;
    let offset = p.usize("offset", 0, usize::MAX)?;
    let text = p.text("q").map(str::to_string);
    with_snapshot(app, move |s| {
        let matched: Vec<_> = s
            .objects
            .iter()
            .rev()
            .filter(|o| {
                text.as_ref()
                    .is_none_or(|q| o.object_id.starts_with(q.as_str()))
            })
            .collect();
        let page: Vec<_> = matched.iter().skip(offset).take(limit).collect();
        json_reply(&json!({
            "total": matched.len(), "offset": offset, "limit": limit, "objects": page,
        }))
    })
    .await
}

async fn object(State(app): State<Arc<App>>, UrlPath(id): UrlPath<String>, q: RawQuery) -> Reply {
    Params::new(q, &[])?;
    check_id("obj", &id)?;
    with_snapshot(app, move |s| match s.object(&id) {
        Some(o) => json_reply(o),
        None => Err(ApiError::not_found(format!(
            "no object {id} (objects are freed when their last reference drops)"
        ))),
    })
    .await
}

async fn timeline(State(app): State<Arc<App>>, q: RawQuery) -> Reply {
    let p = Params::new(q, &["start", "end", "limit", "download"])?;
    let w = TraceWindow {
        start_s: p.seconds("start")?,
        end_s: p.seconds("end")?,
        limit: p
            .text("limit")
            .map(|_| p.usize("limit", 0, usize::MAX))
            .transpose()?,
    };
    let download = p.text("download").is_some();
    with_snapshot(app, move |s| {
        let body = chrome_trace(s, &w);
        let mut r = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
        if download {
            r.headers_mut().insert(
                header::CONTENT_DISPOSITION,
                header::HeaderValue::from_static("attachment; filename=\"timeline.json\""),
            );
        }
        Ok(r)
    })
    .await
}

async fn usage_route(State(app): State<Arc<App>>, q: RawQuery) -> Reply {
    let p = Params::new(q, &["buckets"])?;
    let n = p.usize("buckets", 120, 2000)?.max(1);
    with_snapshot(app, move |s| json_reply(&usage(s, n))).await
}

async fn completion(State(app): State<Arc<App>>, q: RawQuery) -> Reply {
    let p = Params::new(q, &["function", "start", "end", "bins"])?;
    let f = CompletionFilter {
        function: p.text("function").map(str::to_string),
        start_s: p.seconds("start")?,
        end_s: p.seconds("end")?,
    };
    let bins = p.usize("bins", 30, 500)?.max(1);
    with_snapshot(app, move |s| json_reply(&completion_times(s, &f, bins))).await
}

async fn trial_list(State(app): State<Arc<App>>, q: RawQuery) -> Reply {
    Params::new(q, &[])?;
    let dir = app.logdir.clone();
    let list =
        tokio::task::spawn_blocking(move || dir.map(|d| trials::list(&d)).unwrap_or_default())
            .await
            .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    json_reply(&json!({ "trials": list }))
}

async fn trial_progress(
    State(app): State<Arc<App>>,
    UrlPath(name): UrlPath<String>,
    q: RawQuery,
) -> Reply {
    let p = Params::new(q, &["columns", "max_points"])?;
    if !trials::valid_name(&name) {
        return Err(ApiError::bad(format!(
            "'{name}' is not a trial name (a directory name under the log dir)"
        )));
    }
    let max_points = p.usize("max_points", 2000, 100_000)?.max(2);
    let columns: Vec<String> = p
        .text("columns")
        .unwrap_or("training_iteration,timesteps_total,time_total_s,episode_reward_mean")
        .split(',')
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    let Some(dir) = app.logdir.clone() else {
        return Err(ApiError::not_found(format!("no trial {name}: no log dir")));
    };
    let out = tokio::task::spawn_blocking(move || {
        trials::progress(&dir, &name, &columns, max_points).map_err(|e| match e {
            ProgressError::UnknownTrial => ApiError::not_found(format!("no trial {name}")),
            ProgressError::UnknownColumn(c) => {
                ApiError::bad(format!("trial {name} has no column '{c}'"))
            }
        })
    })
    .await
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    json_reply(&out)
}

async fn unknown() -> ApiError {
    ApiError::not_found("no such route")
}

fn asset(body: &'static str, kind: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn index() -> Response {
    asset(
        include_str!("../assets/index.html"),
        "text/html; charset=utf-8",
    )
}

async fn app_js() -> Response {
    asset(
        include_str!("../assets/app.js"),
        "text/javascript; charset=utf-8",
    )
}

async fn app_css() -> Response {
    asset(include_str!("../assets/app.css"), "text/css; charset=utf-8")
}

/// Every route (the token guard is layered on by the server).
pub(crate) fn routes(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/app.js", get(app_js))
        .route("/app.css", get(app_css))
        .route("/api/nodes", get(nodes))
        .route("/api/actors", get(actors))
        .route("/api/tasks", get(tasks))
        .route("/api/tasks/{id}", get(task))
        .route("/api/objects", get(objects))
        .route("/api/objects/{id}", get(object))
        .route("/api/timeline", get(timeline))
        .route("/api/usage", get(usage_route))
        .route("/api/completion_times", get(completion))
        .route("/api/trials", get(trial_list))
        .route("/api/trials/{name}/progress", get(trial_progress))
        .fallback(unknown)
        .with_state(app)
}
