//! ProviderConfig (namespaced) and ClusterProviderConfig (cluster-scoped): one provider account each.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::CredentialsSecretRef;

const ONE_PROVIDER_RULE: &str = "(has(self.qovery) ? 1 : 0) + (has(self.auth0) ? 1 : 0) + (has(self.loginradius) ? 1 : 0) + (has(self.clerk) ? 1 : 0) + (has(self.atlas) ? 1 : 0) == 1";
const ONE_PROVIDER_MESSAGE: &str =
    "exactly one provider block (qovery, auth0, loginradius, clerk, atlas) must be set";

/// Account and credentials of one provider, referenced by managed resources in the same namespace.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[kube(
    group = "ssoperator.io",
    version = "v1alpha1",
    kind = "ProviderConfig",
    namespaced,
    status = "ProviderConfigStatus",
    shortname = "ssopc",
    category = "sso",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Provider","type":"string","jsonPath":".status.provider"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new(ONE_PROVIDER_RULE).message(ONE_PROVIDER_MESSAGE))]
#[serde(rename_all = "camelCase")]
pub struct ProviderConfigSpec {
    #[serde(flatten)]
    pub account: ProviderAccount,
}

/// Account and credentials of one provider, usable from every namespace.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[kube(
    group = "ssoperator.io",
    version = "v1alpha1",
    kind = "ClusterProviderConfig",
    status = "ProviderConfigStatus",
    shortname = "ssocpc",
    category = "sso",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Provider","type":"string","jsonPath":".status.provider"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new(ONE_PROVIDER_RULE).message(ONE_PROVIDER_MESSAGE))]
#[x_kube(validation = Rule::new("has(self.credentialsSecretRef.namespace)").message("credentialsSecretRef.namespace is required in a ClusterProviderConfig"))]
#[serde(rename_all = "camelCase")]
pub struct ClusterProviderConfigSpec {
    #[serde(flatten)]
    pub account: ProviderAccount,
}

/// The provider account: exactly one provider block, the credentials, and optional client settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderAccount {
    /// Qovery organization. Credentials Secret key: `token` (an organization API token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qovery: Option<QoveryAccount>,
    /// Auth0 tenant. Credentials Secret keys: `clientId`, `clientSecret` (a machine-to-machine application).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth0: Option<Auth0Account>,
    /// LoginRadius organization. Credentials Secret keys: `apiKey`, `apiSecret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loginradius: Option<LoginRadiusAccount>,
    /// Clerk instance. Credentials Secret key: `secretKey` (sk_live_... or sk_test_...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clerk: Option<ClerkAccount>,
    /// MongoDB Atlas federation. Credentials Secret keys: `publicKey`, `privateKey` (a programmatic API key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atlas: Option<AtlasAccount>,
    /// Secret that holds the credentials; the keys it needs are named on each provider block.
    pub credentials_secret_ref: CredentialsSecretRef,
    /// Base URL of the provider's management API. Leave unset for the real service; set it only for tests or a proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new("self.startsWith('https://') || self.startsWith('http://')").message("endpoint must be an http(s) URL"))]
    pub endpoint: Option<String>,
    /// Client-side rate limit shared by every resource that uses this account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
}

impl ProviderAccount {
    /// Which account this is, for telling apart remote objects that share an id: provider,
    /// endpoint (empty for the real service) and the account id (Qovery organization, Auth0
    /// domain, LoginRadius organization, Atlas federation). Clerk names no account in the spec;
    /// its ids are unique across instances anyway. No credentials are part of it.
    pub fn identity(&self) -> String {
        let (provider, id) = if let Some(q) = &self.qovery {
            ("qovery", q.organization_id.to_ascii_lowercase())
        } else if let Some(a) = &self.auth0 {
            ("auth0", a.domain.to_ascii_lowercase())
        } else if let Some(l) = &self.loginradius {
            ("loginradius", l.organization_id.clone())
        } else if let Some(a) = &self.atlas {
            ("atlas", a.federation_settings_id.to_ascii_lowercase())
        } else if self.clerk.is_some() {
            ("clerk", String::new())
        } else {
            ("", String::new())
        };
        let endpoint = self.endpoint.as_deref().unwrap_or_default();
        format!("{provider}|{}|{id}", endpoint.trim_end_matches('/'))
    }
}

/// Qovery account identifiers.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct QoveryAccount {
    /// Qovery organization id (a UUID).
    #[schemars(length(min = 36, max = 36))]
    #[schemars(regex(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ))]
    pub organization_id: String,
}

/// Auth0 account identifiers.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Auth0Account {
    /// Tenant domain, such as example.eu.auth0.com or a custom domain (no scheme).
    #[schemars(length(min = 3, max = 253))]
    #[schemars(regex(pattern = r"^[a-zA-Z0-9.-]+(:[0-9]+)?$"))]
    pub domain: String,
}

/// LoginRadius account identifiers.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginRadiusAccount {
    /// Organization id (org_...) whose identity-provider connections are managed.
    #[schemars(length(min = 1, max = 128))]
    pub organization_id: String,
}

/// Clerk account settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClerkAccount {
    /// Backend API version sent as Clerk-API-Version (YYYY-MM-DD). Defaults to the version the operator was built against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))]
    pub api_version: Option<String>,
}

/// MongoDB Atlas account identifiers.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AtlasAccount {
    /// Federation settings id (24 hexadecimal digits).
    #[schemars(regex(pattern = r"^[0-9a-f]{24}$"))]
    pub federation_settings_id: String,
}

/// Client-side token bucket for one provider account.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    /// Sustained requests per second.
    // Kubernetes knows no "uint32" format and warns about it at every CRD apply.
    #[schemars(range(min = 1, max = 1000), extend("format" = "int32"))]
    pub requests_per_second: u32,
    /// Largest burst of requests sent at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000), extend("format" = "int32"))]
    pub burst: Option<u32>,
}

/// Observed state of a provider configuration.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderConfigStatus {
    /// The metadata.generation that the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready: the provider accepted the credentials.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The provider of this account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// How many managed resources use this configuration. While any does, the configuration
    /// keeps its `ssoperator.io/in-use` finalizer, so that deleting it cannot strand them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_by: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qovery(org: &str, endpoint: Option<&str>) -> ProviderAccount {
        ProviderAccount {
            qovery: Some(QoveryAccount {
                organization_id: org.into(),
            }),
            endpoint: endpoint.map(str::to_string),
            ..ProviderAccount::default()
        }
    }

    #[test]
    fn identity_tells_accounts_apart_and_ignores_credentials() {
        let org = "3F8D2C4E-9B1A-4C7E-8F2D-5A6B7C8D9E0F";
        let mut a = qovery(org, None);
        let b = qovery(&org.to_lowercase(), None);
        a.credentials_secret_ref.name = "other-secret".into();
        assert_eq!(a.identity(), b.identity(), "same organization");
        assert_ne!(
            a.identity(),
            qovery("00000000-9b1a-4c7e-8f2d-5a6b7c8d9e0f", None).identity()
        );
        assert_ne!(
            a.identity(),
            qovery(org, Some("http://127.0.0.1:1/")).identity()
        );
        assert_eq!(
            qovery(org, Some("http://127.0.0.1:1/")).identity(),
            qovery(org, Some("http://127.0.0.1:1")).identity()
        );
    }
}
