//! Two replicas of the operator binary with leader election: only the Lease holder reconciles, a
//! graceful shutdown hands the Lease over at once, and under faults (SIGKILL, SIGSTOP, a cut
//! connection to the API server) the old leader never writes once the new one may.
//!
//! Writes are counted per replica twice: by each replica's own metrics (status writes, provider
//! writes) and by the provider emulator, which tags every write with the caller's User-Agent
//! (`ssoperator/<version> (<identity>)`).

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use serde_json::json;
use ssoperator::{
    crd::EnterpriseConnection,
    leader::{CALL_TIMEOUT, LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD},
    metrics::{provider_writes, sum_samples},
};
use ssoperator_emulators::demo::DemoEmulators;
use tokio::{
    net::{TcpListener, TcpStream},
    time::Instant,
};

use crate::{
    operator::{apply, demo_account, patch_spec, ready, setup, wait_for},
    support,
};

mod controller;
mod cut_off;
mod handover;

const LEASE: &str = "ssoperator-leader";
/// The acceptance bound for a failover after SIGKILL (issue 9): lease 15 s plus 2 s.
const FAILOVER_BOUND: Duration = Duration::from_secs(17);

/// One operator process; killed when dropped. Its output goes to a file (the exit summary).
struct Replica {
    child: Child,
    identity: String,
    base: String,
    log: PathBuf,
}

impl Replica {
    fn start(ns: &str, identity: &str) -> Self {
        Self::start_with(ns, identity, support::kubeconfig_path(), &[], &[])
    }

    fn start_with(
        ns: &str,
        identity: &str,
        kubeconfig: &str,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Self {
        // A free port: bind, read it, let it go (the operator binds it a moment later).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let log = std::env::temp_dir().join(format!("ssoperator-e2e-{ns}-{identity}.log"));
        // tracing writes to stdout, panics to stderr: both into the log.
        let stdout = std::fs::File::create(&log).unwrap();
        let stderr = stdout.try_clone().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_ssoperator"))
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .args([
                "--namespaces",
                ns,
                "--leader-elect",
                "--lease-namespace",
                ns,
            ])
            .args(["--lease-name", LEASE, "--identity", identity])
            .args(if args.contains(&"--resync") {
                &[][..]
            } else {
                &["--resync", "2s"][..]
            })
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
            .args(["--log-format", "text", "--default-rate", "100"])
            .args(args)
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap();
        Self {
            child,
            identity: identity.to_string(),
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// One scrape of /metrics, or `None` when it does not answer within a second.
    async fn scrape(&self) -> Option<String> {
        let client = reqwest::Client::new();
        let resp = client
            .get(format!("{}/metrics", self.base))
            .timeout(Duration::from_secs(1))
            .send()
            .await
            .ok()?;
        resp.text().await.ok()
    }

    /// /metrics, waiting up to 30 s for the server to come up.
    async fn metrics(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(text) = self.scrape().await {
                return text;
            }
            assert!(Instant::now() < deadline, "{}: /metrics", self.identity);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Reconciles this replica has run (0 while it does not lead).
    async fn reconciles(&self) -> f64 {
        sum_samples(&self.metrics().await, "ssoperator_reconciles_total")
    }

    /// (status writes, provider writes) by this replica's own metrics.
    async fn writes(&self) -> (f64, f64) {
        let text = self.metrics().await;
        (
            sum_samples(&text, "ssoperator_status_writes_total"),
            provider_writes(&text),
        )
    }

    /// The HTTP status of /healthz, or `None` when it does not answer within a second.
    async fn healthz(&self) -> Option<u16> {
        let client = reqwest::Client::new();
        let resp = client
            .get(format!("{}/healthz", self.base))
            .timeout(Duration::from_secs(1))
            .send()
            .await
            .ok()?;
        Some(resp.status().as_u16())
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{sig} {pid}");
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Waits up to `within` for the process to exit by itself.
    async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, then wait for the process to exit.
    async fn stop(&mut self) {
        self.signal("TERM");
        let status = self.wait_exit(Duration::from_secs(20)).await;
        assert!(status.is_some(), "replica did not stop on SIGTERM");
    }

    /// Its output so far, without terminal colours.
    fn log(&self) -> String {
        let raw = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                // CSI: ESC [ params final-byte
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    /// (status writes, provider writes) from the summary the process logs when it exits on a
    /// lost lease or a stopped controller.
    fn exit_counts(&self) -> Option<(f64, f64)> {
        let log = self.log();
        let line = log
            .lines()
            .rev()
            .find(|l| l.contains("status_writes=") && l.contains("provider_writes="))?;
        let field = |name: &str| -> Option<f64> {
            let rest = line.split(&format!("{name}=")).nth(1)?;
            rest.split_whitespace().next()?.parse().ok()
        };
        Some((field("status_writes")?, field("provider_writes")?))
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

async fn holder(client: &Client, ns: &str) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), ns);
    leases.get_opt(LEASE).await.unwrap()?.spec?.holder_identity
}

async fn wait_holder(client: &Client, ns: &str, who: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while holder(client, ns).await.as_deref() != Some(who) {
        assert!(
            Instant::now() < deadline,
            "{who} did not take the lease within {within:?}; holder: {:?}",
            holder(client, ns).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A namespace with a Clerk ProviderConfig on the emulator.
async fn clerk_setup() -> (Client, String, DemoEmulators) {
    let (client, ns) = setup().await;
    let e = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
    demo_account(&client, &ns, "clerk", &e, "clerk").await;
    (client, ns, e)
}

async fn apply_okta(client: &Client, ns: &str) {
    apply(client, ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
        "metadata": {"name": "okta"},
        "spec": {"providerConfigRef": {"name": "clerk"}, "name": "Okta", "domains": ["okta.example"],
                 "saml": {"idpMetadataUrl": "https://okta.example/metadata"}}}))
    .await;
    wait_for::<EnterpriseConnection>(client, ns, "okta", "Ready", ready).await;
}

/// Edits the connection's name and waits until the edit is carried out: the provider has the
/// new name and the resource is Ready at the new generation. Returns the time from `since`.
async fn edit_and_wait(
    client: &Client,
    ns: &str,
    e: &DemoEmulators,
    name: &str,
    since: Instant,
) -> Duration {
    patch_spec::<EnterpriseConnection>(client, ns, "okta", json!({"name": name})).await;
    let api: Api<EnterpriseConnection> = Api::namespaced(client.clone(), ns);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let o = api.get("okta").await.unwrap();
        let generation = o.metadata.generation;
        let observed = o.status.as_ref().and_then(|s| s.observed_generation);
        let remote = e.clerk.snapshot().to_string();
        if ready(&o) && observed == generation && remote.contains(&format!("\"{name}\"")) {
            return since.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "the edit to {name:?} was not carried out; status {:?}; remote {remote}",
            o.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn print_writes(test: &str, e: &DemoEmulators) {
    eprintln!(
        "{test}: provider writes per User-Agent: {:?}",
        e.clerk.core().writes_per_agent()
    );
}
