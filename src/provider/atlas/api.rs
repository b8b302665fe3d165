//! Wire types of the Atlas Admin API federation endpoints (Atlas Admin API,
//! contracts/atlas-federation-settings.yaml; `ConnectedOrgConfig` in the
//! v2 OpenAPI spec). Fields the client does not model are kept in `extra` and sent back unchanged,
//! because the PATCH replaces the whole object.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// Media type of the only resource version these endpoints define; a later date would resolve
/// to the newest version at or before it.
pub const MEDIA_TYPE: &str = "application/vnd.atlas.2023-01-01+json";

/// Reads `null` as the type's default (Atlas sends `null` for some empty lists).
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One connected organization of a federation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectedOrgConfig {
    /// Read-only (it is the path's `{orgId}`): never sent back.
    #[serde(default, skip_serializing)]
    pub org_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub domain_restriction_enabled: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub domain_allow_list: Vec<String>,
    /// The UI-access identity provider; leaving it out of a PATCH disconnects it. Sent back as
    /// read, absent when absent (the description has no `null` for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_provider_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub data_access_identity_provider_ids: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub post_auth_role_grants: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub role_mappings: Vec<RoleMapping>,
    /// Server-computed and read-only: never sent back.
    #[serde(default, skip_serializing)]
    pub user_conflicts: Option<Value>,
    /// Fields this client does not model (e.g. `instantUserProvisioningDisabled`), kept as read.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `AuthFederationRoleMapping`: the roles one identity-provider group gets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleMapping {
    pub external_group_name: String,
    /// 24-hex id Atlas assigns. Read-only in the description, so never sent: Atlas matches a
    /// mapping of a PATCH body to the one it holds by `externalGroupName`.
    #[serde(default, skip_serializing)]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub role_assignments: Vec<RoleAssignment>,
    /// Fields of a mapping this client does not model, sent back for a mapping that stays.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One role, either in a project (`groupId`) or in the organization (`orgId`), never both.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    #[serde(default)]
    pub role: String,
}

/// A page of a list: `{links, results, totalCount}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigPage {
    #[serde(default, deserialize_with = "null_as_default")]
    pub links: Vec<Link>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub results: Vec<ConnectedOrgConfig>,
    /// An estimate; may be absent.
    #[serde(default)]
    pub total_count: Option<u64>,
}

/// A hypermedia link of a list page (`rel` is `self`, `next` or `previous`).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Link {
    #[serde(default)]
    pub href: String,
    #[serde(default)]
    pub rel: String,
}

/// `ApiError`: `{error, errorCode, detail, reason, parameters}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiError {
    #[serde(default)]
    pub error: Option<u16>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub parameters: Vec<Value>,
}
