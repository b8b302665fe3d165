//! ConnectionProfile: an Auth0 connection profile (a template for self-service SSO connections).

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{ManagedFields, ManagedStatus};

/// An Auth0 connection profile.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[kube(
    group = "ssoperator.io",
    version = "v1alpha1",
    kind = "ConnectionProfile",
    namespaced,
    status = "ManagedStatus",
    shortname = "ssocp",
    category = "sso",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Synced","type":"string","jsonPath":".status.conditions[?(@.type==\"Synced\")].status"}"#,
    printcolumn = r#"{"name":"Provider","type":"string","jsonPath":".status.provider"}"#,
    printcolumn = r#"{"name":"External-ID","type":"string","jsonPath":".status.externalId"}"#,
    printcolumn = r#"{"name":"Approval","type":"string","description":"Hash of the plan awaiting approval or a lockout override","jsonPath":".status.plan.hash"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionProfileSpec {
    #[serde(flatten)]
    pub managed: ManagedFields,
    /// Name of the connection profile (1 to 50 characters).
    #[schemars(length(min = 1, max = 50))]
    pub name: String,
    /// How connections made from this profile behave in Auth0 Organizations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<ProfileOrganization>,
    /// Template for the names of connections made from this profile: letters, digits, single hyphens,
    /// {org_id} and {org_name}; at most 15 characters; no leading hyphen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 15),
        regex(pattern = r"^(?:[a-zA-Z0-9-]|\{org_id\}|\{org_name\})*$")
    )]
    #[x_kube(validation = Rule::new("!self.startsWith('-') && !self.contains('--')").message("connectionNamePrefixTemplate must not start with a hyphen or contain two hyphens in a row"))]
    pub connection_name_prefix_template: Option<String>,
    /// Features enabled on connections made from this profile: scim, universal_logout, directory_sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 3))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub enabled_features: Option<Vec<Feature>>,
    /// Connection configuration applied to connections made from this profile. Auth0's schema
    /// defines no property for it, so only {} is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // Unknown keys are kept (not pruned) so that maxProperties refuses them by name instead of the
    // apiserver dropping them silently.
    #[schemars(extend("x-kubernetes-preserve-unknown-fields" = true, "maxProperties" = 0))]
    pub connection_config: Option<BTreeMap<String, serde_json::Value>>,
    /// Per-strategy overrides of enabledFeatures, connectionConfig and provisioning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy_overrides: Option<StrategyOverrides>,
    /// User provisioning of connections made from this profile (SCIM tokens, Google Workspace sync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning: Option<Provisioning>,
    /// Cross App Access: whether connections made from this profile may act as a resource app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_app_access_resource_app: Option<CrossAppAccessResourceApp>,
}

/// Provisioning settings (Auth0's `provisioning`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Provisioning {
    /// SCIM provisioning: the tokens SCIM clients may be issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim: Option<ScimProvisioning>,
    /// Google Workspace provisioning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub google_workspace: Option<GoogleWorkspaceProvisioning>,
}

/// SCIM provisioning settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimProvisioning {
    /// Settings of the SCIM tokens (required by Auth0 when scim is set).
    pub tokens: ScimTokens,
}

/// SCIM token settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimTokens {
    /// Scopes a SCIM token may hold: get:users, post:users, patch:users, delete:users, put:users.
    #[schemars(length(max = 5))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub scopes: Vec<ScimScope>,
    /// Default token lifetime in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_expiry: Option<i64>,
    /// Longest token lifetime allowed, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_allowed_expiry: Option<i64>,
}

/// A scope of a SCIM token.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, schemars::JsonSchema,
)]
pub enum ScimScope {
    #[serde(rename = "get:users")]
    GetUsers,
    #[serde(rename = "post:users")]
    PostUsers,
    #[serde(rename = "patch:users")]
    PatchUsers,
    #[serde(rename = "delete:users")]
    DeleteUsers,
    #[serde(rename = "put:users")]
    PutUsers,
}

impl ScimScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GetUsers => "get:users",
            Self::PostUsers => "post:users",
            Self::PatchUsers => "patch:users",
            Self::DeleteUsers => "delete:users",
            Self::PutUsers => "put:users",
        }
    }
}

/// Google Workspace provisioning settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GoogleWorkspaceProvisioning {
    /// Whether users are synchronised from Google Workspace (required by Auth0).
    pub sync_users: bool,
}

/// Cross App Access settings (Auth0's `cross_app_access_resource_app`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossAppAccessResourceApp {
    /// The status of connections made from this profile (required by Auth0).
    pub status: CrossAppAccessStatus,
}

/// Default and allowed Cross App Access status.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossAppAccessStatus {
    /// Status of new connections: enabled or disabled.
    pub default_value: CrossAppStatus,
    /// Statuses an organization may choose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub allowed_values: Option<Vec<CrossAppStatus>>,
}

/// A Cross App Access status.
#[derive(
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum CrossAppStatus {
    Enabled,
    #[default]
    Disabled,
}

impl CrossAppStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
        }
    }
}

/// Organization behaviour of a connection.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrganizationBehaviour {
    None,
    Optional,
    Required,
}

impl OrganizationBehaviour {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Optional => "optional",
            Self::Required => "required",
        }
    }
}

/// Organization settings of a connection profile.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "snake_case")]
pub struct ProfileOrganization {
    /// Whether the connection is shown as a button on the organization's login page: none, optional or required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_as_button: Option<OrganizationBehaviour>,
    /// Whether users who sign in become organization members: none, optional or required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assign_membership_on_login: Option<OrganizationBehaviour>,
}

/// A connection feature that a profile can enable.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    Scim,
    UniversalLogout,
    DirectorySync,
}

impl Feature {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scim => "scim",
            Self::UniversalLogout => "universal_logout",
            Self::DirectorySync => "directory_sync",
        }
    }
}

/// Overrides per connection strategy; only the eight strategies Auth0 names are accepted.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
pub struct StrategyOverrides {
    /// Overrides for PingFederate connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pingfederate: Option<StrategyOverride>,
    /// Overrides for Active Directory / LDAP connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ad: Option<StrategyOverride>,
    /// Overrides for ADFS connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adfs: Option<StrategyOverride>,
    /// Overrides for Microsoft Entra ID (Azure AD) connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waad: Option<StrategyOverride>,
    /// Overrides for Google Workspace connections.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "google-apps"
    )]
    pub google_apps: Option<StrategyOverride>,
    /// Overrides for Okta Workforce connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub okta: Option<StrategyOverride>,
    /// Overrides for OpenID Connect connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<StrategyOverride>,
    /// Overrides for SAML connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samlp: Option<StrategyOverride>,
}

impl StrategyOverrides {
    /// The overrides that are set, with Auth0's strategy names.
    pub fn entries(&self) -> Vec<(&'static str, &StrategyOverride)> {
        [
            ("pingfederate", &self.pingfederate),
            ("ad", &self.ad),
            ("adfs", &self.adfs),
            ("waad", &self.waad),
            ("google-apps", &self.google_apps),
            ("okta", &self.okta),
            ("oidc", &self.oidc),
            ("samlp", &self.samlp),
        ]
        .into_iter()
        .filter_map(|(name, o)| o.as_ref().map(|o| (name, o)))
        .collect()
    }
}

/// Overrides for one strategy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StrategyOverride {
    /// Features enabled for this strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 3))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub enabled_features: Option<Vec<Feature>>,
    /// Connection configuration for this strategy; Auth0 accepts only {}.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-preserve-unknown-fields" = true, "maxProperties" = 0))]
    pub connection_config: Option<BTreeMap<String, serde_json::Value>>,
    /// Provisioning for this strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // Boxed: eight of these sit in every desired profile.
    pub provisioning: Option<Box<Provisioning>>,
}
