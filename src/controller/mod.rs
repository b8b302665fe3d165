//! The controllers: one per managed kind plus the provider configurations, wired to the watches that
//! bring a resource back when something it depends on changes.

pub mod context;
pub mod error;
pub mod finalizer;
pub mod managed;
pub mod provider_config;
pub mod reconcile;
pub mod registry;
pub mod tenancy;

use std::{
    collections::hash_map::DefaultHasher,
    future::Future,
    hash::{Hash, Hasher},
    sync::Arc,
};

use futures::{FutureExt, StreamExt, future::BoxFuture};
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Client, Resource, ResourceExt,
    core::PartialObjectMeta,
    runtime::{
        Controller, WatchStreamExt,
        controller::Config as ControllerConfig,
        events::{Recorder, Reporter},
        predicates, reflector,
        reflector::{ObjectRef, Store},
        watcher,
    },
};
use std::panic::AssertUnwindSafe;

pub use context::Context;
use managed::Managed;

use crate::{
    config::Config,
    crd::{
        ClusterProviderConfig, ConnectionProfile, EnterpriseConnection, OrgRoleMapping,
        PAUSED_ANNOTATION, ProviderConfig, ProviderConfigKind,
    },
    leader::Fence,
    metrics::{Metrics, MetricsObserver},
    server::Heartbeat,
};

/// Changes that warrant a reconcile: the spec (generation), the pause annotation, deletion and finalizers.
/// Status writes change none of these, so our own writes do not trigger reconciles.
fn meaningful<K: Resource>(obj: &K) -> Option<u64> {
    let mut h = DefaultHasher::new();
    predicates::generation(obj).hash(&mut h);
    obj.annotations().get(PAUSED_ANNOTATION).hash(&mut h);
    obj.meta().deletion_timestamp.is_some().hash(&mut h);
    obj.finalizers().hash(&mut h);
    Some(h.finish())
}

/// What of a ProviderConfig matters to the resources that use it: its generation, whether it is
/// being deleted, and whether it is Ready.
fn config_wakes(
    meta: &kube::api::ObjectMeta,
    status: Option<&crate::crd::ProviderConfigStatus>,
) -> Option<u64> {
    let ready = status
        .and_then(|s| crate::core::conditions::get(&s.conditions, crate::core::conditions::READY))
        .map(|c| c.status.clone());
    let mut h = DefaultHasher::new();
    meta.generation.hash(&mut h);
    meta.deletion_timestamp.is_some().hash(&mut h);
    ready.hash(&mut h);
    Some(h.finish())
}

fn api_for<K>(client: &Client, ns: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

fn refs_config<K: Managed>(
    obj: &K,
    kind: ProviderConfigKind,
    name: &str,
    ns: Option<&str>,
) -> bool {
    let r = &obj.managed().provider_config_ref;
    r.kind == kind && r.name == name && (ns.is_none() || obj.namespace().as_deref() == ns)
}

/// Runs the controller of one managed kind in one namespace (or all).
fn managed_controller<K: Managed>(
    ctx: Arc<Context>,
    ns: Option<&str>,
    watch_secrets: bool,
    heartbeat: &Heartbeat,
) -> BoxFuture<'static, ()> {
    let client = ctx.client.clone();
    let api: Api<K> = api_for(&client, ns);
    let (reader, writer) = reflector::store();
    let stream = reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .applied_objects()
        .predicate_filter(meaningful::<K>, Default::default());
    let mut controller = Controller::for_stream(stream, reader.clone())
        .with_config(ControllerConfig::default().concurrency(ctx.config.concurrency));

    // A ProviderConfig wakes its resources only when its spec or its readiness changes: its
    // status is rewritten for other reasons (a recheck, a message), and waking every dependent
    // on each write would multiply provider calls by the number of resources.
    let store = reader.clone();
    let pcs = watcher(
        api_for::<ProviderConfig>(&client, ns),
        watcher::Config::default(),
    )
    .default_backoff()
    .touched_objects()
    .predicate_filter(
        |pc: &ProviderConfig| config_wakes(pc.meta(), pc.status.as_ref()),
        Default::default(),
    );
    controller = controller.watches_stream(pcs, move |pc| {
        let (name, pns) = (pc.name_any(), pc.namespace());
        matching(&store, |o: &K| {
            refs_config(o, ProviderConfigKind::ProviderConfig, &name, pns.as_deref())
        })
    });
    let store = reader.clone();
    let cpcs = watcher(
        Api::<ClusterProviderConfig>::all(ctx.client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .touched_objects()
    .predicate_filter(
        |pc: &ClusterProviderConfig| config_wakes(pc.meta(), pc.status.as_ref()),
        Default::default(),
    );
    controller = controller.watches_stream(cpcs, move |pc| {
        let name = pc.name_any();
        matching(&store, |o: &K| {
            refs_config(o, ProviderConfigKind::ClusterProviderConfig, &name, None)
        })
    });
    if watch_secrets {
        // Metadata only: the operator never holds every Secret's data in memory.
        let secrets = watcher(
            api_for::<PartialObjectMeta<Secret>>(&client, ns),
            watcher::Config::default(),
        )
        .default_backoff()
        .touched_objects();
        let store = reader.clone();
        controller = controller.watches_stream(secrets, move |s| {
            let (name, sns) = (s.name_any(), s.namespace());
            matching(&store, |o: &K| {
                o.namespace() == sns && o.secret_names().contains(&name)
            })
        });
    }
    if K::KIND == crate::core::desired::ResourceKind::OrgRoleMapping {
        let store = reader.clone();
        controller = controller.watches(
            api_for::<EnterpriseConnection>(&client, ns),
            watcher::Config::default(),
            move |ec| {
                let (name, ens) = (ec.name_any(), ec.namespace());
                matching(&store, |o: &K| {
                    o.namespace() == ens && o.connection_name().as_deref() == Some(name.as_str())
                })
            },
        );
    }
    controller
        .run(
            tracked(heartbeat, reconcile::reconcile::<K>),
            reconcile::error_policy::<K>,
            ctx,
        )
        .for_each(|_| futures::future::ready(()))
        .boxed()
}

/// Wraps a reconciler so that each reconcile counts as in flight ([`Heartbeat::begin`]) from its
/// start until it ends or is cancelled: kube runs each reconcile as its own task, so a reconcile
/// stuck for good (blocked thread or endless await) shows only this way.
fn tracked<K, F, Fut>(
    heartbeat: &Heartbeat,
    reconciler: F,
) -> impl FnMut(
    Arc<K>,
    Arc<Context>,
) -> BoxFuture<'static, Result<kube::runtime::controller::Action, error::Error>>
+ use<K, F, Fut>
where
    F: Fn(Arc<K>, Arc<Context>) -> Fut,
    Fut: Future<Output = Result<kube::runtime::controller::Action, error::Error>> + Send + 'static,
{
    let heartbeat = heartbeat.clone();
    move |obj, ctx| {
        let in_flight = heartbeat.begin();
        reconciler(obj, ctx)
            .map(move |result| {
                drop(in_flight);
                result
            })
            .boxed()
    }
}

fn matching<K: Managed>(store: &Store<K>, pred: impl Fn(&K) -> bool) -> Vec<ObjectRef<K>> {
    store
        .state()
        .iter()
        .filter(|o| pred(o))
        .map(|o| ObjectRef::from_obj(o.as_ref()))
        .collect()
}

fn config_controllers(
    ctx: Arc<Context>,
    ns: Option<&str>,
    watch_secrets: bool,
    heartbeat: &Heartbeat,
) -> Vec<BoxFuture<'static, ()>> {
    let client = ctx.client.clone();
    let api: Api<ProviderConfig> = api_for(&client, ns);
    let mut pcs = Controller::new(api, watcher::Config::default());
    if watch_secrets {
        let store = pcs.store();
        let secrets = watcher(
            api_for::<PartialObjectMeta<Secret>>(&client, ns),
            watcher::Config::default(),
        )
        .default_backoff()
        .touched_objects();
        pcs = pcs.watches_stream(secrets, move |s| {
            let (name, sns) = (s.name_any(), s.namespace());
            store
                .state()
                .iter()
                .filter(|pc| {
                    pc.namespace() == sns && pc.spec.account.credentials_secret_ref.name == name
                })
                .map(|pc| ObjectRef::from_obj(pc.as_ref()))
                .collect::<Vec<_>>()
        });
    }
    let namespaced = pcs
        .run(
            tracked(heartbeat, provider_config::reconcile_namespaced),
            provider_config::error_policy,
            ctx.clone(),
        )
        .for_each(|_| futures::future::ready(()))
        .boxed();
    vec![namespaced]
}

/// What the binary puts around the controllers: the leadership fence every write checks (open
/// without leader election) and the heartbeat `/healthz` reads.
#[derive(Clone, Default)]
pub struct Guard {
    pub fence: Fence,
    pub heartbeat: Heartbeat,
}

/// Why the controllers stopped although nobody asked them to.
#[derive(Debug, thiserror::Error)]
pub enum Stopped {
    #[error("controller {0} ended")]
    Ended(String),
    #[error("controller {0} panicked: {1}")]
    Panicked(String, String),
}

/// Runs every controller until `shutdown` completes (a controller that ends is logged).
pub async fn run(
    client: Client,
    config: Config,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    if let Err(e) = run_guarded(client, config, metrics, Guard::default(), shutdown).await {
        tracing::error!(error = %e, "controllers stopped");
    }
}

/// Runs every controller until `shutdown` completes (`Ok`) or until one of them ends or panics
/// (`Err`). `client` should carry the fence too ([`crate::leader::FenceLayer`]).
pub async fn run_guarded(
    client: Client,
    config: Config,
    metrics: Arc<Metrics>,
    guard: Guard,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Stopped> {
    let observer = Arc::new(MetricsObserver(metrics.clone()));
    let identity = config.identity.clone().unwrap_or_default();
    let user_agent = format!("ssoperator/{} ({identity})", env!("CARGO_PKG_VERSION"));
    let registry = registry::Registry::new(client.clone(), observer, config.default_rate)
        .with_guard(user_agent, guard.fence.clone());
    let reporter = Reporter {
        controller: "ssoperator".into(),
        instance: config.identity.clone(),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let ctx = Arc::new(Context::new(
        client.clone(),
        registry,
        metrics,
        recorder,
        config.clone(),
    ));
    let namespaces: Vec<Option<String>> = if config.namespaces.is_empty() {
        vec![None]
    } else {
        config.namespaces.iter().cloned().map(Some).collect()
    };
    let mut tasks: Vec<(String, BoxFuture<'static, ()>)> = vec![];
    for ns in &namespaces {
        let scope = ns.as_deref().unwrap_or("all namespaces");
        let ns = ns.as_deref();
        tasks.push((
            format!("EnterpriseConnection ({scope})"),
            managed_controller::<EnterpriseConnection>(
                ctx.clone(),
                ns,
                config.watch_secrets,
                &guard.heartbeat,
            ),
        ));
        tasks.push((
            format!("ConnectionProfile ({scope})"),
            managed_controller::<ConnectionProfile>(
                ctx.clone(),
                ns,
                config.watch_secrets,
                &guard.heartbeat,
            ),
        ));
        tasks.push((
            format!("OrgRoleMapping ({scope})"),
            managed_controller::<OrgRoleMapping>(
                ctx.clone(),
                ns,
                config.watch_secrets,
                &guard.heartbeat,
            ),
        ));
        for c in config_controllers(ctx.clone(), ns, config.watch_secrets, &guard.heartbeat) {
            tasks.push((format!("ProviderConfig ({scope})"), c));
        }
    }
    // Cluster-scoped configs get their status from a cluster-wide operator (by default): a
    // namespace-scoped one just reads them (it may not read their Secrets' namespace, and two
    // namespace-scoped installs would fight over the same status).
    if config.manages_cluster_provider_configs() {
        tasks.push((
            "ClusterProviderConfig".into(),
            cluster_config_controller(ctx.clone(), &guard.heartbeat),
        ));
    }
    supervise(tasks, &guard.heartbeat, shutdown).await
}

/// Polls every controller in this one future, beating `heartbeat` every second beside them, until
/// `shutdown` completes (`Ok`) or a controller ends or panics (`Err`, naming it). The heartbeat
/// shares the controllers' task, so it stops when a controller blocks the thread that polls them.
pub async fn supervise(
    controllers: Vec<(String, BoxFuture<'static, ()>)>,
    heartbeat: &Heartbeat,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Stopped> {
    let watched: Vec<_> = controllers
        .into_iter()
        .map(|(name, fut)| {
            AssertUnwindSafe(fut)
                .catch_unwind()
                .map(move |r| (name, r))
                .boxed()
        })
        .collect();
    let mut all = if watched.is_empty() {
        futures::future::pending().boxed()
    } else {
        futures::future::select_all(watched)
            .map(|(first, _, _)| first)
            .boxed()
    };
    let mut shutdown = std::pin::pin!(shutdown);
    let mut beat = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            (name, result) = &mut all => {
                return Err(match result {
                    Ok(()) => Stopped::Ended(name),
                    Err(panic) => Stopped::Panicked(name, panic_message(panic.as_ref())),
                });
            }
            _ = &mut shutdown => {
                tracing::info!("shutting down controllers");
                return Ok(());
            }
            _ = beat.tick() => heartbeat.beat(),
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

fn cluster_config_controller(ctx: Arc<Context>, heartbeat: &Heartbeat) -> BoxFuture<'static, ()> {
    Controller::new(
        Api::<ClusterProviderConfig>::all(ctx.client.clone()),
        watcher::Config::default(),
    )
    .run(
        tracked(heartbeat, provider_config::reconcile_cluster),
        provider_config::error_policy,
        ctx,
    )
    .for_each(|_| futures::future::ready(()))
    .boxed()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn forever() -> BoxFuture<'static, ()> {
        futures::future::pending().boxed()
    }

    #[tokio::test]
    async fn a_controller_that_returns_stops_the_supervisor_and_is_named() {
        let controllers = vec![
            ("A".to_string(), forever()),
            (
                "B".to_string(),
                async { tokio::time::sleep(Duration::from_millis(20)).await }.boxed(),
            ),
        ];
        let got = supervise(
            controllers,
            &Heartbeat::default(),
            futures::future::pending(),
        )
        .await;
        assert!(
            matches!(&got, Err(Stopped::Ended(n)) if n == "B"),
            "{got:?}"
        );
    }

    #[tokio::test]
    async fn a_controller_that_panics_stops_the_supervisor_with_its_message() {
        let controllers = vec![
            ("A".to_string(), forever()),
            (
                "B".to_string(),
                async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    panic!("boom");
                }
                .boxed(),
            ),
        ];
        let got = supervise(
            controllers,
            &Heartbeat::default(),
            futures::future::pending(),
        )
        .await;
        assert!(
            matches!(&got, Err(Stopped::Panicked(n, m)) if n == "B" && m == "boom"),
            "{got:?}"
        );
    }

    #[tokio::test]
    async fn shutdown_stops_the_supervisor_cleanly_and_the_heartbeat_beats_meanwhile() {
        let heartbeat = Heartbeat::default();
        std::thread::sleep(Duration::from_millis(30));
        let before = std::time::Instant::now();
        let controllers = vec![("A".to_string(), forever())];
        let got = supervise(
            controllers,
            &heartbeat,
            tokio::time::sleep(Duration::from_millis(20)),
        )
        .await;
        assert!(got.is_ok(), "{got:?}");
        assert!(
            heartbeat.age() <= before.elapsed(),
            "not beaten while supervising: {:?}",
            heartbeat.age()
        );
    }
}
