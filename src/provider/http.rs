//! The HTTP plumbing every provider client shares: timeouts, the account's gate (a token bucket
//! and the pause a 429 starts for every call of the account), retries with capped jittered backoff
//! that honour Retry-After and rate-limit reset headers, a tracing span and a metrics hook per call.

use std::{
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::{StatusCode, header::HeaderMap};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use super::{CallObserver, NoopObserver, ProviderError, ProviderKind};
use crate::leader::Fence;

/// RFC 3986's unreserved characters; everything else in a path segment is %-encoded.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One path segment, percent-encoded: ids and names come from specs and must never change the
/// path (`../x`, `a/b`, `?`).
pub fn path_segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, PATH_SEGMENT).to_string()
}

/// When and how often to retry.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// First backoff; doubles each attempt, with full jitter.
    pub base_delay: Duration,
    /// Largest backoff between two attempts.
    pub max_delay: Duration,
    /// A 429 asking for a longer wait than this is returned to the caller instead of slept on.
    pub max_rate_limit_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_rate_limit_wait: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Capped exponential backoff with full jitter for the given (0-based) retry.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry.min(16)));
        let cap = exp.min(self.max_delay);
        cap.mul_f64(rand::random::<f64>())
    }
}

/// The shortest wait a 429 starts, whatever the provider says (`Retry-After: 0` or a reset in
/// the past would otherwise send the same calls again at once, in a loop).
pub const MIN_RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);

/// The longest wait any provider header can ask for; longer (or absurd) values are cut to it.
pub const MAX_PROVIDER_WAIT: Duration = Duration::from_secs(3600);

/// Share of the configured rate the client bucket runs at. A provider bucket of exactly the
/// configured size refuses a request that arrives a few milliseconds early (latency jitter); this
/// headroom lets it refill a little faster than it is drained.
const RATE_HEADROOM: f64 = 0.9;

/// What every call to one provider account passes through: the client-side token bucket and the
/// pause a 429 starts. One per account identity (provider, endpoint, account id), shared by every
/// ProviderConfig of that account, so that a 429 slows the whole account, not just the call that
/// got it.
pub struct AccountGate {
    bucket: Mutex<(u32, u32, Arc<DefaultDirectRateLimiter>)>,
    paused_until: Mutex<Option<tokio::time::Instant>>,
}

/// Shared handle to an account's gate.
pub type AccountLimiter = Arc<AccountGate>;

/// Builds the gate of an account: `per_second` sustained, `burst` at once.
pub fn account_limiter(per_second: u32, burst: u32) -> AccountLimiter {
    Arc::new(AccountGate {
        bucket: Mutex::new((per_second, burst, bucket(per_second, burst))),
        paused_until: Mutex::new(None),
    })
}

fn bucket(per_second: u32, burst: u32) -> Arc<DefaultDirectRateLimiter> {
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    let period = Duration::from_secs_f64(1.0 / (f64::from(per_second.max(1)) * RATE_HEADROOM));
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst);
    Arc::new(RateLimiter::direct(quota))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl AccountGate {
    /// The configured rate and burst.
    pub fn rate(&self) -> (u32, u32) {
        let b = lock(&self.bucket);
        (b.0, b.1)
    }

    /// Changes the rate in place (every client of the account holds this gate); a pause stays.
    pub fn set_rate(&self, per_second: u32, burst: u32) {
        let mut b = lock(&self.bucket);
        if (b.0, b.1) != (per_second, burst) {
            *b = (per_second, burst, bucket(per_second, burst));
        }
    }

    /// How long the account is still paused by a provider's 429, if it is.
    pub fn paused_for(&self) -> Option<Duration> {
        let until = (*lock(&self.paused_until))?;
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// Pauses every call of the account for `wait` (at least [`MIN_RATE_LIMIT_WAIT`], at most
    /// [`MAX_PROVIDER_WAIT`]). Returns whether this started a new pause (rather than landing
    /// inside one that calls already in flight started).
    pub fn pause(&self, wait: Duration) -> bool {
        let wait = wait.clamp(MIN_RATE_LIMIT_WAIT, MAX_PROVIDER_WAIT);
        let now = tokio::time::Instant::now();
        let until = now + wait;
        let mut p = lock(&self.paused_until);
        let new = p.is_none_or(|u| u <= now);
        if p.is_none_or(|u| u < until) {
            *p = Some(until);
        }
        new
    }

    /// Waits until the account is not paused and the bucket has a token; returns how long that
    /// took. When the pause has longer than `max_wait` left, returns that remaining pause at once
    /// instead (the reconcile is requeued for it and frees its worker).
    pub async fn admit(&self, max_wait: Duration) -> Result<Duration, Duration> {
        let start = tokio::time::Instant::now();
        loop {
            if let Some(left) = self.paused_for() {
                if left > max_wait {
                    return Err(left);
                }
                tokio::time::sleep(left).await;
                continue;
            }
            let bucket = lock(&self.bucket).2.clone();
            bucket.until_ready().await;
            // A 429 may have paused the account while this call waited for its token.
            if self.paused_for().is_none() {
                return Ok(start.elapsed());
            }
        }
    }
}

/// Settings common to every provider client.
#[derive(Clone)]
pub struct ClientSettings {
    /// Base URL of the management API, e.g. `https://api.qovery.com`. Overridden only for tests and proxies.
    pub base_url: String,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// The account's gate (token bucket and 429 pause), shared by every client of the account.
    pub limiter: Option<AccountLimiter>,
    /// Metrics hook.
    pub observer: Arc<dyn CallObserver>,
    /// User-Agent of every call (the operator adds its replica identity).
    pub user_agent: String,
    /// Leadership fence: no request is sent while it is closed.
    pub fence: Option<Fence>,
    /// CA certificates trusted besides the webpki roots (`--provider-ca-bundle`).
    pub extra_roots: Arc<[reqwest::Certificate]>,
}

impl ClientSettings {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            timeout: Duration::from_secs(15),
            retry: RetryPolicy::default(),
            limiter: None,
            observer: Arc::new(NoopObserver),
            user_agent: concat!("ssoperator/", env!("CARGO_PKG_VERSION")).into(),
            fence: None,
            extra_roots: Arc::new([]),
        }
    }
}

/// A response read in full.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    /// Decodes the body; a body that does not match is the provider's fault, reported without the body.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ProviderError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ProviderError::Unavailable(format!("unexpected response body from provider: {e}"))
        })
    }

    /// The body as text (for error parsing).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Whether a call may be sent again after a failure whose effect is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idempotency {
    /// GET, PUT, DELETE and PATCH with absolute values: safe to repeat.
    Idempotent,
    /// POST create: repeated only when the provider surely did not act on it (429, connection refused).
    NonIdempotent,
}

/// HTTP client of one provider account.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    provider: ProviderKind,
    settings: ClientSettings,
}

impl HttpClient {
    pub fn new(provider: ProviderKind, settings: ClientSettings) -> Result<Self, ProviderError> {
        // Proxies: reqwest reads HTTPS_PROXY / HTTP_PROXY / ALL_PROXY and NO_PROXY (upper or lower
        // case) from the environment, as long as `.no_proxy()` is not called: never call it here.
        let mut builder = reqwest::Client::builder();
        for cert in settings.extra_roots.iter() {
            builder = builder.add_root_certificate(cert.clone());
        }
        let client = builder
            .timeout(settings.timeout)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(settings.user_agent.clone())
            .build()
            .map_err(|e| {
                ProviderError::Unavailable(format!("cannot build HTTP client: {}", e.without_url()))
            })?;
        Ok(Self {
            client,
            provider,
            settings,
        })
    }

    pub fn provider(&self) -> ProviderKind {
        self.provider
    }

    /// The underlying reqwest client (for requests built by the caller).
    pub fn inner(&self) -> &reqwest::Client {
        &self.client
    }

    /// Base URL joined with `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.settings.base_url.trim_end_matches('/'), path)
    }

    /// Sends the request that `build` makes (called again for each attempt, so auth can be refreshed),
    /// retrying as [`RetryPolicy`] says. Non-2xx answers that are not retried go through `classify`.
    pub async fn send<B, C>(
        &self,
        operation: &'static str,
        idempotency: Idempotency,
        build: B,
        classify: C,
    ) -> Result<Response, ProviderError>
    where
        B: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        C: Fn(&Response) -> ProviderError,
    {
        let retry = &self.settings.retry;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let last = attempt >= retry.max_attempts;
            if let Some(gate) = &self.settings.limiter {
                match gate.admit(retry.max_rate_limit_wait).await {
                    Ok(waited) if waited >= Duration::from_millis(5) => {
                        self.settings
                            .observer
                            .rate_limit_wait(self.provider, waited);
                    }
                    Ok(_) => {}
                    // The account is paused for longer than a call may wait: not sent at all.
                    Err(left) => return Err(rate_limited(left)),
                }
            }
            if let Some(fence) = &self.settings.fence
                && !fence.allows()
            {
                return Err(ProviderError::Unavailable(format!(
                    "{operation}: {}",
                    crate::leader::NotLeader
                )));
            }
            let span = tracing::debug_span!("provider_call", provider = %self.provider, operation, attempt);
            let started = tokio::time::Instant::now();
            let result = async { build(&self.client).send().await }
                .instrument(span)
                .await;
            let elapsed = started.elapsed();
            match result {
                Err(err) => {
                    self.settings
                        .observer
                        .call(self.provider, operation, "error", elapsed);
                    // Never print the URL (a query may carry a credential): name the cause and host.
                    let why = transport_error(&err);
                    let delivered = !err.is_connect();
                    let retryable = !delivered || idempotency == Idempotency::Idempotent;
                    tracing::debug!(provider = %self.provider, operation, attempt, error = %why, "provider call failed");
                    if last || !retryable {
                        return Err(ProviderError::Unavailable(format!("{operation}: {why}")));
                    }
                    tokio::time::sleep(retry.backoff(attempt - 1)).await;
                }
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    let body = match resp.bytes().await {
                        Ok(b) => b,
                        Err(err) => {
                            self.settings
                                .observer
                                .call(self.provider, operation, "error", elapsed);
                            if last || idempotency == Idempotency::NonIdempotent {
                                return Err(ProviderError::Unavailable(format!(
                                    "{operation}: reading response: {}",
                                    transport_error(&err)
                                )));
                            }
                            tokio::time::sleep(retry.backoff(attempt - 1)).await;
                            continue;
                        }
                    };
                    self.settings
                        .observer
                        .call(self.provider, operation, status.as_str(), elapsed);
                    let response = Response {
                        status,
                        headers,
                        body,
                    };
                    if status.is_success() {
                        return Ok(response);
                    }
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        // The provider did not act on a 429, so even a create may be sent again.
                        let wait = rate_limit_wait(&response.headers);
                        if let Some(gate) = &self.settings.limiter
                            && gate.pause(wait)
                        {
                            tracing::info!(provider = %self.provider, operation, wait_seconds = wait.as_secs_f64(), "provider rate limit: every call of this account waits");
                        }
                        if last || wait > retry.max_rate_limit_wait {
                            return Err(rate_limited(wait));
                        }
                        // With a gate, the next attempt waits out the account's pause there.
                        if self.settings.limiter.is_none() {
                            self.settings.observer.rate_limit_wait(self.provider, wait);
                            tokio::time::sleep(wait).await;
                        }
                        continue;
                    }
                    if status.is_server_error() && idempotency == Idempotency::Idempotent && !last {
                        let wait = retry_after(&response.headers)
                            .filter(|w| *w <= retry.max_delay)
                            .unwrap_or_else(|| retry.backoff(attempt - 1));
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    let err = classify(&response);
                    // A 5xx that the provider describes in its own words is still transient.
                    return Err(if status.is_server_error() {
                        match err {
                            ProviderError::Unavailable(_) => err,
                            other => ProviderError::Unavailable(other.to_string()),
                        }
                    } else {
                        err
                    });
                }
            }
        }
    }
}

/// A [`ProviderError::RateLimited`] whose wait (the reconcile's requeue) is at least
/// [`MIN_RATE_LIMIT_WAIT`] and at most [`MAX_PROVIDER_WAIT`].
pub fn rate_limited(wait: Duration) -> ProviderError {
    ProviderError::RateLimited {
        retry_after: wait.clamp(MIN_RATE_LIMIT_WAIT, MAX_PROVIDER_WAIT),
    }
}

/// The wait a 429 starts: the provider's [`retry_after`], 1 s when it gives none, never less
/// than [`MIN_RATE_LIMIT_WAIT`].
pub fn rate_limit_wait(headers: &HeaderMap) -> Duration {
    retry_after(headers)
        .unwrap_or(MIN_RATE_LIMIT_WAIT)
        .clamp(MIN_RATE_LIMIT_WAIT, MAX_PROVIDER_WAIT)
}

/// Seconds (any number a provider may write) as a wait in `[0, MAX_PROVIDER_WAIT]`; `None` for
/// NaN. Negative means no wait; infinite or huge means the cap.
fn seconds(secs: f64) -> Option<Duration> {
    if secs.is_nan() {
        return None;
    }
    let capped = secs.clamp(0.0, MAX_PROVIDER_WAIT.as_secs_f64());
    Some(Duration::try_from_secs_f64(capped).unwrap_or(MAX_PROVIDER_WAIT))
}

/// The wait a provider asks for: `Retry-After` (seconds or HTTP date), Auth0's `x-ratelimit-reset`
/// (epoch seconds), or `RateLimit-Reset` (seconds). Never panics and never exceeds
/// [`MAX_PROVIDER_WAIT`], whatever the header holds; junk is no hint (`None`).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            // No number or date is this long: do not spend time parsing junk.
            .filter(|v| !v.is_empty() && v.len() <= 64)
    };
    let now = jiff::Timestamp::now().as_second();
    if let Some(v) = get("retry-after") {
        if let Ok(secs) = v.parse::<f64>() {
            return seconds(secs);
        }
        if let Ok(at) = jiff::fmt::rfc2822::parse(v) {
            let secs = at.timestamp().as_second().saturating_sub(now);
            return seconds(secs as f64);
        }
    }
    if let Some(reset) = get("x-ratelimit-reset").and_then(|v| v.parse::<f64>().ok()) {
        // Epoch seconds when large, a delta otherwise.
        let secs = if reset > 1_000_000_000.0 {
            reset - now as f64
        } else {
            reset
        };
        return seconds(secs);
    }
    if let Some(secs) = get("ratelimit-reset").and_then(|v| v.parse::<f64>().ok()) {
        return seconds(secs);
    }
    None
}

/// A transport failure in words a person can act on: the cause (connection refused, DNS failure,
/// TLS error, timeout, ...) and the host (never the URL, whose query may carry a credential).
pub fn transport_error(err: &reqwest::Error) -> String {
    let host = err
        .url()
        .and_then(|u| {
            let host = u.host_str()?;
            Some(match u.port() {
                Some(p) => format!("{host}:{p}"),
                None => host.to_string(),
            })
        })
        .unwrap_or_else(|| "the provider".to_string());
    // The innermost cause (an OS error, the resolver's or TLS library's words).
    let mut chain: Vec<String> = Vec::new();
    let mut io_kind = None;
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            io_kind = Some(io.kind());
        }
        chain.push(e.to_string());
        source = e.source();
    }
    let all = chain.join(": ").to_ascii_lowercase();
    let detail = chain.last().cloned().unwrap_or_default();
    let detail = if detail.len() > 200 {
        let mut end = 200;
        while !detail.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &detail[..end])
    } else {
        detail
    };
    use std::io::ErrorKind;
    let mut tls_cause = None;
    let cause = if err.is_timeout() || io_kind == Some(ErrorKind::TimedOut) {
        if err.is_connect() {
            "timeout while connecting"
        } else {
            "timeout waiting for the answer"
        }
    } else if io_kind == Some(ErrorKind::ConnectionRefused) {
        "connection refused"
    } else if all.contains("dns error") || all.contains("lookup address") {
        "DNS failure"
    } else if all.contains("certificate")
        || all.contains("tls")
        || all.contains("handshake")
        || all.contains("ssl")
        || all.contains("corrupt message")
        || all.contains("alert")
        // Connected, then bytes that are no TLS: the TLS library reports invalid data.
        || (err.is_connect()
            && io_kind == Some(ErrorKind::InvalidData)
            && err.url().is_some_and(|u| u.scheme() == "https"))
    {
        tls_cause = tls_hint(&all);
        "TLS error"
    } else if io_kind == Some(ErrorKind::ConnectionReset)
        || io_kind == Some(ErrorKind::ConnectionAborted)
        || all.contains("connection closed")
        || all.contains("connection reset")
    {
        "connection closed by the server"
    } else if all.contains("tunnel") {
        // HTTPS_PROXY is set and the proxy would not open a tunnel to the provider.
        "the proxy (HTTPS_PROXY) refused the tunnel"
    } else if err.is_connect() {
        "cannot connect"
    } else if err.is_body() || err.is_decode() {
        "broken response"
    } else {
        "request failed"
    };
    if let Some(hint) = tls_cause {
        return format!("{cause} ({host}): {hint}");
    }
    if detail.is_empty()
        || detail
            .to_ascii_lowercase()
            .contains(&cause.to_ascii_lowercase())
    {
        format!("{cause} ({host})")
    } else {
        format!("{cause} ({host}): {detail}")
    }
}

/// What a person can do about a TLS failure whose cause the TLS library names (rustls' words,
/// lower-cased): a certificate the roots do not vouch for points at `--provider-ca-bundle`.
fn tls_hint(all: &str) -> Option<String> {
    let flag = crate::config::CA_BUNDLE_FLAG;
    let untrusted = |why: &str| {
        format!(
            "certificate not trusted ({why}): if the endpoint or a TLS-inspecting proxy uses a \
             private CA, give its certificate with {flag} (chart value providerCABundle)"
        )
    };
    if all.contains("unknownissuer") || all.contains("unknown issuer") {
        Some(untrusted("unknown issuer"))
    } else if all.contains("badsignature") || all.contains("bad signature") {
        Some(untrusted("bad signature"))
    } else if all.contains("notvalidforname") || all.contains("not valid for name") {
        Some("certificate not valid for this host name".to_string())
    } else if all.contains("expired") {
        Some("certificate expired".to_string())
    } else if all.contains("notvalidyet") || all.contains("not valid yet") {
        Some("certificate not valid yet".to_string())
    } else if all.contains("revoked") {
        Some("certificate revoked".to_string())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "3".into())])),
            Some(Duration::from_secs(3))
        );
    }

    #[test]
    fn auth0_reset_is_an_epoch_timestamp() {
        let reset = jiff::Timestamp::now().as_second() + 5;
        let wait = retry_after(&headers(&[("x-ratelimit-reset", reset.to_string())])).unwrap();
        assert!(
            wait >= Duration::from_secs(4) && wait <= Duration::from_secs(5),
            "{wait:?}"
        );
    }

    #[test]
    fn no_header_means_no_hint() {
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    /// Junk a provider (or a proxy in front of it) could put in a rate-limit header.
    fn junk() -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = [
            "inf",
            "-inf",
            "+inf",
            "infinity",
            "NaN",
            "nan",
            "-NaN",
            "-1",
            "-0",
            "0",
            "0.0001",
            "1e20",
            "1e300",
            "-1e300",
            "1e-300",
            "4.5",
            "18446744073709551616",
            "9223372036854775807",
            "-9223372036854775808",
            "99999999999999999999999999",
            "Mon, 01 Jan 1900 00:00:00 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "tomorrow",
            "",
            " ",
            "0x10",
            "1_000",
            "12abc",
            "--1",
            ".",
            "e",
            "1e",
            "  7  ",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        v.push("9".repeat(10 * 1024).into_bytes());
        v.push("x".repeat(10 * 1024).into_bytes());
        v.push(format!("1{}", "0".repeat(400)).into_bytes());
        for s in ["\u{23f3}", "\u{0663}", "1\u{00a0}", "\u{ff11}", "\u{1F600}"] {
            v.push(s.as_bytes().to_vec());
        }
        v.push(vec![0xff, 0xfe, b'1']);
        v
    }

    #[test]
    fn no_provider_header_can_panic_and_every_wait_is_bounded() {
        let names = ["retry-after", "x-ratelimit-reset", "ratelimit-reset"];
        let mut tried = 0;
        for value in junk() {
            let Ok(value) = HeaderValue::from_bytes(&value) else {
                continue; // not sendable over HTTP at all
            };
            let mut sets: Vec<HeaderMap> = names
                .iter()
                .map(|n| {
                    let mut h = HeaderMap::new();
                    h.insert(*n, value.clone());
                    h
                })
                .collect();
            let mut all = HeaderMap::new();
            for n in names {
                all.insert(n, value.clone());
            }
            sets.push(all);
            for h in sets {
                tried += 1;
                let hint =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| retry_after(&h)))
                        .unwrap_or_else(|_| panic!("retry_after panicked on {h:?}"));
                assert!(
                    hint.is_none_or(|w| w <= MAX_PROVIDER_WAIT),
                    "{h:?} gave {hint:?}"
                );
                let wait = rate_limit_wait(&h);
                assert!(
                    (MIN_RATE_LIMIT_WAIT..=MAX_PROVIDER_WAIT).contains(&wait),
                    "{h:?} gave a 429 wait of {wait:?}"
                );
                // The gate takes any wait without overflowing its clock.
                let gate = account_limiter(10, 10);
                assert!(gate.pause(wait));
                assert!(gate.paused_for().is_some_and(|w| w <= MAX_PROVIDER_WAIT));
            }
        }
        assert!(tried > 150, "only {tried} header sets were tried");
    }

    #[test]
    fn absurd_waits_are_capped_and_past_resets_are_no_wait() {
        let h = |k: &'static str, v: &str| headers(&[(k, v.to_string())]);
        assert_eq!(
            retry_after(&h("retry-after", "inf")),
            Some(MAX_PROVIDER_WAIT)
        );
        assert_eq!(
            retry_after(&h("retry-after", "1e300")),
            Some(MAX_PROVIDER_WAIT)
        );
        assert_eq!(retry_after(&h("retry-after", "-1")), Some(Duration::ZERO));
        assert_eq!(retry_after(&h("retry-after", "NaN")), None);
        assert_eq!(
            retry_after(&h("retry-after", "Thu, 01 Jan 2099 00:00:00 GMT")),
            Some(MAX_PROVIDER_WAIT)
        );
        // Beyond what a timestamp holds: no hint, so a 429 waits the minimum.
        let far = h("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT");
        assert!(retry_after(&far).is_none_or(|w| w == MAX_PROVIDER_WAIT));
        assert!((MIN_RATE_LIMIT_WAIT..=MAX_PROVIDER_WAIT).contains(&rate_limit_wait(&far)));
        assert_eq!(
            retry_after(&h("retry-after", "Mon, 01 Jan 1900 00:00:00 GMT")),
            Some(Duration::ZERO)
        );
        let past = (jiff::Timestamp::now().as_second() - 30).to_string();
        assert_eq!(
            retry_after(&h("x-ratelimit-reset", &past)),
            Some(Duration::ZERO)
        );
        // A wait that is asked for is at least a second: no requeue at 0 in a loop.
        assert_eq!(rate_limit_wait(&h("retry-after", "0")), MIN_RATE_LIMIT_WAIT);
        assert_eq!(
            rate_limit_wait(&h("x-ratelimit-reset", &past)),
            MIN_RATE_LIMIT_WAIT
        );
        assert_eq!(rate_limit_wait(&HeaderMap::new()), MIN_RATE_LIMIT_WAIT);
        assert_eq!(
            rate_limit_wait(&h("retry-after", "7")),
            Duration::from_secs(7)
        );
        assert_eq!(
            rate_limited(Duration::ZERO).class(),
            crate::provider::ErrorClass::RateLimited(MIN_RATE_LIMIT_WAIT)
        );
    }

    #[tokio::test]
    async fn a_pause_longer_than_a_call_may_wait_is_returned_at_once() {
        let gate = account_limiter(100, 100);
        assert!(gate.pause(Duration::from_secs(60)));
        assert!(
            !gate.pause(Duration::from_secs(5)),
            "lands inside the first"
        );
        let started = tokio::time::Instant::now();
        let left = gate.admit(Duration::from_secs(30)).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_millis(100));
        assert!(left > Duration::from_secs(55) && left <= Duration::from_secs(60));
        // A pause of 0 still pauses a second.
        let gate = account_limiter(100, 100);
        gate.pause(Duration::ZERO);
        let waited = gate.admit(Duration::from_secs(30)).await.unwrap();
        assert!(waited >= Duration::from_millis(950), "{waited:?}");
    }

    #[tokio::test]
    async fn the_gate_changes_rate_in_place_and_keeps_its_pause() {
        let gate = account_limiter(5, 10);
        gate.pause(Duration::from_secs(10));
        gate.set_rate(7, 7);
        assert_eq!(gate.rate(), (7, 7));
        assert!(gate.paused_for().is_some());
    }

    /// A server that answers the first request with a 429 carrying `retry_after`, then 200s, and
    /// records when each request arrived.
    async fn limited_server(
        retry_after: &'static str,
    ) -> (String, Arc<Mutex<Vec<tokio::time::Instant>>>) {
        use axum::{http::StatusCode as S, response::IntoResponse, routing::get};
        let seen: Arc<Mutex<Vec<tokio::time::Instant>>> = Arc::default();
        let log = seen.clone();
        let app = axum::Router::new().route(
            "/x",
            get(move || {
                let log = log.clone();
                async move {
                    let mut l = log.lock().unwrap();
                    l.push(tokio::time::Instant::now());
                    if l.len() == 1 {
                        (
                            S::TOO_MANY_REQUESTS,
                            [("retry-after", retry_after)],
                            "slow down",
                        )
                            .into_response()
                    } else {
                        (S::OK, "{}").into_response()
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, seen)
    }

    fn client_with(url: &str, gate: Option<AccountLimiter>) -> HttpClient {
        let mut settings = ClientSettings::new(url);
        settings.limiter = gate;
        HttpClient::new(ProviderKind::Clerk, settings).unwrap()
    }

    async fn get(c: &HttpClient) -> Result<Response, ProviderError> {
        let url = c.url("/x");
        c.send(
            "get",
            Idempotency::Idempotent,
            |r| r.get(&url),
            |_| ProviderError::invalid("refused"),
        )
        .await
    }

    #[tokio::test]
    async fn a_429_pauses_every_call_of_the_account_not_only_the_one_that_got_it() {
        let (url, seen) = limited_server("2").await;
        let gate = account_limiter(100, 100);
        // Two clients of one account (two ProviderConfigs), one gate.
        let (a, b) = (
            client_with(&url, Some(gate.clone())),
            client_with(&url, Some(gate.clone())),
        );
        let first = tokio::spawn(async move { get(&a).await });
        while seen.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            gate.paused_for().is_some(),
            "the 429 did not pause the account"
        );
        let second = get(&b).await;
        assert!(second.is_ok() && first.await.unwrap().is_ok());
        let seen = seen.lock().unwrap();
        let after = seen[1..].iter().map(|t| t.duration_since(seen[0])).min();
        assert!(
            after.is_some_and(|d| d >= Duration::from_millis(1950)),
            "a call went out {after:?} after the 429 asked for 2 s"
        );
    }

    #[tokio::test]
    async fn retry_after_zero_still_waits_a_second() {
        for gate in [None, Some(account_limiter(100, 100))] {
            let (url, seen) = limited_server("0").await;
            let c = client_with(&url, gate);
            get(&c).await.unwrap();
            let seen = seen.lock().unwrap();
            assert_eq!(seen.len(), 2);
            assert!(seen[1].duration_since(seen[0]) >= Duration::from_millis(950));
        }
    }

    /// A client that tries once, with a short timeout, so that each cause shows at once.
    fn one_shot(base: &str) -> HttpClient {
        let mut settings = ClientSettings::new(base);
        settings.timeout = Duration::from_millis(500);
        settings.retry.max_attempts = 1;
        HttpClient::new(ProviderKind::LoginRadius, settings).unwrap()
    }

    async fn failure(base: &str) -> String {
        let c = one_shot(base);
        let url = c.url("/v2/x?apikey=canary-key&apisecret=canary-secret");
        let err = c
            .send(
                "list",
                Idempotency::Idempotent,
                |r| r.get(&url),
                |_| ProviderError::invalid("answered"),
            )
            .await
            .unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(matches!(err, ProviderError::Unavailable(_)), "{text}");
        assert!(
            !text.contains("canary") && !text.contains("apikey") && !text.contains("/v2/x"),
            "the URL leaked: {text}"
        );
        println!("{base} -> {err}");
        text
    }

    #[tokio::test]
    async fn transport_failures_name_their_cause_and_host() {
        // Connection refused: a loopback port nothing listens on.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let text = failure(&format!("http://127.0.0.1:{port}")).await;
        assert!(text.contains("connection refused"), "{text}");
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");

        // DNS: .invalid never resolves (RFC 6761).
        let text = failure("http://no-such-host.invalid").await;
        assert!(text.contains("DNS failure"), "{text}");
        assert!(text.contains("no-such-host.invalid"), "{text}");

        // Timeout: a server that accepts and never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let keep = tokio::spawn(async move {
            let mut held = vec![];
            while let Ok((s, _)) = silent.accept().await {
                held.push(s);
            }
        });
        let text = failure(&format!("http://{addr}")).await;
        assert!(text.contains("timeout"), "{text}");
        assert!(text.contains(&addr.to_string()), "{text}");

        // TLS: https to a plain-HTTP server.
        let (url, _) = limited_server("1").await;
        let text = failure(&url.replace("http://", "https://")).await;
        assert!(text.contains("TLS error"), "{text}");
        keep.abort();
    }

    /// Marks the run of [`proxy_child`] that [`provider_calls_honour_https_proxy_and_no_proxy`]
    /// starts (reqwest reads proxy variables once per process, so they are set on a child).
    const PROXY_CHILD: &str = "SSOPERATOR_TEST_PROXY_CHILD";

    #[tokio::test]
    async fn proxy_child() {
        let Ok(refused_port) = std::env::var(PROXY_CHILD) else {
            return; // Not started by the proxy test: nothing to check.
        };
        // Through HTTPS_PROXY: the proxy refuses the tunnel.
        let via_proxy = failure("https://127.0.0.1:9").await;
        assert!(via_proxy.contains("proxy (HTTPS_PROXY)"), "{via_proxy}");
        // NO_PROXY=localhost: straight to a port nothing listens on.
        let direct = failure(&format!("https://localhost:{refused_port}")).await;
        assert!(direct.contains("connection refused"), "{direct}");
    }

    #[tokio::test]
    async fn provider_calls_honour_https_proxy_and_no_proxy() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // A proxy that records the request line of each CONNECT and refuses it.
        let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_addr = proxy.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = proxy.accept().await {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&buf);
                log.lock()
                    .unwrap()
                    .push(text.lines().next().unwrap_or_default().to_string());
                let _ = s
                    .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let refused_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = tokio::process::Command::new(std::env::current_exe().unwrap());
        for var in [
            "http_proxy",
            "https_proxy",
            "all_proxy",
            "no_proxy",
            "HTTP_PROXY",
            "ALL_PROXY",
        ] {
            child.env_remove(var);
        }
        let out = child
            .args([
                "provider::http::tests::proxy_child",
                "--exact",
                "--nocapture",
            ])
            .env(PROXY_CHILD, refused_port.to_string())
            .env("HTTPS_PROXY", format!("http://{proxy_addr}"))
            .env("NO_PROXY", "localhost")
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        println!("{stdout}");
        assert!(out.status.success(), "{stdout}");
        assert!(stdout.contains("1 passed"), "{stdout}");
        let seen = seen.lock().unwrap().clone();
        task.abort();
        // The call to 127.0.0.1 went through the proxy (once: a refused tunnel is not retried
        // by one_shot), the one to localhost did not.
        assert_eq!(seen, vec!["CONNECT 127.0.0.1:9 HTTP/1.1".to_string()]);
    }

    #[test]
    fn backoff_is_capped() {
        let p = RetryPolicy {
            max_delay: Duration::from_millis(500),
            ..Default::default()
        };
        for retry in 0..30 {
            assert!(p.backoff(retry) <= Duration::from_millis(500));
        }
    }
}
