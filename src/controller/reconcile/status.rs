//! The end of a reconcile: its outcome as conditions (Ready, Synced, Stalled, AwaitingApproval,
//! Reconciling), an Event when the message is new, the next requeue, and the status write.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{controller::Action, events::EventType},
};
use serde_json::json;

use super::{PAUSED_REASON, publish, sync::Synced};
use crate::{
    controller::{
        context::Context,
        error::{Error, Hold},
        managed::Managed,
    },
    core::conditions::{
        self, AWAITING_APPROVAL, READY, RECONCILING, Reason, STALLED, SYNCED, Wanted,
    },
    crd::{Condition, ManagedStatus, PAUSED_ANNOTATION},
    metrics::Metrics,
    provider::ErrorClass,
};

pub(super) async fn write_status<K: Managed>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    status: &ManagedStatus,
) -> Result<(), Error> {
    crash_point!("status-write-before");
    let patch = json!({ "status": status.merge_patch() });
    let patched = api
        .patch_status(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    super::record_version(ctx, obj, patched.resource_version());
    crash_point!("status-write-after");
    ctx.metrics
        .status_writes
        .get_or_create(&Metrics::kind(K::KIND.as_str()))
        .inc();
    Ok(())
}

/// Synced while the paused annotation stops all writes.
fn paused_synced() -> Wanted {
    Wanted::new(
        SYNCED,
        false,
        PAUSED_REASON,
        format!("{PAUSED_ANNOTATION} is \"true\": no writes"),
    )
}

/// What [`conclude`] needs to know of the reconcile besides its outcome.
pub(super) struct Concluding<'a> {
    pub paused: bool,
    pub generation: Option<i64>,
    pub uid: &'a str,
    /// The resource's resync period.
    pub period: Option<std::time::Duration>,
    /// Ready before this reconcile (an Event is published only when its message changes).
    pub old_ready: Option<Condition>,
}

/// Sets the conditions of `outcome` in `status`, publishes an Event for a new failure, and says
/// when to look again. The second value: whether the resource is Stalled.
pub(super) async fn conclude<K: Managed>(
    ctx: &Context,
    obj: &K,
    status: &mut ManagedStatus,
    outcome: &Result<Synced, Error>,
    c: Concluding<'_>,
) -> (Action, bool) {
    let Concluding {
        paused,
        generation,
        uid,
        period,
        old_ready,
    } = c;
    let now = Time(jiff::Timestamp::now());
    let (ready, synced) = match outcome {
        Ok(Synced::InSync) => {
            ctx.succeeded(uid);
            let id = status.external_id.clone().unwrap_or_default();
            let provider = status.provider.clone().unwrap_or_default();
            let ready = Wanted::new(
                READY,
                true,
                Reason::Available,
                format!("in sync with {provider} object {id}"),
            );
            let synced = Wanted::new(
                SYNCED,
                true,
                Reason::ReconcileSuccess,
                conditions::UP_TO_DATE,
            );
            (ready, synced)
        }
        Ok(Synced::Drifted(paths)) => {
            ctx.succeeded(uid);
            let why = if paused { "paused" } else { "ObserveOnly" };
            let message = format!(
                "fields differ from the spec: {} ({why}: not corrected)",
                paths.join(", ")
            );
            let ready = Wanted::new(READY, false, Reason::Drifted, message);
            let synced = Wanted::new(SYNCED, true, Reason::Observed, conditions::OBSERVED_ONLY);
            (ready, synced)
        }
        Err(e) => {
            return concluded_with_error(ctx, obj, status, e, generation, uid, period, old_ready)
                .await;
        }
    };
    conditions::set(&mut status.conditions, ready, generation, now.clone());
    let synced = if paused { paused_synced() } else { synced };
    conditions::set(&mut status.conditions, synced, generation, now);
    (ctx.after_resync(period), false)
}

#[allow(clippy::too_many_arguments)]
async fn concluded_with_error<K: Managed>(
    ctx: &Context,
    obj: &K,
    status: &mut ManagedStatus,
    e: &Error,
    generation: Option<i64>,
    uid: &str,
    period: Option<std::time::Duration>,
    old_ready: Option<Condition>,
) -> (Action, bool) {
    let now = Time(jiff::Timestamp::now());
    let held = matches!(e, Error::Held { .. });
    let reason = e.reason();
    if !held {
        let labels = crate::metrics::ErrorLabels {
            kind: K::KIND.as_str().into(),
            reason: reason.as_str().into(),
        };
        ctx.metrics.reconcile_errors.get_or_create(&labels).inc();
    }
    let message = e.to_string();
    for type_ in [READY, SYNCED] {
        conditions::set(
            &mut status.conditions,
            Wanted::new(type_, false, reason, message.clone()),
            generation,
            now.clone(),
        );
    }
    let unchanged = old_ready
        .as_ref()
        .is_some_and(|c| c.reason == reason && c.message == message);
    if !unchanged {
        let wait = match e.class() {
            ErrorClass::RateLimited(w) => Some(w.as_secs_f64()),
            _ => None,
        };
        let (name, namespace) = (obj.name_any(), obj.namespace().unwrap_or_default());
        if held {
            tracing::info!(kind = %K::KIND, %name, %namespace, %reason, message = %message, "write held");
        } else {
            tracing::warn!(kind = %K::KIND, %name, %namespace, %reason, error = %message, retry_after_seconds = ?wait, "reconcile failed");
        }
        publish(ctx, obj, event_type(e), reason.as_str(), message.clone()).await;
    }
    if e.class() == ErrorClass::Credentials {
        crate::controller::provider_config::mark_unauthenticated(ctx, obj, &message).await;
    }
    let stalled = e.stalls();
    if stalled {
        conditions::set(
            &mut status.conditions,
            Wanted::new(STALLED, true, reason, message),
            generation,
            now,
        );
    }
    let action = match e.class() {
        // A held write is looked at again each resync (the plan follows new drift) and at once
        // when the spec or an approval annotation changes.
        _ if held => ctx.after_resync(period),
        ErrorClass::Transient => Action::requeue(ctx.backoff(uid)),
        ErrorClass::RateLimited(wait) => Action::requeue(wait),
        // What clears by itself, unwatched (a Secret that arrives late without a Secret watch,
        // an object made or freed at the provider), is looked at again within a resync; what
        // needs a person is looked at rarely (a fixed permission at the provider changes
        // nothing in the cluster) and at once on a spec change.
        ErrorClass::Permanent | ErrorClass::Credentials if e.clears_by_itself() => {
            Action::requeue(ctx.backoff(uid).min(ctx.resync_for(period)))
        }
        ErrorClass::Permanent | ErrorClass::Credentials => Action::requeue(ctx.stalled_recheck()),
    };
    (action, stalled)
}

/// Normal for a write held as expected (approval, dry run); Warning for a failure or a refusal.
pub(super) fn event_type(e: &Error) -> EventType {
    match e {
        Error::Held { hold, .. } if *hold != Hold::LockoutRisk => EventType::Normal,
        _ => EventType::Warning,
    }
}

/// AwaitingApproval and Reconciling (kstatus reads it as InProgress) while a plan waits for
/// approval; both removed otherwise.
pub(super) fn set_awaiting_approval(
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
    for (type_, reason) in [
        (AWAITING_APPROVAL, Reason::PlanPending),
        (RECONCILING, Reason::AwaitingApproval),
    ] {
        conditions::set(
            &mut status.conditions,
            Wanted::new(type_, true, reason, message.clone()),
            generation,
            now.clone(),
        );
    }
}

/// Records a held delete: the plan and conditions in status, an Event when the message is new.
pub(super) async fn write_held_delete<K: Managed>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    (mut status, held): (ManagedStatus, Error),
) -> Result<(), Error> {
    let generation = obj.meta().generation;
    let now = Time(jiff::Timestamp::now());
    let message = held.to_string();
    let reason = held.reason();
    let old = obj.managed_status().cloned().unwrap_or_default();
    let unchanged = conditions::get(&old.conditions, READY)
        .is_some_and(|c| c.reason == reason && c.message == message);
    for type_ in [READY, SYNCED] {
        conditions::set(
            &mut status.conditions,
            Wanted::new(type_, false, reason, message.clone()),
            generation,
            now.clone(),
        );
    }
    if held.stalls() {
        conditions::set(
            &mut status.conditions,
            Wanted::new(STALLED, true, reason, message.clone()),
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
        publish(ctx, obj, event_type(&held), reason.as_str(), message).await;
    }
    if status != old {
        write_status(ctx, api, obj, &status).await?;
    }
    Ok(())
}
