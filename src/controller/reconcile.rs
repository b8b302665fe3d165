//! The reconcile flow every managed kind shares:
//! resolve references -> validate -> observe -> diff -> create or update -> status.

use std::{sync::Arc, time::Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{
    Api, Resource, ResourceExt,
    api::{ListParams, Patch, PatchParams},
    runtime::{
        controller::Action,
        events::{Event, EventType},
        finalizer::{Error as FinalizerError, Event as FinalizerEvent, finalizer},
    },
};
use serde_json::json;

use super::{context::Context, error::Error, managed::Managed, registry::Account};
use crate::{
    core::{
        conditions::{self, READY, STALLED, SYNCED, Wanted},
        diff::diff,
    },
    crd::{
        DeletionPolicy, DriftRecord, FINALIZER, ManagedStatus, ManagementPolicy, PAUSED_ANNOTATION,
        ProviderOutputs,
    },
    metrics::Metrics,
    provider::{ErrorClass, ProviderError, Remote},
};

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
    let result = finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            FinalizerEvent::Apply(o) => apply(o, &ctx, &api).await,
            FinalizerEvent::Cleanup(o) => cleanup(o, &ctx).await,
        }
    })
    .await
    .map_err(|e| match e {
        FinalizerError::ApplyFailed(e) | FinalizerError::CleanupFailed(e) => e,
        other => Error::Finalizer(other.to_string()),
    });
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

async fn publish<K: Managed>(ctx: &Context, obj: &K, type_: EventType, reason: &str, note: String) {
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: reason.into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &obj.object_ref(&())).await {
        tracing::warn!(error = %e, "cannot publish event");
    }
}

async fn write_status<K: Managed>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    status: &ManagedStatus,
) -> Result<(), Error> {
    let patch = json!({ "status": status });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    ctx.metrics
        .status_writes
        .get_or_create(&Metrics::kind(K::KIND.as_str()))
        .inc();
    Ok(())
}

async fn apply<K: Managed>(obj: Arc<K>, ctx: &Context, api: &Api<K>) -> Result<Action, Error> {
    let generation = obj.meta().generation;
    let old = obj.managed_status().cloned().unwrap_or_default();
    let mut status = old.clone();
    let paused = is_paused(obj.as_ref());
    let read_only = paused || obj.managed().management_policy == ManagementPolicy::ObserveOnly;
    let outcome = sync(obj.as_ref(), ctx, api, &mut status, read_only).await;
    let now = Time(jiff::Timestamp::now());
    let uid = obj.uid().unwrap_or_default();
    let old_ready = conditions::get(&old.conditions, READY).cloned();
    let mut stalled = false;
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
            Action::requeue(ctx.resync())
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
            Action::requeue(ctx.resync())
        }
        Err(e) => {
            let labels = crate::metrics::ErrorLabels {
                kind: K::KIND.as_str().into(),
                reason: e.reason().into(),
            };
            ctx.metrics.reconcile_errors.get_or_create(&labels).inc();
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
                publish(
                    ctx,
                    obj.as_ref(),
                    EventType::Warning,
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
                ErrorClass::Transient => Action::requeue(ctx.backoff(&uid)),
                ErrorClass::RateLimited(wait) => Action::requeue(wait),
                // Permanent errors wait for a change of the spec or of a watched dependency.
                ErrorClass::Permanent | ErrorClass::Credentials => Action::await_change(),
            }
        }
    };
    if !stalled {
        conditions::remove(&mut status.conditions, STALLED);
    }
    status.observed_generation = generation;
    if status != old {
        write_status(ctx, api, obj.as_ref(), &status).await?;
    }
    Ok(action)
}

/// Refuses to take over a remote object another resource of the same kind already manages in
/// the same account. Only the namespaces this operator watches are searched.
async fn ensure_not_managed_elsewhere<K: Managed>(
    ctx: &Context,
    obj: &K,
    account: &Account,
    id: &str,
) -> Result<(), Error> {
    let provider = account.kind.as_str();
    let apis: Vec<Api<K>> = if ctx.config.namespaces.is_empty() {
        vec![Api::all(ctx.client.clone())]
    } else {
        ctx.config
            .namespaces
            .iter()
            .map(|ns| Api::namespaced(ctx.client.clone(), ns))
            .collect()
    };
    for api in apis {
        for other in api.list(&ListParams::default()).await?.items {
            let same_object = other.managed_status().is_some_and(|s| {
                s.external_id.as_deref() == Some(id) && s.provider.as_deref() == Some(provider)
            });
            if other.uid() == obj.uid() || !same_object {
                continue;
            }
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
    }
    Ok(())
}

async fn sync<K: Managed>(
    obj: &K,
    ctx: &Context,
    api: &Api<K>,
    status: &mut ManagedStatus,
    read_only: bool,
) -> Result<Synced, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let managed = obj.managed();
    let account = ctx
        .registry
        .resolve(&ns, &managed.provider_config_ref)
        .await?;
    let provider = account.provider.clone();
    let provider_name = account.kind.as_str();
    status.provider = Some(provider_name.to_string());
    let caps = provider.capabilities();
    let kind_caps = caps.kind(K::KIND).cloned().ok_or_else(|| {
        Error::refused(
            "Unsupported",
            format!("{provider_name} does not support {}", K::KIND),
        )
    })?;
    let desired = obj.desired(ctx).await?;
    let want = provider.desired_fields(&desired)?;

    let mut created = false;
    let mut remote: Option<Remote> = None;
    if let Some(id) = status.external_id.clone() {
        remote = provider.observe(K::KIND, &id).await?;
        if remote.is_none() {
            if managed.external_name.is_some() || !kind_caps.create || read_only {
                return Err(Error::dependency(
                    "RemoteNotFound",
                    format!("{provider_name} object {id} no longer exists"),
                ));
            }
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
            status.external_id = None;
        }
    } else if let Some(ext) = managed.external_name.clone() {
        let found = provider.observe(K::KIND, &ext).await?.ok_or_else(|| {
            Error::dependency(
                "RemoteNotFound",
                format!("spec.externalName {ext:?} does not exist at {provider_name}"),
            )
        })?;
        ensure_not_managed_elsewhere(ctx, obj, &account, &found.id).await?;
        status.external_id = Some(found.id.clone());
        write_status(ctx, api, obj, status).await?;
        publish(
            ctx,
            obj,
            EventType::Normal,
            "Adopted",
            format!("adopted {provider_name} object {}", found.id),
        )
        .await;
        remote = Some(found);
    }

    if remote.is_none() {
        let name = desired.name().to_string();
        match provider.find_by_name(K::KIND, &name).await? {
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
                status.external_id = Some(found.id.clone());
                status.pending_create = None;
                write_status(ctx, api, obj, status).await?;
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
                // Recorded before the create, so that a crash after it adopts instead of creating twice.
                status.pending_create = Some(name.clone());
                write_status(ctx, api, obj, status).await?;
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
                status.external_id = Some(made.id.clone());
                status.pending_create = None;
                status.write_only_hash = desired.write_only_hash();
                write_status(ctx, api, obj, status).await?;
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
    let hash = desired.write_only_hash();
    if hash.is_some() && hash != status.write_only_hash && !created {
        for path in provider.write_only_paths(&desired) {
            d.push(path);
        }
    }
    let mut latest = remote;
    if !d.is_empty() {
        if read_only {
            status.last_drift = Some(DriftRecord {
                time: jiff::Timestamp::now().to_string(),
                fields: d.paths.clone(),
            });
            set_outputs(status, &latest);
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
        let spec_changed = synced_generation != obj.meta().generation || created;
        latest = provider.update(&id, &desired, &latest, &d).await?;
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
}

async fn cleanup<K: Managed>(obj: Arc<K>, ctx: &Context) -> Result<Action, Error> {
    let managed = obj.managed();
    let status = obj.managed_status().cloned().unwrap_or_default();
    let Some(id) = status.external_id.clone() else {
        return Ok(Action::await_change());
    };
    let provider_name = status.provider.clone().unwrap_or_default();
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
        return Ok(Action::await_change());
    }
    let ns = obj.namespace().unwrap_or_default();
    let account = ctx
        .registry
        .resolve(&ns, &managed.provider_config_ref)
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
        return Ok(Action::await_change());
    }
    match account.provider.delete(K::KIND, &id).await {
        Ok(()) | Err(ProviderError::NotFound(_)) => {}
        Err(e) => {
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
    Ok(Action::await_change())
}
