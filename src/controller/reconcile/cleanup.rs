//! Deleting a resource: its deletion policy, then (for Delete) the remote object through the
//! same gate as every write.

use std::sync::Arc;

use kube::{
    Api, ResourceExt,
    runtime::{controller::Action, events::EventType},
};

use super::{
    ids::{known_external_id, pending_create},
    is_paused, publish,
    status::write_held_delete,
};
use crate::{
    controller::{
        context::Context,
        error::Error,
        gate::{self, Write},
        managed::Managed,
        registry::Account,
    },
    core::plan::Action as PlanAction,
    crd::{DeletionPolicy, ManagedStatus, ManagementPolicy},
    provider::ProviderError,
};

/// Applies the deletion policy. `Ok(None)`: the delete is held (awaiting approval, refused by
/// a lockout guard, or a dry run), so the finalizer stays.
pub(super) async fn cleanup<K: Managed>(
    obj: Arc<K>,
    ctx: &Context,
    api: &Api<K>,
) -> Result<Option<Action>, Error> {
    let managed = obj.managed();
    let status = obj.managed_status().cloned().unwrap_or_default();
    let known = known_external_id(obj.as_ref(), &status);
    let pending = pending_create(obj.as_ref(), &status);
    if known.is_none() && pending.is_none() {
        // Nothing was ever created for this resource.
        return Ok(Some(Action::await_change()));
    }
    let provider_name = status.provider.clone().unwrap_or_default();
    let id = known
        .clone()
        .or_else(|| pending.clone())
        .unwrap_or_default();
    let paused = is_paused(obj.as_ref());
    let keep = managed.deletion_policy == DeletionPolicy::Orphan
        || managed.management_policy == ManagementPolicy::ObserveOnly
        || paused;
    if keep {
        let why = if paused {
            "paused"
        } else if managed.deletion_policy == DeletionPolicy::Orphan {
            "deletionPolicy Orphan"
        } else {
            "ObserveOnly"
        };
        publish(
            ctx,
            obj.as_ref(),
            EventType::Normal,
            "Orphaned",
            format!("left {provider_name} object {id} in place ({why})"),
        )
        .await;
        return Ok(Some(Action::await_change()));
    }
    let ns = obj.namespace().unwrap_or_default();
    let account = ctx
        .registry
        .resolve_for_cleanup(&ns, &managed.provider_config_ref)
        .await?;
    let can_delete = account
        .provider
        .capabilities()
        .kind(K::KIND)
        .is_some_and(|k| k.delete);
    if !can_delete {
        publish(
            ctx,
            obj.as_ref(),
            EventType::Warning,
            "Orphaned",
            format!(
                "{provider_name} cannot delete {} {id} through its API; left in place",
                K::KIND
            ),
        )
        .await;
        return Ok(Some(Action::await_change()));
    }
    let id = match known {
        Some(id) => id,
        // A create was sent but its answer never recorded: the object, if it was made, has the
        // recorded name. Find it, or there is nothing to delete.
        None => {
            let name = pending.unwrap_or_default();
            let found = account
                .provider
                .find_by_name(K::KIND, &name)
                .await
                .map_err(|e| e.redacted(|m| account.secrets.redact(m)))?;
            match found {
                Some(found) => found.id,
                None => return Ok(Some(Action::await_change())),
            }
        }
    };
    if let Some(held) = hold_delete(ctx, obj.as_ref(), &account, &id, status.clone()).await? {
        write_held_delete(ctx, api, obj.as_ref(), held).await?;
        return Ok(None);
    }
    crash_point!("delete-before");
    let deleted = account.provider.delete(K::KIND, &id).await;
    crash_point!("delete-after");
    match deleted {
        Ok(()) | Err(ProviderError::NotFound(_)) => ctx.observations.forget(&account, K::KIND, &id),
        Err(e) => {
            let e = e.redacted(|m| account.secrets.redact(m));
            publish(
                ctx,
                obj.as_ref(),
                EventType::Warning,
                e.reason().as_str(),
                format!("cannot delete {provider_name} object {id}: {e}"),
            )
            .await;
            return Err(e.into());
        }
    }
    publish(
        ctx,
        obj.as_ref(),
        EventType::Normal,
        "Deleted",
        format!("deleted {provider_name} object {id}"),
    )
    .await;
    Ok(Some(Action::await_change()))
}

/// The gate before a delete: `Some` with the status to write and why, when it is held.
async fn hold_delete<K: Managed>(
    ctx: &Context,
    obj: &K,
    account: &Account,
    id: &str,
    mut status: ManagedStatus,
) -> Result<Option<(ManagedStatus, Error)>, Error> {
    if !gate::may_hold(ctx, obj) {
        // No guard, approval or dry run applies: no need to read what the delete takes away.
        return Ok(None);
    }
    // What the delete takes away (the lockout guard compares before and after).
    let before = ctx
        .observations
        .observe(account, K::KIND, id, None)
        .await
        .map_err(|e| e.redacted(|m| account.secrets.redact(m)))?
        .remote;
    let Some(before) = before else {
        // Already gone: the delete is a no-op.
        return Ok(None);
    };
    let want = crate::provider::Fields::new();
    let write = Write {
        action: PlanAction::Delete,
        object: id,
        want: &want,
        current: Some(&before.fields),
        paths: Vec::new(),
        write_only: Vec::new(),
        write_only_hash: None,
    };
    match gate::check(ctx, obj, account, &mut status, &write).await {
        Ok(()) => Ok(None),
        Err(e @ Error::Held { .. }) => Ok(Some((status, e))),
        Err(e) => Err(e),
    }
}
