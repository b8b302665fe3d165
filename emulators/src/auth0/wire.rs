//! Auth0 Management API wire types (`/api/v2/connection-profiles`, `/oauth/token`), snake_case as on the wire.

use std::{collections::BTreeMap, fmt};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The eight strategy names `strategy_overrides` accepts.
pub const STRATEGIES: [&str; 8] = [
    "pingfederate",
    "ad",
    "adfs",
    "waad",
    "google-apps",
    "okta",
    "oidc",
    "samlp",
];

/// Values of `enabled_features` (top level and per strategy).
pub const FEATURES: [&str; 3] = ["scim", "universal_logout", "directory_sync"];

/// Values of `provisioning.scim.tokens.scopes`.
pub const SCIM_SCOPES: [&str; 5] = [
    "get:users",
    "post:users",
    "patch:users",
    "delete:users",
    "put:users",
];

/// Values of `cross_app_access_resource_app.status.default_value` and `allowed_values`.
pub const CROSS_APP_STATUSES: [&str; 2] = ["enabled", "disabled"];

/// Values of `organization.show_as_button` and `organization.assign_membership_on_login`.
pub const ORGANIZATION_BEHAVIOURS: [&str; 3] = ["none", "optional", "required"];

/// A connection profile as the API returns it (and, without `id`, as create takes it).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ConnectionProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<Organization>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_name_prefix_template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_config: Option<Map<String, Value>>,
    /// Keyed by strategy name (see [`STRATEGIES`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy_overrides: Option<BTreeMap<String, StrategyOverride>>,
    /// `ConnectionProfileProvisioning`: `{scim: {tokens: {...}}, google_workspace: {sync_users}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning: Option<Value>,
    /// `ConnectionProfileCrossAppAccessResourceApp`: `{status: {default_value, allowed_values}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_app_access_resource_app: Option<Value>,
    /// Fields the API has but these types do not name (set through the console, as a newer API
    /// would): answered as stored.
    #[serde(flatten, default)]
    pub extra: Map<String, Value>,
}

/// `organization` of a connection profile.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Organization {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_as_button: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assign_membership_on_login: Option<String>,
    /// Fields of a newer API: kept when the object is sent back whole.
    #[serde(flatten, default)]
    pub extra: Map<String, Value>,
}

/// One entry of `strategy_overrides`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct StrategyOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_config: Option<Map<String, Value>>,
    /// `ConnectionProfileStrategyOverridesProvisioning` (same shape as the top-level one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning: Option<Value>,
    #[serde(flatten, default)]
    pub extra: Map<String, Value>,
}

/// `ConnectionProfileTemplateItem` (`GET /api/v2/connection-profiles/templates[/{id}]`): a
/// ready-made profile body Auth0 offers.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ConnectionProfileTemplateItem {
    pub id: String,
    pub display_name: String,
    /// A `ConnectionProfileTemplate`: the profile fields without `id`.
    pub template: ConnectionProfile,
}

/// `ListConnectionProfileTemplateResponseContent`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ConnectionProfileTemplateList {
    pub connection_profile_templates: Vec<ConnectionProfileTemplateItem>,
}

/// `GET /api/v2/connection-profiles` answer (checkpoint pagination).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ConnectionProfileList {
    #[serde(default)]
    pub connection_profiles: Vec<ConnectionProfile>,
    /// Checkpoint to pass as `from` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Management API error body.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    #[serde(default)]
    pub status_code: Option<u16>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

/// Authentication API (`/oauth/token`) error body.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct OAuthError {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
}

/// Client-credentials grant request.
#[derive(Serialize, Deserialize, Clone, PartialEq)]
pub struct TokenRequest {
    pub grant_type: String,
    pub client_id: String,
    pub client_secret: String,
    pub audience: String,
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequest")
            .field("grant_type", &self.grant_type)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("audience", &self.audience)
            .finish()
    }
}

/// Client-credentials grant answer.
#[derive(Serialize, Deserialize, Clone, PartialEq)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub token_type: Option<String>,
    /// Lifetime in seconds.
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub scope: Option<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}
