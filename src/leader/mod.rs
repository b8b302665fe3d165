//! Lease-based leader election (coordination.k8s.io/v1), so that two replicas never write at once.
//!
//! The timing follows client-go's leaderelection package:
//! - the holder renews every [`RETRY_PERIOD`]; every Lease call is bounded by [`CALL_TIMEOUT`];
//! - a holder that has not renewed within [`RENEW_DEADLINE`] (measured on its own monotonic clock
//!   from the moment it *sent* its last successful renewal) has lost: its [`Fence`] closes at that
//!   instant by itself, so that every provider and API write after it is refused even before the
//!   process notices, and the binary then stops its controllers and exits non-zero;
//! - a standby never compares the Lease's `renewTime` (another node's wall clock) with its own: it
//!   takes the Lease only after it has seen the same record (holder, renewTime, …) unchanged for
//!   the record's `leaseDurationSeconds` on its own monotonic clock. It watches the Lease so that it
//!   sees each renewal as it happens; a take is a conditional update on the resourceVersion it read.
//!
//! Because the holder's clock starts before its write and the standby's after it saw the write,
//! the holder stops writing at least `LEASE_DURATION - RENEW_DEADLINE` (5 s) before any standby
//! can take over, whatever the wall clocks say.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use futures::{StreamExt, future::BoxFuture};
use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::MicroTime,
};
use kube::{
    Api, Client, ResourceExt,
    api::{ObjectMeta, PostParams, WatchEvent, WatchParams},
};
use tokio::time::{Instant, sleep_until, timeout, timeout_at};

use crate::server::Heartbeat;

/// How long a lease is valid without renewal (written into the Lease for the other replicas).
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// A holder that has not renewed for this long stops writing and exits; shorter than the lease.
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// How often the holder renews, and how long a candidate waits after a failed attempt.
pub const RETRY_PERIOD: Duration = Duration::from_secs(2);
/// Upper bound of every Lease API call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(4);
/// Server-side timeout of the standby's watch of the Lease (it then reads and watches again).
const WATCH_SECONDS: u32 = 60;

/// Whether this replica may write: open while it holds the lease (until its renew deadline),
/// closed otherwise. Checked right before every provider call and every API write.
#[derive(Clone, Debug)]
pub struct Fence {
    base: std::time::Instant,
    /// Nanoseconds after `base` until which writes are allowed.
    until: Arc<AtomicU64>,
}

impl Fence {
    /// Always open: a single replica without leader election.
    pub fn open() -> Self {
        Self {
            base: std::time::Instant::now(),
            until: Arc::new(AtomicU64::new(u64::MAX)),
        }
    }

    /// Closed until [`Fence::extend_until`] opens it.
    pub fn closed() -> Self {
        Self {
            base: std::time::Instant::now(),
            until: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Allows writes until `deadline` (not after).
    pub fn extend_until(&self, deadline: std::time::Instant) {
        let nanos = deadline.saturating_duration_since(self.base).as_nanos();
        self.until
            .store(u64::try_from(nanos).unwrap_or(u64::MAX), Ordering::SeqCst);
    }

    /// Refuses every write from now on.
    pub fn close(&self) {
        self.until.store(0, Ordering::SeqCst);
    }

    /// Whether a write may start now.
    pub fn allows(&self) -> bool {
        let now = u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX);
        now < self.until.load(Ordering::SeqCst)
    }
}

impl Default for Fence {
    fn default() -> Self {
        Self::open()
    }
}

/// The error a fenced write returns.
#[derive(Debug, thiserror::Error)]
#[error("not sent: this replica does not hold the leader lease (or missed its renew deadline)")]
pub struct NotLeader;

/// A tower layer for the kube client of the controllers: refuses every request that is not a read
/// (GET, HEAD, OPTIONS) while the [`Fence`] is closed, so no status, finalizer or Event write
/// leaves a replica that is not the leader.
#[derive(Clone)]
pub struct FenceLayer(pub Fence);

impl<S> tower::Layer<S> for FenceLayer {
    type Service = Fenced<S>;
    fn layer(&self, inner: S) -> Fenced<S> {
        Fenced {
            inner,
            fence: self.0.clone(),
        }
    }
}

/// See [`FenceLayer`].
#[derive(Clone)]
pub struct Fenced<S> {
    inner: S,
    fence: Fence,
}

impl<S, B> tower::Service<http::Request<B>> for Fenced<S>
where
    S: tower::Service<http::Request<B>>,
    S::Error: Into<tower::BoxError>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = tower::BoxError;
    type Future = BoxFuture<'static, Result<S::Response, tower::BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let read = matches!(
            *req.method(),
            http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
        );
        if !read && !self.fence.allows() {
            return Box::pin(futures::future::ready(Err(NotLeader.into())));
        }
        let fut = self.inner.call(req);
        Box::pin(async move { fut.await.map_err(Into::into) })
    }
}

/// What a candidate judges from what it has seen of the Lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nobody holds it (released, or never held).
    Free,
    /// The record names us.
    Ours,
    /// The record has not changed for its lease duration on our clock.
    Expired,
    /// Someone else holds it; it expires at this instant unless the record changes.
    HeldUntil(Instant),
}

/// The Lease record a candidate last saw, and since when (on its own monotonic clock): client-go's
/// observedRecord and observedTime.
#[derive(Clone, Debug, Default)]
pub struct Observation {
    record: Option<LeaseSpec>,
    since: Option<Instant>,
}

impl Observation {
    /// Notes the record read at `now`; the clock restarts only when the record changed.
    pub fn observe(&mut self, spec: Option<&LeaseSpec>, now: Instant) {
        let spec = spec.cloned().unwrap_or_default();
        if self.record.as_ref() != Some(&spec) || self.since.is_none() {
            self.record = Some(spec);
            self.since = Some(now);
        }
    }

    /// Judges the last observed record for candidate `me` at `now`.
    pub fn verdict(&self, me: &str, now: Instant) -> Verdict {
        let (Some(record), Some(since)) = (&self.record, self.since) else {
            return Verdict::HeldUntil(now);
        };
        let holder = record.holder_identity.as_deref().unwrap_or_default();
        if holder.is_empty() {
            return Verdict::Free;
        }
        if holder == me {
            return Verdict::Ours;
        }
        let duration = record
            .lease_duration_seconds
            .filter(|d| *d > 0)
            .map(|d| Duration::from_secs(u64::from(d.unsigned_abs()).min(3600)))
            .unwrap_or(LEASE_DURATION);
        let expires = since + duration;
        if now >= expires {
            Verdict::Expired
        } else {
            Verdict::HeldUntil(expires)
        }
    }
}

/// Why a leader stopped leading.
#[derive(Debug, thiserror::Error)]
pub enum Lost {
    #[error("no successful lease renewal within the renew deadline ({0:?})")]
    RenewDeadline(Duration),
    #[error("the lease was taken by {0:?}")]
    Taken(String),
}

#[derive(Debug, thiserror::Error)]
enum RenewError {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error("the lease changed twice during one renewal")]
    Churn,
}

/// One attempt of a candidate.
enum Attempt {
    Acquired,
    /// Held by someone else: watch from this resourceVersion (if any) until the instant.
    Wait(Option<String>, Instant),
}

pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    /// The Lease as we last wrote it (its resourceVersion makes the next write conditional).
    lease: Option<Lease>,
    /// When the last successful acquire or renewal was sent (our monotonic clock).
    renewed_at: Instant,
}

impl LeaderElector {
    /// `client` should not be fenced: the elector writes the Lease while it is not the leader.
    pub fn new(client: Client, namespace: &str, name: &str, identity: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.into(),
            identity: identity.into(),
            lease: None,
            renewed_at: Instant::now(),
        }
    }

    fn spec(&self, acquired: jiff::Timestamp, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
            acquire_time: Some(MicroTime(acquired)),
            renew_time: Some(MicroTime(jiff::Timestamp::now())),
            lease_transitions: Some(transitions),
            ..Default::default()
        }
    }

    /// Waits until this replica holds the lease; then `fence` is open until the renew deadline.
    /// Beats `heartbeat` while it waits.
    pub async fn acquire(&mut self, fence: &Fence, heartbeat: &Heartbeat) {
        let mut seen = Observation::default();
        loop {
            heartbeat.beat();
            let attempt = timeout(CALL_TIMEOUT, self.try_acquire(&mut seen)).await;
            let (rv, wake) = match attempt {
                Ok(Ok(Attempt::Acquired)) => {
                    fence.extend_until((self.renewed_at + RENEW_DEADLINE).into_std());
                    return;
                }
                Ok(Ok(Attempt::Wait(rv, wake))) => (rv, wake),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "leader election: cannot read or take the lease");
                    (None, Instant::now() + RETRY_PERIOD)
                }
                Err(_) => {
                    tracing::warn!(timeout = ?CALL_TIMEOUT, "leader election: lease call timed out");
                    (None, Instant::now() + RETRY_PERIOD)
                }
            };
            self.watch_until(&mut seen, rv, wake, heartbeat).await;
        }
    }

    /// Reads the Lease and takes it if it is free, ours or expired on our clock.
    async fn try_acquire(&mut self, seen: &mut Observation) -> Result<Attempt, kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let sent = Instant::now();
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..Default::default()
                },
                spec: Some(self.spec(jiff::Timestamp::now(), 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(l) => Ok(self.acquired(l, sent)),
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    Ok(Attempt::Wait(None, Instant::now()))
                }
                Err(e) => Err(e),
            };
        };
        let now = Instant::now();
        seen.observe(lease.spec.as_ref(), now);
        let verdict = seen.verdict(&self.identity, now);
        if let Verdict::HeldUntil(wake) = verdict {
            return Ok(Attempt::Wait(lease.resource_version(), wake));
        }
        let spec = lease.spec.clone().unwrap_or_default();
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(verdict != Verdict::Ours);
        let acquired = match (verdict, spec.acquire_time) {
            (Verdict::Ours, Some(t)) => t.0,
            _ => jiff::Timestamp::now(),
        };
        lease.spec = Some(self.spec(acquired, transitions));
        let sent = Instant::now();
        // replace() carries the resourceVersion we read: a concurrent writer makes it fail with 409.
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(l) => Ok(self.acquired(l, sent)),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::Wait(None, Instant::now())),
            Err(e) => Err(e),
        }
    }

    fn acquired(&mut self, lease: Lease, sent: Instant) -> Attempt {
        self.lease = Some(lease);
        self.renewed_at = sent;
        Attempt::Acquired
    }

    /// Watches the Lease from `rv`, noting each change, until `wake` (pushed back by renewals) or
    /// until the record is free or ours. Without a resourceVersion, or if the watch fails, it just
    /// sleeps until `wake` or one retry period, whichever comes first.
    async fn watch_until(
        &self,
        seen: &mut Observation,
        rv: Option<String>,
        mut wake: Instant,
        heartbeat: &Heartbeat,
    ) {
        let fallback = wake.min(Instant::now() + RETRY_PERIOD);
        let Some(rv) = rv else {
            sleep_until(fallback).await;
            return;
        };
        let wp = WatchParams::default()
            .fields(&format!("metadata.name={}", self.name))
            .timeout(WATCH_SECONDS);
        let stream = match timeout(CALL_TIMEOUT, self.api.watch(&wp, &rv)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "cannot watch the lease; polling");
                sleep_until(fallback).await;
                return;
            }
            Err(_) => {
                tracing::debug!("watching the lease timed out; polling");
                sleep_until(fallback).await;
                return;
            }
        };
        let mut stream = std::pin::pin!(stream);
        let mut beat = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = sleep_until(wake) => return,
                _ = beat.tick() => heartbeat.beat(),
                event = stream.next() => match event {
                    Some(Ok(WatchEvent::Added(l) | WatchEvent::Modified(l))) => {
                        let now = Instant::now();
                        seen.observe(l.spec.as_ref(), now);
                        match seen.verdict(&self.identity, now) {
                            Verdict::HeldUntil(t) => wake = t,
                            _ => return,
                        }
                    }
                    Some(Ok(WatchEvent::Bookmark(_))) => {}
                    Some(Ok(WatchEvent::Deleted(_))) | None => return,
                    Some(Ok(WatchEvent::Error(e))) => {
                        tracing::debug!(error = %e.message, "lease watch ended");
                        sleep_until(wake.min(Instant::now() + RETRY_PERIOD)).await;
                        return;
                    }
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "lease watch failed");
                        sleep_until(wake.min(Instant::now() + RETRY_PERIOD)).await;
                        return;
                    }
                },
            }
        }
    }

    /// Renews every retry period. Returns when leadership is lost: another replica took the
    /// Lease, or no renewal succeeded within the renew deadline. `fence` is closed by then (and
    /// closes by itself at the deadline in any case).
    pub async fn hold(&mut self, fence: &Fence) -> Lost {
        let mut next = self.renewed_at + RETRY_PERIOD;
        loop {
            let deadline = self.renewed_at + RENEW_DEADLINE;
            sleep_until(next.min(deadline)).await;
            let sent = Instant::now();
            if sent >= deadline {
                fence.close();
                return Lost::RenewDeadline(RENEW_DEADLINE);
            }
            match timeout_at((sent + CALL_TIMEOUT).min(deadline), self.renew()).await {
                Ok(Ok(None)) => {
                    self.renewed_at = sent;
                    fence.extend_until((sent + RENEW_DEADLINE).into_std());
                }
                Ok(Ok(Some(holder))) => {
                    fence.close();
                    return Lost::Taken(holder);
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, left = ?deadline.saturating_duration_since(Instant::now()), "lease renewal failed")
                }
                Err(_) => {
                    tracing::warn!(left = ?deadline.saturating_duration_since(Instant::now()), "lease renewal timed out")
                }
            }
            next = sent + RETRY_PERIOD;
        }
    }

    /// One renewal: `None` when renewed, `Some(holder)` when someone else holds the Lease.
    async fn renew(&mut self) -> Result<Option<String>, RenewError> {
        for _ in 0..2 {
            let Some(mut lease) = self.lease.clone() else {
                return Ok(Some(String::new()));
            };
            let spec = lease.spec.clone().unwrap_or_default();
            let acquired = spec
                .acquire_time
                .map(|t| t.0)
                .unwrap_or_else(jiff::Timestamp::now);
            lease.spec = Some(self.spec(acquired, spec.lease_transitions.unwrap_or(0)));
            match self
                .api
                .replace(&self.name, &PostParams::default(), &lease)
                .await
            {
                Ok(l) => {
                    self.lease = Some(l);
                    return Ok(None);
                }
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    // Someone wrote the Lease: still ours (e.g. a label was added) or taken?
                    let fresh = self.api.get_opt(&self.name).await?;
                    let holder = fresh
                        .as_ref()
                        .and_then(|l| l.spec.as_ref()?.holder_identity.clone())
                        .unwrap_or_default();
                    if holder != self.identity {
                        self.lease = None;
                        return Ok(Some(holder));
                    }
                    self.lease = fresh;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(RenewError::Churn)
    }

    /// Gives the lease up on graceful shutdown so that another replica takes over at once. Only
    /// a Lease that still names us (at the resourceVersion read) is released. Bounded in time.
    pub async fn release(&mut self) {
        let result = timeout(CALL_TIMEOUT, async {
            let Some(mut lease) = self.api.get_opt(&self.name).await? else {
                return Ok(());
            };
            let ours = lease
                .spec
                .as_ref()
                .and_then(|s| s.holder_identity.as_deref())
                == Some(self.identity.as_str());
            if !ours {
                return Ok(());
            }
            if let Some(spec) = lease.spec.as_mut() {
                spec.holder_identity = None;
                spec.renew_time = None;
            }
            self.api
                .replace(&self.name, &PostParams::default(), &lease)
                .await
                .map(|_| ())
        })
        .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot release the lease"),
            Err(_) => tracing::warn!("releasing the lease timed out"),
        }
    }
}

#[cfg(test)]
mod tests;
