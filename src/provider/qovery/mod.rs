//! Qovery: an organization's enterprise (SAML/OIDC) connections and their role settings.
//!
//! Qovery's API has list, get and a whole-object PUT only (Qovery's OpenAPI:
//! contracts/qovery-enterprise-connection.yaml): connections are
//! made by Qovery staff and adopted here by name. One `EnterpriseConnectionDto` holds both kinds:
//! - EnterpriseConnection owns none of its fields (only `name`, the adoption key; `saml: {}`);
//! - OrgRoleMapping owns `default_role`, `enforce_group_sync` and `group_mappings`, and is
//!   "deleted" by clearing the mappings and the sync flag (the connection stays).

pub mod api;
pub mod client;
pub mod mapping;
/// Drives this client against its emulator (the conformance suite and tests; never in the image).
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

use std::{fmt, sync::Arc};

use async_trait::async_trait;

pub use client::Credentials;

use crate::provider::{
    Capabilities, Descriptor, Desired, Diff, Fields,
    KindCapabilities, Page, Provider, ProviderError, ProviderKind, Remote, ResourceKind,
    http::ClientSettings, unsupported, unsupported_kind,
};

/// The real service.
pub const DEFAULT_BASE_URL: &str = "https://api.qovery.com";

const KIND: ProviderKind = ProviderKind::Qovery;

/// What the central code knows about Qovery.
pub const DESCRIPTOR: Descriptor = Descriptor {
    kind: KIND,
    credential_keys: Credentials::KEYS,
    account_id: |a| a.qovery.as_ref().map(|q| q.organization_id.to_ascii_lowercase()),
    needs_account_id: true,
    set_block: |a, organization_id| {
        a.qovery = Some(crate::crd::QoveryAccount { organization_id })
    },
    default_base_url: |_| DEFAULT_BASE_URL.into(),
    build: |a, values, settings| {
        let organization_id = a.qovery.clone().unwrap_or_default().organization_id;
        let credentials = Credentials::from_values(values)?;
        Ok(Arc::new(QoveryProvider::new(settings, organization_id, credentials)?))
    },
    #[cfg(any(test, feature = "testkit"))]
    conformance: || Box::pin(async { Box::new(testkit::start().await) as _ }),
};

/// Qovery client of one organization.
pub struct QoveryProvider {
    client: client::Client,
}

impl fmt::Debug for QoveryProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QoveryProvider")
            .field("client", &self.client)
            .finish()
    }
}

impl QoveryProvider {
    pub fn new(
        settings: ClientSettings,
        organization_id: String,
        credentials: Credentials,
    ) -> Result<Self, ProviderError> {
        Ok(Self {
            client: client::Client::new(settings, organization_id, credentials)?,
        })
    }

    fn remote(
        kind: ResourceKind,
        dto: &api::EnterpriseConnectionDto,
    ) -> Result<Remote, ProviderError> {
        match kind {
            ResourceKind::EnterpriseConnection => Ok(mapping::remote_connection(dto)),
            ResourceKind::OrgRoleMapping => Ok(mapping::remote_mapping(dto)),
            ResourceKind::ConnectionProfile => Err(unsupported_kind(KIND, kind)),
        }
    }
}

/// Refuses the kinds Qovery does not manage.
fn check_kind(kind: ResourceKind) -> Result<(), ProviderError> {
    match kind {
        ResourceKind::EnterpriseConnection | ResourceKind::OrgRoleMapping => Ok(()),
        ResourceKind::ConnectionProfile => Err(unsupported_kind(KIND, kind)),
    }
}

#[async_trait]
impl Provider for QoveryProvider {
    fn kind(&self) -> ProviderKind {
        KIND
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            kinds: vec![
                KindCapabilities {
                    kind: ResourceKind::EnterpriseConnection,
                    create: false,
                    delete: false,
                    // `saml` is accepted only as `{}` (the CRD needs one protocol block).
                    fields: &["name", "saml"],
                },
                KindCapabilities {
                    kind: ResourceKind::OrgRoleMapping,
                    // The holder (the connection) must exist; its role fields are then set.
                    create: false,
                    delete: true,
                    fields: &["defaultRole", "enforceGroupSync", "mappings"],
                },
            ],
        }
    }

    fn desired_fields(&self, desired: &Desired) -> Result<Fields, ProviderError> {
        match desired {
            Desired::Connection(c) => mapping::connection_fields(c),
            Desired::RoleMapping(m) => mapping::mapping_fields(m),
            Desired::Profile(_) => Err(unsupported_kind(KIND, ResourceKind::ConnectionProfile)),
        }
    }

    fn write_only_paths(&self, _desired: &Desired) -> Vec<String> {
        // Nothing in the DTO is write-only.
        vec![]
    }

    fn spec_fields(&self, kind: ResourceKind, remote: &Remote) -> Fields {
        let mut f = remote.fields.clone();
        if kind == ResourceKind::OrgRoleMapping
            && let Some(groups) = f.get(mapping::MAPPINGS)
        {
            let spec = mapping::spec_mappings(groups);
            f.insert(mapping::MAPPINGS.into(), spec);
        }
        f
    }

    async fn verify_credentials(&self) -> Result<(), ProviderError> {
        self.client.list().await.map(|_| ())
    }

    async fn observe(&self, kind: ResourceKind, id: &str) -> Result<Option<Remote>, ProviderError> {
        check_kind(kind)?;
        match self.client.get(id).await? {
            Some(dto) => Ok(Some(Self::remote(kind, &dto)?)),
            None => Ok(None),
        }
    }

    fn name_is_id(&self, _kind: ResourceKind) -> bool {
        true
    }

    async fn find_by_name(
        &self,
        kind: ResourceKind,
        name: &str,
    ) -> Result<Option<Remote>, ProviderError> {
        // The connection name is the id: one GET is cheaper than the list.
        self.observe(kind, name).await
    }

    async fn list(
        &self,
        kind: ResourceKind,
        _cursor: Option<String>,
    ) -> Result<Page, ProviderError> {
        check_kind(kind)?;
        let items = self
            .client
            .list()
            .await?
            .iter()
            .map(|dto| Self::remote(kind, dto))
            .collect::<Result<_, _>>()?;
        // No pagination: the one answer holds every connection.
        Ok(Page { items, next: None })
    }

    async fn create(&self, desired: &Desired) -> Result<Remote, ProviderError> {
        Err(unsupported(
            KIND,
            match desired.kind() {
                ResourceKind::EnterpriseConnection => {
                    "creating an EnterpriseConnection (Qovery sets connections up itself; adopt an existing one by name)"
                }
                ResourceKind::OrgRoleMapping => {
                    "creating an OrgRoleMapping without its connection (the connection must exist at Qovery)"
                }
                ResourceKind::ConnectionProfile => "kind ConnectionProfile",
            },
        ))
    }

    async fn update(
        &self,
        id: &str,
        desired: &Desired,
        observed: &Remote,
        diff: &Diff,
    ) -> Result<Remote, ProviderError> {
        match desired {
            Desired::Connection(c) => {
                mapping::connection_fields(c)?;
                // The kind owns no DTO field, so there is never anything to send.
                match diff.paths.first() {
                    None => Ok(observed.clone()),
                    Some(path) => Err(unsupported(KIND, format!("spec.{path}"))),
                }
            }
            Desired::RoleMapping(m) => {
                if diff.is_empty() {
                    return Ok(observed.clone());
                }
                // PUT replaces the whole object: start from the latest copy so nothing else is lost.
                let latest = self.client.get(id).await?.ok_or_else(|| {
                    ProviderError::NotFound(format!("Qovery enterprise connection {id:?}"))
                })?;
                let dto = mapping::overlay(&latest, m)?;
                let saved = self.client.put(&dto).await?;
                Ok(mapping::remote_mapping(&saved))
            }
            Desired::Profile(_) => Err(unsupported_kind(KIND, ResourceKind::ConnectionProfile)),
        }
    }

    async fn delete(&self, kind: ResourceKind, id: &str) -> Result<(), ProviderError> {
        match kind {
            ResourceKind::OrgRoleMapping => {
                let Some(latest) = self.client.get(id).await? else {
                    return Ok(());
                };
                if mapping::is_cleared(&latest) {
                    return Ok(());
                }
                match self.client.put(&mapping::cleared(&latest)).await {
                    Ok(_) | Err(ProviderError::NotFound(_)) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            ResourceKind::EnterpriseConnection => Err(unsupported(
                KIND,
                "deleting an EnterpriseConnection (Qovery's API has no delete; use deletionPolicy Orphan)",
            )),
            ResourceKind::ConnectionProfile => Err(unsupported_kind(KIND, kind)),
        }
    }
}
