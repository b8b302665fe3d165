//! What every reconcile shares.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use kube::{Client, runtime::controller::Action};

use super::{events::Publisher, lock, observations::Observations, registry::Registry};
use crate::{
    config::{Config, parse_duration},
    crd::{MIN_RESYNC_PERIOD, RESYNC_PERIOD_ANNOTATION},
    metrics::Metrics,
};

pub struct Context {
    pub client: Client,
    pub registry: Registry,
    pub metrics: Arc<Metrics>,
    pub events: Publisher,
    /// What the providers hold, one sweep per account and kind.
    pub observations: Observations,
    pub config: Config,
    /// IdP metadata fetches and certificate checks (see `certificates`).
    pub certificates: super::certificates::State,
    /// When each resource was last looked at, for the periodic resyncs (see `resync`).
    pub looks: Arc<super::resync::Looks>,
    /// Consecutive failures per object uid, for capped exponential backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// One lock per remote object (account identity + id): see [`Context::lock_remote`].
    remote_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The write-only hash last sent per object uid: see [`Context::sent_hash`].
    sent_hashes: SentHashes,
    /// What this process last wrote per object uid: see [`Context::written`].
    written: Mutex<HashMap<String, Written>>,
    /// The resync-period note last reported per object uid: see [`Context::first_note`].
    notes: Mutex<HashMap<String, String>>,
}

/// What this process wrote to one resource.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Written {
    /// The resourceVersion this process's last write to the resource (status, annotation,
    /// finalizer) returned, until the copy in memory shows it: a reconcile that starts from an
    /// older copy reads the resource fresh instead (see `reconcile::current_copy`).
    pub version: Option<String>,
    /// A hash of the spec.writeOutputsTo target and the outputs last written there.
    pub outputs: Option<u64>,
}

/// The period the resync-period annotation (its value `value`) sets, and a note naming the
/// annotation when the value cannot be used as written: a value that does not parse (the format
/// of `--resync`: "30s", "5m", "1h") is ignored, the global period applies; one below
/// [`MIN_RESYNC_PERIOD`] is raised to it. Neither stops the reconcile.
pub fn resync_period(value: Option<&str>) -> (Option<Duration>, Option<String>) {
    let Some(value) = value else {
        return (None, None);
    };
    match parse_duration(value) {
        Err(e) => (
            None,
            Some(format!(
                "{RESYNC_PERIOD_ANNOTATION}: {e}; the operator's --resync period applies"
            )),
        ),
        Ok(p) if p < MIN_RESYNC_PERIOD => (
            Some(MIN_RESYNC_PERIOD),
            Some(format!(
                "{RESYNC_PERIOD_ANNOTATION}: {value:?} is below the minimum of {}s; {}s applies",
                MIN_RESYNC_PERIOD.as_secs(),
                MIN_RESYNC_PERIOD.as_secs()
            )),
        ),
        Ok(p) => (Some(p), None),
    }
}

impl Context {
    pub fn new(
        client: Client,
        registry: Registry,
        metrics: Arc<Metrics>,
        events: Publisher,
        config: Config,
    ) -> Self {
        let observations = Observations::new(config.resync, metrics.clone());
        Self {
            client,
            registry,
            metrics,
            events,
            observations,
            certificates: super::certificates::State::new(&config),
            looks: Arc::default(),
            config,
            failures: Mutex::default(),
            remote_locks: Mutex::default(),
            sent_hashes: SentHashes::default(),
            written: Mutex::default(),
            notes: Mutex::default(),
        }
    }

    /// What this process last wrote to the resource `uid`.
    pub fn written(&self, uid: &str) -> Written {
        lock(&self.written).get(uid).cloned().unwrap_or_default()
    }

    pub fn record_written(&self, uid: &str, update: impl FnOnce(&mut Written)) {
        let mut written = lock(&self.written);
        let entry = written.entry(uid.to_string()).or_default();
        update(entry);
        // Most resources have nothing recorded most of the time: keep no entry for them.
        if *entry == Written::default() {
            written.remove(uid);
        }
    }

    /// Forgets a deleted resource.
    pub fn forget_written(&self, uid: &str) {
        lock(&self.written).remove(uid);
        self.sent_hashes.record(uid, None);
        lock(&self.notes).remove(uid);
        self.certificates.forget(uid);
    }

    /// Whether `note` about the resource `uid` is new (not the one last reported), so that a
    /// refused resync-period value is reported once, not at every resync.
    pub fn first_note(&self, uid: &str, note: &str) -> bool {
        let mut notes = lock(&self.notes);
        if notes.get(uid).is_some_and(|n| n == note) {
            return false;
        }
        notes.insert(uid.to_string(), note.to_string());
        true
    }

    /// The resync period with +-10% jitter, so that resources do not all hit a provider at once.
    pub fn resync(&self) -> Duration {
        self.config
            .resync
            .mul_f64(0.9 + rand::random::<f64>() * 0.2)
    }

    /// The resync period of a resource whose resync-period annotation asks for `period` (see
    /// [`resync_period`]), or the global one without it; jittered like [`Context::resync`], and
    /// never below [`MIN_RESYNC_PERIOD`] when the annotation sets it.
    pub fn resync_for(&self, period: Option<Duration>) -> Duration {
        match period {
            None => self.resync(),
            Some(p) => p
                .mul_f64(0.9 + rand::random::<f64>() * 0.2)
                .max(MIN_RESYNC_PERIOD),
        }
    }

    /// What follows a reconcile that leaves a resource waiting for its next resync: a timer
    /// of its own when it has its own period (see [`Context::resync_for`]); without one,
    /// [`super::resync::resyncs`] brings it back each resync period and kube keeps nothing.
    pub fn after_resync(&self, period: Option<Duration>) -> Action {
        match period {
            None => Action::await_change(),
            Some(_) => Action::requeue(self.resync_for(period)),
        }
    }

    /// When to look at a ProviderConfig with refused or missing credentials again. Without a
    /// Secret watch a fixed Secret is only seen by reading it, so look every minute (at most one
    /// provider call) rather than once a resync.
    pub fn credentials_recheck(&self) -> Duration {
        if self.config.watch_secrets {
            self.resync()
        } else {
            self.resync().min(Duration::from_secs(60))
        }
    }

    /// When to look again at a resource whose error only a person can clear (a refused spec, a
    /// key without the permission): rarely, as such errors cost a provider call each time; a
    /// spec change wakes the resource at once anyway.
    pub fn stalled_recheck(&self) -> Duration {
        self.resync().max(Duration::from_secs(600))
    }

    /// Records a failure and returns the backoff before the next try: 2s doubling to 5 minutes, jittered.
    pub fn backoff(&self, uid: &str) -> Duration {
        let mut f = lock(&self.failures);
        let n = f.entry(uid.to_string()).or_default();
        *n = n.saturating_add(1);
        let base = Duration::from_secs(2).saturating_mul(2u32.saturating_pow((*n - 1).min(8)));
        base.min(Duration::from_secs(300))
            .mul_f64(0.5 + rand::random::<f64>() * 0.5)
    }

    /// Serialises the read-modify-write of one remote object. Two resources can own parts of one
    /// object (a Qovery or LoginRadius connection and its OrgRoleMapping; Atlas replaces the whole
    /// object on PATCH), and their controllers run concurrently: without the lock one's write
    /// could carry the other's stale read back.
    pub async fn lock_remote(&self, key: String) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = lock(&self.remote_locks);
            if locks.len() > 4096 {
                // Forget locks nobody holds or waits for.
                locks.retain(|_, l| Arc::strong_count(l) > 1);
            }
            locks.entry(key).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// The write-only hash this process last sent for the object, if its status may not show it
    /// yet. A status write can fail after the provider took the values; without this the next
    /// reconcile would see the old hash and send the (unchanged) secret a second time.
    pub fn sent_hash(&self, uid: &str) -> Option<String> {
        self.sent_hashes.get(uid)
    }

    pub fn record_sent_hash(&self, uid: &str, hash: Option<&String>) {
        self.sent_hashes.record(uid, hash);
    }

    /// Drops the sent hash of `uid` once `recorded`, the write-only hash in the status of a copy
    /// that shows this process's last write (see `reconcile::current_copy`), equals it.
    pub fn settle_sent_hash(&self, uid: &str, recorded: Option<&String>) {
        self.sent_hashes.settle(uid, recorded);
    }

    pub fn succeeded(&self, uid: &str) {
        lock(&self.failures).remove(uid);
    }
}

/// The write-only hash sent per object uid, kept only until the resource's status shows it: in
/// steady state the map is empty rather than holding an entry per resource.
#[derive(Default)]
struct SentHashes(Mutex<HashMap<String, String>>);

impl SentHashes {
    fn get(&self, uid: &str) -> Option<String> {
        lock(&self.0).get(uid).cloned()
    }

    fn record(&self, uid: &str, hash: Option<&String>) {
        let mut hashes = lock(&self.0);
        match hash {
            Some(h) => hashes.insert(uid.to_string(), h.clone()),
            None => hashes.remove(uid),
        };
    }

    fn settle(&self, uid: &str, recorded: Option<&String>) {
        let mut hashes = lock(&self.0);
        if recorded.is_some() && hashes.get(uid) == recorded {
            hashes.remove(uid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sent_hash_is_kept_until_the_status_shows_it() {
        let sent = SentHashes::default();
        let (old, new) = ("h1".to_string(), "h2".to_string());
        sent.record("uid", Some(&new));
        // The status still shows the hash before this write (its write failed, or lags).
        sent.settle("uid", Some(&old));
        sent.settle("uid", None);
        assert_eq!(sent.get("uid"), Some(new.clone()));
        sent.settle("uid", Some(&new));
        assert_eq!(sent.get("uid"), None);
        assert!(
            lock(&sent.0).is_empty(),
            "nothing kept once status caught up"
        );
        sent.record("uid", Some(&new));
        sent.record("uid", None);
        assert_eq!(sent.get("uid"), None);
    }

    #[test]
    fn resync_period_parses_bounds_and_names_the_annotation() {
        assert_eq!(resync_period(None), (None, None));
        assert_eq!(
            resync_period(Some("30s")),
            (Some(Duration::from_secs(30)), None)
        );
        assert_eq!(
            resync_period(Some(" 5m ")),
            (Some(Duration::from_secs(300)), None)
        );
        assert_eq!(
            resync_period(Some("10s")),
            (Some(Duration::from_secs(10)), None)
        );
        for small in ["0", "0s", "9s", "500ms", "9.9s"] {
            let (p, note) = resync_period(Some(small));
            assert_eq!(p, Some(MIN_RESYNC_PERIOD), "{small}");
            let note = note.unwrap();
            assert!(
                note.starts_with(RESYNC_PERIOD_ANNOTATION) && note.contains("minimum of 10s"),
                "{note}"
            );
        }
        for bad in ["", "soon", "5w", "-5m", "1e9h", "10 minutes"] {
            let (p, note) = resync_period(Some(bad));
            assert_eq!(p, None, "{bad:?}");
            let note = note.unwrap();
            assert!(
                note.starts_with(RESYNC_PERIOD_ANNOTATION) && note.contains("--resync"),
                "{note}"
            );
        }
    }
}
