//! Deletion in the orders GitOps and `kubectl delete -f` produce: the Secret, the ProviderConfig
//! and the resources of one file go at once, in any order; Orphan resources need no operator.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client, api::DeleteParams};
use serde_json::json;
use ssoperator::{
    crd::{EnterpriseConnection, ProviderConfig},
    emulator::demo::{self, DemoEmulators},
};

use crate::operator::{Operator, apply, provider_config, ready, secret, setup, wait_for};

async fn connection(client: &Client, ns: &str, name: &str, policy: &str) {
    apply(client, ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
        "metadata": {"name": name},
        "spec": {"providerConfigRef": {"name": "clerk"}, "name": name, "domains": [format!("{name}.example")],
                 "deletionPolicy": policy,
                 "saml": {"idpMetadataUrl": format!("https://{name}.example/metadata")}}}))
    .await;
}

async fn gone<K>(api: &Api<K>, name: &str) -> bool
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    matches!(api.get_opt(name).await, Ok(None))
}

#[tokio::test]
async fn one_file_deleted_at_once_leaves_nothing_behind() {
    let (client, ns) = setup().await;
    let e = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
    let op = Operator::start(&client, &ns);
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
    for name in ["del-a", "del-b", "del-c"] {
        connection(&client, &ns, name, "Delete").await;
    }
    for name in ["keep-a", "keep-b"] {
        connection(&client, &ns, name, "Orphan").await;
    }
    for name in ["del-a", "del-b", "del-c", "keep-a", "keep-b"] {
        wait_for::<EnterpriseConnection>(&client, &ns, name, "Ready", ready).await;
    }
    assert_eq!(e.clerk.count_connections(), 5);
    let ecs: Api<EnterpriseConnection> = Api::namespaced(client.clone(), &ns);
    let pcs: Api<ProviderConfig> = Api::namespaced(client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    // The three Delete resources need its credentials to delete: it is marked in use.
    wait_for::<ProviderConfig>(&client, &ns, "clerk", "in use by 3", |pc| {
        let finalizers = pc.metadata.finalizers.clone().unwrap_or_default();
        finalizers.contains(&"ssoperator.io/in-use".to_string())
            && pc.status.as_ref().and_then(|s| s.used_by) == Some(3)
    })
    .await;

    // `kubectl delete -f file` with the operator running: Secret first, then the rest.
    secrets
        .delete("creds", &DeleteParams::default())
        .await
        .unwrap();
    pcs.delete("clerk", &DeleteParams::default()).await.unwrap();
    for name in ["del-a", "del-b", "del-c", "keep-b"] {
        ecs.delete(name, &DeleteParams::default()).await.unwrap();
    }
    let t = Instant::now();
    loop {
        let mut left = vec![];
        for name in ["del-a", "del-b", "del-c", "keep-b"] {
            if !gone(&ecs, name).await {
                left.push(name);
            }
        }
        if !gone(&pcs, "clerk").await {
            left.push("ProviderConfig clerk");
        }
        if left.is_empty() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "still Terminating after 60 s: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "one file deleted at once: everything gone in {:?}",
        t.elapsed()
    );
    // The two Orphan connections stay at Clerk; the three Delete ones are gone.
    assert_eq!(e.clerk.count_connections(), 2, "{}", e.clerk.snapshot());

    // With the operator stopped, an Orphan resource deletes at once: it carries no finalizer.
    drop(op);
    ecs.delete("keep-a", &DeleteParams::default())
        .await
        .unwrap();
    let t = Instant::now();
    while !gone(&ecs, "keep-a").await {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "an Orphan resource waited for the operator"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
