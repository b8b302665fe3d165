//! Clerk, Auth0 and Atlas through the operator, and `kubectl wait --for=condition=Ready` on every kind.

use std::process::Command;

use serde_json::json;
use ssoperator::crd::{ConnectionProfile, EnterpriseConnection, OrgRoleMapping};
use ssoperator_emulators::{atlas::AtlasEmulator, auth0::Auth0Emulator, clerk::ClerkEmulator};

use crate::{operator::*, support};

const FED: &str = "5d1113b25a115342acc2d1aa";
const ATLAS_ORG: &str = "5df7a168f10fab3a149357fb";

pub fn kubectl_wait(ns: &str, resource: &str) {
    let out = Command::new(support::kubectl())
        .args([
            "--kubeconfig",
            support::kubeconfig_path(),
            "-n",
            ns,
            "wait",
            "--for=condition=Ready",
            "--timeout=30s",
            resource,
        ])
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "kubectl wait {resource}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn clerk_auth0_atlas_reach_ready_and_kubectl_wait_sees_it() {
    let (client, ns) = setup().await;
    let clerk = ClerkEmulator::new("sk_test_demo");
    let auth0 = Auth0Emulator::new("demo.eu.auth0.com", "demo-client-id", "demo-client-secret");
    let atlas = AtlasEmulator::new("demopub", "demo-private-key", FED);
    atlas.insert_org_config(ATLAS_ORG, Some("0a7e0b5c9d1f2e3a4b6c"));
    let (clerk_run, auth0_run, atlas_run) = (
        serve(clerk.router()).await,
        serve(auth0.router()).await,
        serve(atlas.router()).await,
    );
    let _op = Operator::start(&client, &ns);

    secret(
        &client,
        &ns,
        "okta-oidc",
        &[("clientSecret", "first-secret")],
    )
    .await;
    clerk_account(&client, &ns, &clerk_run.url(), "sk_test_demo").await;
    auth0_account(
        &client,
        &ns,
        &auth0_run.url(),
        "demo.eu.auth0.com",
        ("demo-client-id", "demo-client-secret"),
    )
    .await;
    atlas_account(
        &client,
        &ns,
        &atlas_run.url(),
        FED,
        ("demopub", "demo-private-key"),
    )
    .await;

    apply(&client, &ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection", "metadata": {"name": "okta"},
        "spec": {"providerConfigRef": {"name": "clerk"}, "name": "Okta", "domains": ["Example.com"], "deletionPolicy": "Delete",
                 "oidc": {"clientId": "okta-client", "discoveryUrl": "https://okta.example.com/.well-known/openid-configuration",
                          "clientSecretRef": {"name": "okta-oidc", "key": "clientSecret"}}}})).await;
    apply(&client, &ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "ConnectionProfile", "metadata": {"name": "default-profile"},
        "spec": {"providerConfigRef": {"name": "auth0"}, "name": "default-profile", "enabledFeatures": ["scim"],
                 "organization": {"show_as_button": "optional", "assign_membership_on_login": "required"}}})).await;
    apply(&client, &ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "OrgRoleMapping", "metadata": {"name": "atlas-roles"},
        "spec": {"providerConfigRef": {"name": "atlas"}, "externalName": ATLAS_ORG,
                 "mappings": [{"externalGroup": "dba", "roles": [{"role": "ORG_OWNER"}]}],
                 "atlas": {"domainAllowList": ["example.com"], "domainRestrictionEnabled": true, "postAuthRoleGrants": ["ORG_MEMBER"]}}})).await;

    let ec = wait_for::<EnterpriseConnection>(&client, &ns, "okta", "Ready", ready).await;
    let id = ec.status.unwrap().external_id.unwrap();
    assert_eq!(
        clerk.write_only(&id).unwrap().client_secret.as_deref(),
        Some("first-secret")
    );
    wait_for::<ConnectionProfile>(&client, &ns, "default-profile", "Ready", ready).await;
    assert_eq!(auth0.count_profiles(), 1);
    wait_for::<OrgRoleMapping>(&client, &ns, "atlas-roles", "Ready", ready).await;
    let org = atlas.get_org_config(ATLAS_ORG).unwrap();
    assert_eq!(org.role_mappings.len(), 1);
    assert!(
        org.domain_restriction_enabled && org.identity_provider_id.is_some(),
        "the PATCH lost fields it does not own"
    );

    for r in [
        "enterpriseconnection/okta",
        "connectionprofile/default-profile",
        "orgrolemapping/atlas-roles",
        "providerconfig/clerk",
    ] {
        kubectl_wait(&ns, r);
    }

    // A rotated client secret is sent once (Clerk never echoes it; status keeps its hash).
    let patches = clerk.core().calls_of("PATCH");
    secret(
        &client,
        &ns,
        "okta-oidc",
        &[("clientSecret", "second-secret")],
    )
    .await;
    let deadline = tokio::time::Instant::now() + RESYNC * 5;
    while clerk.write_only(&id).unwrap().client_secret.as_deref() != Some("second-secret") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "rotated secret not pushed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    tokio::time::sleep(RESYNC * 2).await;
    assert_eq!(
        clerk.core().calls_of("PATCH") - patches,
        1,
        "an unchanged secret was sent again"
    );

    // Delete removes the Clerk connection; Orphan (default) keeps the Auth0 profile.
    delete::<EnterpriseConnection>(&client, &ns, "okta").await;
    delete::<ConnectionProfile>(&client, &ns, "default-profile").await;
    wait_gone::<EnterpriseConnection>(&client, &ns, "okta").await;
    wait_gone::<ConnectionProfile>(&client, &ns, "default-profile").await;
    assert_eq!(clerk.count_connections(), 0);
    assert_eq!(auth0.count_profiles(), 1);
}
