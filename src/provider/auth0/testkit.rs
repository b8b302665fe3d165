//! Conformance target: the Auth0 client against its emulator.

use crate::provider::conformance::{console_json, test_settings};
use std::{collections::BTreeMap, sync::Arc};

use async_trait::async_trait;

use super::{Auth0Provider, Credentials, mapping};
use crate::core::desired::{ProfileDesired, SecretValue};
use crate::crd::{
    CrossAppAccessResourceApp, CrossAppAccessStatus, CrossAppStatus, Feature,
    GoogleWorkspaceProvisioning, OrganizationBehaviour, ProfileOrganization, Provisioning,
    ScimProvisioning, ScimScope, ScimTokens, StrategyOverride, StrategyOverrides,
};
use crate::provider::{
    Desired, DynProvider, ProviderKind, ResourceKind, conformance::Target, http::ClientSettings,
};
use ssoperator_emulators::{self, EmulatorCore, Running, auth0::Auth0Emulator};

pub const DOMAIN: &str = "demo.eu.auth0.com";
pub const CLIENT_ID: &str = "demo-client-id";
pub const CLIENT_SECRET: &str = "demo-client-secret";

/// A running emulator and clients pointed at it.
pub struct Auth0Target {
    pub emulator: Auth0Emulator,
    pub running: Running,
    client: DynProvider,
    bad: DynProvider,
}

/// Client settings for tests: the emulator's URL and short retry delays.
pub fn settings(url: String) -> ClientSettings {
    test_settings(url)
}

/// A client of the emulated tenant with the given secret.
pub fn client_with_secret(url: String, secret: &str) -> Auth0Provider {
    match Auth0Provider::new(
        settings(url),
        DOMAIN.into(),
        Credentials {
            client_id: CLIENT_ID.into(),
            client_secret: SecretValue::new(secret),
        },
    ) {
        Ok(p) => p,
        Err(e) => panic!("cannot build the auth0 client: {e}"),
    }
}

/// Starts the emulator on a free loopback port.
pub async fn start() -> Auth0Target {
    let emulator = Auth0Emulator::new(DOMAIN, CLIENT_ID, CLIENT_SECRET);
    let running =
        match ssoperator_emulators::serve(emulator.router(), ([127, 0, 0, 1], 0).into()).await {
            Ok(r) => r,
            Err(e) => panic!("cannot start the auth0 emulator: {e}"),
        };
    let client: DynProvider = Arc::new(client_with_secret(running.url(), CLIENT_SECRET));
    let bad: DynProvider = Arc::new(client_with_secret(running.url(), "wrong-secret"));
    Auth0Target {
        emulator,
        running,
        client,
        bad,
    }
}

#[async_trait]
impl Target for Auth0Target {
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
        vec![ResourceKind::ConnectionProfile]
    }

    fn sample(&self, _kind: ResourceKind, n: usize) -> Desired {
        Desired::Profile(ProfileDesired {
            name: format!("profile-{n}"),
            organization: Some(ProfileOrganization {
                show_as_button: Some(OrganizationBehaviour::Optional),
                assign_membership_on_login: Some(OrganizationBehaviour::Required),
            }),
            connection_name_prefix_template: Some("sso-{org_name}".into()),
            enabled_features: Some(vec![
                "scim".into(),
                "universal_logout".into(),
                "directory_sync".into(),
            ]),
            connection_config: Some(serde_json::Map::new()),
            strategy_overrides: Some(StrategyOverrides {
                okta: Some(StrategyOverride {
                    enabled_features: Some(vec![Feature::Scim]),
                    connection_config: Some(BTreeMap::new()),
                    provisioning: None,
                }),
                ..Default::default()
            }),
            provisioning: Some(Provisioning {
                scim: Some(ScimProvisioning {
                    tokens: ScimTokens {
                        scopes: vec![ScimScope::GetUsers, ScimScope::PostUsers],
                        default_expiry: Some(3600),
                        max_allowed_expiry: None,
                    },
                }),
                google_workspace: None,
            }),
            cross_app_access_resource_app: Some(CrossAppAccessResourceApp {
                status: CrossAppAccessStatus {
                    default_value: CrossAppStatus::Disabled,
                    allowed_values: None,
                },
            }),
        })
    }

    fn modified(&self, desired: &Desired) -> Desired {
        let mut d = desired.clone();
        if let Desired::Profile(p) = &mut d {
            p.organization = Some(ProfileOrganization {
                show_as_button: Some(OrganizationBehaviour::Required),
                assign_membership_on_login: None,
            });
            p.enabled_features = Some(vec!["scim".into()]);
            let mut so = p.strategy_overrides.clone().unwrap_or_default();
            so.google_apps = Some(StrategyOverride {
                enabled_features: Some(vec![Feature::UniversalLogout, Feature::DirectorySync]),
                connection_config: None,
                provisioning: Some(Box::new(Provisioning {
                    scim: None,
                    google_workspace: Some(GoogleWorkspaceProvisioning { sync_users: true }),
                })),
            });
            p.strategy_overrides = Some(so);
        }
        d
    }

    async fn seed(&self, desired: &Desired) -> String {
        let id = desired.name().to_string();
        if let Desired::Profile(p) = desired {
            self.emulator
                .insert_profile(&id, console_json(&mapping::wire_from_desired(p)));
        }
        id
    }
}
