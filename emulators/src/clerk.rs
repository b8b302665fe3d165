//! Clerk Backend API emulator: `/v1/enterprise_connections` with Clerk's bearer secret-key auth,
//! `ClerkErrors` bodies, offset pagination (limit default 10, max 500, newest first) and the
//! documented PATCH rules (`domains: []` is no change, `organization_id` cannot be unlinked,
//! `provider` is not accepted). Write-only inputs are kept but never echoed. A refused key is a
//! 403 (the description lists no 401); names are not unique (only a domain in use is refused).

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Map, Value, json};

use super::{Dialect, EmulatorCore, base62_id, hex_id, with_core};
pub mod wire;

use wire::{
    AttributeMappingInput, ClerkError, ClerkErrorMeta, ClerkErrors, DeletedObject,
    EnterpriseConnection, EnterpriseConnectionList, OBJECT_ENTERPRISE_CONNECTION, OauthConfig,
    OidcInput, SamlConnection, SamlInput,
};

/// Clerk's `provider` values for enterprise connections.
pub const PROVIDERS: [&str; 7] = [
    "saml_custom",
    "saml_okta",
    "saml_google",
    "saml_microsoft",
    "oidc_custom",
    "oidc_github_enterprise",
    "oidc_gitlab",
];
const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 500;

const CREATE_KEYS: &[&str] = &[
    "name",
    "provider",
    "domains",
    "organization_id",
    "allow_organization_account_linking",
    "active",
    "saml",
    "oidc",
    "custom_attributes",
];
const UPDATE_KEYS: &[&str] = &[
    "name",
    "domains",
    "organization_id",
    "allow_organization_account_linking",
    "active",
    "saml",
    "oidc",
    "custom_attributes",
    "sync_user_attributes",
    "disable_additional_identifications",
];
const SAML_KEYS: &[&str] = &[
    "idp_entity_id",
    "idp_sso_url",
    "idp_certificate",
    "idp_metadata_url",
    "idp_metadata",
    "attribute_mapping",
    "allow_subdomains",
    "allow_idp_initiated",
    "force_authn",
    "login_hint",
];
const OIDC_KEYS: &[&str] = &[
    "client_id",
    "client_secret",
    "discovery_url",
    "auth_url",
    "token_url",
    "user_info_url",
    "requires_pkce",
];
const MAPPING_KEYS: &[&str] = &["user_id", "email_address", "first_name", "last_name"];

/// Values Clerk accepts but never returns. Debug shows only which are set.
#[derive(Clone, Default, PartialEq)]
pub struct WriteOnly {
    pub client_secret: Option<String>,
    pub idp_certificate: Option<String>,
    pub idp_metadata: Option<String>,
    pub attribute_mapping: Option<AttributeMappingInput>,
}

impl fmt::Debug for WriteOnly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.presence().to_string())
    }
}

impl WriteOnly {
    /// Which write-only values are held, without the values (for snapshots and Debug).
    fn presence(&self) -> Value {
        let set = |b: bool| if b { json!("<set>") } else { Value::Null };
        json!({
            "client_secret": set(self.client_secret.is_some()),
            "idp_certificate": set(self.idp_certificate.is_some()),
            "idp_metadata": set(self.idp_metadata.is_some()),
            "attribute_mapping": self.attribute_mapping.as_ref().and_then(|m| serde_json::to_value(m).ok()),
        })
    }
}

#[derive(Clone)]
struct Stored {
    /// Creation order, for newest-first listing (timestamps can tie).
    seq: u64,
    conn: EnterpriseConnection,
    write_only: WriteOnly,
}

#[derive(Default)]
struct Store {
    items: BTreeMap<String, Stored>,
    seq: u64,
}

#[derive(Clone)]
struct Ctx {
    state: Arc<Mutex<Store>>,
    secret_key: Arc<str>,
    host: Arc<str>,
    /// The last `Clerk-API-Version` header received (for tests of the client).
    api_version: Arc<Mutex<Option<String>>>,
}

fn lock(m: &Mutex<Store>) -> MutexGuard<'_, Store> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Clerk's error body and 429 headers.
pub struct ClerkDialect;

impl Dialect for ClerkDialect {
    fn error(&self, status: StatusCode, message: &str) -> Response {
        let code = if status.is_server_error() {
            "internal_clerk_error"
        } else {
            "request_invalid"
        };
        error(status, code, message, message, None)
    }

    fn rate_limited(&self, wait: Duration, _limit: u32) -> Response {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        let mut resp = error(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "Too many requests",
            "Too many requests, please retry later",
            None,
        );
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

/// A `ClerkErrors` response with one entry.
fn error(
    status: StatusCode,
    code: &str,
    message: &str,
    long_message: &str,
    param: Option<&str>,
) -> Response {
    let body = ClerkErrors {
        errors: vec![ClerkError {
            message: message.into(),
            long_message: long_message.into(),
            code: code.into(),
            meta: param.map(|p| ClerkErrorMeta {
                param_name: Some(p.into()),
            }),
        }],
        meta: None,
        clerk_trace_id: Some(hex_id(32)),
    };
    (status, Json(body)).into_response()
}

/// An error answer, boxed so that `Result`s carrying it stay small.
pub struct ApiError(Box<Response>);

impl From<Response> for ApiError {
    fn from(r: Response) -> Self {
        Self(Box::new(r))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        *self.0
    }
}

fn unprocessable(code: &str, message: &str, long: &str, param: &str) -> ApiError {
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        code,
        message,
        long,
        Some(param),
    )
    .into()
}

fn missing(param: &str) -> ApiError {
    unprocessable(
        "form_param_missing",
        "missing data",
        &format!("{param} must be included."),
        param,
    )
}

fn format_invalid(param: &str, why: &str) -> ApiError {
    unprocessable(
        "form_param_format_invalid",
        "is invalid",
        &format!("{param} is invalid: {why}."),
        param,
    )
}

fn value_invalid(param: &str, why: &str) -> ApiError {
    unprocessable(
        "form_param_value_invalid",
        "is invalid",
        &format!("{param} is invalid: {why}."),
        param,
    )
}

fn not_found() -> ApiError {
    error(
        StatusCode::NOT_FOUND,
        "resource_not_found",
        "not found",
        "The requested resource was not found.",
        None,
    )
    .into()
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// The Clerk Backend API emulator of one instance.
pub struct ClerkEmulator {
    core: Arc<EmulatorCore>,
    ctx: Ctx,
}

impl ClerkEmulator {
    /// `secret_key` is the only key accepted as `Authorization: Bearer <key>`.
    pub fn new(secret_key: impl Into<String>) -> Self {
        Self::with_instance(secret_key, "emulator")
    }

    /// As [`ClerkEmulator::new`]; `instance` names the Frontend API host
    /// (`clerk.<instance>.example`) in the generated SAML service-provider URLs.
    pub fn with_instance(secret_key: impl Into<String>, instance: &str) -> Self {
        let secret_key: String = secret_key.into();
        Self {
            core: EmulatorCore::new("clerk", ClerkDialect),
            ctx: Ctx {
                state: Arc::default(),
                secret_key: secret_key.into(),
                host: format!("clerk.{instance}.example").into(),
                api_version: Arc::default(),
            },
        }
    }

    pub fn core(&self) -> Arc<EmulatorCore> {
        self.core.clone()
    }

    pub fn router(&self) -> Router {
        let routes = Router::new()
            .route("/v1/enterprise_connections", get(list).post(create))
            .route(
                "/v1/enterprise_connections/{enterprise_connection_id}",
                get(get_one).patch(update).delete(remove),
            )
            .fallback(|| async { not_found().into_response() })
            .layer(axum::middleware::from_fn_with_state(
                self.ctx.clone(),
                authenticate,
            ))
            .with_state(self.ctx.clone());
        with_core(routes, self.core.clone())
    }

    /// Everything held, write-only values shown only as `<set>`.
    pub fn snapshot(&self) -> Value {
        let st = lock(&self.ctx.state);
        let mut items: Vec<&Stored> = st.items.values().collect();
        items.sort_by_key(|s| std::cmp::Reverse(s.seq));
        let conns: Vec<Value> = items
            .iter()
            .map(|s| {
                let mut v = serde_json::to_value(&s.conn).unwrap_or(Value::Null);
                if let Value::Object(m) = &mut v {
                    m.insert("write_only".into(), s.write_only.presence());
                }
                v
            })
            .collect();
        json!({ "host": &*self.ctx.host, "enterprise_connections": conns })
    }

    /// Console: stores `conn` as is, under `conn.id` (replacing any object with that id).
    pub fn insert_connection(&self, conn: EnterpriseConnection) {
        let mut st = lock(&self.ctx.state);
        st.seq += 1;
        let seq = st.seq;
        st.items.insert(
            conn.id.clone(),
            Stored {
                seq,
                conn,
                write_only: WriteOnly::default(),
            },
        );
    }

    /// Console: creates a connection from a create body under the chosen `id`, with the same
    /// validation the API applies (but no duplicate check). Returns Clerk's error text on refusal.
    pub fn insert_from_body(&self, id: &str, body: Value) -> Result<EnterpriseConnection, String> {
        let (conn, write_only) =
            build_connection(&self.ctx, id.to_string(), &body).map_err(describe)?;
        let mut st = lock(&self.ctx.state);
        st.seq += 1;
        let seq = st.seq;
        st.items.insert(
            id.to_string(),
            Stored {
                seq,
                conn: conn.clone(),
                write_only,
            },
        );
        Ok(conn)
    }

    /// Console: edits a connection behind the API's back; false when it does not exist.
    pub fn edit_connection(&self, id: &str, f: impl FnOnce(&mut EnterpriseConnection)) -> bool {
        let mut st = lock(&self.ctx.state);
        match st.items.get_mut(id) {
            Some(s) => {
                f(&mut s.conn);
                true
            }
            None => false,
        }
    }

    pub fn get_connection(&self, id: &str) -> Option<EnterpriseConnection> {
        lock(&self.ctx.state).items.get(id).map(|s| s.conn.clone())
    }

    /// The write-only values Clerk holds for a connection (for tests that check they were sent).
    pub fn write_only(&self, id: &str) -> Option<WriteOnly> {
        lock(&self.ctx.state)
            .items
            .get(id)
            .map(|s| s.write_only.clone())
    }

    /// The `Clerk-API-Version` header of the last authenticated request.
    pub fn last_api_version(&self) -> Option<String> {
        self.ctx
            .api_version
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn count_connections(&self) -> usize {
        lock(&self.ctx.state).items.len()
    }
}

/// Clerk takes the secret key only as `Authorization: Bearer sk_...`.
async fn authenticate(State(ctx): State<Ctx>, req: Request, next: Next) -> Response {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
        // The description answers every refused key with 403 (AuthorizationInvalid); it lists no 401.
        return error(
            StatusCode::FORBIDDEN,
            "authorization_header_format_invalid",
            "Invalid Authorization header format",
            "Invalid Authorization header format. Must be 'Bearer <YOUR_API_KEY>'",
            None,
        );
    };
    if token.trim() != &*ctx.secret_key {
        return error(
            StatusCode::FORBIDDEN,
            "authentication_invalid",
            "Invalid authentication",
            "Unable to authenticate the request, you need to supply an active API key",
            None,
        );
    }
    let version = req
        .headers()
        .get("clerk-api-version")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    *ctx.api_version.lock().unwrap_or_else(|e| e.into_inner()) = version;
    next.run(req).await
}

type Answer = Result<Response, ApiError>;

fn describe(r: ApiError) -> String {
    format!("rejected with HTTP {}", r.0.status().as_u16())
}

fn parse_object(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        // 422: the create operation declares no 400.
        _ => Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "request_body_invalid",
            "Request body invalid",
            "The request body is not a valid JSON object.",
            None,
        )
        .into()),
    }
}

/// additionalProperties false: the first unknown key is refused by name.
fn check_keys(m: &Map<String, Value>, allowed: &[&str], prefix: &str) -> Result<(), ApiError> {
    match m.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => {
            let param = format!("{prefix}{k}");
            Err(unprocessable(
                "form_param_unknown",
                "is unknown",
                &format!("{param} is not a valid parameter for this request."),
                &param,
            ))
        }
    }
}

fn opt_string(m: &Map<String, Value>, key: &str, prefix: &str) -> Result<Option<String>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format_invalid(
            &format!("{prefix}{key}"),
            "must be a string",
        )),
    }
}

fn opt_bool(m: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(format_invalid(key, "must be a boolean")),
    }
}

fn is_fqdn(d: &str) -> bool {
    let labels: Vec<&str> = d.split('.').collect();
    d.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// `domains`: `None` when absent, null or `[]`; otherwise lower-cased, de-duplicated FQDNs.
fn domains_param(m: &Map<String, Value>) -> Result<Option<Vec<String>>, ApiError> {
    let items = match m.get("domains") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(format_invalid("domains", "must be an array of domains")),
    };
    let mut out = vec![];
    for item in items {
        let d = item
            .as_str()
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|d| is_fqdn(d))
            .ok_or_else(|| format_invalid("domains", "every domain must be a valid FQDN"))?;
        if !out.contains(&d) {
            out.push(d);
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

fn check_url(v: &Option<String>, param: &str) -> Result<(), ApiError> {
    match v {
        Some(u) if !(u.starts_with("https://") || u.starts_with("http://")) => {
            Err(format_invalid(param, "must be an absolute http(s) URL"))
        }
        _ => Ok(()),
    }
}

fn looks_like_certificate(c: &str) -> bool {
    let body: String = c
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----"))
        .collect();
    !body.is_empty()
        && body
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '+' | '/' | '='))
}

/// Parses and validates a `saml` object; returns the input and its `login_hint`.
fn saml_param(v: &Value) -> Result<(SamlInput, Option<Value>), ApiError> {
    let Value::Object(m) = v else {
        return Err(format_invalid("saml", "must be an object"));
    };
    check_keys(m, SAML_KEYS, "saml.")?;
    if let Some(Value::Object(am)) = m.get("attribute_mapping") {
        check_keys(am, MAPPING_KEYS, "saml.attribute_mapping.")?;
    }
    let input: SamlInput = serde_json::from_value(Value::Object(m.clone()))
        .map_err(|_| format_invalid("saml", "a value has the wrong type"))?;
    check_url(&input.idp_sso_url, "saml.idp_sso_url")?;
    check_url(&input.idp_metadata_url, "saml.idp_metadata_url")?;
    if let Some(c) = &input.idp_certificate
        && !looks_like_certificate(c)
    {
        return Err(format_invalid(
            "saml.idp_certificate",
            "must be a PEM or base64 X.509 certificate",
        ));
    }
    let login_hint = m.get("login_hint").filter(|v| !v.is_null()).cloned();
    if let Some(h) = &login_hint {
        let mode = h.get("mode").and_then(Value::as_str);
        if !matches!(mode, Some("email_address" | "custom_attribute" | "off")) {
            return Err(value_invalid(
                "saml.login_hint.mode",
                "must be email_address, custom_attribute or off",
            ));
        }
    }
    Ok((input, login_hint))
}

fn oidc_param(v: &Value) -> Result<OidcInput, ApiError> {
    let Value::Object(m) = v else {
        return Err(format_invalid("oidc", "must be an object"));
    };
    check_keys(m, OIDC_KEYS, "oidc.")?;
    let input: OidcInput = serde_json::from_value(Value::Object(m.clone()))
        .map_err(|_| format_invalid("oidc", "a value has the wrong type"))?;
    check_url(&input.discovery_url, "oidc.discovery_url")?;
    check_url(&input.auth_url, "oidc.auth_url")?;
    check_url(&input.token_url, "oidc.token_url")?;
    check_url(&input.user_info_url, "oidc.user_info_url")?;
    Ok(input)
}

/// Clerk reads the discovery document; the emulator derives the endpoints from its issuer.
fn derive_from_discovery(o: &mut OauthConfig, explicit: &OidcInput) {
    let Some(d) = &o.discovery_url else { return };
    let issuer = d
        .trim_end_matches('/')
        .trim_end_matches("/.well-known/openid-configuration")
        .to_string();
    if explicit.auth_url.is_none() {
        o.auth_url = Some(format!("{issuer}/oauth2/authorize"));
    }
    if explicit.token_url.is_none() {
        o.token_url = Some(format!("{issuer}/oauth2/token"));
    }
    if explicit.user_info_url.is_none() {
        o.user_info_url = Some(format!("{issuer}/oauth2/userinfo"));
    }
}

fn apply_saml(
    conn: &mut EnterpriseConnection,
    wo: &mut WriteOnly,
    input: SamlInput,
    hint: Option<Value>,
) {
    let Some(s) = conn.saml_connection.as_mut() else {
        return;
    };
    if input.idp_entity_id.is_some() {
        s.idp_entity_id = input.idp_entity_id;
    }
    if input.idp_sso_url.is_some() {
        s.idp_sso_url = input.idp_sso_url;
    }
    if input.idp_metadata_url.is_some() {
        s.idp_metadata_url = input.idp_metadata_url;
    }
    if let Some(b) = input.allow_subdomains {
        s.allow_subdomains = b;
    }
    if let Some(b) = input.allow_idp_initiated {
        s.allow_idp_initiated = b;
    }
    if let Some(b) = input.force_authn {
        s.force_authn = b;
    }
    if hint.is_some() {
        s.login_hint = hint;
    }
    if input.idp_certificate.is_some() {
        wo.idp_certificate = input.idp_certificate;
    }
    if input.idp_metadata.is_some() {
        wo.idp_metadata = input.idp_metadata;
    }
    if input.attribute_mapping.is_some() {
        wo.attribute_mapping = input.attribute_mapping;
    }
}

fn apply_oidc(conn: &mut EnterpriseConnection, wo: &mut WriteOnly, input: OidcInput, now: i64) {
    let Some(o) = conn.oauth_config.as_mut() else {
        return;
    };
    if input.client_id.is_some() {
        o.client_id = input.client_id.clone();
    }
    if input.discovery_url.is_some() {
        o.discovery_url = input.discovery_url.clone();
        derive_from_discovery(o, &input);
    }
    if input.auth_url.is_some() {
        o.auth_url = input.auth_url.clone();
    }
    if input.token_url.is_some() {
        o.token_url = input.token_url.clone();
    }
    if input.user_info_url.is_some() {
        o.user_info_url = input.user_info_url.clone();
    }
    if let Some(p) = input.requires_pkce {
        o.requires_pkce = p;
    }
    if input.client_secret.is_some() {
        wo.client_secret = input.client_secret;
    }
    o.updated_at = now;
}

/// An active connection needs a complete IdP configuration.
fn check_activatable(conn: &EnterpriseConnection, wo: &WriteOnly) -> Result<(), ApiError> {
    if !conn.active {
        return Ok(());
    }
    if let Some(s) = &conn.saml_connection {
        let by_metadata = s.idp_metadata_url.is_some() || wo.idp_metadata.is_some();
        let by_hand =
            s.idp_entity_id.is_some() && s.idp_sso_url.is_some() && wo.idp_certificate.is_some();
        if !(by_metadata || by_hand) {
            return Err(value_invalid(
                "active",
                "the SAML IdP metadata (metadata URL or XML, or entity id, SSO URL and certificate) must be supplied to activate the connection",
            ));
        }
    }
    if let Some(o) = &conn.oauth_config {
        let endpoints =
            o.discovery_url.is_some() || (o.auth_url.is_some() && o.token_url.is_some());
        let client = o.client_id.is_some() && (wo.client_secret.is_some() || o.requires_pkce);
        if !(endpoints && client) {
            return Err(value_invalid(
                "active",
                "the OIDC client id, client secret (or PKCE) and endpoints must be supplied to activate the connection",
            ));
        }
    }
    Ok(())
}

/// Builds a new connection from a create body (everything but the duplicate check).
fn build_connection(
    ctx: &Ctx,
    id: String,
    body: &Value,
) -> Result<(EnterpriseConnection, WriteOnly), ApiError> {
    let Value::Object(m) = body else {
        return Err(format_invalid("body", "must be an object"));
    };
    check_keys(m, CREATE_KEYS, "")?;
    let name = opt_string(m, "name", "")?
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| missing("name"))?;
    let provider = opt_string(m, "provider", "")?.ok_or_else(|| missing("provider"))?;
    if !PROVIDERS.contains(&provider.as_str()) {
        return Err(value_invalid(
            "provider",
            "must be one of saml_custom, saml_okta, saml_google, saml_microsoft, oidc_custom, oidc_github_enterprise, oidc_gitlab",
        ));
    }
    let domains = domains_param(m)?.ok_or_else(|| missing("domains"))?;
    let organization_id = opt_string(m, "organization_id", "")?;
    if organization_id
        .as_deref()
        .is_some_and(|o| o.trim().is_empty())
    {
        return Err(format_invalid("organization_id", "must not be empty"));
    }
    let active = opt_bool(m, "active")?.unwrap_or(false);
    let linking = opt_bool(m, "allow_organization_account_linking")?.unwrap_or(false);
    let custom_attributes = custom_attributes_param(m)?.unwrap_or_default();
    let is_saml = provider.starts_with("saml_");
    let saml = m.get("saml").filter(|v| !v.is_null());
    let oidc = m.get("oidc").filter(|v| !v.is_null());
    if saml.is_some() && !is_saml {
        return Err(value_invalid(
            "saml",
            "only SAML providers take SAML settings",
        ));
    }
    if oidc.is_some() && is_saml {
        return Err(value_invalid(
            "oidc",
            "only OIDC providers take OIDC settings",
        ));
    }
    let now = now_ms();
    let sub_id = base62_id(27);
    let host = &ctx.host;
    let mut conn = EnterpriseConnection {
        object: OBJECT_ENTERPRISE_CONNECTION.into(),
        id,
        name: name.clone(),
        provider: provider.clone(),
        logo_public_url: None,
        active,
        domains,
        organization_id,
        sync_user_attributes: true,
        disable_additional_identifications: false,
        allow_organization_account_linking: linking,
        custom_attributes,
        saml_connection: is_saml.then(|| SamlConnection {
            id: Some(format!("samlc_{sub_id}")),
            name: name.clone(),
            acs_url: Some(format!("https://{host}/v1/saml/acs/samlc_{sub_id}")),
            sp_entity_id: Some(format!("https://{host}/saml/samlc_{sub_id}")),
            sp_metadata_url: Some(format!("https://{host}/v1/saml/metadata/samlc_{sub_id}")),
            active,
            ..SamlConnection::default()
        }),
        oauth_config: (!is_saml).then(|| OauthConfig {
            id: Some(format!("oac_{sub_id}")),
            name: name.clone(),
            provider_key: provider.clone(),
            created_at: now,
            updated_at: now,
            ..OauthConfig::default()
        }),
        created_at: now,
        updated_at: now,
        authenticatable: true,
        disable_jit_provisioning: false,
        extra: Map::new(),
    };
    let mut wo = WriteOnly::default();
    if let Some(s) = saml {
        let (input, hint) = saml_param(s)?;
        apply_saml(&mut conn, &mut wo, input, hint);
    }
    if let Some(o) = oidc {
        let input = oidc_param(o)?;
        apply_oidc(&mut conn, &mut wo, input, now);
    }
    check_activatable(&conn, &wo)?;
    Ok((conn, wo))
}

/// A domain already used by another connection is refused. Names are not unique at Clerk (the
/// description constrains none), so a taken name is the operator's to detect, by its list lookup.
/// `status`: 409 on create (declared there), 400 on update (whose declared statuses hold no 409).
fn check_domains_free(
    st: &Store,
    conn: &EnterpriseConnection,
    status: StatusCode,
) -> Result<(), ApiError> {
    for other in st.items.values().filter(|s| s.conn.id != conn.id) {
        if let Some(d) = conn.domains.iter().find(|d| other.conn.domains.contains(d)) {
            return Err(error(
                status,
                "form_identifier_exists",
                "already exists",
                &format!("The domain {d} is already used by another enterprise connection."),
                Some("domains"),
            )
            .into());
        }
    }
    Ok(())
}

const CUSTOM_ATTRIBUTE_KEYS: &[&str] = &[
    "name",
    "key",
    "sso_path",
    "scim_path",
    "directory_path",
    "multi_valued",
];

/// `^[^_][A-Za-z0-9_-]*$`, the description's pattern for a custom attribute key.
fn custom_attribute_key_ok(k: &str) -> bool {
    let mut chars = k.chars();
    chars.next().is_some_and(|c| c != '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `custom_attributes`: `None` when absent or null; each item checked against the description
/// (additionalProperties false; `name` and `key` required, non-empty; the key pattern; types).
fn custom_attributes_param(m: &Map<String, Value>) -> Result<Option<Vec<Value>>, ApiError> {
    let items = match m.get("custom_attributes") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(format_invalid("custom_attributes", "must be an array")),
    };
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("custom_attributes[{i}].");
        let Value::Object(o) = item else {
            return Err(format_invalid(
                &format!("custom_attributes[{i}]"),
                "must be an object",
            ));
        };
        check_keys(o, CUSTOM_ATTRIBUTE_KEYS, &prefix)?;
        for field in ["name", "key"] {
            let v = opt_string(o, field, &prefix)?
                .ok_or_else(|| missing(&format!("{prefix}{field}")))?;
            if v.is_empty() {
                return Err(format_invalid(
                    &format!("{prefix}{field}"),
                    "must not be empty",
                ));
            }
            if field == "key" && !custom_attribute_key_ok(&v) {
                return Err(format_invalid(
                    &format!("{prefix}key"),
                    "must match ^[^_][A-Za-z0-9_-]*$",
                ));
            }
        }
        for field in ["sso_path", "scim_path", "directory_path"] {
            if o.get(field).is_some_and(|v| !v.is_string()) {
                return Err(format_invalid(
                    &format!("{prefix}{field}"),
                    "must be a string",
                ));
            }
        }
        if o.get("multi_valued").is_some_and(|v| !v.is_boolean()) {
            return Err(format_invalid(
                &format!("{prefix}multi_valued"),
                "must be a boolean",
            ));
        }
    }
    Ok(Some(items.clone()))
}

async fn create(State(ctx): State<Ctx>, body: Bytes) -> Answer {
    let body = Value::Object(parse_object(&body)?);
    let (conn, write_only) = build_connection(&ctx, format!("ec_{}", base62_id(27)), &body)?;
    let mut st = lock(&ctx.state);
    check_domains_free(&st, &conn, StatusCode::CONFLICT)?;
    st.seq += 1;
    let seq = st.seq;
    st.items.insert(
        conn.id.clone(),
        Stored {
            seq,
            conn: conn.clone(),
            write_only,
        },
    );
    Ok((StatusCode::CREATED, Json(conn)).into_response())
}

async fn get_one(State(ctx): State<Ctx>, Path(id): Path<String>) -> Answer {
    let st = lock(&ctx.state);
    let s = st.items.get(&id).ok_or_else(not_found)?;
    Ok(Json(s.conn.clone()).into_response())
}

fn query_number(
    q: &HashMap<String, String>,
    key: &str,
    default: usize,
    min: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match q.get(key) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                format_invalid(key, &format!("must be an integer between {min} and {max}"))
            }),
    }
}

async fn list(State(ctx): State<Ctx>, Query(q): Query<HashMap<String, String>>) -> Answer {
    let limit = query_number(&q, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)?;
    let offset = query_number(&q, "offset", 0, 0, usize::MAX)?;
    let active = match q.get("active").map(String::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(format_invalid("active", "must be true or false")),
    };
    let org = q.get("organization_id");
    let st = lock(&ctx.state);
    let mut items: Vec<&Stored> = st
        .items
        .values()
        .filter(|s| active.is_none_or(|a| s.conn.active == a))
        .filter(|s| org.is_none_or(|o| s.conn.organization_id.as_ref() == Some(o)))
        .collect();
    items.sort_by_key(|s| std::cmp::Reverse(s.seq));
    let total = items.len();
    let data = items
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|s| s.conn.clone())
        .collect();
    Ok(Json(EnterpriseConnectionList {
        data,
        total_count: total as i64,
    })
    .into_response())
}

async fn update(State(ctx): State<Ctx>, Path(id): Path<String>, body: Bytes) -> Answer {
    let m = parse_object(&body)?;
    check_keys(&m, UPDATE_KEYS, "")?;
    let mut st = lock(&ctx.state);
    let stored = st.items.get(&id).ok_or_else(not_found)?;
    let mut conn = stored.conn.clone();
    let mut wo = stored.write_only.clone();
    let now = now_ms();
    if let Some(name) = opt_string(&m, "name", "")? {
        if name.trim().is_empty() {
            return Err(format_invalid("name", "must not be empty"));
        }
        conn.name = name;
    }
    // `[]` means "no change"; a non-empty list replaces every domain.
    if let Some(domains) = domains_param(&m)? {
        conn.domains = domains;
    }
    // null leaves the link as it is; Clerk cannot unlink an organization.
    match m.get("organization_id") {
        None | Some(Value::Null) => {}
        Some(Value::String(o)) if !o.trim().is_empty() => conn.organization_id = Some(o.clone()),
        Some(Value::String(_)) => {
            return Err(value_invalid(
                "organization_id",
                "an enterprise connection cannot be unlinked from its organization",
            ));
        }
        Some(_) => return Err(format_invalid("organization_id", "must be a string")),
    }
    if let Some(a) = opt_bool(&m, "active")? {
        conn.active = a;
        if let Some(s) = conn.saml_connection.as_mut() {
            s.active = a;
        }
    }
    if let Some(b) = opt_bool(&m, "sync_user_attributes")? {
        conn.sync_user_attributes = b;
    }
    if let Some(b) = opt_bool(&m, "disable_additional_identifications")? {
        conn.disable_additional_identifications = b;
    }
    if let Some(b) = opt_bool(&m, "allow_organization_account_linking")? {
        conn.allow_organization_account_linking = b;
    }
    if let Some(attrs) = custom_attributes_param(&m)? {
        conn.custom_attributes = attrs;
    }
    if let Some(s) = m.get("saml").filter(|v| !v.is_null()) {
        if conn.saml_connection.is_none() {
            return Err(value_invalid("saml", "this connection does not use SAML"));
        }
        // The update body also takes `saml.name`.
        let mut s = s.clone();
        let saml_name = s
            .as_object_mut()
            .and_then(|o| o.remove("name"))
            .filter(|v| !v.is_null());
        let (input, hint) = saml_param(&s)?;
        apply_saml(&mut conn, &mut wo, input, hint);
        if let (Some(sc), Some(n)) = (conn.saml_connection.as_mut(), saml_name) {
            sc.name = n
                .as_str()
                .ok_or_else(|| format_invalid("saml.name", "must be a string"))?
                .to_string();
        }
    }
    if let Some(o) = m.get("oidc").filter(|v| !v.is_null()) {
        if conn.oauth_config.is_none() {
            return Err(value_invalid("oidc", "this connection does not use OIDC"));
        }
        let input = oidc_param(o)?;
        apply_oidc(&mut conn, &mut wo, input, now);
    }
    check_activatable(&conn, &wo)?;
    check_domains_free(&st, &conn, StatusCode::BAD_REQUEST)?;
    conn.updated_at = now;
    if let Some(s) = st.items.get_mut(&id) {
        s.conn = conn.clone();
        s.write_only = wo;
    }
    Ok(Json(conn).into_response())
}

async fn remove(State(ctx): State<Ctx>, Path(id): Path<String>) -> Answer {
    let mut st = lock(&ctx.state);
    st.items.remove(&id).ok_or_else(not_found)?;
    Ok(Json(DeletedObject {
        object: OBJECT_ENTERPRISE_CONNECTION.into(),
        id,
        deleted: true,
        slug: None,
        external_id: None,
    })
    .into_response())
}
