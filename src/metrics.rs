//! Prometheus metrics: reconciles per kind, provider calls, rate-limit waits, drift repairs.

use std::{sync::Arc, time::Duration};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, histogram::Histogram},
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

/// Every metric the operator exports.
pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<KindLabels, Counter>,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    pub reconcile_duration: Family<KindLabels, Histogram>,
    pub provider_calls: Family<CallLabels, Counter>,
    pub provider_call_duration: Family<ProviderLabels, Histogram>,
    pub rate_limit_waits: Family<ProviderLabels, Counter>,
    pub rate_limit_wait_seconds: Family<ProviderLabels, Counter<f64>>,
    pub drift_repairs: Family<KindLabels, Counter>,
    pub status_writes: Family<KindLabels, Counter>,
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
            rate_limit_wait_seconds: Family::default(),
            drift_repairs: Family::default(),
            status_writes: Family::default(),
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
            "drift_repairs",
            "Drift found in a provider and corrected",
            m.drift_repairs.clone(),
        );
        registry.register(
            "status_writes",
            "Status updates written to the API server",
            m.status_writes.clone(),
        );
        Self { registry, ..m }
    }
}

impl Metrics {
    pub fn kind(kind: &str) -> KindLabels {
        KindLabels {
            kind: kind.to_string(),
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
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
