//! The README's main job in a test: every example reconciles to Ready against the demo emulators.

use std::path::Path;

use kube::{Api, api::DeleteParams};
use serde_json::{Value, json};
use ssoperator::crd::{
    ClusterProviderConfig, ConnectionProfile, EnterpriseConnection, OrgRoleMapping,
};
use ssoperator_emulators::demo::{self, DemoEmulators};

use crate::operator::{Operator, apply, assert_quiet, provider_ready, ready, setup, wait_for};

/// The examples, pointed at `emulators`, with the cluster-scoped ClusterProviderConfig renamed
/// for this run and reading its Secret from `ns`.
pub fn examples_for(emulators: &DemoEmulators, ns: &str) -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut docs = demo::examples_with_endpoints(&dir, emulators.endpoints()).unwrap();
    for doc in &mut docs {
        // The examples' rate limits (Atlas: 1 request/s for the account) are for real accounts
        // and the default resync; at the tests' 2 s resync they would be the bottleneck under
        // test. Rate limits have tests of their own (ratelimit.rs).
        if let Some(spec) = doc.get_mut("spec").and_then(Value::as_object_mut) {
            spec.remove("rateLimit");
        }
        if doc["kind"] == "ClusterProviderConfig" {
            let name = format!("{}-{ns}", doc["metadata"]["name"].as_str().unwrap());
            doc["metadata"]["name"] = json!(name);
            doc["spec"]["credentialsSecretRef"]["namespace"] = json!(ns);
        }
        if doc["spec"]["providerConfigRef"]["kind"] == "ClusterProviderConfig" {
            let name = format!(
                "{}-{ns}",
                doc["spec"]["providerConfigRef"]["name"].as_str().unwrap()
            );
            doc["spec"]["providerConfigRef"]["name"] = json!(name);
        }
    }
    docs
}

fn names_of<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a str> {
    docs.iter()
        .filter(|d| d["kind"] == kind)
        .filter_map(|d| d["metadata"]["name"].as_str())
        .collect()
}

#[tokio::test]
async fn every_example_reconciles_to_ready_against_the_demo_emulators() {
    let (client, ns) = setup().await;
    let emulators = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
    let docs = examples_for(&emulators, &ns);
    // This operator also reports ClusterProviderConfigs (as a cluster-wide install does).
    let op = Operator::start_with(&client, &ns, |c| c.cluster_provider_configs = Some(true));
    for doc in &docs {
        apply(&client, &ns, doc.clone()).await;
    }

    for name in names_of(&docs, "ProviderConfig") {
        provider_ready(&client, &ns, name).await;
    }
    let cpcs: Api<ClusterProviderConfig> = Api::all(client.clone());
    for name in names_of(&docs, "ClusterProviderConfig") {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let cpc = cpcs.get(name).await.unwrap();
            let ready = cpc.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            });
            if ready {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} not Ready: {cpc:#?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    // `kubectl wait` understands the cluster-scoped kind too.
    for name in names_of(&docs, "ClusterProviderConfig") {
        crate::saas::kubectl_wait(&ns, &format!("clusterproviderconfig/{name}"));
    }
    for name in names_of(&docs, "EnterpriseConnection") {
        wait_for::<EnterpriseConnection>(&client, &ns, name, "Ready", ready).await;
    }
    for name in names_of(&docs, "ConnectionProfile") {
        wait_for::<ConnectionProfile>(&client, &ns, name, "Ready", ready).await;
    }
    for name in names_of(&docs, "OrgRoleMapping") {
        wait_for::<OrgRoleMapping>(&client, &ns, name, "Ready", ready).await;
    }

    // What the providers now hold is what the examples say.
    let held = emulators.snapshot();
    let qovery = &held["qovery"]["organizations"][demo::QOVERY_ORG][demo::QOVERY_CONNECTION];
    assert_eq!(qovery["default_role"], "viewer", "{qovery}");
    assert_eq!(qovery["enforce_group_sync"], true, "{qovery}");
    assert_eq!(emulators.auth0.count_profiles(), 1);
    assert_eq!(emulators.loginradius.count_connections(), 1);
    assert_eq!(emulators.clerk.count_connections(), 2);
    let atlas = emulators.atlas.get_org_config(demo::ATLAS_ORG).unwrap();
    assert_eq!(atlas.role_mappings.len(), 2, "{atlas:?}");
    assert!(atlas.domain_restriction_enabled);

    // The operator's real traffic, request by request and answer by answer, is what each
    // provider's own description allows (contracts/).
    let violations = emulators.contract_violations();
    assert!(violations.is_empty(), "{violations:#?}");

    // Nothing left to do: no provider write and no status write over three resyncs.
    assert_quiet(&op, || emulators.writes().values().sum(), 3).await;

    // One Auth0 management token for the whole run: status writes on the ProviderConfig do not
    // throw the cached client away (Auth0 bills machine-to-machine tokens per month).
    let tokens = emulators.auth0.core().calls()["POST /oauth/token"];
    assert_eq!(tokens, 1, "{:?}", emulators.auth0.core().calls());

    for name in names_of(&docs, "ClusterProviderConfig") {
        cpcs.delete(name, &DeleteParams::default()).await.unwrap();
    }
}
