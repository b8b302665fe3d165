//! HTTP calls to Qovery's "Organization Enterprise Connection" endpoints and their error mapping.

use std::fmt;

use reqwest::{
    StatusCode,
    header::{AUTHORIZATION, HeaderValue},
};

use super::api::{EnterpriseConnectionDto, EnterpriseConnectionResponseList, ErrorBody};
use crate::core::desired::SecretValue;
use crate::provider::{
    CredentialValues, ProviderError,
    http::{ClientSettings, HttpClient, Idempotency, Response, path_segment, retry_after},
};

/// An organization API token (sent as `Authorization: Token <token>`).
#[derive(Clone, Debug)]
pub struct Credentials {
    pub token: SecretValue,
}

impl Credentials {
    /// The credentials Secret's keys ([`crate::provider::Descriptor::credential_keys`]).
    pub const KEYS: &[&str] = &["token"];

    pub fn from_values(values: &CredentialValues) -> Result<Self, ProviderError> {
        Ok(Self {
            token: values.get("token")?,
        })
    }
}

/// Longest provider message kept in an error (bodies are not ours to trust in size).
const MAX_MESSAGE: usize = 300;

/// The calls of one organization, authenticated with an organization API token.
#[derive(Clone)]
pub struct Client {
    http: HttpClient,
    organization_id: String,
    /// `Token <api-token>`, marked sensitive so that reqwest never prints it.
    auth: HeaderValue,
    /// Kept only to scrub the token from provider messages.
    credentials: Credentials,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("qovery::Client")
            .field("organization_id", &self.organization_id)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl Client {
    pub fn new(
        settings: ClientSettings,
        organization_id: String,
        credentials: Credentials,
    ) -> Result<Self, ProviderError> {
        if organization_id.trim().is_empty() {
            return Err(ProviderError::invalid("Qovery organization id is empty"));
        }
        // Never echo the value: a header error would otherwise quote it.
        let mut auth =
            HeaderValue::from_str(&format!("Token {}", credentials.token.expose())).map_err(|_| {
                ProviderError::invalid(
                    "Qovery API token contains characters not allowed in a header",
                )
            })?;
        auth.set_sensitive(true);
        Ok(Self {
            http: HttpClient::new(super::KIND, settings)?,
            organization_id,
            auth,
            credentials,
        })
    }

    pub fn organization_id(&self) -> &str {
        &self.organization_id
    }

    fn list_path(&self) -> String {
        format!(
            "/organization/{}/enterpriseconnection",
            path_segment(&self.organization_id)
        )
    }

    /// The connection's path; names that URL parsing would treat as dot segments are refused.
    fn item_path(&self, name: &str) -> Result<String, ProviderError> {
        if name.is_empty() || name == "." || name == ".." {
            return Err(ProviderError::Invalid {
                message: format!("{name:?} is not a valid Qovery connection name"),
                field: Some("name".into()),
            });
        }
        Ok(format!("{}/{}", self.list_path(), path_segment(name)))
    }

    /// `GET /organization/{organizationId}/enterpriseconnection`: every connection, in one answer.
    pub async fn list(&self) -> Result<Vec<EnterpriseConnectionDto>, ProviderError> {
        let url = self.http.url(&self.list_path());
        let resp = self
            .http
            .send(
                "list",
                Idempotency::Idempotent,
                |c| c.get(&url).header(AUTHORIZATION, self.auth.clone()),
                |r| classify(r, &self.credentials),
            )
            .await?;
        Ok(resp.json::<EnterpriseConnectionResponseList>()?.results)
    }

    /// `GET …/enterpriseconnection/{connectionName}`; `None` on 404.
    pub async fn get(&self, name: &str) -> Result<Option<EnterpriseConnectionDto>, ProviderError> {
        let url = self.http.url(&self.item_path(name)?);
        let result = self
            .http
            .send(
                "get",
                Idempotency::Idempotent,
                |c| c.get(&url).header(AUTHORIZATION, self.auth.clone()),
                |r| classify(r, &self.credentials),
            )
            .await;
        match result {
            Ok(resp) => Ok(Some(resp.json()?)),
            Err(ProviderError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `PUT …/enterpriseconnection/{connectionName}` with the whole DTO (full replacement).
    pub async fn put(
        &self,
        dto: &EnterpriseConnectionDto,
    ) -> Result<EnterpriseConnectionDto, ProviderError> {
        let url = self.http.url(&self.item_path(&dto.connection_name)?);
        let resp = self
            .http
            .send(
                "update",
                Idempotency::Idempotent,
                |c| {
                    c.put(&url)
                        .header(AUTHORIZATION, self.auth.clone())
                        .json(dto)
                },
                |r| classify(r, &self.credentials),
            )
            .await?;
        resp.json()
    }
}

/// Maps a non-2xx answer to [`ProviderError`], with the provider's message and no secret.
pub fn classify(resp: &Response, credentials: &Credentials) -> ProviderError {
    let body: ErrorBody = serde_json::from_slice(&resp.body).unwrap_or_default();
    let mut message = body
        .message
        .filter(|m| !m.trim().is_empty())
        .or(body.error)
        .unwrap_or_else(|| {
            resp.status
                .canonical_reason()
                .unwrap_or("unexpected status")
                .to_string()
        });
    let secret = credentials.token.expose();
    if !secret.is_empty() && message.contains(secret) {
        message = message.replace(secret, "<redacted>");
    }
    if message.len() > MAX_MESSAGE {
        let cut = (0..=MAX_MESSAGE)
            .rev()
            .find(|i| message.is_char_boundary(*i))
            .unwrap_or(0);
        message.truncate(cut);
    }
    let status = resp.status;
    match status {
        StatusCode::UNAUTHORIZED => ProviderError::Unauthenticated(message),
        StatusCode::FORBIDDEN => ProviderError::PermissionDenied(message),
        StatusCode::NOT_FOUND => ProviderError::NotFound(message),
        StatusCode::CONFLICT => ProviderError::Conflict(message),
        StatusCode::TOO_MANY_REQUESTS => ProviderError::RateLimited {
            retry_after: retry_after(&resp.headers)
                .unwrap_or(std::time::Duration::from_secs(1)),
        },
        s if s.is_server_error() => {
            ProviderError::Unavailable(format!("{} {message}", s.as_u16()))
        }
        // 400, 422 and anything else the API should not answer: the request was refused as is.
        _ => ProviderError::Invalid {
            message,
            field: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_cannot_escape() {
        assert_eq!(path_segment("acme-sso_1.x~"), "acme-sso_1.x~");
        assert_eq!(path_segment("../a b?c"), "..%2Fa%20b%3Fc");
    }
}
