//! The API server's side of a run, from its own /metrics: the requests it served by verb and
//! resource, and the CPU time it used. On a small machine the API server, not the provider's
//! rate limit, can bound the time to Ready; these figures show when it does.

use super::*;

/// A reading of the API server's counters.
#[derive(Default)]
pub(crate) struct ApiServerReading {
    /// `apiserver_request_total` summed per "VERB resource[/subresource]".
    requests: BTreeMap<String, f64>,
    /// `process_cpu_seconds_total`.
    cpu_seconds: f64,
}

impl ApiServerReading {
    /// Reads the API server's /metrics (an empty reading if it cannot be read: the figures
    /// then show as unknown rather than failing the run).
    pub(crate) async fn take(client: &kube::Client) -> Self {
        let request = http::Request::get("/metrics")
            .body(Vec::new())
            .expect("a GET request");
        match client.request_text(request).await {
            Ok(text) => Self::parse(&text),
            Err(e) => {
                eprintln!("bench: cannot read the API server's /metrics: {e}");
                Self::default()
            }
        }
    }

    fn parse(text: &str) -> Self {
        let mut reading = Self::default();
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("process_cpu_seconds_total ") {
                reading.cpu_seconds = v.trim().parse().unwrap_or(0.0);
                continue;
            }
            let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
                continue;
            };
            let Some((labels, value)) = rest.rsplit_once("} ") else {
                continue;
            };
            let label = |name: &str| {
                labels
                    .split_once(&format!("{name}=\""))
                    .and_then(|(_, v)| v.split_once('"'))
                    .map(|(v, _)| v)
                    .unwrap_or_default()
            };
            let (verb, resource, sub) = (label("verb"), label("resource"), label("subresource"));
            let key = if sub.is_empty() {
                format!("{verb} {resource}")
            } else {
                format!("{verb} {resource}/{sub}")
            };
            *reading.requests.entry(key).or_default() += value.trim().parse().unwrap_or(0.0);
        }
        reading
    }
}

/// What the API server did between two readings.
pub(crate) struct ApiServerWork {
    pub(crate) requests: BTreeMap<String, u64>,
    pub(crate) cpu_seconds: f64,
}

impl ApiServerWork {
    pub(crate) fn between(before: &ApiServerReading, after: &ApiServerReading) -> Self {
        let requests = after
            .requests
            .iter()
            .map(|(k, v)| {
                let was = before.requests.get(k).copied().unwrap_or(0.0);
                (k.clone(), (v - was).max(0.0) as u64)
            })
            .filter(|(_, v)| *v > 0)
            .collect();
        Self {
            requests,
            cpu_seconds: (after.cpu_seconds - before.cpu_seconds).max(0.0),
        }
    }

    /// Writes (everything but reads and watches) per resource, the largest first, leaving out
    /// those under one in a hundred resources: `APPLY enterpriseconnections 1.00, ...`.
    pub(crate) fn writes_text(&self, n: usize) -> String {
        let mut writes: Vec<(&String, &u64)> = self
            .requests
            .iter()
            .filter(|(k, _)| !["GET ", "LIST ", "WATCH "].iter().any(|v| k.starts_with(v)))
            .filter(|(_, v)| **v as f64 >= n as f64 / 100.0)
            .collect();
        writes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let total: u64 = writes.iter().map(|(_, v)| **v).sum();
        let parts: Vec<String> = writes
            .iter()
            .map(|(k, v)| format!("{k} {:.2}", **v as f64 / n as f64))
            .collect();
        format!(
            "{:.2} per resource ({})",
            total as f64 / n as f64,
            parts.join(", ")
        )
    }

    /// Reads per resource (GET and LIST; watches are long-lived and not counted).
    pub(crate) fn reads_text(&self, n: usize) -> String {
        let reads: u64 = self
            .requests
            .iter()
            .filter(|(k, _)| k.starts_with("GET ") || k.starts_with("LIST "))
            .map(|(_, v)| *v)
            .sum();
        format!("{:.2} per resource", reads as f64 / n as f64)
    }
}
