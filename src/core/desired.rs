//! The provider-neutral desired state, built from a spec and the values of the Secrets it references.
//!
//! Providers see only these types (plain data; the nested setting structs are the CRD's own serde types).

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::crd::{
    AtlasOrgSettings, ConnectionProfileSpec, CrossAppAccessResourceApp, EnterpriseConnectionSpec,
    GroupMapping, OrgRoleMappingSpec, ProfileOrganization, Provisioning, SamlSettings,
    StrategyOverrides,
};

/// The three kinds of remote object ssoperator manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    EnterpriseConnection,
    ConnectionProfile,
    OrgRoleMapping,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EnterpriseConnection => "EnterpriseConnection",
            Self::ConnectionProfile => "ConnectionProfile",
            Self::OrgRoleMapping => "OrgRoleMapping",
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secret value: never printed, compared by hash.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(v: impl Into<String>) -> Self {
        Self(v.into())
    }
    /// The value itself, for the one place that sends it to the provider.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

/// What the spec asks for, in provider-neutral terms.
// One lives per reconcile in flight, not per resource: its size does not add up.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Desired {
    Connection(ConnectionDesired),
    Profile(ProfileDesired),
    RoleMapping(RoleMappingDesired),
}

impl Desired {
    pub fn kind(&self) -> ResourceKind {
        match self {
            Self::Connection(_) => ResourceKind::EnterpriseConnection,
            Self::Profile(_) => ResourceKind::ConnectionProfile,
            Self::RoleMapping(_) => ResourceKind::OrgRoleMapping,
        }
    }

    /// The name the remote object is known by (used to find it for adoption and to refuse duplicates).
    pub fn name(&self) -> &str {
        match self {
            Self::Connection(c) => &c.name,
            Self::Profile(p) => &p.name,
            Self::RoleMapping(m) => &m.target,
        }
    }

    /// SHA-256 over the values some providers never echo (OIDC client secret, SAML certificate,
    /// inline metadata, attribute mapping): status keeps this hash to tell when to send them again.
    /// The secret values of this resource (an OIDC client secret), to redact from messages.
    pub fn secrets(&self) -> super::redact::Secrets {
        let mut secrets = super::redact::Secrets::default();
        if let Self::Connection(c) = self
            && let Some(s) = c.oidc.as_ref().and_then(|o| o.client_secret.as_ref())
        {
            secrets.add(s);
        }
        secrets
    }

    /// A keyed hash (HMAC-SHA256) of the write-only values last sent, to tell whether they
    /// changed. Keyed with material a reader of the resource does not have (the account's
    /// credentials), so status cannot be used to check a guess of the client secret offline.
    pub fn write_only_hash(&self, key: &[u8]) -> Option<String> {
        let Self::Connection(c) = self else {
            return None;
        };
        let mut parts: Vec<(&str, String)> = vec![];
        if let Some(s) = c.oidc.as_ref().and_then(|o| o.client_secret.as_ref()) {
            parts.push(("oidc.clientSecret", s.expose().to_string()));
        }
        if let Some(saml) = &c.saml {
            if let Some(cert) = &saml.idp_certificate {
                parts.push(("saml.idpCertificate", super::normalize::pem(cert)));
            }
            if let Some(m) = &saml.idp_metadata {
                parts.push(("saml.idpMetadata", m.clone()));
            }
            if let Some(m) = &saml.attribute_mapping {
                parts.push((
                    "saml.attributeMapping",
                    serde_json::to_string(m).unwrap_or_default(),
                ));
            }
        }
        if parts.is_empty() {
            return None;
        }
        let mut h = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
        for (path, value) in parts {
            h.update(path.as_bytes());
            h.update(b"\0");
            h.update(value.as_bytes());
            h.update(b"\0");
        }
        Some(hex::encode(h.finalize().into_bytes()))
    }
}

/// SAML or OIDC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Saml,
    Oidc,
}

/// An SSO connection.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectionDesired {
    pub name: String,
    /// Normalised (lower-case, sorted); `None` when the spec leaves domains out.
    pub domains: Option<Vec<String>>,
    pub active: Option<bool>,
    pub protocol: Protocol,
    /// Provider type name such as saml_custom; defaults after the protocol.
    pub idp_type: String,
    /// Whether the spec set `idpType`. A defaulted type is used to create, but is not compared
    /// with (or written over) the type of a connection that already exists.
    pub idp_type_explicit: bool,
    pub saml: Option<SamlSettings>,
    pub oidc: Option<OidcDesired>,
    pub sync_user_attributes: Option<bool>,
    pub organization_id: Option<String>,
}

/// OIDC settings with the client secret resolved from its Secret.
#[derive(Clone, Debug, PartialEq)]
pub struct OidcDesired {
    pub discovery_url: Option<String>,
    pub auth_url: Option<String>,
    pub token_url: Option<String>,
    pub user_info_url: Option<String>,
    pub client_id: String,
    pub client_secret: Option<SecretValue>,
    pub requires_pkce: Option<bool>,
}

/// An Auth0 connection profile.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileDesired {
    pub name: String,
    pub organization: Option<ProfileOrganization>,
    pub connection_name_prefix_template: Option<String>,
    pub enabled_features: Option<Vec<String>>,
    pub connection_config: Option<serde_json::Map<String, serde_json::Value>>,
    pub strategy_overrides: Option<StrategyOverrides>,
    pub provisioning: Option<Provisioning>,
    pub cross_app_access_resource_app: Option<CrossAppAccessResourceApp>,
}

/// Group-to-role settings of one connection or organization.
#[derive(Clone, Debug, PartialEq)]
pub struct RoleMappingDesired {
    /// The provider's id of the object that holds the mappings (Qovery connection name,
    /// LoginRadius connection id, Atlas org id).
    pub target: String,
    pub default_role: Option<String>,
    pub enforce_group_sync: Option<bool>,
    pub mappings: Vec<GroupMapping>,
    pub atlas: Option<AtlasOrgSettings>,
}

/// Where an OrgRoleMapping's remote object is named: by an EnterpriseConnection of its
/// namespace (`connectionRef`, whose provider id the caller looks up) or by its own
/// `externalName`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MappingTarget {
    Connection(String),
    External(String),
}

impl MappingTarget {
    /// The spec's target; an error (naming the fields) when it sets neither.
    pub fn of(spec: &OrgRoleMappingSpec) -> Result<Self, String> {
        match (&spec.connection_ref, &spec.managed.external_name) {
            (Some(r), _) => Ok(Self::Connection(r.name.clone())),
            (None, Some(id)) => Ok(Self::External(id.clone())),
            (None, None) => Err("set spec.connectionRef or spec.externalName".into()),
        }
    }
}

/// The desired state of an EnterpriseConnection: the spec checked ([`super::validate::connection`])
/// with the value of `spec.oidc.clientSecretRef` that the caller read (from the API server in the
/// operator, from a local file in `ssoperator diff`). An error is the check's message.
pub fn connection(
    spec: &EnterpriseConnectionSpec,
    client_secret: Option<SecretValue>,
) -> Result<Desired, String> {
    super::validate::connection(spec)?;
    Ok(Desired::Connection(ConnectionDesired::from_spec(
        spec,
        client_secret,
    )))
}

impl ConnectionDesired {
    /// Builds the desired connection from its spec; `client_secret` is the value of `oidc.clientSecretRef`.
    pub fn from_spec(spec: &EnterpriseConnectionSpec, client_secret: Option<SecretValue>) -> Self {
        let protocol = if spec.oidc.is_some() {
            Protocol::Oidc
        } else {
            Protocol::Saml
        };
        let idp_type = spec
            .idp_type
            .map(|t| t.as_str().to_string())
            .unwrap_or_else(|| match protocol {
                Protocol::Saml => "saml_custom".into(),
                Protocol::Oidc => "oidc_custom".into(),
            });
        Self {
            name: spec.name.clone(),
            domains: (!spec.domains.is_empty()).then(|| super::normalize::domains(&spec.domains)),
            active: spec.active,
            protocol,
            idp_type,
            idp_type_explicit: spec.idp_type.is_some(),
            saml: spec.saml.as_deref().cloned(),
            oidc: spec.oidc.as_ref().map(|o| OidcDesired {
                discovery_url: o.discovery_url.clone(),
                auth_url: o.auth_url.clone(),
                token_url: o.token_url.clone(),
                user_info_url: o.user_info_url.clone(),
                client_id: o.client_id.clone(),
                client_secret,
                requires_pkce: o.requires_pkce,
            }),
            sync_user_attributes: spec.sync_user_attributes,
            organization_id: spec.organization_id.clone(),
        }
    }
}

impl ProfileDesired {
    pub fn from_spec(spec: &ConnectionProfileSpec) -> Self {
        Self {
            name: spec.name.clone(),
            organization: spec.organization.clone(),
            connection_name_prefix_template: spec.connection_name_prefix_template.clone(),
            enabled_features: spec
                .enabled_features
                .as_ref()
                .map(|fs| super::normalize::string_set(fs.iter().map(|f| f.as_str().to_string()))),
            connection_config: spec
                .connection_config
                .as_ref()
                .map(|c| c.clone().into_iter().collect()),
            strategy_overrides: spec.strategy_overrides.clone(),
            provisioning: spec.provisioning.clone(),
            cross_app_access_resource_app: spec.cross_app_access_resource_app.clone(),
        }
    }
}

impl RoleMappingDesired {
    /// `target` is the provider's id of the connection (from connectionRef's status) or externalName.
    pub fn from_spec(spec: &OrgRoleMappingSpec, target: String) -> Self {
        Self {
            target,
            default_role: spec.default_role.clone(),
            enforce_group_sync: spec.enforce_group_sync,
            mappings: spec.mappings.clone(),
            atlas: spec.atlas.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_are_never_printed() {
        let s = SecretValue::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn write_only_hash_changes_with_the_secret_only() {
        let spec: EnterpriseConnectionSpec = serde_json::from_value(serde_json::json!({
            "providerConfigRef": {"name": "pc"}, "name": "x",
            "oidc": {"clientId": "id", "discoveryUrl": "https://idp/.well-known/openid-configuration",
                     "clientSecretRef": {"name": "s", "key": "k"}}
        }))
        .unwrap();
        let a = Desired::Connection(ConnectionDesired::from_spec(
            &spec,
            Some(SecretValue::new("one")),
        ));
        let b = Desired::Connection(ConnectionDesired::from_spec(
            &spec,
            Some(SecretValue::new("one")),
        ));
        let c = Desired::Connection(ConnectionDesired::from_spec(
            &spec,
            Some(SecretValue::new("two")),
        ));
        let key = b"account key";
        assert_eq!(a.write_only_hash(key), b.write_only_hash(key));
        assert_ne!(a.write_only_hash(key), c.write_only_hash(key));
        assert!(!a.write_only_hash(key).unwrap().contains("one"));
        // Keyed: another key gives another hash, and the plain SHA-256 of the value (what a
        // reader of the resource could compute from a guess) appears nowhere.
        assert_ne!(a.write_only_hash(key), a.write_only_hash(b"other key"));
        use sha2::Digest;
        let mut plain = Sha256::new();
        plain.update(b"oidc.clientSecret\0one\0");
        assert_ne!(a.write_only_hash(key), Some(hex::encode(plain.finalize())));
    }
}
