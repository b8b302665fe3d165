//! Step 3 of a sync: take over an existing object, or create one.

use kube::{Api, runtime::events::EventType};

use super::{
    ids::{Claim, claim, ensure_not_managed_elsewhere, pending_create},
    publish,
    sync::{Found, Mode, Target},
};
use crate::{
    controller::{
        context::Context,
        error::Error,
        gate::{self, Write},
        managed::Managed,
    },
    core::{conditions::Reason, plan::Action as PlanAction},
    crd::ManagedStatus,
    provider::ProviderError,
};

/// Step 3a: an existing object to take over: the one spec.externalName names, or one with the
/// spec's name after an interrupted create (or where the provider cannot create). `None`: there
/// is none, create it.
pub(super) async fn adopt<K: Managed>(
    obj: &K,
    ctx: &Context,
    api: &Api<K>,
    t: &Target,
    status: &mut ManagedStatus,
    mode: &Mode,
) -> Result<Option<Found>, Error> {
    let provider_name = t.provider_name;
    let (found, read_live, why) = if let Some(ext) = obj.managed().external_name.clone() {
        let observed = ctx
            .observations
            .observe(&t.account, K::KIND, &ext, mode.within)
            .await?;
        let found = observed.remote.ok_or_else(|| {
            Error::dependency(
                Reason::RemoteNotFound,
                format!("spec.externalName {ext:?} does not exist at {provider_name}"),
            )
        })?;
        (found, observed.live, None)
    } else {
        let name = t.desired.name();
        let pending = pending_create(obj, status);
        // After an interrupted create the sweep may predate the object: ask the provider.
        let found = if pending.is_some() {
            t.provider.find_by_name(K::KIND, name).await?
        } else {
            ctx.observations
                .find_by_name(&t.account, K::KIND, name)
                .await?
        };
        let Some(found) = found else {
            return Ok(None);
        };
        let ours = pending.as_deref() == Some(name);
        if !ours && t.can_create {
            return Err(Error::refused(
                Reason::NameTaken,
                format!(
                    "a {} named {name:?} already exists at {provider_name} (id {}); set spec.externalName to {:?} to adopt it",
                    K::KIND,
                    found.id,
                    found.id
                ),
            ));
        }
        let why = if ours {
            "an interrupted create"
        } else {
            "its name (the provider cannot create it)"
        };
        (found, false, Some(why))
    };
    ensure_not_managed_elsewhere(ctx, obj, &t.account, &found.id).await?;
    if ctx.config.dry_run {
        return Ok(Some(Found {
            remote: found,
            created: false,
            adopted_dry: true,
            read_live,
            id_recorded: false,
        }));
    }
    // The annotation holds the id from here on; status follows with the result.
    claim(ctx, api, obj, Claim::Id(&found.id)).await?;
    status.external_id = Some(found.id.clone());
    let note = match why {
        Some(why) => {
            status.pending_create = None;
            format!("adopted {provider_name} object {} found by {why}", found.id)
        }
        None => format!("adopted {provider_name} object {}", found.id),
    };
    publish(ctx, obj, EventType::Normal, "Adopted", note).await;
    Ok(Some(Found {
        remote: found,
        created: false,
        adopted_dry: false,
        read_live,
        id_recorded: true,
    }))
}

/// Step 3b: creates the object, recording its name before (so that a crash after the create
/// adopts instead of creating twice) and its id right after, each in the resource's annotations.
pub(super) async fn create<K: Managed>(
    obj: &K,
    ctx: &Context,
    api: &Api<K>,
    t: &Target,
    status: &mut ManagedStatus,
    mode: &Mode,
) -> Result<Found, Error> {
    let provider_name = t.provider_name;
    let name = t.desired.name().to_string();
    if !t.can_create {
        return Err(Error::dependency(
            Reason::RemoteNotFound,
            format!(
                "{} {name:?} does not exist at {provider_name}, which cannot create it through its API",
                K::KIND
            ),
        ));
    }
    if mode.read_only {
        return Err(Error::dependency(
            Reason::RemoteNotFound,
            format!(
                "{} {name:?} does not exist at {provider_name}; not created while ObserveOnly or paused",
                K::KIND
            ),
        ));
    }
    let write_only = t.provider.write_only_paths(&t.desired);
    let write_only_hash = t.write_only_hash.clone();
    let mut paths: Vec<String> = t.want.keys().cloned().collect();
    paths.extend(write_only.iter().cloned());
    gate::check(
        ctx,
        obj,
        &t.account,
        status,
        &Write {
            action: PlanAction::Create,
            object: &name,
            want: &t.want,
            current: None,
            paths,
            write_only,
            write_only_hash: write_only_hash.as_deref(),
        },
    )
    .await?;
    // With the finalizer, when the resource has none yet: one write.
    claim(ctx, api, obj, Claim::Pending(&name)).await?;
    crash_point!("create-before");
    let made = match t.provider.create(&t.desired).await {
        Ok(r) => r,
        Err(e) => {
            if !matches!(e, ProviderError::Unavailable(_)) {
                // The provider surely did not create it: forget the pending create, or a later
                // reconcile would take an object of that name for its own.
                status.pending_create = None;
                if let Err(w) = claim(ctx, api, obj, Claim::Abandoned).await {
                    tracing::warn!(kind = %K::KIND, error = %w, "cannot remove the pending-create annotation");
                }
            }
            return Err(e.into());
        }
    };
    crash_point!("create-after");
    ctx.observations.record(&t.account, K::KIND, &made);
    claim(ctx, api, obj, Claim::Created(&made.id)).await?;
    crash_point!("create-recorded");
    status.external_id = Some(made.id.clone());
    status.pending_create = None;
    status.write_only_hash = write_only_hash;
    ctx.record_sent_hash(&t.uid, status.write_only_hash.as_ref());
    // One status write per create, the result (in `apply`): the annotations hold the pending
    // name before it and the id after it.
    publish(
        ctx,
        obj,
        EventType::Normal,
        "Created",
        format!("created {provider_name} object {}", made.id),
    )
    .await;
    Ok(Found {
        remote: made,
        created: true,
        adopted_dry: false,
        read_live: true,
        id_recorded: true,
    })
}
