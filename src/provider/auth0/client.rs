//! HTTP calls to the Auth0 Management API: the management token (client-credentials grant, cached
//! and shared by clones), the connection-profile endpoints, and the mapping of Auth0's error bodies.

use std::{
    fmt,
    sync::Arc,
    time::{Duration, Instant},
};

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::Mutex;

use super::{
    api::{ConnectionProfile, ConnectionProfileList, ErrorBody, OAuthError, TokenResponse},
    mapping,
};
use crate::core::desired::SecretValue;
use crate::provider::{
    CredentialValues, ProviderError,
    http::{ClientSettings, HttpClient, Idempotency, Response},
};

/// A machine-to-machine application's credentials.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub client_id: String,
    /// Redacted in Debug output.
    pub client_secret: SecretValue,
}

impl Credentials {
    /// The credentials Secret's keys ([`crate::provider::Descriptor::credential_keys`]).
    pub const KEYS: &[&str] = &["clientId", "clientSecret"];

    pub fn from_values(values: &CredentialValues) -> Result<Self, ProviderError> {
        Ok(Self {
            client_id: values.get("clientId")?.expose().to_string(),
            client_secret: values.get("clientSecret")?,
        })
    }
}

/// A management API access token and when to stop using it.
struct CachedToken {
    value: SecretValue,
    refresh_at: Instant,
}

/// How long before `expires_in` a token is replaced: 60 s, or a tenth of a short lifetime.
fn refresh_margin(expires_in: Duration) -> Duration {
    (expires_in / 10).min(Duration::from_secs(60))
}

/// Client of one Auth0 tenant. Clones share the HTTP client, the rate-limit bucket and the token.
#[derive(Clone)]
pub struct Client {
    http: HttpClient,
    domain: String,
    credentials: Credentials,
    base_url: String,
    token: Arc<Mutex<Option<CachedToken>>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth0Client")
            .field("domain", &self.domain)
            .field("base_url", &self.base_url)
            .field("client_id", &self.credentials.client_id)
            .field("client_secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// The page size of this list: the official SDK's default `take` (Auth0's description sets no
/// maximum; the former 10 came from an unofficial copy of the spec).
pub const MAX_TAKE: u32 = 50;

const PROFILES: &str = "/api/v2/connection-profiles";

impl Client {
    pub fn new(
        settings: ClientSettings,
        domain: String,
        credentials: Credentials,
    ) -> Result<Self, ProviderError> {
        let domain = domain.trim().trim_end_matches('/').to_string();
        if domain.is_empty() {
            return Err(ProviderError::invalid("auth0: the tenant domain is empty"));
        }
        url::Url::parse(&settings.base_url).map_err(|e| ProviderError::Invalid {
            message: format!("auth0: bad base URL: {e}"),
            field: Some("baseUrl".into()),
        })?;
        let base_url = settings.base_url.clone();
        Ok(Self {
            http: HttpClient::new(super::KIND, settings)?,
            domain,
            credentials,
            base_url,
            token: Arc::new(Mutex::new(None)),
        })
    }

    /// The Management API audience of the tenant (always the canonical domain, even behind an endpoint override).
    pub fn audience(&self) -> String {
        format!("https://{}/api/v2/", self.domain)
    }

    fn profile_url(&self, id: &str) -> Result<String, ProviderError> {
        let mut url = url::Url::parse(&self.http.url(PROFILES))
            .map_err(|e| ProviderError::invalid(format!("auth0: bad URL: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| ProviderError::invalid("auth0: base URL cannot take a path"))?
            .push(id);
        Ok(url.into())
    }

    /// A valid management token: the cached one, or a new one from `/oauth/token`. The lock is held
    /// during the fetch so that concurrent callers wait for one grant instead of each asking.
    pub(crate) async fn token(
        &self,
        stale: Option<&SecretValue>,
    ) -> Result<SecretValue, ProviderError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref() {
            let is_stale = stale.is_some_and(|s| s == &t.value);
            if !is_stale && Instant::now() < t.refresh_at {
                return Ok(t.value.clone());
            }
        }
        *cached = None;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.credentials.client_id.as_str()),
            ("client_secret", self.credentials.client_secret.expose()),
            ("audience", &self.audience()),
        ];
        let url = self.http.url("/oauth/token");
        let resp = self
            .http
            .send(
                "token",
                Idempotency::Idempotent,
                |c| c.post(&url).form(&form),
                classify_token,
            )
            .await?;
        let body: TokenResponse = resp.json()?;
        // Capped so that a wild `expires_in` cannot overflow the clock arithmetic.
        let lifetime = Duration::from_secs(body.expires_in.unwrap_or(86_400).min(30 * 86_400));
        let value = SecretValue::new(body.access_token);
        *cached = Some(CachedToken {
            value: value.clone(),
            refresh_at: Instant::now() + lifetime - refresh_margin(lifetime),
        });
        Ok(value)
    }

    /// One Management API call with the bearer token; a 401 drops the token and retries once with a new one.
    async fn call(
        &self,
        operation: &'static str,
        idempotency: Idempotency,
        method: Method,
        url: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Response, ProviderError> {
        let mut stale = None;
        for _ in 0..2 {
            let token = self.token(stale.as_ref()).await?;
            let result = self
                .http
                .send(
                    operation,
                    idempotency,
                    |c| {
                        let mut req = c
                            .request(method.clone(), url)
                            .bearer_auth(token.expose())
                            .header("accept", "application/json");
                        if !query.is_empty() {
                            req = req.query(query);
                        }
                        if let Some(b) = body {
                            req = req.json(b);
                        }
                        req
                    },
                    classify,
                )
                .await;
            match result {
                Err(ProviderError::Unauthenticated(_)) if stale.is_none() => stale = Some(token),
                other => return other,
            }
        }
        Err(ProviderError::Unauthenticated(
            "auth0: the management token was refused twice".into(),
        ))
    }

    /// `GET /api/v2/connection-profiles/{id}`; `None` on 404.
    pub async fn get(&self, id: &str) -> Result<Option<ConnectionProfile>, ProviderError> {
        let url = self.profile_url(id)?;
        match self
            .call("get", Idempotency::Idempotent, Method::GET, &url, &[], None)
            .await
        {
            Ok(resp) => resp.json().map(Some),
            Err(ProviderError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /api/v2/connection-profiles?from=&take=` (checkpoint pagination).
    pub async fn list(
        &self,
        from: Option<&str>,
        take: u32,
        operation: &'static str,
    ) -> Result<ConnectionProfileList, ProviderError> {
        let url = self.http.url(PROFILES);
        let mut query = vec![("take", take.clamp(1, MAX_TAKE).to_string())];
        if let Some(from) = from {
            query.push(("from", from.to_string()));
        }
        self.call(
            operation,
            Idempotency::Idempotent,
            Method::GET,
            &url,
            &query,
            None,
        )
        .await?
        .json()
    }

    /// `POST /api/v2/connection-profiles` (201).
    pub async fn create(
        &self,
        body: &ConnectionProfile,
    ) -> Result<ConnectionProfile, ProviderError> {
        let url = self.http.url(PROFILES);
        let body = serde_json::to_value(body)
            .map_err(|e| ProviderError::invalid(format!("auth0: cannot encode profile: {e}")))?;
        self.call(
            "create",
            Idempotency::NonIdempotent,
            Method::POST,
            &url,
            &[],
            Some(&body),
        )
        .await?
        .json()
    }

    /// `PATCH /api/v2/connection-profiles/{id}` (200).
    pub async fn patch(&self, id: &str, body: &Value) -> Result<ConnectionProfile, ProviderError> {
        let url = self.profile_url(id)?;
        self.call(
            "update",
            Idempotency::Idempotent,
            Method::PATCH,
            &url,
            &[],
            Some(body),
        )
        .await?
        .json()
    }

    /// `DELETE /api/v2/connection-profiles/{id}` (200, empty body); 404 counts as done.
    pub async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        let url = self.profile_url(id)?;
        match self
            .call(
                "delete",
                Idempotency::Idempotent,
                Method::DELETE,
                &url,
                &[],
                None,
            )
            .await
        {
            Ok(_) | Err(ProviderError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Maps a Management API error answer (`{statusCode, error, message, errorCode}`) to a ProviderError.
pub fn classify(resp: &Response) -> ProviderError {
    let body: ErrorBody = serde_json::from_slice(&resp.body).unwrap_or_default();
    let message = body
        .message
        .clone()
        .or(body.error.clone())
        .unwrap_or_else(|| {
            resp.status
                .canonical_reason()
                .unwrap_or("error")
                .to_string()
        });
    let text = match &body.error_code {
        Some(code) => format!("auth0 {} ({code}): {message}", resp.status.as_u16()),
        None => format!("auth0 {}: {message}", resp.status.as_u16()),
    };
    match resp.status {
        StatusCode::UNAUTHORIZED => ProviderError::Unauthenticated(text),
        StatusCode::FORBIDDEN => ProviderError::PermissionDenied(text),
        StatusCode::NOT_FOUND => ProviderError::NotFound(text),
        StatusCode::CONFLICT => ProviderError::Conflict(text),
        StatusCode::TOO_MANY_REQUESTS => ProviderError::RateLimited {
            retry_after: crate::provider::http::retry_after(&resp.headers)
                .unwrap_or(Duration::from_secs(1)),
        },
        s if s.is_server_error() => ProviderError::Unavailable(text),
        _ => ProviderError::Invalid {
            field: mapping::field_in_message(&message).map(|f| mapping::spec_path(&f)),
            message: text,
        },
    }
}

/// Maps an Authentication API (`/oauth/token`) error answer (`{error, error_description}`).
pub fn classify_token(resp: &Response) -> ProviderError {
    let body: OAuthError = serde_json::from_slice(&resp.body).unwrap_or_default();
    let text = format!(
        "auth0 token {}: {}: {}",
        resp.status.as_u16(),
        body.error.as_deref().unwrap_or("error"),
        body.error_description
            .as_deref()
            .unwrap_or("no description")
    );
    match resp.status {
        StatusCode::UNAUTHORIZED => ProviderError::Unauthenticated(text),
        // access_denied / unauthorized_client: the application may not call the Management API.
        StatusCode::FORBIDDEN => ProviderError::PermissionDenied(text),
        StatusCode::TOO_MANY_REQUESTS => ProviderError::RateLimited {
            retry_after: crate::provider::http::retry_after(&resp.headers)
                .unwrap_or(Duration::from_secs(1)),
        },
        s if s.is_server_error() => ProviderError::Unavailable(text),
        _ => ProviderError::invalid(text),
    }
}
