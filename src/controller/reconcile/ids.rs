//! Which remote object a resource owns: its id in the `ssoperator.io/external-id` annotation
//! (written first) and in status, the name of a create in flight in
//! `ssoperator.io/pending-create`, and the refusal to manage an object another resource manages.

use std::sync::Arc;

use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
};
use serde_json::json;

use crate::{
    controller::{context::Context, error::Error, managed::Managed, registry::Account},
    core::reason::Reason,
    crd::{EXTERNAL_ID_ANNOTATION, FINALIZER, ManagedStatus, PENDING_CREATE_ANNOTATION},
    metrics::Metrics,
};

/// The remote object's id this resource owns: the annotation is written before status after a
/// create, so it is the newer of the two, and it survives a status wipe.
pub(super) fn known_external_id<K: Managed>(obj: &K, status: &ManagedStatus) -> Option<String> {
    annotation_or(obj, EXTERNAL_ID_ANNOTATION, status.external_id.as_ref())
}

/// The non-empty value of the annotation `key`, else `recorded` (the status field beside it).
fn annotation_or<K: Managed>(obj: &K, key: &str, recorded: Option<&String>) -> Option<String> {
    obj.annotations()
        .get(key)
        .filter(|v| !v.is_empty())
        .or(recorded)
        .cloned()
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

/// The name of a create that was sent but whose answer was not recorded: the annotation, or the
/// status field older versions wrote.
pub(super) fn pending_create<K: Managed>(obj: &K, status: &ManagedStatus) -> Option<String> {
    annotation_or(
        obj,
        PENDING_CREATE_ANNOTATION,
        status.pending_create.as_ref(),
    )
}

/// Whether the resource owns a remote object, or may (a create was sent): its deletion then needs
/// the finalizer.
pub(super) fn owns_remote<K: Managed>(obj: &K) -> bool {
    let none = ManagedStatus::default();
    let status = obj.managed_status().unwrap_or(&none);
    known_external_id(obj, status).is_some() || pending_create(obj, status).is_some()
}

/// What the resource's annotations record about the remote object it owns.
pub(super) enum Claim<'a> {
    /// A create of this name is about to be sent.
    Pending(&'a str),
    /// The create surely failed: no object of the pending name was made.
    Abandoned,
    /// The id of the object this reconcile's create made: the pending name goes (the finalizer
    /// came with it).
    Created(&'a str),
    /// The remote object's id, after an adoption (any pending name goes).
    Id(&'a str),
    /// The object is gone: its id is forgotten.
    Forget,
}

/// Writes `claim` to the resource's annotations in one merge patch. A claim of an object (a
/// pending create, an id) carries the finalizer in the same patch when the resource needs one and
/// has none yet (see `add_or_drop_finalizer`), so that a new resource costs one metadata write
/// before its create, not two. No request when the annotations already say so.
pub(super) async fn claim<K: Managed>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    claim: Claim<'_>,
) -> Result<(), Error> {
    match write_claim(ctx, api, obj, &claim).await {
        // The finalizer list is replaced whole, so its patch is conditional on the copy's
        // resourceVersion: on a conflict, read the object afresh and try once more.
        Err(Error::Kube(kube::Error::Api(s))) if s.code == 409 => {
            ctx.metrics
                .fresh_reads
                .get_or_create(&Metrics::kind(K::KIND.as_str()))
                .inc();
            match api.get_opt(&obj.name_any()).await? {
                Some(fresh) if fresh.uid() == obj.uid() => {
                    write_claim(ctx, api, &fresh, &claim).await
                }
                _ => Ok(()),
            }
        }
        other => other,
    }
}

async fn write_claim<K: Managed>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    claim: &Claim<'_>,
) -> Result<(), Error> {
    let Some((patch, adds_finalizer)) = claim_patch(obj, claim) else {
        return Ok(());
    };
    if adds_finalizer {
        // The credentials its deletion needs must stay while the object exists.
        crate::controller::provider_config::mark_in_use(ctx, obj).await?;
    }
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

/// The merge patch that writes `claim` on `obj`, and whether it adds the finalizer; `None` when
/// the annotations already say so and no finalizer is due.
fn claim_patch<K: Managed>(obj: &K, claim: &Claim<'_>) -> Option<(serde_json::Value, bool)> {
    // A stored copy without the id annotation had it dropped because status holds the same id
    // ([`strip_recorded_id`]).
    let id = obj
        .annotations()
        .get(EXTERNAL_ID_ANNOTATION)
        .map(String::as_str)
        .or_else(|| obj.managed_status()?.external_id.as_deref());
    let pending = obj
        .annotations()
        .get(PENDING_CREATE_ANNOTATION)
        .map(String::as_str);
    // `obj` is the copy the reconcile started from: it does not show the pending name and the
    // finalizer written in this reconcile, so the claims that follow a create (Abandoned,
    // Created) remove the name whether shown or not, and add no finalizer.
    let mut annotations = serde_json::Map::new();
    let claims = match *claim {
        Claim::Pending(name) => {
            if pending != Some(name) {
                annotations.insert(PENDING_CREATE_ANNOTATION.into(), json!(name));
            }
            true
        }
        Claim::Abandoned => {
            annotations.insert(PENDING_CREATE_ANNOTATION.into(), json!(null));
            false
        }
        Claim::Created(new) => {
            annotations.insert(EXTERNAL_ID_ANNOTATION.into(), json!(new));
            annotations.insert(PENDING_CREATE_ANNOTATION.into(), json!(null));
            false
        }
        Claim::Id(new) => {
            if id != Some(new) || pending.is_some() {
                annotations.insert(EXTERNAL_ID_ANNOTATION.into(), json!(new));
                annotations.insert(PENDING_CREATE_ANNOTATION.into(), json!(null));
            }
            true
        }
        Claim::Forget => {
            if id.is_some() {
                annotations.insert(EXTERNAL_ID_ANNOTATION.into(), json!(null));
            }
            false
        }
    };
    let adds_finalizer =
        claims && super::needs_finalizer(obj) && !obj.finalizers().iter().any(|f| f == FINALIZER);
    if annotations.is_empty() && !adds_finalizer {
        return None;
    }
    let mut metadata = json!({ "annotations": annotations });
    if adds_finalizer {
        let mut finalizers = obj.finalizers().to_vec();
        finalizers.push(FINALIZER.to_string());
        metadata["finalizers"] = json!(finalizers);
        metadata["resourceVersion"] = json!(obj.resource_version());
    }
    Some((json!({ "metadata": metadata }), adds_finalizer))
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
    fn a_claim_carries_the_finalizer_a_new_resource_needs_in_the_same_patch() {
        let mut ec = EnterpriseConnection::new("c", EnterpriseConnectionSpec::default());
        ec.spec.managed.deletion_policy = crate::crd::DeletionPolicy::Delete;
        ec.metadata.resource_version = Some("7".into());
        ec.metadata.finalizers = Some(vec!["other.io/keep".into()]);
        let (patch, adds) = claim_patch(&ec, &Claim::Pending("Tenant 1")).unwrap();
        assert!(adds);
        assert_eq!(
            patch,
            json!({"metadata": {
                "annotations": {PENDING_CREATE_ANNOTATION: "Tenant 1"},
                "finalizers": ["other.io/keep", FINALIZER],
                "resourceVersion": "7",
            }})
        );

        // Created: the id replaces the pending name; the finalizer came with the name, though
        // the reconcile's copy shows neither.
        let (patch, adds) = claim_patch(&ec, &Claim::Created("ent_1")).unwrap();
        assert!(!adds);
        let created = json!({"metadata": {"annotations": {
            EXTERNAL_ID_ANNOTATION: "ent_1", PENDING_CREATE_ANNOTATION: null,
        }}});
        assert_eq!(patch, created);
        // An adoption's id, on a copy that shows the finalizer and a pending name.
        ec.metadata.finalizers = Some(vec!["other.io/keep".into(), FINALIZER.into()]);
        ec.metadata.annotations = Some(
            [(
                PENDING_CREATE_ANNOTATION.to_string(),
                "Tenant 1".to_string(),
            )]
            .into(),
        );
        let (patch, adds) = claim_patch(&ec, &Claim::Id("ent_1")).unwrap();
        assert!(!adds);
        assert_eq!(patch, created);
        // A refused create drops the name only, also where the copy predates the name.
        ec.metadata.annotations = None;
        let (patch, _) = claim_patch(&ec, &Claim::Abandoned).unwrap();
        assert_eq!(
            patch,
            json!({"metadata": {"annotations": {PENDING_CREATE_ANNOTATION: null}}})
        );
        // The id status holds (its annotation dropped from the stored copy): nothing to write.
        ec.status = Some(ManagedStatus {
            external_id: Some("ent_1".into()),
            ..Default::default()
        });
        assert!(claim_patch(&ec, &Claim::Id("ent_1")).is_none());
        let (patch, _) = claim_patch(&ec, &Claim::Forget).unwrap();
        assert_eq!(
            patch,
            json!({"metadata": {"annotations": {EXTERNAL_ID_ANNOTATION: null}}})
        );
    }

    #[test]
    fn an_orphan_resource_claims_without_a_finalizer() {
        let mut ec = EnterpriseConnection::new("c", EnterpriseConnectionSpec::default());
        ec.spec.managed.deletion_policy = crate::crd::DeletionPolicy::Orphan;
        let (patch, adds) = claim_patch(&ec, &Claim::Pending("Tenant 1")).unwrap();
        assert!(!adds);
        assert_eq!(
            patch,
            json!({"metadata": {"annotations": {PENDING_CREATE_ANNOTATION: "Tenant 1"}}})
        );
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
