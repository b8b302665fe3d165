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
use ssoperator::{controller::reconcile::CRASH_POINTS, metrics::sum_samples};
use ssoperator_emulators::demo::{self, DemoEmulators};

use crate::{
    operator::{apply, demo_account, setup},
    support,
};

mod crash_points;
mod ownership;
mod stale_copy;

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
        demo_account(client, ns, "p", e, self.provider).await;
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
struct Process {
    child: Child,
    metrics: String,
}

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
                // Crash points around writes, deletes among them; safety tests the guards.
                "--lockout-guards=false",
            ])
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
            .args(["--identity", &format!("faults-{ns}")])
            .stdout(Stdio::null());
        if let Some(point) = fail_point {
            cmd.env("FAILPOINTS", format!("{point}=return"));
        }
        Self {
            child: cmd.spawn().unwrap(),
            metrics: format!("http://127.0.0.1:{port}/metrics"),
        }
    }

    /// The exit code, if the process has ended.
    fn exited(&mut self) -> Option<i32> {
        self.child
            .try_wait()
            .unwrap()
            .map(|s| s.code().unwrap_or(-1))
    }

    /// The sum of a metric's samples (0 before its first sample or while /metrics is not up).
    async fn metric(&self, name: &str) -> f64 {
        match reqwest::get(&self.metrics).await {
            Ok(resp) => sum_samples(&resp.text().await.unwrap_or_default(), name),
            Err(_) => 0.0,
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// The exit code the fail points give (`crash_point!` in src/controller/reconcile/).
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
        let reached = goal().await;
        if reached {
            // A crash right after the write that reached the goal (status-write-after of the
            // last result) races with the read above: give the exit a moment to show.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        if let Some(code) = armed.exited() {
            assert_eq!(
                code, CRASH_EXIT,
                "the operator exited with {code} at {point}"
            );
            break true;
        }
        if reached {
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
