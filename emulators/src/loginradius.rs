//! LoginRadius emulator: organization identity-provider connections as LoginRadius' API
//! reference describes them.
//!
//! Documented by LoginRadius (its API reference, e.g.
//! <https://docs.demo.login2test.com/api-reference/organization-connections/UpdateOrganizationConnection>):
//! create (`POST …/connections`, 200 + the connection), update (`PUT …/connections/{connId}`),
//! delete (`DELETE …/connections/{connId}`, 200 `{"IsDeleted": true}`), the connection object
//! and the `{Description, ErrorCode, Message}` error body; credentials as the `apikey`/`apisecret`
//! query parameters (LoginRadius' Update Organization Connection reference) or the
//! `X-LoginRadius-ApiKey`/`X-LoginRadius-ApiSecret` headers
//! (LoginRadius' management-API pages). Both forms are accepted; [`LoginRadiusEmulator::query_credential_uses`]
//! counts the query form, so that tests can prove a client keeps credentials out of URLs.
//!
//! Guesses (LoginRadius does not document them), kept in one place so they are easy to revisit:
//! - UNDOCUMENTED READS: `GET …/connections/{connId}` exists and answers the connection object;
//!   the list pages with `pageindex` (1-based, default 1) and `pagesize` (default 20, at most 100)
//!   and answers `{ "Data": [...], "Count": total }`. The client must not trust them blindly (a
//!   bare 404 there is "unknown", not "deleted"); see `src/provider/loginradius/client.rs`.
//! - 81xx errors are HTTP 400 (8151 included); the client maps by `ErrorCode`, not by status.
//! - Wrong key: 403 with ErrorCode 901; wrong secret: 401 with ErrorCode 902.
//! - A header wins over the query parameter of the same credential when both are sent.
//! - 429 carries no rate-limit headers (none documented) and ErrorCode 429.
//! - PUT replaces every writable field: what the body leaves out is cleared (the safest reading
//!   for clients, which therefore send the whole object back). Fields the emulator does not model
//!   (a newer LoginRadius field, set with [`LoginRadiusEmulator::edit_connection`]) are stored and
//!   answered like the others, and cleared by a PUT that leaves them out.
//! - `Name`, `Domain` and `ConnectionType` are required; `ConnectionType` is one of the saml_*
//!   values of the CRD's idpType; `IsActive` defaults to true.
//! - `IDPCertificate.NotBefore/NotAfter` are set to now / now + 365 days when the certificate changes
//!   (the real service parses the certificate).

use std::{
    collections::{BTreeSet, HashMap},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Value, json};

use super::{Dialect, EmulatorCore, base62_id};
pub mod wire;

use wire::{Connection, ConnectionList, Deleted, ErrorBody, IdpCertificate, SpCertificate, codes};

/// Page size when `pagesize` is absent (guess).
pub const DEFAULT_PAGE_SIZE: usize = 20;
/// Largest `pagesize` honoured (guess).
pub const MAX_PAGE_SIZE: usize = 100;

/// Connection types accepted (LoginRadius validates the type but does not list the values).
const CONNECTION_TYPES: &[&str] = &["saml_custom", "saml_okta", "saml_google", "saml_microsoft"];

/// An error answer: a status and LoginRadius' error body.
struct Fail {
    status: StatusCode,
    body: ErrorBody,
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

fn lr_error(status: StatusCode, code: i64, message: &str, description: &str) -> Fail {
    Fail {
        status,
        body: ErrorBody {
            description: description.into(),
            error_code: code,
            message: message.into(),
        },
    }
}

fn internal_error() -> Fail {
    lr_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        codes::INTERNAL,
        "Operation failed due to an internal error.",
        "An unknown internal error occurred, please try again in a few minutes or contact your system administrator.",
    )
}

fn invalid_connection_id() -> Fail {
    lr_error(
        StatusCode::BAD_REQUEST,
        codes::INVALID_CONNECTION_ID,
        "Connection ID is invalid",
        "This Connection ID is invalid, please use valid Connection ID.",
    )
}

fn duplicate_name() -> Fail {
    lr_error(
        StatusCode::BAD_REQUEST,
        codes::DUPLICATE_NAME,
        "Connection exists with the same name",
        "Connection exists with the same name. Use a different Connection name.",
    )
}

fn domain_not_in_org() -> Fail {
    lr_error(
        StatusCode::BAD_REQUEST,
        codes::DOMAIN_NOT_IN_ORG,
        "Domain does not exist within the organization",
        "The provided domain is not associated with the organization. Please use a different organization domain.",
    )
}

fn domain_not_verified() -> Fail {
    lr_error(
        StatusCode::BAD_REQUEST,
        codes::DOMAIN_NOT_VERIFIED,
        "Organization domain is not verified",
        "Organization domain is not verified, Please verify the domain.",
    )
}

fn bad_parameter(name: &str) -> Fail {
    lr_error(
        StatusCode::BAD_REQUEST,
        codes::BAD_PARAMETER,
        "A parameter is not formatted correctly",
        &format!("The {name} parameter is missing or not formatted correctly."),
    )
}

/// LoginRadius' body shapes for the shared middleware's faults and rate limit.
pub struct LoginRadiusDialect;

impl Dialect for LoginRadiusDialect {
    fn error(&self, status: StatusCode, message: &str) -> Response {
        if status.is_server_error() {
            return Fail {
                status,
                ..internal_error()
            }
            .into_response();
        }
        lr_error(status, codes::BAD_PARAMETER, message, message).into_response()
    }

    fn rate_limited(&self, _wait: Duration, _limit: u32) -> Response {
        // No rate-limit headers are documented, so none are sent; clients fall back to their own wait.
        lr_error(
            StatusCode::TOO_MANY_REQUESTS,
            codes::TOO_MANY_REQUESTS,
            "Too many requests",
            "Too many requests",
        )
        .into_response()
    }
}

/// What the emulator holds.
#[derive(Default)]
struct Data {
    /// Connections in creation order (the list's order).
    connections: Vec<Connection>,
    /// The organization's domains; `None` accepts any domain.
    org_domains: Option<BTreeSet<String>>,
    /// Domains of the organization that are not verified yet.
    unverified: BTreeSet<String>,
}

struct Inner {
    api_key: String,
    api_secret: String,
    org_id: String,
    /// Site name used in the generated hub URLs (`https://<site>.hub.loginradius.com`).
    site: String,
    data: Mutex<Data>,
    /// Requests that carried a credential in the query string.
    query_credentials: AtomicUsize,
}

impl Inner {
    fn data(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An in-memory LoginRadius tenant with one organization.
#[derive(Clone)]
pub struct LoginRadiusEmulator {
    inner: Arc<Inner>,
    core: Arc<EmulatorCore>,
}

fn now() -> jiff::Timestamp {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second()).unwrap_or(now)
}

fn fake_pem() -> String {
    format!(
        "-----BEGIN CERTIFICATE-----\nMIIC{}\n{}\n-----END CERTIFICATE-----\n",
        base62_id(60),
        base62_id(64)
    )
}

/// How LoginRadius compares domains: case and a trailing dot do not matter.
fn normal_domain(d: &str) -> String {
    d.trim().trim_end_matches('.').to_ascii_lowercase()
}

impl LoginRadiusEmulator {
    /// A tenant that accepts `api_key`/`api_secret` and holds organization `org_id`.
    /// Every domain belongs to the organization until [`Self::set_org_domains`] says otherwise.
    pub fn new(
        api_key: impl Into<String>,
        api_secret: impl Into<String>,
        org_id: impl Into<String>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                api_key: api_key.into(),
                api_secret: api_secret.into(),
                org_id: org_id.into(),
                site: "emulator".into(),
                data: Mutex::default(),
                query_credentials: AtomicUsize::new(0),
            }),
            core: EmulatorCore::new("loginradius", LoginRadiusDialect),
        }
    }

    pub fn core(&self) -> Arc<EmulatorCore> {
        self.core.clone()
    }

    /// The organization's domains (`None`: accept any).
    pub fn set_org_domains(&self, domains: Option<Vec<String>>) {
        self.inner.data().org_domains =
            domains.map(|ds| ds.iter().map(|d| normal_domain(d)).collect());
    }

    /// Domains that belong to the organization but are not verified.
    pub fn set_unverified_domains(&self, domains: Vec<String>) {
        self.inner.data().unverified = domains.iter().map(|d| normal_domain(d)).collect();
    }

    pub fn router(&self) -> Router {
        let routes = Router::new()
            .route(
                "/v2/manage/organizations/{org_id}/connections",
                get(list).post(create),
            )
            .route(
                "/v2/manage/organizations/{org_id}/connections/{conn_id}",
                get(get_one).put(update).delete(delete),
            )
            .with_state(self.inner.clone());
        super::with_core(routes, self.core.clone())
    }

    /// Everything the emulator holds (no credentials).
    pub fn snapshot(&self) -> Value {
        let d = self.inner.data();
        json!({
            "organization": self.inner.org_id,
            "orgDomains": d.org_domains,
            "unverifiedDomains": d.unverified,
            "connections": d.connections,
        })
    }

    /// Console: inserts a connection under `id`, filling the server-generated fields it lacks.
    /// Replaces a connection with the same id.
    pub fn insert_connection(&self, id: &str, mut conn: Connection) -> String {
        conn.id = id.to_string();
        self.inner.fill_server_fields(&mut conn, None);
        let mut d = self.inner.data();
        d.connections.retain(|c| c.id != id);
        d.connections.push(conn);
        id.to_string()
    }

    /// Console: changes a connection behind the API's back.
    pub fn edit_connection(&self, id: &str, f: impl FnOnce(&mut Connection)) -> bool {
        let mut d = self.inner.data();
        match d.connections.iter_mut().find(|c| c.id == id) {
            Some(c) => {
                f(c);
                true
            }
            None => false,
        }
    }

    pub fn get_connection(&self, id: &str) -> Option<Connection> {
        self.inner
            .data()
            .connections
            .iter()
            .find(|c| c.id == id)
            .cloned()
    }

    pub fn count_connections(&self) -> usize {
        self.inner.data().connections.len()
    }

    /// Requests so far that carried `apikey` or `apisecret` in the query string (LoginRadius takes
    /// them, but a URL ends up in logs: a client should use the headers).
    pub fn query_credential_uses(&self) -> usize {
        self.inner.query_credentials.load(Ordering::SeqCst)
    }
}

impl Inner {
    /// Credentials from the `X-LoginRadius-ApiKey`/`X-LoginRadius-ApiSecret` headers or the
    /// `apikey`/`apisecret` query parameters (both documented; a header wins).
    fn authorize(&self, query: &HashMap<String, String>, headers: &HeaderMap) -> Result<(), Fail> {
        let from_query = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        if from_query("apikey").is_some() || from_query("apisecret").is_some() {
            self.query_credentials.fetch_add(1, Ordering::SeqCst);
        }
        let take = |h: &str, q: &str| {
            headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .or_else(|| from_query(q))
        };
        if take("x-loginradius-apikey", "apikey").as_deref() != Some(self.api_key.as_str()) {
            return Err(lr_error(
                StatusCode::FORBIDDEN,
                codes::API_KEY_INVALID,
                "API key is invalid",
                "LoginRadius API key is invalid, please use a valid API key of your LoginRadius account.",
            ));
        }
        if take("x-loginradius-apisecret", "apisecret").as_deref() != Some(self.api_secret.as_str())
        {
            return Err(lr_error(
                StatusCode::UNAUTHORIZED,
                codes::API_SECRET_INVALID,
                "API secret is invalid",
                "LoginRadius API secret is invalid, please use a valid API secret of your LoginRadius account.",
            ));
        }
        Ok(())
    }

    fn check(
        &self,
        org_id: &str,
        query: &HashMap<String, String>,
        headers: &HeaderMap,
    ) -> Result<(), Fail> {
        self.authorize(query, headers)?;
        if org_id != self.org_id {
            return Err(lr_error(
                StatusCode::BAD_REQUEST,
                codes::ORG_NOT_FOUND,
                "Organization does not exist",
                "The provided organization ID does not exist, please use a valid organization ID.",
            ));
        }
        Ok(())
    }

    /// Server-generated fields: id prefix, dates, SP-side URLs and certificate, group-role ids.
    fn fill_server_fields(&self, c: &mut Connection, previous: Option<&Connection>) {
        let ts = now().to_string();
        if c.id.is_empty() {
            c.id = format!("conn_{}", base62_id(16));
        }
        c.created_date = previous
            .and_then(|p| p.created_date.clone())
            .or_else(|| c.created_date.clone())
            .or_else(|| Some(ts.clone()));
        c.modified_date = Some(ts);
        let sp = previous.filter(|p| p.entity_id.is_some());
        match sp {
            Some(p) => {
                c.entity_id = p.entity_id.clone();
                c.metadata_url = p.metadata_url.clone();
                c.acs_endpoint = p.acs_endpoint.clone();
                c.sp_certificate = p.sp_certificate.clone();
            }
            None if c.entity_id.is_none() => {
                let key = base62_id(34);
                let hub = format!("https://{}.hub.loginradius.com/saml/sp", self.site);
                c.entity_id = Some(format!("{hub}/{key}"));
                c.metadata_url = Some(format!("{hub}/{key}/metadata.xml"));
                c.acs_endpoint = Some(format!("{hub}/acs/{key}"));
                c.sp_certificate = Some(SpCertificate {
                    certificate: fake_pem(),
                });
            }
            None => {}
        }
        if c.is_active.is_none() {
            c.is_active = Some(true);
        }
        if let Some(cert) = c.idp_certificate.as_mut() {
            let old = previous.and_then(|p| p.idp_certificate.as_ref());
            match old.filter(|o| o.certificate == cert.certificate) {
                Some(o) => {
                    cert.not_before = o.not_before.clone();
                    cert.not_after = o.not_after.clone();
                }
                None if cert.certificate.is_empty() => {
                    cert.not_before = None;
                    cert.not_after = None;
                }
                None => {
                    let start = now();
                    let end = start
                        .checked_add(jiff::SignedDuration::from_hours(24 * 365))
                        .unwrap_or(start);
                    cert.not_before = Some(start.to_string());
                    cert.not_after = Some(end.to_string());
                }
            }
        }
        let old_roles = previous.map(|p| p.group_roles.as_slice()).unwrap_or(&[]);
        for g in &mut c.group_roles {
            if g.id.is_empty() || !old_roles.iter().any(|o| o.id == g.id) {
                g.id = format!("group_role_{}", base62_id(16));
            }
        }
    }
}

/// Parses and validates a create/update body; `except` is the id being updated.
fn validate(data: &Data, body: &Bytes, except: Option<&str>) -> Result<Connection, Fail> {
    let mut c: Connection =
        serde_json::from_slice(body).map_err(|_| bad_parameter("request body"))?;
    c.name = c.name.trim().to_string();
    if c.name.is_empty() {
        return Err(bad_parameter("Name"));
    }
    if !CONNECTION_TYPES.contains(&c.connection_type.as_str()) {
        return Err(bad_parameter("ConnectionType"));
    }
    let domain = c.domain.as_deref().map(normal_domain).unwrap_or_default();
    if domain.is_empty() {
        return Err(bad_parameter("Domain"));
    }
    if data
        .org_domains
        .as_ref()
        .is_some_and(|ds| !ds.contains(&domain))
    {
        return Err(domain_not_in_org());
    }
    if data.unverified.contains(&domain) {
        return Err(domain_not_verified());
    }
    if data
        .connections
        .iter()
        .any(|o| Some(o.id.as_str()) != except && o.name == c.name)
    {
        return Err(duplicate_name());
    }
    Ok(c)
}

type Q = Query<HashMap<String, String>>;

async fn list(
    State(s): State<Arc<Inner>>,
    Path(org_id): Path<String>,
    Query(q): Q,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = s.check(&org_id, &q, &headers) {
        return r.into_response();
    }
    let parse = |name: &str, default: usize| match q.get(name) {
        None => Ok(default),
        Some(v) => v.trim().parse::<usize>().map_err(|_| bad_parameter(name)),
    };
    let (index, size) = match (parse("pageindex", 1), parse("pagesize", DEFAULT_PAGE_SIZE)) {
        (Ok(i), Ok(s)) => (
            i.max(1),
            if s == 0 {
                DEFAULT_PAGE_SIZE
            } else {
                s.min(MAX_PAGE_SIZE)
            },
        ),
        (Err(r), _) | (_, Err(r)) => return r.into_response(),
    };
    let d = s.data();
    let page = ConnectionList {
        data: d
            .connections
            .iter()
            .skip((index - 1).saturating_mul(size))
            .take(size)
            .cloned()
            .collect(),
        count: d.connections.len() as u64,
    };
    Json(page).into_response()
}

async fn get_one(
    State(s): State<Arc<Inner>>,
    Path((org_id, conn_id)): Path<(String, String)>,
    Query(q): Q,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = s.check(&org_id, &q, &headers) {
        return r.into_response();
    }
    match s.data().connections.iter().find(|c| c.id == conn_id) {
        Some(c) => Json(c).into_response(),
        None => invalid_connection_id().into_response(),
    }
}

async fn create(
    State(s): State<Arc<Inner>>,
    Path(org_id): Path<String>,
    Query(q): Q,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = s.check(&org_id, &q, &headers) {
        return r.into_response();
    }
    let mut d = s.data();
    let mut c = match validate(&d, &body, None) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    // Read-only fields in a create body are ignored.
    c.id = String::new();
    c.created_date = None;
    c.entity_id = None;
    c.metadata_url = None;
    c.acs_endpoint = None;
    c.sp_certificate = None;
    if let Some(cert) = c.idp_certificate.as_mut() {
        *cert = IdpCertificate {
            certificate: cert.certificate.clone(),
            ..IdpCertificate::default()
        };
    }
    s.fill_server_fields(&mut c, None);
    d.connections.push(c.clone());
    Json(c).into_response()
}

async fn update(
    State(s): State<Arc<Inner>>,
    Path((org_id, conn_id)): Path<(String, String)>,
    Query(q): Q,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = s.check(&org_id, &q, &headers) {
        return r.into_response();
    }
    let mut d = s.data();
    let Some(pos) = d.connections.iter().position(|c| c.id == conn_id) else {
        return invalid_connection_id().into_response();
    };
    let mut c = match validate(&d, &body, Some(&conn_id)) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let previous = d.connections[pos].clone();
    c.id = conn_id;
    // Read-only fields in the body are ignored: the stored ones are kept.
    c.entity_id = None;
    c.metadata_url = None;
    c.acs_endpoint = None;
    c.sp_certificate = None;
    s.fill_server_fields(&mut c, Some(&previous));
    d.connections[pos] = c.clone();
    Json(c).into_response()
}

async fn delete(
    State(s): State<Arc<Inner>>,
    Path((org_id, conn_id)): Path<(String, String)>,
    Query(q): Q,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = s.check(&org_id, &q, &headers) {
        return r.into_response();
    }
    let mut d = s.data();
    let before = d.connections.len();
    d.connections.retain(|c| c.id != conn_id);
    if d.connections.len() == before {
        return invalid_connection_id().into_response();
    }
    Json(Deleted { is_deleted: true }).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn start() -> (LoginRadiusEmulator, super::super::Running, reqwest::Client) {
        let emu = LoginRadiusEmulator::new("k", "s", "org_1");
        let running = super::super::serve(emu.router(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        (emu, running, reqwest::Client::new())
    }

    fn body() -> Value {
        json!({"Name": "n", "Domain": "a.example", "ConnectionType": "saml_custom",
               "IDPEntityId": "https://idp", "GroupRoles": [{"GroupId": "g", "Name": "g", "RoleId": "role_1"}]})
    }

    #[tokio::test]
    async fn wire_shapes_follow_the_seed() {
        let (emu, running, http) = start().await;
        let base = format!(
            "{}/v2/manage/organizations/org_1/connections",
            running.url()
        );
        let auth = |r: reqwest::RequestBuilder| {
            r.header("X-LoginRadius-ApiKey", "k")
                .header("X-LoginRadius-ApiSecret", "s")
        };

        let r = http
            .get(&base)
            .header("X-LoginRadius-ApiKey", "x")
            .header("X-LoginRadius-ApiSecret", "s")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert_eq!(r.json::<Value>().await.unwrap()["ErrorCode"], 901);
        let r = http
            .get(&base)
            .header("X-LoginRadius-ApiKey", "k")
            .header("X-LoginRadius-ApiSecret", "x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(r.json::<Value>().await.unwrap()["ErrorCode"], 902);
        // The query-string form of LoginRadius' Update Organization Connection reference is
        // accepted too, and counted.
        assert_eq!(emu.query_credential_uses(), 0);
        let r = http
            .get(&base)
            .query(&[("apikey", "k"), ("apisecret", "s")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = http
            .get(&base)
            .query(&[("apikey", "k"), ("apisecret", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(emu.query_credential_uses(), 2);

        let created: Value = auth(http.post(&base))
            .json(&body())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = created["Id"].as_str().unwrap().to_string();
        assert!(id.starts_with("conn_"));
        assert!(
            created["GroupRoles"][0]["Id"]
                .as_str()
                .unwrap()
                .starts_with("group_role_")
        );
        let entity = created["EntityId"].as_str().unwrap();
        assert_eq!(created["MetadataUrl"], format!("{entity}/metadata.xml"));

        // PUT replaces: what the body leaves out is cleared (GroupRoles, IDPEntityId).
        let put: Value = auth(http.put(format!("{base}/{id}")))
            .json(&json!({"Name": "n", "Domain": "a.example", "ConnectionType": "saml_custom"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(put["GroupRoles"], json!([]));
        assert!(put.get("IDPEntityId").is_none());
        assert_eq!(put["EntityId"], created["EntityId"]);

        let list: Value = auth(http.get(&base))
            .query(&[("pageindex", "1"), ("pagesize", "1")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["Count"], 1);
        assert_eq!(list["Data"].as_array().unwrap().len(), 1);

        let r = auth(http.get(format!("{base}/conn_nope")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<Value>().await.unwrap()["ErrorCode"], 8151);
        let del: Value = auth(http.delete(format!("{base}/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(del, json!({"IsDeleted": true}));
    }
}
