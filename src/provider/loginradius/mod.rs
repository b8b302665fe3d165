//! LoginRadius: organization identity-provider connections (`/v2/manage/organizations/{orgId}/connections`).
//!
//! One LoginRadius connection backs two resource kinds: the EnterpriseConnection (its SAML
//! settings) and the OrgRoleMapping (its `GroupRoles`). Updates are PUTs of the whole object, so
//! both kinds read the latest copy, overlay only what they own and send it back.
//!
//! The reads (one connection, the list) are not documented by LoginRadius: their paths are
//! guesses kept in [`client::ReadPaths`], and a bare 404 from them is "unknown", never "deleted"
//! (see [`client`]).

pub mod api;
pub mod client;
pub mod mapping;
/// Drives this client against its emulator (the conformance suite and tests; never in the image).
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

use std::{fmt, sync::Arc};

use async_trait::async_trait;

pub use client::Credentials;

use crate::provider::{Descriptor, unsupported_kind};

use crate::core::desired::{Desired, ResourceKind};
use crate::core::diff::{Diff, Fields};
use crate::provider::http::{ClientSettings, HttpClient};
use crate::provider::{
    Capabilities, KindCapabilities, Page, Provider, ProviderError, ProviderKind, Remote,
    unsupported,
};

/// The real service.
pub const DEFAULT_BASE_URL: &str = "https://api.loginradius.com";

/// Connections per list call. Paging is not documented by LoginRadius (see [`client::ReadPaths`]).
pub const DEFAULT_PAGE_SIZE: u32 = 100;

const KIND: ProviderKind = ProviderKind::LoginRadius;

/// What the central code knows about LoginRadius.
pub const DESCRIPTOR: Descriptor = Descriptor {
    kind: KIND,
    credential_keys: Credentials::KEYS,
    account_id: |a| a.loginradius.as_ref().map(|l| l.organization_id.clone()),
    needs_account_id: true,
    set_block: |a, organization_id| {
        a.loginradius = Some(crate::crd::LoginRadiusAccount { organization_id })
    },
    default_base_url: |_| DEFAULT_BASE_URL.into(),
    build: |a, values, settings| {
        let organization_id = a.loginradius.clone().unwrap_or_default().organization_id;
        let credentials = Credentials::from_values(values)?;
        Ok(Arc::new(LoginRadiusProvider::new(settings, organization_id, credentials)?))
    },
    #[cfg(any(test, feature = "testkit"))]
    conformance: || Box::pin(async { Box::new(testkit::start().await) as _ }),
};

/// A client of one LoginRadius organization.
pub struct LoginRadiusProvider {
    client: client::Client,
    page_size: u32,
}

impl fmt::Debug for LoginRadiusProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRadiusProvider")
            .field("client", &self.client)
            .field("page_size", &self.page_size)
            .finish()
    }
}

impl LoginRadiusProvider {
    pub fn new(
        settings: ClientSettings,
        organization_id: String,
        credentials: Credentials,
    ) -> Result<Self, ProviderError> {
        if organization_id.trim().is_empty() {
            return Err(ProviderError::invalid(
                "LoginRadius organization id is empty",
            ));
        }
        let http = HttpClient::new(KIND, settings)?;
        Ok(Self {
            client: client::Client::new(http, organization_id, credentials),
            page_size: DEFAULT_PAGE_SIZE,
        })
    }

    /// Sets the list page size (tests use small pages to exercise paging).
    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size.max(1);
        self
    }

    /// Sends the undocumented reads (one connection, the list) elsewhere; see
    /// [`client::ReadPaths`].
    pub fn with_read_paths(mut self, reads: client::ReadPaths) -> Self {
        self.client = self.client.with_read_paths(reads);
        self
    }

    fn remote(kind: ResourceKind, c: &api::Connection) -> Result<Remote, ProviderError> {
        match kind {
            ResourceKind::EnterpriseConnection => Ok(mapping::connection_remote(c)),
            ResourceKind::OrgRoleMapping => Ok(mapping::role_mapping_remote(c)),
            ResourceKind::ConnectionProfile => Err(unsupported_kind(KIND, ResourceKind::ConnectionProfile)),
        }
    }

    /// The latest copy of a connection that must exist.
    async fn latest(&self, id: &str) -> Result<api::Connection, ProviderError> {
        self.client
            .get(id)
            .await?
            .ok_or_else(|| ProviderError::NotFound(format!("LoginRadius connection {id}")))
    }
}

/// Refuses the kinds LoginRadius does not manage.
fn check_kind(kind: ResourceKind) -> Result<(), ProviderError> {
    match kind {
        ResourceKind::EnterpriseConnection | ResourceKind::OrgRoleMapping => Ok(()),
        ResourceKind::ConnectionProfile => Err(unsupported_kind(KIND, kind)),
    }
}

#[async_trait]
impl Provider for LoginRadiusProvider {
    fn kind(&self) -> ProviderKind {
        KIND
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            kinds: vec![
                KindCapabilities {
                    kind: ResourceKind::EnterpriseConnection,
                    create: true,
                    delete: true,
                    fields: &["name", "domains", "active", "idpType", "saml"],
                },
                KindCapabilities {
                    kind: ResourceKind::OrgRoleMapping,
                    // GroupRoles live inside a connection: it is adopted, and "delete" clears them.
                    create: false,
                    delete: true,
                    fields: &["mappings"],
                },
            ],
        }
    }

    fn desired_fields(&self, desired: &Desired) -> Result<Fields, ProviderError> {
        match desired {
            Desired::Connection(c) => mapping::connection_fields(c, self.client.org_id()),
            Desired::RoleMapping(m) => mapping::role_mapping_fields(m),
            Desired::Profile(_) => Err(unsupported_kind(KIND, ResourceKind::ConnectionProfile)),
        }
    }

    fn write_only_paths(&self, _desired: &Desired) -> Vec<String> {
        // LoginRadius echoes everything it holds (the IdP certificate included).
        vec![]
    }

    async fn verify_credentials(&self) -> Result<(), ProviderError> {
        self.client.list(1, 1).await.map(|_| ())
    }

    async fn observe(&self, kind: ResourceKind, id: &str) -> Result<Option<Remote>, ProviderError> {
        check_kind(kind)?;
        match self.client.get(id).await? {
            Some(c) => Self::remote(kind, &c).map(Some),
            None => Ok(None),
        }
    }

    fn name_is_id(&self, kind: ResourceKind) -> bool {
        kind == ResourceKind::OrgRoleMapping
    }

    async fn find_by_name(
        &self,
        kind: ResourceKind,
        name: &str,
    ) -> Result<Option<Remote>, ProviderError> {
        match kind {
            // A role mapping is known by its connection's id.
            ResourceKind::OrgRoleMapping => self.observe(kind, name).await,
            ResourceKind::EnterpriseConnection => {
                let mut cursor = None;
                loop {
                    let page = self.list(kind, cursor).await?;
                    if let Some(r) = page.items.into_iter().find(|r| r.name == name) {
                        return Ok(Some(r));
                    }
                    match page.next {
                        Some(next) => cursor = Some(next),
                        None => return Ok(None),
                    }
                }
            }
            ResourceKind::ConnectionProfile => Err(unsupported_kind(KIND, ResourceKind::ConnectionProfile)),
        }
    }

    async fn list(
        &self,
        kind: ResourceKind,
        cursor: Option<String>,
    ) -> Result<Page, ProviderError> {
        check_kind(kind)?;
        // The cursor is `index` or `index:first id of the previous page`: a server that ignored
        // the (undocumented) page index would answer the same page again, forever.
        let (index, previous_first) = match cursor {
            None => (1, None),
            Some(c) => {
                let (i, first) = match c.split_once(':') {
                    Some((i, f)) => (i, Some(f.to_string())),
                    None => (c.as_str(), None),
                };
                let i = i
                    .parse::<u32>()
                    .ok()
                    .filter(|i| *i >= 1)
                    .ok_or_else(|| ProviderError::invalid(format!("bad list cursor {c:?}")))?;
                (i, first)
            }
        };
        let page = self.client.list(index, self.page_size).await?;
        let first = page.data.first().map(|c| c.id.clone());
        if previous_first.is_some() && first == previous_first {
            return Err(ProviderError::Indeterminate(format!(
                "LoginRadius answered page {index} of the connection list with the previous page again; the list's paging parameters are not documented and seem to be ignored"
            )));
        }
        let seen = u64::from(index - 1) * u64::from(self.page_size) + page.data.len() as u64;
        // A short or empty page ends the list; `Count`, when present, may end it sooner. Without
        // `Count` a full page always asks for the next one (it may be empty).
        let full = page.data.len() as u64 >= u64::from(self.page_size);
        let more = full && page.count.is_none_or(|total| seen < total);
        let next = more.then(|| format!("{}:{}", index + 1, first.unwrap_or_default()));
        let items = page
            .data
            .iter()
            .map(|c| Self::remote(kind, c))
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }

    async fn create(&self, desired: &Desired) -> Result<Remote, ProviderError> {
        match desired {
            Desired::Connection(c) => {
                mapping::check_connection(c, self.client.org_id())?;
                let created = self.client.create(&mapping::new_connection(c)).await?;
                Ok(mapping::connection_remote(&created))
            }
            Desired::RoleMapping(_) => Err(unsupported(
                KIND,
                "creating an OrgRoleMapping (its GroupRoles live in an existing connection)",
            )),
            Desired::Profile(_) => Err(unsupported_kind(KIND, ResourceKind::ConnectionProfile)),
        }
    }

    async fn update(
        &self,
        id: &str,
        desired: &Desired,
        _observed: &Remote,
        _diff: &Diff,
    ) -> Result<Remote, ProviderError> {
        // PUT replaces the whole object: start from the latest copy, not from `observed`, so that
        // a change made meanwhile to the fields the other kind owns is not undone.
        match desired {
            Desired::Connection(c) => {
                mapping::check_connection(c, self.client.org_id())?;
                let mut conn = self.latest(id).await?;
                mapping::overlay_connection(&mut conn, c);
                let put = self.client.put(id, &conn).await?;
                Ok(mapping::connection_remote(&put))
            }
            Desired::RoleMapping(m) => {
                mapping::check_role_mapping(m)?;
                let mut conn = self.latest(id).await?;
                mapping::overlay_role_mapping(&mut conn, m);
                let put = self.client.put(id, &conn).await?;
                Ok(mapping::role_mapping_remote(&put))
            }
            Desired::Profile(_) => Err(unsupported_kind(KIND, ResourceKind::ConnectionProfile)),
        }
    }

    async fn delete(&self, kind: ResourceKind, id: &str) -> Result<(), ProviderError> {
        match kind {
            ResourceKind::EnterpriseConnection => self.client.delete(id).await,
            ResourceKind::OrgRoleMapping => {
                // Clears GroupRoles; the connection itself stays.
                let Some(mut conn) = self.client.get(id).await? else {
                    return Ok(());
                };
                if conn.group_roles.is_empty() {
                    return Ok(());
                }
                conn.group_roles.clear();
                match self.client.put(id, &conn).await {
                    Ok(_) | Err(ProviderError::NotFound(_)) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            ResourceKind::ConnectionProfile => Err(unsupported_kind(KIND, ResourceKind::ConnectionProfile)),
        }
    }
}

#[cfg(test)]
mod tests;
