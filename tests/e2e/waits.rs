//! Waiting states recover by themselves, with no watch on what they wait for: the chart's
//! default runs without a Secret watch, and nothing watches the provider. A client Secret that
//! arrives after its connection (GitOps applies in any order; External Secrets writes late) and a
//! Qovery connection that Qovery staff make after the resource are both picked up within one
//! resync.

use std::time::{Duration, Instant};

use serde_json::json;
use ssoperator::{crd::EnterpriseConnection, metrics::sum_samples};
use ssoperator_emulators::demo::DemoEmulators;

use crate::{
    operator::{Operator, apply, demo_account, ready, reason, secret, wait_for},
    support,
};

const RESYNC: Duration = Duration::from_secs(6);

/// The chart's default configuration exactly: cluster-wide, no Secret watch (and a resync short
/// enough for a test). Cluster-wide, it would reconcile every other test's namespace in the
/// shared API server, so it gets a control plane of its own.
async fn chart_default() -> (kube::Client, Operator) {
    let kubeconfig = support::start_control_plane();
    let client = support::client_for(&kubeconfig).await;
    support::apply_crds(&client).await;
    let op = Operator::start_with(&client, "", |c| {
        c.namespaces = vec![];
        c.watch_secrets = false;
        c.cluster_provider_configs = None;
        c.resync = RESYNC;
    });
    (client, op)
}

async fn wait_reason(client: &kube::Client, ns: &str, name: &str, want: &str) {
    wait_for::<EnterpriseConnection>(client, ns, name, want, |o| reason(o) == want).await;
}

/// Waits for Ready and returns how long it took from `since`.
async fn ready_after(client: &kube::Client, ns: &str, name: &str, since: Instant) -> Duration {
    wait_for::<EnterpriseConnection>(client, ns, name, "Ready", ready).await;
    since.elapsed()
}

#[tokio::test]
async fn waits_recover_by_themselves_in_the_charts_default_configuration() {
    let (client, op) = chart_default().await;
    let e = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
    late_client_secret(&client, &op, &e).await;
    qovery_connection_made_later(&client, &e).await;
}

/// A client Secret created 10 s after its connection is noticed within one resync.
async fn late_client_secret(client: &kube::Client, op: &Operator, e: &DemoEmulators) {
    let ns = support::temp_namespace(client).await;
    let (client, ns) = (client.clone(), ns.as_str());
    demo_account(&client, ns, "clerk", e, "clerk").await;
    apply(&client, ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
        "metadata": {"name": "oidc"},
        "spec": {"providerConfigRef": {"name": "clerk"}, "name": "GitLab", "domains": ["gitlab.example"],
                 "idpType": "oidc_custom",
                 "oidc": {"discoveryUrl": "https://gitlab.example/.well-known/openid-configuration",
                          "clientId": "client", "clientSecretRef": {"name": "oidc-client", "key": "clientSecret"}}}}))
    .await;
    wait_reason(&client, ns, "oidc", "SecretNotFound").await;
    let reconciles = sum_samples(&op.metrics.render(), "ssoperator_reconciles_total");
    tokio::time::sleep(Duration::from_secs(10)).await;
    secret(
        &client,
        ns,
        "oidc-client",
        &[("clientSecret", "s3cr3t-value")],
    )
    .await;
    let took = ready_after(&client, ns, "oidc", Instant::now()).await;
    eprintln!(
        "a Secret created 10 s after its connection: Ready {took:?} later (resync {RESYNC:?})"
    );
    assert!(took <= RESYNC + Duration::from_secs(2), "took {took:?}");
    assert!(
        sum_samples(&op.metrics.render(), "ssoperator_reconciles_total") > reconciles,
        "the operator did not run"
    );
    assert_eq!(e.clerk.count_connections(), 1);
}

/// A Qovery connection that Qovery staff make after the resource is adopted within one resync.
async fn qovery_connection_made_later(client: &kube::Client, e: &DemoEmulators) {
    let ns = support::temp_namespace(client).await;
    let (client, ns) = (client.clone(), ns.as_str());
    demo_account(&client, ns, "qovery", e, "qovery").await;
    apply(
        &client,
        ns,
        json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
        "metadata": {"name": "later"},
        "spec": {"providerConfigRef": {"name": "qovery"}, "name": "made-later", "saml": {}}}),
    )
    .await;
    wait_reason(&client, ns, "later", "RemoteNotFound").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    e.qovery.insert_connection("made-later", "member");
    let took = ready_after(&client, ns, "later", Instant::now()).await;
    eprintln!(
        "a Qovery connection made after its resource: adopted {took:?} later (resync {RESYNC:?})"
    );
    assert!(took <= RESYNC + Duration::from_secs(2), "took {took:?}");
}
