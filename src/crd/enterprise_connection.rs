//! EnterpriseConnection: one SAML or OIDC connection at a provider.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{ManagedFields, ManagedStatus, SecretKeyRef};

/// A SAML or OIDC single-sign-on connection at Clerk, LoginRadius or Qovery.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[kube(
    group = "ssoperator.io",
    version = "v1alpha1",
    kind = "EnterpriseConnection",
    namespaced,
    status = "ManagedStatus",
    shortname = "ssoec",
    category = "sso",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Synced","type":"string","jsonPath":".status.conditions[?(@.type==\"Synced\")].status"}"#,
    printcolumn = r#"{"name":"Provider","type":"string","jsonPath":".status.provider"}"#,
    printcolumn = r#"{"name":"External-ID","type":"string","jsonPath":".status.externalId"}"#,
    printcolumn = r#"{"name":"Approval","type":"string","description":"Hash of the plan awaiting approval or a lockout override","jsonPath":".status.plan.hash"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("has(self.saml) != has(self.oidc)").message("exactly one of saml or oidc must be set"))]
#[x_kube(validation = Rule::new("!has(self.idpType) || (self.idpType.startsWith('saml_') ? !has(self.oidc) : !has(self.saml))").message("idpType does not match the protocol block: saml_* types need saml, oidc_* types need oidc").field_path(".idpType"))]
#[serde(rename_all = "camelCase")]
pub struct EnterpriseConnectionSpec {
    #[serde(flatten)]
    pub managed: ManagedFields,
    /// Name of the connection at the provider (for Qovery: the connection name Qovery assigned).
    #[schemars(length(min = 1, max = 128))]
    pub name: String,
    /// Email domains whose users sign in through this connection (lower-case FQDNs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 50),
        inner(
            length(min = 1, max = 253),
            regex(
                pattern = r"^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)+$"
            )
        )
    )]
    #[x_kube(validation = Rule::new("self.all(d, self.exists_one(e, e.lowerAscii() == d.lowerAscii()))").message("domains must not list the same domain twice (domains are case-insensitive)"))]
    pub domains: Vec<String>,
    /// Whether users can sign in through the connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// The provider's identity-provider type. Defaults to saml_custom or oidc_custom after the protocol block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_type: Option<IdpType>,
    /// SAML settings of the identity provider. Exactly one of saml or oidc must be set; `{}` selects SAML with the provider's own settings.
    // Boxed, as is oidc: the watch cache holds one spec per resource, and only one block is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saml: Option<Box<SamlSettings>>,
    /// OIDC settings of the identity provider. Exactly one of saml or oidc must be set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<Box<OidcSettings>>,
    /// Whether user attributes are synchronised from the identity provider at each sign-in (Clerk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_user_attributes: Option<bool>,
    /// The provider's id of the organization that owns the connection (Clerk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub organization_id: Option<String>,
    /// A ConfigMap or Secret in this namespace that the operator keeps filled with the values the
    /// identity-provider administrator needs (status.outputs: acsUrl, spEntityId, spMetadataUrl,
    /// spCertificate). It is owned by this resource, so it goes when the resource goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_outputs_to: Option<OutputsTarget>,
}

/// Where the provider's outputs are written: exactly one of a ConfigMap or a Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.configMap) != has(self.secret)").message("set exactly one of configMap or secret"))]
#[serde(rename_all = "camelCase")]
pub struct OutputsTarget {
    /// Name of a ConfigMap in the resource's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub config_map: Option<String>,
    /// Name of a Secret in the resource's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub secret: Option<String>,
}

/// Identity-provider type, as Clerk and LoginRadius name it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdpType {
    SamlCustom,
    SamlOkta,
    SamlGoogle,
    SamlMicrosoft,
    OidcCustom,
    OidcGithubEnterprise,
    OidcGitlab,
}

impl IdpType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SamlCustom => "saml_custom",
            Self::SamlOkta => "saml_okta",
            Self::SamlGoogle => "saml_google",
            Self::SamlMicrosoft => "saml_microsoft",
            Self::OidcCustom => "oidc_custom",
            Self::OidcGithubEnterprise => "oidc_github_enterprise",
            Self::OidcGitlab => "oidc_gitlab",
        }
    }
    pub fn is_saml(self) -> bool {
        self.as_str().starts_with("saml_")
    }
}

/// A PEM certificate block, or base64 alone that starts like DER of a certificate (`MII`: a SEQUENCE
/// of 256 to 65535 bytes). Whether it parses as X.509 is checked by the operator.
const CERTIFICATE_RULE: &str = r"self.trim().startsWith('-----BEGIN CERTIFICATE-----') ? self.trim().endsWith('-----END CERTIFICATE-----') : self.trim().matches('^MII[A-Za-z0-9+/=\\s]*$')";
const CERTIFICATE_MESSAGE: &str = "idpCertificate must be a PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----) or the base64 of one (starting with MII)";

/// SAML identity-provider settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("!(has(self.idpMetadata) && has(self.idpMetadataUrl))").message("set at most one of idpMetadata or idpMetadataUrl"))]
#[x_kube(validation = Rule::new("!(has(self.idpCertificate) && has(self.idpCertificateSecretRef))").message("set at most one of idpCertificate or idpCertificateSecretRef"))]
#[serde(rename_all = "camelCase")]
pub struct SamlSettings {
    /// Entity id (issuer) of the identity provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub idp_entity_id: Option<String>,
    /// Single-sign-on URL of the identity provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048), regex(pattern = r"^https?://"))]
    pub idp_sso_url: Option<String>,
    /// URL of the identity provider's SAML metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048), regex(pattern = r"^https?://"))]
    pub idp_metadata_url: Option<String>,
    /// The identity provider's SAML metadata XML, inline (an EntityDescriptor). For a URL use idpMetadataUrl.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 131072))]
    #[x_kube(validation = Rule::new("self.trim().startsWith('<')").message("idpMetadata must be the SAML metadata XML itself (starting with '<'); put a URL in idpMetadataUrl"))]
    pub idp_metadata: Option<String>,
    /// The identity provider's signing certificate: PEM (-----BEGIN CERTIFICATE-----) or the base64 DER
    /// body alone (public, not a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 16384))]
    #[x_kube(validation = Rule::new(CERTIFICATE_RULE).message(CERTIFICATE_MESSAGE))]
    pub idp_certificate: Option<String>,
    /// A Secret key in this namespace that holds the identity provider's signing certificate (PEM,
    /// or base64 DER alone), instead of idpCertificate: sent to the provider as idpCertificate is,
    /// and sent again when the Secret changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_certificate_secret_ref: Option<Box<SecretKeyRef>>,
    /// Whether sign-ins started at the identity provider are accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_idp_initiated: Option<bool>,
    /// Whether users with an email address at a subdomain of the connection's domains may use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_subdomains: Option<bool>,
    /// Whether the identity provider must re-authenticate the user at every sign-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_authn: Option<bool>,
    /// Which SAML attributes carry the user's profile fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_mapping: Option<Box<AttributeMapping>>,
}

/// Which identity-provider attributes carry the user's profile fields.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttributeMapping {
    /// Attribute that holds the user's unique id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub user_id: Option<String>,
    /// Attribute that holds the email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub email_address: Option<String>,
    /// Attribute that holds the first name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub first_name: Option<String>,
    /// Attribute that holds the last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub last_name: Option<String>,
    /// Attribute that holds the user's groups (LoginRadius).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub groups: Option<String>,
    /// Further profile fields, keyed by profile field name, valued by attribute name (LoginRadius).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 50))]
    pub custom: BTreeMap<String, String>,
}

/// OIDC identity-provider settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.discoveryUrl) || (has(self.authUrl) && has(self.tokenUrl))").message("set discoveryUrl, or both authUrl and tokenUrl"))]
#[serde(rename_all = "camelCase")]
pub struct OidcSettings {
    /// OpenID discovery document URL (.well-known/openid-configuration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048), regex(pattern = r"^https?://"))]
    pub discovery_url: Option<String>,
    /// Authorization endpoint URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048), regex(pattern = r"^https?://"))]
    pub auth_url: Option<String>,
    /// Token endpoint URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048), regex(pattern = r"^https?://"))]
    pub token_url: Option<String>,
    /// User-info endpoint URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048), regex(pattern = r"^https?://"))]
    pub user_info_url: Option<String>,
    /// OAuth client id registered at the identity provider.
    #[schemars(length(min = 1, max = 512))]
    pub client_id: String,
    /// Secret key that holds the OAuth client secret. Omit it only for public clients with PKCE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_ref: Option<SecretKeyRef>,
    /// Whether PKCE is required (must be true for public clients without a client secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_pkce: Option<bool>,
}
