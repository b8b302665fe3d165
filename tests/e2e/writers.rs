//! Item 9: two resources own parts of one remote object (a Qovery or LoginRadius connection and
//! its OrgRoleMapping), their controllers run concurrently, and each update reads the object and
//! writes all of it back (LoginRadius PUT replaces the whole connection). Without one writer per
//! remote object (`Context::lock_remote`), one controller's write carries the other's stale read
//! back: the other resource's change is lost, and its next reconcile "repairs" it as drift.
//!
//! Two phases, while the emulator answers every request after a delay so that the read→write
//! windows of the two controllers overlap:
//! 1. 50 spec edits, alternating between the connection and its mapping, sent without waiting in
//!    between; then the remote object equals both specs. The controllers coalesce most of these
//!    edits, so only the last reconciles of each decide the outcome: without the lock this phase
//!    alone failed 1 run in 3.
//! 2. 25 pairs (a connection edit and a mapping edit sent back to back), each followed by a wait
//!    until both are Ready at their new generation and a check that the remote equals both specs:
//!    25 chances for the two updates to overlap, each checked on its own.
//!
//! At the end neither resource has a `DriftRepaired` Event (nor was a drift repair counted) over
//! two resyncs in which the operator kept reconciling.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use ssoperator::{
    crd::{EnterpriseConnection, OrgRoleMapping},
    metrics::sum_samples,
};
use ssoperator_emulators::{
    EmulatorCore, Faults, loginradius::LoginRadiusEmulator, qovery::QoveryEmulator,
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
        if i.is_multiple_of(2) {
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

/// One provider's case: the spec edits and how to compare the remote object with the specs.
struct Case<'a> {
    what: &'static str,
    core: std::sync::Arc<EmulatorCore>,
    /// Edit `i`'s spec merge patch: even for the connection, odd for the mapping.
    edit: &'a dyn Fn(usize) -> Value,
    /// Whether the remote object equals the connection after edit `conn` and the mapping after
    /// edit `roles`; the error describes it.
    remote_matches: &'a dyn Fn(usize, usize) -> Result<(), String>,
}

const PAIRS: usize = 25;

async fn run(op: &Operator, client: &kube::Client, ns: &str, case: Case<'_>) {
    let what = case.what;
    case.core.reset_calls();
    case.core.set_faults(Faults {
        latency: LATENCY,
        ..Faults::default()
    });

    // 1. 50 edits without waiting.
    let started = Instant::now();
    let sent = edit_alternately(client, ns, case.edit).await;
    wait_both_ready(client, ns).await;
    let converged = started.elapsed();
    let burst_writes = case.core.writes();
    if let Err(e) = (case.remote_matches)(EDITS - 2, EDITS - 1) {
        panic!("{what}: after {EDITS} edits without waiting: {e}");
    }
    println!(
        "writers: {what}: {EDITS} alternating edits sent in {sent:.2?}, both Ready after \
         {converged:.2?}; provider writes: {burst_writes}"
    );

    // 2. Pairs, each checked.
    let started = Instant::now();
    for k in 0..PAIRS {
        let (conn, roles) = (1000 + 2 * k, 1001 + 2 * k);
        patch_spec::<EnterpriseConnection>(client, ns, "conn", (case.edit)(conn)).await;
        patch_spec::<OrgRoleMapping>(client, ns, "roles", (case.edit)(roles)).await;
        wait_both_ready(client, ns).await;
        if let Err(e) = (case.remote_matches)(conn, roles) {
            panic!("{what}: after pair {k} of {PAIRS}: {e}");
        }
    }
    println!(
        "writers: {what}: {PAIRS} pairs of edits, each converged and checked, in {:.2?}; \
         provider writes: {} (emulator latency {LATENCY:?})",
        started.elapsed(),
        case.core.writes() - burst_writes
    );
    case.core.set_faults(Faults::default());
    assert_no_drift_repaired(op, client, ns, what).await;
}

#[tokio::test]
async fn loginradius_connection_and_role_mapping_edits_do_not_undo_each_other() {
    const ORG: &str = "org_writers";
    let (client, ns) = setup().await;
    let emu = LoginRadiusEmulator::new("writers-key", "writers-secret", ORG);
    let running = serve(emu.router()).await;
    let core = emu.core();
    loginradius_account(
        &client,
        &ns,
        &running.url(),
        ORG,
        ("writers-key", "writers-secret"),
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

    let edit = |i: usize| {
        if i.is_multiple_of(2) {
            json!({"saml": {"idpEntityId": entity(i)}})
        } else {
            json!({"mappings": mappings(i)})
        }
    };
    let remote_matches = |conn: usize, roles: usize| {
        let c = emu.get_connection(&id).ok_or("the connection is gone")?;
        if c.idp_entity_id.as_deref() != Some(entity(conn).as_str()) {
            return Err(format!(
                "the connection's edit {conn} was lost: IDPEntityId {:?}",
                c.idp_entity_id
            ));
        }
        let mut got: Vec<(String, String)> = c
            .group_roles
            .iter()
            .map(|g| (g.name.clone(), g.role_id.clone()))
            .collect();
        got.sort();
        let mut want = vec![
            (format!("group-{roles}"), "role_admin".to_string()),
            ("everyone".to_string(), format!("role_r{roles}")),
        ];
        want.sort();
        if got != want {
            return Err(format!(
                "the mapping's edit {roles} was lost: GroupRoles {got:?}"
            ));
        }
        Ok(())
    };
    run(
        &op,
        &client,
        &ns,
        Case {
            what: "loginradius",
            core,
            edit: &edit,
            remote_matches: &remote_matches,
        },
    )
    .await;
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
    qovery_account(&client, &ns, &running.url(), ORG, "qov_writers_token").await;
    let op = Operator::start(&client, &ns);
    // Qovery's connection kind owns none of the object's fields (Qovery sets up the identity
    // provider side itself; the API exposes only the role fields): the connection's editable spec
    // is its policies. Its reconciles read the object while the mapping writes it.
    let policy = |i: usize| {
        if i.is_multiple_of(4) {
            "Delete"
        } else {
            "Orphan"
        }
    };
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

    let edit = |i: usize| {
        if i.is_multiple_of(2) {
            json!({"deletionPolicy": policy(i)})
        } else {
            json!({"defaultRole": role(i), "mappings": mappings(i)})
        }
    };
    let remote_matches = |_conn: usize, roles: usize| {
        let c = emu.get_connection(NAME).ok_or("the connection is gone")?;
        let want: std::collections::BTreeMap<String, Vec<String>> = [
            ("admin".to_string(), vec![format!("group-{roles}")]),
            ("devops".to_string(), vec!["everyone".to_string()]),
        ]
        .into();
        if c.default_role != role(roles) || !c.enforce_group_sync || c.group_mappings != want {
            return Err(format!("the mapping's edit {roles} was lost: {c:?}"));
        }
        Ok(())
    };
    run(
        &op,
        &client,
        &ns,
        Case {
            what: "qovery",
            core,
            edit: &edit,
            remote_matches: &remote_matches,
        },
    )
    .await;
    let ec = wait_for::<EnterpriseConnection>(&client, &ns, "conn", "Ready", ready).await;
    assert_eq!(
        serde_json::to_value(ec.spec.managed.deletion_policy).unwrap(),
        json!(policy(1000 + 2 * (PAIRS - 1)))
    );
    assert_eq!(ec.status.unwrap().external_id.as_deref(), Some(NAME));
    drop(op);
}
