//! SSO safety: lockout guards, change approval (changePolicy Manual) and the dry run. Each held
//! write is shown to reach the provider zero times, and exactly once after its plan's hash is
//! named in the right annotation.

use std::process::Command;

use kube::ResourceExt;
use serde_json::{Value, json};
use ssoperator::crd::{
    ConnectionProfile, EnterpriseConnection, OrgRoleMapping, Plan, ProviderConfig,
};
use ssoperator_emulators::{
    atlas::{AtlasEmulator, RoleAssignment, RoleMapping},
    clerk::ClerkEmulator,
    demo::DemoEmulators,
    loginradius::LoginRadiusEmulator,
    qovery::QoveryEmulator,
};

use crate::operator::*;
use crate::support;

const FED: &str = "5f0c1a2b3c4d5e6f7a8b9c0d";
const ATLAS_ORG: &str = "6a0b1c2d3e4f5a6b7c8d9e21";
const QOVERY_ORG: &str = "7f1c2a4e-8b7d-4c1e-9a2f-5d6e7f809a1c";
const LR_ORG: &str = "org_safety00000000001";
const ALLOW: &str = "ssoperator.io/allow-lockout";
const APPROVE: &str = "ssoperator.io/approve";

fn held<K: HasManagedStatus>(reason_: &'static str) -> impl Fn(&K) -> bool {
    move |o: &K| {
        reason(o) == reason_
            && o.managed_status().and_then(|s| s.observed_generation) == o.meta().generation
    }
}

fn plan_of<K: HasManagedStatus>(o: &K) -> Plan {
    o.managed_status()
        .and_then(|s| s.plan.clone())
        .unwrap_or_else(|| panic!("no plan in status: {:?}", o.managed_status()))
}

fn stalled<K: HasManagedStatus>(o: &K) -> bool {
    condition(o.managed_status(), "Stalled").is_some_and(|c| c.0 == "True")
}

fn reconciles(op: &Operator) -> f64 {
    ssoperator::metrics::sum_samples(&op.metrics.render(), "ssoperator_reconciles_total")
}

/// Waits two resyncs and checks that `writes` did not move while the operator reconciled.
async fn no_write_for_two_resyncs(op: &Operator, writes: impl Fn() -> u64) {
    let (w0, r0) = (writes(), reconciles(op));
    tokio::time::sleep(RESYNC * 2 + std::time::Duration::from_millis(500)).await;
    assert_eq!(writes(), w0, "a held write reached the provider");
    assert!(reconciles(op) > r0, "the operator did not reconcile");
}

/// `kubectl describe` of one object, printed for the record (`--nocapture`).
fn describe(ns: &str, resource: &str) {
    let out = Command::new(support::kubectl())
        .args([
            "--kubeconfig",
            support::kubeconfig_path(),
            "-n",
            ns,
            "describe",
            resource,
        ])
        .output()
        .unwrap();
    eprintln!(
        "--- kubectl describe {resource}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn orm(name: &str, config: &str, spec: Value) -> Value {
    let mut s = json!({"providerConfigRef": {"name": config}});
    for (k, v) in spec.as_object().into_iter().flatten() {
        s[k] = v.clone();
    }
    json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "OrgRoleMapping", "metadata": {"name": name}, "spec": s})
}

#[tokio::test]
async fn atlas_and_qovery_admin_lockouts_are_refused_until_the_plan_is_allowed() {
    let (client, ns) = setup().await;
    let atlas = AtlasEmulator::new("safepub", "safe-private", FED);
    atlas.insert_org_config(ATLAS_ORG, Some("0a7e0b5c9d1f2e3a4b6d"));
    atlas.edit_org_config(ATLAS_ORG, |c| {
        c.role_mappings = vec![RoleMapping {
            external_group_name: "owners".into(),
            id: AtlasEmulator::new_id(),
            role_assignments: vec![RoleAssignment {
                org_id: Some(ATLAS_ORG.into()),
                role: "ORG_OWNER".into(),
                ..Default::default()
            }],
        }];
    });
    let qovery = QoveryEmulator::new("qov_safe", vec![QOVERY_ORG.to_string()]);
    qovery.insert_connection("acme-sso", "viewer");
    let (atlas_run, qovery_run) = (serve(atlas.router()).await, serve(qovery.router()).await);
    let op = Operator::start(&client, &ns);
    secret(
        &client,
        &ns,
        "atlas-creds",
        &[("publicKey", "safepub"), ("privateKey", "safe-private")],
    )
    .await;
    secret(&client, &ns, "qovery-creds", &[("token", "qov_safe")]).await;
    provider_config(
        &client,
        &ns,
        "atlas",
        json!({"atlas": {"federationSettingsId": FED}}),
        "atlas-creds",
        &atlas_run.url(),
    )
    .await;
    provider_config(
        &client,
        &ns,
        "qovery",
        json!({"qovery": {"organizationId": QOVERY_ORG}}),
        "qovery-creds",
        &qovery_run.url(),
    )
    .await;
    let atlas_writes = || atlas.core().writes();
    let qovery_writes = || qovery.core().writes();

    // Atlas, rule 2: replacing the only ORG_OWNER mapping.
    let member = json!([{"externalGroup": "dba", "roles": [{"role": "ORG_MEMBER"}]}]);
    apply(
        &client,
        &ns,
        orm(
            "atlas-roles",
            "atlas",
            json!({"externalName": ATLAS_ORG, "mappings": member}),
        ),
    )
    .await;
    let o = wait_for::<OrgRoleMapping>(
        &client,
        &ns,
        "atlas-roles",
        "LockoutRisk",
        held("LockoutRisk"),
    )
    .await;
    assert!(
        message(&o).contains("atlas-last-owner-mapping"),
        "{}",
        message(&o)
    );
    assert!(stalled(&o), "{o:?}");
    assert_eq!(plan_of(&o).action, "Update");
    assert_eq!(atlas_writes(), 0);
    // A hash that names another change lets nothing through.
    annotate::<OrgRoleMapping>(&client, &ns, "atlas-roles", ALLOW, Some("0123456789abcdef")).await;
    no_write_for_two_resyncs(&op, atlas_writes).await;
    let o =
        wait_for::<OrgRoleMapping>(&client, &ns, "atlas-roles", "still refused", |_| true).await;
    assert_eq!(reason(&o), "LockoutRisk");

    // Atlas, rule 1: domain restriction with no owner mapping; the right hash lets exactly it through.
    patch_spec::<OrgRoleMapping>(
        &client,
        &ns,
        "atlas-roles",
        json!({"atlas": {"domainRestrictionEnabled": true}}),
    )
    .await;
    let o = wait_for::<OrgRoleMapping>(&client, &ns, "atlas-roles", "refused", |o| {
        held("LockoutRisk")(o) && message(o).contains("atlas-restriction-without-owner")
    })
    .await;
    assert_eq!(atlas_writes(), 0);
    let hash = plan_of(&o).hash;
    assert!(message(&o).contains(&hash), "{}", message(&o));
    describe(&ns, "orgrolemapping/atlas-roles");
    annotate::<OrgRoleMapping>(&client, &ns, "atlas-roles", ALLOW, Some(&hash)).await;
    let o = wait_for::<OrgRoleMapping>(&client, &ns, "atlas-roles", "Ready", ready).await;
    assert_eq!(atlas_writes(), 1);
    assert!(o.status.as_ref().unwrap().plan.is_none(), "{o:?}");
    assert!(!stalled(&o));
    let held_now = atlas.get_org_config(ATLAS_ORG).unwrap();
    assert!(held_now.domain_restriction_enabled);
    assert_eq!(held_now.role_mappings.len(), 1);

    // Qovery: group sync enforced with no admin or owner group.
    apply(
        &client,
        &ns,
        orm(
            "acme-roles",
            "qovery",
            json!({"externalName": "acme-sso", "enforceGroupSync": true,
        "mappings": [{"externalGroup": "eng", "roles": [{"role": "viewer"}]}]}),
        ),
    )
    .await;
    let o = wait_for::<OrgRoleMapping>(
        &client,
        &ns,
        "acme-roles",
        "LockoutRisk",
        held("LockoutRisk"),
    )
    .await;
    assert!(
        message(&o).contains("qovery-group-sync-without-admin"),
        "{}",
        message(&o)
    );
    assert_eq!(qovery_writes(), 0);
    let first = plan_of(&o).hash;
    // Another change under the same rule has another hash: an override of the first is stale.
    patch_spec::<OrgRoleMapping>(
        &client,
        &ns,
        "acme-roles",
        json!({"mappings": [{"externalGroup": "eng", "roles": [{"role": "devops"}]}]}),
    )
    .await;
    let o = wait_for::<OrgRoleMapping>(&client, &ns, "acme-roles", "refused again", |o| {
        held("LockoutRisk")(o) && plan_of(o).hash != first
    })
    .await;
    annotate::<OrgRoleMapping>(&client, &ns, "acme-roles", ALLOW, Some(&first)).await;
    no_write_for_two_resyncs(&op, qovery_writes).await;
    let second = plan_of(&o).hash;
    annotate::<OrgRoleMapping>(&client, &ns, "acme-roles", ALLOW, Some(&second)).await;
    wait_for::<OrgRoleMapping>(&client, &ns, "acme-roles", "Ready", ready).await;
    assert_eq!(qovery_writes(), 1);
    let conn = qovery.get_connection("acme-sso").unwrap();
    assert!(conn.enforce_group_sync);
    let reasons = event_reasons(&client, &ns, "acme-roles").await;
    assert_eq!(
        reasons.iter().filter(|r| *r == "LockoutRisk").count(),
        2,
        "one Warning per refused plan: {reasons:?}"
    );
}

fn connection(name: &str, config: &str, domain: &str, extra: Value) -> Value {
    let saml = if config == "lr" {
        json!({"idpEntityId": "https://idp.example.com", "idpMetadataUrl": "https://idp.example.com/metadata.xml"})
    } else {
        json!({"idpEntityId": "https://idp.example.com", "idpSsoUrl": "https://idp.example.com/sso"})
    };
    let mut spec = json!({"providerConfigRef": {"name": config}, "name": name, "domains": [domain], "saml": saml});
    for (k, v) in extra.as_object().into_iter().flatten() {
        spec[k] = v.clone();
    }
    json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection", "metadata": {"name": name}, "spec": spec})
}

#[tokio::test]
async fn the_last_active_connection_of_a_domain_is_not_switched_off_or_deleted_unless_allowed() {
    let (client, ns) = setup().await;
    let clerk = ClerkEmulator::new("sk_test_safety");
    let lr = LoginRadiusEmulator::new("lr-key", "lr-secret", LR_ORG);
    let (clerk_run, lr_run) = (serve(clerk.router()).await, serve(lr.router()).await);
    let op = Operator::start(&client, &ns);
    secret(
        &client,
        &ns,
        "clerk-creds",
        &[("secretKey", "sk_test_safety")],
    )
    .await;
    secret(
        &client,
        &ns,
        "lr-creds",
        &[("apiKey", "lr-key"), ("apiSecret", "lr-secret")],
    )
    .await;
    provider_config(
        &client,
        &ns,
        "clerk",
        json!({"clerk": {}}),
        "clerk-creds",
        &clerk_run.url(),
    )
    .await;
    provider_config(
        &client,
        &ns,
        "lr",
        json!({"loginradius": {"organizationId": LR_ORG}}),
        "lr-creds",
        &lr_run.url(),
    )
    .await;
    let clerk_writes = || clerk.core().writes();
    let lr_writes = || lr.core().writes();

    // Clerk: one active connection for acme.example.com.
    apply(
        &client,
        &ns,
        connection(
            "okta",
            "clerk",
            "acme.example.com",
            json!({"deletionPolicy": "Delete", "active": true,
                // Clerk activates a SAML connection only with complete IdP metadata.
                "saml": {"idpMetadataUrl": "https://idp.example.com/metadata.xml"}}),
        ),
    )
    .await;
    wait_for::<EnterpriseConnection>(&client, &ns, "okta", "Ready", ready).await;
    assert_eq!(clerk_writes(), 1);
    patch_spec::<EnterpriseConnection>(&client, &ns, "okta", json!({"active": false})).await;
    let o =
        wait_for::<EnterpriseConnection>(&client, &ns, "okta", "LockoutRisk", held("LockoutRisk"))
            .await;
    assert!(
        message(&o).contains("last-active-connection") && message(&o).contains("acme.example.com"),
        "{}",
        message(&o)
    );
    no_write_for_two_resyncs(&op, clerk_writes).await;
    // Deleting it is the same risk: the finalizer stays and nothing is deleted at Clerk.
    delete::<EnterpriseConnection>(&client, &ns, "okta").await;
    let o = wait_for::<EnterpriseConnection>(&client, &ns, "okta", "delete refused", |o| {
        o.status
            .as_ref()
            .and_then(|s| s.plan.as_ref())
            .is_some_and(|p| p.action == "Delete")
    })
    .await;
    assert_eq!(reason(&o), "LockoutRisk");
    no_write_for_two_resyncs(&op, clerk_writes).await;
    assert_eq!(clerk.count_connections(), 1);
    annotate::<EnterpriseConnection>(&client, &ns, "okta", ALLOW, Some(&plan_of(&o).hash)).await;
    wait_gone::<EnterpriseConnection>(&client, &ns, "okta").await;
    assert_eq!(clerk.count_connections(), 0);
    assert_eq!(clerk_writes(), 2, "one create, one delete");

    // LoginRadius: two active connections for one domain; the first may go off, the last may not.
    for name in ["azure-a", "azure-b"] {
        apply(
            &client,
            &ns,
            connection(name, "lr", "globex.example.com", json!({})),
        )
        .await;
    }
    for name in ["azure-a", "azure-b"] {
        wait_for::<EnterpriseConnection>(&client, &ns, name, "Ready", ready).await;
    }
    let w0 = lr_writes();
    patch_spec::<EnterpriseConnection>(&client, &ns, "azure-a", json!({"active": false})).await;
    wait_for::<EnterpriseConnection>(&client, &ns, "azure-a", "Ready", ready).await;
    assert_eq!(lr_writes(), w0 + 1);
    patch_spec::<EnterpriseConnection>(&client, &ns, "azure-b", json!({"active": false})).await;
    let o = wait_for::<EnterpriseConnection>(
        &client,
        &ns,
        "azure-b",
        "LockoutRisk",
        held("LockoutRisk"),
    )
    .await;
    assert!(
        message(&o).contains("globex.example.com"),
        "{}",
        message(&o)
    );
    no_write_for_two_resyncs(&op, lr_writes).await;
}

#[tokio::test]
async fn manual_changes_wait_for_the_approval_of_their_exact_plan() {
    let (client, ns) = setup().await;
    let clerk = ClerkEmulator::new("sk_test_manual");
    let clerk_run = serve(clerk.router()).await;
    let op = Operator::start(&client, &ns);
    secret(
        &client,
        &ns,
        "clerk-creds",
        &[("secretKey", "sk_test_manual")],
    )
    .await;
    provider_config(
        &client,
        &ns,
        "clerk",
        json!({"clerk": {}}),
        "clerk-creds",
        &clerk_run.url(),
    )
    .await;
    // Its Ready status is written once; the quiet window below must not catch that write.
    wait_for::<ProviderConfig>(&client, &ns, "clerk", "Ready", |pc| {
        pc_ready(pc).is_some_and(|r| r.0 == "True")
    })
    .await;
    let writes = || clerk.core().writes();
    apply(
        &client,
        &ns,
        connection(
            "manual",
            "clerk",
            "manual.example.com",
            json!({"changePolicy": "Manual"}),
        ),
    )
    .await;
    let o = wait_for::<EnterpriseConnection>(
        &client,
        &ns,
        "manual",
        "AwaitingApproval",
        held("AwaitingApproval"),
    )
    .await;
    let create = plan_of(&o);
    assert_eq!(create.action, "Create");
    assert!(
        create.fields.iter().any(
            |f| f.path == "domains" && f.desired.as_deref() == Some("[\"manual.example.com\"]")
        ),
        "{create:?}"
    );
    for type_ in ["AwaitingApproval", "Reconciling"] {
        assert_eq!(
            condition(o.status.as_ref(), type_).map(|c| c.0),
            Some("True".into()),
            "{type_}"
        );
    }
    assert_eq!(writes(), 0);
    // kubectl shows the hash to approve.
    let out = Command::new(support::kubectl())
        .args([
            "--kubeconfig",
            support::kubeconfig_path(),
            "-n",
            &ns,
            "get",
            "enterpriseconnection",
            "manual",
        ])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("APPROVAL") && table.contains(&create.hash),
        "{table}"
    );

    annotate::<EnterpriseConnection>(&client, &ns, "manual", APPROVE, Some(&create.hash)).await;
    let o = wait_for::<EnterpriseConnection>(&client, &ns, "manual", "Ready", ready).await;
    assert_eq!(writes(), 1, "exactly the create");
    assert!(o.status.as_ref().unwrap().plan.is_none());
    assert_eq!(condition(o.status.as_ref(), "AwaitingApproval"), None);
    let id = o.status.unwrap().external_id.unwrap();

    // An edit: a new plan, and nothing written for three resyncs (the old approval names the create).
    patch_spec::<EnterpriseConnection>(
        &client,
        &ns,
        "manual",
        json!({"saml": {"idpSsoUrl": "https://idp.example.com/sso2"}}),
    )
    .await;
    let o = wait_for::<EnterpriseConnection>(
        &client,
        &ns,
        "manual",
        "AwaitingApproval",
        held("AwaitingApproval"),
    )
    .await;
    let update = plan_of(&o);
    assert_eq!(update.action, "Update");
    describe(&ns, "enterpriseconnection/manual");
    let field = update
        .fields
        .iter()
        .find(|f| f.path == "saml.idpSsoUrl")
        .expect("planned field");
    assert_eq!(
        field.current.as_deref(),
        Some("\"https://idp.example.com/sso\"")
    );
    assert_eq!(
        field.desired.as_deref(),
        Some("\"https://idp.example.com/sso2\"")
    );
    assert_quiet(&op, writes, 3).await;
    annotate::<EnterpriseConnection>(&client, &ns, "manual", APPROVE, Some("ffffffffffffffff"))
        .await;
    no_write_for_two_resyncs(&op, writes).await;
    annotate::<EnterpriseConnection>(&client, &ns, "manual", APPROVE, Some(&update.hash)).await;
    wait_for::<EnterpriseConnection>(&client, &ns, "manual", "Ready", ready).await;
    assert_eq!(writes(), 2, "exactly one update");
    assert_eq!(
        clerk
            .get_connection(&id)
            .unwrap()
            .saml_connection
            .unwrap()
            .idp_sso_url
            .as_deref(),
        Some("https://idp.example.com/sso2")
    );

    // A change made in the console waits for approval too.
    clerk.edit_connection(&id, |c| c.name = "renamed in the console".into());
    let o = wait_for::<EnterpriseConnection>(&client, &ns, "manual", "drift plan", |o| {
        held("AwaitingApproval")(o) && plan_of(o).fields.iter().any(|f| f.path == "name")
    })
    .await;
    no_write_for_two_resyncs(&op, writes).await;
    annotate::<EnterpriseConnection>(&client, &ns, "manual", APPROVE, Some(&plan_of(&o).hash))
        .await;
    wait_for::<EnterpriseConnection>(&client, &ns, "manual", "Ready", ready).await;
    assert_eq!(writes(), 3);
    assert_eq!(clerk.get_connection(&id).unwrap().name, "manual");
}

#[tokio::test]
async fn a_dry_run_over_the_examples_writes_nothing_and_reports_each_write_once() {
    let (client, ns) = setup().await;
    let emulators = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
    let docs = crate::demo::examples_for(&emulators, &ns);
    let op = Operator::start_with(&client, &ns, |c| {
        c.dry_run = true;
        c.cluster_provider_configs = Some(true);
    });
    for doc in &docs {
        apply(&client, &ns, doc.clone()).await;
    }
    // Auth0's token request counts as a POST; it changes nothing at the provider.
    let writes = || {
        emulators.writes().values().sum::<u64>()
            - emulators
                .auth0
                .core()
                .calls()
                .get("POST /oauth/token")
                .copied()
                .unwrap_or(0)
    };
    let would = |r: &str| r.starts_with("Would");
    let mut reported = std::collections::BTreeMap::new();
    for doc in &docs {
        let name = doc["metadata"]["name"].as_str().unwrap();
        let observe_only = doc["spec"]["managementPolicy"] == "ObserveOnly";
        let waits_for_connection = doc["spec"].get("connectionRef").is_some();
        // An ObserveOnly resource never writes, but its adoption is reported all the same.
        let done = |reason: &str| match () {
            _ if waits_for_connection => reason == "ConnectionNotReady",
            _ if observe_only => would(reason) || reason == "Available" || reason == "Drifted",
            _ => would(reason),
        };
        let reason_now = match doc["kind"].as_str().unwrap() {
            "EnterpriseConnection" => reason(
                &wait_for::<EnterpriseConnection>(&client, &ns, name, "reported", |o| {
                    done(&reason(o))
                })
                .await,
            ),
            "ConnectionProfile" => reason(
                &wait_for::<ConnectionProfile>(&client, &ns, name, "reported", |o| {
                    done(&reason(o))
                })
                .await,
            ),
            "OrgRoleMapping" => reason(
                &wait_for::<OrgRoleMapping>(&client, &ns, name, "reported", |o| done(&reason(o)))
                    .await,
            ),
            _ => continue,
        };
        eprintln!("{} {name}: {reason_now}", doc["kind"]);
        reported.insert(name.to_string(), would(&reason_now));
    }
    // Role mappings that wait for a connection settle a resync after it reports (seen once: a
    // status write a moment after the last resource was reported); then nothing moves.
    tokio::time::sleep(RESYNC * 2).await;
    assert_quiet(&op, writes, 3).await;
    assert_eq!(writes(), 0, "{:?}", emulators.writes());
    describe(&ns, "enterpriseconnection/acme-okta-saml");
    eprintln!(
        "provider writes over the dry run: {} ({:?}, Auth0 token requests excluded)",
        writes(),
        emulators.writes()
    );
    for doc in &docs {
        let name = doc["metadata"]["name"].as_str().unwrap();
        if !matches!(
            doc["kind"].as_str(),
            Some("EnterpriseConnection" | "ConnectionProfile" | "OrgRoleMapping")
        ) {
            continue;
        }
        let reasons = event_reasons(&client, &ns, name).await;
        let count = reasons.iter().filter(|r| would(r)).count();
        assert_eq!(count, usize::from(reported[name]), "{name}: {reasons:?}");
        assert!(
            !reasons
                .iter()
                .any(|r| r == "Created" || r == "Adopted" || r == "Updated"),
            "{name}: {reasons:?}"
        );
    }
    // No finalizer was added: a dry run never deletes.
    let ecs: kube::Api<EnterpriseConnection> = kube::Api::namespaced(client.clone(), &ns);
    for ec in ecs.list(&Default::default()).await.unwrap() {
        assert!(ec.finalizers().is_empty(), "{ec:?}");
    }
    let cpcs: kube::Api<ssoperator::crd::ClusterProviderConfig> = kube::Api::all(client.clone());
    for doc in docs.iter().filter(|d| d["kind"] == "ClusterProviderConfig") {
        let _ = cpcs
            .delete(
                doc["metadata"]["name"].as_str().unwrap(),
                &Default::default(),
            )
            .await;
    }
}
