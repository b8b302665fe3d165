//! One lifecycle, run against each of the five providers (the issue's acceptance list):
//! create or adopt → Ready with the remote matching the spec; a spec edit → exactly one provider
//! write; a console edit → repaired within a resync, with a `DriftRepaired` Event; ObserveOnly
//! and the paused annotation report drift without writing; bad credentials → the ProviderConfig
//! and the resource are `Unauthenticated`, fixed credentials → Ready without a restart; delete
//! under `Delete`; and, where the provider can create, adoption by `externalName` (nothing
//! created) and delete under `Orphan` (the remote object stays).
//!
//! Every case runs twice (`lifecycle_tests!`): with the in-process fixture's Secret watch, and in
//! the chart's default `--watch-secrets=false` (`Install::ChartDefault`), where fixed credentials
//! are noticed by rechecks instead of a Secret event.

use std::time::Duration;

use kube::{
    Api, Client,
    api::{DeleteParams, Patch, PatchParams},
    core::{ApiResource, DynamicObject},
};
use serde_json::{Value, json};
use ssoperator::crd::{
    ConnectionProfile, EnterpriseConnection, OrgRoleMapping, PAUSED_ANNOTATION, ProviderConfig,
};
use ssoperator_emulators::demo::{self, DemoEmulators};
use ssoperator_emulators::{auth0::wire as auth0_api, loginradius::wire as loginradius_api};

use crate::operator::{
    Operator, RESYNC, apply, pc_ready, provider_config, secret, setup, wait_event, wait_for,
};

const TIMEOUT: Duration = Duration::from_secs(60);

/// What differs between providers; everything else is the shared lifecycle.
struct Case {
    provider: &'static str,
    /// The ProviderConfig's provider block.
    block: Value,
    /// Keys of the credentials Secret, with their good values.
    credentials: Vec<(&'static str, &'static str)>,
    kind: &'static str,
    /// Objects the resource needs first (e.g. the EnterpriseConnection an OrgRoleMapping refers to).
    prelude: Vec<Value>,
    /// The resource's spec, without providerConfigRef and deletionPolicy.
    spec: Value,
    /// The remote field the case follows (a JSON pointer), its value for `spec`, a JSON merge
    /// patch of the spec, and the value the patch gives the field.
    pointer: &'static str,
    initial: Value,
    edit: Value,
    edited: Value,
    /// The remote object by external id, as JSON.
    remote: fn(&DemoEmulators, &str) -> Option<Value>,
    /// A console edit of the field at `pointer` (to something other than `edited`).
    console: fn(&DemoEmulators, &str),
    /// Remote objects of this kind.
    count: fn(&DemoEmulators) -> usize,
    /// Whether the provider can create (and so delete) the object; otherwise the resource adopts
    /// an existing one and `Delete` clears only its own fields.
    creatable: bool,
    /// After delete under `Delete`: true when the remote object (or the resource's part of it) is gone.
    deleted: fn(&DemoEmulators, &str) -> bool,
    /// Creatable providers: inserts an object as the console would, returning its id (for adoption).
    seed: Option<fn(&DemoEmulators) -> String>,
}

fn json_of<T: serde::Serialize>(v: Option<T>) -> Option<Value> {
    v.map(|v| serde_json::to_value(v).unwrap())
}

fn api_resource(kind: &str) -> ApiResource {
    match kind {
        "EnterpriseConnection" => ApiResource::erase::<EnterpriseConnection>(&()),
        "ConnectionProfile" => ApiResource::erase::<ConnectionProfile>(&()),
        "OrgRoleMapping" => ApiResource::erase::<OrgRoleMapping>(&()),
        other => panic!("not a managed kind: {other}"),
    }
}

fn api(client: &Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &api_resource(kind))
}

async fn get(client: &Client, ns: &str, kind: &str, name: &str) -> Option<Value> {
    let o = api(client, ns, kind).get_opt(name).await.unwrap()?;
    Some(serde_json::to_value(o).unwrap())
}

fn ready_condition(o: &Value) -> (String, String) {
    let conds = o["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ready = conds.iter().find(|c| c["type"] == "Ready");
    let field = |k: &str| {
        ready
            .and_then(|c| c[k].as_str())
            .unwrap_or_default()
            .to_string()
    };
    (field("status"), field("reason"))
}

/// Ready=True for the current generation.
fn is_ready(o: &Value) -> bool {
    ready_condition(o).0 == "True"
        && o["status"]["observedGeneration"] == o["metadata"]["generation"]
}

/// Waits until `pred` holds for the resource, failing with its last state after the timeout.
async fn wait_until(
    client: &Client,
    ns: &str,
    kind: &str,
    name: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let got = get(client, ns, kind, name).await;
        if let Some(o) = &got
            && pred(o)
        {
            return o.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {kind} {name} to be {what}; last seen: {:#}",
            got.map(|o| o["status"].clone()).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until `pred` holds for the remote object `id`.
async fn wait_remote(
    e: &DemoEmulators,
    case: &Case,
    id: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let remote = (case.remote)(e, id).unwrap_or_default();
        if pred(remote.pointer(case.pointer).unwrap_or(&Value::Null)) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}: timed out waiting for the remote {id} to be {what}: {remote:#}",
            case.provider
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn merge_patch(client: &Client, ns: &str, kind: &str, name: &str, patch: Value) {
    api(client, ns, kind)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

fn manifest(case: &Case, name: &str, extra: Value) -> Value {
    let mut spec = case.spec.clone();
    spec["providerConfigRef"] = json!({"name": case.provider});
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": case.kind, "metadata": {"name": name}, "spec": spec})
}

/// The operator configuration a lifecycle runs under.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Install {
    /// The in-process fixture's: Secret watches on (a changed credentials Secret wakes its
    /// ProviderConfig at once).
    SecretWatch,
    /// The chart's default (charts/ssoperator/values.yaml), `--watch-secrets=false`: a fixed
    /// credentials Secret is only seen by the ProviderConfig's periodic recheck
    /// (`Context::credentials_recheck`, the resync capped at 60 s; the tests' resync is 2 s).
    ///
    /// The chart's other default, a cluster-wide scope, cannot be tested here: every test shares
    /// one API server, and a cluster-wide operator in each test would reconcile every other test's
    /// namespace (their writes would count in each other's emulators and assertions). Scope is
    /// tested on its own in tenancy.rs; everything the lifecycle does happens in one namespace.
    ChartDefault,
}

async fn lifecycle(case: Case, install: Install) {
    let p = case.provider;
    let started = std::time::Instant::now();
    let (client, ns) = setup().await;
    let e = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
    let writes = || e.writes()[p];
    secret(&client, &ns, "creds", &case.credentials).await;
    provider_config(
        &client,
        &ns,
        p,
        case.block.clone(),
        "creds",
        &e.endpoints()[p],
    )
    .await;
    let op = Operator::start_with(&client, &ns, |config| {
        config.watch_secrets = install == Install::SecretWatch;
        // Deletion mechanics under test; the lockout guard's refusal of such a delete is tested in safety.rs.
        config.lockout_guards = false;
    });
    for doc in &case.prelude {
        apply(&client, &ns, doc.clone()).await;
    }

    // Create (or adopt) → Ready, the remote matching the spec.
    let before = (case.count)(&e);
    apply(
        &client,
        &ns,
        manifest(&case, "r", json!({"deletionPolicy": "Delete"})),
    )
    .await;
    let o = wait_until(&client, &ns, case.kind, "r", "Ready", is_ready).await;
    let id = o["status"]["externalId"].as_str().unwrap().to_string();
    let expected_count = before + usize::from(case.creatable);
    assert_eq!(
        (case.count)(&e),
        expected_count,
        "{p}: remote objects after create"
    );
    wait_remote(&e, &case, &id, "as the spec says", |v| *v == case.initial).await;

    // A spec edit → exactly one provider write, and Ready for the new generation.
    let w = writes();
    merge_patch(&client, &ns, case.kind, "r", json!({"spec": case.edit})).await;
    wait_until(&client, &ns, case.kind, "r", "Ready at generation 2", |o| {
        is_ready(o) && o["metadata"]["generation"] == 2
    })
    .await;
    wait_remote(&e, &case, &id, "edited", |v| *v == case.edited).await;
    tokio::time::sleep(RESYNC * 2).await;
    assert_eq!(
        writes() - w,
        1,
        "{p}: provider writes for one spec edit: {:?}",
        e.writes()
    );

    // A console edit → repaired within a resync, with an Event and the field in status.lastDrift.
    (case.console)(&e, &id);
    wait_event(&client, &ns, "r", "DriftRepaired").await;
    wait_remote(&e, &case, &id, "repaired", |v| *v == case.edited).await;
    // The status is written after the repair, so wait for it.
    wait_until(&client, &ns, case.kind, "r", "showing lastDrift", |o| {
        o["status"]["lastDrift"]["fields"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
    })
    .await;

    // ObserveOnly: drift is reported, nothing is written; back to Manage repairs it.
    merge_patch(
        &client,
        &ns,
        case.kind,
        "r",
        json!({"spec": {"managementPolicy": "ObserveOnly"}}),
    )
    .await;
    wait_until(&client, &ns, case.kind, "r", "observing", |o| {
        o["status"]["observedGeneration"] == o["metadata"]["generation"]
    })
    .await;
    let w = writes();
    (case.console)(&e, &id);
    wait_until(&client, &ns, case.kind, "r", "Drifted", |o| {
        ready_condition(o).1 == "Drifted"
    })
    .await;
    tokio::time::sleep(RESYNC * 2).await;
    assert_eq!(writes(), w, "{p}: ObserveOnly wrote to the provider");
    merge_patch(
        &client,
        &ns,
        case.kind,
        "r",
        json!({"spec": {"managementPolicy": "Manage"}}),
    )
    .await;
    wait_remote(&e, &case, &id, "repaired after ObserveOnly", |v| {
        *v == case.edited
    })
    .await;
    wait_until(&client, &ns, case.kind, "r", "Ready", is_ready).await;

    // Paused: no write while the annotation is there; removing it repairs.
    let w = writes();
    merge_patch(
        &client,
        &ns,
        case.kind,
        "r",
        json!({"metadata": {"annotations": {PAUSED_ANNOTATION: "true"}}}),
    )
    .await;
    (case.console)(&e, &id);
    wait_until(&client, &ns, case.kind, "r", "paused", |o| {
        o["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["reason"] == "ReconcilePaused"))
    })
    .await;
    tokio::time::sleep(RESYNC * 2).await;
    assert_eq!(writes(), w, "{p}: a paused resource wrote to the provider");
    merge_patch(
        &client,
        &ns,
        case.kind,
        "r",
        json!({"metadata": {"annotations": {PAUSED_ANNOTATION: null}}}),
    )
    .await;
    wait_remote(&e, &case, &id, "repaired after unpausing", |v| {
        *v == case.edited
    })
    .await;
    wait_until(&client, &ns, case.kind, "r", "Ready", is_ready).await;

    // Bad credentials → Unauthenticated on the ProviderConfig and the resource; fixed → Ready.
    // The last credential is the secret half: a wrong value of the right shape.
    let mut bad: Vec<(&str, String)> = case
        .credentials
        .iter()
        .map(|(k, v)| (*k, v.to_string()))
        .collect();
    if let Some(last) = bad.last_mut() {
        last.1.push('x');
    }
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    secret(&client, &ns, "creds", &bad).await;
    wait_for::<ProviderConfig>(&client, &ns, p, "Unauthenticated", |pc| {
        pc_ready(pc).is_some_and(|(s, r)| s == "False" && r == "Unauthenticated")
    })
    .await;
    (case.console)(&e, &id); // gives the resource something to do with the bad key
    // An OrgRoleMapping whose connection is blocked says so, naming the connection's reason.
    let o = wait_until(&client, &ns, case.kind, "r", "Unauthenticated", |o| {
        let (status, reason) = ready_condition(o);
        status == "False" && (reason == "Unauthenticated" || reason == "ConnectionNotReady")
    })
    .await;
    let ready = o["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or_default();
    assert!(
        ready["reason"] == "Unauthenticated"
            || ready["message"]
                .as_str()
                .unwrap_or_default()
                .contains("Unauthenticated"),
        "{p}: {ready}"
    );
    if ready["reason"] == "Unauthenticated" {
        // A person must fix the key: kstatus' Stalled says so (Flux reports Failed).
        let stalled = o["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Stalled"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(stalled["status"], "True", "{p}: {:#}", o["status"]);
    }
    // Without a Secret watch the fix is seen by the ProviderConfig's recheck (the tests' resync).
    let fixed = std::time::Instant::now();
    secret(&client, &ns, "creds", &case.credentials).await;
    wait_for::<ProviderConfig>(&client, &ns, p, "Ready", |pc| {
        pc_ready(pc).is_some_and(|(s, _)| s == "True")
    })
    .await;
    let o = wait_until(&client, &ns, case.kind, "r", "Ready again", is_ready).await;
    let fix_seen = fixed.elapsed();
    assert!(
        !o["status"]["conditions"].to_string().contains("Stalled"),
        "{p}: Stalled stayed after the fix: {:#}",
        o["status"]
    );
    wait_remote(&e, &case, &id, "repaired after the key was fixed", |v| {
        *v == case.edited
    })
    .await;

    // Delete under Delete: the remote object (or this resource's part of it) goes, then the finalizer.
    api(&client, &ns, case.kind)
        .delete("r", &DeleteParams::default())
        .await
        .unwrap();
    wait_until_gone(&client, &ns, case.kind, "r").await;
    assert!(
        (case.deleted)(&e, &id),
        "{p}: remote {id} not removed: {:?}",
        (case.remote)(&e, &id)
    );

    // Adoption by externalName creates nothing; Orphan leaves the object in place.
    if let Some(seed) = case.seed {
        let seeded = seed(&e);
        let count = (case.count)(&e);
        apply(
            &client,
            &ns,
            manifest(
                &case,
                "adopted",
                json!({"externalName": seeded, "deletionPolicy": "Orphan"}),
            ),
        )
        .await;
        let o = wait_until(&client, &ns, case.kind, "adopted", "Ready", is_ready).await;
        assert_eq!(
            o["status"]["externalId"],
            seeded.as_str(),
            "{p}: adopted the wrong object"
        );
        assert_eq!((case.count)(&e), count, "{p}: adoption created an object");
        wait_remote(&e, &case, &seeded, "matching the spec", |v| {
            *v == case.initial
        })
        .await;
        api(&client, &ns, case.kind)
            .delete("adopted", &DeleteParams::default())
            .await
            .unwrap();
        wait_until_gone(&client, &ns, case.kind, "adopted").await;
        assert!(
            (case.remote)(&e, &seeded).is_some(),
            "{p}: Orphan deleted the remote object"
        );
        assert_eq!((case.count)(&e), count);
    }
    drop(op);
    println!(
        "lifecycle: {p} ({install:?}) took {:.1?}; fixed credentials to Ready: {fix_seen:.1?}",
        started.elapsed()
    );
}

async fn wait_until_gone(client: &Client, ns: &str, kind: &str, name: &str) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while get(client, ns, kind, name).await.is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{kind} {name} was not deleted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn clerk_enterprise_connection_case() -> Case {
    Case {
        provider: "clerk",
        block: json!({"clerk": {}}),
        credentials: vec![("secretKey", demo::CLERK_SECRET_KEY)],
        kind: "EnterpriseConnection",
        prelude: vec![],
        spec: json!({"name": "Acme Okta", "domains": ["acme.example"], "idpType": "saml_okta",
                     "saml": {"idpMetadataUrl": "https://acme.okta.example/metadata"}}),
        pointer: "/name",
        initial: json!("Acme Okta"),
        edit: json!({"name": "Acme Okta EU"}),
        edited: json!("Acme Okta EU"),
        remote: |e, id| json_of(e.clerk.get_connection(id)),
        console: |e, id| {
            e.clerk
                .edit_connection(id, |c| c.name = "Renamed in the dashboard".into());
        },
        count: |e| e.clerk.count_connections(),
        creatable: true,
        deleted: |e, id| e.clerk.get_connection(id).is_none(),
        seed: Some(|e| {
            let id = "ec_seededInTheDashboard00000000";
            e.clerk
                .insert_from_body(id, json!({"name": "Seeded", "domains": ["seeded.example"], "provider": "saml_okta"}))
                .unwrap();
            id.to_string()
        }),
    }
}

fn auth0_connection_profile_case() -> Case {
    Case {
        provider: "auth0",
        block: json!({"auth0": {"domain": demo::AUTH0_DOMAIN}}),
        credentials: vec![
            ("clientId", demo::AUTH0_CLIENT_ID),
            ("clientSecret", demo::AUTH0_CLIENT_SECRET),
        ],
        kind: "ConnectionProfile",
        prelude: vec![],
        spec: json!({"name": "workforce", "enabledFeatures": ["scim"],
                     "organization": {"show_as_button": "optional", "assign_membership_on_login": "required"}}),
        pointer: "/name",
        initial: json!("workforce"),
        edit: json!({"name": "workforce-v2"}),
        edited: json!("workforce-v2"),
        remote: |e, id| json_of(e.auth0.get_profile(id)),
        console: |e, id| {
            e.auth0
                .edit_profile(id, |p| p.name = "renamed-in-dashboard".into());
        },
        count: |e| e.auth0.count_profiles(),
        creatable: true,
        deleted: |e, id| e.auth0.get_profile(id).is_none(),
        seed: Some(|e| {
            let id = "cop_seededInTheDashboard";
            e.auth0.insert_profile(
                id,
                auth0_api::ConnectionProfile {
                    name: "seeded".into(),
                    ..Default::default()
                },
            );
            id.to_string()
        }),
    }
}

fn loginradius_enterprise_connection_case() -> Case {
    Case {
        provider: "loginradius",
        block: json!({"loginradius": {"organizationId": demo::LOGINRADIUS_ORG}}),
        credentials: vec![
            ("apiKey", demo::LOGINRADIUS_API_KEY),
            ("apiSecret", demo::LOGINRADIUS_API_SECRET),
        ],
        kind: "EnterpriseConnection",
        prelude: vec![],
        spec: json!({"name": "Globex", "domains": ["globex.example"], "idpType": "saml_microsoft",
                     "saml": {"idpEntityId": "https://sts.windows.net/globex/",
                              "idpMetadataUrl": "https://login.microsoftonline.com/globex/federationmetadata.xml",
                              "allowIdpInitiated": true}}),
        pointer: "/IsIDPInitiated",
        initial: json!(true),
        edit: json!({"saml": {"allowIdpInitiated": false}}),
        edited: json!(false),
        remote: |e, id| json_of(e.loginradius.get_connection(id)),
        console: |e, id| {
            e.loginradius
                .edit_connection(id, |c| c.is_idp_initiated = Some(true));
        },
        count: |e| e.loginradius.count_connections(),
        creatable: true,
        deleted: |e, id| e.loginradius.get_connection(id).is_none(),
        seed: Some(|e| {
            e.loginradius.insert_connection(
                "conn_seededInConsole",
                loginradius_api::Connection {
                    name: "Seeded".into(),
                    domain: Some("seeded.example".into()),
                    ..Default::default()
                },
            )
        }),
    }
}

fn qovery_org_role_mapping_case() -> Case {
    Case {
        provider: "qovery",
        block: json!({"qovery": {"organizationId": demo::QOVERY_ORG}}),
        credentials: vec![("token", demo::QOVERY_TOKEN)],
        kind: "OrgRoleMapping",
        // Qovery cannot create connections: the EnterpriseConnection adopts the seeded one by name.
        prelude: vec![
            json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
            "metadata": {"name": "conn"},
            "spec": {"providerConfigRef": {"name": "qovery"}, "name": demo::QOVERY_CONNECTION,
                     "deletionPolicy": "Orphan", "saml": {}}}),
        ],
        spec: json!({"connectionRef": {"name": "conn"}, "defaultRole": "viewer",
                     "mappings": [{"externalGroup": "eng", "roles": [{"role": "devops"}]}]}),
        pointer: "/default_role",
        initial: json!("viewer"),
        edit: json!({"defaultRole": "devops"}),
        edited: json!("devops"),
        remote: |e, id| json_of(e.qovery.get_connection(id)),
        console: |e, id| {
            e.qovery
                .edit_connection(id, |c| c.default_role = "admin".into());
        },
        count: |e| e.qovery.count_connections(),
        creatable: false,
        deleted: |e, id| {
            e.qovery
                .get_connection(id)
                .is_some_and(|c| c.group_mappings.is_empty())
        },
        seed: None,
    }
}

fn atlas_org_role_mapping_case() -> Case {
    Case {
        provider: "atlas",
        block: json!({"atlas": {"federationSettingsId": demo::ATLAS_FEDERATION}}),
        credentials: vec![
            ("publicKey", demo::ATLAS_PUBLIC_KEY),
            ("privateKey", demo::ATLAS_PRIVATE_KEY),
        ],
        kind: "OrgRoleMapping",
        prelude: vec![],
        spec: json!({"externalName": demo::ATLAS_ORG,
                     "mappings": [{"externalGroup": "dba", "roles": [{"role": "ORG_OWNER"}]}],
                     "atlas": {"domainRestrictionEnabled": true, "domainAllowList": ["acme.example"]}}),
        pointer: "/domainAllowList",
        initial: json!(["acme.example"]),
        edit: json!({"atlas": {"domainAllowList": ["acme.example", "eu.acme.example"]}}),
        edited: json!(["acme.example", "eu.acme.example"]),
        remote: |e, id| json_of(e.atlas.get_org_config(id)),
        console: |e, id| {
            e.atlas
                .edit_org_config(id, |c| c.domain_allow_list = vec!["evil.example".into()]);
        },
        count: |e| e.atlas.count_org_configs(),
        creatable: false,
        deleted: |e, id| {
            e.atlas
                .get_org_config(id)
                .is_some_and(|c| c.role_mappings.is_empty())
        },
        seed: None,
    }
}

/// Each lifecycle case twice: with the fixture's Secret watch, and in the chart's default
/// configuration (`--watch-secrets=false`, see [`Install::ChartDefault`]).
macro_rules! lifecycle_tests {
    ($($case:ident => $watching:ident, $chart_default:ident;)*) => {$(
        #[tokio::test]
        async fn $watching() {
            lifecycle($case(), Install::SecretWatch).await;
        }

        #[tokio::test]
        async fn $chart_default() {
            lifecycle($case(), Install::ChartDefault).await;
        }
    )*};
}

lifecycle_tests! {
    clerk_enterprise_connection_case =>
        clerk_enterprise_connection_lifecycle, clerk_enterprise_connection_lifecycle_chart_default;
    auth0_connection_profile_case =>
        auth0_connection_profile_lifecycle, auth0_connection_profile_lifecycle_chart_default;
    loginradius_enterprise_connection_case =>
        loginradius_enterprise_connection_lifecycle,
        loginradius_enterprise_connection_lifecycle_chart_default;
    qovery_org_role_mapping_case =>
        qovery_org_role_mapping_lifecycle, qovery_org_role_mapping_lifecycle_chart_default;
    atlas_org_role_mapping_case =>
        atlas_org_role_mapping_lifecycle, atlas_org_role_mapping_lifecycle_chart_default;
}
