//! Prometheus metrics: reconciles per kind, provider calls, rate-limit waits, drift repairs,
//! resources by kind and condition, leadership.
//!
//! The chart's Grafana dashboard (`charts/ssoperator/dashboards/ssoperator.json`) and
//! PrometheusRule (`charts/ssoperator/templates/prometheusrule.yaml`) use these names; an e2e test
//! (`tests/e2e/monitoring/`) checks that every metric they name is exposed.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, text::encode},
    metrics::{
        MetricType,
        counter::Counter,
        family::Family,
        gauge::{ConstGauge, Gauge},
        histogram::Histogram,
    },
    registry::Registry,
};

use crate::provider::{CallObserver, ProviderKind};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub provider: String,
    pub operation: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabels {
    pub provider: String,
}

/// One series of `ssoperator_resources`: a kind, one of its conditions (Ready, Synced) and that
/// condition's status (True, False, Unknown; a resource without the condition yet is Unknown).
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct ResourceLabels {
    pub kind: String,
    pub condition: String,
    pub status: String,
}

/// Counts the resources the controllers hold, by [`ResourceLabels`]; called at each scrape.
pub type ResourceCounter = Box<dyn Fn() -> BTreeMap<ResourceLabels, i64> + Send + Sync>;

/// One series of `ssoperator_idp_certificate_expiry_timestamp_seconds`: an IdP certificate a
/// resource relies on (cert-manager's `certmanager_certificate_expiration_timestamp_seconds`),
/// and its notAfter (Unix seconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateSeries<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub kind: &'a str,
    pub provider: &'a str,
    pub fingerprint: &'a str,
    pub not_after: i64,
}

/// Hands every IdP certificate in use to the visitor, one [`CertificateSeries`] each; called at
/// each scrape. A visitor rather than a collection: there is one series per resource, and the
/// scrape encodes each as it comes instead of holding all of them twice (a map and a family).
pub type CertificateCounter = Box<dyn Fn(&mut dyn FnMut(CertificateSeries<'_>)) + Send + Sync>;

const CERTIFICATE_EXPIRY: &str = "idp_certificate_expiry_timestamp_seconds";
const CERTIFICATE_EXPIRY_HELP: &str = "The date after which an IdP signing certificate an \
    EnterpriseConnection uses expires, in seconds since the Unix epoch";

/// Encodes `ssoperator_idp_certificate_expiry_timestamp_seconds` at scrape time from the
/// [`CertificateCounter`] (no series while there is none, e.g. on a standby).
struct CertificateExpiry(Arc<Mutex<Option<CertificateCounter>>>);

impl std::fmt::Debug for CertificateExpiry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CertificateExpiry")
    }
}

impl Collector for CertificateExpiry {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let counter = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let Some(visit) = counter.as_ref() else {
            return Ok(());
        };
        // As for a family: no series, no descriptor either.
        let mut any = false;
        visit(&mut |_| any = true);
        if !any {
            return Ok(());
        }
        let mut family = encoder.encode_descriptor(
            CERTIFICATE_EXPIRY,
            CERTIFICATE_EXPIRY_HELP,
            None,
            MetricType::Gauge,
        )?;
        let mut result = Ok(());
        visit(&mut |s| {
            if result.is_err() {
                return;
            }
            let labels = [
                ("namespace", s.namespace),
                ("name", s.name),
                ("kind", s.kind),
                ("provider", s.provider),
                ("fingerprint", s.fingerprint),
            ];
            result = family
                .encode_family(&labels)
                .and_then(|m| ConstGauge::new(s.not_after).encode(m));
        });
        result
    }
}

/// Every metric the operator exports.
pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<KindLabels, Counter>,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    pub reconcile_duration: Family<KindLabels, Histogram>,
    pub provider_calls: Family<CallLabels, Counter>,
    pub provider_call_duration: Family<ProviderLabels, Histogram>,
    pub rate_limit_waits: Family<ProviderLabels, Counter>,
    /// List sweeps of an account and kind (all its pages), one per resync period when quiet.
    pub sweeps: Family<ProviderLabels, Counter>,
    pub rate_limit_wait_seconds: Family<ProviderLabels, Counter<f64>>,
    pub drift_repairs: Family<KindLabels, Counter>,
    pub status_writes: Family<KindLabels, Counter>,
    /// Writes to a managed resource's metadata: its finalizer and its external-id annotation.
    pub metadata_writes: Family<KindLabels, Counter>,
    /// Reads of a resource from the API server because the copy in memory lagged: it did not
    /// show this process's last write to it yet, or a write conditional on its version met a
    /// newer one.
    pub fresh_reads: Family<KindLabels, Counter>,
    /// Resources by kind, condition and status, counted at scrape time from the controllers'
    /// watch caches (so a deleted resource leaves the count at once); no series while this
    /// replica runs no controllers (a standby).
    pub resources: Family<ResourceLabels, Gauge>,
    /// 1 while this replica runs the controllers (holds the Lease, or runs without leader
    /// election), else 0.
    pub leader: Gauge,
    resource_counter: Mutex<Option<ResourceCounter>>,
    /// What notAfter of each IdP certificate in use is read from at scrape time (the resources'
    /// status, so a deleted resource or a replaced certificate leaves no series behind).
    certificate_counter: Arc<Mutex<Option<CertificateCounter>>>,
}

fn buckets() -> Histogram {
    Histogram::new([0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("ssoperator");
        let m = Self {
            reconciles: Family::default(),
            reconcile_errors: Family::default(),
            reconcile_duration: Family::new_with_constructor(buckets),
            provider_calls: Family::default(),
            provider_call_duration: Family::new_with_constructor(buckets),
            rate_limit_waits: Family::default(),
            sweeps: Family::default(),
            rate_limit_wait_seconds: Family::default(),
            drift_repairs: Family::default(),
            status_writes: Family::default(),
            metadata_writes: Family::default(),
            fresh_reads: Family::default(),
            resources: Family::default(),
            leader: Gauge::default(),
            resource_counter: Mutex::default(),
            certificate_counter: Arc::default(),
            registry: Registry::default(),
        };
        registry.register("reconciles", "Reconciles per kind", m.reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Failed reconciles per kind and reason",
            m.reconcile_errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile duration per kind",
            m.reconcile_duration.clone(),
        );
        registry.register(
            "provider_calls",
            "Provider HTTP calls by provider, operation and status",
            m.provider_calls.clone(),
        );
        registry.register(
            "provider_call_duration_seconds",
            "Provider HTTP call duration",
            m.provider_call_duration.clone(),
        );
        registry.register(
            "rate_limit_waits",
            "Times a provider call waited for a rate limit",
            m.rate_limit_waits.clone(),
        );
        registry.register(
            "rate_limit_wait_seconds",
            "Seconds spent waiting for rate limits",
            m.rate_limit_wait_seconds.clone(),
        );
        registry.register(
            "sweeps",
            "List sweeps of a provider account and kind (all pages of one listing)",
            m.sweeps.clone(),
        );
        registry.register(
            "drift_repairs",
            "Drift found in a provider and corrected",
            m.drift_repairs.clone(),
        );
        registry.register(
            "status_writes",
            "Status updates written to the API server",
            m.status_writes.clone(),
        );
        registry.register(
            "metadata_writes",
            "Writes to managed resources' metadata (finalizer, external-id annotation)",
            m.metadata_writes.clone(),
        );
        registry.register(
            "fresh_reads",
            "Reads of a resource from the API server because the copy in memory lagged (the watch had not brought this process's last write yet, or a write conditional on its version met a newer one)",
            m.fresh_reads.clone(),
        );
        registry.register(
            "resources",
            "Resources by kind, condition (Ready, Synced) and status (True, False, Unknown)",
            m.resources.clone(),
        );
        registry.register(
            "leader",
            "1 on the replica that runs the controllers (the leader), 0 on a standby",
            m.leader.clone(),
        );
        registry.register_collector(Box::new(CertificateExpiry(m.certificate_counter.clone())));
        Self { registry, ..m }
    }
}

impl Metrics {
    pub fn kind(kind: &str) -> KindLabels {
        KindLabels {
            kind: kind.to_string(),
        }
    }

    /// Sets what `ssoperator_resources` is counted from (`None`: no series, e.g. once the
    /// controllers stop).
    pub fn set_resource_counter(&self, counter: Option<ResourceCounter>) {
        *self
            .resource_counter
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = counter;
    }

    /// Sets what `ssoperator_idp_certificate_expiry_timestamp_seconds` is read from.
    pub fn set_certificate_counter(&self, counter: Option<CertificateCounter>) {
        *self
            .certificate_counter
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = counter;
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        // Held while the gauge is refilled and encoded, so that two scrapes do not interleave.
        let counter = self
            .resource_counter
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.resources.clear();
        if let Some(count) = counter.as_ref() {
            for (labels, n) in count() {
                self.resources.get_or_create(&labels).set(n);
            }
        }
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// The sum of every sample of metric `name` (all label sets) in a text exposition, such as
/// [`Metrics::render`] or a `/metrics` response.
pub fn sum_samples(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Provider writes (calls whose operation is create, update or delete, whatever their outcome) in a
/// text exposition.
pub fn provider_writes(text: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with("ssoperator_provider_calls_total{"))
        .filter(|l| {
            ["create", "update", "delete"]
                .iter()
                .any(|op| l.contains(&format!("operation=\"{op}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Feeds provider calls into [`Metrics`].
pub struct MetricsObserver(pub Arc<Metrics>);

impl CallObserver for MetricsObserver {
    fn call(
        &self,
        provider: ProviderKind,
        operation: &'static str,
        outcome: &str,
        elapsed: Duration,
    ) {
        let labels = CallLabels {
            provider: provider.to_string(),
            operation: operation.to_string(),
            status: outcome.to_string(),
        };
        self.0.provider_calls.get_or_create(&labels).inc();
        self.0
            .provider_call_duration
            .get_or_create(&ProviderLabels {
                provider: provider.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    fn rate_limit_wait(&self, provider: ProviderKind, wait: Duration) {
        let labels = ProviderLabels {
            provider: provider.to_string(),
        };
        self.0.rate_limit_waits.get_or_create(&labels).inc();
        self.0
            .rate_limit_wait_seconds
            .get_or_create(&labels)
            .inc_by(wait.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_samples_adds_every_label_set_of_one_metric_only() {
        let text = "# TYPE x counter\n\
                    ssoperator_status_writes_total{kind=\"A\"} 2\n\
                    ssoperator_status_writes_total{kind=\"B\"} 3\n\
                    ssoperator_status_writes_total_other 100\n";
        assert_eq!(sum_samples(text, "ssoperator_status_writes_total"), 5.0);
        assert_eq!(sum_samples(text, "ssoperator_reconciles_total"), 0.0);
    }

    #[test]
    fn certificate_expiry_is_encoded_from_the_counter_at_each_render() {
        let m = Metrics::default();
        assert!(
            !m.render().contains(CERTIFICATE_EXPIRY),
            "no counter, no series"
        );
        let fingerprints = Arc::new(Mutex::new(vec!["AA:01", "BB:02"]));
        let seen = fingerprints.clone();
        m.set_certificate_counter(Some(Box::new(move |visit| {
            for (i, fingerprint) in seen.lock().unwrap().iter().enumerate() {
                visit(CertificateSeries {
                    namespace: "ns",
                    name: "conn",
                    kind: "EnterpriseConnection",
                    provider: "clerk",
                    fingerprint,
                    not_after: 1_900_000_000 + i64::try_from(i).unwrap(),
                });
            }
        })));
        let text = m.render();
        assert!(
            text.contains(
                "ssoperator_idp_certificate_expiry_timestamp_seconds{namespace=\"ns\",name=\"conn\",\
                 kind=\"EnterpriseConnection\",provider=\"clerk\",fingerprint=\"BB:02\"} 1900000001\n"
            ),
            "{text}"
        );
        assert!(text.contains("# TYPE ssoperator_idp_certificate_expiry_timestamp_seconds gauge"));
        assert_eq!(
            sum_samples(&text, "ssoperator_idp_certificate_expiry_timestamp_seconds"),
            3_800_000_001.0
        );
        // A certificate no longer in use is gone from the next scrape.
        fingerprints.lock().unwrap().clear();
        assert!(!m.render().contains(CERTIFICATE_EXPIRY));
    }

    #[test]
    fn resources_are_counted_at_each_render_and_leader_is_a_gauge() {
        let m = Metrics::default();
        let text = m.render();
        // A family without series is left out of the exposition altogether.
        assert!(!text.contains("ssoperator_resources"), "{text}");
        assert!(text.contains("ssoperator_leader 0\n"), "{text}");
        let n = Arc::new(std::sync::atomic::AtomicI64::new(2));
        let n2 = n.clone();
        m.set_resource_counter(Some(Box::new(move || {
            let labels = |status: &str| ResourceLabels {
                kind: "OrgRoleMapping".into(),
                condition: "Ready".into(),
                status: status.into(),
            };
            let v = n2.load(std::sync::atomic::Ordering::Relaxed);
            let mut out = BTreeMap::from([(labels("True"), v)]);
            if v > 1 {
                out.insert(labels("False"), 1);
            }
            out
        })));
        m.leader.set(1);
        let text = m.render();
        assert_eq!(sum_samples(&text, "ssoperator_resources"), 3.0, "{text}");
        assert!(text.contains("ssoperator_leader 1\n"), "{text}");
        // A series that the counter no longer returns is gone from the next scrape.
        n.store(1, std::sync::atomic::Ordering::Relaxed);
        let text = m.render();
        assert_eq!(sum_samples(&text, "ssoperator_resources"), 1.0, "{text}");
        assert!(!text.contains("status=\"False\""), "{text}");
        m.set_resource_counter(None);
        assert_eq!(sum_samples(&m.render(), "ssoperator_resources"), 0.0);
    }

    #[test]
    fn provider_writes_count_creates_updates_and_deletes_only() {
        let m = Metrics::default();
        let obs = MetricsObserver(Arc::new(m));
        for op in [
            "get", "list", "create", "update", "update", "delete", "token",
        ] {
            obs.call(ProviderKind::Clerk, op, "200", Duration::ZERO);
        }
        obs.call(ProviderKind::Clerk, "update", "error", Duration::ZERO);
        assert_eq!(provider_writes(&obs.0.render()), 5.0);
    }
}
