//! Conformance target: the Qovery client against its emulator.

use crate::provider::conformance::{console_json, test_settings};
use std::sync::Arc;

use async_trait::async_trait;

use super::{Credentials, QoveryProvider, mapping};
use crate::core::desired::{
    ConnectionDesired, Desired, Protocol, ResourceKind, RoleMappingDesired, SecretValue,
};
use crate::crd::{GroupMapping, RoleAssignment, SamlSettings};
use crate::provider::{DynProvider, ProviderKind, conformance::Target, http::ClientSettings};
use ssoperator_emulators::{self, EmulatorCore, Running, qovery::QoveryEmulator};

/// The token the test emulator accepts.
pub const TEST_TOKEN: &str = "qov_test_token_3b9d";
/// The organization the test emulator holds.
pub const TEST_ORG: &str = "3f1c2a4e-8b7d-4c1e-9a2f-5d6e7f809a1b";

/// A running Qovery emulator with clients pointed at it.
pub struct QoveryTarget {
    pub emulator: QoveryEmulator,
    pub running: Running,
    client: DynProvider,
    bad: DynProvider,
}

impl QoveryTarget {
    /// Settings with short retry delays, pointed at the emulator.
    pub fn settings(&self) -> ClientSettings {
        settings(&self.running)
    }

    /// A client of `organization_id` with `token`, pointed at the emulator.
    pub fn client_for(&self, organization_id: &str, token: &str) -> Option<QoveryProvider> {
        provider(&self.running, organization_id, token)
    }
}

fn settings(running: &Running) -> ClientSettings {
    test_settings(running.url())
}

fn provider(running: &Running, organization_id: &str, token: &str) -> Option<QoveryProvider> {
    QoveryProvider::new(
        settings(running),
        organization_id.to_string(),
        Credentials {
            token: SecretValue::new(token),
        },
    )
    .ok()
}

/// Starts the emulator on a free loopback port. Test support: panics if it cannot.
#[allow(clippy::expect_used)]
pub async fn start() -> QoveryTarget {
    let emulator = QoveryEmulator::new(TEST_TOKEN, vec![TEST_ORG.to_string()]);
    let addr = "127.0.0.1:0".parse().expect("loopback address");
    let running = ssoperator_emulators::serve(emulator.router(), addr)
        .await
        .expect("start the Qovery emulator");
    let client = Arc::new(provider(&running, TEST_ORG, TEST_TOKEN).expect("Qovery client"));
    let bad = Arc::new(provider(&running, TEST_ORG, "qov_wrong_token").expect("Qovery client"));
    QoveryTarget {
        emulator,
        running,
        client,
        bad,
    }
}

fn role(r: &str) -> RoleAssignment {
    RoleAssignment {
        role: r.into(),
        project_id: None,
    }
}

fn group(name: &str, roles: &[&str]) -> GroupMapping {
    GroupMapping {
        external_group: name.into(),
        external_group_id: None,
        roles: roles.iter().map(|r| role(r)).collect(),
    }
}

#[async_trait]
impl Target for QoveryTarget {
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

    /// OrgRoleMapping only: the EnterpriseConnection kind owns no settable field, so the suite's
    /// update scenario (which needs a visible change) cannot apply to it. Its other scenarios run
    /// in this module's tests (`connection_kind_scenarios`).
    fn kinds(&self) -> Vec<ResourceKind> {
        vec![
            ResourceKind::EnterpriseConnection,
            ResourceKind::OrgRoleMapping,
        ]
    }

    fn sample(&self, kind: ResourceKind, n: usize) -> Desired {
        match kind {
            ResourceKind::OrgRoleMapping => Desired::RoleMapping(RoleMappingDesired {
                target: format!("roles-{n}"),
                default_role: Some("viewer".into()),
                enforce_group_sync: Some(true),
                mappings: vec![
                    group("Administrators", &["admin", "devops"]),
                    group("DevSecOps", &["devops"]),
                ],
                atlas: None,
            }),
            // Only a bare SAML connection is valid at Qovery.
            _ => Desired::Connection(ConnectionDesired {
                name: format!("conn-{n}"),
                domains: None,
                active: None,
                protocol: Protocol::Saml,
                idp_type: "saml_custom".into(),
                idp_type_explicit: true,
                saml: Some(SamlSettings::default()),
                oidc: None,
                sync_user_attributes: None,
                organization_id: None,
            }),
        }
    }

    fn modified(&self, desired: &Desired) -> Desired {
        match desired {
            Desired::RoleMapping(m) => {
                let mut m = m.clone();
                m.default_role = Some("devops".into());
                m.enforce_group_sync = Some(false);
                m.mappings.push(group("Auditors", &["viewer"]));
                Desired::RoleMapping(m)
            }
            // Nothing of a Qovery connection is settable.
            other => other.clone(),
        }
    }

    async fn seed(&self, desired: &Desired) -> String {
        let name = desired.name().to_string();
        self.emulator.insert_connection(&name, "viewer");
        if let Desired::RoleMapping(m) = desired {
            self.emulator.edit_connection(&name, |dto| {
                if let Ok(with_roles) = mapping::overlay(&console_json(dto), m) {
                    *dto = console_json(&with_roles);
                }
            });
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::diff::diff;
    use crate::provider::ProviderError;
    use ssoperator_emulators::Faults;

    #[tokio::test]
    async fn connection_outputs_and_adoption_by_name() {
        let t = start().await;
        t.emulator.insert_connection("acme-sso", "viewer");
        let p = t.client();
        let r = p
            .find_by_name(ResourceKind::EnterpriseConnection, "acme-sso")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.id, "acme-sso");
        assert!(r.fields.is_empty());
        assert_eq!(
            r.outputs.sp_entity_id.as_deref(),
            Some("urn:auth0:qovery:acme-sso")
        );
        let d = t.sample(ResourceKind::EnterpriseConnection, 9);
        let none = p
            .update("acme-sso", &d, &r, &Default::default())
            .await
            .unwrap();
        assert_eq!(none, r);
        assert_eq!(t.core().writes(), 0);
        assert!(matches!(
            p.create(&d).await,
            Err(ProviderError::Unsupported { .. })
        ));
    }

    #[tokio::test]
    async fn a_role_update_keeps_what_the_spec_leaves_out() {
        let t = start().await;
        t.emulator.insert_connection("acme", "admin");
        let p = t.client();
        let desired = Desired::RoleMapping(RoleMappingDesired {
            target: "acme".into(),
            default_role: None,
            enforce_group_sync: Some(true),
            mappings: vec![group("ops", &["devops"])],
            atlas: None,
        });
        let observed = p
            .observe(ResourceKind::OrgRoleMapping, "acme")
            .await
            .unwrap()
            .unwrap();
        let want = p.desired_fields(&desired).unwrap();
        let d = diff(&want, &observed.fields);
        assert_eq!(d.paths, vec!["enforceGroupSync", "mappings"]);
        p.update("acme", &desired, &observed, &d).await.unwrap();
        let dto = t.emulator.get_connection("acme").unwrap();
        assert_eq!(dto.default_role, "admin");
        assert!(dto.enforce_group_sync);
        assert_eq!(dto.group_mappings["devops"], vec!["ops".to_string()]);
    }

    #[tokio::test]
    async fn deleting_a_role_mapping_clears_it_and_keeps_the_connection() {
        let t = start().await;
        let d = t.sample(ResourceKind::OrgRoleMapping, 1);
        let id = t.seed(&d).await;
        let p = t.client();
        p.delete(ResourceKind::OrgRoleMapping, &id).await.unwrap();
        let dto = t.emulator.get_connection(&id).unwrap();
        assert_eq!(dto.default_role, "viewer");
        assert!(!dto.enforce_group_sync && dto.group_mappings.is_empty());
        let writes = t.core().writes();
        p.delete(ResourceKind::OrgRoleMapping, &id).await.unwrap();
        assert_eq!(t.core().writes(), writes, "a second delete sends no write");
        p.delete(ResourceKind::OrgRoleMapping, "gone")
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn another_organization_is_forbidden() {
        let t = start().await;
        let p = t
            .client_for("00000000-0000-4000-8000-000000000000", TEST_TOKEN)
            .unwrap();
        use crate::provider::Provider;
        assert!(matches!(
            p.verify_credentials().await,
            Err(ProviderError::PermissionDenied(_))
        ));
    }

    #[tokio::test]
    async fn no_secret_in_debug_or_errors() {
        let t = start().await;
        let secret = "qov_super_secret_value_42";
        let p = t.client_for(TEST_ORG, secret).unwrap();
        assert!(!format!("{p:?}").contains(secret));
        use crate::provider::Provider;
        let e = p.verify_credentials().await.unwrap_err();
        assert!(matches!(e, ProviderError::Unauthenticated(_)));
        assert!(!e.to_string().contains(secret) && !format!("{e:?}").contains(secret));
        let good = t.client_for(TEST_ORG, TEST_TOKEN).unwrap();
        t.core().set_faults(Faults {
            error_rate: 1.0,
            ..Faults::default()
        });
        let e = good.verify_credentials().await.unwrap_err();
        t.core().set_faults(Faults::default());
        assert!(matches!(e, ProviderError::Unavailable(_)));
        assert!(!e.to_string().contains(TEST_TOKEN));
        assert!(!format!("{good:?}").contains(TEST_TOKEN));
    }

    #[tokio::test]
    async fn a_malformed_put_is_rejected_with_the_field_named() {
        let t = start().await;
        t.emulator.insert_connection("acme", "viewer");
        let url = format!(
            "{}/organization/{TEST_ORG}/enterpriseconnection/acme",
            t.running.url()
        );
        let resp = reqwest::Client::new()
            .put(&url)
            .header("Authorization", format!("Bearer {TEST_TOKEN}"))
            .json(&serde_json::json!({"connection_name": "acme", "default_role": "viewer"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("enforce_group_sync")
        );
        // A body naming another connection is no error (the description declares none): the
        // path names the connection, and its name stays.
        let resp = reqwest::Client::new()
            .put(&url)
            .header("Authorization", format!("Token {TEST_TOKEN}"))
            .json(
                &serde_json::json!({"connection_name": "other", "default_role": "viewer",
                "enforce_group_sync": false, "group_mappings": {}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["connection_name"], "acme");
        assert!(t.emulator.get_connection("other").is_none());
        assert_eq!(
            t.emulator.get_connection("acme").unwrap().connection_name,
            "acme"
        );
    }

    #[tokio::test]
    async fn a_field_unknown_to_the_client_survives_an_update() {
        use crate::provider::Provider;
        let t = start().await;
        t.emulator.insert_connection("acme", "viewer");
        let future = serde_json::json!({"jit": true, "since": 2027});
        assert!(t.emulator.edit_connection("acme", |dto| {
            dto.extra.insert("future_setting".into(), future.clone());
        }));
        let p = t.client_for(TEST_ORG, TEST_TOKEN).unwrap();
        let desired = Desired::RoleMapping(crate::core::desired::RoleMappingDesired {
            target: "acme".into(),
            default_role: Some("devops".into()),
            enforce_group_sync: Some(true),
            mappings: vec![],
            atlas: None,
        });
        let observed = p
            .observe(ResourceKind::OrgRoleMapping, "acme")
            .await
            .unwrap()
            .unwrap();
        let d = crate::core::diff::diff(&p.desired_fields(&desired).unwrap(), &observed.fields);
        assert!(!d.is_empty());
        p.update("acme", &desired, &observed, &d).await.unwrap();
        let after = t.emulator.get_connection("acme").unwrap();
        assert_eq!(after.default_role, "devops");
        assert_eq!(after.extra.get("future_setting"), Some(&future));
    }
}
