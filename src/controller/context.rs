//! What every reconcile shares.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use kube::{Client, runtime::events::Recorder};

use super::registry::Registry;
use crate::{config::Config, metrics::Metrics};

pub struct Context {
    pub client: Client,
    pub registry: Registry,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    pub config: Config,
    /// Consecutive failures per object uid, for capped exponential backoff.
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn new(
        client: Client,
        registry: Registry,
        metrics: Arc<Metrics>,
        recorder: Recorder,
        config: Config,
    ) -> Self {
        Self {
            client,
            registry,
            metrics,
            recorder,
            config,
            failures: Mutex::default(),
        }
    }

    /// The resync period with +-10% jitter, so that resources do not all hit a provider at once.
    pub fn resync(&self) -> Duration {
        self.config
            .resync
            .mul_f64(0.9 + rand::random::<f64>() * 0.2)
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

    /// Records a failure and returns the backoff before the next try: 2s doubling to 5 minutes, jittered.
    pub fn backoff(&self, uid: &str) -> Duration {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = f.entry(uid.to_string()).or_default();
        *n = n.saturating_add(1);
        let base = Duration::from_secs(2).saturating_mul(2u32.saturating_pow((*n - 1).min(8)));
        base.min(Duration::from_secs(300))
            .mul_f64(0.5 + rand::random::<f64>() * 0.5)
    }

    pub fn succeeded(&self, uid: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uid);
    }
}
