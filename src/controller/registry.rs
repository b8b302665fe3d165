//! Builds provider clients from ProviderConfigs and their credentials Secrets, and caches them:
//! one client, one token bucket and one token cache per account.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{Api, Client, ResourceExt};

use super::error::Error;
use crate::{
    core::desired::SecretValue,
    crd::{
        ClusterProviderConfig, ProviderAccount, ProviderConfig, ProviderConfigKind,
        ProviderConfigRef, RateLimit,
    },
    leader::Fence,
    provider::{
        CallObserver, DynProvider, ProviderKind, atlas, auth0, clerk,
        http::{AccountLimiter, ClientSettings, account_limiter},
        loginradius, qovery,
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
}

struct Cached {
    fingerprint: String,
    provider: DynProvider,
    kind: ProviderKind,
}

/// Caches one client per ProviderConfig; rebuilt when the config or its Secret changes.
pub struct Registry {
    client: Client,
    observer: Arc<dyn CallObserver>,
    default_rate: u32,
    clients: Mutex<HashMap<String, Cached>>,
    limiters: Mutex<HashMap<String, (Option<RateLimit>, AccountLimiter)>>,
    /// User-Agent and leadership fence of every provider client.
    user_agent: Option<String>,
    fence: Option<Fence>,
}

/// Which provider block an account sets.
pub fn provider_kind(account: &ProviderAccount) -> Option<ProviderKind> {
    if account.qovery.is_some() {
        Some(ProviderKind::Qovery)
    } else if account.auth0.is_some() {
        Some(ProviderKind::Auth0)
    } else if account.loginradius.is_some() {
        Some(ProviderKind::LoginRadius)
    } else if account.clerk.is_some() {
        Some(ProviderKind::Clerk)
    } else if account.atlas.is_some() {
        Some(ProviderKind::Atlas)
    } else {
        None
    }
}

impl Registry {
    pub fn new(client: Client, observer: Arc<dyn CallObserver>, default_rate: u32) -> Self {
        Self {
            client,
            observer,
            default_rate,
            clients: Mutex::default(),
            limiters: Mutex::default(),
            user_agent: None,
            fence: None,
        }
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

    /// The identity ([`ProviderAccount::identity`]) of the account a resource refers to.
    pub async fn identity(&self, namespace: &str, r: &ProviderConfigRef) -> Result<String, Error> {
        Ok(self.config(namespace, r).await?.account.identity())
    }

    /// Reads the ProviderConfig or ClusterProviderConfig a resource in `namespace` refers to.
    async fn config(&self, namespace: &str, r: &ProviderConfigRef) -> Result<ConfigRead, Error> {
        match r.kind {
            ProviderConfigKind::ProviderConfig => {
                let api: Api<ProviderConfig> = Api::namespaced(self.client.clone(), namespace);
                let pc = api.get_opt(&r.name).await?.ok_or_else(|| {
                    Error::dependency(
                        "ProviderConfigNotFound",
                        format!("ProviderConfig {namespace}/{} not found", r.name),
                    )
                })?;
                Ok(ConfigRead {
                    name: format!("ProviderConfig {namespace}/{}", r.name),
                    secret_namespace: namespace.to_string(),
                    generation: pc.metadata.generation,
                    account: pc.spec.account,
                })
            }
            ProviderConfigKind::ClusterProviderConfig => {
                let api: Api<ClusterProviderConfig> = Api::all(self.client.clone());
                let pc = api.get_opt(&r.name).await?.ok_or_else(|| {
                    Error::dependency(
                        "ProviderConfigNotFound",
                        format!("ClusterProviderConfig {} not found", r.name),
                    )
                })?;
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
                    account: pc.spec.account,
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
                "InvalidProviderConfig",
                format!("{config_name} sets no provider block"),
            )
        })?;
        let secret_name = &account.credentials_secret_ref.name;
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), secret_namespace);
        let secret = secrets.get_opt(secret_name).await?.ok_or_else(|| {
            Error::dependency(
                "SecretNotFound",
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
            });
        }
        let data = secret.data.unwrap_or_default();
        let key = |k: &str| secret_key(&data, k, secret_namespace, secret_name);
        let mut settings = ClientSettings::new(String::new());
        settings.observer = self.observer.clone();
        if let Some(ua) = &self.user_agent {
            settings.user_agent = ua.clone();
        }
        settings.fence = self.fence.clone();
        settings.limiter = Some(self.limiter(config_name, account.rate_limit.as_ref()));
        let base = |default: &str| {
            account
                .endpoint
                .clone()
                .unwrap_or_else(|| default.to_string())
        };
        let provider: DynProvider = match kind {
            ProviderKind::Qovery => {
                let a = account
                    .qovery
                    .as_ref()
                    .map(|a| a.organization_id.clone())
                    .unwrap_or_default();
                settings.base_url = base(qovery::DEFAULT_BASE_URL);
                Arc::new(qovery::QoveryProvider::new(
                    settings,
                    a,
                    qovery::Credentials {
                        token: key("token")?,
                    },
                )?)
            }
            ProviderKind::Auth0 => {
                let domain = account
                    .auth0
                    .as_ref()
                    .map(|a| a.domain.clone())
                    .unwrap_or_default();
                settings.base_url = base(&format!("https://{domain}"));
                let creds = auth0::Credentials {
                    client_id: key("clientId")?.expose().to_string(),
                    client_secret: key("clientSecret")?,
                };
                Arc::new(auth0::Auth0Provider::new(settings, domain, creds)?)
            }
            ProviderKind::LoginRadius => {
                let org = account
                    .loginradius
                    .as_ref()
                    .map(|a| a.organization_id.clone())
                    .unwrap_or_default();
                settings.base_url = base(loginradius::DEFAULT_BASE_URL);
                let creds = loginradius::Credentials {
                    api_key: key("apiKey")?,
                    api_secret: key("apiSecret")?,
                };
                Arc::new(loginradius::LoginRadiusProvider::new(settings, org, creds)?)
            }
            ProviderKind::Clerk => {
                let version = account.clerk.as_ref().and_then(|a| a.api_version.clone());
                settings.base_url = base(clerk::DEFAULT_BASE_URL);
                let creds = clerk::Credentials {
                    secret_key: key("secretKey")?,
                };
                Arc::new(clerk::ClerkProvider::new(settings, version, creds)?)
            }
            ProviderKind::Atlas => {
                let fed = account
                    .atlas
                    .as_ref()
                    .map(|a| a.federation_settings_id.clone())
                    .unwrap_or_default();
                settings.base_url = base(atlas::DEFAULT_BASE_URL);
                let creds = atlas::Credentials {
                    public_key: key("publicKey")?.expose().to_string(),
                    private_key: key("privateKey")?,
                };
                Arc::new(atlas::AtlasProvider::new(settings, fed, creds)?)
            }
        };
        lock(&self.clients).insert(
            config_name.to_string(),
            Cached {
                fingerprint,
                provider: provider.clone(),
                kind,
            },
        );
        Ok(Account {
            kind,
            provider,
            config_name: config_name.to_string(),
            identity: account.identity(),
        })
    }

    /// One token bucket per account, kept across client rebuilds while the rate limit is unchanged.
    fn limiter(&self, config_name: &str, rate: Option<&RateLimit>) -> AccountLimiter {
        let mut limiters = lock(&self.limiters);
        if let Some((r, l)) = limiters.get(config_name)
            && r.as_ref() == rate
        {
            return l.clone();
        }
        let (per_second, burst) = match rate {
            Some(r) => (
                r.requests_per_second,
                r.burst.unwrap_or(r.requests_per_second),
            ),
            None => (self.default_rate, self.default_rate.saturating_mul(2)),
        };
        let l = account_limiter(per_second, burst);
        limiters.insert(config_name.to_string(), (rate.cloned(), l.clone()));
        l
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
            "SecretKeyNotFound",
            format!("Secret {namespace}/{name} has no key {key:?}"),
        )
    })?;
    let s = String::from_utf8(v.0.clone()).map_err(|_| {
        Error::refused(
            "InvalidSecret",
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
