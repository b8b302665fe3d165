//! Qovery: connections are adopted by name; role mappings are written into them with PUT.

use kube::Api;
use serde_json::json;
use ssoperator::crd::{EnterpriseConnection, OrgRoleMapping, ProviderConfig};
use ssoperator_emulators::qovery::QoveryEmulator;

use crate::operator::*;

const ORG: &str = "3f1c2a4e-8b7d-4c1e-9a2f-5d6e7f809a1b";

#[tokio::test]
async fn qovery_adopts_maps_roles_repairs_drift_and_stays_quiet() {
    let (client, ns) = setup().await;
    let emu = QoveryEmulator::new("qov_demo_token", vec![ORG.to_string()]);
    emu.insert_connection("acme-sso", "viewer");
    let running = serve(emu.router()).await;
    let core = emu.core();
    let op = Operator::start(&client, &ns);

    qovery_account(&client, &ns, &running.url(), ORG, "qov_demo_token").await;
    apply(&client, &ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
        "metadata": {"name": "acme"}, "spec": {"providerConfigRef": {"name": "qovery"}, "name": "acme-sso", "saml": {}}})).await;
    apply(&client, &ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "OrgRoleMapping",
        "metadata": {"name": "acme-roles"}, "spec": {"providerConfigRef": {"name": "qovery"}, "connectionRef": {"name": "acme"},
        "deletionPolicy": "Delete", "defaultRole": "viewer", "enforceGroupSync": true,
        "mappings": [{"externalGroup": "Administrators", "roles": [{"role": "admin"}]}, {"externalGroup": "DevSecOps", "roles": [{"role": "devops"}]}]}})).await;

    provider_ready(&client, &ns, "qovery").await;
    let ec = wait_for::<EnterpriseConnection>(&client, &ns, "acme", "Ready", ready).await;
    let status = ec.status.unwrap();
    assert_eq!(status.external_id.as_deref(), Some("acme-sso"));
    assert!(
        status
            .outputs
            .and_then(|o| o.acs_url)
            .is_some_and(|u| u.contains("connection=acme-sso"))
    );
    wait_for::<OrgRoleMapping>(&client, &ns, "acme-roles", "Ready", ready).await;
    let conn = emu.get_connection("acme-sso").unwrap();
    assert!(conn.enforce_group_sync);
    assert_eq!(
        conn.group_mappings.get("admin"),
        Some(&vec!["Administrators".to_string()])
    );
    assert_eq!(
        conn.group_mappings.get("devops"),
        Some(&vec!["DevSecOps".to_string()])
    );
    wait_event(&client, &ns, "acme", "Adopted").await;

    // A spec edit sends exactly one update.
    let puts = core.calls_of("PUT");
    patch_spec::<OrgRoleMapping>(&client, &ns, "acme-roles", json!({"defaultRole": "devops"}))
        .await;
    wait_for::<OrgRoleMapping>(&client, &ns, "acme-roles", "Ready at generation 2", |o| {
        ready(o) && o.metadata.generation == Some(2)
    })
    .await;
    assert_eq!(
        core.calls_of("PUT") - puts,
        1,
        "a spec edit must send exactly one PUT"
    );
    assert_eq!(
        emu.get_connection("acme-sso").unwrap().default_role,
        "devops"
    );

    // A console edit is repaired within a resync, with an Event and the corrected paths in status.
    emu.edit_connection("acme-sso", |c| {
        c.group_mappings.clear();
    });
    let deadline = tokio::time::Instant::now() + RESYNC * 4;
    while emu
        .get_connection("acme-sso")
        .unwrap()
        .group_mappings
        .is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "console edit not repaired within a resync"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    wait_event(&client, &ns, "acme-roles", "DriftRepaired").await;
    let orm = wait_for::<OrgRoleMapping>(&client, &ns, "acme-roles", "drift recorded", |o| {
        o.status
            .as_ref()
            .and_then(|s| s.last_drift.as_ref())
            .is_some()
    })
    .await;
    assert_eq!(
        orm.status.unwrap().last_drift.unwrap().fields,
        vec!["mappings"]
    );

    // Everything Ready: a quiet period writes nothing anywhere.
    wait_for::<OrgRoleMapping>(&client, &ns, "acme-roles", "Ready", ready).await;
    assert_quiet(&op, || core.writes(), 3).await;

    // Delete under Delete clears the mapping fields; the connection (Orphan, and not deletable) stays.
    delete::<OrgRoleMapping>(&client, &ns, "acme-roles").await;
    wait_gone::<OrgRoleMapping>(&client, &ns, "acme-roles").await;
    let conn = emu.get_connection("acme-sso").unwrap();
    assert!(conn.group_mappings.is_empty() && !conn.enforce_group_sync);
    delete::<EnterpriseConnection>(&client, &ns, "acme").await;
    wait_gone::<EnterpriseConnection>(&client, &ns, "acme").await;
    assert!(
        emu.get_connection("acme-sso").is_some(),
        "an orphaned connection must stay"
    );
    let _: Api<ProviderConfig> = Api::namespaced(client.clone(), &ns);
}

#[tokio::test]
async fn qovery_bad_credentials_then_fixed_without_restart() {
    let (client, ns) = setup().await;
    let emu = QoveryEmulator::new("qov_demo_token", vec![ORG.to_string()]);
    emu.insert_connection("beta-sso", "viewer");
    let running = serve(emu.router()).await;
    let _op = Operator::start(&client, &ns);

    qovery_account(&client, &ns, &running.url(), ORG, "wrong").await;
    apply(&client, &ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
        "metadata": {"name": "beta"}, "spec": {"providerConfigRef": {"name": "qovery"}, "name": "beta-sso", "saml": {}}})).await;
    wait_for::<ProviderConfig>(&client, &ns, "qovery", "refused", |pc| {
        pc_ready(pc).is_some_and(|r| r.0 == "False" && r.1 == "Unauthenticated")
    })
    .await;
    let ec = wait_for::<EnterpriseConnection>(&client, &ns, "beta", "not Ready", |o| {
        reason(o) == "Unauthenticated"
    })
    .await;
    assert!(!ready(&ec));

    secret(&client, &ns, "qovery-creds", &[("token", "qov_demo_token")]).await;
    provider_ready(&client, &ns, "qovery").await;
    wait_for::<EnterpriseConnection>(&client, &ns, "beta", "Ready", ready).await;
}

#[tokio::test]
async fn missing_secret_is_named() {
    let (client, ns) = setup().await;
    let _op = Operator::start(&client, &ns);
    provider_config(
        &client,
        &ns,
        "qovery",
        json!({"qovery": {"organizationId": ORG}}),
        "nowhere",
        "http://127.0.0.1:9",
    )
    .await;
    apply(&client, &ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
        "metadata": {"name": "gamma"}, "spec": {"providerConfigRef": {"name": "qovery"}, "name": "gamma-sso", "saml": {}}})).await;
    let ec = wait_for::<EnterpriseConnection>(&client, &ns, "gamma", "SecretNotFound", |o| {
        reason(o) == "SecretNotFound"
    })
    .await;
    assert!(
        message(&ec).contains(&format!("{ns}/nowhere")),
        "{}",
        message(&ec)
    );
}
