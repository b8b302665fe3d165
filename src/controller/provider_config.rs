//! ProviderConfig and ClusterProviderConfig: Ready says whether the provider accepted the credentials.

use crate::core::reason::Reason;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{controller::Action, reflector::ObjectRef},
};
use serde_json::json;

use super::{context::Context, error::Error, finalizer, managed::Managed, registry::provider_kind};
use crate::{
    core::conditions::{self, READY, Wanted},
    crd::{
        ClusterProviderConfig, ConnectionProfile, EnterpriseConnection, FINALIZER,
        IN_USE_FINALIZER, OrgRoleMapping, ProviderConfig, ProviderConfigKind, ProviderConfigStatus,
    },
    provider::ErrorClass,
};

/// Verifies the credentials of a namespaced ProviderConfig.
pub async fn reconcile_namespaced(
    pc: Arc<ProviderConfig>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let ns = pc.namespace().unwrap_or_default();
    let name = format!("ProviderConfig {ns}/{}", pc.name_any());
    let api: Api<ProviderConfig> = Api::namespaced(ctx.client.clone(), &ns);
    let found = users(
        &ctx,
        ProviderConfigKind::ProviderConfig,
        &pc.name_any(),
        Some(&ns),
    );
    let account = Verify {
        name: &name,
        account: &pc.spec.account,
        secret_ns: &ns,
    };
    check_config(&ctx, &api, pc.as_ref(), pc.status.as_ref(), &found, account).await
}

/// Verifies the credentials of a ClusterProviderConfig.
pub async fn reconcile_cluster(
    pc: Arc<ClusterProviderConfig>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let name = format!("ClusterProviderConfig {}", pc.name_any());
    let ns = pc
        .spec
        .account
        .credentials_secret_ref
        .namespace
        .clone()
        .unwrap_or_default();
    let api: Api<ClusterProviderConfig> = Api::all(ctx.client.clone());
    let found = users(
        &ctx,
        ProviderConfigKind::ClusterProviderConfig,
        &pc.name_any(),
        None,
    );
    let account = Verify {
        name: &name,
        account: &pc.spec.account,
        secret_ns: &ns,
    };
    check_config(&ctx, &api, pc.as_ref(), pc.status.as_ref(), &found, account).await
}

/// The account of a ProviderConfig or ClusterProviderConfig to verify.
struct Verify<'a> {
    /// `ProviderConfig ns/name` or `ClusterProviderConfig name`, for messages.
    name: &'a str,
    account: &'a crate::crd::ProviderAccount,
    /// Where its credentials Secret lives.
    secret_ns: &'a str,
}

/// Both kinds alike: guard the in-use finalizer, verify the credentials, write status.
async fn check_config<K>(
    ctx: &Context,
    api: &Api<K>,
    pc: &K,
    old: Option<&ProviderConfigStatus>,
    users: &[String],
    v: Verify<'_>,
) -> Result<Action, Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    if let Some(action) = guard_usage(ctx, api, pc, old, users).await? {
        return Ok(action);
    }
    let (mut status, action) = verify(
        ctx,
        v.name,
        v.account,
        v.secret_ns,
        pc.meta().generation,
        old,
    )
    .await;
    status.used_by = Some(count(users));
    finish(ctx, api, &pc.name_any(), old, (status, action)).await
}

fn count(users: &[String]) -> u32 {
    u32::try_from(users.len()).unwrap_or(u32::MAX)
}

/// The resources that need this configuration to apply their deletion policy: those that carry
/// the resource finalizer (Delete, Manage), as "Kind ns/name".
fn users(ctx: &Context, kind: ProviderConfigKind, name: &str, ns: Option<&str>) -> Vec<String> {
    let mut all = users_of::<EnterpriseConnection>(ctx, kind, name, ns);
    all.extend(users_of::<ConnectionProfile>(ctx, kind, name, ns));
    all.extend(users_of::<OrgRoleMapping>(ctx, kind, name, ns));
    all.sort();
    all
}

/// From memory: the store holds every resource in the watched namespaces.
fn users_of<K: Managed>(
    ctx: &Context,
    kind: ProviderConfigKind,
    name: &str,
    ns: Option<&str>,
) -> Vec<String> {
    K::store(ctx.registry.stores())
        .state()
        .iter()
        .filter(|o| ns.is_none() || o.namespace().as_deref() == ns)
        .filter(|o| {
            let r = &o.managed().provider_config_ref;
            r.kind == kind && r.name == name && o.finalizers().iter().any(|f| f == FINALIZER)
        })
        .map(|o| {
            format!(
                "{} {}/{}",
                K::KIND,
                o.namespace().unwrap_or_default(),
                o.name_any()
            )
        })
        .collect()
}

/// Keeps the in-use finalizer while resources use the configuration. When it is being deleted
/// and still used, reports who uses it and returns the action (no credentials check); once
/// unused, lets it go.
async fn guard_usage<K>(
    ctx: &Context,
    api: &Api<K>,
    pc: &K,
    old: Option<&ProviderConfigStatus>,
    users: &[String],
) -> Result<Option<Action>, Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    if pc.meta().deletion_timestamp.is_none() {
        // Added when used; never dropped while the object lives (a resource may be adding
        // itself at this moment).
        if !users.is_empty() {
            finalizer::set(api, pc, IN_USE_FINALIZER, true).await?;
        }
        return Ok(None);
    }
    if users.is_empty() {
        finalizer::set(api, pc, IN_USE_FINALIZER, false).await?;
        return Ok(Some(Action::await_change()));
    }
    let mut status = old.cloned().unwrap_or_default();
    let shown: Vec<&str> = users.iter().take(5).map(String::as_str).collect();
    let more = users.len().saturating_sub(shown.len());
    let message = format!(
        "being deleted, but used by {}{}: deleted once they are",
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    );
    conditions::set(
        &mut status.conditions,
        Wanted::new(READY, false, Reason::InUse, message),
        pc.meta().generation,
        Time(jiff::Timestamp::now()),
    );
    status.used_by = Some(count(users));
    finish(
        ctx,
        api,
        &pc.name_any(),
        old,
        (status, Action::requeue(std::time::Duration::from_secs(5))),
    )
    .await
    .map(Some)
}

/// Marks the configuration a resource uses as in use before the resource takes its own
/// finalizer: from then on the configuration cannot go before the resource's deletion is done.
pub async fn mark_in_use<K: Managed>(ctx: &Context, obj: &K) -> Result<(), Error> {
    let r = &obj.managed().provider_config_ref;
    let ns = obj.namespace().unwrap_or_default();
    let stores = ctx.registry.stores();
    let marked = |f: &[String]| f.iter().any(|f| f == IN_USE_FINALIZER);
    match r.kind {
        ProviderConfigKind::ProviderConfig => {
            let held = stores
                .provider_configs
                .get(&ObjectRef::new(&r.name).within(&ns));
            if held.is_some_and(|pc| marked(pc.finalizers())) {
                return Ok(());
            }
            add_in_use(
                &Api::<ProviderConfig>::namespaced(ctx.client.clone(), &ns),
                &r.name,
            )
            .await?;
        }
        // A namespace-scoped install only reads ClusterProviderConfigs; the cluster-wide one that
        // writes them adds the finalizer when it next looks at the configuration.
        ProviderConfigKind::ClusterProviderConfig
            if !ctx.config.manages_cluster_provider_configs() => {}
        ProviderConfigKind::ClusterProviderConfig => {
            let held = stores
                .cluster_provider_configs
                .get(&ObjectRef::new(&r.name));
            if held.is_some_and(|pc| marked(pc.finalizers())) {
                return Ok(());
            }
            add_in_use(
                &Api::<ClusterProviderConfig>::all(ctx.client.clone()),
                &r.name,
            )
            .await?;
        }
    }
    Ok(())
}

/// Adds the in-use finalizer to a configuration read afresh (the copy in memory may lag). New
/// resources of one configuration arrive together and race to add it: a patch that lost (its
/// test of the list failed) reads again ([`finalizer::set`]), and finds the finalizer there.
async fn add_in_use<K>(api: &Api<K>, name: &str) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.get_opt(name).await? {
        Some(pc) => finalizer::set(api, &pc, IN_USE_FINALIZER, true)
            .await
            .map(drop),
        None => Ok(()),
    }
}

pub fn error_policy<K>(_: Arc<K>, err: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %err, "provider config reconcile failed");
    match err.class() {
        ErrorClass::RateLimited(wait) => Action::requeue(wait),
        _ => Action::requeue(ctx.backoff("provider-config")),
    }
}

async fn verify(
    ctx: &Context,
    name: &str,
    account: &crate::crd::ProviderAccount,
    secret_ns: &str,
    generation: Option<i64>,
    old: Option<&ProviderConfigStatus>,
) -> (ProviderConfigStatus, Action) {
    let mut status = old.cloned().unwrap_or_default();
    status.provider = provider_kind(account).map(|k| k.to_string());
    status.observed_generation = generation;
    let now = Time(jiff::Timestamp::now());
    let result = match ctx
        .registry
        .account(name, account, secret_ns, generation)
        .await
    {
        Ok(a) => {
            // A check of the same account and key through another config this period stands
            // for this one (a period, less the resync jitter, so that one of them checks anew).
            let fresh = ctx.resync().mul_f64(0.9);
            let key = a.credentials_key();
            if ctx.registry.accepted.lately(&key, fresh) {
                Ok(())
            } else {
                let checked = a
                    .provider
                    .verify_credentials()
                    .await
                    .map_err(|e| Error::from(e).redacted(&a.secrets));
                ctx.registry.accepted.checked(key, checked.is_ok(), fresh);
                checked
            }
        }
        Err(e) => Err(e),
    };
    let action = match result {
        Ok(()) => {
            conditions::set(
                &mut status.conditions,
                Wanted::new(
                    READY,
                    true,
                    Reason::CredentialsAccepted,
                    conditions::CREDENTIALS_ACCEPTED,
                ),
                generation,
                now,
            );
            Action::requeue(ctx.resync())
        }
        Err(e) => {
            // Logged once per change of reason or message, not at every retry.
            let message = e.to_string();
            if !conditions::get(&status.conditions, READY)
                .is_some_and(|c| c.reason == e.reason() && c.message == message)
            {
                tracing::warn!(config = %name, reason = %e.reason(), error = %message, "provider config check failed");
            }
            conditions::set(
                &mut status.conditions,
                Wanted::new(READY, false, e.reason(), message),
                generation,
                now,
            );
            match e.class() {
                ErrorClass::Transient => Action::requeue(ctx.backoff(name)),
                ErrorClass::RateLimited(wait) => Action::requeue(wait),
                // Refused or missing credentials: a fixed Secret must be noticed soon.
                ErrorClass::Permanent | ErrorClass::Credentials => {
                    Action::requeue(ctx.credentials_recheck())
                }
            }
        }
    };
    (status, action)
}

async fn finish<K>(
    ctx: &Context,
    api: &Api<K>,
    name: &str,
    old: Option<&ProviderConfigStatus>,
    (status, action): (ProviderConfigStatus, Action),
) -> Result<Action, Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    if old != Some(&status) {
        api.patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({ "status": status })),
        )
        .await?;
        ctx.metrics
            .status_writes
            .get_or_create(&crate::metrics::Metrics::kind(&K::kind(&())))
            .inc();
    }
    Ok(action)
}

/// Marks the ProviderConfig a resource uses as not Ready after the provider refused its credentials.
pub async fn mark_unauthenticated<K: Managed>(ctx: &Context, obj: &K, message: &str) {
    let r = &obj.managed().provider_config_ref;
    let now = Time(jiff::Timestamp::now());
    let result = match r.kind {
        ProviderConfigKind::ProviderConfig => {
            let api: Api<ProviderConfig> =
                Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
            mark(api, &r.name, message, now).await
        }
        ProviderConfigKind::ClusterProviderConfig => {
            let api: Api<ClusterProviderConfig> = Api::all(ctx.client.clone());
            mark(api, &r.name, message, now).await
        }
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot mark provider config");
    }
}

trait HasConfigStatus {
    fn config_status(&self) -> Option<&ProviderConfigStatus>;
}
impl HasConfigStatus for ProviderConfig {
    fn config_status(&self) -> Option<&ProviderConfigStatus> {
        self.status.as_ref()
    }
}
impl HasConfigStatus for ClusterProviderConfig {
    fn config_status(&self) -> Option<&ProviderConfigStatus> {
        self.status.as_ref()
    }
}

async fn mark<K>(api: Api<K>, name: &str, message: &str, now: Time) -> Result<(), kube::Error>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + HasConfigStatus,
{
    let Some(pc) = api.get_opt(name).await? else {
        return Ok(());
    };
    let mut status = pc.config_status().cloned().unwrap_or_default();
    let old = status.clone();
    conditions::set(
        &mut status.conditions,
        Wanted::new(READY, false, Reason::Unauthenticated, message),
        pc.meta().generation,
        now,
    );
    if status != old {
        api.patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({ "status": status })),
        )
        .await?;
    }
    Ok(())
}
