//! When to retry, and how long the waits a provider asks for (Retry-After and rate-limit reset
//! headers) may be.

use std::time::Duration;

use reqwest::header::HeaderMap;

use crate::provider::ProviderError;

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
