//! Faithful in-memory emulators of the five provider APIs, for tests and for trying ssoperator
//! without a provider account. Each one is an axum router over its own state plus the shared
//! [`EmulatorCore`]: credential checks are per provider; call counting, fault injection and the
//! provider-style rate limit are shared middleware here.

pub mod atlas;
pub mod auth0;
pub mod clerk;
pub mod demo;
pub mod loginradius;
pub mod qovery;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
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
    http::StatusCode,
    middleware::Next,
    response::Response,
};

/// Faults the emulator injects, switchable at run time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    /// Share of requests (0.0 to 1.0) answered with a 5xx in the provider's error format.
    pub error_rate: f64,
    /// Extra latency added to every request.
    pub latency: Duration,
    /// Share of requests whose connection is dropped before a response.
    pub drop_rate: f64,
    /// The next N requests get a 429 (a rate-limit storm).
    pub rate_limit_storm: u32,
}

/// A token bucket as providers run them.
#[derive(Clone, Debug)]
pub struct Bucket {
    pub capacity: f64,
    pub per_second: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn new(capacity: u32, per_second: u32) -> Self {
        Self {
            capacity: capacity as f64,
            per_second: per_second as f64,
            tokens: capacity as f64,
            last: Instant::now(),
        }
    }

    /// Takes a token, or says how long until one is available.
    pub fn take(&mut self) -> Result<u32, Duration> {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.per_second)
            .min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(self.tokens as u32)
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) / self.per_second.max(0.001),
            ))
        }
    }
}

/// A provider's published request limit: at most `requests` per `window`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowLimit {
    pub requests: u32,
    pub window: Duration,
}

impl WindowLimit {
    /// Clerk's Backend API limit per instance (identified by its secret key) in development:
    /// 100 requests per 10 s, then 429 with `Retry-After`
    /// (<https://clerk.com/docs/guides/how-clerk-works/system-limits>).
    pub const CLERK_DEVELOPMENT: Self = Self {
        requests: 100,
        window: Duration::from_secs(10),
    };
    /// Clerk's Backend API limit per production instance: 1000 requests per 10 s.
    pub const CLERK_PRODUCTION: Self = Self {
        requests: 1000,
        window: Duration::from_secs(10),
    };
    /// The named Clerk limits that [`WindowLimit::parse`] accepts.
    pub const CLERK_PRESETS: [(&'static str, Self); 2] = [
        ("development", Self::CLERK_DEVELOPMENT),
        ("production", Self::CLERK_PRODUCTION),
    ];

    /// The long-run rate, requests per second.
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.window.as_secs_f64().max(0.001)
    }

    /// Parses one of `presets` by name, `none` (no limit) or `<requests>/<seconds>` (e.g.
    /// `100/10`, `100/10s`).
    pub fn parse(s: &str, presets: &[(&str, Self)]) -> Result<Option<Self>, String> {
        let s = s.trim();
        if s == "none" {
            return Ok(None);
        }
        if let Some((_, limit)) = presets.iter().find(|(name, _)| *name == s) {
            return Ok(Some(*limit));
        }
        let names: Vec<&str> = presets.iter().map(|(name, _)| *name).collect();
        let bad = || {
            format!(
                "invalid rate limit {s:?}: expected {}, none or <requests>/<seconds> (e.g. 100/10)",
                names.join(", ")
            )
        };
        let (requests, secs) = s.split_once('/').ok_or_else(bad)?;
        let requests: u32 = requests.trim().parse().map_err(|_| bad())?;
        let secs: f64 = secs
            .trim()
            .trim_end_matches('s')
            .parse()
            .map_err(|_| bad())?;
        if requests == 0 || !(0.001..=86_400.0).contains(&secs) {
            return Err(bad());
        }
        Ok(Some(Self {
            requests,
            window: Duration::from_secs_f64(secs),
        }))
    }
}

impl std::fmt::Display for WindowLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requests / {} s",
            self.requests,
            self.window.as_secs_f64()
        )
    }
}

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
}

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
        })
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
    next.run(req).await
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

/// A running emulator: its address and a handle that stops it when dropped.
pub struct Running {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `router` on `addr` (use port 0 for a free loopback port) in the background.
pub async fn serve(router: Router, addr: SocketAddr) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "emulator stopped");
        }
    });
    Ok(Running { addr, task })
}

/// A fresh id of `len` lower-case hex digits.
pub fn hex_id(len: usize) -> String {
    (0..len)
        .map(|_| char::from_digit(rand::random_range(0..16u32), 16).unwrap_or('0'))
        .collect()
}

/// A fresh id of `len` base62 characters.
pub fn base62_id(len: usize) -> String {
    const CHARS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    (0..len)
        .map(|_| CHARS[rand::random_range(0..CHARS.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An emulator that shared the operator's wire types would share its mistakes, and no test
    /// could see them: this crate must not depend on the operator crate, by name or by path.
    #[test]
    fn emulators_do_not_depend_on_the_operator_crate() {
        let manifest = include_str!("../Cargo.toml");
        let sources = [
            include_str!("lib.rs"),
            include_str!("main.rs"),
            include_str!("atlas.rs"),
            include_str!("auth0.rs"),
            include_str!("auth0/wire.rs"),
            include_str!("clerk.rs"),
            include_str!("clerk/wire.rs"),
            include_str!("demo.rs"),
            include_str!("loginradius.rs"),
            include_str!("loginradius/wire.rs"),
            include_str!("qovery.rs"),
            include_str!("qovery/wire.rs"),
        ];
        for line in manifest.lines().map(str::trim) {
            let depends = line.starts_with("ssoperator =")
                || line.starts_with("ssoperator.")
                || line.contains("path = \"..\"")
                || line.contains("path = \"../\"");
            assert!(
                !depends,
                "emulators/Cargo.toml depends on the operator: {line}"
            );
        }
        let operator_crate = ["ssoperator", "::"].concat();
        for source in sources {
            assert!(
                !source.contains(&operator_crate),
                "an emulator refers to the operator crate"
            );
        }
    }

    #[test]
    fn bucket_refuses_when_empty_and_says_how_long() {
        let mut b = Bucket::new(2, 1);
        assert!(b.take().is_ok());
        assert!(b.take().is_ok());
        let wait = b.take().unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
    }

    #[test]
    fn window_limits_parse_by_name_or_ratio() {
        let clerk = &WindowLimit::CLERK_PRESETS;
        assert_eq!(
            WindowLimit::parse("development", clerk).unwrap(),
            Some(WindowLimit::CLERK_DEVELOPMENT)
        );
        assert_eq!(
            WindowLimit::parse("production", clerk).unwrap(),
            Some(WindowLimit::CLERK_PRODUCTION)
        );
        assert_eq!(WindowLimit::parse("none", clerk).unwrap(), None);
        let custom = WindowLimit::parse("50/5s", clerk).unwrap().unwrap();
        assert_eq!(custom.requests, 50);
        assert_eq!(custom.per_second(), 10.0);
        for bad in ["", "fast", "0/10", "10/0", "10/x", "-1/10"] {
            assert!(WindowLimit::parse(bad, clerk).is_err(), "{bad}");
        }
    }

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
