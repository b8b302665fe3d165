//! One lifecycle, run against each of the five providers:
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
    Operator, RESYNC, apply, pc_ready, provider_account, provider_ready, secret, setup, wait_event,
    wait_for,
};

mod cases;
mod steps;

use steps::Run;

use cases::{
    atlas_org_role_mapping_case, auth0_connection_profile_case, clerk_enterprise_connection_case,
    loginradius_enterprise_connection_case, qovery_org_role_mapping_case,
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
    let started = std::time::Instant::now();
    let run = Run::start(case, install).await;
    let id = run.create_or_adopt().await;
    run.spec_edit_writes_once(&id).await;
    run.console_edit_is_repaired(&id).await;
    run.observe_only_reports_drift_without_writing(&id).await;
    run.paused_writes_nothing(&id).await;
    let fix_seen = run.bad_credentials_then_fixed(&id).await;
    run.delete_removes_the_remote(&id).await;
    run.adoption_creates_nothing_and_orphan_keeps_it().await;
    let p = run.case.provider;
    drop(run);
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
