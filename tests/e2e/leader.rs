//! Two replicas of the operator binary with leader election: only the Lease holder reconciles,
//! and a graceful shutdown hands the Lease over at once (well before it would expire).

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use serde_json::json;
use ssoperator::{
    crd::EnterpriseConnection,
    emulator::demo::{self, DemoEmulators},
    leader::LEASE_DURATION,
    metrics::sum_samples,
};

use crate::{
    operator::{apply, patch_spec, provider_config, ready, secret, setup, wait_for},
    support,
};

const LEASE: &str = "ssoperator-leader";

/// One operator process; killed when dropped.
struct Replica {
    child: Child,
    metrics: String,
}

impl Replica {
    fn start(ns: &str, identity: &str) -> Self {
        // A free port: bind, read it, let it go (the operator binds it a moment later).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_ssoperator"))
            .env("KUBECONFIG", support::kubeconfig_path())
            .env("RUST_LOG", "warn")
            .args([
                "--namespaces",
                ns,
                "--leader-elect",
                "--lease-namespace",
                ns,
            ])
            .args([
                "--lease-name",
                LEASE,
                "--identity",
                identity,
                "--resync",
                "2s",
            ])
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
            .args(["--log-format", "text", "--default-rate", "100"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Self {
            child,
            metrics: format!("http://127.0.0.1:{port}/metrics"),
        }
    }

    /// Reconciles this replica has run (0 while it does not lead).
    async fn reconciles(&self) -> f64 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let text = loop {
            match reqwest::get(&self.metrics).await {
                Ok(r) => break r.text().await.unwrap(),
                Err(e) => {
                    assert!(tokio::time::Instant::now() < deadline, "metrics: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        sum_samples(&text, "ssoperator_reconciles_total")
    }

    /// SIGTERM, then wait for the process to exit.
    fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "replica did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn holder(client: &Client, ns: &str) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), ns);
    leases.get_opt(LEASE).await.unwrap()?.spec?.holder_identity
}

async fn wait_holder(client: &Client, ns: &str, who: &str, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while holder(client, ns).await.as_deref() != Some(who) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{who} did not take the lease within {within:?}; holder: {:?}",
            holder(client, ns).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn only_the_leader_reconciles_and_a_graceful_stop_hands_over() {
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

    let mut a = Replica::start(&ns, "replica-a");
    wait_holder(&client, &ns, "replica-a", Duration::from_secs(30)).await;
    let b = Replica::start(&ns, "replica-b");

    apply(&client, &ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
        "metadata": {"name": "okta"},
        "spec": {"providerConfigRef": {"name": "clerk"}, "name": "Okta", "domains": ["okta.example"],
                 "saml": {"idpMetadataUrl": "https://okta.example/metadata"}}}))
    .await;
    wait_for::<EnterpriseConnection>(&client, &ns, "okta", "Ready", ready).await;
    assert!(a.reconciles().await > 0.0, "the leader did not reconcile");
    assert_eq!(b.reconciles().await, 0.0, "the standby reconciled");
    assert_eq!(holder(&client, &ns).await.as_deref(), Some("replica-a"));

    // A graceful stop releases the lease: the standby takes over long before it would expire.
    a.stop();
    let handover = tokio::time::Instant::now();
    wait_holder(
        &client,
        &ns,
        "replica-b",
        LEASE_DURATION - Duration::from_secs(5),
    )
    .await;
    eprintln!("lease handed over in {:?}", handover.elapsed());

    patch_spec::<EnterpriseConnection>(&client, &ns, "okta", json!({"name": "Okta EU"})).await;
    wait_for::<EnterpriseConnection>(&client, &ns, "okta", "Ready at generation 2", |o| {
        ready(o) && o.metadata.generation == Some(2)
    })
    .await;
    assert!(
        b.reconciles().await > 0.0,
        "the new leader did not reconcile"
    );
    assert_eq!(e.clerk.count_connections(), 1);
    let conn = e.clerk.snapshot();
    assert!(conn.to_string().contains("Okta EU"), "{conn}");
}
