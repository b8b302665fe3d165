//! Scale benchmark: N Clerk EnterpriseConnections on a real kube-apiserver, reconciled by the
//! operator as its own process (the `ssoperator` binary cargo builds for this target) against the
//! Clerk emulator enforcing Clerk's published Backend API limit; each resource names its tenant's
//! IdP metadata URL, served on loopback. Prints one table per run: time to all Ready against the
//! floor the limit allows, provider calls by operation, status writes, the API server's writes
//! and the CPU it and the operator used, the cost of one quiet resync, the operator's memory and
//! idle CPU, and the time to delete it all.
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
//! - `SCALE_IDP_HOSTS`: serve the tenants' IdP metadata from this many hosts, each a loopback
//!   address of its own (127.1.x.y), tenant i from host i mod hosts (default 1: 127.0.0.1). Tenants'
//!   IdPs are mostly hosts of their own; the operator's HTTP client pools connections per host.
//! - `SCALE_OPERATOR_BINARY`: run this operator binary instead of cargo's build, e.g. the image's
//!   static musl one: `SCALE_OPERATOR_BINARY=$(scripts/build-static.sh | tail -n 1)`.

// Benchmark code: a panic with a message is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../tests/e2e/support.rs"]
#[allow(dead_code)]
mod support;

#[path = "../../tests/e2e/idp.rs"]
#[allow(dead_code)]
mod idp;

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
use ssoperator_emulators::{
    Running, WindowLimit, clerk::ClerkEmulator, demo::CLERK_SECRET_KEY, serve,
};
use tokio::sync::watch;

mod apiserver;
mod figures;
mod operator;
mod report;
mod settings;
mod track;

use apiserver::*;
use figures::*;
use operator::{Operator, clock_ticks_per_second};
use settings::*;
use track::*;

/// Clerk's largest page of `GET /v1/enterprise_connections` (`limit` at most 500).
const CLERK_PAGE: usize = 500;
/// Resources applied at once.
const APPLY_CONCURRENCY: usize = 16;
/// Pause between "all Ready" and the convergence figures, so that the operator's counters include
/// the status writes the watch has already shown.
const SETTLE: Duration = Duration::from_secs(1);

#[tokio::main]
async fn main() {
    let mut run = Run::start().await;
    let converged = run.converge().await;
    let settled = run.settle().await;
    let quiet = run.quiet_resync(&settled).await;
    let deleted = run.delete_all().await;
    report::print(&run, &converged, &settled, &quiet, &deleted);

    assert_eq!(
        deleted.left, 0,
        "remote objects left after deleting every resource"
    );
    assert_eq!(quiet.writes, 0, "a quiet resync wrote to the provider");
    assert_eq!(quiet.status_writes, 0, "a quiet resync wrote status");
    assert!(
        quiet.reconciles > 0,
        "the operator reconciled nothing during a resync period (is it stuck?)"
    );
    run.tidy_up().await;
}

/// The tenants' IdPs on loopback: `/idp/{i}/metadata` answers SAML metadata that publishes one
/// signing certificate (the same for all), as a working IdP would. The operator fetches it and
/// sends the certificate to Clerk with the create. With more than one host each listens on an
/// address of its own (127.1.x.y; Linux routes all of 127/8 to loopback), so that the operator's
/// HTTP client sees as many hosts as tenants have IdPs.
async fn serve_idp_metadata(hosts: usize) -> Vec<Running> {
    let router = idp::tenants("bench-idp");
    let mut served = Vec::with_capacity(hosts);
    for k in 0..hosts {
        let ip = if hosts == 1 {
            [127, 0, 0, 1]
        } else {
            [127, 1, (k / 250) as u8, (k % 250 + 1) as u8]
        };
        served.push(
            serve(router.clone(), (ip, 0).into())
                .await
                .expect("serve the IdP metadata"),
        );
    }
    served
}

/// One benchmark run: the Clerk emulator, the namespaces with their credentials and
/// ProviderConfig, the operator process, and the watch that counts the run's resources.
struct Run {
    s: Settings,
    run: String,
    selector: String,
    client: kube::Client,
    clerk: ClerkEmulator,
    /// The emulator's server; serves as long as the run.
    _server: Running,
    /// The IdPs' metadata (one document at a URL per resource), as long as the run.
    idp: Vec<Running>,
    namespaces: Vec<String>,
    pp: PatchParams,
    operator: Operator,
    counts: watch::Receiver<Counts>,
    load_at_start: String,
    limit_text: String,
}

/// Creating N connections until all are Ready.
struct Converged {
    applied: Duration,
    ready: Duration,
    calls: BTreeMap<String, u64>,
    rate_limited: u64,
    metrics: String,
    status_writes: u64,
    status_writes_by_kind: String,
    /// What the API server served and the CPU time it used meanwhile.
    apiserver: ApiServerWork,
    /// The operator's CPU time meanwhile, in seconds.
    operator_cpu: f64,
}

/// The steady state before the quiet resync.
struct Settled {
    used_by_lag: Duration,
    in_flight: u64,
    metrics: String,
}

/// One resync period with nothing to do.
struct Quiet {
    calls: BTreeMap<String, u64>,
    rate_limited: u64,
    writes: u64,
    status_writes: u64,
    status_writes_text: String,
    reconciles: u64,
    /// List sweeps of the account (all pages each) in the window.
    sweeps: u64,
    idle_cpu: f64,
    duration: Duration,
    hwm: u64,
    rss: u64,
}

/// Deleting everything.
struct Deleted {
    duration: Duration,
    calls: BTreeMap<String, u64>,
    rate_limited: u64,
    left: usize,
}

impl Run {
    /// The emulator, the namespaces with one ProviderConfig each, and the operator, up.
    async fn start() -> Self {
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
        let idp = serve_idp_metadata(s.idp_hosts).await;

        let mut namespaces = Vec::new();
        for _ in 0..s.namespaces {
            namespaces.push(support::temp_namespace(&client).await);
        }
        let (rps, burst) = s.rate_limit();
        let pp = PatchParams::apply("ssoperator-bench").force();
        for ns in &namespaces {
            let secrets: Api<k8s_openapi::api::core::v1::Secret> =
                Api::namespaced(client.clone(), ns);
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
        let counts = track(Api::all(client.clone()), &selector);
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
        Self {
            s,
            run,
            selector,
            client,
            clerk,
            _server: server,
            idp,
            namespaces,
            pp,
            operator,
            counts,
            load_at_start,
            limit_text,
        }
    }

    /// Creates N connections, APPLY_CONCURRENCY at a time, and times until all are Ready.
    async fn converge(&mut self) -> Converged {
        let (client, namespaces) = (&self.client, &self.namespaces);
        let idps: Vec<String> = self.idp.iter().map(Running::url).collect();
        let apiserver_before = ApiServerReading::take(client).await;
        let operator_cpu_before = self.operator.cpu_ticks();
        let start = Instant::now();
        stream::iter(0..self.s.n)
            .for_each_concurrent(APPLY_CONCURRENCY, |i| {
                let ecs: Api<EnterpriseConnection> =
                    Api::namespaced(client.clone(), &namespaces[i % namespaces.len()]);
                let (pp, run) = (self.pp.clone(), self.run.clone());
                let idp = idps[i % idps.len()].clone();
                async move {
                    let name = format!("conn-{i:05}");
                    let doc = json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
                        "metadata": {"name": name, "labels": {"ssoperator.io/bench": run}},
                        "spec": {"providerConfigRef": {"name": "clerk"}, "name": format!("Tenant {i}"),
                                 "domains": [format!("tenant-{i}.example")], "deletionPolicy": "Delete",
                                 "saml": {"idpMetadataUrl": format!("{idp}/idp/{i}/metadata")}}});
                    ecs.patch(&name, &pp, &Patch::Apply(doc))
                        .await
                        .unwrap_or_else(|e| panic!("apply {name}: {e}"));
                }
            })
            .await;
        let applied = start.elapsed();
        let n = self.s.n;
        wait_for(
            &mut self.counts,
            &mut self.operator,
            start + self.s.timeout(),
            "all Ready",
            |c| c.ready == n,
        )
        .await;
        let ready = start.elapsed();
        tokio::time::sleep(SETTLE).await;
        let operator_cpu =
            (self.operator.cpu_ticks() - operator_cpu_before) as f64 / clock_ticks_per_second();
        let apiserver = ApiServerWork::between(
            &apiserver_before,
            &ApiServerReading::take(&self.client).await,
        );
        if !apiserver.requests.is_empty() {
            // The bench's own applies are among them: a check that the counts are read right.
            let applies = apiserver.requests.get("APPLY enterpriseconnections");
            assert!(
                applies.is_some_and(|a| *a >= n as u64),
                "the API server's request counts miss the bench's {n} applies: {:?}",
                apiserver.requests
            );
        }
        let calls = self.clerk.core().calls();
        let rate_limited = self.clerk.core().rate_limited_calls();
        let metrics = self.operator.metrics().await;
        let (status_writes, status_writes_by_kind) = status_writes_text("", &metrics);
        let remote = self.clerk.count_connections();
        assert_eq!(remote, n, "one remote object per resource");
        Converged {
            applied,
            ready,
            calls,
            rate_limited,
            metrics,
            status_writes,
            status_writes_by_kind,
            apiserver,
            operator_cpu,
        }
    }

    /// Waits for a steady state, so that the quiet resync starts from one.
    async fn settle(&mut self) -> Settled {
        let n = self.s.n;
        // Each ProviderConfig's `status.usedBy` counts the resources that use it; it may lag
        // behind the resources until the ProviderConfig's own resync. Wait for it.
        let used_by_lag = {
            let start = Instant::now();
            let deadline = start + self.s.resync * 2 + Duration::from_secs(30);
            loop {
                let mut behind = Vec::new();
                for (k, ns) in self.namespaces.iter().enumerate() {
                    let want = (k..n).step_by(self.namespaces.len()).count() as u32;
                    let pcs: Api<ProviderConfig> = Api::namespaced(self.client.clone(), ns);
                    let pc = pcs.get("clerk").await.expect("read the ProviderConfig");
                    let used_by = pc.status.and_then(|st| st.used_by).unwrap_or(0);
                    if used_by != want {
                        behind.push(format!("{ns}: usedBy {used_by} of {want}"));
                    }
                }
                if behind.is_empty() {
                    break start.elapsed();
                }
                self.operator
                    .assert_alive("while waiting for the ProviderConfigs' usedBy");
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
                let in_flight = reconciles_in_flight(&self.operator.metrics().await);
                if in_flight == 0 || Instant::now() >= deadline {
                    break in_flight;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        Settled {
            used_by_lag,
            in_flight,
            metrics: self.operator.metrics().await,
        }
    }

    /// One resync period with nothing to do: what does it cost?
    async fn quiet_resync(&mut self, settled: &Settled) -> Quiet {
        let (client, selector) = (&self.client, &self.selector);
        let statuses_before = statuses(client, selector).await;
        self.clerk.core().reset_calls();
        let (cpu_before, quiet_start) = (self.operator.cpu_ticks(), Instant::now());
        tokio::time::sleep(self.s.resync + self.s.resync / 5).await;
        self.operator.assert_alive("during the quiet resync");
        let quiet_metrics = self.operator.metrics().await;
        let (cpu_after, duration) = (self.operator.cpu_ticks(), quiet_start.elapsed());
        let (hwm, rss) = (
            self.operator.status_kib("VmHWM"),
            self.operator.status_kib("VmRSS"),
        );
        eprintln!(
            "bench: operator VmHWM {:.1} MiB, VmRSS {:.1} MiB after the quiet resync",
            hwm as f64 / 1024.0,
            rss as f64 / 1024.0
        );
        let calls = self.clerk.core().calls();
        let rate_limited = self.clerk.core().rate_limited_calls();
        let writes = self.clerk.core().writes();
        let (status_writes, status_writes_text) =
            status_writes_text(&settled.metrics, &quiet_metrics);
        let reconciles = (sum_samples(&quiet_metrics, "ssoperator_reconciles_total")
            - sum_samples(&settled.metrics, "ssoperator_reconciles_total"))
            as u64;
        let sweeps = (sum_samples(&quiet_metrics, "ssoperator_sweeps_total")
            - sum_samples(&settled.metrics, "ssoperator_sweeps_total")) as u64;
        let idle_cpu =
            (cpu_after - cpu_before) as f64 / clock_ticks_per_second() / duration.as_secs_f64()
                * 100.0;
        if status_writes > 0 {
            // Say which statuses changed, so that a failure below can be acted on.
            let after = statuses(client, selector).await;
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
        Quiet {
            calls,
            rate_limited,
            writes,
            status_writes,
            status_writes_text,
            reconciles,
            sweeps,
            idle_cpu,
            duration,
            hwm,
            rss,
        }
    }

    /// Deletes them all (deletionPolicy Delete) while the operator runs, so that nothing is
    /// left. (The bare control plane runs no namespace controller, so deleting the namespace
    /// would not.)
    async fn delete_all(&mut self) -> Deleted {
        self.clerk.core().reset_calls();
        let start = Instant::now();
        for ns in &self.namespaces {
            let ecs: Api<EnterpriseConnection> = Api::namespaced(self.client.clone(), ns);
            let lp = ListParams::default().labels(&self.selector);
            // A pooled connection left idle through the quiet resync can be closed under the
            // request (hyper's IncompleteMessage): a delete is safe to send again.
            let mut tries = 0;
            while let Err(e) = ecs.delete_collection(&DeleteParams::default(), &lp).await {
                tries += 1;
                assert!(tries < 3, "delete the resources: {e}");
                eprintln!("bench: deleting the resources failed ({e}); trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        wait_for(
            &mut self.counts,
            &mut self.operator,
            start + self.s.timeout(),
            "all deleted",
            |c| c.present == 0,
        )
        .await;
        Deleted {
            duration: start.elapsed(),
            calls: self.clerk.core().calls(),
            rate_limited: self.clerk.core().rate_limited_calls(),
            left: self.clerk.count_connections(),
        }
    }

    /// Tidy up: the ProviderConfigs (their in-use finalizer goes with the last resource), then
    /// the operator and the namespaces.
    async fn tidy_up(self) {
        for ns in &self.namespaces {
            let pcs: Api<ProviderConfig> = Api::namespaced(self.client.clone(), ns);
            let _ = pcs.delete("clerk", &DeleteParams::default()).await;
        }
        let tidy = Instant::now() + Duration::from_secs(15);
        for ns in &self.namespaces {
            let pcs: Api<ProviderConfig> = Api::namespaced(self.client.clone(), ns);
            while Instant::now() < tidy && matches!(pcs.get_opt("clerk").await, Ok(Some(_))) {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        drop(self.operator);
        for ns in &self.namespaces {
            support::delete_namespace(&self.client, ns).await;
        }
    }
}
