//! Auth0: connection profiles through the Management API (`/api/v2/connection-profiles`), with a
//! management token from the client-credentials grant.

pub mod api;
pub mod client;
pub mod mapping;
/// Drives this client against its emulator (the conformance suite and tests; never in the image).
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

use std::{fmt, sync::Arc};

use async_trait::async_trait;
use serde_json::Value;

pub use client::Credentials;

use crate::core::desired::ProfileDesired;
use crate::crd::ProviderAccount;
use crate::provider::{
    Capabilities, CredentialValues, Descriptor, Desired, Diff, DynProvider, Fields,
    KindCapabilities, Page, Provider, ProviderError, ProviderKind, Remote, ResourceKind,
    descriptor::base_url, http::ClientSettings, unsupported_kind,
};

/// The real service's base URL: the tenant's own domain (`{domain}` is replaced by [`default_base_url`]).
pub const DEFAULT_BASE_URL: &str = "https://{domain}";

/// The base URL of a tenant, e.g. `https://example.eu.auth0.com`.
pub fn default_base_url(domain: &str) -> String {
    DEFAULT_BASE_URL.replace("{domain}", domain.trim().trim_end_matches('/'))
}

/// Page size of `list` (the official SDK's default; Auth0's own default is 5).
const PAGE_SIZE: u32 = client::MAX_TAKE;

const KIND: ProviderKind = ProviderKind::Auth0;

/// What the central code knows about Auth0.
pub const DESCRIPTOR: Descriptor = Descriptor {
    kind: KIND,
    credential_keys: Credentials::KEYS,
    account_id: |a| a.auth0.as_ref().map(|t| t.domain.to_ascii_lowercase()),
    needs_account_id: true,
    set_block: |a, domain| a.auth0 = Some(crate::crd::Auth0Account { domain }),
    build,
    #[cfg(any(test, feature = "testkit"))]
    conformance: || Box::pin(async { Box::new(testkit::start().await) as _ }),
};

fn build(
    account: &ProviderAccount,
    values: &CredentialValues,
    mut settings: ClientSettings,
) -> Result<DynProvider, ProviderError> {
    let block = account.auth0.clone().unwrap_or_default();
    settings.base_url = base_url(account, default_base_url(&block.domain));
    let credentials = Credentials::from_values(values)?;
    Ok(Arc::new(Auth0Provider::new(
        settings,
        block.domain,
        credentials,
    )?))
}

/// Auth0 provider of one tenant.
#[derive(Clone)]
pub struct Auth0Provider {
    client: client::Client,
}

impl fmt::Debug for Auth0Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth0Provider")
            .field("client", &self.client)
            .finish()
    }
}

/// Top-level spec fields of ConnectionProfile that Auth0 holds.
const PROFILE_FIELDS: &[&str] = &[
    "name",
    "organization",
    "connectionNamePrefixTemplate",
    "enabledFeatures",
    "connectionConfig",
    "strategyOverrides",
    "provisioning",
    "crossAppAccessResourceApp",
];

impl Auth0Provider {
    /// `settings.base_url` is `https://{domain}` or an endpoint override; `domain` names the tenant
    /// (it also makes the token audience `https://{domain}/api/v2/`).
    pub fn new(
        settings: ClientSettings,
        domain: String,
        credentials: Credentials,
    ) -> Result<Self, ProviderError> {
        Ok(Self {
            client: client::Client::new(settings, domain, credentials)?,
        })
    }

}

fn profile(desired: &Desired) -> Result<&ProfileDesired, ProviderError> {
    match desired {
        Desired::Profile(p) => Ok(p),
        other => Err(unsupported_kind(KIND, other.kind())),
    }
}

/// Refuses the kinds Auth0 does not manage.
fn check_kind(kind: ResourceKind) -> Result<(), ProviderError> {
    match kind {
        ResourceKind::ConnectionProfile => Ok(()),
        other => Err(unsupported_kind(KIND, other)),
    }
}

#[async_trait]
impl Provider for Auth0Provider {
    fn kind(&self) -> ProviderKind {
        KIND
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            kinds: vec![KindCapabilities {
                kind: ResourceKind::ConnectionProfile,
                create: true,
                delete: true,
                fields: PROFILE_FIELDS,
            }],
        }
    }

    fn desired_fields(&self, desired: &Desired) -> Result<Fields, ProviderError> {
        Ok(mapping::desired_fields(profile(desired)?))
    }

    fn write_only_paths(&self, _desired: &Desired) -> Vec<String> {
        // A connection profile holds no secrets; everything is read back.
        vec![]
    }

    async fn verify_credentials(&self) -> Result<(), ProviderError> {
        self.client.list(None, 1, "verify").await.map(|_| ())
    }

    async fn observe(&self, kind: ResourceKind, id: &str) -> Result<Option<Remote>, ProviderError> {
        check_kind(kind)?;
        self.client
            .get(id)
            .await?
            .as_ref()
            .map(mapping::remote_of)
            .transpose()
    }

    async fn find_by_name(
        &self,
        kind: ResourceKind,
        name: &str,
    ) -> Result<Option<Remote>, ProviderError> {
        check_kind(kind)?;
        // No name filter on this list: page through everything.
        let mut from: Option<String> = None;
        loop {
            let page = self.client.list(from.as_deref(), PAGE_SIZE, "list").await?;
            if let Some(p) = page.connection_profiles.iter().find(|p| p.name == name) {
                return mapping::remote_of(p).map(Some);
            }
            match page.next {
                // A repeated checkpoint would loop forever; treat it as the end.
                Some(next) if !next.is_empty() && Some(&next) != from.as_ref() => from = Some(next),
                _ => return Ok(None),
            }
        }
    }

    async fn list(
        &self,
        kind: ResourceKind,
        cursor: Option<String>,
    ) -> Result<Page, ProviderError> {
        check_kind(kind)?;
        let page = self
            .client
            .list(cursor.as_deref(), PAGE_SIZE, "list")
            .await?;
        let items = page
            .connection_profiles
            .iter()
            .map(mapping::remote_of)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            next: page
                .next
                .filter(|n| !n.is_empty() && Some(n) != cursor.as_ref()),
        })
    }

    async fn create(&self, desired: &Desired) -> Result<Remote, ProviderError> {
        let p = profile(desired)?;
        let created = self.client.create(&mapping::wire_from_desired(p)).await?;
        mapping::remote_of(&created)
    }

    async fn update(
        &self,
        id: &str,
        desired: &Desired,
        _observed: &Remote,
        diff: &Diff,
    ) -> Result<Remote, ProviderError> {
        let p = profile(desired)?;
        // Auth0's update declares no 409 for a taken name (its create does): find out first.
        if diff.touches("name")
            && let Some(other) = self
                .find_by_name(ResourceKind::ConnectionProfile, &p.name)
                .await?
            && other.id != id
        {
            return Err(ProviderError::Conflict(format!(
                "auth0: connection profile {} is already named {:?}",
                other.id, p.name
            )));
        }
        // A nested object is sent whole, rebuilt from the profile as it is now (with the fields
        // set in the dashboard or unknown to us), so read it first.
        let current =
            if mapping::needs_current(diff) {
                Some(self.client.get(id).await?.ok_or_else(|| {
                    ProviderError::NotFound(format!("auth0 connection profile {id}"))
                })?)
            } else {
                None
            };
        let body = mapping::patch_body(p, current.as_ref(), diff);
        if body.is_empty() {
            // Nothing to send: report the object as it is now.
            return self
                .observe(ResourceKind::ConnectionProfile, id)
                .await?
                .ok_or_else(|| ProviderError::NotFound(format!("auth0 connection profile {id}")));
        }
        let updated = self.client.patch(id, &Value::Object(body)).await?;
        mapping::remote_of(&updated)
    }

    async fn delete(&self, kind: ResourceKind, id: &str) -> Result<(), ProviderError> {
        check_kind(kind)?;
        self.client.delete(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::diff::diff;
    use crate::provider::conformance::Target;
    use ssoperator_emulators::Faults;
    use std::time::Duration;
    use testkit::{CLIENT_SECRET, client_with_secret, start};

    fn profile(t: &testkit::Auth0Target, n: usize) -> Desired {
        t.sample(ResourceKind::ConnectionProfile, n)
    }

    fn with(d: &Desired, f: impl FnOnce(&mut ProfileDesired)) -> Desired {
        let mut d = d.clone();
        if let Desired::Profile(p) = &mut d {
            f(p);
        }
        d
    }

    #[tokio::test]
    async fn no_secret_reaches_debug_output_or_error_messages() {
        let t = start().await;
        let good = client_with_secret(t.running.url(), CLIENT_SECRET);
        good.verify_credentials().await.unwrap();
        let debug = format!("{good:?}");
        assert!(!debug.contains(CLIENT_SECRET), "{debug}");
        // The issued token must not show either.
        let token = good.client.token(None).await.unwrap();
        assert!(!debug.contains(token.expose()));
        assert!(!format!("{good:?}").contains(token.expose()));

        let bad = client_with_secret(t.running.url(), "s3cr3t-value");
        assert!(!format!("{bad:?}").contains("s3cr3t-value"));
        let err = bad.verify_credentials().await.unwrap_err();
        assert!(matches!(err, ProviderError::Unauthenticated(_)), "{err:?}");
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains("s3cr3t-value"), "{text}");
        }

        t.emulator.core().set_faults(Faults {
            error_rate: 1.0,
            ..Faults::default()
        });
        let err = good
            .observe(ResourceKind::ConnectionProfile, "cop_x")
            .await
            .unwrap_err();
        t.emulator.core().set_faults(Faults::default());
        assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(
                !text.contains(CLIENT_SECRET) && !text.contains(token.expose()),
                "{text}"
            );
        }
    }

    #[tokio::test]
    async fn the_token_is_cached_shared_by_clones_and_refreshed_once_on_401() {
        let t = start().await;
        let p = client_with_secret(t.running.url(), CLIENT_SECRET);
        let clone = p.clone();
        p.verify_credentials().await.unwrap();
        clone
            .list(ResourceKind::ConnectionProfile, None)
            .await
            .unwrap();
        assert_eq!(t.emulator.tokens_issued(), 1);

        t.emulator.revoke_tokens();
        clone
            .observe(ResourceKind::ConnectionProfile, "cop_missing")
            .await
            .unwrap();
        assert_eq!(t.emulator.tokens_issued(), 2);
        p.verify_credentials().await.unwrap();
        assert_eq!(
            t.emulator.tokens_issued(),
            2,
            "the refreshed token is shared"
        );
    }

    #[tokio::test]
    async fn a_token_is_replaced_before_it_expires() {
        let t = start().await;
        t.emulator.set_token_lifetime(1);
        let p = client_with_secret(t.running.url(), CLIENT_SECRET);
        p.verify_credentials().await.unwrap();
        tokio::time::sleep(Duration::from_millis(950)).await;
        p.verify_credentials().await.unwrap();
        assert_eq!(t.emulator.tokens_issued(), 2);
    }

    #[tokio::test]
    async fn validation_errors_name_the_spec_field() {
        let t = start().await;
        let p = t.client();
        let long = with(&profile(&t, 1), |p| p.name = "x".repeat(51));
        match p.create(&long).await {
            Err(ProviderError::Invalid { field, message }) => {
                assert_eq!(field.as_deref(), Some("name"));
                assert!(message.contains("maximum 50"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let hyphens = with(&profile(&t, 2), |p| {
            p.connection_name_prefix_template = Some("a--b".into())
        });
        match p.create(&hyphens).await {
            Err(ProviderError::Invalid { field, .. }) => {
                assert_eq!(field.as_deref(), Some("connectionNamePrefixTemplate"))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(t.emulator.count_profiles(), 0);
    }

    #[tokio::test]
    async fn renaming_onto_another_profile_is_a_conflict() {
        let t = start().await;
        let p = t.client();
        p.create(&profile(&t, 1)).await.unwrap();
        let b = p.create(&profile(&t, 2)).await.unwrap();
        let renamed = with(&profile(&t, 2), |p| p.name = "profile-1".into());
        let want = p.desired_fields(&renamed).unwrap();
        let d = diff(&want, &b.fields);
        assert_eq!(d.paths, vec!["name"]);
        let err = p.update(&b.id, &renamed, &b, &d).await.unwrap_err();
        assert!(matches!(err, ProviderError::Conflict(_)), "{err:?}");
    }

    #[tokio::test]
    async fn missing_scope_is_permission_denied() {
        let t = start().await;
        t.emulator.set_scopes(&["read:connection_profiles"]);
        let p = t.client();
        p.verify_credentials().await.unwrap();
        let err = p.create(&profile(&t, 1)).await.unwrap_err();
        assert!(matches!(err, ProviderError::PermissionDenied(_)), "{err:?}");
    }

    #[tokio::test]
    async fn drift_made_in_the_dashboard_is_seen_and_closed_by_one_patch() {
        let t = start().await;
        let p = t.client();
        let desired = profile(&t, 1);
        let created = p.create(&desired).await.unwrap();
        assert!(t.emulator.edit_profile(&created.id, |w| {
            w.enabled_features = Some(vec![]);
            if let Some(o) = w.organization.as_mut() {
                o.assign_membership_on_login = Some("none".into());
            }
        }));
        let observed = p
            .observe(ResourceKind::ConnectionProfile, &created.id)
            .await
            .unwrap()
            .unwrap();
        let want = p.desired_fields(&desired).unwrap();
        let d = diff(&want, &observed.fields);
        assert_eq!(
            d.paths,
            vec!["enabledFeatures", "organization.assign_membership_on_login"]
        );
        let before = t.core().writes();
        let after = p
            .update(&created.id, &desired, &observed, &d)
            .await
            .unwrap();
        assert_eq!(t.core().writes() - before, 1);
        assert!(diff(&want, &after.fields).is_empty());
        // The untouched sibling inside `organization` was kept.
        assert_eq!(
            after.fields["organization.show_as_button"],
            serde_json::json!("optional")
        );
    }

    #[tokio::test]
    async fn fields_set_in_the_dashboard_survive_an_update_of_owned_fields() {
        let t = start().await;
        let p = t.client();
        let desired = profile(&t, 1);
        let created = p.create(&desired).await.unwrap();
        // A newer API's fields, unknown to our types, at the top level, inside an overridden
        // strategy the spec manages, and a strategy the spec leaves alone.
        assert!(t.emulator.edit_profile(&created.id, |w| {
            w.extra
                .insert("future_top".into(), serde_json::json!({"x": 1}));
            let so = w.strategy_overrides.get_or_insert_default();
            if let Some(okta) = so.get_mut("okta") {
                okta.enabled_features = Some(vec![]);
                okta.extra
                    .insert("future_leaf".into(), serde_json::json!(true));
            }
            so.insert(
                "samlp".into(),
                ssoperator_emulators::auth0::wire::StrategyOverride {
                    provisioning: Some(
                        serde_json::json!({"google_workspace": {"sync_users": true}}),
                    ),
                    ..Default::default()
                },
            );
            if let Some(org) = w.organization.as_mut() {
                org.show_as_button = Some("none".into());
                org.extra
                    .insert("future_org".into(), serde_json::json!("kept"));
            }
        }));
        let observed = p
            .observe(ResourceKind::ConnectionProfile, &created.id)
            .await
            .unwrap()
            .unwrap();
        let want = p.desired_fields(&desired).unwrap();
        let d = diff(&want, &observed.fields);
        assert_eq!(
            d.paths,
            vec![
                "organization.show_as_button",
                "strategyOverrides.okta.enabledFeatures"
            ]
        );
        let after = p
            .update(&created.id, &desired, &observed, &d)
            .await
            .unwrap();
        assert!(diff(&want, &after.fields).is_empty());
        let stored = t.emulator.get_profile(&created.id).unwrap();
        assert_eq!(stored.extra["future_top"], serde_json::json!({"x": 1}));
        assert_eq!(
            stored.organization.unwrap().extra["future_org"],
            serde_json::json!("kept")
        );
        let so = stored.strategy_overrides.unwrap();
        assert_eq!(so["okta"].extra["future_leaf"], serde_json::json!(true));
        assert_eq!(
            so["samlp"].provisioning,
            Some(serde_json::json!({"google_workspace": {"sync_users": true}}))
        );
    }

    #[tokio::test]
    async fn a_non_empty_connection_config_is_refused_by_name() {
        let t = start().await;
        let p = t.client();
        let bad = with(&profile(&t, 1), |p| {
            p.connection_config = Some(serde_json::Map::from_iter([(
                "x".to_string(),
                serde_json::json!(1),
            )]))
        });
        match p.create(&bad).await {
            Err(ProviderError::Invalid { field, message }) => {
                assert_eq!(field.as_deref(), Some("connectionConfig"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn the_tenant_rate_limit_is_waited_out() {
        let t = start().await;
        let p = t.client();
        p.verify_credentials().await.unwrap();
        t.core().set_rate_limit(Some((2, 5)));
        for _ in 0..4 {
            p.observe(ResourceKind::ConnectionProfile, "cop_missing")
                .await
                .unwrap();
        }
        t.core().set_rate_limit(None);
    }

    #[tokio::test]
    async fn find_by_name_pages_through_the_list() {
        let t = start().await;
        let p = t.client();
        for n in 0..(PAGE_SIZE as usize + 5) {
            p.create(&profile(&t, n)).await.unwrap();
        }
        let last = format!("profile-{}", PAGE_SIZE + 4);
        let found = p
            .find_by_name(ResourceKind::ConnectionProfile, &last)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.name, last);
        assert!(
            p.find_by_name(ResourceKind::ConnectionProfile, "nope")
                .await
                .unwrap()
                .is_none()
        );
        assert!(t.core().calls()["GET /api/v2/connection-profiles"] >= 2);
    }

    #[test]
    fn other_kinds_are_unsupported() {
        let p = client_with_secret("http://127.0.0.1:9".into(), CLIENT_SECRET);
        let conn = Desired::RoleMapping(crate::core::desired::RoleMappingDesired {
            target: "x".into(),
            default_role: None,
            enforce_group_sync: None,
            mappings: vec![],
            atlas: None,
        });
        assert!(matches!(
            p.desired_fields(&conn),
            Err(ProviderError::Unsupported { .. })
        ));
    }
}
