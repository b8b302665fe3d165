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
use crate::provider::{
    Capabilities, Descriptor, Desired, Diff, Fields,
    KindCapabilities, Page, Provider, ProviderError, ProviderKind, Remote, ResourceKind,
    http::ClientSettings, unsupported_kind,
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
    default_base_url: |a| default_base_url(&a.auth0.clone().unwrap_or_default().domain),
    build: |a, values, settings| {
        let domain = a.auth0.clone().unwrap_or_default().domain;
        let credentials = Credentials::from_values(values)?;
        Ok(Arc::new(Auth0Provider::new(settings, domain, credentials)?))
    },
    #[cfg(any(test, feature = "testkit"))]
    conformance: || Box::pin(async { Box::new(testkit::start().await) as _ }),
};

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
mod tests;
