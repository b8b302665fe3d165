//! The axum handlers, the secret-key check and Clerk's error answers.

use std::{collections::HashMap, time::Duration};

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::Value;

use super::state::{
    Ctx, Stored, apply_oidc, apply_saml, build_connection, check_domains_free, lock, now_ms,
};
use super::validation::{
    UPDATE_KEYS, check_activatable, check_keys, custom_attributes_param, domains_param, oidc_param,
    opt_bool, opt_string, parse_object, saml_param,
};
use super::wire::{
    ClerkError, ClerkErrorMeta, ClerkErrors, DeletedObject, EnterpriseConnectionList,
    OBJECT_ENTERPRISE_CONNECTION,
};
use crate::{Dialect, base62_id, hex_id};

const DEFAULT_LIMIT: usize = 10;

const MAX_LIMIT: usize = 500;

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
pub(super) fn error(
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

pub(super) fn unprocessable(code: &str, message: &str, long: &str, param: &str) -> ApiError {
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        code,
        message,
        long,
        Some(param),
    )
    .into()
}

pub(super) fn missing(param: &str) -> ApiError {
    unprocessable(
        "form_param_missing",
        "missing data",
        &format!("{param} must be included."),
        param,
    )
}

pub(super) fn format_invalid(param: &str, why: &str) -> ApiError {
    unprocessable(
        "form_param_format_invalid",
        "is invalid",
        &format!("{param} is invalid: {why}."),
        param,
    )
}

pub(super) fn value_invalid(param: &str, why: &str) -> ApiError {
    unprocessable(
        "form_param_value_invalid",
        "is invalid",
        &format!("{param} is invalid: {why}."),
        param,
    )
}

pub(super) fn not_found() -> ApiError {
    error(
        StatusCode::NOT_FOUND,
        "resource_not_found",
        "not found",
        "The requested resource was not found.",
        None,
    )
    .into()
}

/// Clerk takes the secret key only as `Authorization: Bearer sk_...`.
pub(super) async fn authenticate(State(ctx): State<Ctx>, req: Request, next: Next) -> Response {
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

pub(super) fn describe(r: ApiError) -> String {
    format!("rejected with HTTP {}", r.0.status().as_u16())
}

pub(super) async fn create(State(ctx): State<Ctx>, body: Bytes) -> Answer {
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

pub(super) async fn get_one(State(ctx): State<Ctx>, Path(id): Path<String>) -> Answer {
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

pub(super) async fn list(
    State(ctx): State<Ctx>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
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

pub(super) async fn update(State(ctx): State<Ctx>, Path(id): Path<String>, body: Bytes) -> Answer {
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

pub(super) async fn remove(State(ctx): State<Ctx>, Path(id): Path<String>) -> Answer {
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
