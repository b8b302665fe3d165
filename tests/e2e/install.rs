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
// The chart, without an API server

#[test]
fn chart_lints_and_renders_a_restricted_two_replica_operator() {
    for sets in [&[][..], &["watchNamespaces={team-a,team-b}"][..]] {
        let mut args = vec!["lint", "--strict", CHART];
        for s in sets {
            args.extend(["--set", s]);
        }
        let out = helm(&args);
        assert!(out.ok, "helm {args:?}:\n{}{}", out.stdout, out.stderr);
    }

    let docs = render("ssoperator", "sso-system", &[]);
    let deploy = one(&docs, "Deployment");
    assert_eq!(deploy["spec"]["replicas"], 2);
    let pod = &deploy["spec"]["template"]["spec"];
    let c = container(&docs);
    let args = strings(&c["args"]);
    for want in [
        "--leader-elect",
        "--lease-namespace=sso-system",
        "--lease-name=ssoperator-leader",
        "--watch-secrets=false",
        "--resync=10m",
        "--metrics-addr=0.0.0.0:8080",
    ] {
        assert!(args.iter().any(|a| a == want), "{want} not in {args:?}");
    }
    assert!(
        !args.iter().any(|a| a.starts_with("--namespaces")),
        "{args:?}"
    );
    // Pod Security "restricted".
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    // Probes on the operator's health endpoints, on the metrics port.
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["ports"][0]["containerPort"], 8080);
    assert!(c["resources"]["requests"]["memory"].is_string(), "{c}");
    assert!(c["resources"]["limits"]["memory"].is_string(), "{c}");
    assert_eq!(pod["serviceAccountName"], "ssoperator");
    assert_eq!(one(&docs, "Service")["spec"]["ports"][0]["port"], 8080);
    assert!(docs_of(&docs, "ServiceMonitor").is_empty());
    for d in &docs {
        let labels = &d["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/name"], "ssoperator", "{d}");
        assert_eq!(labels["app.kubernetes.io/instance"], "ssoperator", "{d}");
    }

    // Cluster-wide: Secrets are read one by one (get), never listed or watched.
    let rules = &one(&docs, "ClusterRole")["rules"];
    assert_eq!(verbs(rules, "", "secrets"), set(&["get"]));
    // Namespace labels, for ClusterProviderConfig allowedNamespaces selectors: get only.
    assert_eq!(verbs(rules, "", "namespaces"), set(&["get"]));
    assert_eq!(
        verbs(rules, "ssoperator.io", "enterpriseconnections"),
        set(&["get", "list", "watch", "patch"])
    );
    assert_eq!(
        verbs(rules, "ssoperator.io", "orgrolemappings/status"),
        set(&["patch"])
    );
    assert_eq!(
        verbs(rules, "events.k8s.io", "events"),
        set(&["create", "patch"])
    );
    for r in rules.as_array().unwrap() {
        assert!(!strings(&r["verbs"]).contains(&"*".into()), "{r}");
        assert!(!strings(&r["resources"]).contains(&"*".into()), "{r}");
        assert!(!strings(&r["verbs"]).contains(&"delete".into()), "{r}");
    }
    let roles = docs_of(&docs, "Role");
    assert_eq!(roles.len(), 1, "only the leader-election Role: {roles:#?}");
    assert_eq!(
        verbs(&roles[0]["rules"], "coordination.k8s.io", "leases"),
        set(&["create", "get", "update", "watch"])
    );

    // Opting in to watching Secrets cluster-wide.
    let docs = render("ssoperator", "sso-system", &["secrets.watch=true".into()]);
    assert_eq!(
        verbs(&one(&docs, "ClusterRole")["rules"], "", "secrets"),
        set(&["get", "list", "watch"])
    );
    assert!(strings(&container(&docs)["args"]).contains(&"--watch-secrets=true".into()));

    // Namespace-scoped: a Role per watched namespace, Secrets watched there only.
    let docs = render(
        "ssoperator",
        "sso-system",
        &[
            "watchNamespaces={team-a,team-b}".into(),
            "secrets.extraNamespaces={shared-creds,team-a}".into(),
        ],
    );
    let cluster_rules = &one(&docs, "ClusterRole")["rules"];
    assert!(
        verbs(cluster_rules, "", "secrets").is_empty(),
        "{cluster_rules}"
    );
    assert_eq!(
        verbs(cluster_rules, "ssoperator.io", "clusterproviderconfigs"),
        set(&["get", "list", "watch"])
    );
    assert_eq!(verbs(cluster_rules, "", "namespaces"), set(&["get"]));
    assert!(
        verbs(
            cluster_rules,
            "ssoperator.io",
            "clusterproviderconfigs/status"
        )
        .is_empty(),
        "{cluster_rules}"
    );
    assert!(
        verbs(cluster_rules, "ssoperator.io", "enterpriseconnections").is_empty(),
        "{cluster_rules}"
    );
    let args = strings(&container(&docs)["args"]);
    assert!(
        args.contains(&"--namespaces=team-a,team-b".into()),
        "{args:?}"
    );
    assert!(args.contains(&"--watch-secrets=true".into()), "{args:?}");
    let role_in = |ns: &str, name: &str| -> Value {
        docs_of(&docs, "Role")
            .into_iter()
            .find(|r| r["metadata"]["namespace"] == ns && r["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no Role {ns}/{name}"))
            .clone()
    };
    for ns in ["team-a", "team-b"] {
        let role = role_in(ns, "ssoperator");
        assert_eq!(
            verbs(&role["rules"], "", "secrets"),
            set(&["get", "list", "watch"])
        );
    }
    assert_eq!(
        verbs(
            &role_in("shared-creds", "ssoperator-secrets")["rules"],
            "",
            "secrets"
        ),
        set(&["get"])
    );
    let extra: Vec<_> = docs_of(&docs, "Role")
        .into_iter()
        .filter(|r| r["metadata"]["name"] == "ssoperator-secrets")
        .collect();
    assert_eq!(extra.len(), 1, "team-a is watched already: {extra:#?}");

    // Values reach the Deployment.
    let docs = render(
        "sso",
        "sso-system",
        &[
            "resyncPeriod=1h".into(),
            "logLevel=debug".into(),
            "image.tag=1.2.3".into(),
            "metrics.serviceMonitor.enabled=true".into(),
        ],
    );
    let c = container(&docs);
    assert!(strings(&c["args"]).contains(&"--resync=1h".into()));
    assert_eq!(c["env"][0], json!({"name": "RUST_LOG", "value": "debug"}));
    assert_eq!(c["image"], "ghcr.io/ssoperator/ssoperator:1.2.3");
    assert_eq!(
        one(&docs, "ServiceMonitor")["spec"]["endpoints"][0]["port"],
        "metrics"
    );

    // The schema refuses bad values.
    for bad in [
        "logFormat=xml",
        "replicaCount=0",
        "watchNamespaces={Not_A_Namespace}",
        "resyncPeriod=soon",
        "secrets.watch=maybe",
    ] {
        let out = helm(&["template", "x", CHART, "--set", bad]);
        assert!(!out.ok, "--set {bad} was accepted");
    }
}

/// The operator binary accepts the arguments the chart gives it (clap validates every value
/// before it acts on --help).
#[test]
fn the_operator_accepts_the_charts_arguments() {
    for sets in [
        vec![],
        vec!["watchNamespaces={a,b}".to_string()],
        vec![
            "providerCABundle.secret.name=corp-ca".to_string(),
            "providerCABundle.secret.key=ca.crt".to_string(),
        ],
    ] {
        let docs = render("ssoperator", "sso-system", &sets);
        let mut args = strings(&container(&docs)["args"]);
        args.push("--help".into());
        let out = run(
            Command::new(env!("CARGO_BIN_EXE_ssoperator")).args(&args),
            None,
        );
        assert!(out.ok, "ssoperator {args:?}:\n{}", out.stderr);
    }
}

/// Issue 14, item 5: `providerCABundle` mounts a ConfigMap or Secret key read-only and passes it
/// with `--provider-ca-bundle`; `extraEnv` carries proxies. Off by default (deploy/ is unchanged).
#[test]
fn provider_ca_bundle_and_proxy_env_are_opt_in() {
    let docs = render("ssoperator", "sso-system", &[]);
    let c = container(&docs);
    assert!(
        !strings(&c["args"])
            .iter()
            .any(|a| a.starts_with("--provider-ca-bundle")),
        "{c:#}"
    );
    assert!(c["volumeMounts"].is_null(), "{c:#}");
    let pod = &one(&docs, "Deployment")["spec"]["template"]["spec"];
    assert!(pod["volumes"].is_null(), "{pod:#}");

    for (source, volume) in [
        (
            "configMap",
            json!({"name": "provider-ca", "configMap": {"name": "corp-ca",
                "items": [{"key": "bundle.pem", "path": "bundle.pem"}]}}),
        ),
        (
            "secret",
            json!({"name": "provider-ca", "secret": {"secretName": "corp-ca",
                "items": [{"key": "bundle.pem", "path": "bundle.pem"}]}}),
        ),
    ] {
        let docs = render(
            "ssoperator",
            "sso-system",
            &[
                format!("providerCABundle.{source}.name=corp-ca"),
                format!("providerCABundle.{source}.key=bundle.pem"),
                "extraEnv[0].name=HTTPS_PROXY".into(),
                "extraEnv[0].value=http://proxy.corp:3128".into(),
                "extraEnv[1].name=NO_PROXY".into(),
                "extraEnv[1].value=.svc".into(),
            ],
        );
        let c = container(&docs);
        assert!(
            strings(&c["args"])
                .contains(&"--provider-ca-bundle=/etc/ssoperator/provider-ca/bundle.pem".into()),
            "{c:#}"
        );
        assert_eq!(
            c["volumeMounts"],
            json!([{"name": "provider-ca", "mountPath": "/etc/ssoperator/provider-ca", "readOnly": true}])
        );
        let env = c["env"].as_array().unwrap();
        assert!(env.contains(&json!({"name": "HTTPS_PROXY", "value": "http://proxy.corp:3128"})));
        assert!(env.contains(&json!({"name": "NO_PROXY", "value": ".svc"})));
        let pod = &one(&docs, "Deployment")["spec"]["template"]["spec"];
        assert_eq!(pod["volumes"], json!([volume]), "{source}");
    }

    // Both sources, or a reference without its key, are refused.
    for bad in [
        vec![
            "providerCABundle.configMap.name=a",
            "providerCABundle.configMap.key=k",
            "providerCABundle.secret.name=b",
            "providerCABundle.secret.key=k",
        ],
        vec!["providerCABundle.secret.name=b"],
        vec!["providerCABundle.other=x"],
    ] {
        let mut args = vec!["template", "x", CHART];
        for s in &bad {
            args.extend(["--set", s]);
        }
        let out = helm(&args);
        assert!(!out.ok, "{bad:?} was accepted");
    }
}

#[test]
fn argocd_health_script_maps_conditions_to_argocd_health() {
    let health = |obj: Value| -> (String, String) {
        let out = run(
            Command::new(tools_bin().join("argocd-health")).arg(HEALTH_LUA),
            Some(&obj.to_string()),
        );
        assert!(out.ok, "argocd-health on {obj}: {}", out.stderr);
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        (
            v["status"].as_str().unwrap().to_string(),
            v["message"].as_str().unwrap().to_string(),
        )
    };
    let with_ready = |status: &str, reason: &str, generation: i64, observed: i64| {
        json!({
            "apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
            "metadata": {"name": "x", "namespace": "y", "generation": generation},
            "status": {"observedGeneration": observed, "conditions": [
                {"type": "Ready", "status": status, "reason": reason, "message": "m",
                 "observedGeneration": observed, "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "Synced", "status": status, "reason": reason, "message": "m",
                 "observedGeneration": observed, "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
        })
    };
    assert_eq!(
        health(with_ready("True", "Available", 2, 2)),
        ("Healthy".into(), "Available: m".into())
    );
    assert_eq!(
        health(with_ready("True", "CredentialsAccepted", 1, 1)).0,
        "Healthy"
    );
    // A spec change the operator has not seen yet.
    assert_eq!(
        health(with_ready("True", "Available", 3, 2)).0,
        "Progressing"
    );
    // Errors the operator retries on its own.
    for reason in [
        "ProviderUnavailable",
        "RateLimited",
        "KubernetesError",
        "FinalizerError",
        "ConnectionNotReady",
    ] {
        assert_eq!(
            health(with_ready("False", reason, 1, 1)).0,
            "Progressing",
            "{reason}"
        );
    }
    // Errors that wait for a change of the spec or of what it references.
    for reason in [
        "Unauthenticated",
        "PermissionDenied",
        "ProviderRejected",
        "InvalidSpec",
        "InvalidProviderConfig",
        "AlreadyManaged",
        "NameTaken",
        "Unsupported",
        "SecretNotFound",
        "ProviderConfigNotFound",
        "RemoteNotFound",
        "Drifted",
    ] {
        assert_eq!(
            health(with_ready("False", reason, 1, 1)),
            ("Degraded".into(), format!("{reason}: m")),
            "{reason}"
        );
    }
    let fresh = json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "OrgRoleMapping",
        "metadata": {"name": "x", "namespace": "y", "generation": 1}, "spec": {}});
    assert_eq!(health(fresh.clone()).0, "Progressing");
    let mut unknown = with_ready("Unknown", "", 1, 1);
    unknown["status"]["conditions"][0]["reason"] = json!("Reconciling");
    assert_eq!(health(unknown).0, "Progressing");
    let mut deleting = with_ready("True", "Available", 1, 1);
    deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    assert_eq!(health(deleting).0, "Progressing");
    // A plan that waits for a person (approval, or a dry run's would-be write).
    for reason in [
        "AwaitingApproval",
        "WouldCreate",
        "WouldUpdate",
        "WouldDelete",
        "WouldAdopt",
    ] {
        assert_eq!(
            health(with_ready("False", reason, 1, 1)),
            ("Suspended".into(), format!("{reason}: m")),
            "{reason}"
        );
    }
    // With its Reconciling condition, kstatus (Flux) reads a plan awaiting approval as InProgress.
    let mut awaiting = with_ready("False", "AwaitingApproval", 1, 1);
    if let Some(c) = awaiting["status"]["conditions"].as_array_mut() {
        c.push(
            json!({"type": "Reconciling", "status": "True", "reason": "AwaitingApproval",
            "message": "m", "observedGeneration": 1, "lastTransitionTime": "2026-01-01T00:00:00Z"}),
        );
    }
    assert_eq!(kstatus(&awaiting).1["status"], "InProgress");
    assert_eq!(health(awaiting).0, "Suspended");
    // A lockout guard's refusal needs a person too, but it is a refusal.
    assert_eq!(
        health(with_ready("False", "LockoutRisk", 1, 1)).0,
        "Degraded"
    );
    let mut paused = with_ready("False", "Drifted", 1, 1);
    paused["metadata"]["annotations"] = json!({"ssoperator.io/paused": "true"});
    assert_eq!(health(paused).0, "Suspended");
}

// ---------------------------------------------------------------------------------------------
// deploy/ and the generate command

#[test]
fn deploy_dir_is_the_rendered_chart_and_a_stale_copy_fails_the_check() {
    let script = Path::new(ROOT).join("scripts/generate.sh");
    let helm_path = tools_bin().join("helm");
    let out = run(
        Command::new(&script).arg("--check").env("HELM", &helm_path),
        None,
    );
    assert!(
        out.ok,
        "deploy/ is stale (run scripts/generate.sh):\n{}{}",
        out.stdout, out.stderr
    );

    // A changed copy fails the same check, naming the file.
    let tmp = tempdir("stale");
    for f in [
        "deploy/ssoperator.yaml",
        "examples/gitops/argocd/argocd-cm.yaml",
    ] {
        let to = tmp.join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(Path::new(ROOT).join(f), &to).unwrap();
    }
    let stale = tmp.join("deploy/ssoperator.yaml");
    let text = std::fs::read_to_string(&stale).unwrap();
    std::fs::write(&stale, text.replacen("replicas: 2", "replicas: 3", 1)).unwrap();
    let out = run(
        Command::new(&script)
            .arg("--check")
            .arg(&tmp)
            .env("HELM", &helm_path),
        None,
    );
    assert!(!out.ok, "a stale deploy/ passed the check");
    assert!(
        out.stderr.contains("stale: deploy/ssoperator.yaml")
            && !out.stderr.contains("stale: examples"),
        "{}",
        out.stderr
    );

    // The kustomization covers every object of deploy/ssoperator.yaml.
    let out = run(
        Command::new(support::kubectl())
            .args(["kustomize"])
            .arg(Path::new(ROOT).join("deploy")),
        None,
    );
    assert!(out.ok, "kubectl kustomize deploy/: {}", out.stderr);
    let ids = |docs: Vec<Value>| -> BTreeSet<String> {
        docs.iter()
            .map(|d| format!("{}/{}", d["kind"], d["metadata"]["name"]))
            .collect()
    };
    let kustomized = ids(demo::parse_documents(&out.stdout).unwrap());
    let plain = ids(demo::parse_documents(&text).unwrap());
    assert_eq!(kustomized, plain);
    assert!(
        plain.contains("\"Namespace\"/\"ssoperator-system\""),
        "{plain:?}"
    );
    assert!(
        plain.contains("\"CustomResourceDefinition\"/\"enterpriseconnections.ssoperator.io\""),
        "{plain:?}"
    );
    std::fs::remove_dir_all(&tmp).ok();
}

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

fn server_dry_run(yaml: &str) -> Output {
    kubectl(
        &[
            "apply",
            "--server-side",
            "--dry-run=server",
            "--force-conflicts",
            "--field-manager",
            support::FIELD_MANAGER,
            "-f",
            "-",
        ],
        Some(yaml),
    )
}

async fn label_restricted(client: &Client, ns: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    api.patch(
        ns,
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"labels": {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/warn": "restricted",
        }}})),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn rendered_manifests_and_deploy_dir_pass_server_side_dry_run() {
    let client = admin().await;
    let release_ns = support::temp_namespace(&client).await;
    label_restricted(&client, &release_ns).await;
    let team_a = support::temp_namespace(&client).await;
    let team_b = support::temp_namespace(&client).await;

    for sets in [
        vec![],
        vec!["secrets.watch=true".to_string()],
        vec![
            format!("watchNamespaces={{{team_a},{team_b}}}"),
            format!("secrets.extraNamespaces={{{team_b},default}}"),
        ],
    ] {
        let yaml = template_text("ssoperator", &release_ns, &sets, true);
        let out = server_dry_run(&yaml);
        assert!(
            out.ok,
            "dry-run of the chart with {sets:?}:\n{}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("PodSecurity"),
            "Pod Security warnings with {sets:?}:\n{}",
            out.stderr
        );
        assert!(
            out.stdout
                .contains("deployment.apps/ssoperator serverside-applied (server dry run)"),
            "{}",
            out.stdout
        );
    }

    // A Pod made from the Deployment's template is admitted by the "restricted" profile, and the
    // same Pod with privilege escalation allowed is not (so the admission check is really on).
    let docs = render("ssoperator", &release_ns, &[]);
    let template = &one(&docs, "Deployment")["spec"]["template"];
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "ssoperator-pss", "namespace": release_ns,
                     "labels": template["metadata"]["labels"]},
        "spec": template["spec"]});
    let out = server_dry_run(&pod.to_string());
    assert!(
        out.ok,
        "restricted profile refused the operator Pod:\n{}",
        out.stderr
    );
    pod["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = json!(true);
    let out = server_dry_run(&pod.to_string());
    assert!(
        !out.ok && out.stderr.contains("PodSecurity"),
        "a privileged Pod was admitted: {}{}",
        out.stdout,
        out.stderr
    );

    // deploy/ with `kubectl apply -f deploy/`: the namespace renamed to an existing one (a dry
    // run creates nothing, so the objects in a new namespace would not find it).
    let tmp = tempdir("deploy");
    let text = std::fs::read_to_string(Path::new(ROOT).join("deploy/ssoperator.yaml")).unwrap();
    let docs: Vec<Value> = demo::parse_documents(&text.replace("ssoperator-system", &release_ns))
        .unwrap()
        .into_iter()
        .filter(|d| d["kind"] != "Namespace")
        .collect();
    let yaml: String = docs
        .iter()
        .map(|d| format!("---\n{}", serde_yaml::to_string(d).unwrap()))
        .collect();
    std::fs::write(tmp.join("ssoperator.yaml"), yaml).unwrap();
    std::fs::copy(
        Path::new(ROOT).join("deploy/Kustomization"),
        tmp.join("Kustomization"),
    )
    .unwrap();
    let out = kubectl(
        &[
            "apply",
            "--server-side",
            "--dry-run=server",
            "--force-conflicts",
            "--field-manager",
            support::FIELD_MANAGER,
            "-f",
            tmp.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.ok, "kubectl apply -f deploy/:\n{}", out.stderr);
    std::fs::remove_dir_all(&tmp).ok();
    for ns in [release_ns, team_a, team_b] {
        support::delete_namespace(&client, &ns).await;
    }
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

fn is_forbidden<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> bool {
    matches!(r, Err(kube::Error::Api(e)) if e.code == 403)
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

/// The chart installed namespace-scoped; the operator binary runs with the chart's ServiceAccount
/// token and the chart's arguments, reconciles every example to Ready (the RBAC is enough), and
/// that identity can do nothing else (the RBAC is tight). Also: kstatus and the Argo CD health
/// check on the real objects, the Lease, and the peak memory the chart's resources are sized from.
#[tokio::test]
async fn operator_with_the_charts_service_account_reconciles_the_examples_and_nothing_more() {
    let client = admin().await;
    let release_ns = support::temp_namespace(&client).await;
    let watched = support::temp_namespace(&client).await;
    let creds_ns = support::temp_namespace(&client).await;
    let other = support::temp_namespace(&client).await;
    let release = format!("ssop-{}", support::random_suffix(5));
    let sets = vec![
        format!("watchNamespaces={{{watched}}}"),
        format!("secrets.extraNamespaces={{{creds_ns}}}"),
    ];
    let yaml = template_text(&release, &release_ns, &sets, false);
    apply_rendered(&yaml);
    let docs = demo::parse_documents(&yaml).unwrap();
    let sa_name = one(&docs, "ServiceAccount")["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let lease_name = format!("{release}-ssoperator-leader");

    // The examples, with the ClusterProviderConfig's Secret in the extra Secret namespace.
    let emulators = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
    let mut examples = examples_for(&emulators, &watched);
    for doc in &mut examples {
        if doc["kind"] == "ClusterProviderConfig" {
            let secret = doc["spec"]["credentialsSecretRef"]["name"]
                .as_str()
                .unwrap();
            let secret_doc = examples_for(&emulators, &watched)
                .into_iter()
                .find(|d| d["kind"] == "Secret" && d["metadata"]["name"] == secret)
                .unwrap();
            apply(&client, &creds_ns, secret_doc).await;
            doc["spec"]["credentialsSecretRef"]["namespace"] = json!(creds_ns);
        }
    }
    for doc in &examples {
        apply(&client, &watched, doc.clone()).await;
    }

    // The operator binary, with the chart's arguments and the ServiceAccount's token.
    let tmp = tempdir("rbac");
    let token = create_token(&release_ns, &sa_name);
    let (sa, kubeconfig) = token_client(&token, &tmp).await;
    let metrics_port = free_port();
    let args: Vec<String> = strings(&container(&docs)["args"])
        .into_iter()
        .map(|a| {
            if a.starts_with("--metrics-addr=") {
                format!("--metrics-addr=127.0.0.1:{metrics_port}")
            } else {
                a
            }
        })
        .collect();
    assert!(args.contains(&"--leader-elect".into()), "{args:?}");
    let binary = std::env::var("SSOPERATOR_E2E_BINARY")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_ssoperator").to_string());
    let log = tmp.join("operator.log");
    let log_file = std::fs::File::create(&log).unwrap();
    let child = Command::new(&binary)
        .args(&args)
        .env("KUBECONFIG", &kubeconfig)
        .env("POD_NAME", "ssoperator-e2e-0")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .unwrap();
    let mut op = OperatorProcess { child, log };

    // Every example becomes Ready for its current generation. A namespace-scoped install only
    // reads ClusterProviderConfigs (a cluster-wide install reports their status), so the one in
    // the examples is used (its OrgRoleMapping gets Ready) but keeps no status from us.
    let mut ready_objects = Vec::new();
    for doc in examples
        .iter()
        .filter(|d| d["kind"] != "Secret" && d["kind"] != "ClusterProviderConfig")
    {
        let obj = wait_obj(&client, doc, &watched, "Ready", &op, ready_now).await;
        ready_objects.push(obj);
    }
    let kinds: BTreeSet<_> = ready_objects
        .iter()
        .map(|o| o["kind"].to_string())
        .collect();
    assert_eq!(
        kinds.len(),
        4,
        "every namespaced ssoperator.io kind is among the examples: {kinds:?}"
    );
    for doc in examples
        .iter()
        .filter(|d| d["kind"] == "ClusterProviderConfig")
    {
        let (api, name) = api_for(&client, doc, &watched);
        let cpc = serde_json::to_value(api.get(&name).await.unwrap()).unwrap();
        assert!(
            cpc["status"].is_null(),
            "a namespace-scoped install wrote a ClusterProviderConfig's status: {cpc:#}"
        );
    }
    let log_text = op.log();
    assert!(
        // Kubernetes says "... is forbidden: User ..." (code 403); a bare "403" would also match
        // digits of a timestamp.
        !log_text.contains("is forbidden") && !log_text.contains("\"code\":403"),
        "the operator hit a permission error:\n{log_text}"
    );

    // The operator holds the Lease in the release namespace, and its endpoints answer.
    let leases: Api<Lease> = Api::namespaced(client.clone(), &release_ns);
    let lease = leases.get(&lease_name).await.unwrap();
    assert_eq!(
        lease.spec.unwrap().holder_identity.as_deref(),
        Some("ssoperator-e2e-0")
    );
    for path in ["/healthz", "/readyz", "/metrics"] {
        let url = format!("http://127.0.0.1:{metrics_port}{path}");
        let resp = reqwest::get(&url).await.unwrap();
        assert!(resp.status().is_success(), "{url}: {}", resp.status());
    }
    let peak = op.peak_rss_kib();
    eprintln!(
        "install: operator ({binary}) peak RSS (VmHWM) after reconciling {} examples: {peak} KiB",
        ready_objects.len()
    );
    let limit = container(&docs)["resources"]["limits"]["memory"]
        .as_str()
        .unwrap()
        .to_string();
    let limit_kib: u64 = limit.trim_end_matches("Mi").parse::<u64>().unwrap() * 1024;
    assert!(
        peak * 2 < limit_kib,
        "peak RSS {peak} KiB leaves less than half of the chart's memory limit {limit} free"
    );

    // Tight: as the ServiceAccount, nothing beyond what the operator needs.
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "not-for-the-operator"},
            "stringData": {"k": "v"}}))
        .unwrap();
    Api::<Secret>::namespaced(client.clone(), &other)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let lp = Default::default();
    for ns in [&other, &creds_ns, &release_ns] {
        assert!(
            is_forbidden(Api::<Secret>::namespaced(sa.clone(), ns).list(&lp).await),
            "listed Secrets in {ns}"
        );
    }
    assert!(is_forbidden(Api::<Secret>::all(sa.clone()).list(&lp).await));
    assert!(is_forbidden(
        Api::<Secret>::namespaced(sa.clone(), &other)
            .get("not-for-the-operator")
            .await
    ));
    // The ClusterProviderConfig's Secret: get only.
    Api::<Secret>::namespaced(sa.clone(), &creds_ns)
        .get("atlas-credentials")
        .await
        .unwrap();
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "probe"}})).unwrap();
    assert!(is_forbidden(
        Api::<ConfigMap>::namespaced(sa.clone(), &watched)
            .create(&PostParams::default(), &cm)
            .await
    ));
    assert!(is_forbidden(
        Api::<Secret>::namespaced(sa.clone(), &watched)
            .create(&PostParams::default(), &secret)
            .await
    ));
    let deploy_name = one(&docs, "Deployment")["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(is_forbidden(
        Api::<Deployment>::namespaced(sa.clone(), &release_ns)
            .patch(
                &deploy_name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": {"replicas": 5}}))
            )
            .await
    ));
    assert!(is_forbidden(
        Api::<Namespace>::all(sa.clone())
            .patch(
                &watched,
                &PatchParams::default(),
                &Patch::Merge(&json!({"metadata": {"labels": {"x": "y"}}}))
            )
            .await
    ));
    let (ec_api, ec_name) = api_for(
        &sa,
        examples
            .iter()
            .find(|d| d["kind"] == "EnterpriseConnection")
            .unwrap(),
        &watched,
    );
    assert!(is_forbidden(
        ec_api.delete(&ec_name, &DeleteParams::default()).await
    ));
    // Allowed: Events in a watched namespace, and creating a Lease (create cannot be limited
    // to a name) but not updating any Lease but its own.
    let event: EventV1 = serde_json::from_value(json!({
        "metadata": {"name": format!("probe.{}", support::random_suffix(6))},
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "ssoperator", "reportingInstance": "probe",
        "action": "Probe", "reason": "Probe", "type": "Normal",
        "regarding": {"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
                      "name": ec_name, "namespace": watched}
    }))
    .unwrap();
    Api::<EventV1>::namespaced(sa.clone(), &watched)
        .create(&PostParams::default(), &event)
        .await
        .unwrap();
    let probe: Lease = serde_json::from_value(json!({"metadata": {"name": "probe"}})).unwrap();
    let sa_leases: Api<Lease> = Api::namespaced(sa.clone(), &release_ns);
    let created = sa_leases
        .create(&PostParams::default(), &probe)
        .await
        .unwrap();
    assert!(is_forbidden(
        sa_leases
            .replace("probe", &PostParams::default(), &created)
            .await
    ));
    assert!(is_forbidden(
        Api::<Lease>::namespaced(sa.clone(), &watched)
            .create(&PostParams::default(), &probe)
            .await
    ));
    // The whole rule set, as the API server computes it: writes only on ssoperator.io, Events
    // and Leases; no Secret access at all outside the watched and credentials namespaces.
    for ns in [
        &watched,
        &release_ns,
        &creds_ns,
        &other,
        &"default".to_string(),
    ] {
        let review = Api::<SelfSubjectRulesReview>::all(sa.clone())
            .create(
                &PostParams::default(),
                &SelfSubjectRulesReview {
                    spec: SelfSubjectRulesReviewSpec {
                        namespace: Some(ns.clone()),
                    },
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let status = review.status.unwrap();
        assert!(!status.incomplete, "{status:?}");
        for rule in &status.resource_rules {
            let groups = rule.api_groups.clone().unwrap_or_default();
            let resources = rule.resources.clone().unwrap_or_default();
            let writes = rule.verbs.iter().any(|v| {
                [
                    "create",
                    "update",
                    "patch",
                    "delete",
                    "deletecollection",
                    "*",
                ]
                .contains(&v.as_str())
            });
            let reviews = (groups == ["authorization.k8s.io"]
                || groups == ["authentication.k8s.io"])
                && resources.iter().all(|r| r.starts_with("selfsubject"))
                && rule.verbs == ["create"];
            let allowed_write = groups == ["ssoperator.io"]
                || (groups == ["events.k8s.io"] && resources == ["events"])
                || (groups == ["coordination.k8s.io"] && resources == ["leases"]);
            assert!(
                !writes || reviews || allowed_write,
                "write rule outside ssoperator.io, Events and Leases in {ns}: {rule:?}"
            );
            if resources.iter().any(|r| r == "secrets" || r == "*") {
                let expected: &[&str] = if *ns == watched {
                    &["get", "list", "watch"]
                } else if *ns == creds_ns {
                    &["get"]
                } else {
                    &[]
                };
                assert_eq!(rule.verbs, expected, "Secrets rule in {ns}: {rule:?}");
            }
        }
    }

    // GitOps health of the real objects: kstatus says Current and Argo CD says Healthy.
    for obj in &ready_objects {
        let (code, res) = kstatus(obj);
        assert_eq!(
            code,
            Some(0),
            "kstatus of {}: {res}",
            obj["metadata"]["name"]
        );
        assert_eq!(res["status"], "Current");
        assert_eq!(argocd_health(obj), "Healthy", "{obj:#}");
    }
    // A spec change not reconciled yet: InProgress / Progressing.
    let mut newer = ready_objects[0].clone();
    newer["metadata"]["generation"] = json!(newer["metadata"]["generation"].as_i64().unwrap() + 1);
    assert_eq!(kstatus(&newer).1["status"], "InProgress");
    assert_eq!(argocd_health(&newer), "Progressing");
    // A connection whose ProviderConfig does not exist (it may appear later, so the operator
    // keeps retrying and sets no Stalled condition): kstatus InProgress, Argo CD Degraded.
    let mut broken = examples
        .iter()
        .find(|d| d["kind"] == "EnterpriseConnection")
        .unwrap()
        .clone();
    broken["metadata"]["name"] = json!("broken");
    broken["spec"]["providerConfigRef"] = json!({"name": "does-not-exist"});
    apply(&client, &watched, broken.clone()).await;
    let failed = wait_obj(&client, &broken, &watched, "failed", &op, |o| {
        o["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["reason"] == "ProviderConfigNotFound")
    })
    .await;
    let (code, res) = kstatus(&failed);
    assert_eq!(code, Some(2), "{res}");
    assert_eq!(res["status"], "InProgress", "{res}");
    assert_eq!(argocd_health(&failed), "Degraded");
    // A spec the provider cannot take (a permanent error): Stalled=True, so kstatus (and Flux)
    // report Failed at once instead of waiting for a timeout.
    let mut rejected = examples
        .iter()
        .find(|d| {
            d["kind"] == "EnterpriseConnection"
                && d["spec"]["providerConfigRef"]["name"] == "loginradius"
        })
        .unwrap()
        .clone();
    rejected["metadata"]["name"] = json!("rejected");
    rejected["spec"]["name"] = json!("Rejected");
    rejected["spec"]["saml"]["idpSsoUrl"] = json!("https://idp.example/sso");
    apply(&client, &watched, rejected.clone()).await;
    let stalled = wait_obj(&client, &rejected, &watched, "stalled", &op, |o| {
        o["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| {
                c["type"] == "Stalled" && c["status"] == "True" && c["reason"] == "Unsupported"
            })
    })
    .await;
    let (code, res) = kstatus(&stalled);
    assert_eq!(code, Some(2), "{res}");
    assert_eq!(res["status"], "Failed", "{res}");
    assert_eq!(argocd_health(&stalled), "Degraded");

    // SIGTERM: a clean exit that gives the Lease up.
    let status = op.terminate();
    assert!(status.success(), "exit {status:?}:\n{}", op.log());
    let lease = leases.get(&lease_name).await.unwrap();
    assert_eq!(
        lease.spec.unwrap().holder_identity,
        None,
        "Lease not released"
    );

    // Clean up what is cluster-scoped or outlives the namespaces.
    let (api, _) = api_for(&client, &broken, &watched);
    let _ = api.delete("broken", &DeleteParams::default()).await;
    for doc in examples
        .iter()
        .filter(|d| d["kind"] == "ClusterProviderConfig")
    {
        let (api, name) = api_for(&client, doc, &watched);
        let _ = api.delete(&name, &DeleteParams::default()).await;
    }
    for kind in ["ClusterRole", "ClusterRoleBinding"] {
        let _ = kubectl(
            &[
                "delete",
                &kind.to_lowercase(),
                &format!("{release}-ssoperator"),
            ],
            None,
        );
    }
    std::fs::remove_dir_all(&tmp).ok();
}

/// The default (cluster-wide) install: the ServiceAccount can get any Secret but list or watch
/// none unless `secrets.watch=true`, and writes nothing outside ssoperator.io, Events and its Lease.
#[tokio::test]
async fn cluster_wide_rbac_never_lists_secrets_unless_asked() {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    };
    let client = admin().await;
    let release_ns = support::temp_namespace(&client).await;
    let release = format!("ssopc-{}", support::random_suffix(5));
    let yaml = template_text(&release, &release_ns, &[], false);
    apply_rendered(&yaml);
    let tmp = tempdir("rbac-cluster");
    let (sa, _) = token_client(
        &create_token(&release_ns, &format!("{release}-ssoperator")),
        &tmp,
    )
    .await;
    let can = |verb: &str, group: &str, resource: &str, ns: Option<&str>, name: Option<&str>| {
        let sa = sa.clone();
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.into()),
                    group: Some(group.into()),
                    resource: Some(resource.into()),
                    namespace: ns.map(String::from),
                    name: name.map(String::from),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        async move {
            Api::<SelfSubjectAccessReview>::all(sa)
                .create(&PostParams::default(), &review)
                .await
                .unwrap()
                .status
                .unwrap()
                .allowed
        }
    };
    let lease = format!("{release}-ssoperator-leader");
    // (allowed, verb, group, resource, namespace, name)
    let (own, lease) = (Some(release_ns.as_str()), Some(lease.as_str()));
    let expectations = [
        (true, "get", "", "secrets", Some("kube-system"), Some("x")),
        (false, "list", "", "secrets", None, None),
        (false, "watch", "", "secrets", Some("default"), None),
        (false, "create", "", "configmaps", Some("default"), None),
        (false, "create", "", "secrets", Some("default"), None),
        (
            false,
            "delete",
            SSO,
            "enterpriseconnections",
            Some("default"),
            None,
        ),
        (
            true,
            "patch",
            SSO,
            "enterpriseconnections",
            Some("default"),
            None,
        ),
        // The in-use finalizer of a ClusterProviderConfig that Delete resources use.
        (
            true,
            "patch",
            SSO,
            "clusterproviderconfigs",
            None,
            Some("x"),
        ),
        (
            true,
            "create",
            "events.k8s.io",
            "events",
            Some("default"),
            None,
        ),
        (false, "create", "", "events", Some("default"), None),
        (true, "update", LEASES, "leases", own, lease),
        (false, "update", LEASES, "leases", own, Some("other")),
        (false, "create", LEASES, "leases", Some("default"), None),
        (true, "create", LEASES, "leases", own, None),
    ];
    for (allowed, verb, group, resource, ns, name) in expectations {
        assert_eq!(
            can(verb, group, resource, ns, name).await,
            allowed,
            "{verb} {group}/{resource} in {ns:?} name {name:?}"
        );
    }

    // Opting in to watching Secrets grants list and watch cluster-wide.
    apply_rendered(&template_text(
        &release,
        &release_ns,
        &["secrets.watch=true".into()],
        false,
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !can("list", "", "secrets", None, None).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "secrets.watch=true did not grant list"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(can("watch", "", "secrets", Some("default"), None).await);

    for kind in ["clusterrole", "clusterrolebinding"] {
        let _ = kubectl(&["delete", kind, &format!("{release}-ssoperator")], None);
    }
    support::delete_namespace(&client, &release_ns).await;
    std::fs::remove_dir_all(&tmp).ok();
}
