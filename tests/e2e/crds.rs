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

/// The examples hold what the README promises: every provider's ProviderConfig with its Secret,
/// and the managed resources of each provider. Static: needs no control plane.
#[test]
fn examples_cover_every_provider_and_kind() {
    let secret_keys: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("qovery", &["token"][..]),
        ("auth0", &["clientId", "clientSecret"][..]),
        ("loginradius", &["apiKey", "apiSecret"][..]),
        ("clerk", &["secretKey"][..]),
        ("atlas", &["publicKey", "privateKey"][..]),
    ]);
    let mut seen = BTreeSet::new();
    for file in example_files() {
        let text = std::fs::read_to_string(&file).expect("read example");
        let docs = yaml_documents(&text);
        let shown = file.display();
        let secrets: BTreeMap<&str, &Value> = docs
            .iter()
            .filter(|d| str_at(d, "/kind") == "Secret")
            .map(|d| (str_at(d, "/metadata/name"), d))
            .collect();
        // Provider of every ProviderConfig / ClusterProviderConfig in the file, by kind and name.
        let mut configs = BTreeMap::new();
        for doc in &docs {
            let kind = str_at(doc, "/kind");
            let name = str_at(doc, "/metadata/name");
            assert!(
                doc.pointer("/metadata/namespace").is_none(),
                "{shown}: {kind} {name} sets a namespace; the examples are applied into any namespace"
            );
            if kind != "ProviderConfig" && kind != "ClusterProviderConfig" {
                continue;
            }
            assert!(
                doc.pointer("/spec/endpoint").is_none(),
                "{shown}: {kind} {name} sets endpoint; examples use the real services"
            );
            let providers: Vec<&str> = secret_keys
                .keys()
                .copied()
                .filter(|p| doc["spec"].get(*p).is_some())
                .collect();
            assert_eq!(providers.len(), 1, "{shown}: {kind} {name}");
            let provider = providers[0];
            let secret_name = str_at(doc, "/spec/credentialsSecretRef/name");
            let secret = secrets
                .get(secret_name)
                .unwrap_or_else(|| panic!("{shown}: Secret {secret_name} of {name} is missing"));
            for key in secret_keys[provider] {
                assert!(
                    secret.pointer(&format!("/stringData/{key}")).is_some(),
                    "{shown}: Secret {secret_name} lacks key {key} for {provider}"
                );
            }
            configs.insert((kind.to_owned(), name.to_owned()), provider);
            seen.insert(format!("{kind}/{provider}"));
        }
        for doc in &docs {
            let kind = str_at(doc, "/kind");
            if !matches!(
                kind,
                "EnterpriseConnection" | "ConnectionProfile" | "OrgRoleMapping"
            ) {
                continue;
            }
            let ref_kind = match str_at(doc, "/spec/providerConfigRef/kind") {
                "" => "ProviderConfig",
                k => k,
            };
            let ref_name = str_at(doc, "/spec/providerConfigRef/name");
            let provider = configs
                .get(&(ref_kind.to_owned(), ref_name.to_owned()))
                .unwrap_or_else(|| panic!("{shown}: {ref_kind} {ref_name} is not in the file"));
            let mut variant = String::new();
            if kind == "EnterpriseConnection" {
                variant = if doc["spec"].get("saml").is_some() {
                    "/saml".into()
                } else {
                    "/oidc".into()
                };
                if let Some(secret_ref) = doc.pointer("/spec/oidc/clientSecretRef") {
                    let (name, key) = (str_at(secret_ref, "/name"), str_at(secret_ref, "/key"));
                    assert!(
                        secrets
                            .get(name)
                            .is_some_and(|s| s.pointer(&format!("/stringData/{key}")).is_some()),
                        "{shown}: clientSecretRef {name}/{key} is not in the file"
                    );
                }
            }
            seen.insert(format!("{kind}/{provider}{variant}"));
        }
    }
    let wanted = [
        "ProviderConfig/qovery",
        "ProviderConfig/auth0",
        "ProviderConfig/loginradius",
        "ProviderConfig/clerk",
        "ProviderConfig/atlas",
        "ClusterProviderConfig/atlas",
        "EnterpriseConnection/clerk/saml",
        "EnterpriseConnection/clerk/oidc",
        "EnterpriseConnection/loginradius/saml",
        "EnterpriseConnection/qovery/saml",
        "ConnectionProfile/auth0",
        "OrgRoleMapping/qovery",
        "OrgRoleMapping/loginradius",
        "OrgRoleMapping/atlas",
    ];
    let missing: Vec<_> = wanted.iter().filter(|w| !seen.contains(**w)).collect();
    assert!(
        missing.is_empty(),
        "examples lack {missing:?}; they have {seen:?}"
    );
}

#[tokio::test]
async fn every_example_is_accepted_by_strict_server_side_apply() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::temp_namespace(&client).await;
    let mut cluster_scoped = Vec::new();
    let mut applied = 0;
    for file in example_files() {
        let text = std::fs::read_to_string(&file).expect("read example");
        for mut doc in yaml_documents(&text) {
            let kind = str_at(&doc, "/kind").to_owned();
            if kind == "ClusterProviderConfig" {
                // Cluster-scoped: a name of its own per run, and the Secret from this run's namespace.
                let name = format!("{}-{ns}", str_at(&doc, "/metadata/name"));
                doc["metadata"]["name"] = json!(name);
                doc["spec"]["credentialsSecretRef"]["namespace"] = json!(ns);
            }
            let name = str_at(&doc, "/metadata/name").to_owned();
            let stored = apply(&client, &ns, doc.clone(), false)
                .await
                .unwrap_or_else(|e| panic!("{}: {kind} {name} rejected: {e}", file.display()));
            applied += 1;
            if kind == "ClusterProviderConfig" {
                cluster_scoped.push((doc.clone(), name.clone()));
            }
            if let Some(spec) = doc.get("spec") {
                let stored = serde_json::to_value(&stored).expect("serialize");
                let mut lost = Vec::new();
                missing_from(spec, &stored["spec"], "spec", &mut lost);
                assert!(
                    lost.is_empty(),
                    "{}: {kind} {name} was not stored as sent: {lost:?}",
                    file.display()
                );
            }
        }
    }
    assert!(applied >= 20, "only {applied} example objects applied");

    // Applying the same examples again is a no-op that still passes strict validation.
    for file in example_files() {
        let text = std::fs::read_to_string(&file).expect("read example");
        for doc in yaml_documents(&text)
            .into_iter()
            .filter(|d| str_at(d, "/kind") != "ClusterProviderConfig")
        {
            apply(&client, &ns, doc, true)
                .await
                .unwrap_or_else(|e| panic!("{}: re-apply rejected: {e}", file.display()));
        }
    }

    for (doc, name) in cluster_scoped {
        let gvk = GroupVersionKind::gvk("ssoperator.io", "v1alpha1", str_at(&doc, "/kind"));
        let (resource, _) = discovery::pinned_kind(&client, &gvk)
            .await
            .expect("discover");
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        api.delete(&name, &DeleteParams::default())
            .await
            .expect("delete cluster-scoped example");
    }
    support::delete_namespace(&client, &ns).await;
}

/// JSON merge patch (RFC 7386): `null` removes a key, objects merge, anything else replaces.
fn merged(base: &Value, patch: &Value) -> Value {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            let mut out = b.clone();
            for (k, v) in p {
                if v.is_null() {
                    out.remove(k);
                } else {
                    let next = merged(b.get(k).unwrap_or(&Value::Null), v);
                    out.insert(k.clone(), next);
                }
            }
            Value::Object(out)
        }
        (_, p) => p.clone(),
    }
}

/// Minimal valid objects of each kind; each invalid case below is one of these plus a patch
/// that breaks exactly one rule (CEL rules only run once the schema checks pass).
fn base(kind: &str) -> Value {
    let spec = match kind {
        "ProviderConfig" => json!({ "clerk": {}, "credentialsSecretRef": { "name": "creds" } }),
        "ClusterProviderConfig" => json!({
            "clerk": {}, "credentialsSecretRef": { "name": "creds", "namespace": "default" }
        }),
        "EnterpriseConnection" => json!({
            "providerConfigRef": { "name": "clerk" }, "name": "Acme", "saml": {}
        }),
        "ConnectionProfile" => json!({ "providerConfigRef": { "name": "auth0" }, "name": "Acme" }),
        "OrgRoleMapping" => json!({
            "providerConfigRef": { "name": "atlas" },
            "externalName": "6a0b1c2d3e4f5a6b7c8d9e0f",
            "mappings": [{ "externalGroup": "admins", "roles": [{ "role": "ORG_OWNER" }] }]
        }),
        other => panic!("no base for {other}"),
    };
    json!({
        "apiVersion": "ssoperator.io/v1alpha1",
        "kind": kind,
        "metadata": { "name": "base" },
        "spec": spec
    })
}

struct Invalid {
    kind: &'static str,
    what: &'static str,
    patch: Value,
    /// Substrings the API server's message must contain: the field path, and for CEL rules the rule's message.
    expect: &'static [&'static str],
}

fn invalid_cases() -> Vec<Invalid> {
    let case = |kind, what, patch, expect| Invalid {
        kind,
        what,
        patch,
        expect,
    };
    let many_domains: Vec<Value> = (0..51)
        .map(|i| json!(format!("d{i}.acme.example")))
        .collect();
    let many_mappings: Vec<Value> = (0..201)
        .map(|i| json!({ "externalGroup": format!("group-{i}"), "roles": [{ "role": "ORG_MEMBER" }] }))
        .collect();
    let many_grants: Vec<Value> = (0..11).map(|i| json!(format!("ROLE_{i}"))).collect();
    vec![
        // ProviderConfig / ClusterProviderConfig
        case(
            "ProviderConfig",
            "two provider blocks",
            json!({"spec": {"auth0": {"domain": "acme.eu.auth0.com"}}}),
            &[
                "spec",
                "exactly one provider block (qovery, auth0, loginradius, clerk, atlas) must be set",
            ],
        ),
        case(
            "ProviderConfig",
            "no provider block",
            json!({"spec": {"clerk": null}}),
            &["spec", "exactly one provider block"],
        ),
        case(
            "ClusterProviderConfig",
            "credentialsSecretRef without namespace",
            json!({"spec": {"credentialsSecretRef": {"namespace": null}}}),
            &[
                "spec",
                "credentialsSecretRef.namespace is required in a ClusterProviderConfig",
            ],
        ),
        case(
            "ProviderConfig",
            "credentialsSecretRef missing",
            json!({"spec": {"credentialsSecretRef": null}}),
            &["spec.credentialsSecretRef", "Required value"],
        ),
        case(
            "ProviderConfig",
            "endpoint not an http(s) URL",
            json!({"spec": {"endpoint": "ftp://api.example"}}),
            &["spec.endpoint", "endpoint must be an http(s) URL"],
        ),
        case(
            "ProviderConfig",
            "Atlas federationSettingsId not 24 lower-case hex",
            json!({"spec": {"clerk": null, "atlas": {"federationSettingsId": "5F1E2D3C4B5A69788796A5B4"}}}),
            &["spec.atlas.federationSettingsId", "^[0-9a-f]{24}$"],
        ),
        case(
            "ProviderConfig",
            "Qovery organizationId not a UUID",
            json!({"spec": {"clerk": null, "qovery": {"organizationId": "acme-organization-not-a-uuid-000000"}}}),
            &["spec.qovery.organizationId"],
        ),
        case(
            "ProviderConfig",
            "Auth0 domain with a scheme",
            json!({"spec": {"clerk": null, "auth0": {"domain": "https://acme.eu.auth0.com"}}}),
            &["spec.auth0.domain"],
        ),
        case(
            "ProviderConfig",
            "Clerk apiVersion not a date",
            json!({"spec": {"clerk": {"apiVersion": "v2"}}}),
            &["spec.clerk.apiVersion"],
        ),
        case(
            "ProviderConfig",
            "requestsPerSecond below 1",
            json!({"spec": {"rateLimit": {"requestsPerSecond": 0}}}),
            &[
                "spec.rateLimit.requestsPerSecond",
                "greater than or equal to 1",
            ],
        ),
        case(
            "ProviderConfig",
            "requestsPerSecond above 1000",
            json!({"spec": {"rateLimit": {"requestsPerSecond": 1001}}}),
            &[
                "spec.rateLimit.requestsPerSecond",
                "less than or equal to 1000",
            ],
        ),
        case(
            "ProviderConfig",
            "unknown field (typo)",
            json!({"spec": {"endpiont": "https://api.example"}}),
            &["spec.endpiont", "unknown field"],
        ),
        // EnterpriseConnection
        case(
            "EnterpriseConnection",
            "both saml and oidc",
            json!({"spec": {"oidc": {"clientId": "x", "discoveryUrl": "https://idp.example/.well-known/openid-configuration"}}}),
            &["spec", "exactly one of saml or oidc must be set"],
        ),
        case(
            "EnterpriseConnection",
            "neither saml nor oidc",
            json!({"spec": {"saml": null}}),
            &["spec", "exactly one of saml or oidc must be set"],
        ),
        case(
            "EnterpriseConnection",
            "empty name",
            json!({"spec": {"name": ""}}),
            &["spec.name"],
        ),
        case(
            "EnterpriseConnection",
            "domain not an FQDN",
            json!({"spec": {"domains": ["acme.example", "not a domain"]}}),
            &["spec.domains[1]"],
        ),
        case(
            "EnterpriseConnection",
            "more than 50 domains",
            json!({"spec": {"domains": many_domains}}),
            &["spec.domains", "at most 50 items"],
        ),
        case(
            "EnterpriseConnection",
            "idpMetadata and idpMetadataUrl both set",
            json!({"spec": {"saml": {"idpMetadata": "<EntityDescriptor/>", "idpMetadataUrl": "https://idp.example/metadata"}}}),
            &[
                "spec.saml",
                "set at most one of idpMetadata or idpMetadataUrl",
            ],
        ),
        case(
            "EnterpriseConnection",
            "SAML SSO URL without scheme",
            json!({"spec": {"saml": {"idpSsoUrl": "idp.example/sso"}}}),
            &["spec.saml.idpSsoUrl"],
        ),
        case(
            "EnterpriseConnection",
            "oidc without discoveryUrl or authUrl",
            json!({"spec": {"saml": null, "oidc": {"clientId": "x"}}}),
            &[
                "spec.oidc",
                "set discoveryUrl, or both authUrl and tokenUrl",
            ],
        ),
        case(
            "EnterpriseConnection",
            "oidc authUrl without tokenUrl",
            json!({"spec": {"saml": null, "oidc": {"clientId": "x", "authUrl": "https://idp.example/authorize"}}}),
            &[
                "spec.oidc",
                "set discoveryUrl, or both authUrl and tokenUrl",
            ],
        ),
        case(
            "EnterpriseConnection",
            "oidc clientSecretRef without key",
            json!({"spec": {"saml": null, "oidc": {"clientId": "x", "discoveryUrl": "https://idp.example/.well-known/openid-configuration", "clientSecretRef": {"name": "s"}}}}),
            &["spec.oidc.clientSecretRef.key", "Required value"],
        ),
        case(
            "EnterpriseConnection",
            "deletionPolicy not Orphan or Delete",
            json!({"spec": {"deletionPolicy": "Remove"}}),
            &["spec.deletionPolicy", "Unsupported value"],
        ),
        case(
            "EnterpriseConnection",
            "managementPolicy not Manage or ObserveOnly",
            json!({"spec": {"managementPolicy": "Observe"}}),
            &["spec.managementPolicy", "Unsupported value"],
        ),
        case(
            "EnterpriseConnection",
            "providerConfigRef kind unknown",
            json!({"spec": {"providerConfigRef": {"kind": "Issuer"}}}),
            &["spec.providerConfigRef.kind", "Unsupported value"],
        ),
        case(
            "EnterpriseConnection",
            "idpType unknown",
            json!({"spec": {"idpType": "saml_generic"}}),
            &["spec.idpType", "Unsupported value"],
        ),
        // ConnectionProfile
        case(
            "ConnectionProfile",
            "empty name",
            json!({"spec": {"name": ""}}),
            &["spec.name"],
        ),
        case(
            "ConnectionProfile",
            "name over 50 characters",
            json!({"spec": {"name": "x".repeat(51)}}),
            &["spec.name"],
        ),
        case(
            "ConnectionProfile",
            "prefix template over 15 characters",
            json!({"spec": {"connectionNamePrefixTemplate": "acme-{org_id}-xyz"}}),
            &["spec.connectionNamePrefixTemplate"],
        ),
        case(
            "ConnectionProfile",
            "prefix template with a forbidden character",
            json!({"spec": {"connectionNamePrefixTemplate": "acme_{org_id}"}}),
            &["spec.connectionNamePrefixTemplate"],
        ),
        case(
            "ConnectionProfile",
            "prefix template with a leading hyphen",
            json!({"spec": {"connectionNamePrefixTemplate": "-acme"}}),
            &[
                "spec.connectionNamePrefixTemplate",
                "must not start with a hyphen or contain two hyphens in a row",
            ],
        ),
        case(
            "ConnectionProfile",
            "prefix template with two hyphens in a row",
            json!({"spec": {"connectionNamePrefixTemplate": "ac--me"}}),
            &[
                "spec.connectionNamePrefixTemplate",
                "must not start with a hyphen or contain two hyphens in a row",
            ],
        ),
        case(
            "ConnectionProfile",
            "unknown feature",
            json!({"spec": {"enabledFeatures": ["sso"]}}),
            &["spec.enabledFeatures[0]", "Unsupported value"],
        ),
        case(
            "ConnectionProfile",
            "duplicate feature",
            json!({"spec": {"enabledFeatures": ["scim", "scim"]}}),
            &["spec.enabledFeatures[1]", "Duplicate value"],
        ),
        case(
            "ConnectionProfile",
            "show_as_button not none/optional/required",
            json!({"spec": {"organization": {"show_as_button": "always"}}}),
            &["spec.organization.show_as_button", "Unsupported value"],
        ),
        case(
            "ConnectionProfile",
            "assign_membership_on_login not none/optional/required",
            json!({"spec": {"organization": {"assign_membership_on_login": "sometimes"}}}),
            &[
                "spec.organization.assign_membership_on_login",
                "Unsupported value",
            ],
        ),
        case(
            "ConnectionProfile",
            "strategy override key not one of the eight",
            json!({"spec": {"strategyOverrides": {"github": {"enabledFeatures": ["scim"]}}}}),
            &["spec.strategyOverrides.github", "unknown field"],
        ),
        case(
            "ConnectionProfile",
            "unknown feature in a strategy override",
            json!({"spec": {"strategyOverrides": {"google-apps": {"enabledFeatures": ["sso"]}}}}),
            &[
                "spec.strategyOverrides.google-apps.enabledFeatures[0]",
                "Unsupported value",
            ],
        ),
        case(
            "ConnectionProfile",
            "connectionConfig with a property (Auth0's schema allows only {})",
            json!({"spec": {"connectionConfig": {"idpinitiated": true}}}),
            &["spec.connectionConfig", "at most 0"],
        ),
        case(
            "ConnectionProfile",
            "a strategy's connectionConfig with a property",
            json!({"spec": {"strategyOverrides": {"okta": {"connectionConfig": {"x": 1}}}}}),
            &["spec.strategyOverrides.okta.connectionConfig", "at most 0"],
        ),
        case(
            "ConnectionProfile",
            "unknown SCIM token scope",
            json!({"spec": {"provisioning": {"scim": {"tokens": {"scopes": ["read:users"]}}}}}),
            &[
                "spec.provisioning.scim.tokens.scopes[0]",
                "Unsupported value",
            ],
        ),
        case(
            "ConnectionProfile",
            "SCIM provisioning without tokens",
            json!({"spec": {"provisioning": {"scim": {}}}}),
            &["spec.provisioning.scim.tokens", "Required value"],
        ),
        case(
            "ConnectionProfile",
            "Google Workspace provisioning of a strategy without syncUsers",
            json!({"spec": {"strategyOverrides": {"google-apps": {"provisioning": {"googleWorkspace": {}}}}}}),
            &[
                "spec.strategyOverrides.google-apps.provisioning.googleWorkspace.syncUsers",
                "Required value",
            ],
        ),
        case(
            "ConnectionProfile",
            "unknown cross app access status",
            json!({"spec": {"crossAppAccessResourceApp": {"status": {"defaultValue": "on"}}}}),
            &[
                "spec.crossAppAccessResourceApp.status.defaultValue",
                "Unsupported value",
            ],
        ),
        // OrgRoleMapping
        case(
            "OrgRoleMapping",
            "both connectionRef and externalName",
            json!({"spec": {"connectionRef": {"name": "acme"}}}),
            &["spec", "set exactly one of connectionRef or externalName"],
        ),
        case(
            "OrgRoleMapping",
            "neither connectionRef nor externalName",
            json!({"spec": {"externalName": null}}),
            &["spec", "set exactly one of connectionRef or externalName"],
        ),
        case(
            "OrgRoleMapping",
            "more than 200 mappings",
            json!({"spec": {"mappings": many_mappings}}),
            &["spec.mappings", "at most 200 items"],
        ),
        case(
            "OrgRoleMapping",
            "empty externalGroup",
            json!({"spec": {"mappings": [{"externalGroup": "", "roles": [{"role": "ORG_MEMBER"}]}]}}),
            &["spec.mappings[0].externalGroup"],
        ),
        case(
            "OrgRoleMapping",
            "mapping without roles",
            json!({"spec": {"mappings": [{"externalGroup": "admins", "roles": []}]}}),
            &["spec.mappings[0].roles"],
        ),
        case(
            "OrgRoleMapping",
            "the same externalGroup twice",
            json!({"spec": {"mappings": [
                {"externalGroup": "admins", "roles": [{"role": "ORG_OWNER"}]},
                {"externalGroup": "admins", "roles": [{"role": "ORG_MEMBER"}]}]}}),
            &["spec.mappings[1]", "Duplicate value"],
        ),
        case(
            "OrgRoleMapping",
            "more than 10 Atlas post-auth role grants",
            json!({"spec": {"atlas": {"postAuthRoleGrants": many_grants}}}),
            &["spec.atlas.postAuthRoleGrants", "at most 10 items"],
        ),
        case(
            "OrgRoleMapping",
            "providerConfigRef without name",
            json!({"spec": {"providerConfigRef": {"name": null}}}),
            &["spec.providerConfigRef.name", "Required value"],
        ),
    ]
}

#[tokio::test]
async fn invalid_manifests_are_rejected_with_the_offending_field_named() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::temp_namespace(&client).await;
    let suffix = support::random_suffix(6);
    let mut failures = Vec::new();

    // The bases themselves are valid, so each case fails only through its own patch.
    for kind in [
        "ProviderConfig",
        "ClusterProviderConfig",
        "EnterpriseConnection",
        "ConnectionProfile",
        "OrgRoleMapping",
    ] {
        let mut obj = base(kind);
        obj["metadata"]["name"] = json!(format!("base-{suffix}"));
        if let Err(e) = apply(&client, &ns, obj, true).await {
            failures.push(format!("valid base {kind} was rejected: {e}"));
        }
    }

    let cases = invalid_cases();
    assert!(cases.len() >= 15);
    for (i, case) in cases.iter().enumerate() {
        let mut obj = merged(&base(case.kind), &case.patch);
        obj["metadata"]["name"] = json!(format!("invalid-{i}-{suffix}"));
        // Create (POST) goes through the full validation and names the field as `expect` says.
        match send(&client, &ns, obj.clone(), Write::Create, true).await {
            Ok(_) => failures.push(format!("{} ({}): create accepted it", case.what, case.kind)),
            Err(kube::Error::Api(status)) => {
                let missing: Vec<_> = case
                    .expect
                    .iter()
                    .filter(|s| !status.message.contains(**s))
                    .collect();
                // 422 Invalid from validation; 400 BadRequest from strict decoding (unknown fields).
                if !matches!(status.code, 400 | 422) || !missing.is_empty() {
                    failures.push(format!(
                        "{} ({}): create: HTTP {} without {missing:?} in: {}",
                        case.what, case.kind, status.code, status.message
                    ));
                }
            }
            Err(e) => failures.push(format!("{} ({}): create: {e}", case.what, case.kind)),
        }
        // Server-side apply rejects it too. Unknown fields and duplicate list keys already fail
        // when the apply patch is converted to the schema's type, before validation; the API
        // server answers those with HTTP 500 and names the list or field without an index.
        let field = case.expect[0].split('[').next().unwrap_or_default();
        match apply(&client, &ns, obj, true).await {
            Ok(_) => failures.push(format!("{} ({}): apply accepted it", case.what, case.kind)),
            Err(kube::Error::Api(status)) => {
                let typed_patch = status.code == 500
                    && status
                        .message
                        .contains("failed to create typed patch object");
                if !(status.code == 422 || typed_patch) || !status.message.contains(field) {
                    failures.push(format!(
                        "{} ({}): apply: HTTP {} without {field:?} in: {}",
                        case.what, case.kind, status.code, status.message
                    ));
                }
            }
            Err(e) => failures.push(format!("{} ({}): apply: {e}", case.what, case.kind)),
        }
    }
    support::delete_namespace(&client, &ns).await;
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// `ssoperator validate` (offline: the CRD schemas and the Rust twins of their CEL rules)
/// refuses every case the API server refuses, naming the same field; the bases pass.
#[test]
fn ssoperator_validate_refuses_what_the_api_server_refuses_by_the_same_field() {
    use ssoperator::cli::validate::{check, schemas};
    let schemas = schemas();
    let mut failures = Vec::new();
    for kind in [
        "ProviderConfig",
        "ClusterProviderConfig",
        "EnterpriseConnection",
        "ConnectionProfile",
        "OrgRoleMapping",
    ] {
        let found = check(&base(kind), &schemas);
        if !found.is_empty() {
            failures.push(format!("valid base {kind}: {found:?}"));
        }
    }
    let cases = invalid_cases();
    for case in &cases {
        let obj = merged(&base(case.kind), &case.patch);
        let found = check(&obj, &schemas);
        let field = case.expect[0];
        if !found.iter().any(|f| f.starts_with(&format!("{field}: "))) {
            failures.push(format!(
                "{} ({}): no finding at {field}: {found:?}",
                case.what, case.kind
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
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
