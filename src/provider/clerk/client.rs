//! HTTP calls to Clerk's Backend API and the mapping of its answers to [`ProviderError`].

use std::fmt;

use reqwest::{StatusCode, Url};
use serde_json::{Map, Value};

use super::api::{
    ClerkErrors, CreateEnterpriseConnection, EnterpriseConnection, EnterpriseConnectionList,
};
use super::mapping::spec_field;
use crate::core::desired::SecretValue;
use crate::provider::http::{HttpClient, Idempotency, Response};
use crate::provider::{CredentialValues, ProviderError};

/// Credentials of one Clerk instance.
#[derive(Clone)]
pub struct Credentials {
    /// The instance's secret key (`sk_live_...` or `sk_test_...`).
    pub secret_key: SecretValue,
}

impl Credentials {
    /// The credentials Secret's keys ([`crate::provider::Descriptor::credential_keys`]).
    pub const KEYS: &[&str] = &["secretKey"];

    pub fn from_values(values: &CredentialValues) -> Result<Self, ProviderError> {
        Ok(Self {
            secret_key: values.get("secretKey")?,
        })
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("secret_key", &self.secret_key)
            .finish()
    }
}

/// Path of the collection, below the base URL.
const COLLECTION: [&str; 2] = ["v1", "enterprise_connections"];

/// A thin, typed client of `/v1/enterprise_connections`.
#[derive(Clone)]
pub struct Client {
    http: HttpClient,
    base: Url,
    credentials: Credentials,
    api_version: String,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("clerk::Client")
            .field("base", &self.base.as_str())
            .field("credentials", &self.credentials)
            .field("api_version", &self.api_version)
            .finish()
    }
}

impl Client {
    pub fn new(
        http: HttpClient,
        base_url: &str,
        credentials: Credentials,
        api_version: String,
    ) -> Result<Self, ProviderError> {
        let base = Url::parse(base_url)
            .ok()
            .filter(|u| !u.cannot_be_a_base())
            .ok_or_else(|| ProviderError::Invalid {
                message: "the Clerk base URL is not an absolute http(s) URL".into(),
                field: Some("baseUrl".into()),
            })?;
        Ok(Self {
            http,
            base,
            credentials,
            api_version,
        })
    }

    /// Base URL plus the collection path and `extra` segments, each percent-encoded (ids come
    /// from users through externalName).
    fn url(&self, extra: Option<&str>) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.pop_if_empty().extend(COLLECTION);
            if let Some(id) = extra {
                segs.push(id);
            }
        }
        url
    }

    fn authed(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        rb.bearer_auth(self.credentials.secret_key.expose())
            .header("Clerk-API-Version", &self.api_version)
            .header(reqwest::header::ACCEPT, "application/json")
    }

    /// One page; `limit` 1..=500.
    pub async fn list(
        &self,
        operation: &'static str,
        limit: u32,
        offset: u64,
    ) -> Result<EnterpriseConnectionList, ProviderError> {
        let url = self.url(None);
        let query = [("limit", limit.to_string()), ("offset", offset.to_string())];
        let resp = self
            .http
            .send(
                operation,
                Idempotency::Idempotent,
                |c| self.authed(c.get(url.clone()).query(&query)),
                classify,
            )
            .await?;
        resp.json()
    }

    /// `None` when Clerk answers 404.
    pub async fn get(&self, id: &str) -> Result<Option<EnterpriseConnection>, ProviderError> {
        let url = self.url(Some(id));
        let result = self
            .http
            .send(
                "get",
                Idempotency::Idempotent,
                |c| self.authed(c.get(url.clone())),
                classify,
            )
            .await;
        match result {
            Ok(resp) => resp.json().map(Some),
            Err(ProviderError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn create(
        &self,
        body: &CreateEnterpriseConnection,
    ) -> Result<EnterpriseConnection, ProviderError> {
        let url = self.url(None);
        let resp = self
            .http
            .send(
                "create",
                Idempotency::NonIdempotent,
                |c| self.authed(c.post(url.clone()).json(body)),
                classify,
            )
            .await?;
        resp.json()
    }

    pub async fn update(
        &self,
        id: &str,
        body: &Map<String, Value>,
    ) -> Result<EnterpriseConnection, ProviderError> {
        let url = self.url(Some(id));
        let resp = self
            .http
            .send(
                "update",
                Idempotency::Idempotent,
                |c| self.authed(c.patch(url.clone()).json(body)),
                classify,
            )
            .await?;
        resp.json()
    }

    /// Deletes; a 404 counts as done.
    pub async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        let url = self.url(Some(id));
        let result = self
            .http
            .send(
                "delete",
                Idempotency::Idempotent,
                |c| self.authed(c.delete(url.clone())),
                classify,
            )
            .await;
        match result {
            Ok(_) | Err(ProviderError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Maps a non-2xx answer and its `ClerkErrors` body to a [`ProviderError`]. Clerk's messages never
/// echo submitted values, so they are safe to pass on.
pub fn classify(resp: &Response) -> ProviderError {
    let body: ClerkErrors = serde_json::from_slice(&resp.body).unwrap_or_default();
    let first = body.errors.first();
    let mut message = match first {
        Some(e) => {
            let text = if e.long_message.is_empty() {
                &e.message
            } else {
                &e.long_message
            };
            if e.code.is_empty() {
                text.clone()
            } else {
                format!("{text} ({})", e.code)
            }
        }
        None => format!("HTTP {}", resp.status.as_u16()),
    };
    if let Some(trace) = &body.clerk_trace_id {
        message.push_str(&format!(" [clerk_trace_id {trace}]"));
    }
    let field = first
        .and_then(|e| e.meta.as_ref())
        .and_then(|m| m.param_name.as_deref())
        .map(spec_field);
    match resp.status {
        StatusCode::UNAUTHORIZED => ProviderError::Unauthenticated(message),
        StatusCode::PAYMENT_REQUIRED => ProviderError::PermissionDenied(format!(
            "the Clerk plan does not include this feature: {message}"
        )),
        // The description answers a refused key with 403 (AuthorizationInvalid), not 401: a key
        // Clerk cannot authenticate is bad credentials, any other 403 a missing permission.
        StatusCode::FORBIDDEN
            if first.is_some_and(|e| {
                e.code.starts_with("authentication_") || e.code.starts_with("authorization_header")
            }) =>
        {
            ProviderError::Unauthenticated(message)
        }
        StatusCode::FORBIDDEN => ProviderError::PermissionDenied(message),
        StatusCode::NOT_FOUND => ProviderError::NotFound(message),
        StatusCode::CONFLICT => ProviderError::Conflict(message),
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
            ProviderError::Invalid { message, field }
        }
        s if s.is_server_error() => ProviderError::Unavailable(message),
        _ => ProviderError::Invalid { message, field },
    }
}
