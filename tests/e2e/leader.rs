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
use ssoperator_emulators::demo::{self, DemoEmulators};
use tokio::{
    net::{TcpListener, TcpStream},
    time::Instant,
};

use crate::{
    operator::{apply, patch_spec, provider_config, ready, secret, setup, wait_for},
    support,
};

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
    secret(
        &client,
        &ns,
        "creds",
        &[("secretKey", demo::CLERK_SECRET_KEY)],
    )
    .await;
    provider_config(
        &client,
        &ns,
        "clerk",
        json!({"clerk": {}}),
        "creds",
        &e.endpoints()["clerk"],
    )
    .await;
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

#[tokio::test]
async fn only_the_leader_reconciles_and_a_graceful_stop_hands_over() {
    let (client, ns, e) = clerk_setup().await;
    let mut a = Replica::start(&ns, "replica-a");
    wait_holder(&client, &ns, "replica-a", Duration::from_secs(30)).await;
    let b = Replica::start(&ns, "replica-b");

    apply_okta(&client, &ns).await;
    assert!(a.reconciles().await > 0.0, "the leader did not reconcile");
    assert_eq!(b.reconciles().await, 0.0, "the standby reconciled");
    assert_eq!(holder(&client, &ns).await.as_deref(), Some("replica-a"));
    assert_eq!(e.clerk.core().writes_by("replica-b"), 0);

    // A graceful stop releases the lease: the standby takes over long before it would expire.
    a.stop().await;
    let handover = Instant::now();
    wait_holder(
        &client,
        &ns,
        "replica-b",
        LEASE_DURATION - Duration::from_secs(5),
    )
    .await;
    eprintln!("lease handed over in {:?}", handover.elapsed());

    edit_and_wait(&client, &ns, &e, "Okta EU", Instant::now()).await;
    assert!(
        b.reconciles().await > 0.0,
        "the new leader did not reconcile"
    );
    assert_eq!(e.clerk.count_connections(), 1);
    assert!(e.clerk.core().writes_by("replica-b") > 0);
}

/// SIGKILL of the leader, three times in a row: each time the standby carries out a spec edit made right
/// after the kill within 17 s.
#[tokio::test]
async fn leader_sigkill_the_standby_carries_out_an_edit_within_17_seconds() {
    let (client, ns, e) = clerk_setup().await;
    let mut leader = Replica::start(&ns, "kill-a");
    wait_holder(&client, &ns, "kill-a", Duration::from_secs(30)).await;
    let mut standbys = vec![
        Replica::start(&ns, "kill-b"),
        Replica::start(&ns, "kill-c"),
        Replica::start(&ns, "kill-d"),
    ];
    apply_okta(&client, &ns).await;

    for r in &standbys {
        r.metrics().await;
    }
    let mut figures = vec![];
    for (round, name) in ["Okta EU", "Okta US", "Okta AP"].into_iter().enumerate() {
        // Let the standbys settle (they have seen renewals), as in a running cluster.
        tokio::time::sleep(RETRY_PERIOD * 2).await;
        let killed = Instant::now();
        leader.child.kill().unwrap();
        let _ = leader.child.wait();
        let took = edit_and_wait(&client, &ns, &e, name, killed).await;
        let now = holder(&client, &ns).await;
        eprintln!(
            "failover after SIGKILL (round {}): {now:?} carried out the spec edit {:.2} s after the kill",
            round + 1,
            took.as_secs_f64()
        );
        figures.push(took);
        // The next round kills the new leader.
        let next = standbys
            .iter()
            .position(|r| Some(r.identity.as_str()) == now.as_deref())
            .unwrap_or_else(|| panic!("the holder {now:?} is no standby"));
        leader = standbys.remove(next);
    }
    print_writes("sigkill", &e);
    assert_eq!(e.clerk.count_connections(), 1);
    let tagged: u64 = ["kill-a", "kill-b", "kill-c", "kill-d"]
        .iter()
        .map(|r| e.clerk.core().writes_by(r))
        .sum();
    assert_eq!(tagged, e.clerk.core().writes(), "writes by no replica");
    for (i, took) in figures.iter().enumerate() {
        assert!(
            *took <= FAILOVER_BOUND,
            "round {}: the edit took {took:?} after SIGKILL (bound {FAILOVER_BOUND:?})",
            i + 1
        );
    }
}

/// SIGSTOP of the leader for longer than the lease, a spec edit meanwhile, SIGCONT: the standby
/// carries the edit out, and the old leader, once running again, makes no provider write and no
/// status write; it exits non-zero by itself (so it did run after SIGCONT).
#[tokio::test]
async fn leader_sigstop_then_sigcont_the_old_leader_writes_nothing() {
    let (client, ns, e) = clerk_setup().await;
    let mut a = Replica::start(&ns, "stop-a");
    wait_holder(&client, &ns, "stop-a", Duration::from_secs(30)).await;
    let b = Replica::start(&ns, "stop-b");
    apply_okta(&client, &ns).await;
    b.metrics().await;
    tokio::time::sleep(RETRY_PERIOD * 2).await;

    let (status0, provider0) = a.writes().await;
    let emulator0 = e.clerk.core().writes_by("stop-a");
    assert!(
        provider0 >= 1.0 && emulator0 >= 1,
        "the leader created the connection"
    );
    let stopped = Instant::now();
    a.signal("STOP");
    let took = edit_and_wait(&client, &ns, &e, "Okta EU", stopped).await;
    eprintln!(
        "failover after SIGSTOP: stop-b carried out the spec edit {:.2} s after the stop",
        took.as_secs_f64()
    );
    assert_eq!(holder(&client, &ns).await.as_deref(), Some("stop-b"));
    // Stopped for longer than the lease in any case.
    let resume_at = stopped + LEASE_DURATION + Duration::from_secs(5);
    tokio::time::sleep_until(resume_at).await;
    a.signal("CONT");
    let resumed = Instant::now();

    // Once running, it sees its renew deadline long gone: it stops its controllers and exits.
    let status = a
        .wait_exit(RETRY_PERIOD + CALL_TIMEOUT + Duration::from_secs(5))
        .await;
    let log = a.log();
    let counts = a.exit_counts();
    eprintln!(
        "after SIGCONT stop-a exited after {:?} with {status:?}",
        resumed.elapsed()
    );
    // Meanwhile the new leader goes on writing (another edit), so its writes are counted too.
    edit_and_wait(&client, &ns, &e, "Okta US", Instant::now()).await;
    print_writes("sigstop", &e);
    eprintln!(
        "sigstop: stop-a before SIGSTOP: {status0} status writes, {provider0} provider writes; at its exit: {counts:?}; stop-b: {:?}",
        b.writes().await
    );
    assert_eq!(
        e.clerk.core().writes_by("stop-a"),
        emulator0,
        "provider writes by the old leader (emulator)"
    );
    let status = status.unwrap_or_else(|| panic!("stop-a did not exit after SIGCONT; log:\n{log}"));
    assert!(!status.success(), "stop-a exited with success; log:\n{log}");
    let (status1, provider1) =
        counts.unwrap_or_else(|| panic!("no exit summary in stop-a's log:\n{log}"));
    assert_eq!(
        status1, status0,
        "status writes by the old leader after SIGCONT"
    );
    assert_eq!(
        provider1, provider0,
        "provider writes by the old leader after SIGCONT"
    );
    assert!(e.clerk.core().writes_by("stop-b") >= 2);
    assert_eq!(e.clerk.count_connections(), 1);
}

/// A TCP proxy that forwards to `upstream` until cut; then it drops every open connection and
/// accepts new ones without ever answering (a black hole, so only timeouts end a call).
struct Proxy {
    addr: SocketAddr,
    cut: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                let mut rx = rx.clone();
                tokio::spawn(async move {
                    if *rx.borrow() {
                        let _held = &inbound;
                        std::future::pending::<()>().await;
                    }
                    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = rx.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Self { addr, cut, task }
    }

    fn cut(&self) {
        self.cut.send_replace(true);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A copy of the test kubeconfig whose server is `proxy`; returns (path, upstream address).
fn proxied_kubeconfig(proxy: SocketAddr, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(support::kubeconfig_path()).unwrap();
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    doc["clusters"][0]["cluster"]["server"] = format!("https://{proxy}").into();
    let path = std::env::temp_dir().join(format!("ssoperator-e2e-{name}.kubeconfig"));
    std::fs::write(&path, serde_yaml::to_string(&doc).unwrap()).unwrap();
    path
}

fn api_server_addr() -> SocketAddr {
    let text = std::fs::read_to_string(support::kubeconfig_path()).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let server = doc["clusters"][0]["cluster"]["server"].as_str().unwrap();
    let url = url::Url::parse(server).unwrap();
    let host = url.host_str().unwrap();
    format!("{host}:{}", url.port_or_known_default().unwrap())
        .parse()
        .unwrap()
}

/// The leader reaches the API server through a proxy that is then cut, while the provider stays
/// reachable: it makes no provider write after the cut, exits non-zero by its renew deadline
/// (before the standby may take over), and the standby carries out a spec edit.
#[tokio::test]
async fn leader_cut_off_from_the_api_server_stops_writing_and_exits() {
    let (client, ns, e) = clerk_setup().await;
    let proxy = Proxy::start(api_server_addr()).await;
    let kubeconfig = proxied_kubeconfig(proxy.addr, &format!("{ns}-cut-a"));
    let mut a = Replica::start_with(&ns, "cut-a", kubeconfig.to_str().unwrap(), &[], &[]);
    wait_holder(&client, &ns, "cut-a", Duration::from_secs(30)).await;
    let b = Replica::start(&ns, "cut-b");
    apply_okta(&client, &ns).await;
    b.metrics().await;
    tokio::time::sleep(RETRY_PERIOD * 2).await;
    let emulator0 = e.clerk.core().writes_by("cut-a");
    assert!(emulator0 >= 1, "the leader created the connection");

    proxy.cut();
    let cut = Instant::now();
    patch_spec::<EnterpriseConnection>(&client, &ns, "okta", json!({"name": "Okta EU"})).await;

    // Until it exits, the cut-off leader stays up: its /metrics answers.
    let mut answered = 0;
    let mut reconciles = vec![];
    let mut took_over = None;
    let status = loop {
        if let Some(status) = a.exited() {
            break status;
        }
        if let Some(text) = a.scrape().await {
            answered += 1;
            reconciles.push(sum_samples(&text, "ssoperator_reconciles_total"));
        }
        if took_over.is_none() && holder(&client, &ns).await.as_deref() == Some("cut-b") {
            took_over = Some(cut.elapsed());
        }
        assert!(
            cut.elapsed() < Duration::from_secs(40),
            "cut-a did not exit after the cut; log:\n{}",
            a.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let exited = cut.elapsed();
    let log = a.log();
    eprintln!(
        "cut: cut-a exited {:.2} s after the cut with {status}; /metrics answered {answered} times meanwhile (reconciles {:?})",
        exited.as_secs_f64(),
        (reconciles.first(), reconciles.last()),
    );
    assert!(!status.success(), "cut-a exited with success; log:\n{log}");
    assert!(answered > 0, "cut-a's metrics never answered after the cut");
    assert!(
        took_over.is_none(),
        "cut-b took the lease {took_over:?} after the cut, before cut-a stopped ({exited:?})"
    );
    // Its last renewal was sent before the cut: it is gone within the renew deadline (plus the
    // time to notice and exit).
    assert!(
        exited <= RENEW_DEADLINE + Duration::from_secs(2),
        "cut-a exited {exited:?} after the cut; log:\n{log}"
    );

    let took = edit_and_wait(&client, &ns, &e, "Okta EU", cut).await;
    eprintln!(
        "cut: cut-b carried out the spec edit {:.2} s after the cut",
        took.as_secs_f64()
    );
    print_writes("cut", &e);
    assert_eq!(holder(&client, &ns).await.as_deref(), Some("cut-b"));
    assert_eq!(
        e.clerk.core().writes_by("cut-a"),
        emulator0,
        "provider writes by the cut-off leader after the cut"
    );
    assert!(e.clerk.core().writes_by("cut-b") >= 1);
    assert_eq!(e.clerk.count_connections(), 1);
    let _ = std::fs::remove_file(kubeconfig);
}

/// A controller that panics ends the process (non-zero) and the Lease is handed over.
#[tokio::test]
async fn leader_a_panicking_controller_ends_the_process_and_releases_the_lease() {
    let (client, ns, _e) = clerk_setup().await;
    let mut a = Replica::start_with(
        &ns,
        "panic-a",
        support::kubeconfig_path(),
        &[("FAILPOINTS", "reconcile-start=panic")],
        &[],
    );
    wait_holder(&client, &ns, "panic-a", Duration::from_secs(30)).await;
    apply(&client, &ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
        "metadata": {"name": "okta"},
        "spec": {"providerConfigRef": {"name": "clerk"}, "name": "Okta", "domains": ["okta.example"],
                 "saml": {"idpMetadataUrl": "https://okta.example/metadata"}}}))
    .await;
    let status = a.wait_exit(Duration::from_secs(30)).await;
    let log = a.log();
    let status = status
        .unwrap_or_else(|| panic!("the process outlived its panicking controller; log:\n{log}"));
    assert!(!status.success(), "exit {status}; log:\n{log}");
    assert!(log.contains("a controller stopped"), "{log}");
    assert_eq!(
        holder(&client, &ns).await,
        None,
        "the lease was not released"
    );
}

/// A controller that blocks its thread turns /healthz unhealthy while /metrics still answers.
#[tokio::test]
async fn leader_a_blocked_controller_turns_healthz_unhealthy() {
    let (client, ns, _e) = clerk_setup().await;
    let a = Replica::start_with(
        &ns,
        "block-a",
        support::kubeconfig_path(),
        &[("FAILPOINTS", "reconcile-start=sleep(120000)")],
        &["--liveness-timeout", "3s"],
    );
    wait_holder(&client, &ns, "block-a", Duration::from_secs(30)).await;
    a.metrics().await;
    // Idle but healthy: no resource yet, the controllers' heartbeat beats.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(a.healthz().await, Some(200));
    apply(&client, &ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
        "metadata": {"name": "okta"},
        "spec": {"providerConfigRef": {"name": "clerk"}, "name": "Okta", "domains": ["okta.example"],
                 "saml": {"idpMetadataUrl": "https://okta.example/metadata"}}}))
    .await;
    let since = Instant::now();
    let mut last = None;
    while since.elapsed() < Duration::from_secs(20) {
        last = a.healthz().await;
        if last == Some(503) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "blocked: /healthz {last:?} {:.1} s after the resource was applied",
        since.elapsed().as_secs_f64()
    );
    assert_eq!(last, Some(503), "log:\n{}", a.log());
    // The process is alive and serving: its metrics answer, and it counted the reconcile.
    assert!(a.reconciles().await >= 1.0);
}
