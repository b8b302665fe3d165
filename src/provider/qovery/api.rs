//! Qovery wire types (OpenAPI `EnterpriseConnectionDto`,
//! contracts/qovery-enterprise-connection.yaml) and the error body.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One enterprise connection of an organization. The PUT replaces it whole: all four fields are
/// required by the specification.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct EnterpriseConnectionDto {
    /// The connection name; also the path key, assigned by Qovery when SSO is enabled.
    pub connection_name: String,
    /// Built-in role name (e.g. `viewer`) or a custom role UUID, given when no group matches.
    pub default_role: String,
    /// `true`: roles are re-synchronised from `group_mappings` at each login.
    pub enforce_group_sync: bool,
    /// Role (built-in name or custom role UUID) -> IdP group names.
    #[serde(default)]
    pub group_mappings: BTreeMap<String, Vec<String>>,
    /// Fields the description does not list yet (a newer Qovery field), kept as read so that the
    /// whole-object PUT carries them back.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `GET /organization/{organizationId}/enterpriseconnection` (no pagination).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct EnterpriseConnectionResponseList {
    #[serde(default)]
    pub results: Vec<EnterpriseConnectionDto>,
}

/// Error body. The specification documents no body for 401/403/404; this Spring-style shape
/// (`status`, `error`, `message`) is a guess, and every field is optional so that any JSON parses.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
