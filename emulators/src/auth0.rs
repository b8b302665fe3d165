//! Auth0 emulator: `POST /oauth/token` (client-credentials grant) and the Management API's
//! `/api/v2/connection-profiles` endpoints, with Auth0's validation, error bodies, checkpoint
//! pagination and `x-ratelimit-*` headers on 429.

use std::{
    collections::{BTreeMap, HashMap},
    ops::Bound,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};

use super::{Dialect, EmulatorCore, base62_id, with_core};
pub mod wire;

use wire::{
    CROSS_APP_STATUSES, ConnectionProfile, ConnectionProfileList, ConnectionProfileTemplateItem,
    ConnectionProfileTemplateList, FEATURES, ORGANIZATION_BEHAVIOURS, SCIM_SCOPES, STRATEGIES,
    StrategyOverride,
};

/// Scopes a Management API token needs for connection profiles.
pub const SCOPES: [&str; 4] = [
    "read:connection_profiles",
    "create:connection_profiles",
    "update:connection_profiles",
    "delete:connection_profiles",
];

/// `take` when absent ("Defaults to 5" in the official SDK's description of the parameter).
const DEFAULT_TAKE: usize = 5;
/// The official SDK pages with `take=50` by default, and its description sets no maximum; 100 is
/// the largest page Auth0's checkpoint-paginated lists take.
const MAX_TAKE: usize = 100;

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// Auth0's error body and 429 headers.
struct Auth0Dialect;

/// `{statusCode, error, message, errorCode}` with the given status.
fn error(status: StatusCode, message: &str, code: Option<&str>) -> Response {
    let mut body = json!({
        "statusCode": status.as_u16(),
        "error": status.canonical_reason().unwrap_or("Error"),
        "message": message,
    });
    if let Some(code) = code {
        body["errorCode"] = json!(code);
    }
    (status, axum::Json(body)).into_response()
}

fn bad_body(message: String) -> Response {
    error(StatusCode::BAD_REQUEST, &message, Some("invalid_body"))
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

impl Dialect for Auth0Dialect {
    fn error(&self, status: StatusCode, message: &str) -> Response {
        error(status, message, None)
    }

    fn rate_limited(&self, wait: Duration, limit: u32) -> Response {
        let mut resp = error(
            StatusCode::TOO_MANY_REQUESTS,
            "Global limit has been reached",
            Some("too_many_requests"),
        );
        // x-ratelimit-reset is the epoch second at which a request is allowed again; rounded up so
        // that a client never retries early.
        let reset = (now_secs() + wait.as_secs_f64()).ceil() as u64;
        let h = resp.headers_mut();
        h.insert("x-ratelimit-limit", HeaderValue::from(limit));
        h.insert("x-ratelimit-remaining", HeaderValue::from(0u32));
        h.insert("x-ratelimit-reset", HeaderValue::from(reset));
        resp
    }
}

/// An issued management token.
struct Token {
    expires_at: f64,
    scopes: Vec<String>,
}

struct Data {
    domain: String,
    client_id: String,
    client_secret: String,
    token_lifetime: u64,
    scopes: Vec<String>,
    tokens: HashMap<String, Token>,
    tokens_issued: u64,
    /// Profiles by creation sequence: the checkpoint `next` is the last sequence of a page.
    profiles: BTreeMap<u64, ConnectionProfile>,
    seq: u64,
}

impl Data {
    fn find(&self, id: &str) -> Option<u64> {
        self.profiles
            .iter()
            .find(|(_, p)| p.id.as_deref() == Some(id))
            .map(|(k, _)| *k)
    }

    fn name_taken(&self, name: &str, except: Option<u64>) -> bool {
        self.profiles
            .iter()
            .any(|(k, p)| Some(*k) != except && p.name == name)
    }

    fn insert(&mut self, profile: ConnectionProfile) {
        self.seq += 1;
        self.profiles.insert(self.seq, profile);
    }
}

type Shared = Arc<Mutex<Data>>;

fn lock(s: &Shared) -> MutexGuard<'_, Data> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// The emulated Auth0 tenant.
#[derive(Clone)]
pub struct Auth0Emulator {
    core: Arc<EmulatorCore>,
    data: Shared,
}

impl Auth0Emulator {
    /// A tenant `domain` (e.g. `demo.eu.auth0.com`) with one machine-to-machine application.
    pub fn new(domain: &str, client_id: &str, client_secret: &str) -> Self {
        Self {
            core: EmulatorCore::new("auth0", Auth0Dialect),
            data: Arc::new(Mutex::new(Data {
                domain: domain.to_string(),
                client_id: client_id.to_string(),
                client_secret: client_secret.to_string(),
                token_lifetime: 86_400,
                scopes: SCOPES.iter().map(|s| s.to_string()).collect(),
                tokens: HashMap::new(),
                tokens_issued: 0,
                profiles: BTreeMap::new(),
                seq: 0,
            })),
        }
    }

    pub fn core(&self) -> Arc<EmulatorCore> {
        self.core.clone()
    }

    pub fn router(&self) -> Router {
        let routes = Router::new()
            .route("/oauth/token", post(token))
            .route("/api/v2/connection-profiles", get(list).post(create))
            // A static segment: matched before the `{id}` route below.
            .route("/api/v2/connection-profiles/templates", get(list_templates))
            .route(
                "/api/v2/connection-profiles/templates/{id}",
                get(read_template),
            )
            .route(
                "/api/v2/connection-profiles/{id}",
                get(read).patch(update).delete(remove),
            )
            .with_state(self.data.clone());
        with_core(routes, self.core.clone())
    }

    /// Everything the tenant holds (no credentials or tokens).
    pub fn snapshot(&self) -> Value {
        let d = lock(&self.data);
        json!({
            "domain": d.domain,
            "connection_profiles": d.profiles.values().collect::<Vec<_>>(),
        })
    }

    /// Adds a profile as if made in the dashboard, with the given id.
    pub fn insert_profile(&self, id: &str, mut profile: ConnectionProfile) {
        profile.id = Some(id.to_string());
        lock(&self.data).insert(profile);
    }

    /// Changes a profile behind the API's back; false when there is no such profile.
    pub fn edit_profile(&self, id: &str, f: impl FnOnce(&mut ConnectionProfile)) -> bool {
        let mut d = lock(&self.data);
        match d.find(id).and_then(|k| d.profiles.get_mut(&k)) {
            Some(p) => {
                f(p);
                true
            }
            None => false,
        }
    }

    pub fn get_profile(&self, id: &str) -> Option<ConnectionProfile> {
        let d = lock(&self.data);
        d.find(id).and_then(|k| d.profiles.get(&k).cloned())
    }

    pub fn count_profiles(&self) -> usize {
        lock(&self.data).profiles.len()
    }

    /// Lifetime (`expires_in`) of tokens issued from now on.
    pub fn set_token_lifetime(&self, secs: u64) {
        lock(&self.data).token_lifetime = secs;
    }

    /// Scopes granted to tokens issued from now on.
    pub fn set_scopes(&self, scopes: &[&str]) {
        lock(&self.data).scopes = scopes.iter().map(|s| s.to_string()).collect();
    }

    /// Invalidates every issued token (as if the signing key rotated).
    pub fn revoke_tokens(&self) {
        lock(&self.data).tokens.clear();
    }

    /// How many tokens `/oauth/token` has issued.
    pub fn tokens_issued(&self) -> u64 {
        lock(&self.data).tokens_issued
    }
}

fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 3);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// A JWT-shaped access token (RS256 header, Auth0 claims, random signature).
fn mint_jwt(
    domain: &str,
    client_id: &str,
    audience: &str,
    scope: &str,
    iat: u64,
    exp: u64,
) -> String {
    let header = b64url(br#"{"alg":"RS256","typ":"JWT","kid":"emulator"}"#);
    let claims = json!({
        "iss": format!("https://{domain}/"),
        "sub": format!("{client_id}@clients"),
        "aud": audience,
        "iat": iat,
        "exp": exp,
        "scope": scope,
        "gty": "client-credentials",
        "azp": client_id,
    });
    let payload = b64url(claims.to_string().as_bytes());
    format!("{header}.{payload}.{}", base62_id(43))
}

/// `POST /oauth/token`: form-urlencoded (as documented) or JSON.
async fn token(State(data): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let params: HashMap<String, String> = if is_json {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(m)) => m
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
                .collect(),
            _ => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Invalid request payload JSON format",
                );
            }
        }
    } else {
        url::form_urlencoded::parse(&body).into_owned().collect()
    };
    let param = |k: &str| params.get(k).map(String::as_str);
    let Some(grant_type) = param("grant_type") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: grant_type",
        );
    };
    let mut d = lock(&data);
    if param("client_id") != Some(d.client_id.as_str())
        || param("client_secret") != Some(d.client_secret.as_str())
    {
        return oauth_error(StatusCode::UNAUTHORIZED, "access_denied", "Unauthorized");
    }
    if grant_type != "client_credentials" {
        return oauth_error(
            StatusCode::FORBIDDEN,
            "unauthorized_client",
            &format!("Grant type '{grant_type}' not allowed for the client."),
        );
    }
    let audience = format!("https://{}/api/v2/", d.domain);
    match param("audience") {
        Some(a) if a == audience => {}
        Some(a) => {
            return oauth_error(
                StatusCode::FORBIDDEN,
                "access_denied",
                &format!("Service not enabled within domain: {a}"),
            );
        }
        None => {
            return oauth_error(
                StatusCode::FORBIDDEN,
                "access_denied",
                "No audience parameter was provided, and no default audience has been configured",
            );
        }
    }
    let now = now_secs();
    let iat = now as u64;
    let lifetime = d.token_lifetime;
    let scope = d.scopes.join(" ");
    let jwt = mint_jwt(
        &d.domain,
        &d.client_id,
        &audience,
        &scope,
        iat,
        iat + lifetime,
    );
    let scopes = d.scopes.clone();
    d.tokens.insert(
        jwt.clone(),
        Token {
            expires_at: now + lifetime as f64,
            scopes,
        },
    );
    d.tokens_issued += 1;
    axum::Json(json!({
        "access_token": jwt,
        "scope": scope,
        "expires_in": lifetime,
        "token_type": "Bearer",
    }))
    .into_response()
}

/// A refusal with Auth0's error body, built lazily (a Response is too big to pass around in Results).
struct Reject {
    status: StatusCode,
    message: String,
    code: Option<&'static str>,
}

impl Reject {
    fn unauthorized(message: &str) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            message: message.into(),
            code: None,
        }
    }

    fn bad_body(message: String) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message,
            code: Some("invalid_body"),
        }
    }
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        if self.status == StatusCode::UNAUTHORIZED {
            // Auth0 repeats the reason under `attributes` on token failures.
            let body = json!({
                "statusCode": 401,
                "error": "Unauthorized",
                "message": self.message,
                "attributes": {"error": self.message},
            });
            return (self.status, axum::Json(body)).into_response();
        }
        error(self.status, &self.message, self.code)
    }
}

/// Checks the bearer token and its scope, as the Management API does on every call.
fn authorize(d: &Data, headers: &HeaderMap, scope: &str) -> Result<(), Reject> {
    let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(Reject::unauthorized("Missing authentication"));
    };
    let Some(jwt) = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))
    else {
        return Err(Reject::unauthorized(
            "Bad HTTP authentication header format",
        ));
    };
    let Some(t) = d.tokens.get(jwt.trim()) else {
        return Err(Reject::unauthorized("Invalid token"));
    };
    if now_secs() >= t.expires_at {
        return Err(Reject::unauthorized(
            "Expired token received for JSON Web Token validation",
        ));
    }
    if !t.scopes.iter().any(|s| s == scope) {
        return Err(Reject {
            status: StatusCode::FORBIDDEN,
            message: format!("Insufficient scope, expected any of: {scope}"),
            code: Some("insufficient_scope"),
        });
    }
    Ok(())
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "The connection profile does not exist",
        Some("inexistent_connection_profile"),
    )
}

/// A taken name: 409 on create. The update operation declares no 409 (the official SDK handles 400,
/// 401, 403, 404 and 429 there), so a rename onto a taken name is a 400.
fn conflict(name: &str, status: StatusCode) -> Response {
    error(
        status,
        &format!("A connection profile with the name \"{name}\" already exists"),
        Some(if status == StatusCode::CONFLICT {
            "conflict"
        } else {
            "invalid_body"
        }),
    )
}

/// The templates Auth0 offers (a fixed catalogue; the emulator's two mirror Auth0's dashboard).
pub fn templates() -> Vec<ConnectionProfileTemplateItem> {
    let features = |f: &[&str]| Some(f.iter().map(|s| s.to_string()).collect());
    vec![
        ConnectionProfileTemplateItem {
            id: "cpt_enterprise_sso".into(),
            display_name: "Enterprise SSO".into(),
            template: ConnectionProfile {
                name: "Enterprise SSO".into(),
                organization: Some(wire::Organization {
                    show_as_button: Some("optional".into()),
                    assign_membership_on_login: Some("required".into()),
                    extra: Default::default(),
                }),
                connection_name_prefix_template: Some("sso-{org_id}".into()),
                enabled_features: features(&["scim", "universal_logout"]),
                ..Default::default()
            },
        },
        ConnectionProfileTemplateItem {
            id: "cpt_google_workspace".into(),
            display_name: "Google Workspace directory sync".into(),
            template: ConnectionProfile {
                name: "Google Workspace".into(),
                strategy_overrides: Some(BTreeMap::from([(
                    "google-apps".to_string(),
                    StrategyOverride {
                        enabled_features: features(&["directory_sync"]),
                        provisioning: Some(json!({"google_workspace": {"sync_users": true}})),
                        ..Default::default()
                    },
                )])),
                ..Default::default()
            },
        },
    ]
}

/// `GET /api/v2/connection-profiles/templates`
async fn list_templates(State(data): State<Shared>, headers: HeaderMap) -> Response {
    let d = lock(&data);
    if let Err(r) = authorize(&d, &headers, "read:connection_profiles") {
        return r.into_response();
    }
    axum::Json(ConnectionProfileTemplateList {
        connection_profile_templates: templates(),
    })
    .into_response()
}

/// `GET /api/v2/connection-profiles/templates/{id}`
async fn read_template(
    State(data): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let d = lock(&data);
    if let Err(r) = authorize(&d, &headers, "read:connection_profiles") {
        return r.into_response();
    }
    match templates().into_iter().find(|t| t.id == id) {
        Some(t) => axum::Json(t).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "The connection profile template does not exist",
            Some("inexistent_connection_profile_template"),
        ),
    }
}

/// `GET /api/v2/connection-profiles?from=&take=`
async fn list(State(data): State<Shared>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let d = lock(&data);
    if let Err(r) = authorize(&d, &headers, "read:connection_profiles") {
        return r.into_response();
    }
    let params: HashMap<String, String> =
        url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let query_error = |m: &str| {
        error(
            StatusCode::BAD_REQUEST,
            &format!("Query validation error: {m}"),
            Some("invalid_query_string"),
        )
    };
    let take = match params.get("take") {
        None => DEFAULT_TAKE,
        Some(t) => match t.parse::<i64>() {
            Ok(n) if n < 1 => {
                return query_error(&format!(
                    "'Value {n} is less than minimum 1' on property take (Number of results per page. Defaults to 5.)."
                ));
            }
            Ok(n) if n > MAX_TAKE as i64 => {
                return query_error(&format!(
                    "'Value {n} is greater than maximum {MAX_TAKE}' on property take (Number of results per page. Defaults to 5.)."
                ));
            }
            Ok(n) => n as usize,
            Err(_) => {
                return query_error(
                    "'Expected type integer but found type string' on property take (Number of results per page. Defaults to 5.).",
                );
            }
        },
    };
    let start = match params.get("from").filter(|f| !f.is_empty()) {
        None => Bound::Unbounded,
        Some(f) => match u64::from_str_radix(f, 16) {
            Ok(seq) => Bound::Excluded(seq),
            Err(_) => {
                return query_error(
                    "'Invalid checkpoint' on property from (Optional Id from which to start selection.).",
                );
            }
        },
    };
    let mut page: Vec<(u64, ConnectionProfile)> = d
        .profiles
        .range((start, Bound::Unbounded))
        .take(take + 1)
        .map(|(k, p)| (*k, p.clone()))
        .collect();
    let more = page.len() > take;
    page.truncate(take);
    let next = more
        .then(|| page.last().map(|(k, _)| format!("{k:016x}")))
        .flatten();
    axum::Json(ConnectionProfileList {
        connection_profiles: page.into_iter().map(|(_, p)| p).collect(),
        next,
    })
    .into_response()
}

/// `body` without the fields the console set on `current` (its `extra`, at the top level, in
/// `organization` and per strategy): those model a newer API that knows them, so sending them back is no error.
fn without_console_fields(body: &Value, current: &ConnectionProfile) -> Value {
    let mut body = body.clone();
    if let Some(m) = body.as_object_mut() {
        m.retain(|k, _| !current.extra.contains_key(k));
        if let (Some(Value::Object(org)), Some(known)) =
            (m.get_mut("organization"), current.organization.as_ref())
        {
            org.retain(|k, _| !known.extra.contains_key(k));
        }
        if let Some(Value::Object(so)) = m.get_mut("strategy_overrides") {
            for (strategy, o) in so.iter_mut() {
                let known = current
                    .strategy_overrides
                    .as_ref()
                    .and_then(|c| c.get(strategy));
                if let (Some(known), Value::Object(o)) = (known, o) {
                    o.retain(|k, _| !known.extra.contains_key(k));
                }
            }
        }
    }
    body
}

fn parse_body(body: &Bytes) -> Result<Value, Reject> {
    serde_json::from_slice(body)
        .map_err(|_| Reject::bad_body("Invalid request payload JSON format".into()))
}

fn into_profile(mut v: Value) -> Result<ConnectionProfile, Reject> {
    // A strategy set to null is no override at all.
    if let Some(Value::Object(so)) = v.get_mut("strategy_overrides") {
        so.retain(|_, o| !o.is_null());
    }
    serde_json::from_value(v)
        .map_err(|e| Reject::bad_body(format!("Payload validation error: '{e}'.")))
}

/// `POST /api/v2/connection-profiles`
async fn create(State(data): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut d = lock(&data);
    if let Err(r) = authorize(&d, &headers, "create:connection_profiles") {
        return r.into_response();
    }
    let value = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    if let Err(m) = validate(&value, true) {
        return bad_body(m);
    }
    let mut profile = match into_profile(value) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    if d.name_taken(&profile.name, None) {
        return conflict(&profile.name, StatusCode::CONFLICT);
    }
    profile.id = Some(format!("cop_{}", base62_id(16)));
    d.insert(profile.clone());
    (StatusCode::CREATED, axum::Json(profile)).into_response()
}

/// `GET /api/v2/connection-profiles/{id}`
async fn read(State(data): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let d = lock(&data);
    if let Err(r) = authorize(&d, &headers, "read:connection_profiles") {
        return r.into_response();
    }
    match d.find(&id).and_then(|k| d.profiles.get(&k)) {
        Some(p) => axum::Json(p).into_response(),
        None => not_found(),
    }
}

/// `PATCH /api/v2/connection-profiles/{id}`: each top-level field sent replaces the stored one.
async fn update(
    State(data): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let mut d = lock(&data);
    if let Err(r) = authorize(&d, &headers, "update:connection_profiles") {
        return r.into_response();
    }
    let value = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let Some(key) = d.find(&id) else {
        return not_found();
    };
    let Some(current) = d.profiles.get(&key).cloned() else {
        return not_found();
    };
    if let Err(m) = validate(&without_console_fields(&value, &current), false) {
        return bad_body(m);
    }
    let mut merged = match serde_json::to_value(&current) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string(), None),
    };
    if let (Value::Object(m), Value::Object(patch)) = (&mut merged, value) {
        for (k, v) in patch {
            m.insert(k, v);
        }
    }
    let profile = match into_profile(merged) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    if d.name_taken(&profile.name, Some(key)) {
        return conflict(&profile.name, StatusCode::BAD_REQUEST);
    }
    d.profiles.insert(key, profile.clone());
    axum::Json(profile).into_response()
}

/// `DELETE /api/v2/connection-profiles/{id}`: 200 with an empty body (the status the description
/// gives), also for an id that does not exist (the official SDK handles no 404 here).
async fn remove(
    State(data): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut d = lock(&data);
    if let Err(r) = authorize(&d, &headers, "delete:connection_profiles") {
        return r.into_response();
    }
    if let Some(k) = d.find(&id) {
        d.profiles.remove(&k);
    }
    StatusCode::OK.into_response()
}

// ---- validation (the seed's schema; additionalProperties false everywhere) ----

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn description(path: &str) -> &'static str {
    let top = path.split(['.', '[']).next().unwrap_or(path);
    let leaf = path
        .rsplit('.')
        .next()
        .unwrap_or(path)
        .split('[')
        .next()
        .unwrap_or(path);
    match (top, leaf) {
        ("name", _) => "The name of the connection profile",
        ("organization", "organization") => "The organization of the connection profile",
        ("organization", _) => "Enum for organization behaviour",
        ("connection_name_prefix_template", _) => "Connection name prefix template",
        ("strategy_overrides", "strategy_overrides") => {
            "Strategy-specific overrides for this attribute"
        }
        (_, "enabled_features") => "Enabled features for the connection profile",
        (_, "connection_config") => "Connection profile configuration",
        _ => "Strategy-specific overrides for this attribute",
    }
}

fn at(path: &str, detail: String) -> String {
    format!(
        "Payload validation error: '{detail}' on property {path} ({}).",
        description(path)
    )
}

fn expect_type(v: &Value, want: &str, path: &str) -> Result<(), String> {
    let got = type_name(v);
    if got == want {
        Ok(())
    } else {
        Err(at(
            path,
            format!("Expected type {want} but found type {got}"),
        ))
    }
}

fn only_keys(
    m: &serde_json::Map<String, Value>,
    allowed: &[&str],
    path: Option<&str>,
) -> Result<(), String> {
    let extra: Vec<&str> = m
        .keys()
        .map(String::as_str)
        .filter(|k| !allowed.contains(k))
        .collect();
    if extra.is_empty() {
        return Ok(());
    }
    let detail = format!("Additional properties not allowed: {}", extra.join(","));
    Err(match path {
        Some(p) => at(p, detail),
        None => format!("Payload validation error: '{detail}'."),
    })
}

/// `^(?!-)(?!.*--)(?:[a-zA-Z0-9-]|{org_id}|{org_name})*$`, written out because the regex crate has no lookaheads.
pub fn prefix_template_matches(s: &str) -> bool {
    if s.starts_with('-') || s.contains("--") {
        return false;
    }
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(r) = rest
            .strip_prefix("{org_id}")
            .or_else(|| rest.strip_prefix("{org_name}"))
        {
            rest = r;
            continue;
        }
        let mut chars = rest.chars();
        match chars.next() {
            Some(c) if c.is_ascii_alphanumeric() || c == '-' => rest = chars.as_str(),
            _ => return false,
        }
    }
    true
}

const PREFIX_PATTERN: &str = "^(?!-)(?!.*--)(?:[a-zA-Z0-9-]|{org_id}|{org_name})*$";

/// `connection_config` (top level or per strategy): Auth0's schema gives it no properties and
/// refuses any, so only `{}` (or null) passes.
fn validate_connection_config(c: &Value, path: &str) -> Result<(), String> {
    if c.is_null() {
        return Ok(());
    }
    expect_type(c, "object", path)?;
    match c.as_object() {
        Some(m) => only_keys(m, &[], Some(path)),
        None => Ok(()),
    }
}

fn validate_enum_list(v: &Value, path: &str, allowed: &[&str]) -> Result<(), String> {
    expect_type(v, "array", path)?;
    for (i, f) in v.as_array().into_iter().flatten().enumerate() {
        let p = format!("{path}[{i}]");
        expect_type(f, "string", &p)?;
        if !f.as_str().is_some_and(|s| allowed.contains(&s)) {
            return Err(at(&p, format!("No enum match for: {f}")));
        }
    }
    Ok(())
}

fn required<'a>(
    m: &'a serde_json::Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a Value, String> {
    m.get(key)
        .ok_or_else(|| at(path, format!("Missing required property: {key}")))
}

fn nullable_integer(
    m: &serde_json::Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<(), String> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(v) => expect_type(v, "integer", &format!("{path}.{key}")),
    }
}

/// `ConnectionProfileProvisioning` (also the per-strategy `provisioning`).
fn validate_provisioning(v: &Value, path: &str) -> Result<(), String> {
    if v.is_null() {
        return Ok(());
    }
    expect_type(v, "object", path)?;
    let Some(m) = v.as_object() else {
        return Ok(());
    };
    only_keys(m, &["scim", "google_workspace"], Some(path))?;
    if let Some(scim) = m.get("scim").filter(|v| !v.is_null()) {
        let p = format!("{path}.scim");
        expect_type(scim, "object", &p)?;
        if let Some(scim) = scim.as_object() {
            only_keys(scim, &["tokens"], Some(&p))?;
            let tokens = required(scim, "tokens", &p)?;
            let p = format!("{p}.tokens");
            expect_type(tokens, "object", &p)?;
            if let Some(t) = tokens.as_object() {
                only_keys(
                    t,
                    &["scopes", "default_expiry", "max_allowed_expiry"],
                    Some(&p),
                )?;
                validate_enum_list(
                    required(t, "scopes", &p)?,
                    &format!("{p}.scopes"),
                    &SCIM_SCOPES,
                )?;
                nullable_integer(t, "default_expiry", &p)?;
                nullable_integer(t, "max_allowed_expiry", &p)?;
            }
        }
    }
    if let Some(gw) = m.get("google_workspace").filter(|v| !v.is_null()) {
        let p = format!("{path}.google_workspace");
        expect_type(gw, "object", &p)?;
        if let Some(gw) = gw.as_object() {
            only_keys(gw, &["sync_users"], Some(&p))?;
            expect_type(
                required(gw, "sync_users", &p)?,
                "boolean",
                &format!("{p}.sync_users"),
            )?;
        }
    }
    Ok(())
}

/// `ConnectionProfileCrossAppAccessResourceApp`: `{status: {default_value, allowed_values?}}`.
fn validate_cross_app(v: &Value, path: &str) -> Result<(), String> {
    if v.is_null() {
        return Ok(());
    }
    expect_type(v, "object", path)?;
    let Some(m) = v.as_object() else {
        return Ok(());
    };
    only_keys(m, &["status"], Some(path))?;
    let p = format!("{path}.status");
    let status = required(m, "status", path)?;
    expect_type(status, "object", &p)?;
    if let Some(st) = status.as_object() {
        only_keys(st, &["default_value", "allowed_values"], Some(&p))?;
        let dv = required(st, "default_value", &p)?;
        let dp = format!("{p}.default_value");
        expect_type(dv, "string", &dp)?;
        if !dv.as_str().is_some_and(|s| CROSS_APP_STATUSES.contains(&s)) {
            return Err(at(&dp, format!("No enum match for: {dv}")));
        }
        if let Some(av) = st.get("allowed_values").filter(|v| !v.is_null()) {
            validate_enum_list(av, &format!("{p}.allowed_values"), &CROSS_APP_STATUSES)?;
        }
    }
    Ok(())
}

/// Checks a create (`create`) or PATCH body against Auth0's schema (the official SDK's models, with
/// Auth0's own refusal of unknown properties); the error is Auth0's message. `null` stands for
/// "not set" wherever the schema allows it.
pub fn validate(body: &Value, create: bool) -> Result<(), String> {
    let Some(m) = body.as_object() else {
        return Err(format!(
            "Payload validation error: 'Expected type object but found type {}'.",
            type_name(body)
        ));
    };
    only_keys(
        m,
        &[
            "name",
            "organization",
            "connection_name_prefix_template",
            "enabled_features",
            "connection_config",
            "strategy_overrides",
            "provisioning",
            "cross_app_access_resource_app",
        ],
        None,
    )?;
    if create && !m.contains_key("name") {
        return Err("Payload validation error: 'Missing required property: name'.".into());
    }
    if let Some(name) = m.get("name") {
        expect_type(name, "string", "name")?;
        let len = name.as_str().map(|s| s.chars().count()).unwrap_or_default();
        if len < 1 {
            return Err(at(
                "name",
                format!("String is too short ({len} chars), minimum 1"),
            ));
        }
        if len > 50 {
            return Err(at(
                "name",
                format!("String is too long ({len} chars), maximum 50"),
            ));
        }
    }
    if let Some(org) = m.get("organization").filter(|v| !v.is_null()) {
        expect_type(org, "object", "organization")?;
        if let Some(o) = org.as_object() {
            only_keys(
                o,
                &["show_as_button", "assign_membership_on_login"],
                Some("organization"),
            )?;
            for (k, v) in o.iter().filter(|(_, v)| !v.is_null()) {
                let p = format!("organization.{k}");
                expect_type(v, "string", &p)?;
                if !v
                    .as_str()
                    .is_some_and(|s| ORGANIZATION_BEHAVIOURS.contains(&s))
                {
                    return Err(at(&p, format!("No enum match for: {v}")));
                }
            }
        }
    }
    if let Some(t) = m
        .get("connection_name_prefix_template")
        .filter(|v| !v.is_null())
    {
        let p = "connection_name_prefix_template";
        expect_type(t, "string", p)?;
        let s = t.as_str().unwrap_or_default();
        let len = s.chars().count();
        if len > 15 {
            return Err(at(
                p,
                format!("String is too long ({len} chars), maximum 15"),
            ));
        }
        if !prefix_template_matches(s) {
            return Err(at(
                p,
                format!("String does not match pattern: {PREFIX_PATTERN}"),
            ));
        }
    }
    if let Some(f) = m.get("enabled_features").filter(|v| !v.is_null()) {
        validate_enum_list(f, "enabled_features", &FEATURES)?;
    }
    if let Some(c) = m.get("connection_config") {
        validate_connection_config(c, "connection_config")?;
    }
    if let Some(p) = m.get("provisioning") {
        validate_provisioning(p, "provisioning")?;
    }
    if let Some(c) = m.get("cross_app_access_resource_app") {
        validate_cross_app(c, "cross_app_access_resource_app")?;
    }
    if let Some(so) = m.get("strategy_overrides").filter(|v| !v.is_null()) {
        expect_type(so, "object", "strategy_overrides")?;
        if let Some(so) = so.as_object() {
            only_keys(so, &STRATEGIES, Some("strategy_overrides"))?;
            for (strategy, o) in so.iter().filter(|(_, o)| !o.is_null()) {
                let p = format!("strategy_overrides.{strategy}");
                expect_type(o, "object", &p)?;
                if let Some(o) = o.as_object() {
                    only_keys(
                        o,
                        &["enabled_features", "connection_config", "provisioning"],
                        Some(&p),
                    )?;
                    if let Some(f) = o.get("enabled_features").filter(|v| !v.is_null()) {
                        validate_enum_list(f, &format!("{p}.enabled_features"), &FEATURES)?;
                    }
                    if let Some(c) = o.get("connection_config") {
                        validate_connection_config(c, &format!("{p}.connection_config"))?;
                    }
                    if let Some(v) = o.get("provisioning") {
                        validate_provisioning(v, &format!("{p}.provisioning"))?;
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_template_follows_the_seed_pattern() {
        for ok in [
            "",
            "abc",
            "a-b",
            "{org_id}",
            "sso-{org_name}",
            "{org_id}-x",
            "x-",
        ] {
            assert!(prefix_template_matches(ok), "{ok}");
        }
        for bad in ["-a", "a--b", "a_b", "{org}", "{org_id", "a b", "é"] {
            assert!(!prefix_template_matches(bad), "{bad}");
        }
    }

    #[test]
    fn validation_names_the_property() {
        let m = validate(&json!({"name": "x".repeat(51)}), false).unwrap_err();
        assert!(m.contains("on property name"), "{m}");
        let m = validate(&json!({"name": "a", "foo": 1}), true).unwrap_err();
        assert!(m.contains("Additional properties not allowed: foo"), "{m}");
        let m = validate(&json!({}), true).unwrap_err();
        assert!(m.contains("Missing required property: name"), "{m}");
        let m = validate(
            &json!({"strategy_overrides": {"okta": {"enabled_features": ["sso"]}}}),
            false,
        )
        .unwrap_err();
        assert!(
            m.contains("on property strategy_overrides.okta.enabled_features[0]"),
            "{m}"
        );
        let m = validate(&json!({"strategy_overrides": {"github": {}}}), false).unwrap_err();
        assert!(m.contains("github"), "{m}");
        let m = validate(
            &json!({"organization": {"show_as_button": "always"}}),
            false,
        )
        .unwrap_err();
        assert!(m.contains("organization.show_as_button"), "{m}");
        let m = validate(
            &json!({"connection_name_prefix_template": "{org_name}-{org_id}"}),
            false,
        )
        .unwrap_err();
        assert!(m.contains("maximum 15"), "{m}");
        assert!(
            validate(
                &json!({"name": "ok", "connection_config": {}, "enabled_features": ["scim"]}),
                true
            )
            .is_ok()
        );
    }

    #[test]
    fn new_fields_follow_the_sdk_models() {
        let ok = json!({"name": "n", "enabled_features": ["directory_sync"],
            "provisioning": {"scim": {"tokens": {"scopes": ["get:users"], "default_expiry": null}},
                "google_workspace": {"sync_users": true}},
            "cross_app_access_resource_app": {"status": {"default_value": "enabled"}},
            "strategy_overrides": {"okta": {"provisioning": {"google_workspace": {"sync_users": false}}}, "ad": null}});
        assert_eq!(validate(&ok, true), Ok(()));
        for (bad, path) in [
            (
                json!({"connection_config": {"a": 1}}),
                "on property connection_config",
            ),
            (
                json!({"strategy_overrides": {"okta": {"connection_config": {"a": 1}}}}),
                "on property strategy_overrides.okta.connection_config",
            ),
            (
                json!({"provisioning": {"scim": {"tokens": {"scopes": ["read:users"]}}}}),
                "on property provisioning.scim.tokens.scopes[0]",
            ),
            (
                json!({"provisioning": {"scim": {}}}),
                "Missing required property: tokens' on property provisioning.scim",
            ),
            (
                json!({"cross_app_access_resource_app": {"status": {"default_value": "on"}}}),
                "on property cross_app_access_resource_app.status.default_value",
            ),
        ] {
            let m = validate(&bad, false).unwrap_err();
            assert!(m.contains(path), "{bad}: {m}");
        }
    }

    #[test]
    fn base64url_matches_known_values() {
        assert_eq!(b64url(b"f"), "Zg");
        assert_eq!(b64url(b"fo"), "Zm8");
        assert_eq!(b64url(b"foo"), "Zm9v");
        assert_eq!(b64url(b"\xfb\xff"), "-_8");
    }
}
