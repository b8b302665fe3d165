//! Auth0: connection profiles through the Management API (`/api/v2/connection-profiles`), with a
//! management token from the client-credentials grant.

pub mod api;
pub mod client;
pub mod mapping;
pub mod testkit;

use std::fmt;

use async_trait::async_trait;
use serde_json::Value;

use crate::core::desired::{ProfileDesired, SecretValue};
use crate::provider::{
    Capabilities, Desired, Diff, Fields, KindCapabilities, Page, Provider, ProviderError,
    ProviderKind, Remote, ResourceKind, http::ClientSettings, unsupported,
};

/// The real service's base URL: the tenant's own domain (`{domain}` is replaced by [`default_base_url`]).
pub const DEFAULT_BASE_URL: &str = "https://{domain}";

/// The base URL of a tenant, e.g. `https://example.eu.auth0.com`.
pub fn default_base_url(domain: &str) -> String {
    DEFAULT_BASE_URL.replace("{domain}", domain.trim().trim_end_matches('/'))
}

/// Page size of `list` (Auth0's maximum for this endpoint; its default is 5).
const PAGE_SIZE: u32 = client::MAX_TAKE;

/// A machine-to-machine application's credentials.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub client_id: String,
    /// Redacted in Debug output.
    pub client_secret: SecretValue,
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

    fn profile<'a>(&self, desired: &'a Desired) -> Result<&'a ProfileDesired, ProviderError> {
        match desired {
            Desired::Profile(p) => Ok(p),
            other => Err(unsupported(ProviderKind::Auth0, other.kind().as_str())),
        }
    }

    fn only_profiles(&self, kind: ResourceKind) -> Result<(), ProviderError> {
        if kind == ResourceKind::ConnectionProfile {
            Ok(())
        } else {
            Err(unsupported(ProviderKind::Auth0, kind.as_str()))
        }
    }
}

#[async_trait]
impl Provider for Auth0Provider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Auth0
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
        Ok(mapping::desired_fields(self.profile(desired)?))
    }

    fn write_only_paths(&self, _desired: &Desired) -> Vec<String> {
        // A connection profile holds no secrets; everything is read back.
        vec![]
    }

    async fn verify_credentials(&self) -> Result<(), ProviderError> {
        self.client.list(None, 1, "verify").await.map(|_| ())
    }

    async fn observe(&self, kind: ResourceKind, id: &str) -> Result<Option<Remote>, ProviderError> {
        self.only_profiles(kind)?;
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
        self.only_profiles(kind)?;
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
        self.only_profiles(kind)?;
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
        let p = self.profile(desired)?;
        let created = self.client.create(&mapping::wire_from_desired(p)).await?;
        mapping::remote_of(&created)
    }

    async fn update(
        &self,
        id: &str,
        desired: &Desired,
        observed: &Remote,
        diff: &Diff,
    ) -> Result<Remote, ProviderError> {
        let p = self.profile(desired)?;
        let body = mapping::patch_body(p, &observed.fields, diff);
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
        self.only_profiles(kind)?;
        self.client.delete(id).await
    }
}
