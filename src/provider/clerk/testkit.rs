//! Conformance target: the Clerk client against its emulator.

use crate::provider::conformance::test_settings;
use std::sync::Arc;

use async_trait::async_trait;

use super::{ClerkProvider, Credentials, mapping};
use crate::core::desired::{ConnectionDesired, OidcDesired, Protocol, SecretValue};
use crate::core::normalize;
use crate::crd::{AttributeMapping, SamlSettings};
use crate::provider::conformance::Target;
use crate::provider::http::ClientSettings;
use crate::provider::{Desired, DynProvider, ProviderKind, ResourceKind};
use ssoperator_emulators::{self, EmulatorCore, Running, clerk::ClerkEmulator};

/// The secret key the test emulator accepts.
pub const SECRET_KEY: &str = "sk_test_conformance";
/// A public test certificate body (not a real key; Clerk only checks its shape here).
pub const CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ29uZm9ybWFuY2U=\n-----END CERTIFICATE-----\n";

/// The Clerk client, its emulator and the server running it.
pub struct ClerkTarget {
    pub emulator: ClerkEmulator,
    pub running: Running,
    client: DynProvider,
    bad: DynProvider,
}

fn settings(url: String) -> ClientSettings {
    test_settings(url)
}

/// A client of the running emulator with `key`; a small page size so that paging is exercised.
pub fn client(running: &Running, key: &str) -> ClerkProvider {
    match ClerkProvider::new(
        settings(running.url()),
        None,
        Credentials {
            secret_key: SecretValue::new(key),
        },
    ) {
        Ok(p) => p.with_page_size(10),
        Err(e) => panic!("cannot build the Clerk client: {e}"),
    }
}

/// Starts the emulator on a free loopback port.
pub async fn start() -> ClerkTarget {
    let emulator = ClerkEmulator::new(SECRET_KEY);
    let running =
        match ssoperator_emulators::serve(emulator.router(), ([127, 0, 0, 1], 0).into()).await {
            Ok(r) => r,
            Err(e) => panic!("cannot start the Clerk emulator: {e}"),
        };
    let client = Arc::new(client(&running, SECRET_KEY));
    let bad = Arc::new(client_with_key(&running, "sk_test_not_the_right_key"));
    ClerkTarget {
        emulator,
        running,
        client,
        bad,
    }
}

fn client_with_key(running: &Running, key: &str) -> ClerkProvider {
    client(running, key)
}

/// A SAML connection for odd `n`, an OIDC one for even `n`, each with its own name and domain.
pub fn sample_connection(n: usize) -> ConnectionDesired {
    let domains = Some(normalize::domains(&[format!("Conn{n}.Example.com")]));
    if n % 2 == 1 {
        ConnectionDesired {
            name: format!("SAML connection {n}"),
            domains,
            active: Some(true),
            protocol: Protocol::Saml,
            idp_type: "saml_custom".into(),
            idp_type_explicit: true,
            saml: Some(SamlSettings {
                idp_entity_id: Some(format!("https://idp{n}.example.com/entity")),
                // Upper case and a trailing slash: normalisation must make it match.
                idp_sso_url: Some(format!("https://IdP{n}.example.com/sso/")),
                idp_certificate: Some(CERTIFICATE.into()),
                allow_idp_initiated: Some(false),
                force_authn: Some(false),
                attribute_mapping: Some(Box::new(AttributeMapping {
                    email_address: Some("mail".into()),
                    ..Default::default()
                })),
                ..Default::default()
            }),
            oidc: None,
            sync_user_attributes: Some(false),
            organization_id: Some("org_conformance".into()),
        }
    } else {
        ConnectionDesired {
            name: format!("OIDC connection {n}"),
            domains,
            active: Some(true),
            protocol: Protocol::Oidc,
            idp_type: "oidc_custom".into(),
            idp_type_explicit: true,
            saml: None,
            oidc: Some(OidcDesired {
                discovery_url: Some(format!(
                    "https://idp{n}.example.com/.well-known/openid-configuration"
                )),
                auth_url: None,
                token_url: None,
                user_info_url: None,
                client_id: format!("client-{n}"),
                client_secret: Some(SecretValue::new(format!("oidc-secret-{n}"))),
                requires_pkce: Some(false),
            }),
            sync_user_attributes: None,
            organization_id: None,
        }
    }
}

/// The same connection with a new name, an extra domain and a changed protocol setting.
pub fn modified_connection(c: &ConnectionDesired) -> ConnectionDesired {
    let mut c = c.clone();
    c.name = format!("{} v2", c.name);
    if let Some(d) = c.domains.as_mut() {
        let extra = format!("sso.{}", d.first().cloned().unwrap_or_default());
        d.push(extra);
        *d = normalize::domains(d);
    }
    c.sync_user_attributes = Some(!c.sync_user_attributes.unwrap_or(true));
    if let Some(s) = c.saml.as_mut() {
        s.force_authn = Some(!s.force_authn.unwrap_or(false));
        s.idp_sso_url = Some("https://idp.example.com/sso/v2".into());
    }
    if let Some(o) = c.oidc.as_mut() {
        o.client_id = format!("{}-v2", o.client_id);
        o.requires_pkce = Some(!o.requires_pkce.unwrap_or(false));
    }
    c
}

#[async_trait]
impl Target for ClerkTarget {
    fn provider(&self) -> ProviderKind {
        super::KIND
    }

    fn client(&self) -> DynProvider {
        self.client.clone()
    }

    fn client_with_bad_credentials(&self) -> DynProvider {
        self.bad.clone()
    }

    fn core(&self) -> Arc<EmulatorCore> {
        self.emulator.core()
    }

    fn kinds(&self) -> Vec<ResourceKind> {
        vec![ResourceKind::EnterpriseConnection]
    }

    fn sample(&self, _kind: ResourceKind, n: usize) -> Desired {
        Desired::Connection(sample_connection(n))
    }

    fn modified(&self, desired: &Desired) -> Desired {
        match desired {
            Desired::Connection(c) => Desired::Connection(modified_connection(c)),
            other => other.clone(),
        }
    }

    /// Clerk can create connections, so the suite never needs this; it mirrors a console create.
    async fn seed(&self, desired: &Desired) -> String {
        let Desired::Connection(c) = desired else {
            panic!("Clerk only holds EnterpriseConnections");
        };
        let body = match mapping::create_body(c).map(serde_json::to_value) {
            Ok(Ok(b)) => b,
            other => panic!("cannot map the seed: {other:?}"),
        };
        match self.emulator.insert_from_body(desired.name(), body) {
            Ok(conn) => conn.id,
            Err(e) => panic!("cannot seed: {e}"),
        }
    }
}
