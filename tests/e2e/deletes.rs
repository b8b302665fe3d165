//! Deletion in the orders GitOps and `kubectl delete -f` produce: the Secret, the ProviderConfig
//! and the resources of one file go at once, in any order; Orphan resources need no operator.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Client,
    api::DeleteParams,
    core::{ApiResource, DynamicObject, GroupVersionKind},
};
use serde_json::json;
use ssoperator::crd::{EnterpriseConnection, ProviderConfig};
use ssoperator_emulators::demo::DemoEmulators;

use crate::operator::{Operator, apply, demo_account, ready, setup, wait_for};

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
    let op = Operator::start_with(&client, &ns, |c| {
        // Deletion mechanics under test; the lockout guard's refusal of such a delete is tested in safety.
        c.lockout_guards = false;
    });
    demo_account(&client, &ns, "clerk", &e, "clerk").await;
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

/// `kubectl delete -f examples/` with every managed example under `deletionPolicy: Delete`:
/// kubectl deletes in file order, so each Secret goes first. Nothing stays Terminating and the
/// objects the operator can delete are gone from the providers.
#[tokio::test]
async fn every_example_deleted_in_one_command() {
    let (client, ns) = setup().await;
    let e = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
    let mut docs = crate::demo::examples_for(&e, &ns);
    for doc in &mut docs {
        if doc["spec"]["providerConfigRef"].is_object() {
            doc["spec"]["deletionPolicy"] = json!("Delete");
        }
    }
    let _op = Operator::start_with(&client, &ns, |c| {
        // Deletion mechanics under test; the lockout guard's refusal of such a delete is tested in safety.
        c.lockout_guards = false;
    });
    for doc in &docs {
        apply(&client, &ns, doc.clone()).await;
    }
    let managed: Vec<(String, String)> = docs
        .iter()
        .filter(|d| d["spec"]["providerConfigRef"].is_object())
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_string(),
                d["metadata"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (kind, name) in &managed {
        let api = dynamic(&client, &ns, kind);
        let t = Instant::now();
        loop {
            let o = api.get(name).await.unwrap();
            let ready = o.data["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            if ready {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "{kind}/{name} not Ready"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert!(e.clerk.count_connections() > 0 && e.auth0.count_profiles() > 0);

    // In file order, as kubectl does: a Secret, its ProviderConfig, then the resources.
    for doc in &docs {
        let kind = doc["kind"].as_str().unwrap();
        let name = doc["metadata"]["name"].as_str().unwrap();
        let api = if kind == "Secret" {
            let gvk = GroupVersionKind::gvk("", "v1", "Secret");
            Api::namespaced_with(client.clone(), &ns, &ApiResource::from_gvk(&gvk))
        } else if kind == "ClusterProviderConfig" {
            let gvk = GroupVersionKind::gvk("ssoperator.io", "v1alpha1", kind);
            Api::all_with(client.clone(), &ApiResource::from_gvk(&gvk))
        } else {
            dynamic(&client, &ns, kind)
        };
        api.delete(name, &DeleteParams::default()).await.unwrap();
    }
    let t = Instant::now();
    loop {
        let mut left = vec![];
        for doc in &docs {
            let kind = doc["kind"].as_str().unwrap();
            let name = doc["metadata"]["name"].as_str().unwrap();
            let api = if kind == "ClusterProviderConfig" {
                let gvk = GroupVersionKind::gvk("ssoperator.io", "v1alpha1", kind);
                Api::all_with(client.clone(), &ApiResource::from_gvk(&gvk))
            } else if kind == "Secret" {
                continue;
            } else {
                dynamic(&client, &ns, kind)
            };
            if api.get_opt(name).await.unwrap().is_some() {
                left.push(format!("{kind}/{name}"));
            }
        }
        if left.is_empty() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "Terminating after 60 s: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "every example deleted in one command: all gone in {:?}",
        t.elapsed()
    );
    assert_eq!(e.clerk.count_connections(), 0, "{}", e.clerk.snapshot());
    assert_eq!(e.auth0.count_profiles(), 0);
    assert_eq!(e.loginradius.count_connections(), 0);
}

fn dynamic(client: &Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("ssoperator.io", "v1alpha1", kind);
    Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk(&gvk))
}
