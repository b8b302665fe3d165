//! The five emulators seeded to match `examples/`: the same credentials and account ids, and the
//! remote objects the examples adopt (Qovery's connection, Atlas' connected organizations).
//! Used by the `emulators` binary behind `scripts/demo.sh` and by the e2e tests that reconcile
//! the examples. A unit test keeps these values and `examples/*.yaml` in step.

use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
    path::Path,
    sync::Arc,
};

use serde::Deserialize as _;
use serde_json::{Value, json};

use super::{
    EmulatorCore, Running,
    atlas::{AtlasEmulator, RoleAssignment, RoleMapping},
    auth0::Auth0Emulator,
    clerk::ClerkEmulator,
    loginradius::LoginRadiusEmulator,
    qovery::QoveryEmulator,
    serve,
};

pub const QOVERY_TOKEN: &str = "qov_demo_0000000000000000_not_a_real_token";
pub const QOVERY_ORG: &str = "3f8d2c4e-9b1a-4c7e-8f2d-5a6b7c8d9e0f";
/// The connection Qovery staff set up for the organization (examples/qovery.yaml adopts it).
pub const QOVERY_CONNECTION: &str = "acme-okta-saml";
pub const AUTH0_DOMAIN: &str = "acme-demo.eu.auth0.com";
pub const AUTH0_CLIENT_ID: &str = "DEMOclientIdNotReal0000000000000";
pub const AUTH0_CLIENT_SECRET: &str =
    "demo-client-secret-not-a-real-value-0000000000000000000000000000";
pub const LOGINRADIUS_API_KEY: &str = "00000000-demo-4000-8000-000000000000";
pub const LOGINRADIUS_API_SECRET: &str = "demo-api-secret-not-a-real-value";
pub const LOGINRADIUS_ORG: &str = "org_Z5ZtmHl2aMpi5VZPdemo";
pub const CLERK_SECRET_KEY: &str = "sk_test_DEMO0000000000000000000000000000notreal";
pub const ATLAS_PUBLIC_KEY: &str = "demopubk";
pub const ATLAS_PRIVATE_KEY: &str = "00000000-demo-4000-8000-notarealkey0";
pub const ATLAS_FEDERATION: &str = "5f1e2d3c4b5a69788796a5b4";
/// Connected organizations the examples manage (`externalName` of their OrgRoleMappings).
pub const ATLAS_ORG: &str = "6a0b1c2d3e4f5a6b7c8d9e0f";
pub const ATLAS_ANALYTICS_ORG: &str = "6a0b1c2d3e4f5a6b7c8d9e11";
/// The legacy 20-hex identity-provider id the description's pattern asks for.
const ATLAS_IDP: &str = "0a1de0000000000000d7";

/// The provider block names of a ProviderConfig spec, in a stable order.
pub const PROVIDERS: [&str; 5] = ["qovery", "auth0", "loginradius", "clerk", "atlas"];

/// The five running emulators; they stop when this is dropped.
pub struct DemoEmulators {
    pub qovery: QoveryEmulator,
    pub auth0: Auth0Emulator,
    pub loginradius: LoginRadiusEmulator,
    pub clerk: ClerkEmulator,
    pub atlas: AtlasEmulator,
    endpoints: BTreeMap<&'static str, String>,
    _running: Vec<Running>,
}

impl DemoEmulators {
    /// Starts the five emulators on free ports of `host`.
    pub async fn start(host: IpAddr) -> std::io::Result<Self> {
        let qovery = QoveryEmulator::new(QOVERY_TOKEN, vec![QOVERY_ORG.to_string()]);
        // Qovery's staff enable SSO with a default role; the example's OrgRoleMapping then
        // manages the role mapping.
        qovery.insert_connection(QOVERY_CONNECTION, "viewer");
        let auth0 = Auth0Emulator::new(AUTH0_DOMAIN, AUTH0_CLIENT_ID, AUTH0_CLIENT_SECRET);
        let loginradius =
            LoginRadiusEmulator::new(LOGINRADIUS_API_KEY, LOGINRADIUS_API_SECRET, LOGINRADIUS_ORG);
        let clerk = ClerkEmulator::with_instance(CLERK_SECRET_KEY, "demo");
        let atlas = AtlasEmulator::new(ATLAS_PUBLIC_KEY, ATLAS_PRIVATE_KEY, ATLAS_FEDERATION);
        atlas.insert_org_config(ATLAS_ORG, Some(ATLAS_IDP));
        // The analytics organization is only observed (ObserveOnly), so it is seeded as the
        // example expects it; a console edit there shows up as Drifted.
        atlas.insert_org_config(ATLAS_ANALYTICS_ORG, Some(ATLAS_IDP));
        atlas.edit_org_config(ATLAS_ANALYTICS_ORG, |cfg| {
            cfg.role_mappings = vec![RoleMapping {
                external_group_name: "analytics".into(),
                id: AtlasEmulator::new_id(),
                role_assignments: vec![RoleAssignment {
                    group_id: None,
                    org_id: Some(ATLAS_ANALYTICS_ORG.into()),
                    role: "ORG_READ_ONLY".into(),
                }],
            }];
        });

        let routers = [
            ("qovery", qovery.router()),
            ("auth0", auth0.router()),
            ("loginradius", loginradius.router()),
            ("clerk", clerk.router()),
            ("atlas", atlas.router()),
        ];
        let mut endpoints = BTreeMap::new();
        let mut running = Vec::new();
        for (provider, router) in routers {
            let r = serve(router, SocketAddr::new(host, 0)).await?;
            endpoints.insert(provider, r.url());
            running.push(r);
        }
        Ok(Self {
            qovery,
            auth0,
            loginradius,
            clerk,
            atlas,
            endpoints,
            _running: running,
        })
    }

    /// Base URL per provider block name (`qovery`, `auth0`, `loginradius`, `clerk`, `atlas`).
    pub fn endpoints(&self) -> &BTreeMap<&'static str, String> {
        &self.endpoints
    }

    /// What every emulator holds, without credentials.
    pub fn snapshot(&self) -> Value {
        json!({
            "qovery": self.qovery.snapshot(),
            "auth0": self.auth0.snapshot(),
            "loginradius": self.loginradius.snapshot(),
            "clerk": self.clerk.snapshot(),
            "atlas": self.atlas.snapshot(),
        })
    }

    /// Provider writes so far (POST, PUT, PATCH, DELETE), per provider.
    pub fn writes(&self) -> BTreeMap<&'static str, u64> {
        self.cores()
            .into_iter()
            .map(|(provider, core)| (provider, core.writes()))
            .collect()
    }

    /// Each emulator's shared core, by provider block name.
    pub fn cores(&self) -> [(&'static str, Arc<EmulatorCore>); 5] {
        [
            ("qovery", self.qovery.core()),
            ("auth0", self.auth0.core()),
            ("loginradius", self.loginradius.core()),
            ("clerk", self.clerk.core()),
            ("atlas", self.atlas.core()),
        ]
    }

    /// Contract violations per provider (only those with any): requests the clients sent and
    /// answers the emulators gave that the providers' descriptions do not allow.
    pub fn contract_violations(&self) -> BTreeMap<&'static str, BTreeMap<String, u64>> {
        self.cores()
            .into_iter()
            .map(|(provider, core)| (provider, core.contract_violations()))
            .filter(|(_, v)| !v.is_empty())
            .collect()
    }
}

/// Every document of `dir/*.yaml` (sorted by file name), with `spec.endpoint` of each
/// ProviderConfig and ClusterProviderConfig set to the emulator of its provider block.
pub fn examples_with_endpoints(
    dir: &Path,
    endpoints: &BTreeMap<&'static str, String>,
) -> Result<Vec<Value>, String> {
    let mut docs = Vec::new();
    for path in example_files(dir)? {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for doc in parse_documents(&text).map_err(|e| format!("{}: {e}", path.display()))? {
            docs.push(
                with_endpoint(doc, endpoints).map_err(|e| format!("{}: {e}", path.display()))?,
            );
        }
    }
    Ok(docs)
}

fn example_files(dir: &Path) -> Result<Vec<std::path::PathBuf>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    Ok(files)
}

/// The non-empty YAML documents of a multi-document stream.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, String> {
    let mut docs = Vec::new();
    for de in serde_yaml::Deserializer::from_str(text) {
        let doc = Value::deserialize(de).map_err(|e| e.to_string())?;
        if !doc.is_null() {
            docs.push(doc);
        }
    }
    Ok(docs)
}

fn with_endpoint(
    mut doc: Value,
    endpoints: &BTreeMap<&'static str, String>,
) -> Result<Value, String> {
    let kind = doc["kind"].as_str().unwrap_or_default().to_string();
    if kind != "ProviderConfig" && kind != "ClusterProviderConfig" {
        return Ok(doc);
    }
    let name = doc["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let Some(spec) = doc.get_mut("spec").and_then(Value::as_object_mut) else {
        return Err(format!("{kind} {name:?} has no spec"));
    };
    let provider = PROVIDERS
        .iter()
        .find(|p| spec.contains_key(**p))
        .ok_or_else(|| format!("{kind} {name:?} names no provider block"))?;
    let url = endpoints
        .get(provider)
        .ok_or_else(|| format!("no emulator for {provider}"))?;
    spec.insert("endpoint".into(), Value::String(url.clone()));
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples() -> Vec<Value> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        let endpoints = PROVIDERS
            .iter()
            .map(|p| (*p, format!("http://127.0.0.1:1/{p}")))
            .collect();
        examples_with_endpoints(&dir, &endpoints).unwrap()
    }

    fn secret_value(docs: &[Value], secret: &str, key: &str) -> String {
        let doc = docs
            .iter()
            .find(|d| d["kind"] == "Secret" && d["metadata"]["name"] == secret)
            .unwrap_or_else(|| panic!("examples have no Secret {secret}"));
        doc["stringData"][key]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn provider_block(docs: &[Value], provider: &str) -> Vec<Value> {
        docs.iter()
            .filter(|d| d["kind"] == "ProviderConfig" || d["kind"] == "ClusterProviderConfig")
            .filter_map(|d| d["spec"].get(provider).cloned())
            .collect()
    }

    #[test]
    fn every_provider_config_points_at_its_emulator() {
        let docs = examples();
        let configs: Vec<&Value> = docs
            .iter()
            .filter(|d| d["kind"] == "ProviderConfig" || d["kind"] == "ClusterProviderConfig")
            .collect();
        assert!(configs.len() >= 5, "{configs:?}");
        for pc in configs {
            let provider = PROVIDERS
                .iter()
                .find(|p| pc["spec"].get(**p).is_some())
                .unwrap();
            assert_eq!(
                pc["spec"]["endpoint"],
                format!("http://127.0.0.1:1/{provider}"),
                "{pc}"
            );
        }
    }

    #[test]
    fn demo_credentials_and_ids_match_the_examples() {
        let docs = examples();
        assert_eq!(
            secret_value(&docs, "qovery-credentials", "token"),
            QOVERY_TOKEN
        );
        assert_eq!(
            provider_block(&docs, "qovery")[0]["organizationId"],
            QOVERY_ORG
        );
        assert!(docs.iter().any(|d| d["spec"]["name"] == QOVERY_CONNECTION));
        let secrets = [
            ("auth0-credentials", "clientId", AUTH0_CLIENT_ID),
            ("auth0-credentials", "clientSecret", AUTH0_CLIENT_SECRET),
            ("loginradius-credentials", "apiKey", LOGINRADIUS_API_KEY),
            (
                "loginradius-credentials",
                "apiSecret",
                LOGINRADIUS_API_SECRET,
            ),
            ("clerk-credentials", "secretKey", CLERK_SECRET_KEY),
            ("atlas-credentials", "publicKey", ATLAS_PUBLIC_KEY),
            ("atlas-credentials", "privateKey", ATLAS_PRIVATE_KEY),
        ];
        for (secret, key, want) in secrets {
            assert_eq!(secret_value(&docs, secret, key), want, "{secret}.{key}");
        }
        assert_eq!(provider_block(&docs, "auth0")[0]["domain"], AUTH0_DOMAIN);
        assert_eq!(
            provider_block(&docs, "loginradius")[0]["organizationId"],
            LOGINRADIUS_ORG
        );
        for block in provider_block(&docs, "atlas") {
            assert_eq!(block["federationSettingsId"], ATLAS_FEDERATION);
        }
        for org in [ATLAS_ORG, ATLAS_ANALYTICS_ORG] {
            assert!(
                docs.iter().any(|d| d["spec"]["externalName"] == org),
                "{org}"
            );
        }
    }
}
