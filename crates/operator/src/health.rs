//! The HTTP server: `/metrics`, `/livez` and `/readyz`.
//!
//! `/readyz` turns ready only once every reflector store has its initial list: before that a
//! reconcile could mistake "not cached yet" for "missing" (it would then re-apply, which is
//! harmless, but a not-ready replica should not be counted as serving).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// Readiness, shared between the controller (which sets it) and the server.
///
/// A leader is ready once its caches are synced. A standby (leader election on, lease held by
/// another replica) is ready too: it is healthy and waiting, and a never-ready standby would
/// block every rolling update of a two-replica Deployment.
#[derive(Clone, Default)]
pub struct Health {
    ready: Arc<AtomicBool>,
    standby: Arc<AtomicBool>,
}

impl Health {
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
    pub fn set_standby(&self, standby: bool) {
        self.standby.store(standby, Ordering::SeqCst);
    }
    pub fn is_standby(&self) -> bool {
        self.standby.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    health: Health,
}

pub fn router(metrics: Arc<Metrics>, health: Health) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(AppState { metrics, health })
}

async fn metrics_handler(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    if s.health.is_ready() {
        (StatusCode::OK, "ok")
    } else if s.health.is_standby() {
        (StatusCode::OK, "standby")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced")
    }
}

/// Binds the server's address (port 0 picks a free one; see [`Server::local_addr`]).
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
}

impl Server {
    pub async fn bind(addr: SocketAddr) -> Result<Server> {
        let err = |source| Error::Server {
            addr: addr.to_string(),
            source,
        };
        let listener = TcpListener::bind(addr).await.map_err(err)?;
        let addr = listener.local_addr().map_err(err)?;
        Ok(Server { listener, addr })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` resolves.
    pub async fn serve(
        self,
        metrics: Arc<Metrics>,
        health: Health,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let addr = self.addr.to_string();
        axum::serve(self.listener, router(metrics, health))
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|source| Error::Server { addr, source })
    }
}
