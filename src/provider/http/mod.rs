//! The HTTP plumbing every provider client shares: timeouts, the account's gate (a token bucket
//! and the pause a 429 starts for every call of the account), retries with capped jittered backoff
//! that honour Retry-After and rate-limit reset headers, a tracing span and a metrics hook per call.

mod limiter;
mod retry;
mod transport;

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use reqwest::{StatusCode, header::HeaderMap};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use super::{CallObserver, NoopObserver, ProviderError, ProviderKind};
use crate::leader::Fence;

pub use limiter::{AccountGate, AccountLimiter, account_limiter};
pub use retry::{
    MAX_PROVIDER_WAIT, MIN_RATE_LIMIT_WAIT, RetryPolicy, rate_limit_wait, rate_limited, retry_after,
};
pub use transport::transport_error;

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
    /// A connection pool shared with other accounts' clients ([`transport`] of the same
    /// settings); each client builds its own when `None`.
    pub transport: Option<reqwest::Client>,
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
            transport: None,
        }
    }
}

/// How long an idle provider connection stays open.
pub const PROVIDER_IDLE_TIMEOUT: Duration = Duration::from_secs(15);

/// The HTTP client (connection pool, timeouts, trusted roots, User-Agent) that `settings` ask
/// for. One serves any number of accounts: authentication is added per request, and its pool
/// keeps connections per host, so accounts of one provider share them. Each pool costs memory
/// (about 28 KB before any connection, then TLS buffers per connection).
pub fn transport(settings: &ClientSettings) -> Result<reqwest::Client, ProviderError> {
    // Proxies: reqwest reads HTTPS_PROXY / HTTP_PROXY / ALL_PROXY and NO_PROXY (upper or lower
    // case) from the environment, as long as `.no_proxy()` is not called: never call it here.
    let mut builder = reqwest::Client::builder();
    for cert in settings.extra_roots.iter() {
        builder = builder.add_root_certificate(cert.clone());
    }
    builder
        .timeout(settings.timeout)
        .connect_timeout(Duration::from_secs(5))
        // Calls come in bursts (creates, a sweep per resync, a rate-limit pause's backlog), and
        // an idle connection keeps its buffers (and TLS state): hold one 15 s, not reqwest's 90.
        .pool_idle_timeout(PROVIDER_IDLE_TIMEOUT)
        .user_agent(settings.user_agent.clone())
        .build()
        .map_err(|e| {
            ProviderError::Unavailable(format!("cannot build HTTP client: {}", e.without_url()))
        })
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
        let client = match &settings.transport {
            Some(shared) => shared.clone(),
            None => transport(&settings)?,
        };
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

#[cfg(test)]
mod tests;
