//! Scale benchmark: N Clerk EnterpriseConnections on a real kube-apiserver, reconciled by the
//! operator as its own process (the `ssoperator` binary cargo builds for this target) against the
//! Clerk emulator enforcing Clerk's published Backend API limit. Prints one table per run: time to
//! all Ready against the floor the limit allows, provider calls by operation, status writes, the
//! cost of one quiet resync, the operator's memory and idle CPU, and the time to delete it all.
//!
//!   scripts/with-k8s.sh cargo bench --bench scale                      # N=1000, production limit
//!   SCALE_N=1000 scripts/with-k8s.sh cargo test --release --bench scale  # the same
//!   scripts/with-k8s.sh cargo test --release --bench scale               # smoke: N=20, no limit
//!
//! Under `cargo test` (no `--bench` argument) and without `SCALE_N` it is a smoke run (N=20, no
//! limit, resync 5s) that fails when the resources do not converge or a quiet resync writes.
//! Settings (environment):
//! - `SCALE_N`: resources (default 1000; 20 in the smoke run).
//! - `SCALE_NAMESPACES`: spread them over this many namespaces, one ProviderConfig each, all of
//!   one Clerk instance (default 1); the operator gets `--namespaces` with all of them.
//! - `SCALE_LIMIT`: the emulated Clerk limit, `production` (1000 requests / 10 s, the default),
//!   `development` (100 / 10 s), `none` (the smoke run's default) or `<requests>/<seconds>`.
//! - `SCALE_RESYNC`: the operator's `--resync` (default 60s; 5s in the smoke run).
//! - `SCALE_TIMEOUT`: seconds allowed to reach all Ready, and again to delete everything
//!   (default 180 + N/20 + 10 x the floor time).
//! - `SCALE_OPERATOR_ARGS`: extra operator flags, split on whitespace (e.g. `--concurrency 16`).
//! - `SCALE_OPERATOR_LOG`: the operator's `RUST_LOG` (default `warn`); its log goes to a file
//!   whose path is printed.
//! - `SCALE_OPERATOR_WRAPPER`: a command (split on whitespace) the operator is started under, e.g.
//!   `heaptrack -o /tmp/hp` for a heap profile. The figures are still the operator's own (the
//!   descendant named `ssoperator`), and at the end it gets SIGTERM, so that a profiler writes its
//!   data. For symbols, build with `CARGO_PROFILE_RELEASE_STRIP=none
//!   CARGO_PROFILE_RELEASE_DEBUG=line-tables-only`.
//! - `SCALE_OPERATOR_BINARY`: run this operator binary instead of cargo's build, e.g. the image's
//!   static musl one: `SCALE_OPERATOR_BINARY=$(scripts/build-static.sh | tail -n 1)`.

// Benchmark code: a panic with a message is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/e2e/support.rs"]
#[allow(dead_code)]
mod support;

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    process::{Child, Command, Stdio},
    str::FromStr,
    time::{Duration, Instant},
};

use futures::{StreamExt, stream};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams},
    runtime::{WatchStreamExt, watcher},
};
use serde_json::json;
use ssoperator::{
    config::parse_duration,
    crd::{EnterpriseConnection, ProviderConfig},
    metrics::sum_samples,
};
use ssoperator_emulators::{WindowLimit, clerk::ClerkEmulator, demo::CLERK_SECRET_KEY, serve};
use tokio::sync::watch;

/// Clerk's largest page of `GET /v1/enterprise_connections` (`limit` at most 500).
const CLERK_PAGE: usize = 500;
/// Resources applied at once.
const APPLY_CONCURRENCY: usize = 16;
/// Pause between "all Ready" and the convergence figures, so that the operator's counters include
/// the status writes the watch has already shown.
const SETTLE: Duration = Duration::from_secs(1);

/// The operator binary: cargo's build of this target, or `SCALE_OPERATOR_BINARY` (e.g. the image's
/// static musl binary from scripts/build-static.sh).
fn operator_binary() -> String {
    env("SCALE_OPERATOR_BINARY").unwrap_or_else(|| env!("CARGO_BIN_EXE_ssoperator").to_string())
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_parse<T: FromStr>(name: &str) -> Option<T> {
    env(name).map(|v| {
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not valid"))
    })
}

struct Settings {
    n: usize,
    namespaces: usize,
    limit: Option<WindowLimit>,
    limit_name: String,
    resync: Duration,
    timeout: Option<Duration>,
    operator_args: Vec<String>,
    operator_log: String,
    operator_wrapper: Vec<String>,
}

impl Settings {
    fn from_env() -> Self {
        let bench = std::env::args().any(|a| a == "--bench");
        let n: Option<usize> = env_parse("SCALE_N");
        let smoke = !bench && n.is_none();
        let limit_name = env("SCALE_LIMIT")
            .unwrap_or_else(|| if smoke { "none" } else { "production" }.to_string());
        let limit = WindowLimit::parse(&limit_name, &WindowLimit::CLERK_PRESETS)
            .unwrap_or_else(|e| panic!("SCALE_LIMIT: {e}"));
        let resync = env("SCALE_RESYNC")
            .map(|v| parse_duration(&v).unwrap_or_else(|e| panic!("SCALE_RESYNC: {e}")))
            .unwrap_or(Duration::from_secs(if smoke { 5 } else { 60 }));
        let settings = Self {
            n: n.unwrap_or(if smoke { 20 } else { 1000 }),
            namespaces: env_parse("SCALE_NAMESPACES").unwrap_or(1),
            limit,
            limit_name,
            resync,
            timeout: env_parse::<u64>("SCALE_TIMEOUT").map(Duration::from_secs),
            operator_args: env("SCALE_OPERATOR_ARGS")
                .map(|v| v.split_whitespace().map(String::from).collect())
                .unwrap_or_default(),
            operator_log: env("SCALE_OPERATOR_LOG").unwrap_or_else(|| "warn".into()),
            operator_wrapper: env("SCALE_OPERATOR_WRAPPER")
                .map(|v| v.split_whitespace().map(String::from).collect())
                .unwrap_or_default(),
        };
        assert!(settings.n > 0, "SCALE_N must be at least 1");
        assert!(
            (1..=settings.n).contains(&settings.namespaces),
            "SCALE_NAMESPACES must be between 1 and SCALE_N"
        );
        assert!(!settings.resync.is_zero(), "SCALE_RESYNC must be positive");
        settings
    }

    /// The fewest provider calls that can converge: one create per resource and one list page
    /// per 500 (the check that no remote object of the same name exists).
    fn floor_calls(&self) -> usize {
        self.n + self.n.div_ceil(CLERK_PAGE)
    }

    /// Floor time at the limit's long-run rate: floor calls / (requests / window). The first
    /// window's burst could save up to one window (`burst_floor`); the ratio uses this one.
    fn floor(&self) -> Option<Duration> {
        self.limit
            .map(|l| Duration::from_secs_f64(self.floor_calls() as f64 / l.per_second()))
    }

    /// Floor time when the first `requests` calls go at once (the bucket's initial burst):
    /// (floor calls - requests) / rate.
    fn burst_floor(&self) -> Option<Duration> {
        self.limit.map(|l| {
            let after_burst = self.floor_calls().saturating_sub(l.requests as usize);
            Duration::from_secs_f64(after_burst as f64 / l.per_second())
        })
    }

    /// The operator's `spec.rateLimit`: the emulated limit's rate with its window as burst (the
    /// operator's gate then runs at 90 % of it), or the CRD's maximum without a limit.
    fn rate_limit(&self) -> (u32, u32) {
        match self.limit {
            Some(l) => (
                (l.per_second().floor() as u32).clamp(1, 1000),
                l.requests.clamp(1, 1000),
            ),
            None => (1000, 1000),
        }
    }

    fn timeout(&self) -> Duration {
        self.timeout.unwrap_or_else(|| {
            Duration::from_secs(180)
                + Duration::from_millis(50 * self.n as u64)
                + self.floor().unwrap_or_default() * 10
        })
    }
}

/// The operator as its own process; killed when dropped.
struct Operator {
    child: Child,
    /// The operator's own process: `child`, or its descendant under `SCALE_OPERATOR_WRAPPER`.
    pid: u32,
    wrapped: bool,
    metrics_url: String,
    log: PathBuf,
}

impl Operator {
    fn start(namespaces: &[String], settings: &Settings, run: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let log = std::env::temp_dir().join(format!("ssoperator-bench-{run}.log"));
        let bin = operator_binary();
        let mut command = match settings.operator_wrapper.split_first() {
            Some((wrapper, args)) => {
                let mut c = Command::new(wrapper);
                c.args(args).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        let child = command
            .env("KUBECONFIG", support::kubeconfig_path())
            .env("RUST_LOG", &settings.operator_log)
            .env_remove("FAILPOINTS")
            .args(["--namespaces", &namespaces.join(",")])
            .args([
                "--resync",
                &format!("{}ms", settings.resync.as_millis()),
                "--metrics-addr",
                &format!("127.0.0.1:{port}"),
                "--log-format",
                "text",
                "--identity",
                &format!("bench-{run}"),
            ])
            .args(&settings.operator_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("create the operator's log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("start {bin}: {e}"));
        Self {
            pid: child.id(),
            child,
            wrapped: !settings.operator_wrapper.is_empty(),
            metrics_url: format!("http://127.0.0.1:{port}/metrics"),
            log,
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Panics (with the end of its log) if the operator has exited.
    fn assert_alive(&mut self, when: &str) {
        if let Some(status) = self.child.try_wait().expect("wait for the operator") {
            panic!(
                "the operator exited ({status}) {when}; the end of {}:\n{}",
                self.log.display(),
                self.log_tail()
            );
        }
    }

    async fn try_metrics(&self) -> Option<String> {
        let resp = reqwest::get(&self.metrics_url).await.ok()?;
        resp.error_for_status().ok()?.text().await.ok()
    }

    async fn metrics(&mut self) -> String {
        self.assert_alive("before its /metrics was read");
        match self.try_metrics().await {
            Some(text) => text,
            None => panic!("cannot read {}", self.metrics_url),
        }
    }

    /// Waits until /metrics answers.
    async fn wait_up(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.try_metrics().await.is_none() {
            self.assert_alive("at start");
            assert!(
                Instant::now() < deadline,
                "the operator's /metrics did not answer within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if self.wrapped {
            self.pid = descendant_named(self.child.id(), "ssoperator")
                .expect("the operator among the wrapper's descendants");
            eprintln!("operator pid {} (under the wrapper)", self.pid);
        }
    }

    /// A `VmHWM:`-style field of /proc/<pid>/status, in KiB.
    fn status_kib(&self, field: &str) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .unwrap_or_else(|e| panic!("read /proc/{}/status: {e}", self.pid));
        text.lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/{}/status", self.pid))
    }

    /// User + system CPU time so far, in clock ticks (fields 14 and 15 of /proc/<pid>/stat).
    fn cpu_ticks(&self) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .unwrap_or_else(|e| panic!("read /proc/{}/stat: {e}", self.pid));
        // The command name (field 2) may hold spaces; count fields after its closing ')'.
        let rest = &text[text.rfind(')').expect("a /proc stat line") + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| -> u64 { fields[i - 3].parse().expect("a tick count") };
        field(14) + field(15)
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if self.wrapped {
            // A graceful stop, so that a profiler writes its data (2 minutes at most).
            let _ = Command::new("kill")
                .args(["-TERM", &self.pid.to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(120);
            while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first process below `root` (depth first) whose command name is `name`.
fn descendant_named(root: u32, name: &str) -> Option<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut todo = vec![root];
    while let Some(pid) = todo.pop() {
        for &c in children.get(&pid).into_iter().flatten() {
            let comm = std::fs::read_to_string(format!("/proc/{c}/comm")).unwrap_or_default();
            if comm.trim() == name {
                return Some(c);
            }
            todo.push(c);
        }
    }
    None
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Ready=True for the current generation.
fn is_ready(o: &EnterpriseConnection) -> bool {
    o.status.as_ref().is_some_and(|s| {
        s.observed_generation == o.metadata.generation
            && s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

/// Objects of the run that exist, and how many of them are Ready.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    present: usize,
    ready: usize,
}

/// Watches the run's EnterpriseConnections in every namespace and publishes their counts, so that
/// waiting costs a watch, not a list of N objects every poll.
fn track(api: Api<EnterpriseConnection>, selector: &str) -> watch::Receiver<Counts> {
    let (tx, rx) = watch::channel(Counts::default());
    let stream = watcher(api, watcher::Config::default().labels(selector)).default_backoff();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        let mut objects: HashMap<String, bool> = HashMap::new();
        let mut ready = 0usize;
        let mut init: Option<HashMap<String, bool>> = None;
        let key = |o: &EnterpriseConnection| {
            format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any())
        };
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Apply(o)) => {
                    let now = is_ready(&o);
                    if objects.insert(key(&o), now) == Some(true) {
                        ready -= 1;
                    }
                    ready += usize::from(now);
                }
                Ok(watcher::Event::Delete(o)) => {
                    if objects.remove(&key(&o)) == Some(true) {
                        ready -= 1;
                    }
                }
                Ok(watcher::Event::Init) => init = Some(HashMap::new()),
                Ok(watcher::Event::InitApply(o)) => {
                    init.get_or_insert_default().insert(key(&o), is_ready(&o));
                }
                Ok(watcher::Event::InitDone) => {
                    objects = init.take().unwrap_or_default();
                    ready = objects.values().filter(|r| **r).count();
                }
                Err(e) => eprintln!("bench: watch of the resources: {e} (retrying)"),
            }
            tx.send_replace(Counts {
                present: objects.len(),
                ready,
            });
        }
    });
    rx
}

/// Waits until `done` holds for the counts, failing at `deadline` or if the operator exits.
/// Long runs print progress every 15 s.
async fn wait_for(
    counts: &mut watch::Receiver<Counts>,
    operator: &mut Operator,
    deadline: Instant,
    what: &str,
    done: impl Fn(Counts) -> bool,
) {
    let start = Instant::now();
    let mut next_report = start + Duration::from_secs(15);
    loop {
        let now = *counts.borrow_and_update();
        if done(now) {
            return;
        }
        operator.assert_alive(&format!("while waiting for {what}"));
        let t = Instant::now();
        assert!(
            t < deadline,
            "{what}: not reached after {:.0?} ({} present, {} Ready); the end of {}:\n{}",
            start.elapsed(),
            now.present,
            now.ready,
            operator.log.display(),
            operator.log_tail()
        );
        if t >= next_report {
            eprintln!(
                "bench: {what}: {} present, {} Ready after {:.0?}",
                now.present,
                now.ready,
                start.elapsed()
            );
            next_report += Duration::from_secs(15);
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), counts.changed()).await;
    }
}

/// The status of every resource of the run, by `namespace/name`.
async fn statuses(client: &kube::Client, selector: &str) -> BTreeMap<String, serde_json::Value> {
    let api: Api<EnterpriseConnection> = Api::all(client.clone());
    let list = api
        .list(&ListParams::default().labels(selector))
        .await
        .expect("list the resources");
    list.items
        .into_iter()
        .map(|o| {
            let key = format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any());
            (key, serde_json::to_value(&o.status).unwrap_or_default())
        })
        .collect()
}

/// Emulator calls (`METHOD /route`) by operation, in a fixed order.
fn by_operation(calls: &BTreeMap<String, u64>) -> Vec<(&'static str, u64)> {
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

fn calls_text(calls: &BTreeMap<String, u64>, rate_limited: u64) -> String {
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
fn operator_429s(metrics: &str) -> u64 {
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
fn reconciles_in_flight(metrics: &str) -> u64 {
    (sum_samples(metrics, "ssoperator_reconciles_total")
        - sum_samples(metrics, "ssoperator_reconcile_duration_seconds_count"))
    .max(0.0) as u64
}

/// A counter of the operator's /metrics per `kind` label.
fn per_kind(metrics: &str, name: &str) -> BTreeMap<String, u64> {
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
fn status_writes_text(before: &str, after: &str) -> (u64, String) {
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
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(String::from))
        .unwrap_or_else(|| "?".into())
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[tokio::main]
async fn main() {
    let s = Settings::from_env();
    let run = support::random_suffix(6);
    let selector = format!("ssoperator.io/bench={run}");
    let client = support::client().await;
    support::install_crds(&client).await;

    let clerk = ClerkEmulator::with_instance(CLERK_SECRET_KEY, "bench");
    clerk.core().set_window_limit(s.limit);
    let server = serve(clerk.router(), ([127, 0, 0, 1], 0).into())
        .await
        .expect("serve the Clerk emulator");

    let mut namespaces = Vec::new();
    for _ in 0..s.namespaces {
        namespaces.push(support::temp_namespace(&client).await);
    }
    let (rps, burst) = s.rate_limit();
    let pp = PatchParams::apply("ssoperator-bench").force();
    for ns in &namespaces {
        let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), ns);
        secrets
            .patch(
                "clerk",
                &pp,
                &Patch::Apply(json!({"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": "clerk"}, "stringData": {"secretKey": CLERK_SECRET_KEY}})),
            )
            .await
            .expect("apply the credentials Secret");
        let pcs: Api<ProviderConfig> = Api::namespaced(client.clone(), ns);
        pcs.patch(
            "clerk",
            &pp,
            &Patch::Apply(
                json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "ProviderConfig",
                "metadata": {"name": "clerk"},
                "spec": {"clerk": {}, "credentialsSecretRef": {"name": "clerk"},
                         "endpoint": server.url(),
                         "rateLimit": {"requestsPerSecond": rps, "burst": burst}}}),
            ),
        )
        .await
        .expect("apply the ProviderConfig");
    }

    let load_at_start = load_average();
    let mut operator = Operator::start(&namespaces, &s, &run);
    operator.wait_up().await;
    let mut counts = track(Api::all(client.clone()), &selector);
    let limit_text = match s.limit {
        Some(l) => format!(
            "{} ({l}: bucket of {}, refilled {}/s)",
            s.limit_name,
            l.requests,
            l.per_second()
        ),
        None => "none".into(),
    };
    eprintln!(
        "bench: N={} in {} namespace(s), Clerk limit {limit_text}, resync {:?}, operator {} (pid {}, log {})",
        s.n,
        s.namespaces,
        s.resync,
        operator_binary(),
        operator.pid,
        operator.log.display()
    );

    // Create N connections, APPLY_CONCURRENCY at a time, and time until all are Ready.
    let start = Instant::now();
    stream::iter(0..s.n)
        .for_each_concurrent(APPLY_CONCURRENCY, |i| {
            let ecs: Api<EnterpriseConnection> =
                Api::namespaced(client.clone(), &namespaces[i % namespaces.len()]);
            let (pp, run) = (pp.clone(), run.clone());
            async move {
                let name = format!("conn-{i:05}");
                let doc = json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
                    "metadata": {"name": name, "labels": {"ssoperator.io/bench": run}},
                    "spec": {"providerConfigRef": {"name": "clerk"}, "name": format!("Tenant {i}"),
                             "domains": [format!("tenant-{i}.example")], "deletionPolicy": "Delete",
                             "saml": {"idpMetadataUrl": format!("https://idp.example/{i}/metadata")}}});
                ecs.patch(&name, &pp, &Patch::Apply(doc))
                    .await
                    .unwrap_or_else(|e| panic!("apply {name}: {e}"));
            }
        })
        .await;
    let applied = start.elapsed();
    let n = s.n;
    wait_for(
        &mut counts,
        &mut operator,
        start + s.timeout(),
        "all Ready",
        |c| c.ready == n,
    )
    .await;
    let ready = start.elapsed();
    tokio::time::sleep(SETTLE).await;
    let converge_calls = clerk.core().calls();
    let converge_429 = clerk.core().rate_limited_calls();
    let converge_metrics = operator.metrics().await;
    let (status_writes, status_writes_by_kind) = status_writes_text("", &converge_metrics);
    let remote = clerk.count_connections();
    assert_eq!(remote, n, "one remote object per resource");

    // Each ProviderConfig's `status.usedBy` counts the resources that use it; it may lag behind
    // the resources until the ProviderConfig's own resync. Wait for it, so that the quiet resync
    // below starts from a steady state.
    let used_by_lag = {
        let start = Instant::now();
        let deadline = start + s.resync * 2 + Duration::from_secs(30);
        loop {
            let mut behind = Vec::new();
            for (k, ns) in namespaces.iter().enumerate() {
                let want = (k..n).step_by(namespaces.len()).count() as u32;
                let pcs: Api<ProviderConfig> = Api::namespaced(client.clone(), ns);
                let pc = pcs.get("clerk").await.expect("read the ProviderConfig");
                let used_by = pc.status.and_then(|st| st.used_by).unwrap_or(0);
                if used_by != want {
                    behind.push(format!("{ns}: usedBy {used_by} of {want}"));
                }
            }
            if behind.is_empty() {
                break start.elapsed();
            }
            operator.assert_alive("while waiting for the ProviderConfigs' usedBy");
            assert!(
                Instant::now() < deadline,
                "ProviderConfig usedBy still behind after {:.0?}: {}",
                start.elapsed(),
                behind.join("; ")
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    // Reconciles that started before (a resource's last no-op reconcile after its own status
    // write, waiting for the rate-limit gate) are not part of the quiet resync: wait (30 s at
    // most) until none is in flight.
    let in_flight = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let in_flight = reconciles_in_flight(&operator.metrics().await);
            if in_flight == 0 || Instant::now() >= deadline {
                break in_flight;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let settled_metrics = operator.metrics().await;

    // One resync period with nothing to do: what does it cost?
    let statuses_before = statuses(&client, &selector).await;
    clerk.core().reset_calls();
    let (cpu_before, quiet_start) = (operator.cpu_ticks(), Instant::now());
    tokio::time::sleep(s.resync + s.resync / 5).await;
    operator.assert_alive("during the quiet resync");
    let quiet_metrics = operator.metrics().await;
    let (cpu_after, quiet) = (operator.cpu_ticks(), quiet_start.elapsed());
    let (hwm, rss) = (operator.status_kib("VmHWM"), operator.status_kib("VmRSS"));
    eprintln!(
        "bench: operator VmHWM {:.1} MiB, VmRSS {:.1} MiB after the quiet resync",
        hwm as f64 / 1024.0,
        rss as f64 / 1024.0
    );
    let resync_calls = clerk.core().calls();
    let resync_429 = clerk.core().rate_limited_calls();
    let resync_writes = clerk.core().writes();
    let (resync_status, resync_status_text) = status_writes_text(&settled_metrics, &quiet_metrics);
    let resync_reconciles = (sum_samples(&quiet_metrics, "ssoperator_reconciles_total")
        - sum_samples(&settled_metrics, "ssoperator_reconciles_total"))
        as u64;
    let idle_cpu =
        (cpu_after - cpu_before) as f64 / clock_ticks_per_second() / quiet.as_secs_f64() * 100.0;
    if resync_status > 0 {
        // Say which statuses changed, so that a failure below can be acted on.
        let after = statuses(&client, &selector).await;
        let changed: Vec<String> = after
            .iter()
            .filter(|(k, v)| statuses_before.get(*k) != Some(*v))
            .take(5)
            .map(|(k, v)| {
                let before = statuses_before
                    .get(k)
                    .map(|b| b.to_string())
                    .unwrap_or_default();
                format!("  {k}\n    before: {before}\n    after:  {v}")
            })
            .collect();
        eprintln!(
            "bench: statuses that changed during the quiet resync (EnterpriseConnections, up to 5):\n{}",
            changed.join("\n")
        );
    }

    // Delete them all (deletionPolicy Delete) while the operator runs, so that nothing is left.
    // (The bare control plane runs no namespace controller, so deleting the namespace would not.)
    clerk.core().reset_calls();
    let start = Instant::now();
    for ns in &namespaces {
        let ecs: Api<EnterpriseConnection> = Api::namespaced(client.clone(), ns);
        ecs.delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels(&selector),
        )
        .await
        .expect("delete the resources");
    }
    wait_for(
        &mut counts,
        &mut operator,
        start + s.timeout(),
        "all deleted",
        |c| c.present == 0,
    )
    .await;
    let deleted = start.elapsed();
    let delete_calls = clerk.core().calls();
    let delete_429 = clerk.core().rate_limited_calls();
    let left = clerk.count_connections();

    let per_resource = |x: u64| x as f64 / n as f64;
    let floor_text = match (s.floor(), s.burst_floor()) {
        (Some(floor), Some(burst_floor)) => format!(
            "{} = {} calls / {}/s (after the first window's burst of {}: {})",
            secs(floor),
            s.floor_calls(),
            s.limit.map(|l| l.per_second()).unwrap_or_default(),
            s.limit.map(|l| l.requests).unwrap_or_default(),
            secs(burst_floor)
        ),
        _ => "n/a (no limit)".into(),
    };
    let ratio = s
        .floor()
        .map(|f| format!("{:.2}", ready.as_secs_f64() / f.as_secs_f64()))
        .unwrap_or_else(|| "n/a".into());
    let rows: Vec<(&str, String)> = vec![
        ("N", n.to_string()),
        ("namespaces", s.namespaces.to_string()),
        ("Clerk limit (emulator)", limit_text.clone()),
        (
            "operator rateLimit",
            format!("{rps}/s, burst {burst} (its gate runs at 90 %)"),
        ),
        ("resync", format!("{:?}", s.resync)),
        ("applied in", secs(applied)),
        ("time to all Ready", secs(ready)),
        (
            "resources/s",
            format!("{:.1}", n as f64 / ready.as_secs_f64()),
        ),
        (
            "floor calls",
            format!(
                "{} = {n} creates + {} list pages of {CLERK_PAGE}",
                s.floor_calls(),
                n.div_ceil(CLERK_PAGE)
            ),
        ),
        ("floor time", floor_text),
        ("ratio (time to Ready / floor time)", ratio.clone()),
        (
            "provider calls to converge",
            calls_text(&converge_calls, converge_429),
        ),
        (
            "  429s the operator saw / rate-limit waits",
            format!(
                "{} / {}",
                operator_429s(&converge_metrics),
                sum_samples(&converge_metrics, "ssoperator_rate_limit_waits_total") as u64
            ),
        ),
        (
            "status writes to converge",
            format!(
                "{status_writes_by_kind}; {:.2} per resource",
                per_resource(status_writes)
            ),
        ),
        (
            "ProviderConfig usedBy caught up",
            format!(
                "{} after all Ready (status writes meanwhile: {})",
                secs(used_by_lag),
                status_writes_text(&converge_metrics, &settled_metrics).1
            ),
        ),
        (
            "reconciles in flight at its start",
            format!("{in_flight} (waited up to 30 s for 0)"),
        ),
        (
            "quiet resync: provider calls",
            format!(
                "{} ({:.2} per resource; writes {resync_writes})",
                calls_text(&resync_calls, resync_429),
                per_resource(resync_calls.values().sum::<u64>())
            ),
        ),
        ("quiet resync: status writes", resync_status_text),
        ("quiet resync: reconciles", resync_reconciles.to_string()),
        ("operator VmHWM", mib(hwm)),
        ("operator VmRSS after the quiet resync", mib(rss)),
        (
            "operator idle CPU over the quiet resync",
            format!("{idle_cpu:.1} % of one core ({})", secs(quiet)),
        ),
        ("time to all deleted", secs(deleted)),
        (
            "provider calls to delete",
            calls_text(&delete_calls, delete_429),
        ),
        ("remote objects left", left.to_string()),
        (
            "machine",
            format!(
                "{} cores, load average {load_at_start} at start, {} at end",
                std::thread::available_parallelism().map_or(0, |p| p.get()),
                load_average()
            ),
        ),
    ];
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    println!(
        "\nscale benchmark: {n} Clerk EnterpriseConnections in {} namespace(s), limit {}, resync {:?}, operator {}",
        s.namespaces,
        s.limit_name,
        s.resync,
        operator_binary()
    );
    println!("| {:width$} | value |", "measure");
    println!("|{}|-------|", "-".repeat(width + 2));
    for (k, v) in &rows {
        println!("| {k:width$} | {v} |");
    }
    // One line for the README's results table.
    let by_op = |calls: &BTreeMap<String, u64>| {
        by_operation(calls)
            .iter()
            .map(|(op, c)| format!("{op} {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "README row: | {n} | {} | {} | {} | {:.1} | {ratio} | {} | {converge_429} | {:.2} | {} | {resync_status} | {} | {} | {idle_cpu:.1} % | {} |",
        s.namespaces,
        s.limit_name,
        secs(ready),
        n as f64 / ready.as_secs_f64(),
        by_op(&converge_calls),
        per_resource(status_writes),
        resync_calls.values().sum::<u64>(),
        mib(hwm),
        mib(rss),
        secs(deleted),
    );

    assert_eq!(left, 0, "remote objects left after deleting every resource");
    assert_eq!(resync_writes, 0, "a quiet resync wrote to the provider");
    assert_eq!(resync_status, 0, "a quiet resync wrote status");
    assert!(
        resync_reconciles > 0,
        "the operator reconciled nothing during a resync period (is it stuck?)"
    );

    // Tidy up: the ProviderConfigs (their in-use finalizer goes with the last resource), then the
    // operator and the namespaces.
    for ns in &namespaces {
        let pcs: Api<ProviderConfig> = Api::namespaced(client.clone(), ns);
        let _ = pcs.delete("clerk", &DeleteParams::default()).await;
    }
    let tidy = Instant::now() + Duration::from_secs(15);
    for ns in &namespaces {
        let pcs: Api<ProviderConfig> = Api::namespaced(client.clone(), ns);
        while Instant::now() < tidy && matches!(pcs.get_opt("clerk").await, Ok(Some(_))) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    drop(operator);
    for ns in &namespaces {
        support::delete_namespace(&client, ns).await;
    }
}
