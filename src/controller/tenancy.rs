//! Which namespaces may use a ClusterProviderConfig (`spec.allowedNamespaces`).

use crate::core::reason::Reason;
use k8s_openapi::api::core::v1::Namespace;
use kube::{Api, Client, ResourceExt};

use super::error::Error;
use crate::crd::ClusterProviderConfig;

/// Refuses a resource in `namespace` that the ClusterProviderConfig's `allowedNamespaces` does
/// not admit (reason NamespaceNotAllowed, the message names the rule). Reads the Namespace only
/// when the rule needs its labels (`from: Selector`).
pub async fn check_namespace(
    client: &Client,
    namespace: &str,
    config: &ClusterProviderConfig,
) -> Result<(), Error> {
    let Some(allowed) = config
        .spec
        .allowed_namespaces
        .as_ref()
        .filter(|a| a.needs_labels())
    else {
        return Ok(());
    };
    let api: Api<Namespace> = Api::all(client.clone());
    let labels = api
        .get_opt(namespace)
        .await?
        .map(|ns| ns.labels().clone())
        .unwrap_or_default();
    allowed.check(namespace, &labels).map_err(|m| {
        Error::refused(
            Reason::NamespaceNotAllowed,
            format!("ClusterProviderConfig {}: {m}", config.name_any()),
        )
    })
}
