//! The controllers: one per managed kind plus the provider configurations, wired to the watches that
//! bring a resource back when something it depends on changes.

pub mod certificates;
pub mod context;
pub mod error;
pub mod events;
pub mod finalizer;
pub mod gate;
pub mod gauges;
pub mod managed;
pub mod observations;
pub mod outputs;
pub mod provider_config;
pub mod reconcile;
pub mod registry;
pub mod resync;
pub mod stores;
pub mod tenancy;
pub mod watch;

use std::{future::Future, sync::Arc};

use futures::{
    FutureExt, StreamExt,
    future::BoxFuture,
    stream::{self, BoxStream},
};
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Client, Resource, ResourceExt,
    core::PartialObjectMeta,
    runtime::{
        Controller, WatchStreamExt,
        controller::Config as ControllerConfig,
        reflector,
        reflector::{ObjectRef, ReflectHandle, Store},
        watcher,
    },
};
use std::panic::AssertUnwindSafe;

pub use context::Context;
use managed::Managed;
use watch::{api_for, changed, hash_of, watch_managed, watch_of};

use crate::{
    config::Config,
    crd::{
        ALLOW_LOCKOUT_ANNOTATION, APPROVE_ANNOTATION, CERTIFICATE_EXPIRY_WARNING_ANNOTATION,
        ClusterProviderConfig, ConnectionProfile, EnterpriseConnection, FINALIZER, OrgRoleMapping,
        PAUSED_ANNOTATION, ProviderConfig, ProviderConfigKind, RECONCILE_REQUESTED_ANNOTATION,
        RESYNC_PERIOD_ANNOTATION,
    },
    leader::Fence,
    metrics::{Metrics, MetricsObserver},
    server::Heartbeat,
};

/// Locks a mutex whose data stays usable after a panic in another holder (every map behind one
/// here is a cache or a counter).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Events a shared watch buffers for each subscriber before the watch waits for the slowest.
const SHARED_BUFFER: usize = 1024;

/// Changes that warrant a reconcile: the spec (generation), the pause, resync-period,
/// reconcile-requested-at, approve, allow-lockout and certificate-expiry-warning annotations, deletion and finalizers other than ours. Status writes
/// change none of these, and neither does adding our own finalizer, so a new resource takes one
/// reconcile, not two; a new reconcile-requested-at value takes exactly one.
fn meaningful<K: Resource>(obj: &K) -> u64 {
    let others: Vec<&String> = obj
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .collect();
    hash_of((
        obj.meta().generation,
        obj.annotations().get(PAUSED_ANNOTATION),
        obj.annotations().get(RESYNC_PERIOD_ANNOTATION),
        obj.annotations().get(RECONCILE_REQUESTED_ANNOTATION),
        obj.annotations().get(APPROVE_ANNOTATION),
        obj.annotations().get(ALLOW_LOCKOUT_ANNOTATION),
        obj.annotations().get(CERTIFICATE_EXPIRY_WARNING_ANNOTATION),
        obj.meta().deletion_timestamp.is_some(),
        others,
    ))
}

/// What of a ProviderConfig matters to the resources that use it: its generation, whether it is
/// being deleted, and whether it is Ready.
fn config_wakes(
    meta: &kube::api::ObjectMeta,
    status: Option<&crate::crd::ProviderConfigStatus>,
) -> u64 {
    let ready = status
        .and_then(|s| crate::core::conditions::get(&s.conditions, crate::core::conditions::READY))
        .map(|c| c.status.clone());
    hash_of((meta.generation, meta.deletion_timestamp.is_some(), ready))
}

/// What of an EnterpriseConnection matters to the role mappings that refer to it: whether it
/// is Ready, and its id.
fn connection_wakes(ec: &EnterpriseConnection) -> u64 {
    let status = ec.status.as_ref();
    let ready = status
        .map(|s| crate::core::conditions::is_true(&s.conditions, crate::core::conditions::READY));
    hash_of((ready, status.and_then(|s| s.external_id.clone())))
}

/// One shared watch: the store every reader uses, the streams of its subscribers, and the task
/// that feeds them (it must run for any subscriber to see anything).
struct Shared<K: Resource<DynamicType = ()> + Clone + 'static> {
    store: Store<K>,
    feed: BoxFuture<'static, ()>,
    subscribers: Vec<ReflectHandle<K>>,
}

impl<K> Shared<K>
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
{
    fn new(
        scopes: Vec<Option<String>>,
        subscribers: usize,
        watch: impl Fn(Option<&str>) -> BoxStream<'static, watcher::Result<watcher::Event<K>>>,
    ) -> Self {
        let (store, writer) = reflector::store_shared(SHARED_BUFFER);
        let subscribers = (0..subscribers)
            .filter_map(|_| writer.subscribe())
            .collect();
        let events = watch::merged(scopes, store.clone(), watch);
        let feed = reflector(writer, events)
            .for_each(|_| futures::future::ready(()))
            .boxed();
        Self {
            store,
            feed,
            subscribers,
        }
    }

    fn take(&mut self) -> ReflectHandle<K> {
        // Each is created in `new`, one per use below; a missing one is a wiring mistake.
        #[allow(clippy::expect_used)]
        self.subscribers
            .pop()
            .expect("a subscriber for each use of a shared watch")
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

/// What a managed kind's controller is woken by besides its own objects.
struct Wakes {
    provider_configs: ReflectHandle<ProviderConfig>,
    cluster_provider_configs: ReflectHandle<ClusterProviderConfig>,
    secrets: Option<ReflectHandle<PartialObjectMeta<Secret>>>,
    connections: Option<ReflectHandle<EnterpriseConnection>>,
}

/// Runs the controller of one managed kind, over every watched namespace.
fn managed_controller<K: Managed>(
    ctx: Arc<Context>,
    own: ReflectHandle<K>,
    wakes: Wakes,
    heartbeat: &Heartbeat,
) -> BoxFuture<'static, ()> {
    let reader = K::store(ctx.registry.stores()).clone();
    let mut controller = Controller::for_shared_stream(
        changed(own, reader.clone(), meaningful::<K>),
        reader.clone(),
    )
    .with_config(ControllerConfig::default().concurrency(ctx.config.concurrency));

    // A ProviderConfig wakes its resources only when its spec or its readiness changes: its
    // status is rewritten for other reasons (a recheck, a message), and waking every dependent
    // on each write would multiply provider calls by the number of resources.
    let store = reader.clone();
    let stores = ctx.registry.stores();
    let pcs = changed(
        wakes.provider_configs,
        stores.provider_configs.clone(),
        |pc: &ProviderConfig| config_wakes(pc.meta(), pc.status.as_ref()),
    );
    controller = controller.watches_shared_stream(pcs, move |pc| {
        let (name, pns) = (pc.name_any(), pc.namespace());
        matching(&store, |o: &K| {
            refs_config(o, ProviderConfigKind::ProviderConfig, &name, pns.as_deref())
        })
    });
    let store = reader.clone();
    let cpcs = changed(
        wakes.cluster_provider_configs,
        stores.cluster_provider_configs.clone(),
        |pc: &ClusterProviderConfig| config_wakes(pc.meta(), pc.status.as_ref()),
    );
    controller = controller.watches_shared_stream(cpcs, move |pc| {
        let name = pc.name_any();
        matching(&store, |o: &K| {
            refs_config(o, ProviderConfigKind::ClusterProviderConfig, &name, None)
        })
    });
    if let Some(secrets) = wakes.secrets {
        let store = reader.clone();
        controller = controller.watches_shared_stream(secrets, move |s| {
            let (name, sns) = (s.name_any(), s.namespace());
            matching(&store, |o: &K| {
                o.namespace() == sns && o.secret_names().contains(&name)
            })
        });
    }
    if let Some(connections) = wakes.connections {
        let store = reader.clone();
        controller = controller.watches_shared_stream(
            changed(connections, stores.connections.clone(), connection_wakes),
            move |ec| {
                let (name, ens) = (ec.name_any(), ec.namespace());
                matching(&store, |o: &K| {
                    o.namespace() == ens && o.connection_name().as_deref() == Some(name.as_str())
                })
            },
        );
    }
    // Remote objects a sweep found changed or gone: their resources look at once.
    let store = reader.clone();
    let swept = stream::unfold(ctx.observations.subscribe(K::KIND), |mut rx| async move {
        rx.recv().await.map(|changed| (changed, rx))
    })
    .flat_map(move |(provider, id)| {
        stream::iter(matching(&store, |o: &K| {
            reconcile::manages(o, &provider, &id)
        }))
    });
    controller = controller.reconcile_on(swept).reconcile_on(resync::resyncs(
        reader.clone(),
        ctx.looks.clone(),
        ctx.config.resync,
    ));
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

/// The controller of namespaced ProviderConfigs, over every watched namespace.
fn config_controller(
    ctx: Arc<Context>,
    own: ReflectHandle<ProviderConfig>,
    secrets: Option<ReflectHandle<PartialObjectMeta<Secret>>>,
    heartbeat: &Heartbeat,
) -> BoxFuture<'static, ()> {
    let reader = ctx.registry.stores().provider_configs.clone();
    let mut pcs = Controller::for_shared_stream(own, reader.clone());
    if let Some(secrets) = secrets {
        let store = reader;
        pcs = pcs.watches_shared_stream(secrets, move |s| {
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
    pcs.run(
        tracked(heartbeat, provider_config::reconcile_namespaced),
        provider_config::error_policy,
        ctx,
    )
    .for_each(|_| futures::future::ready(()))
    .boxed()
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
    #[error("{0}")]
    Config(String),
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
    let scopes = watch::scopes(&config.namespaces);
    let manages_cluster_configs = config.manages_cluster_provider_configs();
    let extra_roots = config.provider_roots().map_err(Stopped::Config)?;
    if !extra_roots.is_empty() {
        tracing::info!(
            certificates = extra_roots.len(),
            "provider calls also trust the CA certificates of --provider-ca-bundle"
        );
    }

    // One watch per kind, whatever the number of namespaces, each shared by every controller
    // that needs it; their stores are what reconciles read.
    let mut pcs = Shared::new(scopes.clone(), 4, watch_of::<ProviderConfig>(&client));
    let cpc_client = client.clone();
    let mut cpcs = Shared::new(
        vec![None],
        3 + usize::from(manages_cluster_configs),
        move |_| {
            watcher(
                Api::<ClusterProviderConfig>::all(cpc_client.clone()),
                watcher::Config::default(),
            )
            .default_backoff()
            .boxed()
        },
    );
    let mut ecs = Shared::new(
        scopes.clone(),
        2,
        watch_managed::<EnterpriseConnection>(&client),
    );
    let mut cps = Shared::new(
        scopes.clone(),
        1,
        watch_managed::<ConnectionProfile>(&client),
    );
    let mut orms = Shared::new(scopes.clone(), 1, watch_managed::<OrgRoleMapping>(&client));
    // Metadata only: the operator never holds every Secret's data in memory.
    let mut secrets = config.watch_secrets.then(|| {
        let client = client.clone();
        Shared::new(scopes.clone(), 4, move |ns| {
            let api: Api<PartialObjectMeta<Secret>> = api_for(&client, ns);
            watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed()
        })
    });
    let stores = Arc::new(stores::Stores::new(
        client.clone(),
        pcs.store.clone(),
        cpcs.store.clone(),
        secrets.as_ref().map(|s| s.store.clone()),
        ecs.store.clone(),
        cps.store.clone(),
        orms.store.clone(),
    ));
    metrics.set_resource_counter(Some(gauges::resource_counter(gauges::Counted {
        provider_configs: pcs.store.clone(),
        cluster_provider_configs: manages_cluster_configs.then(|| cpcs.store.clone()),
        connections: ecs.store.clone(),
        profiles: cps.store.clone(),
        mappings: orms.store.clone(),
    })));
    metrics.set_certificate_counter(Some(certificates::counter(ecs.store.clone())));
    let registry = registry::Registry::new(client.clone(), stores, observer, config.default_rate)
        .with_guard(user_agent, guard.fence.clone())
        .with_extra_roots(extra_roots);
    let events = events::Publisher::new(client.clone(), "ssoperator", config.identity.clone());
    let ctx = Arc::new(Context::new(
        client.clone(),
        registry,
        metrics,
        events,
        config.clone(),
    ));
    let mut wakes = || Wakes {
        provider_configs: pcs.take(),
        cluster_provider_configs: cpcs.take(),
        secrets: secrets.as_mut().map(Shared::take),
        connections: None,
    };
    let (ec_wakes, cp_wakes, mut orm_wakes) = (wakes(), wakes(), wakes());
    orm_wakes.connections = Some(ecs.take());
    let hb = &guard.heartbeat;
    let mut tasks: Vec<(String, BoxFuture<'static, ()>)> = vec![
        (
            "EnterpriseConnection".into(),
            managed_controller::<EnterpriseConnection>(ctx.clone(), ecs.take(), ec_wakes, hb),
        ),
        (
            "ConnectionProfile".into(),
            managed_controller::<ConnectionProfile>(ctx.clone(), cps.take(), cp_wakes, hb),
        ),
        (
            "OrgRoleMapping".into(),
            managed_controller::<OrgRoleMapping>(ctx.clone(), orms.take(), orm_wakes, hb),
        ),
        (
            "ProviderConfig".into(),
            config_controller(
                ctx.clone(),
                pcs.take(),
                secrets.as_mut().map(Shared::take),
                hb,
            ),
        ),
    ];
    // Cluster-scoped configs get their status from a cluster-wide operator (by default): a
    // namespace-scoped one just reads them (it may not read their Secrets' namespace, and two
    // namespace-scoped installs would fight over the same status).
    if manages_cluster_configs {
        tasks.push((
            "ClusterProviderConfig".into(),
            cluster_config_controller(ctx.clone(), cpcs.take(), hb),
        ));
    }
    tasks.push(("watch ProviderConfig".into(), pcs.feed));
    tasks.push(("watch ClusterProviderConfig".into(), cpcs.feed));
    tasks.push(("watch EnterpriseConnection".into(), ecs.feed));
    tasks.push(("watch ConnectionProfile".into(), cps.feed));
    tasks.push(("watch OrgRoleMapping".into(), orms.feed));
    if let Some(s) = secrets {
        tasks.push(("watch Secret".into(), s.feed));
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

fn cluster_config_controller(
    ctx: Arc<Context>,
    own: ReflectHandle<ClusterProviderConfig>,
    heartbeat: &Heartbeat,
) -> BoxFuture<'static, ()> {
    let reader = ctx.registry.stores().cluster_provider_configs.clone();
    Controller::for_shared_stream(own, reader)
        .run(
            tracked(heartbeat, provider_config::reconcile_cluster),
            provider_config::error_policy,
            ctx,
        )
        .for_each(|_| futures::future::ready(()))
        .boxed()
}

#[cfg(test)]
mod tests;
