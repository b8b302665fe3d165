//! ProviderConfig (namespaced) and ClusterProviderConfig (cluster-scoped): one provider account each.

use super::condition::Condition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{
    CustomResource, KubeSchema,
    core::{Selector, SelectorExt},
};
use serde::{Deserialize, Serialize};

use super::common::CredentialsSecretRef;

use crate::provider::descriptor::{one_block_message, one_block_rule};

/// Plain http:// only to a loopback host, unless allowInsecureEndpoint says otherwise (the
/// operator checks the same in [`crate::core::validate::endpoint`]).
const LOOPBACK_RULE: &str = "!has(self.endpoint) || !self.endpoint.startsWith('http://') || (has(self.allowInsecureEndpoint) && self.allowInsecureEndpoint) || self.endpoint.matches('(?i)^http://(localhost|127[.][0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}|[[]::1[]])(:[0-9]+)?([/?#].*)?$')";
const LOOPBACK_MESSAGE: &str = "endpoint: plain http:// is accepted only for a loopback host (127.0.0.0/8, ::1, localhost); use https:// or set spec.allowInsecureEndpoint: true";

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
#[x_kube(validation = Rule::new(one_block_rule()).message(one_block_message().as_str()))]
#[x_kube(validation = Rule::new(LOOPBACK_RULE).message(LOOPBACK_MESSAGE).field_path(".endpoint"))]
#[serde(rename_all = "camelCase")]
pub struct ProviderConfigSpec {
    #[serde(flatten)]
    pub account: ProviderAccount,
}

/// Account and credentials of one provider, usable from the namespaces that `allowedNamespaces` admits (all by default).
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
#[x_kube(validation = Rule::new(one_block_rule()).message(one_block_message().as_str()))]
#[x_kube(validation = Rule::new(LOOPBACK_RULE).message(LOOPBACK_MESSAGE).field_path(".endpoint"))]
#[x_kube(validation = Rule::new("has(self.credentialsSecretRef.namespace)").message("credentialsSecretRef.namespace is required in a ClusterProviderConfig"))]
#[serde(rename_all = "camelCase")]
pub struct ClusterProviderConfigSpec {
    #[serde(flatten)]
    pub account: ProviderAccount,
    /// Which namespaces' resources may use this account (as Gateway API's
    /// `allowedRoutes.namespaces`). Unset or `from: All`: every namespace. `from: Selector`: only
    /// namespaces whose labels match `selector`; a resource elsewhere is refused
    /// (Ready=False, reason NamespaceNotAllowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_namespaces: Option<AllowedNamespaces>,
}

/// Where a ClusterProviderConfig may be used from.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum NamespacesFrom {
    /// Every namespace (the default).
    #[default]
    All,
    /// Only namespaces whose labels match `selector`.
    Selector,
}

/// The namespaces whose resources may use a ClusterProviderConfig.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("!has(self.from) || self.from != 'Selector' || has(self.selector)").message("allowedNamespaces.selector is required when from is Selector").field_path(".selector"))]
#[x_kube(validation = Rule::new("(has(self.from) && self.from == 'Selector') || !has(self.selector)").message("allowedNamespaces.selector is only used with from: Selector").field_path(".from"))]
#[serde(rename_all = "camelCase")]
pub struct AllowedNamespaces {
    /// All (default): every namespace; Selector: the namespaces that `selector` matches.
    #[serde(default)]
    pub from: NamespacesFrom,
    /// Label selector over namespaces, used with `from: Selector`. An empty selector matches every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

impl AllowedNamespaces {
    /// Whether deciding needs the namespace's labels.
    pub fn needs_labels(&self) -> bool {
        self.from == NamespacesFrom::Selector
    }

    /// Whether a namespace with these labels may use the config; `Err` describes the rule that
    /// refuses it (or a selector that cannot be evaluated).
    pub fn check(
        &self,
        namespace: &str,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), String> {
        if self.from == NamespacesFrom::All {
            return Ok(());
        }
        let Some(selector) = &self.selector else {
            return Err("spec.allowedNamespaces.from is Selector but no selector is set".into());
        };
        let rule = describe_selector(selector);
        let parsed = Selector::try_from(selector.clone())
            .map_err(|e| format!("spec.allowedNamespaces.selector cannot be evaluated: {e}"))?;
        if parsed.matches(labels) {
            Ok(())
        } else {
            Err(format!(
                "namespace {namespace} is not allowed by spec.allowedNamespaces (from: Selector, selector: {rule})"
            ))
        }
    }
}

/// A label selector in the text form kubectl accepts (`a=b,c in (d),!e`).
fn describe_selector(s: &LabelSelector) -> String {
    let mut parts: Vec<String> = s
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in s.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            "DoesNotExist" => format!("!{}", e.key),
            other => format!("{} {other} ({values})", e.key),
        });
    }
    if parts.is_empty() {
        "{} (every namespace)".into()
    } else {
        parts.join(",")
    }
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
    /// Plain http:// is accepted only for a loopback host (127.0.0.0/8, ::1, localhost) unless allowInsecureEndpoint is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new("self.startsWith('https://') || self.startsWith('http://')").message("endpoint must be an http(s) URL"))]
    #[x_kube(validation = Rule::new("!self.contains(' ') && isURL(self) && self.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#:@]+')").message("endpoint must be a URL with a host and no spaces, such as https://api.example.com"))]
    pub endpoint: Option<String>,
    /// Accept a plain http:// endpoint to a host that is not loopback. Credentials then travel unencrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_insecure_endpoint: Option<bool>,
    /// Client-side rate limit shared by every resource that uses this account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
}

impl ProviderAccount {
    /// Which account this is, for telling apart remote objects that share an id: provider,
    /// endpoint (empty for the real service) and the account id of the block that is set
    /// ([`crate::provider::Descriptor::account_id`]: Qovery organization, Auth0 domain,
    /// LoginRadius organization, Atlas federation; Clerk names no account in the spec, its ids
    /// are unique across instances anyway). No credentials are part of it.
    pub fn identity(&self) -> String {
        let (provider, id) = crate::provider::PROVIDERS
            .iter()
            .find_map(|d| (d.account_id)(self).map(|id| (d.name(), id)))
            .unwrap_or_default();
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
    #[schemars(with = "Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>")]
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
    fn allowed_namespaces_default_to_all_and_a_selector_names_its_rule() {
        let labels = |kv: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let all = AllowedNamespaces::default();
        assert!(!all.needs_labels());
        assert_eq!(all.check("anyone", &labels(&[])), Ok(()));
        let spec: ClusterProviderConfigSpec = serde_json::from_value(serde_json::json!({
            "clerk": {}, "credentialsSecretRef": {"name": "c", "namespace": "sso"},
            "allowedNamespaces": {"from": "Selector", "selector": {
                "matchLabels": {"tenant": "acme"},
                "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "staging"]}]}}
        }))
        .unwrap();
        let rule = spec.allowed_namespaces.unwrap();
        assert!(rule.needs_labels());
        assert_eq!(
            rule.check("a", &labels(&[("tenant", "acme"), ("env", "prod")])),
            Ok(())
        );
        let err = rule
            .check("b", &labels(&[("tenant", "globex"), ("env", "prod")]))
            .unwrap_err();
        assert!(
            err.contains("namespace b")
                && err.contains("spec.allowedNamespaces")
                && err.contains("tenant=acme,env in (prod,staging)"),
            "{err}"
        );
        let no_selector = AllowedNamespaces {
            from: NamespacesFrom::Selector,
            selector: None,
        };
        assert!(no_selector.check("a", &labels(&[])).is_err());
        let bad_operator: AllowedNamespaces = serde_json::from_value(serde_json::json!({
            "from": "Selector", "selector": {"matchExpressions": [{"key": "k", "operator": "Near"}]}
        }))
        .unwrap();
        assert!(bad_operator.check("a", &labels(&[("k", "v")])).is_err());
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
