//! The account's gate: the client-side token bucket and the pause a 429 starts.

use std::{
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::Duration,
};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::{MAX_PROVIDER_WAIT, MIN_RATE_LIMIT_WAIT};

/// Share of the configured rate the client bucket runs at. A provider bucket of exactly the
/// configured size refuses a request that arrives a few milliseconds early (latency jitter); this
/// headroom lets it refill a little faster than it is drained.
const RATE_HEADROOM: f64 = 0.9;

/// Share of the configured burst the client bucket allows. Calls that took their token before a
/// stall of the process (CPU starvation, a GC-like pause of the host) reach the provider after
/// it, together with the burst the client bucket refilled meanwhile; the provider's bucket only
/// refilled that same burst, so it refuses the calls that were in flight. Half the burst leaves
/// room for them: at the provider's pace few calls are in flight at once, whatever the
/// reconcile concurrency.
const BURST_HEADROOM: f64 = 0.5;

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
    let burst = (f64::from(burst) * BURST_HEADROOM).ceil() as u32;
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
