//! The bodies the federation endpoints take and answer, as
//! `contracts/atlas-federation-settings.yaml` describes them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `ConnectedOrgConfig` as the emulator stores and returns it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgConfig {
    pub org_id: String,
    pub domain_restriction_enabled: bool,
    pub domain_allow_list: Vec<String>,
    /// The legacy 20-hex id of the UI-access identity provider; absent when none is connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_provider_id: Option<String>,
    pub data_access_identity_provider_ids: Vec<String>,
    /// Set in the console or by a PATCH; a PATCH without it resets it to `false`.
    #[serde(default)]
    pub instant_user_provisioning_disabled: bool,
    pub post_auth_role_grants: Vec<String>,
    pub role_mappings: Vec<RoleMapping>,
    /// Server-computed; left out when there are none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_conflicts: Option<Vec<Value>>,
}

/// `AuthFederationRoleMapping`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleMapping {
    pub external_group_name: String,
    /// 24-hex id the emulator assigns.
    pub id: String,
    pub role_assignments: Vec<RoleAssignment>,
}

/// One role in a project (`groupId`) or in the organization (`orgId`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    pub role: String,
}

/// A PATCH body: everything optional, so that missing fields are told apart from wrong ones.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PatchBody {
    pub(super) org_id: Option<String>,
    pub(super) domain_restriction_enabled: Option<bool>,
    pub(super) domain_allow_list: Option<Vec<String>>,
    pub(super) identity_provider_id: Option<String>,
    pub(super) data_access_identity_provider_ids: Option<Vec<String>>,
    pub(super) instant_user_provisioning_disabled: Option<bool>,
    pub(super) post_auth_role_grants: Option<Vec<String>>,
    pub(super) role_mappings: Option<Vec<PatchRoleMapping>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PatchRoleMapping {
    pub(super) external_group_name: Option<String>,
    /// Read-only: ignored in request bodies.
    #[allow(dead_code)]
    id: Option<String>,
    pub(super) role_assignments: Option<Vec<PatchRoleAssignment>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PatchRoleAssignment {
    pub(super) group_id: Option<String>,
    pub(super) org_id: Option<String>,
    pub(super) role: Option<String>,
}
