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

fn mistakes(u: &Urls, sfx: &str) -> Vec<Mistake> {
    use Caught::*;
    let ec =
        |name: &str, patch: Value| obj("EnterpriseConnection", name, merged(&clerk_saml(), &patch));
    let ec_oidc =
        |name: &str, patch: Value| obj("EnterpriseConnection", name, merged(&clerk_oidc(), &patch));
    let pc = |name: &str, patch: Value| {
        obj(
            "ProviderConfig",
            name,
            merged(
                &pc_spec(json!({"clerk": {}}), "clerk-creds", &u.clerk),
                &patch,
            ),
        )
    };
    let one = |what, object, caught, expect: &[&'static str]| Mistake {
        what,
        objects: vec![object],
        caught,
        expect: expect.to_vec(),
    };
    let many = |what, objects, caught, expect: &[&'static str]| Mistake {
        what,
        objects,
        caught,
        expect: expect.to_vec(),
    };
    let cpc_name = format!("mistake-cpc-{sfx}");
    vec![
        // ---- refused at admission: EnterpriseConnection
        one(
            "the same domain twice",
            ec(
                "m-dup-domain",
                json!({"domains": ["acme.example", "acme.example"]}),
            ),
            Admission,
            &["spec.domains", "must not list the same domain twice"],
        ),
        one(
            "domains differing only in case",
            ec(
                "m-dup-case",
                json!({"domains": ["acme.example", "ACME.example"]}),
            ),
            Admission,
            &["spec.domains", "case-insensitive"],
        ),
        one(
            "idpType oidc_custom with a saml block",
            ec("m-oidc-type-saml", json!({"idpType": "oidc_custom"})),
            Admission,
            &["spec.idpType", "does not match the protocol block"],
        ),
        one(
            "idpType saml_okta with an oidc block",
            ec_oidc("m-saml-type-oidc", json!({"idpType": "saml_okta"})),
            Admission,
            &["spec.idpType", "does not match the protocol block"],
        ),
        one(
            "idpMetadata given a URL",
            ec(
                "m-metadata-url",
                json!({"saml": {"idpMetadata": "https://idp.acme.example/metadata"}}),
            ),
            Admission,
            &["spec.saml.idpMetadata", "SAML metadata XML"],
        ),
        one(
            "idpCertificate is a file name",
            ec(
                "m-cert-name",
                json!({"saml": {"idpCertificate": "okta.cert"}}),
            ),
            Admission,
            &["spec.saml.idpCertificate", "PEM certificate"],
        ),
        one(
            "idpCertificate is a PEM public key",
            ec(
                "m-cert-pubkey",
                json!({"saml": {"idpCertificate": "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n"}}),
            ),
            Admission,
            &["spec.saml.idpCertificate", "PEM certificate"],
        ),
        one(
            "idpCertificate PEM cut off before END",
            ec(
                "m-cert-cut",
                json!({"saml": {"idpCertificate": &CERT[..200]}}),
            ),
            Admission,
            &["spec.saml.idpCertificate", "PEM certificate"],
        ),
        one(
            "both saml and oidc",
            ec(
                "m-both",
                json!({"oidc": {"clientId": "x", "discoveryUrl": "https://idp.acme.example/.well-known/openid-configuration"}}),
            ),
            Admission,
            &["spec", "exactly one of saml or oidc must be set"],
        ),
        one(
            "neither saml nor oidc",
            ec("m-neither", json!({"saml": null})),
            Admission,
            &["spec", "exactly one of saml or oidc must be set"],
        ),
        one(
            "domain with a scheme",
            ec(
                "m-domain-scheme",
                json!({"domains": ["https://acme.example"]}),
            ),
            Admission,
            &["spec.domains[0]"],
        ),
        one(
            "an email address as domain",
            ec("m-domain-email", json!({"domains": ["it@acme.example"]})),
            Admission,
            &["spec.domains[0]"],
        ),
        one(
            "idpSsoUrl without scheme",
            ec(
                "m-sso-scheme",
                json!({"saml": {"idpSsoUrl": "idp.acme.example/sso"}}),
            ),
            Admission,
            &["spec.saml.idpSsoUrl"],
        ),
        one(
            "oidc without discoveryUrl or authUrl/tokenUrl",
            ec_oidc("m-oidc-urls", json!({"oidc": {"discoveryUrl": null}})),
            Admission,
            &[
                "spec.oidc",
                "set discoveryUrl, or both authUrl and tokenUrl",
            ],
        ),
        one(
            "clientSecretRef without key",
            ec_oidc(
                "m-oidc-key",
                json!({"oidc": {"clientSecretRef": {"key": null}}}),
            ),
            Admission,
            &["spec.oidc.clientSecretRef.key", "Required value"],
        ),
        one(
            "idpType spelled as the IdP's name",
            ec("m-idptype-okta", json!({"idpType": "okta"})),
            Admission,
            &["spec.idpType", "Unsupported value"],
        ),
        one(
            "deletionPolicy in lower case",
            ec("m-policy-case", json!({"deletionPolicy": "delete"})),
            Admission,
            &["spec.deletionPolicy", "Unsupported value"],
        ),
        one(
            "providerConfigRef left out",
            ec("m-no-pcref", json!({"providerConfigRef": null})),
            Admission,
            &["spec.providerConfigRef", "Required value"],
        ),
        one(
            "idpMetadata and idpMetadataUrl both set",
            ec(
                "m-metadata-both",
                json!({"saml": {"idpMetadata": METADATA, "idpMetadataUrl": "https://idp.acme.example/metadata"}}),
            ),
            Admission,
            &[
                "spec.saml",
                "set at most one of idpMetadata or idpMetadataUrl",
            ],
        ),
        one(
            "a typo in a field name (domain)",
            ec("m-typo", json!({"domain": ["acme.example"]})),
            Admission,
            &["spec.domain"],
        ),
        // ---- refused at admission: ProviderConfig / ClusterProviderConfig
        one(
            "endpoint http:// without a host",
            pc("m-endpoint-nohost", json!({"endpoint": "http://"})),
            Admission,
            &["spec.endpoint", "with a host"],
        ),
        one(
            "endpoint with a space in the host",
            pc(
                "m-endpoint-space",
                json!({"endpoint": "http://api clerk.example"}),
            ),
            Admission,
            &["spec.endpoint", "no spaces"],
        ),
        one(
            "endpoint plain http:// to a remote host",
            pc(
                "m-endpoint-http",
                json!({"endpoint": "http://api.clerk.example"}),
            ),
            Admission,
            &["spec.endpoint", "loopback"],
        ),
        one(
            "endpoint without a scheme",
            pc("m-endpoint-scheme", json!({"endpoint": "api.clerk.com"})),
            Admission,
            &["spec.endpoint", "endpoint must be an http(s) URL"],
        ),
        one(
            "two provider blocks",
            pc(
                "m-two-providers",
                json!({"auth0": {"domain": "acme.eu.auth0.com"}}),
            ),
            Admission,
            &["spec", "exactly one provider block"],
        ),
        one(
            "Auth0 domain with a scheme",
            pc(
                "m-auth0-scheme",
                json!({"clerk": null, "auth0": {"domain": "https://acme.eu.auth0.com"}}),
            ),
            Admission,
            &["spec.auth0.domain"],
        ),
        one(
            "Qovery organizationId not a UUID",
            pc(
                "m-qovery-org",
                json!({"clerk": null, "qovery": {"organizationId": "acme"}}),
            ),
            Admission,
            &["spec.qovery.organizationId"],
        ),
        one(
            "Atlas federationSettingsId in upper case",
            pc(
                "m-atlas-fed",
                json!({"clerk": null, "atlas": {"federationSettingsId": "5D1113B25A115342ACC2D1AA"}}),
            ),
            Admission,
            &["spec.atlas.federationSettingsId"],
        ),
        one(
            "ClusterProviderConfig Secret without namespace",
            obj(
                "ClusterProviderConfig",
                &cpc_name,
                pc_spec(json!({"clerk": {}}), "clerk-creds", &u.clerk),
            ),
            Admission,
            &["spec", "credentialsSecretRef.namespace is required"],
        ),
        one(
            "allowedNamespaces from Selector without a selector",
            obj(
                "ClusterProviderConfig",
                &cpc_name,
                merged(
                    &pc_spec(json!({"clerk": {}}), "clerk-creds", &u.clerk),
                    &json!({"credentialsSecretRef": {"namespace": "default"}, "allowedNamespaces": {"from": "Selector"}}),
                ),
            ),
            Admission,
            &[
                "spec.allowedNamespaces.selector",
                "required when from is Selector",
            ],
        ),
        // ---- refused at admission: OrgRoleMapping / ConnectionProfile
        one(
            "both connectionRef and externalName",
            obj(
                "OrgRoleMapping",
                "m-orm-both",
                json!({"providerConfigRef": {"name": "atlas"},
            "externalName": ATLAS_ORG, "connectionRef": {"name": "control-clerk"}, "mappings": []}),
            ),
            Admission,
            &["spec", "set exactly one of connectionRef or externalName"],
        ),
        one(
            "the same externalGroup twice",
            obj(
                "OrgRoleMapping",
                "m-orm-dup",
                json!({"providerConfigRef": {"name": "atlas"}, "externalName": ATLAS_ORG,
            "mappings": [{"externalGroup": "dba", "roles": [{"role": "ORG_OWNER"}]}, {"externalGroup": "dba", "roles": [{"role": "ORG_MEMBER"}]}]}),
            ),
            Admission,
            &["spec.mappings"],
        ),
        one(
            "a mapping without roles",
            obj(
                "OrgRoleMapping",
                "m-orm-noroles",
                json!({"providerConfigRef": {"name": "atlas"}, "externalName": ATLAS_ORG,
            "mappings": [{"externalGroup": "dba", "roles": []}]}),
            ),
            Admission,
            &["spec.mappings[0].roles"],
        ),
        one(
            "prefix template with an underscore",
            obj(
                "ConnectionProfile",
                "m-cp-prefix",
                json!({"providerConfigRef": {"name": "auth0"}, "name": "p",
            "connectionNamePrefixTemplate": "acme_{org_id}"}),
            ),
            Admission,
            &["spec.connectionNamePrefixTemplate"],
        ),
        one(
            "an unknown profile feature",
            obj(
                "ConnectionProfile",
                "m-cp-feature",
                json!({"providerConfigRef": {"name": "auth0"}, "name": "p",
            "enabledFeatures": ["sso"]}),
            ),
            Admission,
            &["spec.enabledFeatures[0]", "Unsupported value"],
        ),
        // ---- reported by the operator
        one(
            "idpMetadata is HTML, not SAML metadata",
            ec(
                "m-metadata-html",
                json!({"name": "Acme html", "domains": ["html.acme.example"],
            "saml": {"idpCertificate": null, "idpSsoUrl": null, "idpMetadata": "<html><body>Sign in</body></html>"}}),
            ),
            Condition,
            &["spec.saml.idpMetadata", "not SAML metadata"],
        ),
        one(
            "idpMetadata XML cut off",
            ec(
                "m-metadata-cut",
                json!({"name": "Acme cut", "domains": ["cut.acme.example"],
            "saml": {"idpCertificate": null, "idpSsoUrl": null, "idpMetadata": &METADATA[..120]}}),
            ),
            Condition,
            &["spec.saml.idpMetadata", "is not XML"],
        ),
        one(
            "base64 that is no X.509 certificate (Clerk)",
            ec(
                "m-cert-clerk",
                json!({"name": "Acme cert", "domains": ["cert.acme.example"],
            "saml": {"idpCertificate": NOT_A_CERT}}),
            ),
            Condition,
            &["spec.saml.idpCertificate", "not an X.509 certificate"],
        ),
        one(
            "base64 that is no X.509 certificate (LoginRadius)",
            obj(
                "EnterpriseConnection",
                "m-cert-lr",
                merged(
                    &lr_saml(),
                    &json!({"name": "Acme cert lr", "domains": ["certlr.acme.example"], "saml": {"idpCertificate": NOT_A_CERT}}),
                ),
            ),
            Condition,
            &["spec.saml.idpCertificate", "not an X.509 certificate"],
        ),
        one(
            "PEM armour around junk (LoginRadius)",
            obj(
                "EnterpriseConnection",
                "m-pem-lr",
                merged(
                    &lr_saml(),
                    &json!({"name": "Acme pem lr", "domains": ["pemlr.acme.example"],
                    "saml": {"idpCertificate": format!("-----BEGIN CERTIFICATE-----\n{NOT_A_CERT}\n-----END CERTIFICATE-----\n")}}),
                ),
            ),
            Condition,
            &["spec.saml.idpCertificate", "not an X.509 certificate"],
        ),
        one(
            "OIDC client Secret missing",
            ec_oidc(
                "m-oidc-nosecret",
                json!({"name": "Acme nosecret", "domains": ["nosecret.acme.example"],
            "oidc": {"clientSecretRef": {"name": "no-such-secret"}}}),
            ),
            Condition,
            &["spec.oidc.clientSecretRef", "no-such-secret", "not found"],
        ),
        one(
            "OIDC client Secret without the key",
            ec_oidc(
                "m-oidc-nokey",
                json!({"name": "Acme nokey", "domains": ["nokey.acme.example"],
            "oidc": {"clientSecretRef": {"key": "client-secret"}}}),
            ),
            Condition,
            &["spec.oidc.clientSecretRef", "client-secret"],
        ),
        one(
            "providerConfigRef names no ProviderConfig",
            ec(
                "m-no-pc",
                json!({"providerConfigRef": {"name": "clerk-prod"}}),
            ),
            Condition,
            &["spec.providerConfigRef", "clerk-prod", "not found"],
        ),
        many(
            "a publishable pk_ key where Clerk needs sk_",
            vec![
                secret_obj(
                    "clerk-pk-creds",
                    json!({"secretKey": "pk_test_Y2xlcmsuYWNtZS5leGFtcGxlJA"}),
                ),
                obj(
                    "ProviderConfig",
                    "clerk-pk",
                    pc_spec(json!({"clerk": {}}), "clerk-pk-creds", &u.clerk),
                ),
                ec(
                    "m-clerk-pk",
                    json!({"providerConfigRef": {"name": "clerk-pk"}, "name": "Acme pk"}),
                ),
            ],
            Condition,
            &["secretKey", "sk_"],
        ),
        many(
            "credentials Secret missing",
            vec![
                obj(
                    "ProviderConfig",
                    "clerk-nosecret",
                    pc_spec(json!({"clerk": {}}), "clerk-creds-typo", &u.clerk),
                ),
                ec(
                    "m-pc-nosecret",
                    json!({"providerConfigRef": {"name": "clerk-nosecret"}, "name": "Acme nocreds"}),
                ),
            ],
            Condition,
            &["credentials Secret", "clerk-creds-typo", "not found"],
        ),
        many(
            "credentials Secret without apiSecret (LoginRadius)",
            vec![
                secret_obj("lr-half-creds", json!({"apiKey": "mistakes-api-key"})),
                obj(
                    "ProviderConfig",
                    "lr-half",
                    pc_spec(
                        json!({"loginradius": {"organizationId": LR_ORG}}),
                        "lr-half-creds",
                        &u.lr,
                    ),
                ),
                obj(
                    "EnterpriseConnection",
                    "m-lr-nokey",
                    merged(
                        &lr_saml(),
                        &json!({"providerConfigRef": {"name": "lr-half"}, "name": "Acme half"}),
                    ),
                ),
            ],
            Condition,
            &["apiSecret", "lr-half-creds"],
        ),
        one(
            "externalName that does not exist",
            obj(
                "OrgRoleMapping",
                "m-orm-noext",
                json!({"providerConfigRef": {"name": "atlas"},
            "externalName": "0123456789abcdef01234567", "mappings": [{"externalGroup": "dba", "roles": [{"role": "ORG_OWNER"}]}]}),
            ),
            Condition,
            &[
                "spec.externalName",
                "0123456789abcdef01234567",
                "does not exist",
            ],
        ),
        one(
            "EnterpriseConnection on an Auth0 ProviderConfig",
            ec(
                "m-ec-auth0",
                json!({"providerConfigRef": {"name": "auth0"}, "name": "Acme auth0"}),
            ),
            Condition,
            &[
                "spec.providerConfigRef",
                "auth0 does not support EnterpriseConnection",
            ],
        ),
        one(
            "ConnectionProfile on a Clerk ProviderConfig",
            obj(
                "ConnectionProfile",
                "m-cp-clerk",
                json!({"providerConfigRef": {"name": "clerk"}, "name": "p"}),
            ),
            Condition,
            &[
                "spec.providerConfigRef",
                "clerk does not support ConnectionProfile",
            ],
        ),
        one(
            "connectionRef to a connection that does not exist",
            obj(
                "OrgRoleMapping",
                "m-orm-noconn",
                json!({"providerConfigRef": {"name": "lr"},
            "connectionRef": {"name": "azure"}, "mappings": [{"externalGroup": "dba", "externalGroupId": "g1", "roles": [{"role": "role_admin"}]}]}),
            ),
            Condition,
            &["spec.connectionRef", "azure", "not found"],
        ),
        one(
            "Clerk SAML connection without domains",
            ec(
                "m-clerk-nodomains",
                json!({"name": "Acme nodomains", "domains": null}),
            ),
            Condition,
            &["spec.domains"],
        ),
        one(
            "groups attribute mapping at Clerk",
            ec(
                "m-clerk-groups",
                json!({"name": "Acme groups", "domains": ["groups.acme.example"],
            "saml": {"attributeMapping": {"groups": "memberOf"}}}),
            ),
            Condition,
            &["spec.saml.attributeMapping.groups"],
        ),
        one(
            "inline idpMetadata at LoginRadius",
            obj(
                "EnterpriseConnection",
                "m-lr-metadata",
                merged(
                    &lr_saml(),
                    &json!({"name": "Acme lr metadata", "domains": ["lrmeta.acme.example"], "saml": {"idpCertificate": null, "idpMetadata": METADATA}}),
                ),
            ),
            Condition,
            &["spec.saml.idpMetadata"],
        ),
    ]
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
        "clerk-creds",
        &[("secretKey", "sk_test_mistakes")],
    )
    .await;
    secret(
        &client,
        &ns,
        "lr-creds",
        &[
            ("apiKey", "mistakes-api-key"),
            ("apiSecret", "mistakes-api-secret"),
        ],
    )
    .await;
    secret(
        &client,
        &ns,
        "auth0-creds",
        &[
            ("clientId", "m-client-id"),
            ("clientSecret", "m-client-secret"),
        ],
    )
    .await;
    secret(
        &client,
        &ns,
        "atlas-creds",
        &[("publicKey", "mpub"), ("privateKey", "m-private-key")],
    )
    .await;
    secret(
        &client,
        &ns,
        "oidc-secret",
        &[("clientSecret", "oidc-client-secret")],
    )
    .await;
    provider_config(
        &client,
        &ns,
        "clerk",
        json!({"clerk": {}}),
        "clerk-creds",
        &urls.clerk,
    )
    .await;
    provider_config(
        &client,
        &ns,
        "lr",
        json!({"loginradius": {"organizationId": LR_ORG}}),
        "lr-creds",
        &urls.lr,
    )
    .await;
    provider_config(
        &client,
        &ns,
        "auth0",
        json!({"auth0": {"domain": "mistakes.eu.auth0.com"}}),
        "auth0-creds",
        &urls.auth0,
    )
    .await;
    provider_config(
        &client,
        &ns,
        "atlas",
        json!({"atlas": {"federationSettingsId": FED}}),
        "atlas-creds",
        &urls.atlas,
    )
    .await;
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
