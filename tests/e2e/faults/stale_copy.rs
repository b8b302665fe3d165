//! A watch that lags the operator's own writes: with `reconcile-stale-copy` every reconcile is
//! handed the first copy the process saw of its resource (no finalizer, no status, no id), as
//! after an API server restart or when a reconcile follows its own write at once. The operator
//! must notice that the copy predates its last write and decide from the API server's copy:
//! one remote object, one Created Event, and a change made in the console reported as the drift
//! it is (not as a spec update, which is what a copy without the Synced condition suggests).

use kube::Api;
use ssoperator::crd::EnterpriseConnection;

use super::*;
use crate::operator::{event_reasons, ready, wait_event, wait_for};

#[tokio::test]
async fn a_copy_older_than_the_operators_own_write_is_read_again() {
    let (client, ns) = setup().await;
    let e = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
    demo_account(&client, &ns, "p", &e, "clerk").await;
    let op = Process::start(&ns, Some("reconcile-stale-copy"));
    apply(
        &client,
        &ns,
        json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
        "metadata": {"name": "okta"},
        "spec": {"providerConfigRef": {"name": "p"}, "name": "Okta", "domains": ["okta.example"],
                 "saml": {"idpMetadataUrl": "https://okta.example/metadata"}}}),
    )
    .await;
    let o = wait_for::<EnterpriseConnection>(&client, &ns, "okta", "Ready", ready).await;
    let id = o
        .status
        .as_ref()
        .and_then(|s| s.external_id.clone())
        .unwrap();

    e.clerk
        .edit_connection(&id, |c| c.name = "renamed in the console".into());
    wait_event(&client, &ns, "okta", "DriftRepaired").await;
    assert_eq!(e.clerk.get_connection(&id).unwrap().name, "Okta");

    let reasons = event_reasons(&client, &ns, "okta").await;
    assert_eq!(
        reasons.iter().filter(|r| *r == "Created").count(),
        1,
        "{reasons:?}"
    );
    assert!(!reasons.iter().any(|r| r == "Updated"), "{reasons:?}");
    assert_eq!(e.clerk.count_connections(), 1, "{}", e.clerk.snapshot());
    let o = Api::<EnterpriseConnection>::namespaced(client.clone(), &ns)
        .get("okta")
        .await
        .unwrap();
    let status = o.status.unwrap();
    assert_eq!(status.pending_create, None);
    let annotations = o.metadata.annotations.clone().unwrap_or_default();
    assert!(
        !annotations.contains_key(ssoperator::crd::PENDING_CREATE_ANNOTATION),
        "{annotations:?}"
    );
    assert_eq!(status.external_id.as_deref(), Some(id.as_str()));
    // The stale copies were there and were read again (this also shows the process ran).
    let fresh_reads = op.metric("ssoperator_fresh_reads_total").await;
    assert!(fresh_reads >= 2.0, "fresh reads: {fresh_reads}");
    drop(op);
    support::delete_namespace(&client, &ns).await;
}
