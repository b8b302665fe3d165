//! Clerk Backend API wire types (`/v1/enterprise_connections`, snake_case JSON) as the emulator
//! speaks them: written from Clerk's OpenAPI description, never shared with the client.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `object` value of an enterprise connection.
pub const OBJECT_ENTERPRISE_CONNECTION: &str = "enterprise_connection";

fn enterprise_connection_object() -> String {
    OBJECT_ENTERPRISE_CONNECTION.to_string()
}

/// An `EnterpriseConnection` as the API answers it. Write-only inputs (OIDC client secret, IdP
/// certificate, IdP metadata XML, attribute mapping) are never part of it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct EnterpriseConnection {
    #[serde(default = "enterprise_connection_object")]
    pub object: String,
    pub id: String,
    pub name: String,
    /// The identity-provider type, e.g. `saml_custom` or `oidc_custom`; immutable after create.
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_public_url: Option<String>,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default)]
    pub sync_user_attributes: bool,
    #[serde(default)]
    pub disable_additional_identifications: bool,
    #[serde(default)]
    pub allow_organization_account_linking: bool,
    #[serde(default)]
    pub custom_attributes: Vec<Value>,
    #[serde(default)]
    pub saml_connection: Option<SamlConnection>,
    #[serde(default)]
    pub oauth_config: Option<OauthConfig>,
    /// Unix milliseconds.
    #[serde(default)]
    pub created_at: i64,
    /// Unix milliseconds.
    #[serde(default)]
    pub updated_at: i64,
    /// Named by the description's `required` list but not among its properties: answered always.
    #[serde(default)]
    pub authenticatable: bool,
    #[serde(default)]
    pub disable_jit_provisioning: bool,
    /// Fields set in the dashboard that the API does not take (the console's way to model a newer
    /// API): answered as stored, kept by PATCH.
    #[serde(flatten, default)]
    pub extra: Map<String, Value>,
}

/// The SAML half of a connection, with the service-provider values Clerk generates.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct SamlConnection {
    /// Optional in the description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub idp_entity_id: Option<String>,
    #[serde(default)]
    pub idp_sso_url: Option<String>,
    #[serde(default)]
    pub idp_metadata_url: Option<String>,
    #[serde(default)]
    pub acs_url: Option<String>,
    #[serde(default)]
    pub sp_entity_id: Option<String>,
    #[serde(default)]
    pub sp_metadata_url: Option<String>,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub allow_idp_initiated: bool,
    #[serde(default)]
    pub allow_subdomains: bool,
    #[serde(default)]
    pub force_authn: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_hint: Option<Value>,
}

/// The OIDC half of a connection. The client secret is never echoed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct OauthConfig {
    /// Optional in the description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub provider_key: String,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub discovery_url: Option<String>,
    #[serde(default)]
    pub auth_url: Option<String>,
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub user_info_url: Option<String>,
    #[serde(default)]
    pub requires_pkce: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_public_url: Option<String>,
    #[serde(default)]
    pub created_at: i64,
    #[serde(default)]
    pub updated_at: i64,
}

/// `GET /v1/enterprise_connections` answer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct EnterpriseConnectionList {
    pub data: Vec<EnterpriseConnection>,
    pub total_count: i64,
}

/// `DELETE` answer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct DeletedObject {
    pub object: String,
    pub id: String,
    pub deleted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// `POST /v1/enterprise_connections` body (the API refuses unknown properties).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CreateEnterpriseConnection {
    pub name: String,
    pub provider: String,
    pub domains: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saml: Option<SamlInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcInput>,
}

/// SAML settings in a create or update body.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct SamlInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_entity_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_sso_url: Option<String>,
    /// Public, but never echoed by the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_certificate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_metadata_url: Option<String>,
    /// Never echoed by the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_metadata: Option<String>,
    /// Never echoed by the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_mapping: Option<AttributeMappingInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_subdomains: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_idp_initiated: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_authn: Option<bool>,
}

/// Which SAML attributes carry the user's profile fields. Every key is sent (absent ones as
/// `null`), so that the mapping is replaced as a whole rather than merged.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct AttributeMappingInput {
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub email_address: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
}

/// OIDC settings in a create or update body. Debug is written by hand: it holds the client secret.
#[derive(Serialize, Deserialize, Clone, Default, PartialEq)]
pub struct OidcInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_info_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_pkce: Option<bool>,
}

impl fmt::Debug for OidcInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcInput")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("discovery_url", &self.discovery_url)
            .field("auth_url", &self.auth_url)
            .field("token_url", &self.token_url)
            .field("user_info_url", &self.user_info_url)
            .field("requires_pkce", &self.requires_pkce)
            .finish()
    }
}

/// Clerk's error body (`ClerkErrors`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ClerkErrors {
    #[serde(default)]
    pub errors: Vec<ClerkError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clerk_trace_id: Option<String>,
}

/// One entry of [`ClerkErrors`].
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ClerkError {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub long_message: String,
    #[serde(default)]
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<ClerkErrorMeta>,
}

/// `meta` of an error entry; `param_name` names the offending body or query parameter.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ClerkErrorMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param_name: Option<String>,
}
