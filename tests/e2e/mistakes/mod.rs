//! Plausible mistakes a new user makes, as a table: each is either refused at admission (the
//! CRD's schema and CEL rules) with a message naming the field, or reported by the operator with a
//! Ready=False condition naming the field at its first reconcile, while control resources in the
//! same namespace stay Ready. Prints the table: case, where it was caught, the message.

use std::time::{Duration, Instant};

use kube::{
    Api, Client,
    api::{DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams},
    discovery::{self, Scope},
};
use serde_json::{Value, json};
use ssoperator_emulators::{
    atlas::AtlasEmulator, auth0::Auth0Emulator, clerk::ClerkEmulator,
    loginradius::LoginRadiusEmulator,
};

use crate::{operator::*, support};

mod admission;
mod reported;

const FED: &str = "5d1113b25a115342acc2d1aa";
const ATLAS_ORG: &str = "5df7a168f10fab3a149357fb";
const LR_ORG: &str = "org_mistakes";
const CONDITION_TIMEOUT: Duration = Duration::from_secs(45);

/// A real self-signed certificate (the one examples/loginradius.yaml uses).
pub const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBxzCCAW2gAwIBAgIUOmgVxRNRvmMl4LODskWiSzKveYwwCgYIKoZIzj0EAwIw
OTEdMBsGA1UEAwwUbG9naW4uZ2xvYmV4LmV4YW1wbGUxGDAWBgNVBAoMD0dsb2Jl
eCBEZW1vIElkUDAeFw0yNjExMjMxMTMyMDhaFw0zNjExMjAxMTMyMDhaMDkxHTAb
BgNVBAMMFGxvZ2luLmdsb2JleC5leGFtcGxlMRgwFgYDVQQKDA9HbG9iZXggRGVt
byBJZFAwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARhRIsOhFe7d5a6ecPIJf3+
hxRAXw3BHMT1LSSQMiAP587TQKneAuKndD9oC2XKAHLtyk2S1lkSdsq9Z+cn66Zc
o1MwUTAdBgNVHQ4EFgQUBYX0xuD8F5nk6huhcfZs7DVW6BEwHwYDVR0jBBgwFoAU
BYX0xuD8F5nk6huhcfZs7DVW6BEwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD
AgNIADBFAiEAqXejkmjhA281DOzT8oxGXuiA63wxocs188Ja8ix1mAUCIFBS/i8k
1oEfnvEeOhy28EFgJXctZ3mV0fvKoTmKcZ4f
-----END CERTIFICATE-----
";

/// Base64 that starts like a certificate's DER (so the schema lets it through) but is none.
const NOT_A_CERT: &str = "MIIBkTCB+wIJAKHHIG1dZXJ0aWZpY2F0ZSBhdCBhbGwsIGp1c3QgdGV4dCBpbiBiYXNlNjQ=";
const METADATA: &str = r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.acme.example">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/>
</md:EntityDescriptor>"#;

/// Where a mistake is expected to be caught.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caught {
    Admission,
    Condition,
}

struct Mistake {
    what: &'static str,
    /// Objects applied in order; the last is the one that must be refused or reported.
    objects: Vec<Value>,
    caught: Caught,
    /// Substrings the message must contain; the first names the field.
    expect: Vec<&'static str>,
}

fn obj(kind: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec})
}

fn secret_obj(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data})
}

/// JSON merge patch (RFC 7386).
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

/// A valid Clerk SAML connection spec, and the same at LoginRadius.
fn clerk_saml() -> Value {
    json!({"providerConfigRef": {"name": "clerk"}, "name": "Acme", "domains": ["acme.example"],
           "saml": {"idpEntityId": "https://idp.acme.example", "idpSsoUrl": "https://idp.acme.example/sso", "idpCertificate": CERT}})
}
fn lr_saml() -> Value {
    // LoginRadius takes no SSO URL (it reads the metadata URL or the certificate).
    merged(
        &clerk_saml(),
        &json!({"providerConfigRef": {"name": "lr"}, "saml": {"idpSsoUrl": null}}),
    )
}
fn clerk_oidc() -> Value {
    json!({"providerConfigRef": {"name": "clerk"}, "name": "Acme OIDC", "domains": ["oidc.acme.example"],
           "oidc": {"clientId": "acme", "discoveryUrl": "https://idp.acme.example/.well-known/openid-configuration",
                    "clientSecretRef": {"name": "oidc-secret", "key": "clientSecret"}}})
}
fn pc_spec(block: Value, secret: &str, endpoint: &str) -> Value {
    let mut spec = json!({"credentialsSecretRef": {"name": secret}, "endpoint": endpoint});
    if let (Some(s), Some(b)) = (spec.as_object_mut(), block.as_object()) {
        s.extend(b.clone());
    }
    spec
}

struct Urls {
    clerk: String,
    lr: String,
    auth0: String,
    atlas: String,
}

fn ec(name: &str, patch: Value) -> Value {
    obj("EnterpriseConnection", name, merged(&clerk_saml(), &patch))
}

fn ec_oidc(name: &str, patch: Value) -> Value {
    obj("EnterpriseConnection", name, merged(&clerk_oidc(), &patch))
}

/// A Clerk ProviderConfig with `patch` merged into its spec.
fn clerk_pc(u: &Urls, name: &str, patch: Value) -> Value {
    obj(
        "ProviderConfig",
        name,
        merged(
            &pc_spec(json!({"clerk": {}}), "clerk-creds", &u.clerk),
            &patch,
        ),
    )
}

fn one(what: &'static str, object: Value, caught: Caught, expect: &[&'static str]) -> Mistake {
    Mistake {
        what,
        objects: vec![object],
        caught,
        expect: expect.to_vec(),
    }
}

fn many(
    what: &'static str,
    objects: Vec<Value>,
    caught: Caught,
    expect: &[&'static str],
) -> Mistake {
    Mistake {
        what,
        objects,
        caught,
        expect: expect.to_vec(),
    }
}

/// The whole table: what admission refuses, then what the operator reports.
fn mistakes(u: &Urls, sfx: &str) -> Vec<Mistake> {
    let mut all = admission::refused_at_admission(u, sfx);
    all.extend(reported::reported_by_the_operator(u));
    all
}

/// Sends one object with server-side apply and fieldValidation=Strict (what `kubectl apply
/// --server-side` does); namespaced kinds go into `ns`.
async fn send(client: &Client, ns: &str, mut obj: Value) -> Result<DynamicObject, kube::Error> {
    let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_string();
    let kind = obj["kind"].as_str().unwrap_or_default().to_string();
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
    let gvk = GroupVersionKind::gvk(group, version, &kind);
    let (resource, caps) = discovery::pinned_kind(client, &gvk).await.unwrap();
    let api: Api<DynamicObject> = if caps.scope == Scope::Namespaced {
        obj["metadata"]["namespace"] = json!(ns);
        Api::namespaced_with(client.clone(), ns, &resource)
    } else {
        Api::all_with(client.clone(), &resource)
    };
    let params = PatchParams::apply(support::FIELD_MANAGER)
        .force()
        .validation_strict();
    api.patch(&name, &params, &Patch::Apply(&obj)).await
}

async fn get_dynamic(client: &Client, ns: &str, kind: &str, name: &str) -> Option<DynamicObject> {
    let gvk = GroupVersionKind::gvk("ssoperator.io", "v1alpha1", kind);
    let (resource, _) = discovery::pinned_kind(client, &gvk).await.unwrap();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
    api.get_opt(name).await.unwrap()
}

/// The Ready condition (status, reason, message) of an object, once it has one.
fn ready_of(o: &DynamicObject) -> Option<(String, String, String)> {
    o.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (s("status"), s("reason"), s("message"))
        })
}

/// Waits for the first Ready condition the operator writes on the object.
async fn first_ready(
    client: &Client,
    ns: &str,
    kind: &str,
    name: &str,
) -> Option<(String, String, String)> {
    let deadline = Instant::now() + CONDITION_TIMEOUT;
    while Instant::now() < deadline {
        if let Some(c) = get_dynamic(client, ns, kind, name)
            .await
            .as_ref()
            .and_then(ready_of)
        {
            return Some(c);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

fn one_line(s: &str, max: usize) -> String {
    let s = s.replace('\n', " ");
    if s.chars().count() > max {
        format!("{}…", s.chars().take(max).collect::<String>())
    } else {
        s
    }
}

#[tokio::test]
async fn plausible_mistakes_are_refused_or_reported_by_field_while_others_stay_ready() {
    let (client, ns) = setup().await;
    let sfx = support::random_suffix(6);
    let clerk = ClerkEmulator::new("sk_test_mistakes");
    let lr = LoginRadiusEmulator::new("mistakes-api-key", "mistakes-api-secret", LR_ORG);
    let auth0 = Auth0Emulator::new("mistakes.eu.auth0.com", "m-client-id", "m-client-secret");
    let atlas = AtlasEmulator::new("mpub", "m-private-key", FED);
    atlas.insert_org_config(ATLAS_ORG, Some("0a7e0b5c9d1f2e3a4b6c"));
    let (clerk_run, lr_run, auth0_run, atlas_run) = (
        serve(clerk.router()).await,
        serve(lr.router()).await,
        serve(auth0.router()).await,
        serve(atlas.router()).await,
    );
    let urls = Urls {
        clerk: clerk_run.url(),
        lr: lr_run.url(),
        auth0: auth0_run.url(),
        atlas: atlas_run.url(),
    };
    let op = Operator::start(&client, &ns);

    // The accounts and one control resource per provider, all Ready before the mistakes arrive.
    secret(
        &client,
        &ns,
        "oidc-secret",
        &[("clientSecret", "oidc-client-secret")],
    )
    .await;
    clerk_account(&client, &ns, &urls.clerk, "sk_test_mistakes").await;
    loginradius_account(
        &client,
        &ns,
        &urls.lr,
        LR_ORG,
        ("mistakes-api-key", "mistakes-api-secret"),
    )
    .await;
    auth0_account(
        &client,
        &ns,
        &urls.auth0,
        "mistakes.eu.auth0.com",
        ("m-client-id", "m-client-secret"),
    )
    .await;
    atlas_account(&client, &ns, &urls.atlas, FED, ("mpub", "m-private-key")).await;
    let controls = [
        (
            "EnterpriseConnection",
            obj(
                "EnterpriseConnection",
                "control-clerk",
                merged(
                    &clerk_saml(),
                    &json!({"name": "Control", "domains": ["control.example"]}),
                ),
            ),
        ),
        (
            "EnterpriseConnection",
            obj(
                "EnterpriseConnection",
                "control-clerk-oidc",
                merged(
                    &clerk_oidc(),
                    &json!({"name": "Control OIDC", "domains": ["control-oidc.example"]}),
                ),
            ),
        ),
        (
            "EnterpriseConnection",
            obj(
                "EnterpriseConnection",
                "control-lr",
                merged(
                    &lr_saml(),
                    &json!({"name": "Control LR", "domains": ["control-lr.example"]}),
                ),
            ),
        ),
        (
            "ConnectionProfile",
            obj(
                "ConnectionProfile",
                "control-auth0",
                json!({"providerConfigRef": {"name": "auth0"}, "name": "control-profile"}),
            ),
        ),
        (
            "OrgRoleMapping",
            obj(
                "OrgRoleMapping",
                "control-atlas",
                json!({"providerConfigRef": {"name": "atlas"}, "externalName": ATLAS_ORG,
            "mappings": [{"externalGroup": "dba", "roles": [{"role": "ORG_OWNER"}]}]}),
            ),
        ),
    ];
    for (_, c) in &controls {
        send(&client, &ns, c.clone()).await.unwrap();
    }
    let mut control_since = Vec::new();
    for (kind, c) in &controls {
        let name = c["metadata"]["name"].as_str().unwrap();
        let deadline = Instant::now() + CONDITION_TIMEOUT;
        loop {
            let got = get_dynamic(&client, &ns, kind, name).await;
            let cond = got.as_ref().and_then(ready_of);
            if cond.as_ref().is_some_and(|c| c.0 == "True") {
                let since = got.unwrap().data["status"]["conditions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|c| c["type"] == "Ready")
                    .unwrap()["lastTransitionTime"]
                    .clone();
                control_since.push((kind.to_string(), name.to_string(), since));
                break;
            }
            assert!(
                Instant::now() < deadline,
                "control {kind} {name} not Ready: {cond:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    let cases = mistakes(&urls, &sfx);
    assert!(cases.len() >= 38, "only {} cases", cases.len());
    // Apply every case first (the operator reports them concurrently), then read the outcomes.
    let mut sent: Vec<(Caught, Result<(), String>)> = Vec::new();
    let started = Instant::now();
    for case in &cases {
        let mut result = Ok(());
        for o in &case.objects {
            if let Err(e) = send(&client, &ns, o.clone()).await {
                result = Err(match e {
                    kube::Error::Api(s) => format!("HTTP {}: {}", s.code, s.message),
                    other => other.to_string(),
                });
                break;
            }
        }
        let caught = if result.is_err() {
            Caught::Admission
        } else {
            Caught::Condition
        };
        sent.push((caught, result));
    }

    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for (case, (caught, result)) in cases.iter().zip(sent) {
        let subject = case.objects.last().unwrap();
        let kind = subject["kind"].as_str().unwrap();
        let name = subject["metadata"]["name"].as_str().unwrap();
        let message = match (&caught, result) {
            (Caught::Admission, Err(m)) => m,
            _ => match first_ready(&client, &ns, kind, name).await {
                Some((status, reason, message)) => {
                    if status != "False" {
                        failures.push(format!(
                            "{}: became Ready={status} ({reason}): {message}",
                            case.what
                        ));
                    }
                    format!("{reason}: {message}")
                }
                None => {
                    failures.push(format!(
                        "{}: no Ready condition within {CONDITION_TIMEOUT:?}",
                        case.what
                    ));
                    String::new()
                }
            },
        };
        if caught != case.caught {
            failures.push(format!(
                "{}: expected {:?}, was {caught:?}: {message}",
                case.what, case.caught
            ));
        }
        let missing: Vec<_> = case
            .expect
            .iter()
            .filter(|s| !message.contains(**s))
            .collect();
        if !missing.is_empty() {
            failures.push(format!(
                "{}: message lacks {missing:?}: {message}",
                case.what
            ));
        }
        rows.push((case.what, caught, message));
    }
    let elapsed = started.elapsed();

    // The control resources never left Ready while the mistakes were reported.
    for (kind, name, since) in &control_since {
        let got = get_dynamic(&client, &ns, kind, name).await.unwrap();
        let cond = ready_of(&got);
        let now_since = got.data["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .map(|c| c["lastTransitionTime"].clone());
        if cond.as_ref().is_none_or(|c| c.0 != "True") || now_since.as_ref() != Some(since) {
            failures.push(format!("control {kind} {name} left Ready: {cond:?}"));
        }
    }

    let admission = rows.iter().filter(|r| r.1 == Caught::Admission).count();
    let condition = rows.len() - admission;
    println!("\n{:<3} {:<55} {:<10} message", "#", "mistake", "caught by");
    for (i, (what, caught, message)) in rows.iter().enumerate() {
        let by = match caught {
            Caught::Admission => "admission",
            Caught::Condition => "condition",
        };
        println!(
            "{:<3} {what:<55} {by:<10} {}",
            i + 1,
            one_line(message, 170)
        );
    }
    println!(
        "{} mistakes: {admission} refused at admission, {condition} reported by a condition naming the field (all reported within {:.1}s); {} control resources stayed Ready; operator reconciles: {}",
        rows.len(),
        elapsed.as_secs_f64(),
        control_since.len(),
        ssoperator::metrics::sum_samples(&op.metrics.render(), "ssoperator_reconciles_total")
    );

    let cpcs: Api<ssoperator::crd::ClusterProviderConfig> = Api::all(client.clone());
    let _ = cpcs
        .delete(&format!("mistake-cpc-{sfx}"), &DeleteParams::default())
        .await;
    drop(op);
    support::delete_namespace(&client, &ns).await;
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}
