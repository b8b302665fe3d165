//! The fault suite: the operator process exits at every provider-write and status-write point of
//! the reconcile flow (fail points, `--features failpoints`), is started again, and must end with
//! exactly one remote object per resource, none left behind after a delete, and every resource
//! Ready. Sieve-style: one crash per point, per creatable provider, per phase (create, update,
//! delete). Also the status and ownership defects a crash or a status wipe exposed.

use std::{
    collections::BTreeMap,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use kube::{
    Api, Client,
    api::{DeleteParams, Patch, PatchParams},
    core::{ApiResource, DynamicObject, GroupVersionKind},
};
use serde_json::{Value, json};
use ssoperator::controller::reconcile::CRASH_POINTS;
use ssoperator_emulators::demo::{self, DemoEmulators};

use crate::{
    operator::{apply, provider_config, secret, setup},
    support,
};

const RESOURCES: usize = 2;
const PHASE_TIMEOUT: Duration = Duration::from_secs(60);

/// One creatable provider: how to make its resources and count its remote objects.
#[derive(Clone, Copy)]
struct Target {
    provider: &'static str,
    kind: &'static str,
}

const TARGETS: [Target; 3] = [
    Target {
        provider: "clerk",
        kind: "EnterpriseConnection",
    },
    Target {
        provider: "loginradius",
        kind: "EnterpriseConnection",
    },
    Target {
        provider: "auth0",
        kind: "ConnectionProfile",
    },
];

impl Target {
    fn api(&self, client: &Client, ns: &str) -> Api<DynamicObject> {
        managed_api(client, ns, self.kind)
    }

    fn count(&self, e: &DemoEmulators) -> usize {
        match self.provider {
            "clerk" => e.clerk.count_connections(),
            "loginradius" => e.loginradius.count_connections(),
            _ => e.auth0.count_profiles(),
        }
    }

    /// The spec of resource `i`: the example's, with its own name (and domain).
    fn spec(&self, i: usize, name: &str) -> Value {
        match self.provider {
            "clerk" => json!({
                "name": name, "domains": [format!("c{i}.example")],
                "saml": {"idpMetadataUrl": format!("https://idp{i}.example/metadata")}}),
            "loginradius" => {
                let mut spec = example_spec("loginradius", "EnterpriseConnection");
                spec["name"] = json!(name);
                spec["domains"] = json!([format!("lr{i}.example")]);
                spec
            }
            _ => {
                let mut spec = example_spec("auth0", "ConnectionProfile");
                spec["name"] = json!(name);
                spec
            }
        }
    }

    async fn install(&self, client: &Client, ns: &str, e: &DemoEmulators) {
        let (block, data): (Value, Vec<(&str, &str)>) = match self.provider {
            "clerk" => (
                json!({"clerk": {}}),
                vec![("secretKey", demo::CLERK_SECRET_KEY)],
            ),
            "loginradius" => (
                json!({"loginradius": {"organizationId": demo::LOGINRADIUS_ORG}}),
                vec![
                    ("apiKey", demo::LOGINRADIUS_API_KEY),
                    ("apiSecret", demo::LOGINRADIUS_API_SECRET),
                ],
            ),
            _ => (
                json!({"auth0": {"domain": demo::AUTH0_DOMAIN}}),
                vec![
                    ("clientId", demo::AUTH0_CLIENT_ID),
                    ("clientSecret", demo::AUTH0_CLIENT_SECRET),
                ],
            ),
        };
        secret(client, ns, "creds", &data).await;
        provider_config(
            client,
            ns,
            "p",
            block,
            "creds",
            &e.endpoints()[self.provider],
        )
        .await;
        for i in 0..RESOURCES {
            let mut spec = self.spec(i, &format!("Fault {i}"));
            spec["providerConfigRef"] = json!({"name": "p"});
            spec["deletionPolicy"] = json!("Delete");
            apply(
                client,
                ns,
                json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": self.kind,
                "metadata": {"name": format!("r{i}")}, "spec": spec}),
            )
            .await;
        }
    }
}

fn example_spec(provider: &str, kind: &str) -> Value {
    let path = format!("{}/examples/{provider}.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    demo::parse_documents(&text)
        .unwrap()
        .into_iter()
        .find(|d| d["kind"] == kind)
        .map(|d| d["spec"].clone())
        .unwrap()
}

/// One operator process, scoped to one namespace; killed when dropped.
struct Process(Child);

impl Process {
    fn start(ns: &str, fail_point: Option<&str>) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ssoperator"));
        cmd.env("KUBECONFIG", support::kubeconfig_path())
            .env("RUST_LOG", "error")
            .env_remove("FAILPOINTS")
            .args([
                "--namespaces",
                ns,
                "--resync",
                "2s",
                "--default-rate",
                "100",
                // Crash points around writes, deletes among them; safety.rs tests the guards.
                "--lockout-guards=false",
            ])
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
            .args(["--identity", &format!("faults-{ns}")])
            .stdout(Stdio::null());
        if let Some(point) = fail_point {
            cmd.env("FAILPOINTS", format!("{point}=return"));
        }
        Self(cmd.spawn().unwrap())
    }

    /// The exit code, if the process has ended.
    fn exited(&mut self) -> Option<i32> {
        self.0.try_wait().unwrap().map(|s| s.code().unwrap_or(-1))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The exit code the fail points give (`crash_point!` in src/controller/reconcile.rs).
const CRASH_EXIT: i32 = 86;

/// Runs the operator with `point` armed until it crashes there or `goal` holds; after a crash,
/// starts it again without the point and waits for `goal`. Returns whether it crashed and how
/// long the restarted operator took to reach the goal.
async fn phase<F, Fut>(ns: &str, point: &str, goal: F) -> (bool, Option<Duration>)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut armed = Process::start(ns, Some(point));
    let deadline = Instant::now() + PHASE_TIMEOUT;
    let crashed = loop {
        if let Some(code) = armed.exited() {
            assert_eq!(
                code, CRASH_EXIT,
                "the operator exited with {code} at {point}"
            );
            break true;
        }
        if goal().await {
            break false;
        }
        assert!(Instant::now() < deadline, "{point}: no crash and no goal");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drop(armed);
    if !crashed {
        return (false, None);
    }
    let _clean = Process::start(ns, None);
    let restarted = Instant::now();
    while !goal().await {
        assert!(
            restarted.elapsed() < PHASE_TIMEOUT,
            "{point}: not recovered after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (true, Some(restarted.elapsed()))
}

fn is_ready(o: &DynamicObject, generation: i64) -> bool {
    let status = &o.data["status"];
    let ready = status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True");
    ready && status["observedGeneration"] == generation
}

async fn all_ready(api: &Api<DynamicObject>, generation: i64) -> bool {
    for i in 0..RESOURCES {
        match api.get_opt(&format!("r{i}")).await {
            Ok(Some(o)) if is_ready(&o, generation) => {}
            _ => return false,
        }
    }
    true
}

async fn all_gone(api: &Api<DynamicObject>) -> bool {
    for i in 0..RESOURCES {
        if !matches!(api.get_opt(&format!("r{i}")).await, Ok(None)) {
            return false;
        }
    }
    true
}

/// One row of the table: a crash at `point` in `phase` for `target`.
struct Row {
    provider: &'static str,
    phase: &'static str,
    point: &'static str,
    crashed: bool,
    duplicates: usize,
    leaks: usize,
    recovery: Option<Duration>,
}

const CREATE_POINTS: [&str; 5] = [
    "status-write-before",
    "status-write-after",
    "create-before",
    "create-after",
    "create-recorded",
];
const UPDATE_POINTS: [&str; 3] = ["update-before", "update-after", "status-write-before"];
const DELETE_POINTS: [&str; 2] = ["delete-before", "delete-after"];

/// A namespace of its own and fresh emulators with the target's resources applied; `ready`:
/// reconciled to Ready by an operator without fail points, which is then stopped.
async fn fresh(
    client: &Client,
    target: Target,
    ready: bool,
) -> (String, DemoEmulators, Api<DynamicObject>) {
    let ns = support::temp_namespace(client).await;
    let e = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
    target.install(client, &ns, &e).await;
    let api = target.api(client, &ns);
    if ready {
        let _op = Process::start(&ns, None);
        while !all_ready(&api, 1).await {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    (ns, e, api)
}

async fn run_target(client: &Client, target: Target) -> Vec<Row> {
    let mut rows = vec![];
    let row = |phase, point, (crashed, recovery): (bool, Option<Duration>), count: usize| Row {
        provider: target.provider,
        phase,
        point,
        crashed,
        duplicates: if phase == "delete" {
            0
        } else {
            count.saturating_sub(RESOURCES)
        },
        leaks: if phase == "delete" { count } else { 0 },
        recovery,
    };
    for point in CREATE_POINTS {
        let (ns, e, api) = fresh(client, target, false).await;
        let outcome = phase(&ns, point, || all_ready(&api, 1)).await;
        rows.push(row("create", point, outcome, target.count(&e)));
    }
    for point in UPDATE_POINTS {
        let (ns, e, api) = fresh(client, target, true).await;
        for i in 0..RESOURCES {
            let patch = json!({"spec": {"name": format!("Fault {i} v2")}});
            api.patch(
                &format!("r{i}"),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .unwrap();
        }
        let outcome = phase(&ns, point, || all_ready(&api, 2)).await;
        let held = e.snapshot()[target.provider].to_string();
        for i in 0..RESOURCES {
            assert!(
                held.contains(&format!("Fault {i} v2")),
                "{} {point}: the edit of r{i} is not at the provider",
                target.provider
            );
        }
        rows.push(row("update", point, outcome, target.count(&e)));
    }
    for point in DELETE_POINTS {
        let (ns, e, api) = fresh(client, target, true).await;
        for i in 0..RESOURCES {
            api.delete(&format!("r{i}"), &DeleteParams::default())
                .await
                .unwrap();
        }
        let outcome = phase(&ns, point, || all_gone(&api)).await;
        rows.push(row("delete", point, outcome, target.count(&e)));
    }
    rows
}

#[tokio::test]
async fn a_crash_at_any_write_point_leaves_one_object_per_resource() {
    let (client, _) = setup().await;
    let started = Instant::now();
    let tables = futures::future::join_all(TARGETS.iter().map(|t| run_target(&client, *t))).await;
    let rows: Vec<Row> = tables.into_iter().flatten().collect();
    eprintln!(
        "\nfault suite ({RESOURCES} resources per run, {:?} in all)",
        started.elapsed()
    );
    eprintln!(
        "{:<12} {:<7} {:<20} {:<8} {:>10} {:>6} {:>10}",
        "provider", "phase", "point", "crashed", "duplicates", "leaks", "recovery"
    );
    for r in &rows {
        eprintln!(
            "{:<12} {:<7} {:<20} {:<8} {:>10} {:>6} {:>10}",
            r.provider,
            r.phase,
            r.point,
            r.crashed,
            r.duplicates,
            r.leaks,
            r.recovery
                .map(|d| format!("{:.1}s", d.as_secs_f64()))
                .unwrap_or_else(|| "-".into())
        );
    }
    let bad: Vec<String> = rows
        .iter()
        .filter(|r| r.duplicates > 0 || r.leaks > 0)
        .map(|r| format!("{} {} {}", r.provider, r.phase, r.point))
        .collect();
    assert!(
        bad.is_empty(),
        "duplicates or leaks after a crash at: {bad:?}"
    );
    // Every point is reached by every creatable provider in its phase: a point no run crashed
    // at would be a point this suite does not test.
    let missed: Vec<String> = rows
        .iter()
        .filter(|r| !r.crashed)
        .map(|r| format!("{} {} {}", r.provider, r.phase, r.point))
        .collect();
    assert!(missed.is_empty(), "points never reached: {missed:?}");
    // The phases together cover every fail point the reconcile flow has.
    let covered: std::collections::BTreeSet<&str> = CREATE_POINTS
        .iter()
        .chain(&UPDATE_POINTS)
        .chain(&DELETE_POINTS)
        .copied()
        .collect();
    let all: std::collections::BTreeSet<&str> = CRASH_POINTS.iter().copied().collect();
    assert_eq!(covered, all, "fail points the suite does not crash at");
    let by_provider: BTreeMap<&str, usize> = rows.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.provider).or_default() += 1;
        m
    });
    assert_eq!(by_provider.len(), TARGETS.len());
}

/// POST calls per provider (creates; Auth0's token requests excluded).
fn creates(e: &DemoEmulators) -> BTreeMap<&'static str, u64> {
    let posts = |core: std::sync::Arc<ssoperator_emulators::EmulatorCore>| {
        core.calls()
            .iter()
            .filter(|(k, _)| k.starts_with("POST ") && !k.contains("/oauth/token"))
            .map(|(_, v)| v)
            .sum::<u64>()
    };
    BTreeMap::from([
        ("qovery", posts(e.qovery.core())),
        ("auth0", posts(e.auth0.core())),
        ("loginradius", posts(e.loginradius.core())),
        ("clerk", posts(e.clerk.core())),
        ("atlas", posts(e.atlas.core())),
    ])
}

const MANAGED_KINDS: [&str; 3] = [
    "EnterpriseConnection",
    "ConnectionProfile",
    "OrgRoleMapping",
];

fn managed_api(client: &Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("ssoperator.io", "v1alpha1", kind);
    Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk(&gvk))
}

/// Every managed resource of the namespace: (kind, name, object).
async fn managed_objects(client: &Client, ns: &str) -> Vec<(String, String, DynamicObject)> {
    let mut all = vec![];
    for kind in MANAGED_KINDS {
        let list = managed_api(client, ns, kind)
            .list(&Default::default())
            .await
            .unwrap();
        for o in list.items {
            let name = o.metadata.name.clone().unwrap_or_default();
            all.push((kind.to_string(), name, o));
        }
    }
    all
}

async fn wait_all_ready(client: &Client, ns: &str) -> Vec<(String, String, DynamicObject)> {
    let deadline = Instant::now() + PHASE_TIMEOUT;
    loop {
        let objects = managed_objects(client, ns).await;
        let not_ready: Vec<String> = objects
            .iter()
            .filter(|(_, _, o)| {
                !o.data["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
            .map(|(k, n, o)| format!("{k}/{n}: {}", o.data["status"]))
            .collect();
        if not_ready.is_empty() && !objects.is_empty() {
            return objects;
        }
        assert!(Instant::now() < deadline, "not Ready: {not_ready:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Status written after a create keeps no `pendingCreate`; a wiped status (a backup restore, a
/// migration) costs no create and takes no name: the external-id annotation brings each
/// resource back to its own object.
#[tokio::test]
async fn status_loss_neither_creates_nor_takes_names() {
    let (client, ns) = setup().await;
    let e = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
    let op = crate::operator::Operator::start(&client, &ns);
    for doc in crate::demo::examples_for(&e, &ns) {
        apply(&client, &ns, doc).await;
    }
    let objects = wait_all_ready(&client, &ns).await;
    let pending: Vec<&String> = objects
        .iter()
        .filter(|(_, _, o)| !o.data["status"]["pendingCreate"].is_null())
        .map(|(_, n, _)| n)
        .collect();
    assert!(
        pending.is_empty(),
        "pendingCreate left in status of {pending:?}"
    );
    let ids: BTreeMap<String, Value> = objects
        .iter()
        .map(|(k, n, o)| (format!("{k}/{n}"), o.data["status"]["externalId"].clone()))
        .collect();
    let before = creates(&e);
    drop(op);

    // Wipe every status, as a restore without status does.
    for (kind, name, _) in &objects {
        managed_api(&client, &ns, kind)
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": null})),
            )
            .await
            .unwrap();
    }
    assert!(
        managed_objects(&client, &ns)
            .await
            .iter()
            .all(|(_, _, o)| o.data["status"]["externalId"].is_null()),
        "status was not wiped"
    );
    let op = crate::operator::Operator::start(&client, &ns);
    let objects = wait_all_ready(&client, &ns).await;
    assert!(op.status_writes() > 0, "the operator wrote no status");
    let after: BTreeMap<String, Value> = objects
        .iter()
        .map(|(k, n, o)| (format!("{k}/{n}"), o.data["status"]["externalId"].clone()))
        .collect();
    assert_eq!(after, ids, "a resource came back to another object");
    assert_eq!(creates(&e), before, "creates after a status wipe");
}

/// After a console delete the operator creates the object again and records the new id; if
/// someone made another object of the same name first, it is not taken over.
#[tokio::test]
async fn a_deleted_object_is_created_again_and_a_stranger_is_not_adopted() {
    let (client, ns) = setup().await;
    let e = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
    let target = TARGETS[0];
    let _op = crate::operator::Operator::start(&client, &ns);
    target.install(&client, &ns, &e).await;
    let api = target.api(&client, &ns);
    wait_until(&api, "r0", "Ready", |o| is_ready(o, 1)).await;
    let clerk = format!("{}/v1/enterprise_connections", e.endpoints()["clerk"]);
    let console = reqwest::Client::new();
    let console_delete = |id: String| {
        let req = console
            .delete(format!("{clerk}/{id}"))
            .bearer_auth(demo::CLERK_SECRET_KEY);
        async move { assert!(req.send().await.unwrap().status().is_success()) }
    };
    let id_of = |o: &DynamicObject| {
        o.data["status"]["externalId"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };

    // r0: deleted in the console → created again, under a new id, status and annotation agree.
    let first = id_of(&api.get("r0").await.unwrap());
    console_delete(first.clone()).await;
    let o = wait_until(&api, "r0", "created again", |o| {
        let id = id_of(o);
        !id.is_empty() && id != first && is_ready(o, 1)
    })
    .await;
    let second = id_of(&o);
    assert_eq!(
        o.metadata.annotations.unwrap_or_default()["ssoperator.io/external-id"],
        second
    );
    assert!(
        o.data["status"]["pendingCreate"].is_null(),
        "{}",
        o.data["status"]
    );
    assert_eq!(target.count(&e), RESOURCES);

    // r1: deleted in the console and, before the operator looks, another object of that name
    // made there → NameTaken, and the stranger keeps its own domains.
    let r1 = id_of(&api.get("r1").await.unwrap());
    let mut stranger = e.clerk.get_connection(&r1).unwrap();
    console_delete(r1).await;
    stranger.id = "ent_stranger0000000000000000".into();
    stranger.domains = vec!["stranger.example".into()];
    e.clerk.insert_connection(stranger);
    wait_until(&api, "r1", "NameTaken", |o| {
        o.data["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["reason"] == "NameTaken")
    })
    .await;
    let kept = e
        .clerk
        .get_connection("ent_stranger0000000000000000")
        .unwrap();
    assert_eq!(kept.domains, vec!["stranger.example".to_string()]);
    assert!(
        id_of(&api.get("r1").await.unwrap()) != "ent_stranger0000000000000000",
        "the stranger was adopted"
    );
}

async fn wait_until(
    api: &Api<DynamicObject>,
    name: &str,
    what: &str,
    pred: impl Fn(&DynamicObject) -> bool,
) -> DynamicObject {
    let deadline = Instant::now() + PHASE_TIMEOUT;
    loop {
        let o = api.get(name).await.unwrap();
        if pred(&o) {
            return o;
        }
        assert!(
            Instant::now() < deadline,
            "{name} not {what}: {:#?}",
            o.data["status"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A create interrupted before its answer was recorded (status has `pendingCreate`, no id)
/// still deletes its remote object under `deletionPolicy: Delete`: found by the recorded name.
#[tokio::test]
async fn an_interrupted_create_is_deleted_by_its_name() {
    let (client, ns) = setup().await;
    let e = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
    let target = TARGETS[0];
    target.install(&client, &ns, &e).await;
    let api = target.api(&client, &ns);
    let mut armed = Process::start(&ns, Some("create-after"));
    let deadline = Instant::now() + PHASE_TIMEOUT;
    while armed.exited().is_none() {
        assert!(Instant::now() < deadline, "no crash at create-after");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(armed.exited(), Some(CRASH_EXIT));
    let interrupted = api.get("r0").await.unwrap();
    let r1 = api.get("r1").await.unwrap();
    let pending: Vec<&DynamicObject> = [&interrupted, &r1]
        .into_iter()
        .filter(|o| !o.data["status"]["pendingCreate"].is_null())
        .collect();
    // One create was interrupted after it reached the provider (the other resource may have
    // recorded its name too, before or after its own create).
    assert!(!pending.is_empty(), "no create was interrupted");
    assert!(
        pending
            .iter()
            .all(|o| o.data["status"]["externalId"].is_null())
    );
    assert!(
        target.count(&e) >= 1,
        "the interrupted create did not reach the provider"
    );
    for i in 0..RESOURCES {
        api.delete(&format!("r{i}"), &DeleteParams::default())
            .await
            .unwrap();
    }
    let _clean = Process::start(&ns, None);
    while !all_gone(&api).await {
        assert!(Instant::now() < deadline + PHASE_TIMEOUT, "not deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        target.count(&e),
        0,
        "an interrupted create's object was left behind"
    );
}
