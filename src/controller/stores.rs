//! What the operator reads from Kubernetes, held in memory: one reflector store per kind, fed by
//! the watches the controllers run on anyway. A reconcile reads its ProviderConfig, the other
//! resources and Secret versions from here instead of asking the API server each time.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Client, Resource, ResourceExt,
    core::PartialObjectMeta,
    runtime::reflector::{ObjectRef, Store},
};

use super::{error::Error, lock};
use crate::crd::{
    ClusterProviderConfig, ConnectionProfile, EnterpriseConnection, OrgRoleMapping, ProviderConfig,
};

/// Without a Secret watch, how long a Secret read is reused before it is read again: a rotated
/// key is picked up within this time.
const SECRET_TTL: Duration = Duration::from_secs(30);

pub struct Stores {
    client: Client,
    pub provider_configs: Store<ProviderConfig>,
    pub cluster_provider_configs: Store<ClusterProviderConfig>,
    /// Metadata of the Secrets in the watched namespaces (`--watch-secrets`).
    pub secret_versions: Option<Store<PartialObjectMeta<Secret>>>,
    pub connections: Store<EnterpriseConnection>,
    pub profiles: Store<ConnectionProfile>,
    pub mappings: Store<OrgRoleMapping>,
    secrets: SecretCache,
}

impl Stores {
    pub fn new(
        client: Client,
        provider_configs: Store<ProviderConfig>,
        cluster_provider_configs: Store<ClusterProviderConfig>,
        secret_versions: Option<Store<PartialObjectMeta<Secret>>>,
        connections: Store<EnterpriseConnection>,
        profiles: Store<ConnectionProfile>,
        mappings: Store<OrgRoleMapping>,
    ) -> Self {
        Self {
            client: client.clone(),
            provider_configs,
            cluster_provider_configs,
            secret_versions,
            connections,
            profiles,
            mappings,
            secrets: SecretCache {
                client,
                cached: Mutex::default(),
            },
        }
    }

    /// The namespaced object `ns/name` from `store`, or from the API server when the store does
    /// not hold it yet (made a moment ago, before its watch event arrived).
    pub async fn get_namespaced<K>(
        &self,
        store: &Store<K>,
        ns: &str,
        name: &str,
    ) -> Result<Option<Arc<K>>, Error>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        if let Some(o) = store.get(&ObjectRef::new(name).within(ns)) {
            return Ok(Some(o));
        }
        let api: Api<K> = Api::namespaced(self.client.clone(), ns);
        Ok(api.get_opt(name).await?.map(Arc::new))
    }

    /// The ClusterProviderConfig `name`, from memory or (not there yet) the API server.
    pub async fn cluster_provider_config(
        &self,
        name: &str,
    ) -> Result<Option<Arc<ClusterProviderConfig>>, Error> {
        if let Some(o) = self.cluster_provider_configs.get(&ObjectRef::new(name)) {
            return Ok(Some(o));
        }
        let api: Api<ClusterProviderConfig> = Api::all(self.client.clone());
        Ok(api.get_opt(name).await?.map(Arc::new))
    }

    /// The Secret `ns/name`. Read from the API server only when its version in the Secret watch
    /// differs from the copy held, or (no Secret watch) when the copy is older than
    /// [`SECRET_TTL`]. A missing Secret is never remembered: it may arrive at any moment.
    pub async fn secret(&self, ns: &str, name: &str) -> Result<Option<Arc<Secret>>, Error> {
        let watched_version = self.secret_versions.as_ref().map(|s| {
            s.get(&ObjectRef::new(name).within(ns))
                .and_then(|m| m.resource_version())
        });
        self.secrets.get(ns, name, watched_version).await
    }
}

type SecretKey = (String, String);

/// The Secrets reconciles read (credentials, client secrets): only those, never every Secret.
struct SecretCache {
    client: Client,
    /// (namespace, name) -> when read, what was read.
    cached: Mutex<HashMap<SecretKey, (Instant, Arc<Secret>)>>,
}

impl SecretCache {
    /// `watched_version`: `None` without a Secret watch; `Some(None)` when the watch does not
    /// show the Secret (yet).
    async fn get(
        &self,
        ns: &str,
        name: &str,
        watched_version: Option<Option<String>>,
    ) -> Result<Option<Arc<Secret>>, Error> {
        let key = (ns.to_string(), name.to_string());
        let held = lock(&self.cached).get(&key).cloned();
        if let Some((read_at, secret)) = held {
            let fresh = match &watched_version {
                Some(Some(v)) => secret.resource_version().as_ref() == Some(v),
                Some(None) => false,
                None => read_at.elapsed() < SECRET_TTL,
            };
            if fresh {
                return Ok(Some(secret));
            }
        }
        let api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        match api.get_opt(name).await? {
            Some(s) => {
                let s = Arc::new(s);
                let mut cached = lock(&self.cached);
                if cached.len() > 4096 {
                    cached.retain(|_, (t, _)| t.elapsed() < SECRET_TTL);
                }
                cached.insert(key, (Instant::now(), s.clone()));
                Ok(Some(s))
            }
            None => {
                lock(&self.cached).remove(&key);
                Ok(None)
            }
        }
    }
}
