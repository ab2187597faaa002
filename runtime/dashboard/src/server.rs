//! Starting and stopping the HTTP server: its own small tokio runtime on a background thread,
//! so a training loop (or any synchronous program) can serve the dashboard beside its work.

use crate::api::{routes, App};
use crate::auth::{guard, Token};
use crate::error::DashboardError;
use crate::snapshot::{SnapshotCache, StateSource};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Ray's dashboard port.
pub const DEFAULT_PORT: u16 = 8265;

/// How to serve the dashboard.
#[derive(Clone, Debug)]
pub struct DashboardConfig {
    /// Address to bind (default 127.0.0.1: this machine only).
    pub host: String,
    /// Port (default 8265; 0 lets the OS pick).
    pub port: u16,
    /// The token every request must carry.
    pub token: String,
    /// Results directory whose trials the Trials page shows.
    pub logdir: Option<PathBuf>,
    /// How long a copy of the runtime's tables answers requests before a new one is taken.
    pub refresh: Duration,
}

impl DashboardConfig {
    /// 127.0.0.1:8265 with this token, no log dir, tables refreshed at most once a second.
    pub fn new(token: impl Into<String>) -> Self {
        DashboardConfig {
            host: "127.0.0.1".into(),
            port: DEFAULT_PORT,
            token: token.into(),
            logdir: None,
            refresh: Duration::from_secs(1),
        }
    }
}

/// A running dashboard; dropping it stops the server.
pub struct Dashboard {
    addr: SocketAddr,
    token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Dashboard {
    /// Binds and starts serving `source` (and the trials under `config.logdir`).
    pub fn start(
        config: DashboardConfig,
        source: Arc<dyn StateSource>,
    ) -> Result<Dashboard, DashboardError> {
        if config.token.trim().is_empty() {
            return Err(DashboardError::EmptyToken);
        }
        let address = format!("{}:{}", config.host, config.port);
        let bind_err = |source| DashboardError::Bind {
            address: address.clone(),
            source,
        };
        let listener = TcpListener::bind(&address).map_err(bind_err)?;
        listener.set_nonblocking(true).map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        let token = config.token.trim().to_string();
        let app = Arc::new(App {
            cache: SnapshotCache::new(source, config.refresh),
            logdir: config.logdir.clone(),
        });
        let router = routes(app).layer(axum::middleware::from_fn_with_state(
            Token::new(&token),
            guard,
        ));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(4)
            .thread_name("dashboard")
            .enable_io()
            .enable_time()
            .build()
            .map_err(DashboardError::Threads)?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("dashboard".into())
            .spawn(move || {
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!("dashboard: {e}");
                            return;
                        }
                    };
                    let serve = axum::serve(listener, router).with_graceful_shutdown(async {
                        let _ = rx.await;
                    });
                    if let Err(e) = serve.await {
                        tracing::error!("dashboard: {e}");
                    }
                });
                // In-flight blocking reads (a table copy) are not waited for.
                rt.shutdown_timeout(Duration::from_millis(100));
            })
            .map_err(DashboardError::Threads)?;
        tracing::debug!("dashboard listening on {addr}");
        Ok(Dashboard {
            addr,
            token,
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to open once: it carries the token, which becomes an HttpOnly cookie.
    pub fn url(&self) -> String {
        format!("http://{}/?token={}", self.addr, self.token)
    }

    /// Serves until the process ends (`rllib dashboard`).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
