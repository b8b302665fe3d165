//! Conformance target: the LoginRadius client against its emulator.

use crate::provider::conformance::{console_json, test_settings};
use std::sync::Arc;

use async_trait::async_trait;

use super::{Credentials, LoginRadiusProvider, mapping};
use crate::core::desired::{ConnectionDesired, Protocol, RoleMappingDesired, SecretValue};
use crate::crd::{AttributeMapping, GroupMapping, RoleAssignment, SamlSettings};
use crate::provider::conformance::Target;
use crate::provider::http::ClientSettings;
use crate::provider::{Desired, DynProvider, ProviderKind, ResourceKind};
use ssoperator_emulators::{EmulatorCore, Running, loginradius::LoginRadiusEmulator, serve};

const API_KEY: &str = "conformance-api-key";
const API_SECRET: &str = "conformance-api-secret";
const ORG_ID: &str = "org_conformance";
/// Small pages so that the paging scenario sees several.
const PAGE_SIZE: u32 = 10;

/// The LoginRadius client and a running emulator.
pub struct LoginRadiusTarget {
    pub emulator: LoginRadiusEmulator,
    pub running: Running,
    client: DynProvider,
    bad_client: DynProvider,
}

fn settings(url: String) -> ClientSettings {
    test_settings(url)
}

fn build(url: String, secret: &str) -> DynProvider {
    let creds = Credentials {
        api_key: SecretValue::new(API_KEY),
        api_secret: SecretValue::new(secret),
    };
    match LoginRadiusProvider::new(settings(url), ORG_ID.into(), creds) {
        Ok(p) => Arc::new(p.with_page_size(PAGE_SIZE)),
        Err(e) => panic!("cannot build the LoginRadius client: {e}"),
    }
}

/// Starts the emulator on a free loopback port and builds the clients.
pub async fn start() -> LoginRadiusTarget {
    let emulator = LoginRadiusEmulator::new(API_KEY, API_SECRET, ORG_ID);
    let running = match serve(emulator.router(), ([127, 0, 0, 1], 0).into()).await {
        Ok(r) => r,
        Err(e) => panic!("cannot start the LoginRadius emulator: {e}"),
    };
    let client = build(running.url(), API_SECRET);
    let bad_client = build(running.url(), "not-the-secret");
    LoginRadiusTarget {
        emulator,
        running,
        client,
        bad_client,
    }
}

fn connection(n: usize) -> ConnectionDesired {
    ConnectionDesired {
        name: format!("conformance-{n}"),
        domains: Some(vec![format!("d{n}.example.com")]),
        active: Some(true),
        protocol: Protocol::Saml,
        idp_type: "saml_custom".into(),
        idp_type_explicit: true,
        saml: Some(SamlSettings {
            idp_entity_id: Some(format!("https://idp.example.com/{n}")),
            idp_metadata_url: Some(format!("https://idp.example.com/{n}/metadata.xml")),
            idp_certificate: Some(
                "-----BEGIN CERTIFICATE-----\nMIIBconformance\n-----END CERTIFICATE-----\n".into(),
            ),
            allow_idp_initiated: Some(false),
            attribute_mapping: Some(Box::new(AttributeMapping {
                user_id: Some("sub".into()),
                email_address: Some("email".into()),
                groups: Some("groups".into()),
                ..AttributeMapping::default()
            })),
            ..SamlSettings::default()
        }),
        oidc: None,
        sync_user_attributes: None,
        organization_id: None,
    }
}

fn mapping_of(group: &str, role: &str) -> GroupMapping {
    GroupMapping {
        external_group: group.into(),
        external_group_id: None,
        roles: vec![RoleAssignment {
            role: role.into(),
            project_id: None,
        }],
    }
}

#[async_trait]
impl Target for LoginRadiusTarget {
    fn provider(&self) -> ProviderKind {
        super::KIND
    }

    fn client(&self) -> DynProvider {
        self.client.clone()
    }

    fn client_with_bad_credentials(&self) -> DynProvider {
        self.bad_client.clone()
    }

    fn core(&self) -> Arc<EmulatorCore> {
        self.emulator.core()
    }

    fn kinds(&self) -> Vec<ResourceKind> {
        vec![
            ResourceKind::EnterpriseConnection,
            ResourceKind::OrgRoleMapping,
        ]
    }

    fn sample(&self, kind: ResourceKind, n: usize) -> Desired {
        match kind {
            ResourceKind::OrgRoleMapping => Desired::RoleMapping(RoleMappingDesired {
                target: format!("conn_rolemapping{n}"),
                default_role: None,
                enforce_group_sync: None,
                mappings: vec![
                    mapping_of("Security", "role_security"),
                    GroupMapping {
                        external_group_id: Some(format!("eca8da89-09ed-476f-a689-{n:012}")),
                        ..mapping_of("Engineering", "role_engineer")
                    },
                ],
                atlas: None,
            }),
            _ => Desired::Connection(connection(n)),
        }
    }

    fn modified(&self, desired: &Desired) -> Desired {
        match desired.clone() {
            Desired::Connection(mut c) => {
                c.active = Some(false);
                if let Some(s) = c.saml.as_mut() {
                    s.idp_entity_id = Some("https://idp.example.com/changed".into());
                    s.allow_idp_initiated = Some(true);
                }
                Desired::Connection(c)
            }
            Desired::RoleMapping(mut m) => {
                m.mappings.retain(|g| g.external_group != "Security");
                m.mappings.push(mapping_of("Admins", "role_admin"));
                Desired::RoleMapping(m)
            }
            other => other,
        }
    }

    async fn seed(&self, desired: &Desired) -> String {
        let id = desired.name().to_string();
        match desired {
            Desired::Connection(c) => {
                self.emulator
                    .insert_connection(&id, console_json(&mapping::new_connection(c)));
            }
            Desired::RoleMapping(m) => {
                // The holder: a connection with IdP settings of its own and the mappings.
                let mut conn = mapping::new_connection(&ConnectionDesired {
                    name: id.clone(),
                    ..connection(0)
                });
                mapping::overlay_role_mapping(&mut conn, m);
                self.emulator.insert_connection(&id, console_json(&conn));
            }
            Desired::Profile(_) => {}
        }
        id
    }
}
