//! The axum handlers, the token endpoint's and the Management API's auth, and Auth0's error
//! answers.

use std::{collections::HashMap, ops::Bound, time::Duration};

use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::state::{Data, Shared, Token, lock, mint_jwt, now_secs, templates};
use super::validation::validate;
use super::wire::{ConnectionProfile, ConnectionProfileList, ConnectionProfileTemplateList};
use crate::{Dialect, base62_id};

/// `take` when absent ("Defaults to 5" in the official SDK's description of the parameter).
const DEFAULT_TAKE: usize = 5;

/// The official SDK pages with `take=50` by default, and its description sets no maximum; 100 is
/// the largest page Auth0's checkpoint-paginated lists take.
const MAX_TAKE: usize = 100;

/// Auth0's error body and 429 headers.
pub(super) struct Auth0Dialect;

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

/// `POST /oauth/token`: form-urlencoded (as documented) or JSON.
pub(super) async fn token(State(data): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
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

/// `GET /api/v2/connection-profiles/templates`
pub(super) async fn list_templates(State(data): State<Shared>, headers: HeaderMap) -> Response {
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
pub(super) async fn read_template(
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
pub(super) async fn list(
    State(data): State<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
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
pub(super) async fn create(
    State(data): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
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
pub(super) async fn read(
    State(data): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
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
pub(super) async fn update(
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
pub(super) async fn remove(
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
