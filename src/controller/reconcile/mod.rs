//! The reconcile flow every managed kind shares. [`reconcile`] owns it:
//!
//! 1. deletion: the deletion policy, then the remote object ([`cleanup`]);
//! 2. otherwise the finalizer, then [`apply`]: the resync period, certificates, and
//!    [`sync::sync`] as named steps (resolve -> observe -> adopt or create -> compare -> write ->
//!    outputs);
//! 3. the outcome as conditions, an Event and the next requeue ([`status::conclude`]), written
//!    only when the status changed.

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

mod adopt_or_create;
mod cleanup;
mod ids;
mod status;
mod sync;

use std::{sync::Arc, time::Instant};

use kube::{
    Api, Resource, ResourceExt,
    runtime::{
        controller::Action,
        events::{Event, EventType},
    },
};

pub use ids::{manages, strip_recorded_id};

use super::{
    context::Context,
    error::{Error, Hold},
    finalizer,
    managed::Managed,
};
use crate::{
    core::{
        conditions::{self, READY, Reason, STALLED},
        redact::Secrets,
    },
    crd::{
        DeletionPolicy, FINALIZER, ManagementPolicy, PAUSED_ANNOTATION,
        RECONCILE_REQUESTED_ANNOTATION, RESYNC_PERIOD_ANNOTATION,
    },
    metrics::Metrics,
    provider::ErrorClass,
};

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

/// The Synced reason while the paused annotation stops all writes.
const PAUSED_REASON: Reason = Reason::ReconcilePaused;

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
/// credentials its deletion needs stay), or drops it after a switch to Orphan or ObserveOnly. A
/// resource that owns no remote object yet gets it later, in the same write as its first claim
/// (the name of the create about to be sent, or an adopted id: [`ids::claim`]), so that no
/// create escapes the deletion policy and a new resource costs one metadata write before its
/// create, not two.
async fn add_or_drop_finalizer<K: Managed>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
) -> Result<(), Error> {
    let wanted = needs_finalizer(obj);
    let has = obj.finalizers().iter().any(|f| f == FINALIZER);
    if wanted && !has {
        if !ids::owns_remote(obj) {
            return Ok(());
        }
        super::provider_config::mark_in_use(ctx, obj).await?;
    }
    if let Some(version) = finalizer::set(api, obj, FINALIZER, wanted).await? {
        record_metadata_write(ctx, obj, Some(version));
    }
    Ok(())
}

/// Notes the resourceVersion one of this process's writes to `obj` returned (see
/// [`current_copy`]).
fn record_version<K: Managed>(ctx: &Context, obj: &K, version: Option<String>) {
    ctx.record_written(&obj.uid().unwrap_or_default(), |w| w.version = version);
}

/// Counts a write to `obj`'s metadata (finalizer or claim annotations) and notes its version.
fn record_metadata_write<K: Managed>(ctx: &Context, obj: &K, version: Option<String>) {
    ctx.metrics
        .metadata_writes
        .get_or_create(&Metrics::kind(K::KIND.as_str()))
        .inc();
    record_version(ctx, obj, version);
}

/// The copy of the resource to reconcile from: the one in memory, unless it may not show this
/// process's last write to the resource yet. The watch that fills memory can lag (a reconcile
/// that follows its own write at once, an API server restart); a reconcile deciding from such
/// a copy would undo or repeat that write (miss a pending create and take its own object for a
/// stranger's, take a drift for a spec change, write the same status twice). Such a copy is
/// read again from the API server, once per write at most: memory is trusted again from the
/// version it shows. `None` when the resource is gone (or is another one by now).
async fn current_copy<K: Managed>(
    obj: Arc<K>,
    ctx: &Context,
    api: &Api<K>,
) -> Result<Option<Arc<K>>, Error> {
    let uid = obj.uid().unwrap_or_default();
    let Some(written) = ctx.written(&uid).version else {
        return Ok(Some(obj));
    };
    if obj.resource_version().as_deref() == Some(written.as_str()) {
        ctx.record_written(&uid, |w| w.version = None);
        return Ok(Some(obj));
    }
    ctx.metrics
        .fresh_reads
        .get_or_create(&Metrics::kind(K::KIND.as_str()))
        .inc();
    let fresh = api.get_opt(&obj.name_any()).await?;
    let Some(fresh) = fresh.filter(|f| f.uid() == obj.uid()) else {
        return Ok(None);
    };
    // Memory has to reach this version (ours, or a newer one) before it is trusted again.
    ctx.record_written(&uid, |w| w.version = fresh.resource_version());
    Ok(Some(Arc::new(fresh)))
}

/// Fault injection (`FAILPOINTS=reconcile-stale-copy=return`): every reconcile of a resource
/// starts from the first copy this process saw of it, as if the watch had stopped there.
#[cfg(feature = "failpoints")]
fn stale_copy<K: Managed>(obj: Arc<K>) -> Arc<K> {
    use std::{
        collections::HashMap,
        sync::{LazyLock, Mutex},
    };
    static FIRST: LazyLock<Mutex<HashMap<String, serde_json::Value>>> =
        LazyLock::new(Mutex::default);
    if fail::eval("reconcile-stale-copy", |_| ()).is_none() {
        return obj;
    }
    let Ok(now) = serde_json::to_value(obj.as_ref()) else {
        return obj;
    };
    let mut first = FIRST.lock().unwrap_or_else(|e| e.into_inner());
    let seen = first
        .entry(obj.uid().unwrap_or_default())
        .or_insert(now)
        .clone();
    serde_json::from_value(seen).map_or(obj, Arc::new)
}

/// Entry point of the controller for kind `K`.
pub async fn reconcile<K: Managed>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let uid = obj.uid().unwrap_or_default();
    let kind = Metrics::kind(K::KIND.as_str());
    ctx.metrics.reconciles.get_or_create(&kind).inc();
    // Liveness tests: `panic` here must end the process, `sleep(ms)` (it blocks the thread) must
    // turn /healthz unhealthy.
    fail::fail_point!("reconcile-start");
    #[cfg(feature = "failpoints")]
    let obj = stale_copy(obj);
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(obj) = current_copy(obj, &ctx, &api).await? else {
        return Ok(Action::await_change());
    };
    let has_finalizer = obj.finalizers().iter().any(|f| f == FINALIZER);
    let result = if obj.meta().deletion_timestamp.is_some() {
        if has_finalizer {
            match cleanup::cleanup(obj.clone(), &ctx, &api).await {
                Ok(Some(action)) => finalizer::set(&api, obj.as_ref(), FINALIZER, false)
                    .await
                    .map(|written| {
                        if written.is_some() {
                            record_metadata_write(&ctx, obj.as_ref(), None);
                        }
                        ctx.forget_written(&uid);
                        action
                    }),
                // The delete is held (approval, lockout guard, dry run): the finalizer stays.
                Ok(None) => Ok(Action::requeue(ctx.resync())),
                Err(e) => Err(e),
            }
        } else {
            ctx.forget_written(&uid);
            Ok(Action::await_change())
        }
    } else if ctx.config.dry_run {
        // A dry run deletes nothing, so it needs no finalizer (and leaves one it finds).
        apply(obj, &ctx, &api).await
    } else {
        // In the same reconcile, not in a reconcile of its own.
        match add_or_drop_finalizer(&ctx, &api, obj.as_ref()).await {
            Ok(()) => apply(obj, &ctx, &api).await,
            Err(e) => Err(e),
        }
    };
    ctx.metrics
        .reconcile_duration
        .get_or_create(&kind)
        .observe(started.elapsed().as_secs_f64());
    ctx.looks.record(K::KIND, &uid, result.as_ref().ok());
    result
}

/// Backoff for errors that escaped `apply` (API server trouble, cleanup failures).
pub fn error_policy<K: Managed>(obj: Arc<K>, err: &Error, ctx: Arc<Context>) -> Action {
    let labels = crate::metrics::ErrorLabels {
        kind: K::KIND.as_str().into(),
        reason: err.reason().as_str().into(),
    };
    ctx.metrics.reconcile_errors.get_or_create(&labels).inc();
    tracing::warn!(kind = %K::KIND, name = %obj.name_any(), namespace = ?obj.namespace(), error = %err, "reconcile failed");
    ctx.looks
        .record(K::KIND, &obj.uid().unwrap_or_default(), None);
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

/// One reconcile of a resource that is not being deleted: sync, then conclude into status.
async fn apply<K: Managed>(obj: Arc<K>, ctx: &Context, api: &Api<K>) -> Result<Action, Error> {
    let generation = obj.meta().generation;
    let old = obj.managed_status().cloned().unwrap_or_default();
    let mut status = old.clone();
    let paused = is_paused(obj.as_ref());
    let read_only = paused || obj.managed().management_policy == ManagementPolicy::ObserveOnly;
    let uid = obj.uid().unwrap_or_default();
    ctx.settle_sent_hash(&uid, old.write_only_hash.as_ref());
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
    let mode = sync::Mode { read_only, within };
    let outcome = sync::sync(obj.as_ref(), ctx, api, &mut status, mode, &mut secrets)
        .await
        .map_err(|e| {
            tracing::debug!(kind = %K::KIND, name = %obj.name_any(), step = e.step(), "sync step failed");
            e.into_error().redacted(&secrets)
        });
    if handling_request {
        tracing::info!(kind = %K::KIND, name = %obj.name_any(), namespace = %obj.namespace().unwrap_or_default(), requested_at = ?requested, "reconcile requested by annotation");
        status.last_handled_reconcile_at = requested;
    }
    if outcome.is_ok() {
        // Nothing waits any more: the provider matches, or the resource may not write.
        status.plan = None;
    }
    let concluding = status::Concluding {
        paused,
        generation,
        uid: &uid,
        period,
        old_ready: conditions::get(&old.conditions, READY).cloned(),
    };
    let (action, stalled) =
        status::conclude(ctx, obj.as_ref(), &mut status, &outcome, concluding).await;
    let synced = matches!(outcome, Ok(sync::Synced::InSync));
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
    status::set_awaiting_approval(&mut status, awaiting, generation);
    status.observed_generation = generation;
    if status != old {
        status::write_status(ctx, api, obj.as_ref(), &status).await?;
    }
    Ok(action)
}
