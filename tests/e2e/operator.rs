//! The operator in-process against the real API server and the provider emulators.

use std::{sync::Arc, time::Duration};

use k8s_openapi::api::core::v1::Event;
use kube::{
    Api, Client, Resource,
    api::{DeleteParams, ListParams, Patch, PatchParams},
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use ssoperator::{
    config::Config,
    controller,
    crd::{ConnectionProfile, EnterpriseConnection, ManagedStatus, OrgRoleMapping, ProviderConfig},
    metrics::{Metrics, sum_samples},
};
use ssoperator_emulators::{
    self as emulator, Running,
    demo::{self, DemoEmulators},
};
use tokio::sync::oneshot;

use crate::support;

/// A namespaced kind these helpers can get, patch and delete.
pub trait Namespaced:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + std::fmt::Debug
{
}
impl<K> Namespaced for K where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
{
}

pub const RESYNC: Duration = Duration::from_secs(2);
const TIMEOUT: Duration = Duration::from_secs(60);

/// A running operator scoped to one namespace; stops when dropped.
pub struct Operator {
    pub metrics: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Operator {
    pub fn start(client: &Client, ns: &str) -> Self {
        Self::start_with(client, ns, |_| {})
    }

    /// Starts with the test settings, then `tweak` (e.g. the chart's `--watch-secrets=false`).
    pub fn start_with(client: &Client, ns: &str, tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::defaults();
        config.namespaces = vec![ns.to_string()];
        config.resync = RESYNC;
        config.default_rate = 100;
        config.identity = Some(format!("e2e-{ns}"));
        // Scoped to one namespace, so it reports no ClusterProviderConfig (the chart's default for
        // a namespace-scoped install). A test that checks their status turns it on: an operator
        // that reports them verifies every one in the cluster, and all tests share one API
        // server, so every test's operator would call every other test's emulators.
        config.cluster_provider_configs = Some(false);
        tweak(&mut config);
        let metrics = Arc::new(Metrics::default());
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(controller::run(
            client.clone(),
            config,
            metrics.clone(),
            async {
                let _ = rx.await;
            },
        ));
        Self {
            metrics,
            stop: Some(tx),
            task,
        }
    }

    /// Status updates written so far, ClusterProviderConfigs left out: every test's operator
    /// reports every ClusterProviderConfig in the shared API server, so another test's new one
    /// can cost a write in any test's window.
    pub fn status_writes(&self) -> u64 {
        let all = sum_samples(&self.metrics.render(), "ssoperator_status_writes_total");
        let cluster = self
            .metrics
            .render()
            .lines()
            .filter(|l| {
                l.starts_with("ssoperator_status_writes_total")
                    && l.contains("kind=\"ClusterProviderConfig\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>();
        (all - cluster) as u64
    }

    /// Stops at once, as a crash would (no graceful shutdown).
    pub fn kill(mut self) {
        self.stop.take();
        self.task.abort();
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.task.abort();
    }
}

pub async fn serve(router: axum::Router) -> Running {
    emulator::serve(router, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

pub async fn apply(client: &Client, ns: &str, manifest: Value) {
    let gvk: kube::core::GroupVersionKind = serde_json::from_value(json!({
        "group": manifest["apiVersion"].as_str().unwrap().split('/').next().unwrap(),
        "version": manifest["apiVersion"].as_str().unwrap().split('/').nth(1).unwrap_or("v1"),
        "kind": manifest["kind"],
    }))
    .unwrap_or_else(|_| {
        kube::core::GroupVersionKind::gvk("", "v1", manifest["kind"].as_str().unwrap())
    });
    let gvk = if manifest["apiVersion"] == "v1" {
        kube::core::GroupVersionKind::gvk("", "v1", manifest["kind"].as_str().unwrap())
    } else {
        gvk
    };
    let ar = kube::core::ApiResource::from_gvk(&gvk);
    let api: Api<kube::core::DynamicObject> = match manifest["kind"].as_str() {
        Some("ClusterProviderConfig" | "Namespace") => Api::all_with(client.clone(), &ar),
        _ => Api::namespaced_with(client.clone(), ns, &ar),
    };
    let name = manifest["metadata"]["name"].as_str().unwrap().to_string();
    api.patch(
        &name,
        &PatchParams::apply("e2e").force(),
        &Patch::Apply(&manifest),
    )
    .await
    .unwrap();
}

pub async fn secret(client: &Client, ns: &str, name: &str, data: &[(&str, &str)]) {
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    apply(client, ns, json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data})).await;
}

pub async fn provider_config(
    client: &Client,
    ns: &str,
    name: &str,
    block: Value,
    secret: &str,
    endpoint: &str,
) {
    let mut spec = json!({"credentialsSecretRef": {"name": secret}, "endpoint": endpoint});
    let (k, v) = block.as_object().unwrap().iter().next().unwrap();
    spec[k] = v.clone();
    apply(client, ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "ProviderConfig", "metadata": {"name": name}, "spec": spec})).await;
}

/// A provider account: the credentials Secret `secret` holding `creds`, then the ProviderConfig
/// `name` (its provider `block`, e.g. `{"clerk": {}}`) that uses it at `endpoint`.
pub async fn provider_account(
    client: &Client,
    ns: &str,
    name: &str,
    block: Value,
    endpoint: &str,
    secret_name: &str,
    creds: &[(&str, &str)],
) {
    secret(client, ns, secret_name, creds).await;
    provider_config(client, ns, name, block, secret_name, endpoint).await;
}

// Accounts under the usual names: the ProviderConfig "clerk", "lr", "auth0", "atlas" or
// "qovery", and its credentials Secret "<name>-creds".

pub async fn clerk_account(client: &Client, ns: &str, endpoint: &str, secret_key: &str) {
    let creds = [("secretKey", secret_key)];
    let block = json!({"clerk": {}});
    provider_account(client, ns, "clerk", block, endpoint, "clerk-creds", &creds).await;
}

pub async fn loginradius_account(
    client: &Client,
    ns: &str,
    endpoint: &str,
    organization_id: &str,
    (api_key, api_secret): (&str, &str),
) {
    let creds = [("apiKey", api_key), ("apiSecret", api_secret)];
    let block = json!({"loginradius": {"organizationId": organization_id}});
    provider_account(client, ns, "lr", block, endpoint, "lr-creds", &creds).await;
}

pub async fn auth0_account(
    client: &Client,
    ns: &str,
    endpoint: &str,
    domain: &str,
    (client_id, client_secret): (&str, &str),
) {
    let creds = [("clientId", client_id), ("clientSecret", client_secret)];
    let block = json!({"auth0": {"domain": domain}});
    provider_account(client, ns, "auth0", block, endpoint, "auth0-creds", &creds).await;
}

pub async fn atlas_account(
    client: &Client,
    ns: &str,
    endpoint: &str,
    federation_settings_id: &str,
    (public_key, private_key): (&str, &str),
) {
    let creds = [("publicKey", public_key), ("privateKey", private_key)];
    let block = json!({"atlas": {"federationSettingsId": federation_settings_id}});
    provider_account(client, ns, "atlas", block, endpoint, "atlas-creds", &creds).await;
}

pub async fn qovery_account(
    client: &Client,
    ns: &str,
    endpoint: &str,
    organization_id: &str,
    token: &str,
) {
    let creds = [("token", token)];
    let block = json!({"qovery": {"organizationId": organization_id}});
    provider_account(
        client,
        ns,
        "qovery",
        block,
        endpoint,
        "qovery-creds",
        &creds,
    )
    .await;
}

/// The demo account of `provider` (one of `demo::PROVIDERS`): its ProviderConfig block and the
/// credentials its emulator in `DemoEmulators` accepts.
pub fn demo_credentials(provider: &str) -> (Value, Vec<(&'static str, &'static str)>) {
    match provider {
        "clerk" => (
            json!({"clerk": {}}),
            vec![("secretKey", demo::CLERK_SECRET_KEY)],
        ),
        "loginradius" => (
            json!({"loginradius": {"organizationId": demo::LOGINRADIUS_ORG}}),
            vec![
                ("apiKey", demo::LOGINRADIUS_API_KEY),
                ("apiSecret", demo::LOGINRADIUS_API_SECRET),
            ],
        ),
        "auth0" => (
            json!({"auth0": {"domain": demo::AUTH0_DOMAIN}}),
            vec![
                ("clientId", demo::AUTH0_CLIENT_ID),
                ("clientSecret", demo::AUTH0_CLIENT_SECRET),
            ],
        ),
        "qovery" => (
            json!({"qovery": {"organizationId": demo::QOVERY_ORG}}),
            vec![("token", demo::QOVERY_TOKEN)],
        ),
        "atlas" => (
            json!({"atlas": {"federationSettingsId": demo::ATLAS_FEDERATION}}),
            vec![
                ("publicKey", demo::ATLAS_PUBLIC_KEY),
                ("privateKey", demo::ATLAS_PRIVATE_KEY),
            ],
        ),
        other => panic!("no demo account for {other}"),
    }
}

/// `provider_account` with the demo account of `provider` at its emulator in `e`; the Secret is
/// `creds`.
pub async fn demo_account(
    client: &Client,
    ns: &str,
    name: &str,
    e: &DemoEmulators,
    provider: &str,
) {
    let (block, creds) = demo_credentials(provider);
    provider_account(
        client,
        ns,
        name,
        block,
        &e.endpoints()[provider],
        "creds",
        &creds,
    )
    .await;
}

/// Waits until the ProviderConfig `name` is Ready=True.
pub async fn provider_ready(client: &Client, ns: &str, name: &str) -> ProviderConfig {
    wait_for::<ProviderConfig>(client, ns, name, "Ready", |pc| {
        pc_ready(pc).is_some_and(|(status, _)| status == "True")
    })
    .await
}

/// Waits until `pred` holds for the named object, failing with its last state after the timeout.
pub async fn wait_for<K: Namespaced>(
    client: &Client,
    ns: &str,
    name: &str,
    what: &str,
    pred: impl Fn(&K) -> bool,
) -> K {
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let got = api.get_opt(name).await.unwrap();
        if let Some(o) = &got
            && pred(o)
        {
            return o.clone();
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {name} to be {what}; last seen: {got:#?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn wait_gone<K: Namespaced>(client: &Client, ns: &str, name: &str) {
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while api.get_opt(name).await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} was not deleted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn condition(status: Option<&ManagedStatus>, type_: &str) -> Option<(String, String, String)> {
    status?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| {
            (
                c.status.to_string(),
                c.reason.to_string(),
                c.message.to_string(),
            )
        })
}

pub fn ready<K: HasManagedStatus>(o: &K) -> bool {
    let s = o.managed_status();
    condition(s, "Ready").is_some_and(|c| c.0 == "True")
        && s.and_then(|s| s.observed_generation) == o.meta().generation
}

pub fn reason<K: HasManagedStatus>(o: &K) -> String {
    condition(o.managed_status(), "Ready")
        .map(|c| c.1)
        .unwrap_or_default()
}

pub fn message<K: HasManagedStatus>(o: &K) -> String {
    condition(o.managed_status(), "Ready")
        .map(|c| c.2)
        .unwrap_or_default()
}

pub trait HasManagedStatus: Resource {
    fn managed_status(&self) -> Option<&ManagedStatus>;
}
impl HasManagedStatus for EnterpriseConnection {
    fn managed_status(&self) -> Option<&ManagedStatus> {
        self.status.as_ref()
    }
}
impl HasManagedStatus for ConnectionProfile {
    fn managed_status(&self) -> Option<&ManagedStatus> {
        self.status.as_ref()
    }
}
impl HasManagedStatus for OrgRoleMapping {
    fn managed_status(&self) -> Option<&ManagedStatus> {
        self.status.as_ref()
    }
}

pub fn pc_ready(pc: &ProviderConfig) -> Option<(String, String)> {
    pc.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.to_string(), c.reason.to_string()))
}

/// Event reasons recorded for an object.
pub async fn event_reasons(client: &Client, ns: &str, name: &str) -> Vec<String> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    let lp = ListParams::default().fields(&format!("involvedObject.name={name}"));
    api.list(&lp)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| e.reason)
        .collect()
}

pub async fn wait_event(client: &Client, ns: &str, name: &str, reason: &str) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let reasons = event_reasons(client, ns, name).await;
        if reasons.iter().any(|r| r == reason) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {reason} event for {name}; saw {reasons:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

pub async fn patch_spec<K: Namespaced>(client: &Client, ns: &str, name: &str, spec: Value) {
    merge_patch::<K>(client, ns, name, json!({ "spec": spec })).await;
}

pub async fn annotate<K: Namespaced>(
    client: &Client,
    ns: &str,
    name: &str,
    key: &str,
    value: Option<&str>,
) {
    let patch = json!({"metadata": {"annotations": {key: value}}});
    merge_patch::<K>(client, ns, name, patch).await;
}

async fn merge_patch<K: Namespaced>(client: &Client, ns: &str, name: &str, patch: Value) {
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

pub async fn delete<K: Namespaced>(client: &Client, ns: &str, name: &str) {
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    api.delete(name, &DeleteParams::default()).await.unwrap();
}

pub async fn setup() -> (Client, String) {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::temp_namespace(&client).await;
    (client, ns)
}

/// Waits `n` resync periods and asserts that neither the provider nor the API server saw a write,
/// while the operator was alive (it reconciled in the window).
pub async fn assert_quiet(op: &Operator, writes: impl Fn() -> u64, periods: u32) {
    let status_lines = |text: String| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("ssoperator_status_writes_total"))
            .map(String::from)
            .collect()
    };
    let reconciles = || sum_samples(&op.metrics.render(), "ssoperator_reconciles_total");
    let (w0, s0, r0) = (writes(), op.status_writes(), reconciles());
    let before = status_lines(op.metrics.render());
    tokio::time::sleep(RESYNC * periods + Duration::from_millis(500)).await;
    assert_eq!(writes(), w0, "provider writes during a quiet period");
    assert_eq!(
        op.status_writes(),
        s0,
        "status writes during a quiet period: before {before:#?}, after {:#?}",
        status_lines(op.metrics.render())
    );
    assert!(
        reconciles() > r0,
        "no reconcile during the quiet period: the operator was not alive"
    );
}
