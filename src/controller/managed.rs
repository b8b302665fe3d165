//! What the reconciler needs to know about each managed kind, and how each builds its desired state.

use crate::core::reason::Reason;
use std::fmt::Debug;

use async_trait::async_trait;
use k8s_openapi::NamespaceResourceScope;
use kube::{Resource, ResourceExt, runtime::reflector::Store};
use serde::{Serialize, de::DeserializeOwned};

use super::{context::Context, error::Error, registry::secret_key, stores::Stores};
use crate::{
    core::{
        conditions,
        desired::{Desired, MappingTarget, ProfileDesired, ResourceKind, RoleMappingDesired},
    },
    crd::{
        ConnectionProfile, EnterpriseConnection, ManagedFields, ManagedStatus, OrgRoleMapping,
        SecretKeyRef,
    },
};

#[async_trait]
pub trait Managed:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    const KIND: ResourceKind;
    /// Where the operator holds every object of this kind.
    fn store(stores: &Stores) -> &Store<Self>;
    fn managed(&self) -> &ManagedFields;
    fn managed_status(&self) -> Option<&ManagedStatus>;
    /// Secrets in the same namespace that the spec refers to (besides the provider credentials).
    fn secret_names(&self) -> Vec<String> {
        vec![]
    }
    /// The EnterpriseConnection this refers to, if any.
    fn connection_name(&self) -> Option<String> {
        None
    }
    /// Where the spec asks for the provider's outputs to be written (spec.writeOutputsTo).
    fn outputs_target(&self) -> Option<&crate::crd::OutputsTarget> {
        None
    }
    /// The SAML settings whose IdP certificates are watched for expiry (EnterpriseConnection).
    fn saml(&self) -> Option<&crate::crd::SamlSettings> {
        None
    }
    /// Builds the desired state, reading referenced Secrets and connections.
    async fn desired(&self, ctx: &Context) -> Result<Desired, Error>;
}

/// Reads the key a `field` of the spec (such as `spec.oidc.clientSecretRef`) refers to; an
/// error names the field.
pub(super) async fn read_secret_key(
    ctx: &Context,
    ns: &str,
    field: &str,
    r: &SecretKeyRef,
) -> Result<crate::core::desired::SecretValue, Error> {
    let secret = ctx.registry.secret(ns, &r.name).await?.ok_or_else(|| {
        Error::dependency(
            Reason::SecretNotFound,
            format!("{field}: Secret {ns}/{} not found", r.name),
        )
    })?;
    let empty = Default::default();
    secret_key(secret.data.as_ref().unwrap_or(&empty), &r.key, ns, &r.name).map_err(|e| match e {
        Error::Dependency { reason, message } => Error::Dependency {
            reason,
            message: format!("{field}: {message}"),
        },
        Error::Refused { reason, message } => Error::Refused {
            reason,
            message: format!("{field}: {message}"),
        },
        other => other,
    })
}

#[async_trait]
impl Managed for EnterpriseConnection {
    const KIND: ResourceKind = ResourceKind::EnterpriseConnection;
    fn store(stores: &Stores) -> &Store<Self> {
        &stores.connections
    }
    fn managed(&self) -> &ManagedFields {
        &self.spec.managed
    }
    fn managed_status(&self) -> Option<&ManagedStatus> {
        self.status.as_ref()
    }
    fn outputs_target(&self) -> Option<&crate::crd::OutputsTarget> {
        self.spec.write_outputs_to.as_ref()
    }
    fn saml(&self) -> Option<&crate::crd::SamlSettings> {
        self.spec.saml.as_deref()
    }
    fn secret_names(&self) -> Vec<String> {
        self.spec
            .oidc
            .iter()
            .filter_map(|o| o.client_secret_ref.as_ref())
            .chain(
                self.spec
                    .saml
                    .iter()
                    .filter_map(|s| s.idp_certificate_secret_ref.as_deref()),
            )
            .map(|r| r.name.clone())
            .collect()
    }
    async fn desired(&self, ctx: &Context) -> Result<Desired, Error> {
        // Checked before the Secret is read: a refused spec needs no Secret.
        crate::core::validate::connection(&self.spec)
            .map_err(|m| Error::refused(Reason::InvalidSpec, m))?;
        let ns = self.namespace().unwrap_or_default();
        let secret = match self
            .spec
            .oidc
            .as_ref()
            .and_then(|o| o.client_secret_ref.as_ref())
        {
            Some(r) => Some(read_secret_key(ctx, &ns, "spec.oidc.clientSecretRef", r).await?),
            None => None,
        };
        crate::core::desired::connection(&self.spec, secret)
            .map_err(|m| Error::refused(Reason::InvalidSpec, m))
    }
}

#[async_trait]
impl Managed for ConnectionProfile {
    const KIND: ResourceKind = ResourceKind::ConnectionProfile;
    fn store(stores: &Stores) -> &Store<Self> {
        &stores.profiles
    }
    fn managed(&self) -> &ManagedFields {
        &self.spec.managed
    }
    fn managed_status(&self) -> Option<&ManagedStatus> {
        self.status.as_ref()
    }
    async fn desired(&self, _ctx: &Context) -> Result<Desired, Error> {
        Ok(Desired::Profile(ProfileDesired::from_spec(&self.spec)))
    }
}

#[async_trait]
impl Managed for OrgRoleMapping {
    const KIND: ResourceKind = ResourceKind::OrgRoleMapping;
    fn store(stores: &Stores) -> &Store<Self> {
        &stores.mappings
    }
    fn managed(&self) -> &ManagedFields {
        &self.spec.managed
    }
    fn managed_status(&self) -> Option<&ManagedStatus> {
        self.status.as_ref()
    }
    fn connection_name(&self) -> Option<String> {
        self.spec.connection_ref.as_ref().map(|r| r.name.clone())
    }
    async fn desired(&self, ctx: &Context) -> Result<Desired, Error> {
        let target = match MappingTarget::of(&self.spec)
            .map_err(|m| Error::refused(Reason::InvalidSpec, m))?
        {
            MappingTarget::Connection(r) => {
                let ns = self.namespace().unwrap_or_default();
                let stores = ctx.registry.stores();
                let conn = stores
                    .get_namespaced(&stores.connections, &ns, &r)
                    .await?
                    .ok_or_else(|| {
                        Error::dependency(
                            Reason::ConnectionNotFound,
                            format!("spec.connectionRef: EnterpriseConnection {ns}/{r} not found"),
                        )
                    })?;
                let status = conn.status.clone().unwrap_or_default();
                let ready = conditions::is_true(&status.conditions, conditions::READY);
                match status.external_id {
                    Some(id) if ready => id,
                    _ => {
                        // Say why the connection is not Ready, so that the user looks there.
                        let why = status
                            .conditions
                            .iter()
                            .find(|c| c.type_ == conditions::READY)
                            .map(|c| format!(" (it is {}: {})", c.reason, c.message))
                            .unwrap_or_default();
                        return Err(Error::dependency(
                            Reason::ConnectionNotReady,
                            format!("waiting for EnterpriseConnection {ns}/{r} to be Ready{why}"),
                        ));
                    }
                }
            }
            MappingTarget::External(id) => id,
        };
        Ok(Desired::RoleMapping(RoleMappingDesired::from_spec(
            &self.spec, target,
        )))
    }
}
