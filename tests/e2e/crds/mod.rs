//! The CRDs on a real API server: they install, the examples pass strict server-side apply, every
//! schema and CEL rule rejects what it should with a message naming the field, and `kubectl
//! explain` shows the field descriptions.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    time::Duration,
};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams},
    discovery::{self, Scope},
};
use serde_json::{Value, json};

use crate::support::{self, FIELD_MANAGER};

mod examples;
mod invalid;
mod invalid_cases;

/// Every document of a multi-document YAML text (empty documents skipped).
fn yaml_documents(text: &str) -> Vec<Value> {
    ssoperator_emulators::demo::parse_documents(text).expect("valid YAML")
}

fn example_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no examples in {}", dir.display());
    files
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// How an object is sent to the API server.
#[derive(Clone, Copy, Debug)]
enum Write {
    /// Server-side apply (PATCH, application/apply-patch+yaml), as `kubectl apply --server-side`.
    Apply,
    /// Create (POST), as `kubectl create`.
    Create,
}

/// Sends one object (any kind) with fieldValidation=Strict; namespaced kinds go into `ns`.
async fn send(
    client: &Client,
    ns: &str,
    mut obj: Value,
    how: Write,
    dry_run: bool,
) -> Result<DynamicObject, kube::Error> {
    let api_version = str_at(&obj, "/apiVersion").to_owned();
    let kind = str_at(&obj, "/kind").to_owned();
    let name = str_at(&obj, "/metadata/name").to_owned();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
    let gvk = GroupVersionKind::gvk(group, version, &kind);
    let (resource, caps) = discovery::pinned_kind(client, &gvk)
        .await
        .unwrap_or_else(|e| panic!("discover {api_version} {kind}: {e}"));
    let namespaced = caps.scope == Scope::Namespaced;
    if namespaced {
        obj["metadata"]["namespace"] = json!(ns);
    }
    match how {
        Write::Apply => {
            let api: Api<DynamicObject> = if namespaced {
                Api::namespaced_with(client.clone(), ns, &resource)
            } else {
                Api::all_with(client.clone(), &resource)
            };
            let mut params = PatchParams::apply(FIELD_MANAGER)
                .force()
                .validation_strict();
            params.dry_run = dry_run;
            api.patch(&name, &params, &Patch::Apply(&obj)).await
        }
        Write::Create => {
            // kube's PostParams has no fieldValidation, so build the request by hand.
            let base = if group.is_empty() {
                format!("/api/{version}")
            } else {
                format!("/apis/{group}/{version}")
            };
            let scope = if namespaced {
                format!("/namespaces/{ns}")
            } else {
                String::new()
            };
            let dry = if dry_run { "&dryRun=All" } else { "" };
            let uri = format!(
                "{base}{scope}/{}?fieldValidation=Strict&fieldManager={FIELD_MANAGER}{dry}",
                resource.plural
            );
            let request = http::Request::post(uri)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(&obj).expect("serialize"))
                .expect("request");
            client.request::<DynamicObject>(request).await
        }
    }
}

/// Strict server-side apply of one object (any kind). Namespaced kinds go into `ns`.
async fn apply(
    client: &Client,
    ns: &str,
    obj: Value,
    dry_run: bool,
) -> Result<DynamicObject, kube::Error> {
    send(client, ns, obj, Write::Apply, dry_run).await
}

/// Paths at which `got` lacks or changes something that `sent` has (server defaults may add more).
fn missing_from(sent: &Value, got: &Value, path: &str, out: &mut Vec<String>) {
    match (sent, got) {
        (Value::Object(s), Value::Object(g)) => {
            for (k, v) in s {
                match g.get(k) {
                    Some(gv) => missing_from(v, gv, &format!("{path}.{k}"), out),
                    None => out.push(format!("{path}.{k} was dropped")),
                }
            }
        }
        (Value::Array(s), Value::Array(g)) if s.len() == g.len() => {
            for (i, (sv, gv)) in s.iter().zip(g).enumerate() {
                missing_from(sv, gv, &format!("{path}[{i}]"), out);
            }
        }
        (Value::Number(s), Value::Number(g)) if s.as_f64() == g.as_f64() => {}
        (s, g) if s == g => {}
        (s, g) => out.push(format!("{path}: sent {s}, stored {g}")),
    }
}

#[tokio::test]
async fn crds_install_idempotently_and_become_established() {
    let client = support::client().await;
    support::install_crds(&client).await;

    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let expected = ssoperator::crd::all();
    for (_, crd) in &expected {
        let name = crd.name_any();
        let live = api.get(&name).await.expect("CRD exists");
        let conditions = live
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        for wanted in ["Established", "NamesAccepted"] {
            assert!(
                conditions
                    .iter()
                    .any(|c| c.type_ == wanted && c.status == "True"),
                "{name}: condition {wanted} is not True: {conditions:?}"
            );
        }
        assert_eq!(live.spec.group, "ssoperator.io", "{name}");
        assert_eq!(
            live.spec.names.categories.as_deref(),
            Some(&["sso".to_owned()][..]),
            "{name}: category"
        );
        let versions: Vec<_> = live.spec.versions.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(versions, ["v1alpha1"], "{name}");
    }

    // Applying the same CRDs again changes nothing: the resourceVersions stay as they are.
    let mut before = BTreeMap::new();
    for (_, crd) in &expected {
        let live = api.get(&crd.name_any()).await.expect("CRD exists");
        before.insert(live.name_any(), live.resource_version());
    }
    let again = support::apply_crds(&client).await;
    assert_eq!(again.len(), 5);
    for crd in again {
        assert_eq!(
            before.get(&crd.name_any()),
            Some(&crd.resource_version()),
            "{}: re-applying the same CRD changed it",
            crd.name_any()
        );
    }
}

#[tokio::test]
async fn kubectl_explain_shows_the_field_descriptions() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let kubectl = support::kubectl();
    // The OpenAPI document is published a moment after the CRD is Established.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let output = loop {
        let out = tokio::process::Command::new(&kubectl)
            .args(["explain", "enterpriseconnection.spec.saml"])
            .env("KUBECONFIG", support::kubeconfig_path())
            .output()
            .await
            .unwrap_or_else(|e| panic!("run {}: {e}", kubectl.display()));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.success() && text.contains("idpEntityId") {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "kubectl explain failed: {}\n{text}\n{err}",
            out.status
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for wanted in [
        "EnterpriseConnection",
        "SAML settings of the identity provider",
        "Entity id (issuer) of the identity provider.",
        "URL of the identity provider's SAML metadata.",
        "attributeMapping",
    ] {
        assert!(
            output.contains(wanted),
            "kubectl explain lacks {wanted:?}:\n{output}"
        );
    }
}

#[tokio::test]
async fn kubectl_applies_the_crd_files_without_warnings() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let kubectl = support::kubectl();
    let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let out = tokio::process::Command::new(&kubectl)
        .args([
            "apply",
            "--server-side",
            "--force-conflicts",
            "--dry-run=server",
        ])
        .args(["--field-manager", FIELD_MANAGER, "-f"])
        .arg(&crds)
        .env("KUBECONFIG", support::kubeconfig_path())
        .output()
        .await
        .unwrap_or_else(|e| panic!("run {}: {e}", kubectl.display()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kubectl apply failed: {stderr}");
    // The API server warns about schema problems (such as unknown formats) at every apply.
    assert!(
        !stderr.contains("Warning"),
        "applying crds/ gave warnings:\n{stderr}"
    );
}
