//! ProviderConfig and ClusterProviderConfig: Ready says whether the provider accepted the credentials.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::controller::Action,
};
use serde_json::json;

use super::{context::Context, error::Error, managed::Managed, registry::provider_kind};
use crate::{
    core::conditions::{self, READY, Wanted},
    crd::{ClusterProviderConfig, ProviderConfig, ProviderConfigKind, ProviderConfigStatus},
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
    let status = verify(
        &ctx,
        &name,
        &pc.spec.account,
        &ns,
        pc.meta().generation,
        pc.status.as_ref(),
    )
    .await;
    finish(&ctx, &api, &pc.name_any(), pc.status.as_ref(), status).await
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
    let status = verify(
        &ctx,
        &name,
        &pc.spec.account,
        &ns,
        pc.meta().generation,
        pc.status.as_ref(),
    )
    .await;
    finish(&ctx, &api, &pc.name_any(), pc.status.as_ref(), status).await
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
        Ok(a) => a.provider.verify_credentials().await.map_err(Error::from),
        Err(e) => Err(e),
    };
    let action = match result {
        Ok(()) => {
            conditions::set(
                &mut status.conditions,
                Wanted::new(
                    READY,
                    true,
                    "CredentialsAccepted",
                    "the provider accepted the credentials",
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
                tracing::warn!(config = %name, reason = e.reason(), error = %message, "provider config check failed");
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
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
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
            .get_or_create(&crate::metrics::Metrics::kind("ProviderConfig"))
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
        Wanted::new(READY, false, "Unauthenticated", message),
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
