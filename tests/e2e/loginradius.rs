//! LoginRadius: connections are created, updated with PUT and deleted; role mappings share the object.

use std::time::Duration;

use serde_json::{Value, json};
use ssoperator::crd::{EnterpriseConnection, OrgRoleMapping};
use ssoperator_emulators::loginradius::wire::Connection;
use ssoperator_emulators::{Faults, loginradius::LoginRadiusEmulator};

use crate::operator::*;

const ORG: &str = "org_demo";

async fn setup_lr() -> (
    kube::Client,
    String,
    LoginRadiusEmulator,
    ssoperator_emulators::Running,
) {
    let (client, ns) = setup().await;
    let emu = LoginRadiusEmulator::new("demo-api-key", "demo-api-secret", ORG);
    let running = serve(emu.router()).await;
    loginradius_account(
        &client,
        &ns,
        &running.url(),
        ORG,
        ("demo-api-key", "demo-api-secret"),
    )
    .await;
    (client, ns, emu, running)
}

fn connection(name: &str, extra: Value) -> Value {
    let mut spec = json!({"providerConfigRef": {"name": "lr"}, "name": name, "domains": ["example.com"],
        "saml": {"idpEntityId": "https://idp.example.com", "idpMetadataUrl": "https://idp.example.com/metadata.xml", "allowIdpInitiated": true}});
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection", "metadata": {"name": name.to_lowercase()}, "spec": spec})
}

#[tokio::test]
async fn loginradius_create_update_roles_and_delete() {
    let (client, ns, emu, _running) = setup_lr().await;
    let core = emu.core();
    let _op = Operator::start_with(&client, &ns, |c| {
        // Deletion mechanics under test; the lockout guard's refusal of such a delete is tested in safety.
        c.lockout_guards = false;
    });
    apply(
        &client,
        &ns,
        connection("Azure", json!({"deletionPolicy": "Delete"})),
    )
    .await;
    apply(&client, &ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "OrgRoleMapping", "metadata": {"name": "azure-roles"},
        "spec": {"providerConfigRef": {"name": "lr"}, "connectionRef": {"name": "azure"},
                 "mappings": [{"externalGroup": "Security", "externalGroupId": "eca8da89", "roles": [{"role": "role_admin"}]}]}})).await;
    let ec = wait_for::<EnterpriseConnection>(&client, &ns, "azure", "Ready", ready).await;
    let status = ec.status.unwrap();
    let id = status.external_id.clone().unwrap();
    assert!(id.starts_with("conn_"));
    let outputs = status.outputs.unwrap();
    assert!(
        outputs.sp_entity_id.is_some()
            && outputs.acs_url.is_some()
            && outputs.sp_metadata_url.is_some()
    );
    wait_for::<OrgRoleMapping>(&client, &ns, "azure-roles", "Ready", ready).await;
    let conn = emu.get_connection(&id).unwrap();
    assert_eq!(conn.group_roles.len(), 1);
    assert_eq!(
        conn.idp_entity_id.as_deref(),
        Some("https://idp.example.com")
    );
    assert_eq!(emu.count_connections(), 1);

    // A spec edit: one PUT, and the role mappings owned by the other resource survive it.
    let puts = core.calls_of("PUT");
    patch_spec::<EnterpriseConnection>(
        &client,
        &ns,
        "azure",
        json!({"saml": {"idpEntityId": "https://idp2.example.com"}}),
    )
    .await;
    wait_for::<EnterpriseConnection>(&client, &ns, "azure", "Ready at generation 2", |o| {
        ready(o) && o.metadata.generation == Some(2)
    })
    .await;
    assert_eq!(core.calls_of("PUT") - puts, 1);
    let conn = emu.get_connection(&id).unwrap();
    assert_eq!(
        conn.idp_entity_id.as_deref(),
        Some("https://idp2.example.com")
    );
    assert_eq!(
        conn.group_roles.len(),
        1,
        "the connection update erased the role mappings"
    );

    // Orphan (default) leaves the role mappings; Delete removes the connection.
    delete::<OrgRoleMapping>(&client, &ns, "azure-roles").await;
    wait_gone::<OrgRoleMapping>(&client, &ns, "azure-roles").await;
    assert_eq!(emu.get_connection(&id).unwrap().group_roles.len(), 1);
    delete::<EnterpriseConnection>(&client, &ns, "azure").await;
    wait_gone::<EnterpriseConnection>(&client, &ns, "azure").await;
    assert!(emu.get_connection(&id).is_none());
    wait_event(&client, &ns, "azure", "Deleted").await;
}

#[tokio::test]
async fn loginradius_duplicate_name_shows_provider_message_and_recovers_without_a_loop() {
    let (client, ns, emu, _running) = setup_lr().await;
    let core = emu.core();
    emu.insert_connection(
        "conn_taken000000001",
        Connection {
            name: "Taken".into(),
            domain: Some("example.com".into()),
            connection_type: "saml_custom".into(),
            ..Default::default()
        },
    );
    let _op = Operator::start(&client, &ns);
    apply(&client, &ns, connection("Original", json!({}))).await;
    wait_for::<EnterpriseConnection>(&client, &ns, "original", "Ready", ready).await;
    patch_spec::<EnterpriseConnection>(&client, &ns, "original", json!({"name": "Taken"})).await;
    let ec = wait_for::<EnterpriseConnection>(&client, &ns, "original", "Conflict", |o| {
        reason(o) == "Conflict"
    })
    .await;
    assert!(
        message(&ec).contains("Connection exists with the same name"),
        "{}",
        message(&ec)
    );
    // Not a loop: retried with a backoff capped at the resync period, since the other object
    // may go away without anything changing in the cluster.
    let puts = core.calls_of("PUT");
    tokio::time::sleep(RESYNC * 3).await;
    let retries = core.calls_of("PUT") - puts;
    assert!(
        retries <= 4,
        "{retries} PUTs in 3 resync periods: a retry loop"
    );
    // The other connection renamed in the console: the name is free and the retry succeeds.
    assert!(emu.edit_connection("conn_taken000000001", |c| c.name = "Freed".into()));
    wait_for::<EnterpriseConnection>(&client, &ns, "original", "Ready", ready).await;
}

#[tokio::test]
async fn loginradius_adoption_observe_only_paused_and_already_managed() {
    let (client, ns, emu, _running) = setup_lr().await;
    let core = emu.core();
    let seeded = Connection {
        name: "Console".into(),
        domain: Some("example.com".into()),
        connection_type: "saml_custom".into(),
        idp_entity_id: Some("https://console.example.com".into()),
        ..Default::default()
    };
    emu.insert_connection("conn_console00000001", seeded);
    let _op = Operator::start(&client, &ns);

    // ObserveOnly adopts by externalName, reports the drift and never writes.
    apply(
        &client,
        &ns,
        connection(
            "Console",
            json!({"externalName": "conn_console00000001", "managementPolicy": "ObserveOnly"}),
        ),
    )
    .await;
    let ec = wait_for::<EnterpriseConnection>(&client, &ns, "console", "Drifted", |o| {
        reason(o) == "Drifted"
    })
    .await;
    assert!(
        message(&ec).contains("saml.idpEntityId"),
        "{}",
        message(&ec)
    );
    tokio::time::sleep(RESYNC * 2).await;
    assert_eq!(
        core.writes(),
        0,
        "ObserveOnly or adoption wrote to the provider"
    );

    // A second resource naming the same remote object is refused, naming the first.
    let mut other = connection("Console", json!({"externalName": "conn_console00000001"}));
    other["metadata"]["name"] = json!("console-copy");
    apply(&client, &ns, other).await;
    let copy =
        wait_for::<EnterpriseConnection>(&client, &ns, "console-copy", "AlreadyManaged", |o| {
            reason(o) == "AlreadyManaged"
        })
        .await;
    assert!(
        message(&copy).contains(&format!("{ns}/console")),
        "{}",
        message(&copy)
    );
    delete::<EnterpriseConnection>(&client, &ns, "console-copy").await;

    // Paused: switching to Manage writes nothing until the annotation goes.
    annotate::<EnterpriseConnection>(
        &client,
        &ns,
        "console",
        "ssoperator.io/paused",
        Some("true"),
    )
    .await;
    patch_spec::<EnterpriseConnection>(
        &client,
        &ns,
        "console",
        json!({"managementPolicy": "Manage"}),
    )
    .await;
    tokio::time::sleep(RESYNC * 2).await;
    assert_eq!(core.writes(), 0, "a paused resource wrote to the provider");
    annotate::<EnterpriseConnection>(&client, &ns, "console", "ssoperator.io/paused", None).await;
    wait_for::<EnterpriseConnection>(&client, &ns, "console", "Ready", ready).await;
    assert_eq!(core.calls_of("POST"), 0, "adoption created an object");
    assert_eq!(
        emu.get_connection("conn_console00000001")
            .unwrap()
            .idp_entity_id
            .as_deref(),
        Some("https://idp.example.com")
    );
}

#[tokio::test]
async fn loginradius_restart_during_create_leaves_one_object() {
    let (client, ns, emu, _running) = setup_lr().await;
    let core = emu.core();
    core.set_faults(Faults {
        latency: Duration::from_secs(5),
        ..Faults::default()
    });
    let op = Operator::start(&client, &ns);
    apply(&client, &ns, connection("Crashy", json!({}))).await;
    wait_for::<EnterpriseConnection>(&client, &ns, "crashy", "create pending", |o| {
        o.metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(ssoperator::crd::PENDING_CREATE_ANNOTATION))
    })
    .await;
    // Crash while the create is in flight, with the provider having made the object.
    op.kill();
    core.set_faults(Faults::default());
    let made = Connection {
        name: "Crashy".into(),
        domain: Some("example.com".into()),
        connection_type: "saml_custom".into(),
        ..Default::default()
    };
    emu.insert_connection("conn_crashy00000001", made);
    let _op = Operator::start(&client, &ns);
    wait_for::<EnterpriseConnection>(&client, &ns, "crashy", "Ready", ready).await;
    tokio::time::sleep(RESYNC).await;
    assert_eq!(
        emu.count_connections(),
        1,
        "a restart during create made a duplicate"
    );
    wait_event(&client, &ns, "crashy", "Adopted").await;
}
