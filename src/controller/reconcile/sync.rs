//! One sync of a managed resource with its provider, as named steps:
//! resolve -> observe -> adopt or create -> compare -> write -> outputs.
//! Each step is a function; [`StepError`] names the step a failure came from.

use std::time::Duration;

use kube::{Api, ResourceExt, runtime::events::EventType};

use super::{
    PAUSED_REASON,
    ids::{Claim, claim, known_external_id},
    publish,
};
use crate::{
    controller::{
        context::Context,
        error::{Error, Hold},
        gate::{self, Write},
        managed::Managed,
        registry::Account,
    },
    core::{
        conditions::{self, Reason, SYNCED},
        desired::Desired,
        diff::{Diff, diff},
        plan::Action as PlanAction,
        redact::Secrets,
    },
    crd::{DriftRecord, ManagedStatus, ProviderOutputs},
    metrics::Metrics,
    provider::{DynProvider, Fields, Remote},
};

/// How a sync ended when nothing failed.
pub(super) enum Synced {
    /// The remote object matches the spec (after an update, if one was needed).
    InSync,
    /// The remote object differs, and the resource may not write (ObserveOnly or paused).
    Drifted(Vec<String>),
}

/// A failed step of [`sync`]. The error inside is what the conditions show; the step is logged.
#[derive(Debug, thiserror::Error)]
pub(super) enum StepError {
    /// The ProviderConfig, its credentials, the desired state.
    #[error(transparent)]
    Resolve(Error),
    /// Reading the object this resource recorded.
    #[error(transparent)]
    Observe(Error),
    /// Taking over an existing object (spec.externalName, or found by name).
    #[error(transparent)]
    Adopt(Error),
    #[error(transparent)]
    Create(Error),
    /// Comparing with the provider (and re-reading it before a write).
    #[error(transparent)]
    Compare(Error),
    /// Closing the difference (an update, or a drift record under ObserveOnly).
    #[error(transparent)]
    Write(Error),
    /// Provider-generated values into status and the outputs target; the id into the annotation.
    #[error(transparent)]
    Outputs(Error),
}

impl StepError {
    pub(super) fn step(&self) -> &'static str {
        match self {
            Self::Resolve(_) => "resolve",
            Self::Observe(_) => "observe",
            Self::Adopt(_) => "adopt",
            Self::Create(_) => "create",
            Self::Compare(_) => "compare",
            Self::Write(_) => "write",
            Self::Outputs(_) => "outputs",
        }
    }

    pub(super) fn into_error(self) -> Error {
        match self {
            Self::Resolve(e)
            | Self::Observe(e)
            | Self::Adopt(e)
            | Self::Create(e)
            | Self::Compare(e)
            | Self::Write(e)
            | Self::Outputs(e) => e,
        }
    }
}

/// What a sync works with once the resource's references are resolved.
pub(super) struct Target {
    pub(super) account: Account,
    pub(super) provider: DynProvider,
    pub(super) provider_name: &'static str,
    /// The provider's API can create this kind (otherwise it can only be adopted).
    pub(super) can_create: bool,
    pub(super) desired: Desired,
    /// The normalised fields the spec sets.
    pub(super) want: Fields,
    /// The keyed hash of the spec's write-only values (computed once per sync).
    pub(super) write_only_hash: Option<String>,
    pub(super) uid: String,
}

/// The remote object, and how this sync came by it.
pub(super) struct Found {
    pub(super) remote: Remote,
    /// Created by this sync.
    pub(super) created: bool,
    /// Adopted in a dry run: nothing recorded, reported as WouldAdopt unless an update follows.
    pub(super) adopted_dry: bool,
    /// Read from the provider in this sync (not from the account's sweep).
    pub(super) read_live: bool,
    /// Its id went to the annotation in this sync (an adoption or a create).
    pub(super) id_recorded: bool,
}

/// What a sync knows of its resource beyond the object itself.
pub(super) struct Mode {
    /// ObserveOnly or paused: never write to the provider.
    pub read_only: bool,
    /// How old a sweep may be to serve this sync (`Some(0)`: read the provider live).
    pub within: Option<Duration>,
}

/// Brings the provider in line with `obj`'s spec, or reports why not. `secrets` collects the
/// values to cut out of any error message.
pub(super) async fn sync<K: Managed>(
    obj: &K,
    ctx: &Context,
    api: &Api<K>,
    status: &mut ManagedStatus,
    mode: Mode,
    secrets: &mut Secrets,
) -> Result<Synced, StepError> {
    let target = resolve(obj, ctx, status, secrets)
        .await
        .map_err(StepError::Resolve)?;
    let known_id = known_external_id(obj, status);
    let object_key = known_id
        .clone()
        .unwrap_or_else(|| target.desired.name().to_string());
    let _one_writer = ctx
        .lock_remote(format!("{}\n{object_key}", target.account.identity))
        .await;

    let observed = match known_id {
        Some(id) => observe(obj, ctx, api, &target, status, &mode, id)
            .await
            .map_err(StepError::Observe)?,
        None => None,
    };
    let found = match observed {
        Some(found) => found,
        None => match super::adopt_or_create::adopt(obj, ctx, api, &target, status, &mode)
            .await
            .map_err(StepError::Adopt)?
        {
            Some(found) => found,
            None => super::adopt_or_create::create(obj, ctx, api, &target, status, &mode)
                .await
                .map_err(StepError::Create)?,
        },
    };
    let (d, found) = compare::<K>(ctx, &target, status, found, &mode)
        .await
        .map_err(StepError::Compare)?;
    let (found, drifted) = write(obj, ctx, &target, status, d, found, &mode)
        .await
        .map_err(StepError::Write)?;
    outputs(obj, ctx, api, &target, status, &found, drifted)
        .await
        .map_err(StepError::Outputs)
}

/// Step 1: the account (ProviderConfig and credentials), the kind's capabilities and the desired
/// state with its normalised fields.
async fn resolve<K: Managed>(
    obj: &K,
    ctx: &Context,
    status: &mut ManagedStatus,
    secrets: &mut Secrets,
) -> Result<Target, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let account = ctx
        .registry
        .resolve(&ns, &obj.managed().provider_config_ref)
        .await?;
    secrets.extend(&account.secrets);
    let provider = account.provider.clone();
    let provider_name = account.kind.as_str();
    status.provider = Some(provider_name.into());
    let can_create = provider
        .capabilities()
        .kind(K::KIND)
        .map(|k| k.create)
        .ok_or_else(|| {
            Error::refused(
                Reason::Unsupported,
                format!(
                    "spec.providerConfigRef: {provider_name} does not support {}",
                    K::KIND
                ),
            )
        })?;
    let desired = obj.desired(ctx).await?;
    let desired =
        crate::controller::certificates::complete(ctx, obj, provider_name, status, desired).await?;
    secrets.extend(&desired.secrets());
    let want = provider.desired_fields(&desired)?;
    Ok(Target {
        write_only_hash: desired.write_only_hash(&account.hash_key()),
        uid: obj.uid().unwrap_or_default(),
        account,
        provider,
        provider_name,
        can_create,
        desired,
        want,
    })
}

/// Step 2: the object this resource recorded, by id. `None` when it was deleted outside the
/// operator and may be created again (its id is forgotten).
async fn observe<K: Managed>(
    obj: &K,
    ctx: &Context,
    api: &Api<K>,
    t: &Target,
    status: &mut ManagedStatus,
    mode: &Mode,
    id: String,
) -> Result<Option<Found>, Error> {
    let provider_name = t.provider_name;
    status.external_id = Some(id.clone());
    let observed = ctx
        .observations
        .observe(&t.account, K::KIND, &id, mode.within)
        .await?;
    if let Some(remote) = observed.remote {
        // Ours, found by id: a name recorded before an interrupted create is no longer needed.
        status.pending_create = None;
        return Ok(Some(Found {
            remote,
            created: false,
            adopted_dry: false,
            read_live: observed.live,
            id_recorded: false,
        }));
    }
    if obj.managed().external_name.is_some() || !t.can_create || mode.read_only {
        return Err(Error::dependency(
            Reason::RemoteNotFound,
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
        claim(ctx, api, obj, Claim::Forget).await?;
    }
    status.external_id = None;
    status.pending_create = None;
    Ok(None)
}

/// Step 4: the paths that differ, write-only values included when their hash changed. Before a
/// write the object is read again if it came from the sweep (a resync old, maybe stale).
async fn compare<K: Managed>(
    ctx: &Context,
    t: &Target,
    status: &ManagedStatus,
    found: Found,
    mode: &Mode,
) -> Result<(Diff, Found), Error> {
    let mut d = diff(&t.want, &found.remote.fields);
    let hash = t.write_only_hash.clone();
    let sent = ctx
        .sent_hash(&t.uid)
        .or_else(|| status.write_only_hash.clone());
    if hash.is_some() && hash != sent && !found.created {
        for path in t.provider.write_only_paths(&t.desired) {
            d.push(path);
        }
    }
    if d.is_empty() || mode.read_only || found.created || found.read_live {
        return Ok((d, found));
    }
    let id = found.remote.id.clone();
    let latest = ctx
        .observations
        .observe_live(&t.account, K::KIND, &id)
        .await?
        .ok_or_else(|| {
            Error::dependency(
                Reason::RemoteNotFound,
                format!(
                    "{} object {id} was deleted while being compared",
                    t.provider_name
                ),
            )
        })?;
    let write_only = std::mem::take(&mut d).paths;
    d = diff(&t.want, &latest.fields);
    for path in write_only.into_iter().filter(|p| !t.want.contains_key(p)) {
        d.push(path);
    }
    Ok((
        d,
        Found {
            remote: latest,
            read_live: true,
            ..found
        },
    ))
}

/// Step 5: closes the difference with one update (through the gate), or records it as drift
/// where the resource may not write. Returns the object as it now is and the drifted paths.
async fn write<K: Managed>(
    obj: &K,
    ctx: &Context,
    t: &Target,
    status: &mut ManagedStatus,
    d: Diff,
    found: Found,
    mode: &Mode,
) -> Result<(Found, Option<Vec<String>>), Error> {
    if d.is_empty() {
        return Ok((found, None));
    }
    let drift = DriftRecord {
        time: jiff::Timestamp::now().to_string(),
        fields: d.paths.clone(),
    };
    if mode.read_only {
        status.last_drift = Some(Box::new(drift));
        return Ok((found, Some(d.paths)));
    }
    let latest = &found.remote;
    let provider_name = t.provider_name;
    let id = latest.id.clone();
    // A drift is a change after this generation was last compared with the provider (in sync,
    // observed, or paused). observedGeneration is not enough: it also moves when a reconcile
    // fails (say, waiting for a connection), and the first update after that wait carries out
    // the spec; it repairs no drift.
    let synced_generation = conditions::get(&status.conditions, SYNCED)
        .filter(|c| c.status == "True" || c.reason == PAUSED_REASON)
        .and_then(|c| c.observed_generation);
    let spec_changed = synced_generation != obj.meta().generation
        || found.created
        || ctx.certificates.rotating(&t.uid);
    let hash = t.write_only_hash.clone();
    let write_only: Vec<String> = t
        .provider
        .write_only_paths(&t.desired)
        .into_iter()
        .filter(|p| d.paths.contains(p))
        .collect();
    gate::check(
        ctx,
        obj,
        &t.account,
        status,
        &Write {
            action: PlanAction::Update,
            object: &id,
            want: &t.want,
            current: Some(&latest.fields),
            paths: d.paths.clone(),
            write_only,
            write_only_hash: hash.as_deref(),
        },
    )
    .await?;
    crash_point!("update-before");
    let updated = t.provider.update(&id, &t.desired, latest, &d).await?;
    crash_point!("update-after");
    ctx.observations.record(&t.account, K::KIND, &updated);
    ctx.record_sent_hash(&t.uid, hash.as_ref());
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
        status.last_drift = Some(Box::new(drift));
        publish(
            ctx,
            obj,
            EventType::Normal,
            "DriftRepaired",
            format!("corrected {provider_name} object {id}: {fields}"),
        )
        .await;
    }
    Ok((
        Found {
            remote: updated,
            ..found
        },
        None,
    ))
}

/// Step 6: the provider-generated values into status and the outputs target; the id into the
/// annotation unless an adoption or create of this sync put it there.
async fn outputs<K: Managed>(
    obj: &K,
    ctx: &Context,
    api: &Api<K>,
    t: &Target,
    status: &mut ManagedStatus,
    found: &Found,
    drifted: Option<Vec<String>>,
) -> Result<Synced, Error> {
    let latest = &found.remote;
    set_outputs(status, latest);
    crate::controller::outputs::write(ctx, obj, status).await?;
    if let Some(paths) = drifted {
        return Ok(Synced::Drifted(paths));
    }
    if found.adopted_dry {
        return Err(Error::Held {
            hold: Hold::WouldAdopt,
            message: format!(
                "dry run: would adopt {} object {}, which matches the spec",
                t.provider_name, latest.id
            ),
        });
    }
    if !ctx.config.dry_run && !found.id_recorded {
        claim(ctx, api, obj, Claim::Id(&latest.id)).await?;
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
    crate::controller::certificates::observe_remote(status, remote);
}
