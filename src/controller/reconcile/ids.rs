//! Which remote object a resource owns: its id in the `ssoperator.io/external-id` annotation
//! (written first) and in status, and the refusal to manage an object another resource manages.

use std::sync::Arc;

use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
};
use serde_json::json;

use crate::{
    controller::{context::Context, error::Error, managed::Managed, registry::Account},
    core::reason::Reason,
    crd::{EXTERNAL_ID_ANNOTATION, ManagedStatus},
};

/// The remote object's id this resource owns: the annotation is written before status after a
/// create, so it is the newer of the two, and it survives a status wipe.
pub(super) fn known_external_id<K: Managed>(obj: &K, status: &ManagedStatus) -> Option<String> {
    obj.annotations()
        .get(EXTERNAL_ID_ANNOTATION)
        .filter(|id| !id.is_empty())
        .cloned()
        .or_else(|| status.external_id.clone())
}

/// Whether `obj` manages the `provider` object `id` (by annotation or status), without copying
/// anything: it is asked of every object in a store.
pub fn manages<K: Managed>(obj: &K, provider: &str, id: &str) -> bool {
    let Some(status) = obj.managed_status() else {
        return false;
    };
    status.provider.as_deref() == Some(provider)
        && match obj.annotations().get(EXTERNAL_ID_ANNOTATION) {
            Some(a) if !a.is_empty() => a == id,
            _ => status.external_id.as_deref() == Some(id),
        }
}

/// Drops the external-id annotation from a copy about to be stored when its status holds the
/// same id (the steady state): an annotation map, even of one entry, costs a B-tree node of
/// about half a KiB per object. Every reader here takes the id from the annotation or, without
/// it, from status, so a stored copy reads the same; the object itself keeps the annotation.
pub fn strip_recorded_id<K: Managed>(obj: &mut K) {
    let recorded = obj.managed_status().and_then(|s| s.external_id.clone());
    let meta = obj.meta_mut();
    if let Some(a) = meta.annotations.as_mut()
        && recorded.is_some()
        && a.get(EXTERNAL_ID_ANNOTATION) == recorded.as_ref()
    {
        a.remove(EXTERNAL_ID_ANNOTATION);
        if a.is_empty() {
            meta.annotations = None;
        }
    }
}

/// Records the remote object's id in the resource's annotations (see [`EXTERNAL_ID_ANNOTATION`]).
pub(super) async fn record_external_id<K: Managed>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    id: &str,
) -> Result<(), Error> {
    set_external_id(ctx, api, obj, Some(id)).await
}

/// Removes the recorded id (its object is gone).
pub(super) async fn forget_external_id<K: Managed>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
) -> Result<(), Error> {
    set_external_id(ctx, api, obj, None).await
}

async fn set_external_id<K: Managed>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    id: Option<&str>,
) -> Result<(), Error> {
    // A stored copy without the annotation had it dropped because status holds the same id
    // ([`strip_recorded_id`]).
    let current = obj
        .annotations()
        .get(EXTERNAL_ID_ANNOTATION)
        .map(String::as_str)
        .or_else(|| obj.managed_status()?.external_id.as_deref());
    if current == id {
        return Ok(());
    }
    let patch = json!({ "metadata": { "annotations": { EXTERNAL_ID_ANNOTATION: id } } });
    let patched = api
        .patch(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    super::record_metadata_write(ctx, obj, patched.resource_version());
    Ok(())
}

/// Refuses to take over a remote object another resource of the same kind already manages in
/// the same account. Only the namespaces this operator watches are searched (in memory).
pub(super) async fn ensure_not_managed_elsewhere<K: Managed>(
    ctx: &Context,
    obj: &K,
    account: &Account,
    id: &str,
) -> Result<(), Error> {
    let provider = account.kind.as_str();
    let others: Vec<Arc<K>> = K::store(ctx.registry.stores())
        .state()
        .into_iter()
        .filter(|other| other.uid() != obj.uid() && manages(other.as_ref(), provider, id))
        .collect();
    for other in others {
        // The same id in another account (e.g. a Qovery connection name in another
        // organization) is another object.
        let other_ns = other.namespace().unwrap_or_default();
        let other_ref = &other.managed().provider_config_ref;
        let other_identity = ctx.registry.identity(&other_ns, other_ref).await.ok();
        if other_identity.is_some_and(|i| i != account.identity) {
            continue;
        }
        return Err(Error::refused(
            Reason::AlreadyManaged,
            format!(
                "{provider} object {id} is already managed by {} {other_ns}/{}",
                K::KIND,
                other.name_any()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{EnterpriseConnection, EnterpriseConnectionSpec};

    fn connection(annotation: Option<&str>, recorded: Option<&str>) -> EnterpriseConnection {
        let mut ec = EnterpriseConnection::new("c", EnterpriseConnectionSpec::default());
        ec.metadata.annotations = Some(
            [("ssoperator.io/paused".to_string(), "true".to_string())]
                .into_iter()
                .chain(annotation.map(|a| (EXTERNAL_ID_ANNOTATION.to_string(), a.to_string())))
                .collect(),
        );
        ec.status = Some(ManagedStatus {
            external_id: recorded.map(String::from),
            provider: Some("clerk".into()),
            ..Default::default()
        });
        ec
    }

    #[test]
    fn a_stored_copy_drops_the_id_annotation_only_when_status_holds_the_same_id() {
        for (annotation, recorded, dropped) in [
            (Some("ec_1"), Some("ec_1"), true),
            (Some("ec_2"), Some("ec_1"), false),
            (Some("ec_1"), None, false),
            (None, Some("ec_1"), false),
        ] {
            let mut ec = connection(annotation, recorded);
            let before = known_external_id(&ec, ec.status.as_ref().unwrap_or(&Default::default()));
            strip_recorded_id(&mut ec);
            let status = ec.status.clone().unwrap_or_default();
            assert_eq!(
                ec.annotations().contains_key(EXTERNAL_ID_ANNOTATION),
                annotation.is_some() && !dropped,
                "{annotation:?} {recorded:?}"
            );
            assert!(
                ec.annotations().contains_key("ssoperator.io/paused"),
                "others stay"
            );
            assert_eq!(known_external_id(&ec, &status), before, "reads the same");
            if let Some(id) = known_external_id(&ec, &status) {
                assert!(manages(&ec, "clerk", &id));
            }
        }
        let mut only = connection(Some("ec_1"), Some("ec_1"));
        only.metadata.annotations =
            Some([(EXTERNAL_ID_ANNOTATION.to_string(), "ec_1".to_string())].into());
        strip_recorded_id(&mut only);
        assert!(only.metadata.annotations.is_none(), "no empty map is kept");
    }
}
