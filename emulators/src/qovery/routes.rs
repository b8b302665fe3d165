//! The axum handlers, the token check and the error answers.

use std::time::Duration;

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::state::{Shared, lock};
use super::validation::parse_dto;
use super::wire::EnterpriseConnectionResponseList;
use crate::Dialect;

/// Qovery's error answers (shape guessed: the specification gives none).
pub struct QoveryDialect;

fn error_body(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({
            "status": status.as_u16(),
            "error": status.canonical_reason().unwrap_or("Error"),
            "message": message,
        })),
    )
        .into_response()
}

impl Dialect for QoveryDialect {
    fn error(&self, status: StatusCode, message: &str) -> Response {
        error_body(status, message)
    }

    fn rate_limited(&self, wait: Duration, _limit: u32) -> Response {
        let mut resp = error_body(StatusCode::TOO_MANY_REQUESTS, "Too many requests");
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

/// A 401 unless the request carries the token as `Token …` or `Bearer …`.
fn unauthenticated(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Token ")
                .or_else(|| v.strip_prefix("Bearer "))
        })
        .map(str::trim);
    match given {
        Some(t) if !t.is_empty() && t == &*shared.token => None,
        _ => Some(error_body(
            StatusCode::UNAUTHORIZED,
            "Access token is missing or invalid",
        )),
    }
}

fn forbidden() -> Response {
    error_body(StatusCode::FORBIDDEN, "Access forbidden")
}

fn not_found(name: &str) -> Response {
    error_body(
        StatusCode::NOT_FOUND,
        &format!("Enterprise connection '{name}' not found"),
    )
}

fn bad_request(message: &str) -> Response {
    error_body(StatusCode::BAD_REQUEST, message)
}

pub(super) async fn list_connections(
    State(shared): State<Shared>,
    Path(org): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = unauthenticated(&shared, &headers) {
        return r;
    }
    let st = lock(&shared.state);
    let Some(conns) = st.orgs.get(&org) else {
        return forbidden();
    };
    Json(EnterpriseConnectionResponseList {
        results: conns.values().cloned().collect(),
    })
    .into_response()
}

pub(super) async fn get_connection(
    State(shared): State<Shared>,
    Path((org, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = unauthenticated(&shared, &headers) {
        return r;
    }
    let st = lock(&shared.state);
    let Some(conns) = st.orgs.get(&org) else {
        return forbidden();
    };
    match conns.get(&name) {
        Some(dto) => Json(dto.clone()).into_response(),
        None => not_found(&name),
    }
}

pub(super) async fn put_connection(
    State(shared): State<Shared>,
    Path((org, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = unauthenticated(&shared, &headers) {
        return r;
    }
    let mut st = lock(&shared.state);
    let Some(conns) = st.orgs.get_mut(&org) else {
        return forbidden();
    };
    // The body is bound and validated before the connection is looked up.
    let mut dto = match parse_dto(&body) {
        Ok(d) => d,
        Err(message) => return bad_request(&message),
    };
    let Some(existing) = conns.get_mut(&name) else {
        return not_found(&name);
    };
    // The path names the connection. The description declares no error for a body naming
    // another one (only 401, 403 and 404) and no rename: the path's name is kept (a guess).
    dto.connection_name = name;
    *existing = dto.clone();
    Json(dto).into_response()
}
