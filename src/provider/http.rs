//! The HTTP plumbing every provider client shares: timeouts, the account's token bucket,
//! retries with capped jittered backoff that honour Retry-After and rate-limit reset headers,
//! a tracing span and a metrics hook per call.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::{StatusCode, header::HeaderMap};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use super::{CallObserver, NoopObserver, ProviderError, ProviderKind};
use crate::leader::Fence;

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

/// A token bucket shared by every call to one provider account.
pub type AccountLimiter = Arc<DefaultDirectRateLimiter>;

/// Builds the shared bucket for an account: `per_second` sustained, `burst` at once.
pub fn account_limiter(per_second: u32, burst: u32) -> AccountLimiter {
    let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Arc::new(RateLimiter::direct(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

/// Settings common to every provider client.
#[derive(Clone)]
pub struct ClientSettings {
    /// Base URL of the management API, e.g. `https://api.qovery.com`. Overridden only for tests and proxies.
    pub base_url: String,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// The account's shared token bucket, if any.
    pub limiter: Option<AccountLimiter>,
    /// Metrics hook.
    pub observer: Arc<dyn CallObserver>,
    /// User-Agent of every call (the operator adds its replica identity).
    pub user_agent: String,
    /// Leadership fence: no request is sent while it is closed.
    pub fence: Option<Fence>,
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
        let client = reqwest::Client::builder()
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
            if let Some(limiter) = &self.settings.limiter {
                let start = tokio::time::Instant::now();
                limiter.until_ready().await;
                let waited = start.elapsed();
                if waited >= Duration::from_millis(5) {
                    self.settings
                        .observer
                        .rate_limit_wait(self.provider, waited);
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
                    // Never print the URL: LoginRadius carries its key and secret in the query.
                    let err = err.without_url();
                    let delivered = !err.is_connect();
                    let retryable = !delivered || idempotency == Idempotency::Idempotent;
                    tracing::debug!(provider = %self.provider, operation, attempt, error = %err, "provider call failed");
                    if last || !retryable {
                        return Err(ProviderError::Unavailable(format!("{operation}: {err}")));
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
                                    err.without_url()
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
                        let wait = retry_after(&response.headers).unwrap_or(Duration::from_secs(1));
                        if last || wait > retry.max_rate_limit_wait {
                            return Err(ProviderError::RateLimited { retry_after: wait });
                        }
                        self.settings.observer.rate_limit_wait(self.provider, wait);
                        tokio::time::sleep(wait).await;
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

/// The wait a provider asks for: `Retry-After` (seconds or HTTP date), Auth0's `x-ratelimit-reset`
/// (epoch seconds), or `RateLimit-Reset` (seconds).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(v) = get("retry-after") {
        if let Ok(secs) = v.parse::<f64>() {
            return Some(Duration::from_secs_f64(secs.max(0.0)));
        }
        if let Ok(at) = jiff::fmt::rfc2822::parse(v) {
            let now = jiff::Timestamp::now();
            let secs = at.timestamp().as_second() - now.as_second();
            return Some(Duration::from_secs(secs.max(0) as u64));
        }
    }
    if let Some(reset) = get("x-ratelimit-reset").and_then(|v| v.parse::<i64>().ok()) {
        let now = jiff::Timestamp::now().as_second();
        // Epoch seconds when large, a delta otherwise.
        let secs = if reset > 1_000_000_000 {
            reset - now
        } else {
            reset
        };
        return Some(Duration::from_secs(secs.max(0) as u64));
    }
    if let Some(secs) = get("ratelimit-reset").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    None
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
