//! MongoDB Atlas: the connected-org config of one organization in a federation, managed as an
//! OrgRoleMapping (role mappings, post-auth role grants, domain allow-list and restriction).
//!
//! Atlas has no API to connect an organization, so configs are only adopted (by org id). The
//! PATCH replaces the whole object, so every write is GET, overlay the owned fields, PATCH.
//! "Deleting" clears the owned role fields and never disconnects the organization.

pub mod api;
pub mod client;
pub mod mapping;
/// Drives this client against its emulator (the conformance suite and tests; never in the image).
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

use std::{fmt, sync::Arc};

use async_trait::async_trait;

pub use client::Credentials;

use crate::provider::http::ClientSettings;
use crate::provider::{
    Capabilities, Descriptor, Desired, Diff, Fields,
    KindCapabilities, Outputs, Page, Provider, ProviderError, ProviderKind, Remote, ResourceKind,
    unsupported, unsupported_kind,
};
use api::ConnectedOrgConfig;

/// The real service.
pub const DEFAULT_BASE_URL: &str = "https://cloud.mongodb.com";

/// Page size of [`Provider::list`]: the largest the API accepts (1 to 500; its default is 100),
/// as a sweep reads every object.
pub const DEFAULT_PAGE_SIZE: u32 = 500;

const KIND: ProviderKind = ProviderKind::Atlas;

/// What the central code knows about MongoDB Atlas.
pub const DESCRIPTOR: Descriptor = Descriptor {
    kind: KIND,
    credential_keys: Credentials::KEYS,
    account_id: |a| {
        a.atlas
            .as_ref()
            .map(|f| f.federation_settings_id.to_ascii_lowercase())
    },
    needs_account_id: true,
    set_block: |a, federation_settings_id| {
        a.atlas = Some(crate::crd::AtlasAccount {
            federation_settings_id,
        })
    },
    default_base_url: |_| DEFAULT_BASE_URL.into(),
    build: |a, values, settings| {
        let federation_settings_id = a.atlas.clone().unwrap_or_default().federation_settings_id;
        let credentials = Credentials::from_values(values)?;
        Ok(Arc::new(AtlasProvider::new(settings, federation_settings_id, credentials)?))
    },
    #[cfg(any(test, feature = "testkit"))]
    conformance: || Box::pin(async { Box::new(testkit::start().await) as _ }),
};

/// Atlas provider client for one federation.
pub struct AtlasProvider {
    client: client::Client,
    page_size: u32,
}

impl fmt::Debug for AtlasProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AtlasProvider")
            .field("client", &self.client)
            .field("page_size", &self.page_size)
            .finish()
    }
}

impl AtlasProvider {
    pub fn new(
        settings: ClientSettings,
        federation_settings_id: String,
        credentials: Credentials,
    ) -> Result<Self, ProviderError> {
        Ok(Self {
            client: client::Client::new(settings, federation_settings_id, credentials)?,
            page_size: DEFAULT_PAGE_SIZE,
        })
    }

    /// Sets `itemsPerPage` for lists (clamped to the API's 1..=500).
    pub fn with_page_size(mut self, items_per_page: u32) -> Self {
        self.page_size = items_per_page.clamp(1, 500);
        self
    }

    fn remote(cfg: &ConnectedOrgConfig) -> Remote {
        Remote {
            id: cfg.org_id.clone(),
            name: cfg.org_id.clone(),
            fields: mapping::observed_fields(cfg),
            outputs: Outputs::default(),
        }
    }
}

/// Refuses the kinds Atlas does not manage.
fn check_kind(kind: ResourceKind) -> Result<(), ProviderError> {
    match kind {
        ResourceKind::OrgRoleMapping => Ok(()),
        other => Err(unsupported_kind(KIND, other)),
    }
}

#[async_trait]
impl Provider for AtlasProvider {
    fn kind(&self) -> ProviderKind {
        KIND
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            kinds: vec![KindCapabilities {
                kind: ResourceKind::OrgRoleMapping,
                // Organizations are connected in the Federation Management Console only.
                create: false,
                // Clears the owned role fields; the org stays connected.
                delete: true,
                fields: &["mappings", "atlas"],
            }],
        }
    }

    fn desired_fields(&self, desired: &Desired) -> Result<Fields, ProviderError> {
        match desired {
            Desired::RoleMapping(rm) => mapping::desired_fields(rm),
            other => Err(unsupported_kind(KIND, other.kind())),
        }
    }

    fn write_only_paths(&self, _desired: &Desired) -> Vec<String> {
        Vec::new()
    }

    async fn verify_credentials(&self) -> Result<(), ProviderError> {
        self.client.list("verify", 1, 1).await.map(|_| ())
    }

    async fn observe(&self, kind: ResourceKind, id: &str) -> Result<Option<Remote>, ProviderError> {
        check_kind(kind)?;
        Ok(self.client.get(id).await?.as_ref().map(Self::remote))
    }

    /// An org config is known by its org id.
    fn name_is_id(&self, _kind: ResourceKind) -> bool {
        true
    }

    async fn find_by_name(
        &self,
        kind: ResourceKind,
        name: &str,
    ) -> Result<Option<Remote>, ProviderError> {
        self.observe(kind, name).await
    }

    async fn list(
        &self,
        kind: ResourceKind,
        cursor: Option<String>,
    ) -> Result<Page, ProviderError> {
        check_kind(kind)?;
        let page_num = match cursor {
            None => 1,
            Some(c) => c
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| ProviderError::invalid(format!("bad list cursor {c:?}")))?,
        };
        let page = self.client.list("list", self.page_size, page_num).await?;
        let fetched = page.results.len() as u64;
        let more = match page.total_count {
            Some(total) => u64::from(page_num) * u64::from(self.page_size) < total && fetched > 0,
            None => {
                page.links.iter().any(|l| l.rel == "next") || fetched == u64::from(self.page_size)
            }
        };
        Ok(Page {
            items: page.results.iter().map(Self::remote).collect(),
            next: more.then(|| (page_num + 1).to_string()),
        })
    }

    async fn create(&self, desired: &Desired) -> Result<Remote, ProviderError> {
        Err(unsupported(
            KIND,
            format!(
                "creating {} (connect the organization in the Federation Management Console, then adopt it by org id)",
                desired.kind()
            ),
        ))
    }

    async fn update(
        &self,
        id: &str,
        desired: &Desired,
        _observed: &Remote,
        _diff: &Diff,
    ) -> Result<Remote, ProviderError> {
        let Desired::RoleMapping(rm) = desired else {
            return Err(unsupported_kind(KIND, desired.kind()));
        };
        mapping::check_supported(rm)?;
        // The PATCH replaces the whole object: start from the latest one, not the observed
        // snapshot, so that a change made since is not undone.
        let latest = self.client.get(id).await?.ok_or_else(|| {
            ProviderError::NotFound(format!("connected org config {id} not found"))
        })?;
        let body = mapping::overlay(rm, &latest);
        let saved = self.client.patch(id, &body).await?;
        Ok(Self::remote(&saved))
    }

    async fn delete(&self, kind: ResourceKind, id: &str) -> Result<(), ProviderError> {
        check_kind(kind)?;
        let Some(latest) = self.client.get(id).await? else {
            return Ok(());
        };
        let Some(body) = mapping::cleared(&latest) else {
            return Ok(());
        };
        match self.client.patch(id, &body).await {
            Ok(_) | Err(ProviderError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests;
