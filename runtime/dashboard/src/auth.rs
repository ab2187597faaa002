//! Every request proves it holds the cluster's token (`Authorization: Bearer <token>`, or the
//! cookie set by opening `/?token=<token>` once); requests from another origin are refused.
//! Ray's dashboard had neither, and was attacked for it (CVE-2023-48022).

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The cookie holding the token once the printed URL was opened.
pub const COOKIE: &str = "rllib_dashboard_token";

/// The token the dashboard accepts.
#[derive(Clone)]
pub(crate) struct Token(Arc<str>);

impl Token {
    pub fn new(t: &str) -> Self {
        Token(Arc::from(t))
    }

    /// Compares in time that does not depend on where the first difference is.
    fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        let mut diff = a.len() ^ b.len();
        for (i, x) in a.iter().enumerate() {
            diff |= (*x ^ b.get(i).copied().unwrap_or(0)) as usize;
        }
        diff == 0
    }
}

fn error(status: StatusCode, msg: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": msg }))).into_response()
}

/// Refuses a request whose `Origin` (or `Sec-Fetch-Site`) says another site sent it.
fn cross_origin(h: &HeaderMap) -> bool {
    if h.get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return true;
    }
    let Some(origin) = h.get(header::ORIGIN) else {
        return false;
    };
    let host = h
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin.to_str().ok() != Some(format!("http://{host}").as_str())
}

fn bearer(h: &HeaderMap) -> Option<&str> {
    h.get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn cookie(h: &HeaderMap) -> Option<&str> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// The `token` query parameter (only `/` takes it).
fn query_token(q: Option<&str>) -> Option<String> {
    q?.split('&').find_map(|kv| {
        let v = kv.strip_prefix("token=")?;
        Some(v.to_string())
    })
}

/// The middleware in front of every route.
pub(crate) async fn guard(State(token): State<Token>, req: Request, next: Next) -> Response {
    let h = req.headers();
    if cross_origin(h) {
        return error(
            StatusCode::FORBIDDEN,
            "requests from another origin are refused",
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return error(StatusCode::METHOD_NOT_ALLOWED, "the dashboard is read-only");
    }
    if req.uri().path() == "/" {
        if let Some(t) = query_token(req.uri().query()) {
            if !token.matches(&t) {
                return error(StatusCode::UNAUTHORIZED, "wrong token");
            }
            // The token leaves the address bar: it lives on in an HttpOnly cookie only.
            let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
            let c = format!("{COOKIE}={t}; HttpOnly; SameSite=Strict; Path=/");
            if let Ok(v) = HeaderValue::from_str(&c) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            return r;
        }
    }
    let given = bearer(h).or_else(|| cookie(h));
    match given {
        Some(t) if token.matches(t) => next.run(req).await,
        Some(_) => error(StatusCode::UNAUTHORIZED, "wrong token"),
        None => error(
            StatusCode::UNAUTHORIZED,
            "a token is required: open the URL the dashboard printed (/?token=...), or send Authorization: Bearer <token> (~/.rllib/auth_token or RLLIB_AUTH_TOKEN)",
        ),
    }
}
