//! Packaging: the Helm chart and deploy/ (lint, render, server-side dry-run, staleness), the
//! chart's RBAC proven by running the operator binary with its ServiceAccount's token, and the
//! GitOps health checks (kstatus as Flux uses it, and the Argo CD Lua health script run by
//! gopher-lua, the interpreter Argo CD embeds).
//!
//! The tests that need an API server use their own control plane: the other e2e tests' operators
//! report the status of every ClusterProviderConfig (`--cluster-provider-configs=true`), and the
//! RBAC test checks that the namespace-scoped install leaves that status alone.
//!
//! helm, kstatus and argocd-health come from `SSOPERATOR_TOOLS_BIN` (set by `scripts/test.sh`) or
//! are built on first use by `scripts/build-tools.sh`.

use std::{
    collections::BTreeSet,
    io::Write,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::Duration,
};

use k8s_openapi::api::{
    apps::v1::Deployment,
    authorization::v1::{SelfSubjectRulesReview, SelfSubjectRulesReviewSpec},
    coordination::v1::Lease,
    core::v1::{ConfigMap, Namespace, Secret},
    events::v1::Event as EventV1,
};
use kube::{
    Api, Client, Config,
    api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
    core::{ApiResource, GroupVersionKind},
};
use serde_json::{Value, json};
use ssoperator_emulators::demo::{self, DemoEmulators};

use crate::{demo::examples_for, operator::apply, support};

mod chart;
mod cluster_rbac;
mod dry_run;
mod health;
mod rbac;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/ssoperator");
const HEALTH_LUA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/argocd/health.lua");
const READY_TIMEOUT: Duration = Duration::from_secs(90);
const SSO: &str = "ssoperator.io";
const LEASES: &str = "coordination.k8s.io";

// ---------------------------------------------------------------------------------------------
// Tools

/// The directory with helm, kstatus and argocd-health.
pub(crate) fn tools_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(dir) = std::env::var_os("SSOPERATOR_TOOLS_BIN").filter(|v| !v.is_empty()) {
            return PathBuf::from(dir);
        }
        let script = Path::new(ROOT).join("scripts/build-tools.sh");
        let out = Command::new(&script)
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
        assert!(out.status.success(), "scripts/build-tools.sh failed");
        let stdout = String::from_utf8_lossy(&out.stdout);
        PathBuf::from(stdout.lines().last().expect("build-tools.sh output").trim())
    })
    .clone()
}

pub(crate) struct Output {
    pub(crate) ok: bool,
    code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

pub(crate) fn run(cmd: &mut Command, stdin: Option<&str>) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut pipe = child.stdin.take().unwrap();
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).unwrap();
    }
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    Output {
        ok: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn helm(args: &[&str]) -> Output {
    run(Command::new(tools_bin().join("helm")).args(args), None)
}

/// `helm template` of the chart; `sets` are `--set` arguments.
pub(crate) fn template_text(
    release: &str,
    ns: &str,
    sets: &[String],
    include_crds: bool,
) -> String {
    let mut args = vec!["template", release, CHART, "--namespace", ns];
    if include_crds {
        args.push("--include-crds");
    }
    for s in sets {
        args.extend(["--set", s.as_str()]);
    }
    let out = helm(&args);
    assert!(out.ok, "helm {args:?} failed:\n{}", out.stderr);
    out.stdout
}

pub(crate) fn render(release: &str, ns: &str, sets: &[String]) -> Vec<Value> {
    demo::parse_documents(&template_text(release, ns, sets, false)).unwrap()
}

fn docs_of<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found = docs_of(docs, kind);
    assert_eq!(found.len(), 1, "expected one {kind}, got {found:#?}");
    found[0]
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The verbs `rules` grant on `resource` of `group`.
fn verbs(rules: &Value, group: &str, resource: &str) -> BTreeSet<String> {
    rules
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| strings(&r["apiGroups"]).iter().any(|g| g == group))
        .filter(|r| strings(&r["resources"]).iter().any(|x| x == resource))
        .flat_map(|r| strings(&r["verbs"]))
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn container(docs: &[Value]) -> &Value {
    &one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

// ---------------------------------------------------------------------------------------------
// Scratch directories

pub(crate) fn tempdir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ssoperator-{what}-{}-{}",
        std::process::id(),
        support::random_suffix(6)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---------------------------------------------------------------------------------------------
// Against the API server

/// The kubeconfig of this module's own control plane, started on first use.
fn kubeconfig() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(support::start_control_plane)
}

/// An admin client of this module's control plane, with the CRDs installed.
async fn admin() -> Client {
    let client = support::client_for(kubeconfig()).await;
    support::apply_crds(&client).await;
    client
}

fn kubectl(args: &[&str], stdin: Option<&str>) -> Output {
    run(
        Command::new(support::kubectl())
            .args(args)
            .env("KUBECONFIG", kubeconfig()),
        stdin,
    )
}

/// A client and a kubeconfig file that authenticate with `token` to the test API server.
async fn token_client(token: &str, dir: &Path) -> (Client, PathBuf) {
    let admin = Kubeconfig::read_from(kubeconfig()).unwrap();
    let cluster = admin.clusters[0].clone();
    let kubeconfig = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": cluster.name, "user": "sa"}}],
        "current-context": "sa",
    });
    let path = dir.join("kubeconfig");
    std::fs::write(&path, serde_yaml::to_string(&kubeconfig).unwrap()).unwrap();
    let config = Config::from_custom_kubeconfig(
        Kubeconfig::read_from(&path).unwrap(),
        &KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    (Client::try_from(config).unwrap(), path)
}

/// Applies rendered objects as the admin (server-side, for real).
fn apply_rendered(yaml: &str) {
    let out = kubectl(
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager",
            support::FIELD_MANAGER,
            "-f",
            "-",
        ],
        Some(yaml),
    );
    assert!(out.ok, "apply the chart:\n{}", out.stderr);
}

fn create_token(ns: &str, sa: &str) -> String {
    let out = kubectl(&["create", "token", sa, "-n", ns, "--duration", "1h"], None);
    assert!(out.ok, "kubectl create token: {}", out.stderr);
    out.stdout.trim().to_string()
}

/// The operator binary as a child process; killed when dropped.
pub(crate) struct OperatorProcess {
    pub(crate) child: Child,
    pub(crate) log: PathBuf,
}

impl OperatorProcess {
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Peak resident set size (VmHWM) in KiB.
    fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// SIGTERM, then waits for the exit status.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "the operator did not stop within 10s of SIGTERM:\n{}",
            self.log()
        );
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn api_for(client: &Client, doc: &Value, ns: &str) -> (Api<DynamicObject>, String) {
    let (group, version) = doc["apiVersion"]
        .as_str()
        .unwrap()
        .split_once('/')
        .unwrap_or(("", "v1"));
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(
        group,
        version,
        doc["kind"].as_str().unwrap(),
    ));
    let name = doc["metadata"]["name"].as_str().unwrap().to_string();
    let api = if doc["kind"] == "ClusterProviderConfig" {
        Api::all_with(client.clone(), &ar)
    } else {
        Api::namespaced_with(client.clone(), ns, &ar)
    };
    (api, name)
}

fn ready_now(obj: &Value) -> bool {
    let observed = &obj["status"]["observedGeneration"];
    obj["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
        && !observed.is_null()
        && *observed == obj["metadata"]["generation"]
}

/// Waits until `pred` holds for the object `doc` names; returns it as JSON.
async fn wait_obj(
    client: &Client,
    doc: &Value,
    ns: &str,
    what: &str,
    op: &OperatorProcess,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let (api, name) = api_for(client, doc, ns);
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        let obj = serde_json::to_value(api.get(&name).await.unwrap()).unwrap();
        if pred(&obj) {
            return obj;
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "{} {name} not {what}: {obj:#}\n--- operator log:\n{}",
                doc["kind"],
                op.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
/// kstatus (sigs.k8s.io/cli-utils, what Flux's health checks use) of one object.
fn kstatus(obj: &Value) -> (Option<i32>, Value) {
    let out = run(
        &mut Command::new(tools_bin().join("kstatus")),
        Some(&obj.to_string()),
    );
    assert!(
        out.code == Some(0) || out.code == Some(2),
        "kstatus failed: {}",
        out.stderr
    );
    (out.code, serde_json::from_str(&out.stdout).unwrap())
}

fn argocd_health(obj: &Value) -> String {
    let out = run(
        Command::new(tools_bin().join("argocd-health")).arg(HEALTH_LUA),
        Some(&obj.to_string()),
    );
    assert!(out.ok, "argocd-health: {}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    v["status"].as_str().unwrap().to_string()
}
