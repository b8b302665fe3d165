//! Clerk: enterprise connections (SAML and OIDC) through the Backend API
//! (`/v1/enterprise_connections`, PATCH with Clerk's own partial-update rules).
//!
//! Clerk never echoes the OIDC client secret, the IdP certificate, the IdP metadata XML or the
//! attribute mapping, so those are write-only: sent on create and whenever the diff names them.

pub mod api;
pub mod client;
pub mod mapping;
/// Drives this client against its emulator (the conformance suite and tests; never in the image).
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;


use std::{fmt, sync::Arc};

use async_trait::async_trait;

pub use client::Credentials;

use crate::core::desired::{ConnectionDesired, SecretValue};
use crate::provider::http::{ClientSettings, HttpClient};
use crate::provider::{
    Descriptor, unsupported_kind,
    Capabilities, Desired, Diff, Fields, KindCapabilities, Page, Provider, ProviderError,
    ProviderKind, Remote, ResourceKind,
};

/// The real service.
pub const DEFAULT_BASE_URL: &str = "https://api.clerk.com";
/// The `Clerk-API-Version` this client was written against.
pub const DEFAULT_API_VERSION: &str = "2026-05-12";
/// Clerk's largest page.
pub const MAX_PAGE_SIZE: u32 = 500;
/// Page size of [`Provider::list`] unless set with [`ClerkProvider::with_page_size`]: the
/// largest, as a sweep reads every object.
pub const DEFAULT_PAGE_SIZE: u32 = MAX_PAGE_SIZE;

const KIND: ProviderKind = ProviderKind::Clerk;

/// What the central code knows about Clerk. The spec names no account: a secret key belongs to
/// one instance, whose ids are unique across instances.
pub const DESCRIPTOR: Descriptor = Descriptor {
    kind: KIND,
    credential_keys: Credentials::KEYS,
    account_id: |a| a.clerk.as_ref().map(|_| String::new()),
    needs_account_id: false,
    set_block: |a, _| a.clerk = Some(crate::crd::ClerkAccount::default()),
    default_base_url: |_| DEFAULT_BASE_URL.into(),
    build: |a, values, settings| {
        let api_version = a.clerk.clone().unwrap_or_default().api_version;
        let credentials = Credentials::from_values(values)?;
        Ok(Arc::new(ClerkProvider::new(settings, api_version, credentials)?))
    },
    #[cfg(any(test, feature = "testkit"))]
    conformance: || Box::pin(async { Box::new(testkit::start().await) as _ }),
};

/// The Clerk provider client of one instance.
#[derive(Clone)]
pub struct ClerkProvider {
    client: client::Client,
    page_size: u32,
}

impl fmt::Debug for ClerkProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClerkProvider")
            .field("client", &self.client)
            .field("page_size", &self.page_size)
            .finish()
    }
}

impl ClerkProvider {
    /// `api_version` is sent as `Clerk-API-Version` (YYYY-MM-DD); `None` means [`DEFAULT_API_VERSION`].
    pub fn new(
        settings: ClientSettings,
        api_version: Option<String>,
        credentials: Credentials,
    ) -> Result<Self, ProviderError> {
        let key = credentials.secret_key.expose().trim();
        if !key.starts_with("sk_") {
            // Never quote the key: a pasted secret could end up in a condition message.
            return Err(ProviderError::Invalid {
                message: "the Clerk secretKey must be a secret key starting with sk_ (publishable pk_ keys do not work for the Backend API)".into(),
                field: Some("secretKey".into()),
            });
        }
        let api_version = api_version
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_API_VERSION.to_string());
        if !is_date(&api_version) {
            return Err(ProviderError::Invalid {
                message: format!("Clerk API version {api_version:?} is not a YYYY-MM-DD date"),
                field: Some("apiVersion".into()),
            });
        }
        let base_url = settings.base_url.clone();
        let http = HttpClient::new(KIND, settings)?;
        let client = client::Client::new(
            http,
            &base_url,
            Credentials {
                secret_key: SecretValue::new(key.to_string()),
            },
            api_version,
        )?;
        Ok(Self {
            client,
            page_size: DEFAULT_PAGE_SIZE,
        })
    }

    /// Sets the page size of [`Provider::list`] (1..=500).
    pub fn with_page_size(mut self, size: u32) -> Self {
        self.page_size = size.clamp(1, MAX_PAGE_SIZE);
        self
    }
}

fn is_date(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

fn connection(desired: &Desired) -> Result<&ConnectionDesired, ProviderError> {
    match desired {
        Desired::Connection(c) => Ok(c),
        other => Err(unsupported_kind(KIND, other.kind())),
    }
}

/// Refuses the kinds Clerk does not manage.
fn check_kind(kind: ResourceKind) -> Result<(), ProviderError> {
    match kind {
        ResourceKind::EnterpriseConnection => Ok(()),
        other => Err(unsupported_kind(KIND, other)),
    }
}

#[async_trait]
impl Provider for ClerkProvider {
    fn kind(&self) -> ProviderKind {
        KIND
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            kinds: vec![KindCapabilities {
                kind: ResourceKind::EnterpriseConnection,
                create: true,
                delete: true,
                fields: mapping::SUPPORTED_FIELDS,
            }],
        }
    }

    fn desired_fields(&self, desired: &Desired) -> Result<Fields, ProviderError> {
        mapping::desired_fields(connection(desired)?)
    }

    fn write_only_paths(&self, desired: &Desired) -> Vec<String> {
        match desired {
            Desired::Connection(c) => mapping::write_only_paths(c),
            _ => vec![],
        }
    }

    fn unreadable_paths(&self, kind: ResourceKind) -> &'static [&'static str] {
        match kind {
            ResourceKind::EnterpriseConnection => &mapping::WRITE_ONLY,
            _ => &[],
        }
    }

    async fn verify_credentials(&self) -> Result<(), ProviderError> {
        self.client.list("verify", 1, 0).await.map(|_| ())
    }

    async fn observe(&self, kind: ResourceKind, id: &str) -> Result<Option<Remote>, ProviderError> {
        check_kind(kind)?;
        Ok(self.client.get(id).await?.as_ref().map(mapping::remote))
    }

    /// Clerk's list has no name filter, so this pages through everything at the largest page size.
    /// Two connections with the same name are ambiguous and refused rather than guessed.
    async fn find_by_name(
        &self,
        kind: ResourceKind,
        name: &str,
    ) -> Result<Option<Remote>, ProviderError> {
        check_kind(kind)?;
        let name = name.trim();
        let mut offset = 0u64;
        let mut found: Vec<Remote> = vec![];
        loop {
            let page = self.client.list("list", MAX_PAGE_SIZE, offset).await?;
            let n = page.data.len() as u64;
            found.extend(
                page.data
                    .iter()
                    .filter(|c| c.name.trim() == name)
                    .map(mapping::remote),
            );
            offset += n;
            if n == 0 || offset >= page.total_count.max(0) as u64 {
                break;
            }
        }
        match found.len() {
            0 | 1 => Ok(found.pop()),
            n => Err(ProviderError::Conflict(format!(
                "{n} Clerk enterprise connections are named {name:?}; set externalName to choose one"
            ))),
        }
    }

    async fn list(
        &self,
        kind: ResourceKind,
        cursor: Option<String>,
    ) -> Result<Page, ProviderError> {
        check_kind(kind)?;
        let offset = match cursor {
            None => 0,
            Some(c) => c
                .parse::<u64>()
                .map_err(|_| ProviderError::invalid("list cursor is not a Clerk offset"))?,
        };
        let page = self.client.list("list", self.page_size, offset).await?;
        let n = page.data.len() as u64;
        let next = offset + n;
        Ok(Page {
            items: page.data.iter().map(mapping::remote).collect(),
            next: (n > 0 && next < page.total_count.max(0) as u64).then(|| next.to_string()),
        })
    }

    /// POSTs the connection. Clerk's create body has no `sync_user_attributes`, so when the spec
    /// sets it to something else than Clerk's default, one PATCH follows; if that PATCH fails the
    /// created object is still returned (its id must be recorded) and the next reconcile fixes it.
    async fn create(&self, desired: &Desired) -> Result<Remote, ProviderError> {
        let c = connection(desired)?;
        let body = mapping::create_body(c)?;
        let created = self.client.create(&body).await?;
        if let Some(sync) = c.sync_user_attributes
            && sync != created.sync_user_attributes
        {
            let mut patch = serde_json::Map::new();
            patch.insert("sync_user_attributes".into(), sync.into());
            match self.client.update(&created.id, &patch).await {
                Ok(updated) => return Ok(mapping::remote(&updated)),
                Err(e) => {
                    tracing::warn!(provider = "clerk", id = %created.id, error = %e,
                        "created the connection but could not set sync_user_attributes; will retry on the next reconcile");
                }
            }
        }
        Ok(mapping::remote(&created))
    }

    async fn update(
        &self,
        id: &str,
        desired: &Desired,
        observed: &Remote,
        diff: &Diff,
    ) -> Result<Remote, ProviderError> {
        let c = connection(desired)?;
        let body = mapping::update_body(c, diff)?;
        // Clerk does not keep names unique (its description constrains none and it answers no
        // 409 on update), so a rename onto a taken name is found by the list lookup.
        if body.contains_key("name")
            && let Some(other) = self
                .find_by_name(ResourceKind::EnterpriseConnection, &c.name)
                .await?
            && other.id != id
        {
            return Err(ProviderError::Conflict(format!(
                "clerk: enterprise connection {} is already named {:?}",
                other.id,
                c.name.trim()
            )));
        }
        if body.is_empty() {
            return Ok(observed.clone());
        }
        let updated = self.client.update(id, &body).await?;
        Ok(mapping::remote(&updated))
    }

    async fn delete(&self, kind: ResourceKind, id: &str) -> Result<(), ProviderError> {
        check_kind(kind)?;
        self.client.delete(id).await
    }
}

#[cfg(test)]
mod tests;
