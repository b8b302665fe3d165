//! /metrics, /healthz and /readyz.
//!
//! `/healthz` (liveness) answers 503 when the controllers stop making progress, that is when
//! either of these is older than the liveness timeout (`--liveness-timeout`, 5 minutes):
//! - the [`Heartbeat`]'s last beat: a ticker beats it every second inside the same task and the
//!   same `select!` as every controller stream (`controller::supervise`), and the
//!   leader-election loop beats it while this replica waits as a standby. It goes stale when the
//!   task that drives the watches and the work queues is no longer polled (its thread blocked, a
//!   runtime that cannot schedule it).
//! - the oldest reconcile in flight ([`Heartbeat::begin`]): kube runs each reconcile as a task of
//!   its own, so a reconcile that blocks its thread (a deadlock, a blocking call, an endless
//!   loop) or awaits forever shows here. A legitimate reconcile is bounded by its provider
//!   calls (15 s timeout, 4 attempts, 429 waits of at most 30 s), well under the default.
//!
//! A controller that ends or panics does not need either: the process exits non-zero at once.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
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
    /// Start of each reconcile in flight, by a sequence number.
    in_flight: Arc<Mutex<BTreeMap<u64, Instant>>>,
    next: Arc<AtomicU64>,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            last: Arc::new(AtomicU64::new(0)),
            in_flight: Arc::default(),
            next: Arc::default(),
        }
    }
}

/// A reconcile in flight; it ends when this is dropped (also when the reconcile is cancelled).
#[derive(Debug)]
pub struct InFlight {
    map: Arc<Mutex<BTreeMap<u64, Instant>>>,
    id: u64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

impl Heartbeat {
    pub fn beat(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }

    /// Marks a reconcile as started; it counts as in flight until the guard is dropped.
    pub fn begin(&self) -> InFlight {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, Instant::now());
        InFlight {
            map: self.in_flight.clone(),
            id,
        }
    }

    /// How long the oldest reconcile in flight has been running (zero when none is).
    pub fn oldest_in_flight(&self) -> Duration {
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(Instant::elapsed)
            .max()
            .unwrap_or_default()
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
        let limit = self.liveness_timeout;
        let age = self.heartbeat.age();
        let oldest = self.heartbeat.oldest_in_flight();
        if age > limit {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "no progress: the controllers' heartbeat is {}s old (limit {}s)",
                    age.as_secs(),
                    limit.as_secs()
                ),
            )
        } else if oldest > limit {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "no progress: a reconcile has been running for {}s (limit {}s)",
                    oldest.as_secs(),
                    limit.as_secs()
                ),
            )
        } else {
            (StatusCode::OK, "ok".into())
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

        // A reconcile that runs for longer than the timeout fails it too, until it ends.
        let stuck = health.heartbeat.begin();
        let quick = health.heartbeat.begin();
        drop(quick);
        std::thread::sleep(Duration::from_millis(80));
        health.heartbeat.beat();
        let (code, text) = health.liveness();
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert!(text.contains("reconcile"), "{text}");
        drop(stuck);
        assert_eq!(health.liveness().0, StatusCode::OK);
        assert_eq!(health.heartbeat.oldest_in_flight(), Duration::ZERO);
    }
}
