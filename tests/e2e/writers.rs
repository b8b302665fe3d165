//! Item 9: two resources own parts of one remote object (a Qovery or LoginRadius connection and
//! its OrgRoleMapping), their controllers run concurrently, and each update reads the object and
//! writes all of it back (LoginRadius PUT replaces the whole connection). Without one writer per
//! remote object (`Context::lock_remote`), one controller's write carries the other's stale read
//! back: the other resource's change is lost, and its next reconcile "repairs" it as drift.
//!
//! 50 spec edits, alternating between the connection and its mapping, are sent without waiting in
//! between, while the emulator answers every request after a delay so that the read→write windows
//! of the two controllers overlap. At the end the remote object equals both specs and neither
//! resource posted a `DriftRepaired` Event (nor counted a drift repair), while the operator kept
//! reconciling.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use ssoperator::{
    crd::{EnterpriseConnection, OrgRoleMapping},
    emulator::{EmulatorCore, Faults, loginradius::LoginRadiusEmulator, qovery::QoveryEmulator},
    metrics::sum_samples,
};

use crate::operator::*;

const EDITS: usize = 50;
/// Added to every emulator request during the edits: each update is a read and a write (and the
/// reconcile's observe before it), so a controller holds a stale copy for at least this long.
const LATENCY: Duration = Duration::from_millis(150);

fn reconciles(op: &Operator) -> f64 {
    sum_samples(&op.metrics.render(), "ssoperator_reconciles_total")
}

fn drift_repairs(op: &Operator) -> f64 {
    sum_samples(&op.metrics.render(), "ssoperator_drift_repairs_total")
}

/// Sends the edits (even: the connection, odd: the mapping) without waiting in between; `edit(i)`
/// gives the kind and the spec merge patch of edit `i`.
async fn edit_alternately(
    client: &kube::Client,
    ns: &str,
    edit: impl Fn(usize) -> Value,
) -> Duration {
    let started = Instant::now();
    for i in 0..EDITS {
        if i % 2 == 0 {
            patch_spec::<EnterpriseConnection>(client, ns, "conn", edit(i)).await;
        } else {
            patch_spec::<OrgRoleMapping>(client, ns, "roles", edit(i)).await;
        }
    }
    started.elapsed()
}

/// Waits for both resources to be Ready at their latest generation.
async fn wait_both_ready(client: &kube::Client, ns: &str) {
    wait_for::<EnterpriseConnection>(client, ns, "conn", "Ready at its last generation", ready)
        .await;
    wait_for::<OrgRoleMapping>(client, ns, "roles", "Ready at its last generation", ready).await;
}

/// After convergence: two resyncs in which the operator reconciles (the counter moves) and
/// repairs nothing; then neither resource has a `DriftRepaired` Event.
async fn assert_no_drift_repaired(op: &Operator, client: &kube::Client, ns: &str, what: &str) {
    let r0 = reconciles(op);
    tokio::time::sleep(RESYNC * 2 + Duration::from_millis(500)).await;
    assert!(
        reconciles(op) > r0,
        "{what}: the operator did not reconcile during the quiet window"
    );
    assert_eq!(
        drift_repairs(op),
        0.0,
        "{what}: the operator repaired drift it caused itself"
    );
    for name in ["conn", "roles"] {
        let reasons = event_reasons(client, ns, name).await;
        assert!(
            !reasons.iter().any(|r| r == "DriftRepaired"),
            "{what}: {name} has a DriftRepaired Event: {reasons:?}"
        );
    }
}

fn report(what: &str, core: &EmulatorCore, sent: Duration, converged: Duration) {
    println!(
        "writers: {what}: {EDITS} alternating edits sent in {sent:.2?}, both Ready after {converged:.2?}; \
         provider writes during the edits: {} (PUT {}), emulator latency {LATENCY:?}",
        core.writes(),
        core.calls_of("PUT"),
    );
}

#[tokio::test]
async fn loginradius_connection_and_role_mapping_edits_do_not_undo_each_other() {
    const ORG: &str = "org_writers";
    let (client, ns) = setup().await;
    let emu = LoginRadiusEmulator::new("writers-key", "writers-secret", ORG);
    let running = serve(emu.router()).await;
    let core = emu.core();
    secret(
        &client,
        &ns,
        "creds",
        &[("apiKey", "writers-key"), ("apiSecret", "writers-secret")],
    )
    .await;
    provider_config(
        &client,
        &ns,
        "lr",
        json!({"loginradius": {"organizationId": ORG}}),
        "creds",
        &running.url(),
    )
    .await;
    let op = Operator::start(&client, &ns);
    let entity = |i: usize| format!("https://idp{i}.example.com");
    let mappings = |i: usize| {
        json!([{"externalGroup": format!("group-{i}"), "roles": [{"role": "role_admin"}]},
               {"externalGroup": "everyone", "roles": [{"role": format!("role_r{i}")}]}])
    };
    apply(&client, &ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
        "metadata": {"name": "conn"},
        "spec": {"providerConfigRef": {"name": "lr"}, "name": "Writers", "domains": ["example.com"],
                 "deletionPolicy": "Delete",
                 "saml": {"idpEntityId": entity(100), "idpMetadataUrl": "https://idp.example.com/metadata.xml"}}})).await;
    apply(
        &client,
        &ns,
        json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "OrgRoleMapping",
        "metadata": {"name": "roles"},
        "spec": {"providerConfigRef": {"name": "lr"}, "connectionRef": {"name": "conn"},
                 "mappings": mappings(100)}}),
    )
    .await;
    wait_both_ready(&client, &ns).await;
    let ec = wait_for::<EnterpriseConnection>(&client, &ns, "conn", "Ready", ready).await;
    let id = ec.status.unwrap().external_id.unwrap();

    core.reset_calls();
    core.set_faults(Faults {
        latency: LATENCY,
        ..Faults::default()
    });
    let started = Instant::now();
    let sent = edit_alternately(&client, &ns, |i| {
        if i % 2 == 0 {
            json!({"saml": {"idpEntityId": entity(i)}})
        } else {
            json!({"mappings": mappings(i)})
        }
    })
    .await;
    wait_both_ready(&client, &ns).await;
    let converged = started.elapsed();
    core.set_faults(Faults::default());
    report("loginradius", &core, sent, converged);

    // The remote connection equals both specs: the last connection edit and the last mapping edit.
    let (last_conn, last_roles) = (EDITS - 2, EDITS - 1);
    let conn = emu.get_connection(&id).unwrap();
    assert_eq!(
        conn.idp_entity_id.as_deref(),
        Some(entity(last_conn).as_str()),
        "the connection's last edit was lost: {conn:#?}"
    );
    let mut roles: Vec<(String, String)> = conn
        .group_roles
        .iter()
        .map(|g| (g.name.clone(), g.role_id.clone()))
        .collect();
    roles.sort();
    let mut want = vec![
        (format!("group-{last_roles}"), "role_admin".to_string()),
        ("everyone".to_string(), format!("role_r{last_roles}")),
    ];
    want.sort();
    assert_eq!(roles, want, "the mapping's last edit was lost: {conn:#?}");
    assert_no_drift_repaired(&op, &client, &ns, "loginradius").await;
    drop(op);
}

#[tokio::test]
async fn qovery_connection_and_role_mapping_edits_do_not_undo_each_other() {
    const ORG: &str = "7d0c4b2e-1f3a-4e5b-8c6d-9e0f1a2b3c4d";
    const NAME: &str = "writers-sso";
    let (client, ns) = setup().await;
    let emu = QoveryEmulator::new("qov_writers_token", vec![ORG.to_string()]);
    emu.insert_connection(NAME, "viewer");
    let running = serve(emu.router()).await;
    let core = emu.core();
    secret(&client, &ns, "creds", &[("token", "qov_writers_token")]).await;
    provider_config(
        &client,
        &ns,
        "qovery",
        json!({"qovery": {"organizationId": ORG}}),
        "creds",
        &running.url(),
    )
    .await;
    let op = Operator::start(&client, &ns);
    // Qovery's connection kind owns none of the object's fields (Qovery sets up the identity
    // provider side itself; the API exposes only the role fields): the connection's editable spec
    // is its policies. Its reconciles read the object while the mapping writes it.
    let policy = |i: usize| if i % 4 == 0 { "Delete" } else { "Orphan" };
    let role = |i: usize| if i % 4 == 1 { "devops" } else { "viewer" };
    let mappings = |i: usize| {
        json!([{"externalGroup": format!("group-{i}"), "roles": [{"role": "admin"}]},
               {"externalGroup": "everyone", "roles": [{"role": "devops"}]}])
    };
    apply(&client, &ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
        "metadata": {"name": "conn"},
        "spec": {"providerConfigRef": {"name": "qovery"}, "name": NAME, "deletionPolicy": "Orphan", "saml": {}}}))
    .await;
    apply(
        &client,
        &ns,
        json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "OrgRoleMapping",
        "metadata": {"name": "roles"},
        "spec": {"providerConfigRef": {"name": "qovery"}, "connectionRef": {"name": "conn"},
                 "defaultRole": "viewer", "enforceGroupSync": true, "mappings": mappings(100)}}),
    )
    .await;
    wait_both_ready(&client, &ns).await;

    core.reset_calls();
    core.set_faults(Faults {
        latency: LATENCY,
        ..Faults::default()
    });
    let started = Instant::now();
    let sent = edit_alternately(&client, &ns, |i| {
        if i % 2 == 0 {
            json!({"deletionPolicy": policy(i)})
        } else {
            json!({"defaultRole": role(i), "mappings": mappings(i)})
        }
    })
    .await;
    wait_both_ready(&client, &ns).await;
    let converged = started.elapsed();
    core.set_faults(Faults::default());
    report("qovery", &core, sent, converged);

    let last_roles = EDITS - 1;
    let conn = emu.get_connection(NAME).unwrap();
    assert_eq!(conn.connection_name, NAME);
    assert_eq!(conn.default_role, role(last_roles), "{conn:#?}");
    assert!(conn.enforce_group_sync, "{conn:#?}");
    let want: std::collections::BTreeMap<String, Vec<String>> = [
        ("admin".to_string(), vec![format!("group-{last_roles}")]),
        ("devops".to_string(), vec!["everyone".to_string()]),
    ]
    .into();
    assert_eq!(
        conn.group_mappings, want,
        "the mapping's last edit was lost"
    );
    let ec = wait_for::<EnterpriseConnection>(&client, &ns, "conn", "Ready", ready).await;
    assert_eq!(
        serde_json::to_value(&ec.spec.managed.deletion_policy).unwrap(),
        json!(policy(EDITS - 2))
    );
    assert_eq!(ec.status.unwrap().external_id.as_deref(), Some(NAME));
    assert_no_drift_repaired(&op, &client, &ns, "qovery").await;
    drop(op);
}
