//! Conformance target: the Atlas client against its emulator.

use crate::provider::conformance::test_settings;
use std::sync::Arc;

use async_trait::async_trait;

use super::{AtlasProvider, Credentials, mapping};
use crate::core::desired::{RoleMappingDesired, SecretValue};
use crate::crd::{AtlasOrgSettings, GroupMapping, RoleAssignment as SpecRole};
use crate::provider::conformance::Target;
use crate::provider::http::ClientSettings;
use crate::provider::{Desired, DynProvider, ProviderKind, ResourceKind};
use ssoperator_emulators::atlas::{AtlasEmulator, RoleAssignment, RoleMapping};
use ssoperator_emulators::{self, EmulatorCore, Running};

pub const PUBLIC_KEY: &str = "demopub";
pub const PRIVATE_KEY: &str = "demo-private-key";
pub const FEDERATION_SETTINGS_ID: &str = "5d1113b25a115342acc2d1aa";
/// The identity provider seeded orgs are connected to: a legacy 20-hex id, as the description's
/// pattern says (the seed's Okta-style `0oa7i0grsgbwJiIyw357` does not match it).
pub const IDENTITY_PROVIDER_ID: &str = "0a7e0b5c9d1f2e3a4b6c";
/// A project the samples give roles in.
pub const PROJECT_ID: &str = "6120a1b2c3d4e5f6a7b8c9d0";

/// The running emulator and clients pointed at it.
pub struct AtlasTarget {
    running: Running,
    emulator: AtlasEmulator,
    client: DynProvider,
    bad: DynProvider,
}

/// Small lists pages, so that the list scenario goes through several pages.
const TEST_PAGE_SIZE: u32 = 10;

fn settings(base_url: String) -> ClientSettings {
    test_settings(base_url)
}

fn provider(base_url: String, private_key: &str) -> DynProvider {
    let credentials = Credentials {
        public_key: PUBLIC_KEY.into(),
        private_key: SecretValue::new(private_key),
    };
    match AtlasProvider::new(
        settings(base_url),
        FEDERATION_SETTINGS_ID.into(),
        credentials,
    ) {
        Ok(p) => Arc::new(p.with_page_size(TEST_PAGE_SIZE)),
        Err(e) => panic!("cannot build the Atlas client: {e}"),
    }
}

/// Starts the emulator on a free loopback port.
pub async fn start() -> AtlasTarget {
    let emulator = AtlasEmulator::new(PUBLIC_KEY, PRIVATE_KEY, FEDERATION_SETTINGS_ID);
    let addr = match "127.0.0.1:0".parse() {
        Ok(a) => a,
        Err(e) => panic!("bad loopback address: {e}"),
    };
    let running = match ssoperator_emulators::serve(emulator.router(), addr).await {
        Ok(r) => r,
        Err(e) => panic!("cannot start the Atlas emulator: {e}"),
    };
    let client = provider(running.url(), PRIVATE_KEY);
    let bad = provider(running.url(), "not-the-private-key");
    AtlasTarget {
        running,
        emulator,
        client,
        bad,
    }
}

impl AtlasTarget {
    pub fn emulator(&self) -> &AtlasEmulator {
        &self.emulator
    }

    pub fn url(&self) -> String {
        self.running.url()
    }
}

/// A 24-hex org id unique by `n`.
pub fn org_id(n: usize) -> String {
    format!("5df7a168f10fab3a{:08x}", n)
}

#[async_trait]
impl Target for AtlasTarget {
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
        vec![ResourceKind::OrgRoleMapping]
    }

    fn sample(&self, _kind: ResourceKind, n: usize) -> Desired {
        Desired::RoleMapping(RoleMappingDesired {
            target: org_id(n),
            default_role: None,
            enforce_group_sync: None,
            mappings: vec![
                GroupMapping {
                    external_group: format!("atlas-admins-{n}"),
                    external_group_id: None,
                    roles: vec![SpecRole {
                        role: "ORG_OWNER".into(),
                        project_id: None,
                    }],
                },
                GroupMapping {
                    external_group: format!("engineering-{n}"),
                    external_group_id: None,
                    roles: vec![
                        SpecRole {
                            role: "GROUP_READ_ONLY".into(),
                            project_id: Some(PROJECT_ID.into()),
                        },
                        SpecRole {
                            role: "ORG_MEMBER".into(),
                            project_id: None,
                        },
                    ],
                },
            ],
            atlas: Some(AtlasOrgSettings {
                domain_allow_list: Some(vec![format!("Example-{n}.com")]),
                domain_restriction_enabled: Some(true),
                post_auth_role_grants: Some(vec!["ORG_MEMBER".into()]),
            }),
        })
    }

    fn modified(&self, desired: &Desired) -> Desired {
        let mut d = desired.clone();
        if let Desired::RoleMapping(rm) = &mut d {
            if let Some(m) = rm.mappings.get_mut(1) {
                m.roles.push(SpecRole {
                    role: "GROUP_DATA_ACCESS_READ_WRITE".into(),
                    project_id: Some(PROJECT_ID.into()),
                });
            }
            rm.mappings.push(GroupMapping {
                external_group: "auditors".into(),
                external_group_id: None,
                roles: vec![SpecRole {
                    role: "ORG_READ_ONLY".into(),
                    project_id: None,
                }],
            });
            if let Some(atlas) = &mut rm.atlas {
                atlas.domain_allow_list = Some(vec!["example.org".into(), "example.com".into()]);
                atlas.domain_restriction_enabled = Some(false);
            }
        }
        d
    }

    /// Connects the org in the "console" and gives it what `desired` says.
    async fn seed(&self, desired: &Desired) -> String {
        let org = desired.name().to_string();
        self.emulator
            .insert_org_config(&org, Some(IDENTITY_PROVIDER_ID));
        if let Desired::RoleMapping(rm) = desired {
            let wire = mapping::role_mappings(&rm.mappings, &org, &[]);
            let atlas = rm.atlas.clone().unwrap_or_default();
            self.emulator.edit_org_config(&org, |cfg| {
                cfg.role_mappings = wire
                    .into_iter()
                    .map(|m| RoleMapping {
                        external_group_name: m.external_group_name,
                        id: AtlasEmulator::new_id(),
                        role_assignments: m
                            .role_assignments
                            .into_iter()
                            .map(|a| RoleAssignment {
                                group_id: a.group_id,
                                org_id: a.org_id,
                                role: a.role,
                            })
                            .collect(),
                    })
                    .collect();
                cfg.domain_allow_list = atlas.domain_allow_list.unwrap_or_default();
                cfg.domain_restriction_enabled = atlas.domain_restriction_enabled.unwrap_or(false);
                cfg.post_auth_role_grants = atlas.post_auth_role_grants.unwrap_or_default();
            });
        }
        org
    }
}
