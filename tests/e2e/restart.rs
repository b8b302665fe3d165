//! The API server restarted mid-reconcile: the operator runs as its own process against a control
//! plane of this test's own (`support::start_control_plane`), 10 Clerk connections with
//! `deletionPolicy: Delete` are being created, and while creates are in flight etcd and
//! kube-apiserver are killed (the `control` file of `scripts/with-k8s.sh --serve`), stay down for a few
//! seconds and start again with the same data. Afterwards every resource is Ready, there is
//! exactly one remote object per resource (no create was repeated), and the operator process
//! never exited.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use kube::{
    Api, Client,
    api::ListParams,
    core::{ApiResource, DynamicObject},
};
use serde_json::json;
use ssoperator::{crd::EnterpriseConnection, metrics::sum_samples};
use ssoperator_emulators::{Faults, demo::DemoEmulators};

use crate::{
    operator::{apply, demo_account},
    support,
};

const RESOURCES: usize = 10;
/// How long etcd and kube-apiserver stay down.
const OUTAGE: Duration = Duration::from_secs(5);
const TIMEOUT: Duration = Duration::from_secs(120);

/// The operator as its own process, like in production; killed when dropped.
struct OperatorProcess {
    child: Child,
    metrics: String,
    log: PathBuf,
}

impl OperatorProcess {
    fn start(kubeconfig: &str, ns: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let log = std::env::temp_dir().join(format!("ssoperator-restart-{ns}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_ssoperator"))
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "warn")
            .env_remove("FAILPOINTS")
            .args([
                "--namespaces",
                ns,
                "--resync",
                "2s",
                "--default-rate",
                "100",
            ])
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
            .args([
                "--identity",
                &format!("restart-{ns}"),
                "--log-format",
                "text",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self {
            child,
            metrics: format!("http://127.0.0.1:{port}/metrics"),
            log,
        }
    }

    /// Fails the test if the process has ended.
    fn assert_alive(&mut self, when: &str) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "the operator exited ({status}) {when}; its log:\n{}",
                self.log_tail()
            );
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Reconciles so far, from its /metrics.
    async fn reconciles(&self) -> f64 {
        let text = reqwest::get(&self.metrics)
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        sum_samples(&text, "ssoperator_reconciles_total")
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Orders `scripts/with-k8s.sh --serve` to stop or start its control plane and waits until done.
async fn control(work: &Path, order: &str, op: &mut OperatorProcess) {
    // "kill" stops too (KILL instead of TERM). Waiting for "running" after a kill only passed
    // while the script had not yet written "stopped", and failed once it had.
    let want = if order == "start" {
        "running"
    } else {
        "stopped"
    };
    std::fs::write(work.join("control"), order).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let state = std::fs::read_to_string(work.join("state")).unwrap_or_default();
        if state.trim() == want && !work.join("control").exists() {
            return;
        }
        op.assert_alive(&format!("while the control plane was told to {order}"));
        assert!(
            Instant::now() < deadline,
            "the control plane did not {order}: state {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ready(o: &DynamicObject) -> bool {
    let v = serde_json::to_value(o).unwrap();
    let conds = v["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    conds
        .iter()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
        && v["status"]["observedGeneration"] == v["metadata"]["generation"]
}

/// The resources, or None while the API server does not answer.
async fn list(api: &Api<DynamicObject>) -> Option<Vec<DynamicObject>> {
    api.list(&ListParams::default()).await.ok().map(|l| l.items)
}

#[tokio::test]
async fn api_server_restart_mid_create_leaves_one_object_per_resource() {
    // A control plane of this test's own: stopping the shared one would fail every other test.
    let kubeconfig = support::start_control_plane();
    let work = Path::new(&kubeconfig).parent().unwrap().to_path_buf();
    let client: Client = support::client_for(&kubeconfig).await;
    support::apply_crds(&client).await;
    let ns = support::temp_namespace(&client).await;
    let e = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
    // Each Clerk call takes a while, so that creates are still in flight when the API server stops.
    e.clerk.core().set_faults(Faults {
        latency: Duration::from_millis(300),
        ..Faults::default()
    });
    demo_account(&client, &ns, "p", &e, "clerk").await;
    let mut op = OperatorProcess::start(&kubeconfig, &ns);
    for i in 0..RESOURCES {
        apply(
            &client,
            &ns,
            json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
            "metadata": {"name": format!("r{i}")},
            "spec": {"providerConfigRef": {"name": "p"}, "deletionPolicy": "Delete",
                     "name": format!("Restart {i}"), "domains": [format!("r{i}.example")],
                     "saml": {"idpMetadataUrl": format!("https://idp{i}.example/metadata")}}}),
        )
        .await;
    }

    // Stop the control plane as soon as the third create has reached Clerk (it is answered
    // 300 ms later, when the operator can no longer record it).
    let deadline = Instant::now() + TIMEOUT;
    while e.clerk.core().calls_of("POST") < 3 {
        op.assert_alive("before the outage");
        assert!(Instant::now() < deadline, "no create reached Clerk");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stopping = Instant::now();
    // Killed at once, as a crash would: a graceful stop lets kube-apiserver finish the requests
    // in flight first.
    control(&work, "kill", &mut op).await;
    let posts_at_stop = e.clerk.core().calls_of("POST");
    let created_at_stop = e.clerk.count_connections();
    println!(
        "restart: control plane stopped {:.1?} after the 3rd create was sent; creates sent {posts_at_stop}, \
         objects at Clerk {created_at_stop}",
        stopping.elapsed()
    );
    tokio::time::sleep(OUTAGE).await;
    op.assert_alive("during the outage");
    let answered_in_outage = e.clerk.count_connections() - created_at_stop;
    control(&work, "start", &mut op).await;
    let restarted = Instant::now();
    println!(
        "restart: {answered_in_outage} creates were answered while the control plane was down"
    );

    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns,
        &ApiResource::erase::<EnterpriseConnection>(&()),
    );
    let deadline = Instant::now() + TIMEOUT;
    let items = loop {
        op.assert_alive("after the restart");
        if let Some(items) = list(&api).await
            && items.len() == RESOURCES
            && items.iter().all(ready)
        {
            break items;
        }
        assert!(
            Instant::now() < deadline,
            "not all Ready {TIMEOUT:?} after the restart: {:#?}; operator log:\n{}",
            list(&api).await.map(|items| items
                .iter()
                .map(|o| (o.metadata.name.clone(), o.data["status"].clone()))
                .collect::<Vec<_>>()),
            op.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let to_ready = restarted.elapsed();
    println!(
        "restart: all {RESOURCES} Ready {to_ready:.1?} after the control plane was back (outage {OUTAGE:?})"
    );

    // Exactly one remote object per resource: each resource's id exists with its name, and no
    // name is there twice. Checked again after two resyncs in which the operator reconciled, so
    // that a late duplicate create would show.
    let check = |items: &[DynamicObject]| {
        let snapshot = e.clerk.snapshot();
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        for c in snapshot["enterprise_connections"].as_array().unwrap() {
            *names
                .entry(c["name"].as_str().unwrap_or_default().to_string())
                .or_default() += 1;
        }
        let duplicates: Vec<_> = names.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            duplicates.is_empty(),
            "duplicate remote objects: {duplicates:?}"
        );
        assert_eq!(
            e.clerk.count_connections(),
            RESOURCES,
            "remote objects: {names:?}"
        );
        for o in items {
            let id = o.data["status"]["externalId"].as_str().unwrap_or_default();
            let remote = e.clerk.get_connection(id);
            let want = o.data["spec"]["name"].clone();
            assert!(
                remote.as_ref().is_some_and(|c| json!(c.name) == want),
                "{:?}: remote {id:?} is {remote:?}",
                o.metadata.name
            );
        }
    };
    check(&items);
    let r0 = op.reconciles().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        op.reconciles().await > r0,
        "the operator did not reconcile after all were Ready"
    );
    op.assert_alive("at the end");
    let items = list(&api).await.unwrap();
    check(&items);
    println!(
        "restart: creates sent in all {} (resources {RESOURCES}); the operator never exited",
        e.clerk.core().calls_of("POST")
    );
}
