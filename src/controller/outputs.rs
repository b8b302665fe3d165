//! `spec.writeOutputsTo`: the values an identity-provider administrator needs (status.outputs)
//! kept in a ConfigMap or Secret of the resource's namespace, owned by the resource (like
//! Crossplane's connection Secrets), so that they go when it goes.

use crate::core::reason::Reason;
use std::collections::BTreeMap;

use k8s_openapi::{
    ByteString,
    api::core::v1::{ConfigMap, Secret},
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
};

use super::{Context, error::Error, managed::Managed};
use crate::crd::{ManagedStatus, ProviderOutputs};

/// Field manager of the server-side applies.
const MANAGER: &str = "ssoperator";

/// The keys written: status.outputs' own field names, only those the provider gave.
pub fn data_of(outputs: Option<&ProviderOutputs>) -> BTreeMap<String, String> {
    let Some(o) = outputs else {
        return BTreeMap::new();
    };
    [
        ("acsUrl", &o.acs_url),
        ("spEntityId", &o.sp_entity_id),
        ("spMetadataUrl", &o.sp_metadata_url),
        ("spCertificate", &o.sp_certificate),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), v)))
    .collect()
}

/// Writes the outputs where the spec asks, when they (or the target) changed since this process
/// last wrote them. A target that exists and is not this resource's is never taken over.
pub async fn write<K: Managed>(
    ctx: &Context,
    obj: &K,
    status: &ManagedStatus,
) -> Result<(), Error> {
    let Some(target) = obj.outputs_target() else {
        return Ok(());
    };
    let (kind, name, field) = match (&target.config_map, &target.secret) {
        (Some(n), None) => ("ConfigMap", n, "spec.writeOutputsTo.configMap"),
        (None, Some(n)) => ("Secret", n, "spec.writeOutputsTo.secret"),
        _ => {
            return Err(Error::refused(
                Reason::InvalidSpec,
                "spec.writeOutputsTo: set exactly one of configMap or secret",
            ));
        }
    };
    let data = data_of(status.outputs.as_ref());
    let uid = obj.uid().unwrap_or_default();
    let hash = super::watch::hash_of(format!("{kind}/{name}/{data:?}"));
    if ctx.written(&uid).outputs == Some(hash) {
        return Ok(());
    }
    let ns = obj.namespace().unwrap_or_default();
    let owner = OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: obj.name_any(),
        uid: uid.clone(),
        controller: Some(true),
        // Blocking the owner's deletion would need the finalizers permission on it; the
        // garbage collector deletes the target after the resource either way.
        block_owner_deletion: None,
    };
    let meta = ObjectMeta {
        name: Some(name.clone()),
        namespace: Some(ns.clone()),
        owner_references: Some(vec![owner]),
        labels: Some(BTreeMap::from([(
            "app.kubernetes.io/managed-by".to_string(),
            "ssoperator".to_string(),
        )])),
        ..ObjectMeta::default()
    };
    let params = PatchParams::apply(MANAGER).force();
    let taken = |owners: Option<&Vec<OwnerReference>>| {
        !owners.is_some_and(|o| o.iter().any(|r| r.uid == uid))
    };
    let refused = || {
        Error::refused(
            Reason::OutputsTargetTaken,
            format!(
                "{field}: {kind} {ns}/{name} exists and is not this resource's; \
                 name another one or delete it"
            ),
        )
    };
    if kind == "ConfigMap" {
        let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
        if let Some(existing) = api.get_opt(name).await?
            && taken(existing.metadata.owner_references.as_ref())
        {
            return Err(refused());
        }
        let cm = ConfigMap {
            metadata: meta,
            data: Some(data),
            ..ConfigMap::default()
        };
        api.patch(name, &params, &Patch::Apply(&cm)).await?;
    } else {
        let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
        if let Some(existing) = api.get_opt(name).await?
            && taken(existing.metadata.owner_references.as_ref())
        {
            return Err(refused());
        }
        let secret = Secret {
            metadata: meta,
            type_: Some("Opaque".into()),
            data: Some(
                data.into_iter()
                    .map(|(k, v)| (k, ByteString(v.into_bytes())))
                    .collect(),
            ),
            ..Secret::default()
        };
        api.patch(name, &params, &Patch::Apply(&secret)).await?;
    }
    ctx.record_written(&uid, |w| w.outputs = Some(hash));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_outputs_the_provider_gave_are_written_under_their_status_names() {
        assert!(data_of(None).is_empty());
        let o = ProviderOutputs {
            acs_url: Some("https://sp.example/acs".into()),
            sp_entity_id: Some("https://sp.example".into()),
            ..ProviderOutputs::default()
        };
        let data = data_of(Some(&o));
        assert_eq!(
            data.keys().collect::<Vec<_>>(),
            ["acsUrl", "spEntityId"],
            "{data:?}"
        );
        assert_eq!(data["acsUrl"], "https://sp.example/acs");
    }
}
