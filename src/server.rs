//! /metrics, /healthz and /readyz.
//!
//! `/healthz` (liveness) answers 503 when the [`Heartbeat`] is older than the liveness timeout.
//! The heartbeat is beaten once a second by a ticker that runs inside the same task and the same
//! `select!` as every controller (`controller::supervise`), and by the leader-election loop
//! while this replica waits as a standby. So it goes stale when the task that drives the
//! controllers stops being polled: a reconcile that blocks its thread (a deadlock, a blocking
//! call, an endless loop), or a runtime that cannot schedule it. A controller that ends or panics
//! does not need it: the process exits non-zero at once.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, extract::State, http::StatusCode, routing::get};

use crate::metrics::Metrics;

/// The instant of the last sign of progress, shared between the controllers and `/healthz`.
#[derive(Clone, Debug)]
pub struct Heartbeat {
    base: Instant,
    /// Milliseconds after `base`.
    last: Arc<AtomicU64>,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            last: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Heartbeat {
    pub fn beat(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }

    /// Time since the last beat.
    pub fn age(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.base.elapsed().saturating_sub(last)
    }
}

#[derive(Clone)]
pub struct Health {
    pub metrics: Arc<Metrics>,
    /// Set once the operator is connected and its controllers (or its standby loop) run.
    pub ready: Arc<AtomicBool>,
    pub heartbeat: Heartbeat,
    /// `/healthz` fails once the heartbeat is older than this.
    pub liveness_timeout: Duration,
}

impl Health {
    /// The `/healthz` answer.
    pub fn liveness(&self) -> (StatusCode, String) {
        let age = self.heartbeat.age();
        if age <= self.liveness_timeout {
            (StatusCode::OK, "ok".into())
        } else {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "no progress: the controllers' heartbeat is {}s old (limit {}s)",
                    age.as_secs(),
                    self.liveness_timeout.as_secs()
                ),
            )
        }
    }
}

pub fn router(health: Health) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(h): State<Health>| async move { h.metrics.render() }),
        )
        .route(
            "/healthz",
            get(|State(h): State<Health>| async move { h.liveness() }),
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthz_fails_once_the_heartbeat_is_older_than_the_timeout() {
        let health = Health {
            metrics: Arc::default(),
            ready: Arc::default(),
            heartbeat: Heartbeat::default(),
            liveness_timeout: Duration::from_millis(50),
        };
        health.heartbeat.beat();
        assert_eq!(health.liveness().0, StatusCode::OK);
        std::thread::sleep(Duration::from_millis(80));
        let (code, text) = health.liveness();
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert!(text.contains("heartbeat"), "{text}");
        health.heartbeat.beat();
        assert_eq!(health.liveness().0, StatusCode::OK);
    }
}
