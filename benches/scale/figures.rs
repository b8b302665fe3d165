//! Figures from the emulator's call log and the operator's metrics, and how they are printed.

use super::*;

/// Emulator calls (`METHOD /route`) by operation, in a fixed order.
pub(crate) fn by_operation(calls: &BTreeMap<String, u64>) -> Vec<(&'static str, u64)> {
    let mut ops: BTreeMap<usize, (&'static str, u64)> = BTreeMap::new();
    for (key, count) in calls {
        let (method, route) = key.split_once(' ').unwrap_or((key, ""));
        let (order, op) = match method {
            "GET" if route.ends_with('}') => (2, "get"),
            "GET" => (0, "list"),
            "POST" => (1, "create"),
            "PATCH" | "PUT" => (3, "update"),
            "DELETE" => (4, "delete"),
            _ => (5, "other"),
        };
        ops.entry(order).or_insert((op, 0)).1 += count;
    }
    ops.into_values().collect()
}

pub(crate) fn calls_text(calls: &BTreeMap<String, u64>, rate_limited: u64) -> String {
    let total: u64 = calls.values().sum();
    let ops: Vec<String> = by_operation(calls)
        .iter()
        .map(|(op, n)| format!("{op} {n}"))
        .collect();
    let ops = if ops.is_empty() {
        String::new()
    } else {
        format!(" ({})", ops.join(", "))
    };
    format!("{total}{ops}; answered 429: {rate_limited}")
}

/// Provider calls the operator counted as answered 429 (its own view).
pub(crate) fn operator_429s(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("ssoperator_provider_calls_total{") && l.contains("status=\"429\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Reconciles started (`ssoperator_reconciles_total`) but not finished (the duration histogram's
/// count).
pub(crate) fn reconciles_in_flight(metrics: &str) -> u64 {
    (sum_samples(metrics, "ssoperator_reconciles_total")
        - sum_samples(metrics, "ssoperator_reconcile_duration_seconds_count"))
    .max(0.0) as u64
}

/// A counter of the operator's /metrics per `kind` label.
pub(crate) fn per_kind(metrics: &str, name: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix(name).and_then(|r| r.strip_prefix('{')) else {
            continue;
        };
        let Some(kind) = rest
            .split_once("kind=\"")
            .and_then(|(_, k)| k.split_once('"'))
            .map(|(k, _)| k)
        else {
            continue;
        };
        let value = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        *out.entry(kind.to_string()).or_default() += value as u64;
    }
    out
}

/// Status writes between two /metrics texts, total and per kind (`3 (ProviderConfig 1, ...)`).
pub(crate) fn status_writes_text(before: &str, after: &str) -> (u64, String) {
    let (before, after) = (
        per_kind(before, "ssoperator_status_writes_total"),
        per_kind(after, "ssoperator_status_writes_total"),
    );
    let deltas: Vec<(String, u64)> = after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect();
    let total: u64 = deltas.iter().map(|(_, v)| v).sum();
    let kinds: Vec<String> = deltas.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let text = if kinds.is_empty() {
        total.to_string()
    } else {
        format!("{total} ({})", kinds.join(", "))
    };
    (total, text)
}

/// The 1-minute load average (other work on the machine skews every figure).
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(String::from))
        .unwrap_or_else(|| "?".into())
}

pub(crate) fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

pub(crate) fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}
