//! The axum handlers and LoginRadius' error answers.

use std::{collections::HashMap, sync::Arc, time::Duration};

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};

use super::state::Inner;
use super::validation::validate;
use super::wire::{ConnectionList, Deleted, ErrorBody, IdpCertificate, codes};
use super::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::Dialect;

/// An error answer: a status and LoginRadius' error body.
pub(super) struct Fail {
    status: StatusCode,
    body: ErrorBody,
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

pub(super) fn lr_error(status: StatusCode, code: i64, message: &str, description: &str) -> Fail {
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

pub(super) fn duplicate_name() -> Fail {
    lr_error(
        StatusCode::BAD_REQUEST,
        codes::DUPLICATE_NAME,
        "Connection exists with the same name",
        "Connection exists with the same name. Use a different Connection name.",
    )
}

pub(super) fn domain_not_in_org() -> Fail {
    lr_error(
        StatusCode::BAD_REQUEST,
        codes::DOMAIN_NOT_IN_ORG,
        "Domain does not exist within the organization",
        "The provided domain is not associated with the organization. Please use a different organization domain.",
    )
}

pub(super) fn domain_not_verified() -> Fail {
    lr_error(
        StatusCode::BAD_REQUEST,
        codes::DOMAIN_NOT_VERIFIED,
        "Organization domain is not verified",
        "Organization domain is not verified, Please verify the domain.",
    )
}

pub(super) fn bad_parameter(name: &str) -> Fail {
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

type Q = Query<HashMap<String, String>>;

pub(super) async fn list(
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

pub(super) async fn get_one(
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

pub(super) async fn create(
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

pub(super) async fn update(
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

pub(super) async fn delete(
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
