//! Builds provider clients from ProviderConfigs and their credentials Secrets, and caches them:
//! one client, one token bucket and one token cache per account.

use crate::core::reason::Reason;
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use k8s_openapi::ByteString;
use kube::{Client, ResourceExt};

use super::{error::Error, lock, stores::Stores};
use crate::{
    core::{desired::SecretValue, redact::Secrets},
    crd::{ProviderAccount, ProviderConfigKind, ProviderConfigRef, RateLimit},
    leader::Fence,
    provider::{
        CallObserver, CredentialValues, DynProvider, ProviderKind, descriptor,
        http::{AccountLimiter, ClientSettings, account_limiter, transport},
    },
};

/// A resolved provider account.
#[derive(Clone)]
pub struct Account {
    pub kind: ProviderKind,
    pub provider: DynProvider,
    /// `ProviderConfig ns/name` or `ClusterProviderConfig name`, for messages.
    pub config_name: String,
    /// [`ProviderAccount::identity`]: tells this account's objects from another's.
    pub identity: String,
    /// The credentials' values: cut out of every message, and the key of the write-only hash.
    pub secrets: Secrets,
}

impl Account {
    /// The key of [`crate::core::desired::Desired::write_only_hash`]: derived from the account's
    /// credentials, which a reader of the resource does not have.
    pub fn hash_key(&self) -> Vec<u8> {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"ssoperator write-only hash v1\0");
        let mut material: Vec<&str> = self.secrets.key_material().collect();
        material.sort_unstable();
        for m in material {
            h.update(m.as_bytes());
            h.update(b"\0");
        }
        h.finalize().to_vec()
    }

    /// The key of [`AcceptedCredentials`]: this account and its credentials, as a digest.
    pub fn credentials_key(&self) -> Vec<u8> {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"ssoperator accepted credentials v1\0");
        h.update(self.identity.as_bytes());
        h.update(b"\0");
        h.update(self.hash_key());
        h.finalize().to_vec()
    }
}

/// Credentials a provider accepted lately, by [`Account::credentials_key`] (a digest, never the
/// values), and when. ProviderConfigs that give one account the same key (one per namespace,
/// say) share one check per period instead of making one each.
#[derive(Default)]
pub struct AcceptedCredentials(Mutex<HashMap<Vec<u8>, Instant>>);

impl AcceptedCredentials {
    /// Whether the provider accepted these credentials less than `within` ago.
    pub fn lately(&self, key: &[u8], within: Duration) -> bool {
        lock(&self.0)
            .get(key)
            .is_some_and(|at| at.elapsed() < within)
    }

    /// Records a check: accepted credentials are remembered for `within`, refused (or unchecked)
    /// ones forgotten, so that the next ProviderConfig of the account checks them itself.
    pub fn checked(&self, key: Vec<u8>, accepted: bool, within: Duration) {
        let mut map = lock(&self.0);
        map.retain(|_, at| at.elapsed() < within);
        if accepted {
            map.insert(key, Instant::now());
        } else {
            map.remove(&key);
        }
    }
}

struct Cached {
    fingerprint: String,
    provider: DynProvider,
    kind: ProviderKind,
    secrets: Secrets,
}

/// Caches one client per ProviderConfig; rebuilt when the config or its Secret changes.
pub struct Registry {
    client: Client,
    stores: Arc<Stores>,
    observer: Arc<dyn CallObserver>,
    default_rate: u32,
    clients: Mutex<HashMap<String, Cached>>,
    /// One gate per account identity, shared by every ProviderConfig of that account.
    gates: Gates,
    /// User-Agent and leadership fence of every provider client.
    user_agent: Option<String>,
    fence: Option<Fence>,
    /// CA certificates trusted besides the webpki roots (`--provider-ca-bundle`).
    extra_roots: Arc<[reqwest::Certificate]>,
    /// The one connection pool of every provider client: the settings it depends on (timeout,
    /// roots, User-Agent) are the same for all, so one pool per ProviderConfig would only hold
    /// more connections (with 20 namespaces, 38-44 to one provider host instead of 4-11).
    transport: Mutex<Option<reqwest::Client>>,
    pub accepted: AcceptedCredentials,
}

/// The gates (token bucket and 429 pause) of every account, keyed by account identity.
#[derive(Default)]
pub struct Gates(Mutex<HashMap<String, SharedGate>>);

/// The gate of one account and the rate each of its ProviderConfigs asks for.
struct SharedGate {
    /// (requests per second, burst) per config name; the gate runs at the smallest.
    rates: BTreeMap<String, (u32, u32)>,
    gate: AccountLimiter,
}

/// Which provider block an account sets.
pub fn provider_kind(account: &ProviderAccount) -> Option<ProviderKind> {
    descriptor::selected(account).map(|d| d.kind)
}

impl Registry {
    pub fn new(
        client: Client,
        stores: Arc<Stores>,
        observer: Arc<dyn CallObserver>,
        default_rate: u32,
    ) -> Self {
        Self {
            client,
            stores,
            observer,
            default_rate,
            clients: Mutex::default(),
            gates: Gates::default(),
            user_agent: None,
            fence: None,
            extra_roots: Arc::new([]),
            transport: Mutex::default(),
            accepted: AcceptedCredentials::default(),
        }
    }

    /// Provider endpoints may also chain to these CA certificates (`--provider-ca-bundle`).
    pub fn with_extra_roots(mut self, roots: Vec<reqwest::Certificate>) -> Self {
        self.extra_roots = roots.into();
        self
    }

    /// Provider calls carry `user_agent` and are not sent while `fence` is closed.
    pub fn with_guard(mut self, user_agent: String, fence: Fence) -> Self {
        self.user_agent = Some(user_agent);
        self.fence = Some(fence);
        self
    }

    /// Resolves the account a managed resource in `namespace` refers to.
    pub async fn resolve(&self, namespace: &str, r: &ProviderConfigRef) -> Result<Account, Error> {
        let config = self.config(namespace, r).await?;
        self.account(
            &config.name,
            &config.account,
            &config.secret_namespace,
            config.generation,
        )
        .await
    }

    /// Like [`Registry::resolve`], for a deletion: when the credentials Secret is already gone
    /// (`kubectl delete -f` of one file deletes the Secret, the ProviderConfig and the resource in
    /// any order), the client built from it earlier still serves the delete.
    pub async fn resolve_for_cleanup(
        &self,
        namespace: &str,
        r: &ProviderConfigRef,
    ) -> Result<Account, Error> {
        let config = self.config(namespace, r).await?;
        let resolved = self
            .account(
                &config.name,
                &config.account,
                &config.secret_namespace,
                config.generation,
            )
            .await;
        match resolved {
            Err(e @ Error::Dependency { .. }) => {
                let clients = lock(&self.clients);
                let Some(c) = clients.get(&config.name) else {
                    return Err(e);
                };
                Ok(Account {
                    kind: c.kind,
                    provider: c.provider.clone(),
                    config_name: config.name.clone(),
                    identity: config.account.identity(),
                    secrets: c.secrets.clone(),
                })
            }
            other => other,
        }
    }

    /// The identity ([`ProviderAccount::identity`]) of the account a resource refers to.
    pub async fn identity(&self, namespace: &str, r: &ProviderConfigRef) -> Result<String, Error> {
        Ok(self.config(namespace, r).await?.account.identity())
    }

    /// The ProviderConfig or ClusterProviderConfig a resource in `namespace` refers to (from memory).
    async fn config(&self, namespace: &str, r: &ProviderConfigRef) -> Result<ConfigRead, Error> {
        match r.kind {
            ProviderConfigKind::ProviderConfig => {
                let pc = self
                    .stores
                    .get_namespaced(&self.stores.provider_configs, namespace, &r.name)
                    .await?
                    .ok_or_else(|| {
                        Error::dependency(
                            Reason::ProviderConfigNotFound,
                            format!(
                                "spec.providerConfigRef: ProviderConfig {namespace}/{} not found",
                                r.name
                            ),
                        )
                    })?;
                Ok(ConfigRead {
                    name: format!("ProviderConfig {namespace}/{}", r.name),
                    secret_namespace: namespace.to_string(),
                    generation: pc.metadata.generation,
                    account: pc.spec.account.clone(),
                })
            }
            ProviderConfigKind::ClusterProviderConfig => {
                let pc = self
                    .stores
                    .cluster_provider_config(&r.name)
                    .await?
                    .ok_or_else(|| {
                        Error::dependency(
                            Reason::ProviderConfigNotFound,
                            format!(
                                "spec.providerConfigRef: ClusterProviderConfig {} not found",
                                r.name
                            ),
                        )
                    })?;
                super::tenancy::check_namespace(&self.client, namespace, &pc).await?;
                Ok(ConfigRead {
                    name: format!("ClusterProviderConfig {}", r.name),
                    secret_namespace: pc
                        .spec
                        .account
                        .credentials_secret_ref
                        .namespace
                        .clone()
                        .unwrap_or_default(),
                    generation: pc.metadata.generation,
                    account: pc.spec.account.clone(),
                })
            }
        }
    }

    /// Builds (or reuses) the client for one account; `secret_namespace` is where its Secret lives.
    pub async fn account(
        &self,
        config_name: &str,
        account: &ProviderAccount,
        secret_namespace: &str,
        config_generation: Option<i64>,
    ) -> Result<Account, Error> {
        let kind = provider_kind(account).ok_or_else(|| {
            Error::refused(
                Reason::InvalidProviderConfig,
                format!("{config_name} sets no provider block"),
            )
        })?;
        crate::core::validate::endpoint(account)
            .map_err(|m| Error::refused(Reason::InvalidEndpoint, format!("{config_name}: {m}")))?;
        let secret_name = &account.credentials_secret_ref.name;
        let secret = self.secret(secret_namespace, secret_name).await?.ok_or_else(|| {
            Error::dependency(
                Reason::SecretNotFound,
                format!(
                    "credentials Secret {secret_namespace}/{secret_name} of {config_name} not found"
                ),
            )
        })?;
        // The spec's generation, not its resourceVersion: our own status writes must not throw
        // away the client (with its cached Auth0 token, which counts against a monthly quota).
        let fingerprint = format!("{:?}/{:?}", config_generation, secret.resource_version());
        if let Some(c) = lock(&self.clients)
            .get(config_name)
            .filter(|c| c.fingerprint == fingerprint)
        {
            return Ok(Account {
                kind: c.kind,
                provider: c.provider.clone(),
                config_name: config_name.to_string(),
                identity: account.identity(),
                secrets: c.secrets.clone(),
            });
        }
        let data = secret.data.clone().unwrap_or_default();
        let mut settings = ClientSettings::new(String::new());
        settings.observer = self.observer.clone();
        if let Some(ua) = &self.user_agent {
            settings.user_agent = ua.clone();
        }
        settings.fence = self.fence.clone();
        settings.extra_roots = self.extra_roots.clone();
        settings.transport = Some(self.transport(&settings)?);
        settings.limiter = Some(self.limiter(
            &account.identity(),
            config_name,
            account.rate_limit.as_ref(),
        ));
        let (provider, values) = build_provider(
            kind,
            account,
            &data,
            secret_namespace,
            secret_name,
            settings,
        )?;
        lock(&self.clients).insert(
            config_name.to_string(),
            Cached {
                fingerprint,
                provider: provider.clone(),
                kind,
                secrets: values.clone(),
            },
        );
        Ok(Account {
            kind,
            provider,
            config_name: config_name.to_string(),
            identity: account.identity(),
            secrets: values,
        })
    }

    /// A Secret, from memory where its version is known ([`Stores::secret`]).
    pub async fn secret(
        &self,
        ns: &str,
        name: &str,
    ) -> Result<Option<Arc<k8s_openapi::api::core::v1::Secret>>, Error> {
        self.stores.secret(ns, name).await
    }

    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// The shared connection pool, built with the first client's settings.
    fn transport(&self, settings: &ClientSettings) -> Result<reqwest::Client, Error> {
        let mut shared = lock(&self.transport);
        if let Some(client) = shared.as_ref() {
            return Ok(client.clone());
        }
        let client = transport(settings)?;
        *shared = Some(client.clone());
        Ok(client)
    }

    fn limiter(
        &self,
        identity: &str,
        config_name: &str,
        rate: Option<&RateLimit>,
    ) -> AccountLimiter {
        let wanted = match rate {
            Some(r) => (
                r.requests_per_second,
                r.burst.unwrap_or(r.requests_per_second),
            ),
            None => (self.default_rate, self.default_rate.saturating_mul(2)),
        };
        self.gates.gate(identity, config_name, wanted)
    }
}

impl Gates {
    /// The gate of the account `identity`, shared by every ProviderConfig of that account and
    /// kept across client rebuilds. `wanted` is (requests per second, burst) of `config_name`;
    /// when the configs of one account ask for different rates, the smallest wins.
    pub fn gate(&self, identity: &str, config_name: &str, wanted: (u32, u32)) -> AccountLimiter {
        let mut gates = lock(&self.0);
        // A config whose account changed (another endpoint or id) no longer counts for the old one.
        for (other, shared) in gates.iter_mut() {
            if other != identity && shared.rates.remove(config_name).is_some() {
                shared.apply_smallest();
            }
        }
        let shared = gates
            .entry(identity.to_string())
            .or_insert_with(|| SharedGate {
                rates: BTreeMap::new(),
                gate: account_limiter(wanted.0, wanted.1),
            });
        shared.rates.insert(config_name.to_string(), wanted);
        shared.apply_smallest();
        shared.gate.clone()
    }
}

impl SharedGate {
    /// Runs the gate at the smallest rate and burst its configs ask for.
    fn apply_smallest(&self) {
        let per_second = self.rates.values().map(|r| r.0).min();
        let burst = self.rates.values().map(|r| r.1).min();
        if let (Some(per_second), Some(burst)) = (per_second, burst) {
            self.gate.set_rate(per_second, burst);
        }
    }
}

/// The client of one provider account from its spec and the data of its credentials Secret
/// (`secret_namespace/secret_name`, for messages), with the credentials' values to redact.
/// Shared by the operator and the CLI (`ssoperator export` and `diff`, whose credentials come
/// from a file or the environment).
pub fn build_provider(
    kind: ProviderKind,
    account: &ProviderAccount,
    data: &BTreeMap<String, ByteString>,
    secret_namespace: &str,
    secret_name: &str,
    settings: ClientSettings,
) -> Result<(DynProvider, Secrets), Error> {
    let mut values = Secrets::default();
    for v in data.values() {
        if let Ok(v) = std::str::from_utf8(&v.0) {
            values.add(&SecretValue::new(v.trim_end_matches(['\n', '\r'])));
        }
    }
    let mut credentials = CredentialValues::default();
    for key in kind.descriptor().credential_keys {
        credentials.insert(key, secret_key(data, key, secret_namespace, secret_name)?);
    }
    let provider = kind.descriptor().client(account, &credentials, settings)?;
    Ok((provider, values))
}

/// Reads one key of a Secret's data, naming the Secret and key (never the value) when it is missing.
pub fn secret_key(
    data: &BTreeMap<String, ByteString>,
    key: &str,
    namespace: &str,
    name: &str,
) -> Result<SecretValue, Error> {
    let v = data.get(key).ok_or_else(|| {
        Error::dependency(
            Reason::SecretKeyNotFound,
            format!("Secret {namespace}/{name} has no key {key:?}"),
        )
    })?;
    let s = String::from_utf8(v.0.clone()).map_err(|_| {
        Error::refused(
            Reason::InvalidSecret,
            format!("key {key:?} of Secret {namespace}/{name} is not UTF-8"),
        )
    })?;
    Ok(SecretValue::new(
        s.trim_end_matches(['\n', '\r']).to_string(),
    ))
}

/// A ProviderConfig or ClusterProviderConfig as the registry needs it.
struct ConfigRead {
    name: String,
    account: ProviderAccount,
    secret_namespace: String,
    generation: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{ClerkAccount, QoveryAccount};

    fn account(endpoint: &str, org: Option<&str>) -> ProviderAccount {
        let mut a = ProviderAccount {
            endpoint: Some(endpoint.to_string()),
            ..Default::default()
        };
        match org {
            Some(o) => {
                a.qovery = Some(QoveryAccount {
                    organization_id: o.to_string(),
                })
            }
            None => a.clerk = Some(ClerkAccount::default()),
        }
        a
    }

    #[test]
    fn accepted_credentials_stand_for_a_period_and_a_refusal_forgets_them() {
        let accepted = AcceptedCredentials::default();
        let period = Duration::from_secs(60);
        assert!(!accepted.lately(b"a", period), "never checked");
        accepted.checked(b"a".to_vec(), true, period);
        assert!(accepted.lately(b"a", period));
        assert!(
            !accepted.lately(b"b", period),
            "other credentials, another check"
        );
        assert!(!accepted.lately(b"a", Duration::ZERO), "the period is over");
        accepted.checked(b"a".to_vec(), false, period);
        assert!(!accepted.lately(b"a", period), "refused since");
        // Entries older than the period are dropped at the next record.
        accepted.checked(b"c".to_vec(), true, period);
        accepted.checked(b"d".to_vec(), true, Duration::ZERO);
        assert_eq!(lock(&accepted.0).len(), 1);
    }

    #[test]
    fn two_configs_of_one_account_share_one_gate_at_the_smaller_rate() {
        let gates = Gates::default();
        let a = account("http://127.0.0.1:9/", None);
        let b = account("http://127.0.0.1:9", None);
        let ga = gates.gate(&a.identity(), "ProviderConfig ns/a", (10, 10));
        let gb = gates.gate(&b.identity(), "ProviderConfig other/b", (20, 40));
        assert!(Arc::ptr_eq(&ga, &gb), "one account, one gate");
        assert_eq!(ga.rate(), (10, 10));
        // A 429 seen through one config pauses the other.
        ga.pause(std::time::Duration::from_secs(5));
        assert!(gb.paused_for().is_some());
        // Another endpoint or organization is another account.
        let org = "3f8d2c4e-9b1a-4c7e-8f2d-5a6b7c8d9e0f";
        let q1 = gates.gate(&account("http://x", Some(org)).identity(), "c", (5, 5));
        let q2 = gates.gate(
            &account("http://x", Some("00000000-9b1a-4c7e-8f2d-5a6b7c8d9e0f")).identity(),
            "d",
            (5, 5),
        );
        let c = gates.gate(&account("http://y", None).identity(), "e", (5, 5));
        assert!(!Arc::ptr_eq(&q1, &q2) && !Arc::ptr_eq(&ga, &c));
        // A config that moves to another account stops counting for the first.
        gates.gate(
            &account("http://y", None).identity(),
            "ProviderConfig ns/a",
            (10, 10),
        );
        assert_eq!(gb.rate(), (20, 40));
    }
}
