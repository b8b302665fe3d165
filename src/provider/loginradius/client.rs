//! HTTP calls to LoginRadius' organization-connection API and the mapping of its errors.
//!
//! The tenant key and secret travel as the `X-LoginRadius-ApiKey` / `X-LoginRadius-ApiSecret`
//! headers, which LoginRadius documents beside (and recommends over) the `apikey` / `apisecret`
//! query parameters of LoginRadius' Update Organization Connection reference: a URL ends up in
//! logs, proxies and error messages; a header marked sensitive does not.
//!
//! **Unverified reads.** LoginRadius documents create (`POST …/connections`), update (`PUT
//! …/connections/{connId}`) and delete (`DELETE …/connections/{connId}`) of an organization
//! connection, but publishes no read of one connection and no list of connections. The paths,
//! paging parameters and list envelope this client uses for them are guesses, all in
//! [`ReadPaths`]; and since LoginRadius documents a bare `404` as "the API endpoint is not
//! correct or your account does not have sufficient permissions", a 404 without its own
//! not-found code (8151) never means "deleted" here: it is [`ProviderError::Indeterminate`].

use std::fmt;

use reqwest::{Method, StatusCode, header::HeaderValue};
use serde::Serialize;

use super::api::{Connection, ConnectionList, ErrorBody, codes};
use crate::core::desired::SecretValue;
use crate::provider::{CredentialValues, ProviderError};
use crate::provider::http::{HttpClient, Idempotency, Response, path_segment};

/// Path of the documented connection calls (create; update and delete add `/{connId}`).
/// `{orgId}` is replaced by the percent-encoded organization id.
pub const CONNECTIONS_PATH: &str = "/v2/manage/organizations/{orgId}/connections";

/// Where the undocumented reads go. UNVERIFIED: LoginRadius publishes neither call; these are the
/// REST-style guesses the emulator also serves. Change them here (or with
/// [`Client::with_read_paths`]) once LoginRadius documents the reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadPaths {
    /// One connection; `{orgId}` and `{connId}` are replaced (percent-encoded).
    pub get_one: &'static str,
    /// A page of connections; `{orgId}` is replaced. The answer is read as `{Data, Count}`, the
    /// envelope of LoginRadius' documented organization list; `Count` may be absent.
    pub list: &'static str,
    /// Query parameter of the 1-based page number.
    pub page_index_param: &'static str,
    /// Query parameter of the page size.
    pub page_size_param: &'static str,
}

impl ReadPaths {
    pub const UNVERIFIED_DEFAULT: ReadPaths = ReadPaths {
        get_one: "/v2/manage/organizations/{orgId}/connections/{connId}",
        list: "/v2/manage/organizations/{orgId}/connections",
        page_index_param: "pageindex",
        page_size_param: "pagesize",
    };
}

impl Default for ReadPaths {
    fn default() -> Self {
        Self::UNVERIFIED_DEFAULT
    }
}

/// Header that carries the tenant API key.
pub const API_KEY_HEADER: &str = "X-LoginRadius-ApiKey";
/// Header that carries the tenant API secret.
pub const API_SECRET_HEADER: &str = "X-LoginRadius-ApiSecret";

/// Tenant credentials.
#[derive(Clone)]
pub struct Credentials {
    pub api_key: SecretValue,
    pub api_secret: SecretValue,
}

impl Credentials {
    /// The credentials Secret's keys ([`crate::provider::Descriptor::credential_keys`]).
    pub const KEYS: &[&str] = &["apiKey", "apiSecret"];

    pub fn from_values(values: &CredentialValues) -> Result<Self, ProviderError> {
        Ok(Self {
            api_key: values.get("apiKey")?,
            api_secret: values.get("apiSecret")?,
        })
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials { api_key: <redacted>, api_secret: <redacted> }")
    }
}

/// Calls of one organization.
#[derive(Clone)]
pub struct Client {
    http: HttpClient,
    org_id: String,
    credentials: Credentials,
    reads: ReadPaths,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("org_id", &self.org_id)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(http: HttpClient, org_id: String, credentials: Credentials) -> Self {
        Self {
            http,
            org_id,
            credentials,
            reads: ReadPaths::default(),
        }
    }

    /// Uses other paths for the undocumented reads.
    pub fn with_read_paths(mut self, reads: ReadPaths) -> Self {
        self.reads = reads;
        self
    }

    pub fn org_id(&self) -> &str {
        &self.org_id
    }

    /// `template` with `{orgId}` and `{connId}` replaced by the encoded ids.
    fn fill(&self, template: &str, conn_id: Option<&str>) -> String {
        let path = template.replace("{orgId}", &path_segment(&self.org_id));
        match conn_id {
            Some(id) => path.replace("{connId}", &path_segment(id)),
            None => path,
        }
    }

    /// The documented path of the connections, or of one of them.
    fn path(&self, conn_id: Option<&str>) -> String {
        let base = self.fill(CONNECTIONS_PATH, None);
        match conn_id {
            Some(id) => format!("{base}/{}", path_segment(id)),
            None => base,
        }
    }

    /// Sends one call with the credentials in headers (never in the URL).
    async fn call<B: Serialize + Sync>(
        &self,
        operation: &'static str,
        method: Method,
        path: String,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<Response, ProviderError> {
        let url = self.http.url(&path);
        let idempotency = if method == Method::POST {
            Idempotency::NonIdempotent
        } else {
            Idempotency::Idempotent
        };
        let creds = &self.credentials;
        self.http
            .send(
                operation,
                idempotency,
                |c| {
                    let mut req = c
                        .request(method.clone(), &url)
                        .query(query)
                        .header(reqwest::header::ACCEPT, "application/json");
                    for (name, value) in [
                        (API_KEY_HEADER, creds.api_key.expose()),
                        (API_SECRET_HEADER, creds.api_secret.expose()),
                    ] {
                        // Sensitive: hyper and reqwest leave the value out of their debug output.
                        // A value that is no valid header value is left out, and refused as a
                        // bad credential by LoginRadius, rather than sent some other way.
                        if let Ok(mut v) = HeaderValue::from_str(value) {
                            v.set_sensitive(true);
                            req = req.header(name, v);
                        }
                    }
                    if let Some(b) = body {
                        req = req.json(b);
                    }
                    req
                },
                |resp| classify(resp, creds),
            )
            .await
    }

    /// One page of connections (the page index is 1-based). UNVERIFIED: see [`ReadPaths`].
    pub async fn list(
        &self,
        page_index: u32,
        page_size: u32,
    ) -> Result<ConnectionList, ProviderError> {
        let query = [
            (self.reads.page_index_param, page_index.to_string()),
            (self.reads.page_size_param, page_size.to_string()),
        ];
        let path = self.fill(self.reads.list, None);
        self.call::<()>("list", Method::GET, path, &query, None)
            .await
            .map_err(|e| unverified(e, "list", self.reads.list))?
            .json()
    }

    /// One connection; `None` only when LoginRadius says the id is unknown (ErrorCode 8151).
    /// UNVERIFIED: see [`ReadPaths`].
    pub async fn get(&self, id: &str) -> Result<Option<Connection>, ProviderError> {
        let path = self.fill(self.reads.get_one, Some(id));
        match self.call::<()>("get", Method::GET, path, &[], None).await {
            Ok(resp) => resp.json().map(Some),
            Err(ProviderError::NotFound(_)) => Ok(None),
            Err(e) => Err(unverified(e, "get", self.reads.get_one)),
        }
    }

    pub async fn create(&self, body: &Connection) -> Result<Connection, ProviderError> {
        self.call("create", Method::POST, self.path(None), &[], Some(body))
            .await?
            .json()
    }

    /// Replaces the connection with `body` (the caller has overlaid its fields on the latest copy).
    pub async fn put(&self, id: &str, body: &Connection) -> Result<Connection, ProviderError> {
        self.call("update", Method::PUT, self.path(Some(id)), &[], Some(body))
            .await?
            .json()
    }

    /// Deletes a connection; an unknown id (ErrorCode 8151) counts as deleted, a bare 404 does not.
    pub async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        match self
            .call::<()>("delete", Method::DELETE, self.path(Some(id)), &[], None)
            .await
        {
            Ok(_) | Err(ProviderError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Names the unverified read in an [`ProviderError::Indeterminate`], so that the condition says
/// which guessed endpoint gave the answer that proves nothing.
fn unverified(e: ProviderError, operation: &str, template: &str) -> ProviderError {
    match e {
        ProviderError::Indeterminate(m) => ProviderError::Indeterminate(format!(
            "{m}; the {operation} call (GET {template}) is not documented by LoginRadius and its path is unverified (see the LoginRadius section of README.md)"
        )),
        other => other,
    }
}

/// Removes the credential values from text that came from the provider (defence in depth:
/// LoginRadius does not echo them, but an error must never carry them).
fn scrub(text: &str, creds: &Credentials) -> String {
    let mut out = text.to_string();
    for secret in [creds.api_key.expose(), creds.api_secret.expose()] {
        if !secret.is_empty() {
            out = out.replace(secret, "<redacted>");
        }
    }
    out
}

/// Maps a non-2xx answer to [`ProviderError`]: LoginRadius' `ErrorCode` first (the HTTP status of
/// its 81xx codes is not documented), then the status.
pub fn classify(resp: &Response, creds: &Credentials) -> ProviderError {
    let status = resp.status;
    let body: Option<ErrorBody> = serde_json::from_slice(&resp.body).ok();
    let message = match &body {
        Some(b) if !b.message.is_empty() || !b.description.is_empty() => {
            let text = match (b.message.is_empty(), b.description.is_empty()) {
                (false, false) => format!("{}: {}", b.message, b.description),
                (false, true) => b.message.clone(),
                _ => b.description.clone(),
            };
            format!(
                "{} (LoginRadius ErrorCode {}, HTTP {})",
                text,
                b.error_code,
                status.as_u16()
            )
        }
        _ => format!("HTTP {} from LoginRadius", status.as_u16()),
    };
    let message = scrub(&message, creds);
    match body.map(|b| b.error_code) {
        Some(codes::INVALID_CONNECTION_ID) => return ProviderError::NotFound(message),
        Some(codes::DUPLICATE_NAME) => return ProviderError::Conflict(message),
        Some(codes::DOMAIN_NOT_IN_ORG | codes::DOMAIN_NOT_VERIFIED) => {
            return ProviderError::Invalid {
                message,
                field: Some("spec.domains".into()),
            };
        }
        Some(codes::API_KEY_INVALID | codes::API_SECRET_INVALID) => {
            return ProviderError::Unauthenticated(message);
        }
        Some(codes::UNAUTHORIZED) => return ProviderError::PermissionDenied(message),
        // A wrong organization id is a configuration error, not a missing connection.
        Some(codes::ORG_NOT_FOUND) => return ProviderError::invalid(message),
        _ => {}
    }
    match status {
        StatusCode::UNAUTHORIZED => ProviderError::Unauthenticated(message),
        StatusCode::FORBIDDEN => ProviderError::PermissionDenied(message),
        // LoginRadius documents a bare 404 as "wrong endpoint or insufficient permissions": only
        // its own code 8151 (above) says that a connection does not exist.
        StatusCode::NOT_FOUND => ProviderError::Indeterminate(format!(
            "{message} without LoginRadius' not-found ErrorCode {}: LoginRadius documents a bare 404 as a wrong endpoint or insufficient permissions, so the connection is not taken to be deleted and nothing is re-created; check the API key's permissions",
            codes::INVALID_CONNECTION_ID
        )),
        StatusCode::CONFLICT => ProviderError::Conflict(message),
        s if s.is_server_error() => ProviderError::Unavailable(message),
        _ => ProviderError::invalid(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use reqwest::header::HeaderMap;

    fn resp(status: u16, body: &str) -> Response {
        Response {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_string()),
        }
    }

    fn creds() -> Credentials {
        Credentials {
            api_key: SecretValue::new("k-123"),
            api_secret: SecretValue::new("s-456"),
        }
    }

    #[test]
    fn error_codes_win_over_status() {
        let e = classify(
            &resp(
                400,
                r#"{"Description":"This Connection ID is invalid, please use valid Connection ID.","ErrorCode":8151,"Message":"Connection ID is invalid"}"#,
            ),
            &creds(),
        );
        assert!(matches!(e, ProviderError::NotFound(_)), "{e:?}");
        let e = classify(
            &resp(
                400,
                r#"{"Description":"Connection exists with the same name. Use a different Connection name.","ErrorCode":8148,"Message":"Connection exists with the same name"}"#,
            ),
            &creds(),
        );
        assert!(matches!(e, ProviderError::Conflict(_)), "{e:?}");
        let e = classify(
            &resp(
                400,
                r#"{"Description":"Organization domain is not verified, Please verify the domain.","ErrorCode":8177,"Message":"Organization domain is not verified"}"#,
            ),
            &creds(),
        );
        match e {
            ProviderError::Invalid { message, field } => {
                assert_eq!(field.as_deref(), Some("spec.domains"));
                assert!(message.contains("Organization domain is not verified: Organization domain is not verified, Please verify"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn statuses_map_when_the_body_is_not_loginradius() {
        assert!(matches!(
            classify(&resp(401, ""), &creds()),
            ProviderError::Unauthenticated(_)
        ));
        assert!(matches!(
            classify(&resp(403, "x"), &creds()),
            ProviderError::PermissionDenied(_)
        ));
        assert!(matches!(
            classify(&resp(502, "<html>"), &creds()),
            ProviderError::Unavailable(_)
        ));
        assert!(matches!(
            classify(&resp(422, "{}"), &creds()),
            ProviderError::Invalid { .. }
        ));
    }

    #[test]
    fn echoed_credentials_are_scrubbed() {
        let e = classify(
            &resp(
                403,
                r#"{"Description":"key k-123 secret s-456","ErrorCode":901,"Message":"API key is invalid"}"#,
            ),
            &creds(),
        );
        let text = format!("{e} {e:?}");
        assert!(!text.contains("k-123") && !text.contains("s-456"), "{text}");
        assert!(matches!(e, ProviderError::Unauthenticated(_)));
    }

    #[test]
    fn a_bare_404_is_not_a_missing_connection() {
        for body in [
            "",
            "<html>Not Found</html>",
            r#"{"Message":"Not found","ErrorCode":404}"#,
        ] {
            let e = classify(&resp(404, body), &creds());
            assert!(
                matches!(e, ProviderError::Indeterminate(_)),
                "{body}: {e:?}"
            );
            assert_eq!(e.reason().as_str(), "RemoteStateUnknown");
            assert!(e.to_string().contains("8151"), "{e}");
        }
        // LoginRadius' own not-found code still means "no such connection", whatever the status.
        let e = classify(
            &resp(
                404,
                r#"{"Description":"This Connection ID is invalid, please use valid Connection ID.","ErrorCode":8151,"Message":"Connection ID is invalid"}"#,
            ),
            &creds(),
        );
        assert!(matches!(e, ProviderError::NotFound(_)), "{e:?}");
    }

    #[test]
    fn ids_are_path_encoded() {
        assert_eq!(path_segment("conn_a/../b c"), "conn_a%2F..%2Fb%20c");
    }
}
