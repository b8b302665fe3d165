//! The state every emulator shares and the middleware that uses it: call counting, fault
//! injection, the rate limit and the contract check.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Body,
    extract::{MatchedPath, Request, State},
    http,
    http::StatusCode,
    middleware::Next,
    response::Response,
};

use crate::contract::Contract;
use crate::faults::Faults;
use crate::ratelimit::{Bucket, WindowLimit};

/// Everything an emulator needs to answer in its provider's own format when the shared middleware
/// steps in (a fault or a rate limit).
pub trait Dialect: Send + Sync + 'static {
    /// An error response with the provider's own body shape.
    fn error(&self, status: StatusCode, message: &str) -> Response;
    /// A 429 with the provider's own headers; `wait` until a token is free, `limit` the bucket capacity.
    fn rate_limited(&self, wait: Duration, limit: u32) -> Response;
}

/// State shared by every emulator: counters, faults and the rate-limit bucket.
pub struct EmulatorCore {
    pub name: &'static str,
    calls: Mutex<BTreeMap<String, u64>>,
    /// Writes (POST, PUT, PATCH, DELETE) per User-Agent, so tests can tell replicas apart.
    agent_writes: Mutex<BTreeMap<String, u64>>,
    faults: Mutex<Faults>,
    bucket: Mutex<Option<Bucket>>,
    /// Every request is answered 429 until then (a provider's fixed rate-limit window).
    closed_until: Mutex<Option<Instant>>,
    /// Requests answered 429 (storm, refusal window or bucket) since the last reset.
    rate_limited: AtomicU64,
    dialect: Box<dyn Dialect>,
    /// The provider's description, against which every request and answer is checked.
    contract: Option<&'static Contract>,
    /// What the checks found: each kind of violation (array indices left out) and how often.
    violations: Mutex<BTreeMap<String, u64>>,
}

/// Largest body the contract check reads (a Clerk list page of 500 is about 1 MB).
const MAX_CHECKED_BODY: usize = 32 << 20;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl EmulatorCore {
    pub fn new(name: &'static str, dialect: impl Dialect) -> Arc<Self> {
        Arc::new(Self {
            name,
            calls: Mutex::default(),
            agent_writes: Mutex::default(),
            faults: Mutex::default(),
            bucket: Mutex::new(None),
            closed_until: Mutex::new(None),
            rate_limited: AtomicU64::new(0),
            dialect: Box::new(dialect),
            contract: Contract::for_provider(name),
            violations: Mutex::default(),
        })
    }

    /// Whether requests and answers are checked against a description of the provider's API.
    pub fn has_contract(&self) -> bool {
        self.contract.is_some()
    }

    /// Contract violations so far: each kind once (array indices left out), with its count.
    pub fn contract_violations(&self) -> BTreeMap<String, u64> {
        lock(&self.violations).clone()
    }

    fn violated(&self, found: Vec<String>) {
        if found.is_empty() {
            return;
        }
        let mut v = lock(&self.violations);
        for m in found {
            let kind = without_indices(&m);
            let seen = v.entry(kind).or_default();
            if *seen == 0 {
                tracing::warn!(emulator = self.name, violation = %m, "contract violation");
            }
            *seen += 1;
        }
    }

    /// Calls so far, keyed by `METHOD /route/{param}`.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        lock(&self.calls).clone()
    }

    /// Calls so far of one method (e.g. "PUT"), all routes together.
    pub fn calls_of(&self, method: &str) -> u64 {
        lock(&self.calls)
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{method} ")))
            .map(|(_, v)| v)
            .sum()
    }

    /// Writes (POST, PUT, PATCH, DELETE) so far.
    pub fn writes(&self) -> u64 {
        ["POST", "PUT", "PATCH", "DELETE"]
            .iter()
            .map(|m| self.calls_of(m))
            .sum()
    }

    /// Writes so far whose User-Agent contains `agent` (e.g. a replica's identity).
    pub fn writes_by(&self, agent: &str) -> u64 {
        lock(&self.agent_writes)
            .iter()
            .filter(|(k, _)| k.contains(agent))
            .map(|(_, v)| v)
            .sum()
    }

    /// Writes so far per User-Agent.
    pub fn writes_per_agent(&self) -> BTreeMap<String, u64> {
        lock(&self.agent_writes).clone()
    }

    /// Clears the call counters and the count of 429 answers.
    pub fn reset_calls(&self) {
        lock(&self.calls).clear();
        self.rate_limited.store(0, Ordering::Relaxed);
    }

    /// Requests answered 429 since the last [`EmulatorCore::reset_calls`] (they are in
    /// [`EmulatorCore::calls`] too).
    pub fn rate_limited_calls(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }

    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.faults) = faults;
    }

    pub fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    /// Enforces a token bucket of `capacity` refilled at `per_second`; `None` switches it off.
    pub fn set_rate_limit(&self, limit: Option<(u32, u32)>) {
        *lock(&self.bucket) = limit.map(|(capacity, per_second)| Bucket::new(capacity, per_second));
    }

    /// Enforces a provider's published limit of `requests` per `window`; `None` switches it off.
    ///
    /// Providers such as Clerk count in fixed windows; this approximates one with the token
    /// bucket: capacity `requests`, refilled at `requests / window` per second (100 per 10 s is
    /// a bucket of 100 refilling 10/s). Both admit the same first burst and the same long-run
    /// rate, and both let at most twice the limit through in any one window's time (the bucket:
    /// a full burst plus a window's refill; the fixed window: across a window boundary). Once
    /// exhausted, the bucket frees one request every `window / requests` (its `Retry-After` is
    /// short) where a fixed window refuses everything until it ends.
    pub fn set_window_limit(&self, limit: Option<WindowLimit>) {
        *lock(&self.bucket) = limit.map(|l| Bucket {
            capacity: l.requests as f64,
            per_second: l.per_second(),
            tokens: l.requests as f64,
            last: Instant::now(),
        });
    }

    /// Answers every request with a 429 for `window`, each asking to wait until the window ends
    /// (a provider whose limit resets at a fixed time, as Auth0's does).
    pub fn refuse_for(&self, window: Duration) {
        *lock(&self.closed_until) = Some(Instant::now() + window);
    }

    pub fn error(&self, status: StatusCode, message: &str) -> Response {
        self.dialect.error(status, message)
    }

    fn count(&self, key: String) {
        *lock(&self.calls).entry(key).or_default() += 1;
    }
}

/// The shared middleware: counts the call, then applies latency, drops, 5xx, storms and the bucket.
pub async fn shared_layer(
    State(core): State<Arc<EmulatorCore>>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let route = route.unwrap_or_else(|| req.uri().path().to_string());
    if !route.starts_with("/_emulator") {
        core.count(format!("{} {}", req.method(), route));
        if ["POST", "PUT", "PATCH", "DELETE"].contains(&req.method().as_str()) {
            let agent = req
                .headers()
                .get(axum::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            *lock(&core.agent_writes).entry(agent).or_default() += 1;
        }
    }
    let faults = core.faults();
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    if route.starts_with("/_emulator") {
        return next.run(req).await;
    }
    if faults.drop_rate > 0.0 && rand::random::<f64>() < faults.drop_rate {
        return dropped_connection();
    }
    {
        let mut f = lock(&core.faults);
        if f.rate_limit_storm > 0 {
            f.rate_limit_storm -= 1;
            drop(f);
            core.rate_limited.fetch_add(1, Ordering::Relaxed);
            return core.dialect.rate_limited(Duration::from_secs(1), 0);
        }
    }
    let closed = (*lock(&core.closed_until))
        .map(|until| until.saturating_duration_since(Instant::now()))
        .filter(|left| !left.is_zero());
    if let Some(left) = closed {
        core.rate_limited.fetch_add(1, Ordering::Relaxed);
        return core.dialect.rate_limited(left, 0);
    }
    if faults.error_rate > 0.0 && rand::random::<f64>() < faults.error_rate {
        return core.error(
            StatusCode::SERVICE_UNAVAILABLE,
            "injected fault: service unavailable",
        );
    }
    let limited = lock(&core.bucket)
        .as_mut()
        .map(|b| (b.take(), b.capacity as u32));
    if let Some((Err(wait), capacity)) = limited {
        core.rate_limited.fetch_add(1, Ordering::Relaxed);
        return core.dialect.rate_limited(wait, capacity);
    }
    match core.contract {
        Some(contract) => checked(&core, contract, req, next).await,
        None => next.run(req).await,
    }
}

/// `$.a[3].b[0]` as `$.a[].b[]`, so that one mistake in a list is one kind of violation.
fn without_indices(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_index = false;
    for c in message.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push(c);
            }
            ']' => {
                in_index = false;
                out.push(c);
            }
            d if in_index && d.is_ascii_digit() => {}
            _ => {
                in_index = false;
                out.push(c);
            }
        }
    }
    out
}

/// Runs the handler with the request and its answer checked against the provider's description.
/// Faults injected above are the emulator's, not the handler's, and are not checked.
async fn checked(core: &EmulatorCore, contract: &Contract, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_CHECKED_BODY).await else {
        return core.error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    };
    let header = |h: &http::HeaderMap, name| {
        h.get(name)
            .and_then(|v: &http::HeaderValue| v.to_str().ok())
            .map(str::to_string)
    };
    let (operation, found) = contract.check_request(
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query(),
        header(&parts.headers, http::header::CONTENT_TYPE).as_deref(),
        &bytes,
    );
    core.violated(found);
    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let Some(operation) = operation else {
        return resp;
    };
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_CHECKED_BODY).await else {
        core.violated(vec!["an answer too large to check".into()]);
        return core.error(StatusCode::INTERNAL_SERVER_ERROR, "answer too large");
    };
    core.violated(contract.check_response(
        operation,
        parts.status.as_u16(),
        header(&parts.headers, http::header::CONTENT_TYPE).as_deref(),
        &bytes,
    ));
    Response::from_parts(parts, Body::from(bytes))
}

/// A response whose body fails mid-stream, so that hyper closes the connection without a full answer.
fn dropped_connection() -> Response {
    let stream = futures::stream::once(async {
        Err::<bytes::Bytes, std::io::Error>(std::io::Error::other("dropped"))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = StatusCode::OK;
    resp
}

/// Wraps a provider router with the shared middleware.
pub fn with_core(router: Router, core: Arc<EmulatorCore>) -> Router {
    router.layer(axum::middleware::from_fn_with_state(core, shared_layer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve;
    use std::net::SocketAddr;

    #[tokio::test]
    async fn a_window_limit_admits_its_burst_then_answers_429_and_counts_them() {
        struct Plain;
        impl Dialect for Plain {
            fn error(&self, status: StatusCode, _: &str) -> Response {
                let mut r = Response::new(Body::empty());
                *r.status_mut() = status;
                r
            }
            fn rate_limited(&self, _: Duration, _: u32) -> Response {
                self.error(StatusCode::TOO_MANY_REQUESTS, "")
            }
        }
        let core = EmulatorCore::new("plain", Plain);
        // 3 per 100 s: a burst of 3, then one token every 33 s.
        core.set_window_limit(Some(WindowLimit {
            requests: 3,
            window: Duration::from_secs(100),
        }));
        let router = with_core(
            Router::new().route("/x", axum::routing::get(|| async { "ok" })),
            core.clone(),
        );
        let running = serve(router, SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let mut statuses = Vec::new();
        for _ in 0..5 {
            let resp = reqwest::get(format!("{}/x", running.url())).await.unwrap();
            statuses.push(resp.status().as_u16());
        }
        assert_eq!(statuses, [200, 200, 200, 429, 429]);
        assert_eq!(core.rate_limited_calls(), 2);
        assert_eq!(core.calls().get("GET /x"), Some(&5));
        core.reset_calls();
        assert_eq!(core.rate_limited_calls(), 0);
        assert!(core.calls().is_empty());
    }
}
