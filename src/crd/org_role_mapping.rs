//! OrgRoleMapping: how identity-provider groups become roles in an organization.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{LocalObjectRef, ManagedFields, ManagedStatus};

/// Maps identity-provider groups to roles at Qovery, LoginRadius or MongoDB Atlas.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[kube(
    group = "ssoperator.io",
    version = "v1alpha1",
    kind = "OrgRoleMapping",
    namespaced,
    status = "ManagedStatus",
    shortname = "ssorm",
    category = "sso",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Synced","type":"string","jsonPath":".status.conditions[?(@.type==\"Synced\")].status"}"#,
    printcolumn = r#"{"name":"Provider","type":"string","jsonPath":".status.provider"}"#,
    printcolumn = r#"{"name":"External-ID","type":"string","jsonPath":".status.externalId"}"#,
    printcolumn = r#"{"name":"Approval","type":"string","description":"Hash of the plan awaiting approval or a lockout override","jsonPath":".status.plan.hash"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("has(self.connectionRef) != has(self.externalName)").message("set exactly one of connectionRef or externalName"))]
#[serde(rename_all = "camelCase")]
pub struct OrgRoleMappingSpec {
    #[serde(flatten)]
    pub managed: ManagedFields,
    /// The EnterpriseConnection (same namespace) whose role settings this resource manages.
    /// Alternatively set externalName to the provider's id (Qovery connection name, LoginRadius connection id, Atlas org id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_ref: Option<LocalObjectRef>,
    /// Role given to users whose groups match no mapping (Qovery: a built-in role name or custom role UUID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub default_role: Option<String>,
    /// Whether roles are re-synchronised from the user's groups at each sign-in (Qovery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforce_group_sync: Option<bool>,
    /// Group-to-role mappings; each external group appears at most once.
    #[serde(default)]
    #[schemars(length(max = 200))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["externalGroup".into()]))]
    pub mappings: Vec<GroupMapping>,
    /// MongoDB Atlas settings of the connected organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atlas: Option<AtlasOrgSettings>,
}

/// Roles given to the members of one identity-provider group.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupMapping {
    /// Name of the group at the identity provider.
    #[schemars(length(min = 1, max = 200))]
    pub external_group: String,
    /// The group's id at the identity provider, where the provider needs it (LoginRadius GroupId).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub external_group_id: Option<String>,
    /// Roles given to the group's members.
    #[schemars(length(min = 1, max = 50))]
    pub roles: Vec<RoleAssignment>,
}

/// One role, optionally scoped to a project (Atlas group).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    /// Role name or id (Qovery role name or custom role UUID, LoginRadius role id, Atlas role such as ORG_MEMBER).
    #[schemars(length(min = 1, max = 128))]
    pub role: String,
    /// Project (Atlas group) id the role applies to; unset for an organization-level role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub project_id: Option<String>,
}

/// Settings of an Atlas connected organization.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AtlasOrgSettings {
    /// Email domains allowed to sign in when domain restriction is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100), inner(length(min = 1, max = 253)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub domain_allow_list: Option<Vec<String>>,
    /// Whether only users from the allowed domains may sign in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_restriction_enabled: Option<bool>,
    /// Organization roles every user gets after signing in through the identity provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10), inner(length(min = 1, max = 64)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub post_auth_role_grants: Option<Vec<String>>,
}
