//! /metrics, /healthz and /readyz.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::{Router, extract::State, http::StatusCode, routing::get};

use crate::metrics::Metrics;

#[derive(Clone)]
pub struct Health {
    pub metrics: Arc<Metrics>,
    /// Set once the operator is connected and its controllers (or its standby loop) run.
    pub ready: Arc<AtomicBool>,
}

pub fn router(health: Health) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(h): State<Health>| async move { h.metrics.render() }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(h): State<Health>| async move {
                if h.ready.load(Ordering::Relaxed) {
                    (StatusCode::OK, "ready")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "starting")
                }
            }),
        )
        .with_state(health)
}

pub async fn serve(addr: SocketAddr, health: Health) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, router(health)).await
}
