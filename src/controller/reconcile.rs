//! The reconcile flow every managed kind shares:
//! resolve references -> validate -> observe -> diff -> create or update -> status.

use std::{sync::Arc, time::Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{
        controller::Action,
        events::{Event, EventType},
    },
};
use serde_json::json;

use super::{
    context::Context,
    error::{Error, Hold},
    finalizer,
    gate::{self, Write},
    managed::Managed,
    registry::Account,
};
use crate::{
    core::{
        conditions::{self, AWAITING_APPROVAL, READY, RECONCILING, STALLED, SYNCED, Wanted},
        diff::diff,
        plan::Action as PlanAction,
        redact::Secrets,
    },
    crd::{
        DeletionPolicy, DriftRecord, EXTERNAL_ID_ANNOTATION, FINALIZER, ManagedStatus,
        ManagementPolicy, PAUSED_ANNOTATION, ProviderOutputs, RECONCILE_REQUESTED_ANNOTATION,
        RESYNC_PERIOD_ANNOTATION,
    },
    metrics::Metrics,
    provider::{ErrorClass, ProviderError, Remote},
};

/// A named point where the fault suite (tests/e2e/faults/) makes the operator process exit at
/// once, as a crash or an OOM kill would: `FAILPOINTS=<name>=return`. Compiled to nothing
/// without the `failpoints` feature (the release build).
macro_rules! crash_point {
    ($name:literal) => {
        fail::fail_point!($name, |_| {
            tracing::error!(point = $name, "fail point: exiting as a crash would");
            std::process::exit(86)
        })
    };
}

/// The fail points of the reconcile flow, in the order a create passes them.
pub const CRASH_POINTS: &[&str] = &[
    "status-write-before",
    "status-write-after",
    "create-before",
    "create-after",
    "create-recorded",
    "update-before",
    "update-after",
    "delete-before",
    "delete-after",
];

/// How a sync ended when nothing failed.
enum Synced {
    /// The remote object matches the spec (after an update, if one was needed).
    InSync,
    /// The remote object differs, and the resource may not write (ObserveOnly or paused).
    Drifted(Vec<String>),
}

/// The Synced reason while the paused annotation stops all writes.
const PAUSED_REASON: &str = "ReconcilePaused";

/// Synced while the paused annotation stops all writes.
fn paused_synced() -> Wanted {
    Wanted::new(
        SYNCED,
        false,
        PAUSED_REASON,
        format!("{PAUSED_ANNOTATION} is \"true\": no writes"),
    )
}

fn is_paused<K: Resource>(obj: &K) -> bool {
    obj.annotations()
        .get(PAUSED_ANNOTATION)
        .is_some_and(|v| v == "true")
}

/// Whether deleting this resource must wait for the operator: only a resource that deletes its
/// remote object does. An Orphan or ObserveOnly resource carries no finalizer, so it deletes at
/// once even while the operator is stopped.
fn needs_finalizer<K: Managed>(obj: &K) -> bool {
    let managed = obj.managed();
    managed.deletion_policy == DeletionPolicy::Delete
        && managed.management_policy == ManagementPolicy::Manage
}

/// Adds the finalizer a Delete resource needs (and marks its ProviderConfig in use, so that the
/// credentials its deletion needs stay), or drops it after a switch to Orphan or ObserveOnly.
async fn add_or_drop_finalizer<K: Managed>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
) -> Result<(), Error> {
    let wanted = needs_finalizer(obj);
    let has = obj.finalizers().iter().any(|f| f == FINALIZER);
    if wanted && !has {
        super::provider_config::mark_in_use(ctx, obj).await?;
    }
    finalizer::set(api, obj, FINALIZER, wanted).await
}

/// Entry point of the controller for kind `K`.
pub async fn reconcile<K: Managed>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let kind = Metrics::kind(K::KIND.as_str());
    ctx.metrics.reconciles.get_or_create(&kind).inc();
    // Liveness tests: `panic` here must end the process, `sleep(ms)` (it blocks the thread) must
    // turn /healthz unhealthy.
    fail::fail_point!("reconcile-start");
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    let has_finalizer = obj.finalizers().iter().any(|f| f == FINALIZER);
    let result = if obj.meta().deletion_timestamp.is_some() {
        if has_finalizer {
            match cleanup(obj.clone(), &ctx, &api).await {
                Ok(Some(action)) => finalizer::set(&api, obj.as_ref(), FINALIZER, false)
                    .await
                    .map(|()| {
                        ctx.forget_written(&obj.uid().unwrap_or_default());
                        action
                    }),
                // The delete is held (approval, lockout guard, dry run): the finalizer stays.
                Ok(None) => Ok(Action::requeue(ctx.resync())),
                Err(e) => Err(e),
            }
        } else {
            ctx.forget_written(&obj.uid().unwrap_or_default());
            Ok(Action::await_change())
        }
    } else if ctx.config.dry_run {
        // A dry run deletes nothing, so it needs no finalizer (and leaves one it finds).
        apply(obj, &ctx, &api).await
    } else {
        // Added before anything is created (so no create escapes the deletion policy) and in
        // the same reconcile, not in a reconcile of its own.
        match add_or_drop_finalizer(&ctx, &api, obj.as_ref()).await {
            Ok(()) => apply(obj, &ctx, &api).await,
            Err(e) => Err(e),
        }
    };
    ctx.metrics
        .reconcile_duration
        .get_or_create(&kind)
        .observe(started.elapsed().as_secs_f64());
    result
}

/// Backoff for errors that escaped `apply` (API server trouble, cleanup failures).
pub fn error_policy<K: Managed>(obj: Arc<K>, err: &Error, ctx: Arc<Context>) -> Action {
    let labels = crate::metrics::ErrorLabels {
        kind: K::KIND.as_str().into(),
        reason: err.reason().into(),
    };
    ctx.metrics.reconcile_errors.get_or_create(&labels).inc();
    tracing::warn!(kind = %K::KIND, name = %obj.name_any(), namespace = ?obj.namespace(), error = %err, "reconcile failed");
    match err.class() {
        ErrorClass::RateLimited(wait) => Action::requeue(wait),
        _ => Action::requeue(ctx.backoff(&obj.uid().unwrap_or_default())),
    }
}

/// Publishes one Event about `obj` (a failure to publish is logged, never fatal).
pub(super) async fn publish<K: Managed>(
    ctx: &Context,
    obj: &K,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: reason.into(),
        secondary: None,
    };
    if let Err(e) = ctx.events.publish(&ev, &obj.object_ref(&())).await {
        tracing::warn!(error = %e, "cannot publish event");
    }
}

async fn write_status<K: Managed>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    status: &ManagedStatus,
) -> Result<(), Error> {
    crash_point!("status-write-before");
    let patch = json!({ "status": status.merge_patch() });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    crash_point!("status-write-after");
    ctx.metrics
        .status_writes
        .get_or_create(&Metrics::kind(K::KIND.as_str()))
        .inc();
    Ok(())
}

/// The remote object's id this resource owns: the annotation is written before status after a
/// create, so it is the newer of the two, and it survives a status wipe.
fn known_external_id<K: Managed>(obj: &K, status: &ManagedStatus) -> Option<String> {
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

/// Records the remote object's id in the resource's annotations (see [`EXTERNAL_ID_ANNOTATION`]).
async fn record_external_id<K: Managed>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    id: &str,
) -> Result<(), Error> {
    set_external_id(api, obj, Some(id)).await?;
    let uid = obj.uid().unwrap_or_default();
    ctx.record_written(&uid, |w| w.external_id = Some(id.to_string()));
    Ok(())
}

/// Removes the recorded id (its object is gone).
async fn forget_external_id<K: Managed>(ctx: &Context, api: &Api<K>, obj: &K) -> Result<(), Error> {
    set_external_id(api, obj, None).await?;
    ctx.record_written(&obj.uid().unwrap_or_default(), |w| w.external_id = None);
    Ok(())
}

async fn set_external_id<K: Managed>(api: &Api<K>, obj: &K, id: Option<&str>) -> Result<(), Error> {
    if obj
        .annotations()
        .get(EXTERNAL_ID_ANNOTATION)
        .map(String::as_str)
        == id
    {
        return Ok(());
    }
    let patch = json!({ "metadata": { "annotations": { EXTERNAL_ID_ANNOTATION: id } } });
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

async fn apply<K: Managed>(obj: Arc<K>, ctx: &Context, api: &Api<K>) -> Result<Action, Error> {
    let generation = obj.meta().generation;
    let old = obj.managed_status().cloned().unwrap_or_default();
    let mut status = old.clone();
    let paused = is_paused(obj.as_ref());
    let read_only = paused || obj.managed().management_policy == ManagementPolicy::ObserveOnly;
    let uid = obj.uid().unwrap_or_default();
    let (period, note) = super::context::resync_period(
        obj.annotations()
            .get(RESYNC_PERIOD_ANNOTATION)
            .map(String::as_str),
    );
    if let Some(note) = note
        && ctx.first_note(&uid, &note)
    {
        tracing::warn!(kind = %K::KIND, name = %obj.name_any(), namespace = %obj.namespace().unwrap_or_default(), "{note}");
        publish(
            ctx,
            obj.as_ref(),
            EventType::Normal,
            "ResyncPeriodAdjusted",
            note,
        )
        .await;
    }
    // A new value of the reconcile-requested-at annotation: this reconcile reads the provider
    // live and records the value as handled, whatever its outcome.
    let requested = obj
        .annotations()
        .get(RECONCILE_REQUESTED_ANNOTATION)
        .cloned();
    let handling_request =
        requested.is_some() && requested.as_ref() != old.last_handled_reconcile_at.as_ref();
    let within = if handling_request {
        Some(std::time::Duration::ZERO)
    } else {
        period.filter(|p| *p < ctx.config.resync)
    };
    super::certificates::observe(ctx, obj.as_ref(), &mut status).await;
    let period = super::certificates::resync_period(ctx, obj.as_ref(), &status, period);
    let mut secrets = Secrets::default();
    let outcome = sync(
        obj.as_ref(),
        ctx,
        api,
        &mut status,
        read_only,
        within,
        &mut secrets,
    )
    .await
    .map_err(|e| e.redacted(&secrets));
    if handling_request {
        tracing::info!(kind = %K::KIND, name = %obj.name_any(), namespace = %obj.namespace().unwrap_or_default(), requested_at = ?requested, "reconcile requested by annotation");
        status.last_handled_reconcile_at = requested;
    }
    let now = Time(jiff::Timestamp::now());
    let old_ready = conditions::get(&old.conditions, READY).cloned();
    let mut stalled = false;
    if outcome.is_ok() {
        // Nothing waits any more: the provider matches, or the resource may not write.
        status.plan = None;
    }
    let action = match &outcome {
        Ok(Synced::InSync) => {
            ctx.succeeded(&uid);
            let id = status.external_id.clone().unwrap_or_default();
            let provider = status.provider.clone().unwrap_or_default();
            conditions::set(
                &mut status.conditions,
                Wanted::new(
                    READY,
                    true,
                    "Available",
                    format!("in sync with {provider} object {id}"),
                ),
                generation,
                now.clone(),
            );
            let synced = if paused {
                paused_synced()
            } else {
                Wanted::new(
                    SYNCED,
                    true,
                    "ReconcileSuccess",
                    "the provider was read and is up to date",
                )
            };
            conditions::set(&mut status.conditions, synced, generation, now);
            Action::requeue(ctx.resync_for(period))
        }
        Ok(Synced::Drifted(paths)) => {
            ctx.succeeded(&uid);
            let why = if paused { "paused" } else { "ObserveOnly" };
            let message = format!(
                "fields differ from the spec: {} ({why}: not corrected)",
                paths.join(", ")
            );
            conditions::set(
                &mut status.conditions,
                Wanted::new(READY, false, "Drifted", message),
                generation,
                now.clone(),
            );
            let synced = if paused {
                paused_synced()
            } else {
                Wanted::new(
                    SYNCED,
                    true,
                    "Observed",
                    "the provider was read; ObserveOnly never writes",
                )
            };
            conditions::set(&mut status.conditions, synced, generation, now);
            Action::requeue(ctx.resync_for(period))
        }
        Err(e) => {
            let held = matches!(e, Error::Held { .. });
            if !held {
                let labels = crate::metrics::ErrorLabels {
                    kind: K::KIND.as_str().into(),
                    reason: e.reason().into(),
                };
                ctx.metrics.reconcile_errors.get_or_create(&labels).inc();
            }
            let message = e.to_string();
            conditions::set(
                &mut status.conditions,
                Wanted::new(READY, false, e.reason(), message.clone()),
                generation,
                now.clone(),
            );
            conditions::set(
                &mut status.conditions,
                Wanted::new(SYNCED, false, e.reason(), message.clone()),
                generation,
                now.clone(),
            );
            let unchanged = old_ready
                .as_ref()
                .is_some_and(|c| c.reason == e.reason() && c.message == message);
            if !unchanged {
                let wait = match e.class() {
                    ErrorClass::RateLimited(w) => Some(w.as_secs_f64()),
                    _ => None,
                };
                if held {
                    tracing::info!(kind = %K::KIND, name = %obj.name_any(), namespace = %obj.namespace().unwrap_or_default(), reason = e.reason(), message = %message, "write held");
                } else {
                    tracing::warn!(kind = %K::KIND, name = %obj.name_any(), namespace = %obj.namespace().unwrap_or_default(), reason = e.reason(), error = %message, retry_after_seconds = ?wait, "reconcile failed");
                }
                publish(
                    ctx,
                    obj.as_ref(),
                    event_type(e),
                    e.reason(),
                    message.clone(),
                )
                .await;
            }
            if e.class() == ErrorClass::Credentials {
                super::provider_config::mark_unauthenticated(ctx, obj.as_ref(), &e.to_string())
                    .await;
            }
            stalled = e.stalls();
            if stalled {
                conditions::set(
                    &mut status.conditions,
                    Wanted::new(STALLED, true, e.reason(), message),
                    generation,
                    now,
                );
            }
            match e.class() {
                // A held write is looked at again each resync (the plan follows new drift)
                // and at once when the spec or an approval annotation changes.
                _ if held => Action::requeue(ctx.resync_for(period)),
                ErrorClass::Transient => Action::requeue(ctx.backoff(&uid)),
                ErrorClass::RateLimited(wait) => Action::requeue(wait),
                // What clears by itself, unwatched (a Secret that arrives late without a Secret
                // watch, an object made or freed at the provider), is looked at again within a
                // resync; what needs a person is looked at rarely (a fixed permission at the
                // provider changes nothing in the cluster) and at once on a spec change.
                ErrorClass::Permanent | ErrorClass::Credentials if e.clears_by_itself() => {
                    Action::requeue(ctx.backoff(&uid).min(ctx.resync_for(period)))
                }
                ErrorClass::Permanent | ErrorClass::Credentials => {
                    Action::requeue(ctx.stalled_recheck())
                }
            }
        }
    };
    let synced = matches!(outcome, Ok(Synced::InSync));
    super::certificates::conclude(ctx, obj.as_ref(), &old, &mut status, synced, generation).await;
    if !stalled {
        conditions::remove(&mut status.conditions, STALLED);
    }
    let awaiting = match &outcome {
        Err(
            e @ Error::Held {
                hold: Hold::AwaitingApproval,
                ..
            },
        ) => Some(e.to_string()),
        _ => None,
    };
    set_awaiting_approval(&mut status, awaiting, generation);
    status.observed_generation = generation;
    // Not again when this copy is one the same status was already written over (the watch has
    // not brought that write back yet); a status changed by someone else has another version.
    let version = obj.resource_version().unwrap_or_default();
    let written = serde_json::to_string(&status)
        .ok()
        .map(|s| (version, super::watch::hash_of(s)));
    if status != old && (written.is_none() || ctx.written(&uid).status != written) {
        write_status(ctx, api, obj.as_ref(), &status).await?;
        ctx.record_written(&uid, |w| w.status = written);
    }
    Ok(action)
}

/// Normal for a write held as expected (approval, dry run); Warning for a failure or a refusal.
fn event_type(e: &Error) -> EventType {
    match e {
        Error::Held { hold, .. } if *hold != Hold::LockoutRisk => EventType::Normal,
        _ => EventType::Warning,
    }
}

/// AwaitingApproval and Reconciling (kstatus reads it as InProgress) while a plan waits for
/// approval; both removed otherwise.
fn set_awaiting_approval(
    status: &mut ManagedStatus,
    message: Option<String>,
    generation: Option<i64>,
) {
    let Some(message) = message else {
        conditions::remove(&mut status.conditions, AWAITING_APPROVAL);
        conditions::remove(&mut status.conditions, RECONCILING);
        return;
    };
    let now = Time(jiff::Timestamp::now());
    for type_ in [AWAITING_APPROVAL, RECONCILING] {
        let reason = if type_ == RECONCILING {
            Hold::AwaitingApproval.as_str()
        } else {
            "PlanPending"
        };
        conditions::set(
            &mut status.conditions,
            Wanted::new(type_, true, reason, message.clone()),
            generation,
            now.clone(),
        );
    }
}

/// Refuses to take over a remote object another resource of the same kind already manages in
/// the same account. Only the namespaces this operator watches are searched (in memory).
async fn ensure_not_managed_elsewhere<K: Managed>(
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
            "AlreadyManaged",
            format!(
                "{provider} object {id} is already managed by {} {other_ns}/{}",
                K::KIND,
                other.name_any()
            ),
        ));
    }
    Ok(())
}

async fn sync<K: Managed>(
    obj: &K,
    ctx: &Context,
    api: &Api<K>,
    status: &mut ManagedStatus,
    read_only: bool,
    within: Option<std::time::Duration>,
    secrets: &mut Secrets,
) -> Result<Synced, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let managed = obj.managed();
    let account = ctx
        .registry
        .resolve(&ns, &managed.provider_config_ref)
        .await?;
    secrets.extend(&account.secrets);
    let provider = account.provider.clone();
    let provider_name = account.kind.as_str();
    status.provider = Some(provider_name.to_string());
    let caps = provider.capabilities();
    let kind_caps = caps.kind(K::KIND).cloned().ok_or_else(|| {
        Error::refused(
            "Unsupported",
            format!(
                "spec.providerConfigRef: {provider_name} does not support {}",
                K::KIND
            ),
        )
    })?;
    let desired = obj.desired(ctx).await?;
    let desired = super::certificates::complete(ctx, obj, provider_name, status, desired).await?;
    secrets.extend(&desired.secrets());
    let hash_key = account.hash_key();
    let uid = obj.uid().unwrap_or_default();
    let want = provider.desired_fields(&desired)?;
    // The copy in memory may not show the id this process recorded a moment ago yet.
    let known_id = known_external_id(obj, status).or_else(|| ctx.written(&uid).external_id);
    let object_key = known_id
        .clone()
        .unwrap_or_else(|| desired.name().to_string());
    let _one_writer = ctx
        .lock_remote(format!("{}\n{object_key}", account.identity))
        .await;

    let mut created = false;
    // Adopted in a dry run: nothing recorded, reported as WouldAdopt unless an update follows.
    let mut adopted_dry = false;
    // Whether `remote` was read from the provider in this reconcile (not from the sweep).
    let mut read_live = false;
    let mut remote: Option<Remote> = None;
    if let Some(id) = known_id {
        status.external_id = Some(id.clone());
        let observed = ctx
            .observations
            .observe(&account, K::KIND, &id, within)
            .await?;
        read_live = observed.live;
        remote = observed.remote;
        if remote.is_some() {
            // Ours, found by id: a name recorded before an interrupted create is no longer needed.
            status.pending_create = None;
        } else {
            if managed.external_name.is_some() || !kind_caps.create || read_only {
                return Err(Error::dependency(
                    "RemoteNotFound",
                    format!("{provider_name} object {id} no longer exists"),
                ));
            }
            if !ctx.config.dry_run {
                publish(
                    ctx,
                    obj,
                    EventType::Warning,
                    "RemoteDeleted",
                    format!(
                        "{provider_name} object {id} was deleted outside ssoperator; creating it again"
                    ),
                )
                .await;
                // The old id is gone: forget it everywhere, so that nothing adopts by it later.
                forget_external_id(ctx, api, obj).await?;
            }
            status.external_id = None;
            status.pending_create = None;
        }
    } else if let Some(ext) = managed.external_name.clone() {
        let observed = ctx
            .observations
            .observe(&account, K::KIND, &ext, within)
            .await?;
        read_live = observed.live;
        let found = observed.remote.ok_or_else(|| {
            Error::dependency(
                "RemoteNotFound",
                format!("spec.externalName {ext:?} does not exist at {provider_name}"),
            )
        })?;
        ensure_not_managed_elsewhere(ctx, obj, &account, &found.id).await?;
        if ctx.config.dry_run {
            adopted_dry = true;
        } else {
            // The annotation holds the id from here on; status follows with the result.
            record_external_id(ctx, api, obj, &found.id).await?;
            status.external_id = Some(found.id.clone());
            publish(
                ctx,
                obj,
                EventType::Normal,
                "Adopted",
                format!("adopted {provider_name} object {}", found.id),
            )
            .await;
        }
        remote = Some(found);
    }

    if remote.is_none() {
        let name = desired.name().to_string();
        // After an interrupted create the sweep may predate the object: ask the provider.
        let found = if status.pending_create.is_some() {
            provider.find_by_name(K::KIND, &name).await?
        } else {
            ctx.observations
                .find_by_name(&account, K::KIND, &name)
                .await?
        };
        match found {
            Some(found) => {
                let ours = status.pending_create.as_deref() == Some(name.as_str());
                if !ours && kind_caps.create {
                    return Err(Error::refused(
                        "NameTaken",
                        format!(
                            "a {} named {name:?} already exists at {provider_name} (id {}); set spec.externalName to {:?} to adopt it",
                            K::KIND,
                            found.id,
                            found.id
                        ),
                    ));
                }
                ensure_not_managed_elsewhere(ctx, obj, &account, &found.id).await?;
                if ctx.config.dry_run {
                    adopted_dry = true;
                } else {
                    record_external_id(ctx, api, obj, &found.id).await?;
                    status.external_id = Some(found.id.clone());
                    status.pending_create = None;
                    let why = if ours {
                        "an interrupted create"
                    } else {
                        "its name (the provider cannot create it)"
                    };
                    publish(
                        ctx,
                        obj,
                        EventType::Normal,
                        "Adopted",
                        format!("adopted {provider_name} object {} found by {why}", found.id),
                    )
                    .await;
                }
                remote = Some(found);
            }
            None if !kind_caps.create => {
                return Err(Error::dependency(
                    "RemoteNotFound",
                    format!(
                        "{} {name:?} does not exist at {provider_name}, which cannot create it through its API",
                        K::KIND
                    ),
                ));
            }
            None if read_only => {
                return Err(Error::dependency(
                    "RemoteNotFound",
                    format!(
                        "{} {name:?} does not exist at {provider_name}; not created while ObserveOnly or paused",
                        K::KIND
                    ),
                ));
            }
            None => {
                let write_only = provider.write_only_paths(&desired);
                let write_only_hash = desired.write_only_hash(&hash_key);
                let mut paths: Vec<String> = want.keys().cloned().collect();
                paths.extend(write_only.iter().cloned());
                gate::check(
                    ctx,
                    obj,
                    &account,
                    status,
                    &Write {
                        action: PlanAction::Create,
                        object: &name,
                        want: &want,
                        current: None,
                        paths,
                        write_only,
                        write_only_hash: write_only_hash.as_deref(),
                    },
                )
                .await?;
                // Recorded before the create, so that a crash after it adopts instead of creating twice.
                status.pending_create = Some(name.clone());
                write_status(ctx, api, obj, status).await?;
                crash_point!("create-before");
                let made = match provider.create(&desired).await {
                    Ok(r) => r,
                    Err(e) => {
                        if !matches!(e, ProviderError::Unavailable(_)) {
                            // The provider surely did not create it: forget the pending create.
                            status.pending_create = None;
                        }
                        return Err(e.into());
                    }
                };
                crash_point!("create-after");
                ctx.observations.record(&account, K::KIND, &made);
                record_external_id(ctx, api, obj, &made.id).await?;
                crash_point!("create-recorded");
                status.external_id = Some(made.id.clone());
                status.pending_create = None;
                status.write_only_hash = desired.write_only_hash(&hash_key);
                ctx.record_sent_hash(&uid, status.write_only_hash.as_ref());
                // Two status writes per create: the pending name before it, the result after
                // (in `apply`); the annotation holds the id in between.
                publish(
                    ctx,
                    obj,
                    EventType::Normal,
                    "Created",
                    format!("created {provider_name} object {}", made.id),
                )
                .await;
                created = true;
                remote = Some(made);
            }
        }
    }

    let Some(remote) = remote else {
        return Err(Error::dependency(
            "RemoteNotFound",
            "remote object not found",
        ));
    };
    let mut d = diff(&want, &remote.fields);
    let hash = desired.write_only_hash(&hash_key);
    let sent = ctx
        .sent_hash(&uid)
        .or_else(|| status.write_only_hash.clone());
    if hash.is_some() && hash != sent && !created {
        for path in provider.write_only_paths(&desired) {
            d.push(path);
        }
    }
    let mut latest = remote;
    if !d.is_empty() && !read_only && !created && !read_live {
        // About to write: the sweep may be a resync old, and a write built on it could carry
        // stale values back. Read the object now and compare again.
        latest = ctx
            .observations
            .observe_live(&account, K::KIND, &latest.id)
            .await?
            .ok_or_else(|| {
                Error::dependency(
                    "RemoteNotFound",
                    format!(
                        "{provider_name} object {} was deleted while being compared",
                        latest.id
                    ),
                )
            })?;
        let write_only = std::mem::take(&mut d).paths;
        d = diff(&want, &latest.fields);
        for path in write_only.into_iter().filter(|p| !want.contains_key(p)) {
            d.push(path);
        }
    }
    if !d.is_empty() {
        if read_only {
            status.last_drift = Some(DriftRecord {
                time: jiff::Timestamp::now().to_string(),
                fields: d.paths.clone(),
            });
            set_outputs(status, &latest);
            super::outputs::write(ctx, obj, status).await?;
            return Ok(Synced::Drifted(d.paths));
        }
        let id = latest.id.clone();
        // A drift is a change after this generation was last compared with the provider (in
        // sync, observed, or paused). observedGeneration is not enough: it also moves when a
        // reconcile fails (say, waiting for a connection), and the first update after that wait
        // carries out the spec; it repairs no drift.
        let synced_generation = conditions::get(&status.conditions, SYNCED)
            .filter(|c| c.status == "True" || c.reason == PAUSED_REASON)
            .and_then(|c| c.observed_generation);
        let spec_changed = synced_generation != obj.meta().generation
            || created
            || ctx.certificates.rotating(&uid);
        let write_only: Vec<String> = provider
            .write_only_paths(&desired)
            .into_iter()
            .filter(|p| d.paths.contains(p))
            .collect();
        gate::check(
            ctx,
            obj,
            &account,
            status,
            &Write {
                action: PlanAction::Update,
                object: &id,
                want: &want,
                current: Some(&latest.fields),
                paths: d.paths.clone(),
                write_only,
                write_only_hash: hash.as_deref(),
            },
        )
        .await?;
        crash_point!("update-before");
        latest = provider.update(&id, &desired, &latest, &d).await?;
        crash_point!("update-after");
        ctx.observations.record(&account, K::KIND, &latest);
        ctx.record_sent_hash(&uid, hash.as_ref());
        status.write_only_hash = hash;
        let fields = d.paths.join(", ");
        if spec_changed {
            publish(
                ctx,
                obj,
                EventType::Normal,
                "Updated",
                format!("updated {provider_name} object {id}: {fields}"),
            )
            .await;
        } else {
            ctx.metrics
                .drift_repairs
                .get_or_create(&Metrics::kind(K::KIND.as_str()))
                .inc();
            status.last_drift = Some(DriftRecord {
                time: jiff::Timestamp::now().to_string(),
                fields: d.paths.clone(),
            });
            publish(
                ctx,
                obj,
                EventType::Normal,
                "DriftRepaired",
                format!("corrected {provider_name} object {id}: {fields}"),
            )
            .await;
        }
    }
    set_outputs(status, &latest);
    super::outputs::write(ctx, obj, status).await?;
    if adopted_dry {
        return Err(Error::Held {
            hold: Hold::WouldAdopt,
            message: format!(
                "dry run: would adopt {provider_name} object {}, which matches the spec",
                latest.id
            ),
        });
    }
    if !ctx.config.dry_run {
        // Resources that recorded their id before the annotation existed get it now.
        record_external_id(ctx, api, obj, &latest.id).await?;
    }
    Ok(Synced::InSync)
}

fn set_outputs(status: &mut ManagedStatus, remote: &Remote) {
    let o = &remote.outputs;
    let outputs = ProviderOutputs {
        sp_entity_id: o.sp_entity_id.clone(),
        acs_url: o.acs_url.clone(),
        sp_metadata_url: o.sp_metadata_url.clone(),
        sp_certificate: o.sp_certificate.clone(),
    };
    status.outputs = (outputs != ProviderOutputs::default()).then_some(outputs);
    super::certificates::observe_remote(status, remote);
}

/// Applies the deletion policy. `Ok(None)`: the delete is held (awaiting approval, refused by
/// a lockout guard, or a dry run), so the finalizer stays.
async fn cleanup<K: Managed>(
    obj: Arc<K>,
    ctx: &Context,
    api: &Api<K>,
) -> Result<Option<Action>, Error> {
    let managed = obj.managed();
    let status = obj.managed_status().cloned().unwrap_or_default();
    let known = known_external_id(obj.as_ref(), &status);
    if known.is_none() && status.pending_create.is_none() {
        // Nothing was ever created for this resource.
        return Ok(Some(Action::await_change()));
    }
    let provider_name = status.provider.clone().unwrap_or_default();
    let id = known
        .clone()
        .or_else(|| status.pending_create.clone())
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
            let name = status.pending_create.clone().unwrap_or_default();
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
                e.reason(),
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

/// Records a held delete: the plan and conditions in status, an Event when the message is new.
async fn write_held_delete<K: Managed>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    (mut status, held): (ManagedStatus, Error),
) -> Result<(), Error> {
    let generation = obj.meta().generation;
    let now = Time(jiff::Timestamp::now());
    let message = held.to_string();
    let old = obj.managed_status().cloned().unwrap_or_default();
    let unchanged = conditions::get(&old.conditions, READY)
        .is_some_and(|c| c.reason == held.reason() && c.message == message);
    for type_ in [READY, SYNCED] {
        conditions::set(
            &mut status.conditions,
            Wanted::new(type_, false, held.reason(), message.clone()),
            generation,
            now.clone(),
        );
    }
    if held.stalls() {
        conditions::set(
            &mut status.conditions,
            Wanted::new(STALLED, true, held.reason(), message.clone()),
            generation,
            now,
        );
    }
    let awaiting = matches!(
        held,
        Error::Held {
            hold: Hold::AwaitingApproval,
            ..
        }
    );
    set_awaiting_approval(&mut status, awaiting.then(|| message.clone()), generation);
    if !unchanged {
        publish(ctx, obj, event_type(&held), held.reason(), message).await;
    }
    if status != old {
        write_status(ctx, api, obj, &status).await?;
    }
    Ok(())
}
