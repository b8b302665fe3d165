//! HTTP calls to the Atlas Admin API v2 with HTTP Digest authentication, and error mapping.
//!
//! Digest (RFC 7616, MD5, qop=auth): the first call gets a `401` challenge; the client answers it
//! and keeps the nonce, counting `nc` up on each later call, so that a 401 round trip is paid only
//! when the server issues a new nonce.

use std::{
    fmt,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use digest_auth::{AuthContext, HttpMethod, WwwAuthenticateHeader};
use reqwest::{
    Method, StatusCode,
    header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE},
};

use super::api::{ApiError, ConfigPage, ConnectedOrgConfig, MEDIA_TYPE};
use super::mapping;
use crate::core::desired::SecretValue;
use crate::provider::http::{ClientSettings, HttpClient, Idempotency, Response, path_segment};
use crate::provider::{CredentialValues, ProviderError};

/// A programmatic API key of an Atlas organization.
#[derive(Clone)]
pub struct Credentials {
    pub public_key: String,
    pub private_key: SecretValue,
}

impl Credentials {
    /// The credentials Secret's keys ([`crate::provider::Descriptor::credential_keys`]).
    pub const KEYS: &[&str] = &["publicKey", "privateKey"];

    pub fn from_values(values: &CredentialValues) -> Result<Self, ProviderError> {
        Ok(Self {
            public_key: values.get("publicKey")?.expose().to_string(),
            private_key: values.get("privateKey")?,
        })
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("public_key", &"<redacted>")
            .field("private_key", &self.private_key)
            .finish()
    }
}

/// Client of one federation's connected-org configs.
pub struct Client {
    http: HttpClient,
    base_url: String,
    federation_settings_id: String,
    credentials: Credentials,
    /// The last Digest challenge; answering it again only needs a higher `nc`.
    challenge: Mutex<Option<WwwAuthenticateHeader>>,
    /// Bumped each time a 401 brings a new challenge.
    challenges_seen: AtomicU64,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("atlas::Client")
            .field("base_url", &self.base_url)
            .field("federation_settings_id", &self.federation_settings_id)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(
        settings: ClientSettings,
        federation_settings_id: String,
        credentials: Credentials,
    ) -> Result<Self, ProviderError> {
        let base_url = settings.base_url.clone();
        Ok(Self {
            http: HttpClient::new(super::KIND, settings)?,
            base_url,
            federation_settings_id,
            credentials,
            challenge: Mutex::new(None),
            challenges_seen: AtomicU64::new(0),
        })
    }

    fn configs_path(&self) -> String {
        format!(
            "/api/atlas/v2/federationSettings/{}/connectedOrgConfigs",
            path_segment(&self.federation_settings_id)
        )
    }

    fn config_path(&self, org_id: &str) -> String {
        format!("{}/{}", self.configs_path(), path_segment(org_id))
    }

    /// GET one connected org config; `None` on 404.
    pub async fn get(&self, org_id: &str) -> Result<Option<ConnectedOrgConfig>, ProviderError> {
        match self
            .call("get", Method::GET, self.config_path(org_id), None)
            .await
        {
            Ok(resp) => resp.json().map(Some),
            Err(ProviderError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// GET one page of connected org configs (`pageNum` from 1).
    pub async fn list(
        &self,
        operation: &'static str,
        items_per_page: u32,
        page_num: u32,
    ) -> Result<ConfigPage, ProviderError> {
        let path = format!(
            "{}?itemsPerPage={items_per_page}&pageNum={page_num}",
            self.configs_path()
        );
        self.call(operation, Method::GET, path, None).await?.json()
    }

    /// PATCH the complete object (the API replaces it whole).
    pub async fn patch(
        &self,
        org_id: &str,
        config: &ConnectedOrgConfig,
    ) -> Result<ConnectedOrgConfig, ProviderError> {
        let body = serde_json::to_vec(config)
            .map_err(|e| ProviderError::invalid(format!("cannot encode the org config: {e}")))?;
        self.call(
            "update",
            Method::PATCH,
            self.config_path(org_id),
            Some(body),
        )
        .await?
        .json()
    }

    /// One call, answering a Digest challenge once if the server sends a new one.
    async fn call(
        &self,
        operation: &'static str,
        method: Method,
        path_and_query: String,
        body: Option<Vec<u8>>,
    ) -> Result<Response, ProviderError> {
        let url = self.http.url(&path_and_query);
        // The digest covers the request-target as sent, including any path prefix of the base URL.
        let digest_uri = match url::Url::parse(&url) {
            Ok(u) => match u.query() {
                Some(q) => format!("{}?{q}", u.path()),
                None => u.path().to_string(),
            },
            Err(_) => path_and_query.clone(),
        };
        let mut answered_fresh = false;
        loop {
            let seen = self.challenges_seen.load(Ordering::SeqCst);
            let result = self
                .http
                .send(
                    operation,
                    Idempotency::Idempotent,
                    |c| {
                        let mut rb = c.request(method.clone(), &url).header(ACCEPT, MEDIA_TYPE);
                        if let Some(b) = &body {
                            rb = rb.header(CONTENT_TYPE, MEDIA_TYPE).body(b.clone());
                        }
                        if let Some(auth) = self.authorization(method.as_str(), &digest_uri) {
                            rb = rb.header(AUTHORIZATION, auth);
                        }
                        rb
                    },
                    |resp| {
                        self.keep_challenge(resp);
                        classify(resp)
                    },
                )
                .await;
            match result {
                // A new challenge arrived (first call, or the nonce expired): answer it once.
                Err(ProviderError::Unauthenticated(_))
                    if !answered_fresh && self.challenges_seen.load(Ordering::SeqCst) != seen =>
                {
                    answered_fresh = true;
                }
                other => return other,
            }
        }
    }

    /// The `Authorization` header answering the current challenge, if there is one.
    fn authorization(&self, method: &str, uri: &str) -> Option<String> {
        let mut guard = self.challenge.lock().unwrap_or_else(|e| e.into_inner());
        let challenge = guard.as_mut()?;
        let ctx = AuthContext::new_with_method(
            self.credentials.public_key.as_str(),
            self.credentials.private_key.expose(),
            uri,
            None::<&[u8]>,
            HttpMethod::from(method.to_string()),
        );
        challenge.respond(&ctx).ok().map(|h| h.to_string())
    }

    /// Keeps the Digest challenge of a 401, if it brings a new one.
    fn keep_challenge(&self, resp: &Response) {
        if resp.status == StatusCode::UNAUTHORIZED {
            let challenge = resp
                .headers
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .filter(|v| v.trim_start().starts_with("Digest"))
                .and_then(|v| digest_auth::parse(v).ok());
            if let Some(c) = challenge {
                *self.challenge.lock().unwrap_or_else(|e| e.into_inner()) = Some(c);
                self.challenges_seen.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

/// Status and Atlas `ApiError` body to [`ProviderError`]; messages carry Atlas' code and detail only.
pub fn classify(resp: &Response) -> ProviderError {
    let err: ApiError = serde_json::from_slice(&resp.body).unwrap_or_default();
    let code = err.error_code.clone().unwrap_or_else(|| {
        resp.status
            .canonical_reason()
            .unwrap_or("error")
            .to_string()
    });
    let message = match err.detail.as_deref().or(err.reason.as_deref()) {
        Some(detail) => format!("{code}: {detail}"),
        None => code.clone(),
    };
    match resp.status.as_u16() {
        400 | 422 => {
            let field = err
                .parameters
                .iter()
                .filter_map(|p| p.as_str())
                .find_map(mapping::spec_field)
                .map(str::to_string);
            ProviderError::Invalid { message, field }
        }
        401 => ProviderError::Unauthenticated(format!("Atlas refused the API key ({message})")),
        403 => ProviderError::PermissionDenied(message),
        404 => ProviderError::NotFound(message),
        409 => ProviderError::Conflict(message),
        429 => ProviderError::RateLimited {
            retry_after: crate::provider::http::retry_after(&resp.headers)
                .unwrap_or(std::time::Duration::from_secs(1)),
        },
        s if s >= 500 => ProviderError::Unavailable(message),
        _ => ProviderError::invalid(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use reqwest::header::HeaderMap;

    fn resp(status: u16, body: serde_json::Value) -> Response {
        Response {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn invalid_attribute_names_the_spec_field() {
        let err = classify(&resp(
            400,
            serde_json::json!({"error": 400, "errorCode": "INVALID_ATTRIBUTE",
                "detail": "Invalid attribute externalGroupName specified.", "reason": "Bad Request",
                "parameters": ["externalGroupName"]}),
        ));
        match err {
            ProviderError::Invalid { message, field } => {
                assert_eq!(field.as_deref(), Some("mappings"));
                assert!(message.contains("INVALID_ATTRIBUTE"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn statuses_map_to_meaning() {
        let body = serde_json::json!({"error": 0, "errorCode": "X"});
        assert!(matches!(
            classify(&resp(401, body.clone())),
            ProviderError::Unauthenticated(_)
        ));
        assert!(matches!(
            classify(&resp(403, body.clone())),
            ProviderError::PermissionDenied(_)
        ));
        assert!(matches!(
            classify(&resp(404, body.clone())),
            ProviderError::NotFound(_)
        ));
        assert!(matches!(
            classify(&resp(409, body.clone())),
            ProviderError::Conflict(_)
        ));
        assert!(matches!(
            classify(&resp(500, body)),
            ProviderError::Unavailable(_)
        ));
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
        assert_eq!(
            path_segment("5df7a168f10fab3a149357fb"),
            "5df7a168f10fab3a149357fb"
        );
    }
}
