use serde_json::{Value, json};

use super::AtlasEmulator;
use super::validation::is_hex24;

const FED: &str = "5f1e2d3c4b5a69788796a5b4";
const ORG: &str = "6a0b1c2d3e4f5a6b7c8d9e0f";
const ORG2: &str = "6a0b1c2d3e4f5a6b7c8d9e11";
const IDP: &str = "0a1b2c3d4e5f6a7b8c9d";

/// A Digest-answering caller of the emulator.
struct Caller {
    url: String,
    http: reqwest::Client,
}

impl Caller {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, String, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let send = |auth: Option<String>| {
            let mut rb = self
                .http
                .request(m.clone(), format!("{}{path}", self.url))
                .header("Accept", "application/vnd.atlas.2023-01-01+json");
            if let Some(b) = &body {
                rb = rb
                    .header("Content-Type", "application/vnd.atlas.2023-01-01+json")
                    .body(b.to_string());
            }
            if let Some(a) = auth {
                rb = rb.header("Authorization", a);
            }
            rb.send()
        };
        let first = send(None).await.unwrap();
        assert_eq!(first.status(), 401);
        let challenge = first.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        let mut prompt = digest_auth::parse(&challenge).unwrap();
        let ctx = digest_auth::AuthContext::new_with_method(
            "pub",
            "priv",
            path,
            None::<&[u8]>,
            digest_auth::HttpMethod::from(method.to_string()),
        );
        let answer = prompt.respond(&ctx).unwrap().to_string();
        let r = send(Some(answer)).await.unwrap();
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let text = r.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, ct, v)
    }
}

async fn start() -> (AtlasEmulator, super::super::Running, Caller) {
    let emu = AtlasEmulator::new("pub", "priv", FED);
    emu.insert_org_config(ORG, Some(IDP));
    emu.insert_org_config(ORG2, None);
    emu.set_federated_domains(vec!["example.com".into()]);
    let running = super::super::serve(emu.router(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let caller = Caller {
        url: running.url(),
        http: reqwest::Client::new(),
    };
    (emu, running, caller)
}

fn mapping(group: &str) -> Value {
    json!({"externalGroupName": group,
               "roleAssignments": [{"orgId": ORG, "role": "ORG_MEMBER"}]})
}

#[tokio::test]
async fn role_mappings_are_a_sub_resource() {
    let (emu, _running, c) = start().await;
    let base =
        format!("/api/atlas/v2/federationSettings/{FED}/connectedOrgConfigs/{ORG}/roleMappings");
    let (st, ct, created) = c.call("POST", &base, Some(mapping("eng"))).await;
    assert_eq!(st, 200, "{created}");
    assert_eq!(ct, "application/vnd.atlas.2023-01-01+json");
    let id = created["id"].as_str().unwrap().to_string();
    assert!(is_hex24(&id));
    assert!(
        created["roleAssignments"][0].get("groupId").is_none(),
        "no nulls: {created}"
    );
    let (st, _, dup) = c.call("POST", &base, Some(mapping("eng"))).await;
    assert_eq!(
        (st, dup["errorCode"].as_str()),
        (400, Some("INVALID_ATTRIBUTE"))
    );
    let (st, _, list) = c.call("GET", &base, None).await;
    assert_eq!(st, 200);
    assert_eq!(list["totalCount"], 1);
    assert_eq!(list["results"][0]["id"], id);
    let one = format!("{base}/{id}");
    let (st, _, got) = c.call("GET", &one, None).await;
    assert_eq!((st, &got), (200, &created));
    let (st, _, put) = c.call("PUT", &one, Some(mapping("engineering"))).await;
    assert_eq!(st, 200);
    assert_eq!(
        (put["id"].as_str(), put["externalGroupName"].as_str()),
        (Some(id.as_str()), Some("engineering"))
    );
    assert_eq!(emu.get_org_config(ORG).unwrap().role_mappings.len(), 1);
    let (st, _, body) = c.call("DELETE", &one, None).await;
    assert_eq!((st, body), (204, Value::Null));
    let (st, _, err) = c.call("GET", &one, None).await;
    assert_eq!(
        (st, err["errorCode"].as_str()),
        (404, Some("RESOURCE_NOT_FOUND"))
    );
    // No identity provider: no mappings.
    let base2 = base.replace(ORG, ORG2);
    let (st, _, err) = c
            .call("POST", &base2, Some(json!({"externalGroupName": "g", "roleAssignments": [{"orgId": ORG2, "role": "ORG_MEMBER"}]})))
            .await;
    assert_eq!(
        (st, err["parameters"][0].as_str()),
        (400, Some("identityProviderId"))
    );
}

#[tokio::test]
async fn org_configs_can_be_removed_but_not_the_last_one() {
    let (emu, _running, c) = start().await;
    let base = format!("/api/atlas/v2/federationSettings/{FED}/connectedOrgConfigs");
    let (st, _, body) = c.call("DELETE", &format!("{base}/{ORG2}"), None).await;
    assert_eq!((st, body), (204, Value::Null));
    assert_eq!(emu.count_org_configs(), 1);
    let (st, _, err) = c.call("DELETE", &format!("{base}/{ORG2}"), None).await;
    assert_eq!(
        (st, err["errorCode"].as_str()),
        (404, Some("RESOURCE_NOT_FOUND"))
    );
    let (st, _, err) = c.call("DELETE", &format!("{base}/{ORG}"), None).await;
    assert_eq!(st, 400, "{err}");
    assert_eq!(err["error"], 400);
}

#[tokio::test]
async fn federation_settings_and_identity_providers_are_served() {
    let (_emu, _running, c) = start().await;
    let (st, _, fs) = c
        .call(
            "GET",
            &format!("/api/atlas/v2/orgs/{ORG}/federationSettings"),
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        fs,
        json!({"id": FED, "federatedDomains": ["example.com"], "hasRoleMappings": false,
                              "identityProviderId": IDP, "identityProviderStatus": "ACTIVE"})
    );
    let (st, _, fs) = c
        .call(
            "GET",
            &format!("/api/atlas/v2/orgs/{ORG2}/federationSettings"),
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert!(fs.get("identityProviderId").is_none());
    let (st, _, err) = c
        .call(
            "GET",
            "/api/atlas/v2/orgs/aaaaaaaaaaaaaaaaaaaaaaaa/federationSettings",
            None,
        )
        .await;
    assert_eq!(
        (st, err["errorCode"].as_str()),
        (404, Some("RESOURCE_NOT_FOUND"))
    );
    let idps = format!("/api/atlas/v2/federationSettings/{FED}/identityProviders");
    let (st, _, list) = c.call("GET", &idps, None).await;
    assert_eq!(st, 200);
    assert_eq!(list["totalCount"], 1);
    let idp = &list["results"][0];
    assert_eq!(idp["oktaIdpId"], IDP);
    assert!(is_hex24(idp["id"].as_str().unwrap()));
    assert_eq!(idp["associatedOrgs"][0]["orgId"], ORG);
    let (_, _, oidc) = c.call("GET", &format!("{idps}?protocol=OIDC"), None).await;
    assert_eq!(oidc["totalCount"], 0);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_api_errors() {
    let (_emu, running, c) = start().await;
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{}/api/atlas/v2/nothing/here", running.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["error"].as_u64(), v["errorCode"].as_str()),
        (Some(404), Some("RESOURCE_NOT_FOUND"))
    );
    let r = http
        .post(format!(
            "{}/api/atlas/v2/federationSettings/{FED}/connectedOrgConfigs",
            running.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], 405);
    drop(c);
}

#[tokio::test]
async fn instant_user_provisioning_is_kept_and_reset_by_a_full_patch() {
    let (emu, _running, c) = start().await;
    emu.edit_org_config(ORG, |cfg| cfg.instant_user_provisioning_disabled = true);
    let one = format!("/api/atlas/v2/federationSettings/{FED}/connectedOrgConfigs/{ORG}");
    let (_, _, got) = c.call("GET", &one, None).await;
    assert_eq!(got["instantUserProvisioningDisabled"], true);
    assert!(got.get("userConflicts").is_none());
    // A PATCH that leaves it out resets it, as every absent field.
    let (st, _, patched) = c
        .call(
            "PATCH",
            &one,
            Some(json!({"domainRestrictionEnabled": true, "identityProviderId": IDP})),
        )
        .await;
    assert_eq!(st, 200, "{patched}");
    assert_eq!(patched["instantUserProvisioningDisabled"], false);
}
