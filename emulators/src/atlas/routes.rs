//! The axum handlers and Atlas' error answers.

use std::{collections::HashMap, time::Duration};

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::{Value, json};

use super::AtlasEmulator;
use super::state::{Inner, Shared, lock};
use super::validation::{
    authenticate, check_mapping, duplicate_group, negotiate, no_idp_for_mappings, page_param,
    parse_body, replace,
};
use super::wire::{OrgConfig, PatchBody, PatchRoleMapping, RoleMapping};
use crate::Dialect;

/// The Atlas error body: `{error, errorCode, detail, reason, parameters}`.
pub fn api_error(status: StatusCode, code: &str, detail: &str, parameters: Vec<Value>) -> Response {
    let body = json!({
        "error": status.as_u16(),
        "errorCode": code,
        "detail": detail,
        "reason": status.canonical_reason().unwrap_or("Error"),
        "parameters": parameters,
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// An error answer on its way out (boxed: a `Response` is large).
pub(super) type Rejection = Box<Response>;

/// Atlas' error format for the shared middleware.
pub(super) struct AtlasDialect;

impl Dialect for AtlasDialect {
    fn error(&self, status: StatusCode, message: &str) -> Response {
        let code = match status.as_u16() {
            400 => "VALIDATION_ERROR",
            401 => "UNAUTHORIZED",
            403 => "FORBIDDEN",
            404 => "RESOURCE_NOT_FOUND",
            429 => "RATE_LIMITED",
            503 => "SERVICE_UNAVAILABLE",
            _ => "UNEXPECTED_ERROR",
        };
        api_error(status, code, message, vec![])
    }

    fn rate_limited(&self, wait: Duration, limit: u32) -> Response {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        let mut resp = api_error(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            &format!(
                "You have exceeded the rate limit of {limit} requests for this endpoint set. Retry after {secs} seconds."
            ),
            vec![],
        );
        let h = resp.headers_mut();
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        h.insert("RateLimit-Limit", HeaderValue::from(limit));
        h.insert("RateLimit-Remaining", HeaderValue::from(0u32));
        resp
    }
}

fn ok_json(content_type: &'static str, body: &impl Serialize) -> Response {
    match serde_json::to_string(body) {
        Ok(text) => (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], text).into_response(),
        Err(e) => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNEXPECTED_ERROR",
            &format!("encoding failed: {e}"),
            vec![],
        ),
    }
}

/// Auth and version checks shared by every route.
fn admit_any(
    s: &mut Inner,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<&'static str, Rejection> {
    authenticate(s, method, uri, headers)?;
    negotiate(uri, headers)
}

/// Auth, version and federation checks shared by every federation route.
fn admit(
    s: &mut Inner,
    fed: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<&'static str, Rejection> {
    let content_type = admit_any(s, method, uri, headers)?;
    if fed != s.federation_settings_id {
        return Err(Box::new(api_error(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_FOUND",
            &format!("No federation settings with ID {fed} exist."),
            vec![json!(fed)],
        )));
    }
    Ok(content_type)
}

fn not_found(org: &str) -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "RESOURCE_NOT_FOUND",
        &format!("Cannot find resource connected organization {org}."),
        vec![json!(org)],
    )
}

pub(super) async fn list_configs(
    State(state): State<Shared>,
    Path(fed): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut s = lock(&state);
    let content_type = match admit(&mut s, &fed, &method, &uri, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let items_per_page = match page_param(&q, "itemsPerPage", 100, 500) {
        Ok(n) => n,
        Err(r) => return *r,
    };
    let page_num = match page_param(&q, "pageNum", 1, u64::from(u32::MAX)) {
        Ok(n) => n,
        Err(r) => return *r,
    };
    let orgs: Vec<&OrgConfig> = s.orgs.values().collect();
    ok_json(
        content_type,
        &paginated(&uri, &headers, &orgs, page_num, items_per_page),
    )
}

pub(super) async fn get_config(
    State(state): State<Shared>,
    Path((fed, org)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut s = lock(&state);
    let content_type = match admit(&mut s, &fed, &method, &uri, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    match s.orgs.get(&org) {
        Some(cfg) => ok_json(content_type, cfg),
        None => not_found(&org),
    }
}

pub(super) async fn patch_config(
    State(state): State<Shared>,
    Path((fed, org)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = lock(&state);
    let content_type = match admit(&mut s, &fed, &method, &uri, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let Some(current) = s.orgs.get(&org).cloned() else {
        return not_found(&org);
    };
    let body: PatchBody = match serde_json::from_slice::<Value>(&body)
        .ok()
        .filter(Value::is_object)
        .map(serde_json::from_value)
    {
        Some(Ok(b)) => b,
        Some(Err(e)) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "INVALID_JSON",
                &format!("Received JSON does not match expected format: {e}"),
                vec![],
            );
        }
        None => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "INVALID_JSON",
                "Received JSON is malformed.",
                vec![],
            );
        }
    };
    match replace(&current, body) {
        Ok(cfg) => {
            s.orgs.insert(org, cfg.clone());
            ok_json(content_type, &cfg)
        }
        Err(r) => *r,
    }
}

pub(super) async fn delete_config(
    State(state): State<Shared>,
    Path((fed, org)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut s = lock(&state);
    if let Err(r) = admit(&mut s, &fed, &method, &uri, &headers) {
        return *r;
    }
    if !s.orgs.contains_key(&org) {
        return not_found(&org);
    }
    if s.orgs.len() == 1 {
        return api_error(
            StatusCode::BAD_REQUEST,
            "CANNOT_REMOVE_LAST_CONNECTED_ORG",
            "The federation's only connected organization cannot be removed.",
            vec![json!(org)],
        );
    }
    s.orgs.remove(&org);
    no_content()
}

pub(super) async fn list_role_mappings(
    State(state): State<Shared>,
    Path((fed, org)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let h = headers.clone();
    let u = uri.clone();
    with_config(&state, &fed, &org, &method, &uri, &headers, |ct, cfg| {
        let all = cfg.role_mappings.clone();
        let size = all.len().max(1) as u64;
        ok_json(ct, &paginated(&u, &h, &all, 1, size))
    })
}

pub(super) async fn create_role_mapping(
    State(state): State<Shared>,
    Path((fed, org)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    with_config(&state, &fed, &org, &method, &uri, &headers, |ct, cfg| {
        let result = parse_body::<PatchRoleMapping>(&body)
            .and_then(|m| check_mapping(&cfg.org_id, m))
            .and_then(|(name, out)| {
                if cfg.identity_provider_id.is_none() {
                    return Err(no_idp_for_mappings());
                }
                if cfg
                    .role_mappings
                    .iter()
                    .any(|m| m.external_group_name == name)
                {
                    return Err(duplicate_group(&name));
                }
                Ok(RoleMapping {
                    external_group_name: name,
                    id: AtlasEmulator::new_id(),
                    role_assignments: out,
                })
            });
        match result {
            Ok(m) => {
                cfg.role_mappings.push(m.clone());
                // The description declares 200 (not 201) for this create.
                ok_json(ct, &m)
            }
            Err(r) => *r,
        }
    })
}

pub(super) async fn get_role_mapping(
    State(state): State<Shared>,
    Path((fed, org, id)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    with_config(
        &state,
        &fed,
        &org,
        &method,
        &uri,
        &headers,
        |ct, cfg| match cfg.role_mappings.iter().find(|m| m.id == id) {
            Some(m) => ok_json(ct, m),
            None => mapping_not_found(&id),
        },
    )
}

pub(super) async fn update_role_mapping(
    State(state): State<Shared>,
    Path((fed, org, id)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    with_config(&state, &fed, &org, &method, &uri, &headers, |ct, cfg| {
        let Some(pos) = cfg.role_mappings.iter().position(|m| m.id == id) else {
            return mapping_not_found(&id);
        };
        let result = parse_body::<PatchRoleMapping>(&body)
            .and_then(|m| check_mapping(&cfg.org_id, m))
            .and_then(|(name, out)| {
                if cfg
                    .role_mappings
                    .iter()
                    .any(|m| m.id != id && m.external_group_name == name)
                {
                    return Err(duplicate_group(&name));
                }
                Ok(RoleMapping {
                    external_group_name: name,
                    id: id.clone(),
                    role_assignments: out,
                })
            });
        match result {
            Ok(m) => {
                cfg.role_mappings[pos] = m.clone();
                ok_json(ct, &m)
            }
            Err(r) => *r,
        }
    })
}

pub(super) async fn delete_role_mapping(
    State(state): State<Shared>,
    Path((fed, org, id)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    with_config(&state, &fed, &org, &method, &uri, &headers, |_, cfg| {
        let before = cfg.role_mappings.len();
        cfg.role_mappings.retain(|m| m.id != id);
        if cfg.role_mappings.len() == before {
            return mapping_not_found(&id);
        }
        no_content()
    })
}

pub(super) async fn list_identity_providers(
    State(state): State<Shared>,
    Path(fed): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut s = lock(&state);
    let content_type = match admit(&mut s, &fed, &method, &uri, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let single: HashMap<String, String> = q.iter().cloned().collect();
    let items_per_page = match page_param(&single, "itemsPerPage", 100, 500) {
        Ok(n) => n,
        Err(r) => return *r,
    };
    let page_num = match page_param(&single, "pageNum", 1, u64::from(u32::MAX)) {
        Ok(n) => n,
        Err(r) => return *r,
    };
    // Filters default to SAML and WORKFORCE; every emulated provider is both.
    let wants = |name: &str, default: &str| {
        let asked: Vec<&str> = q
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect();
        asked.is_empty() || asked.contains(&default)
    };
    let idps: Vec<Value> = if wants("protocol", "SAML") && wants("idpType", "WORKFORCE") {
        s.idps
            .iter()
            .map(|(okta, (id, name))| {
                let associated: Vec<&OrgConfig> = s
                    .orgs
                    .values()
                    .filter(|c| c.identity_provider_id.as_deref() == Some(okta.as_str()))
                    .collect();
                json!({
                    "id": id,
                    "oktaIdpId": okta,
                    "displayName": name,
                    "protocol": "SAML",
                    "idpType": "WORKFORCE",
                    "status": "ACTIVE",
                    "associatedDomains": s.federated_domains,
                    "associatedOrgs": associated,
                })
            })
            .collect()
    } else {
        vec![]
    };
    ok_json(
        content_type,
        &paginated(&uri, &headers, &idps, page_num, items_per_page),
    )
}

pub(super) async fn org_federation_settings(
    State(state): State<Shared>,
    Path(org): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut s = lock(&state);
    let content_type = match admit_any(&mut s, &method, &uri, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let Some(cfg) = s.orgs.get(&org) else {
        return api_error(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_FOUND",
            &format!("No federation settings for organization {org} exist."),
            vec![json!(org)],
        );
    };
    let mut body = json!({
        "id": s.federation_settings_id,
        "federatedDomains": s.federated_domains,
        "hasRoleMappings": !cfg.role_mappings.is_empty(),
        "identityProviderStatus": if cfg.identity_provider_id.is_some() { "ACTIVE" } else { "INACTIVE" },
    });
    if let Some(idp) = &cfg.identity_provider_id {
        body["identityProviderId"] = json!(idp);
    }
    ok_json(content_type, &body)
}

/// A 204 without a body.
fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn mapping_not_found(id: &str) -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "RESOURCE_NOT_FOUND",
        &format!("Cannot find resource role mapping {id}."),
        vec![json!(id)],
    )
}

/// `{links, results, totalCount}` of one page.
fn paginated<T: Serialize>(
    uri: &Uri,
    headers: &HeaderMap,
    all: &[T],
    page_num: u64,
    items_per_page: u64,
) -> Value {
    let total = all.len() as u64;
    let skip = (page_num - 1).saturating_mul(items_per_page);
    let results: Vec<&T> = all
        .iter()
        .skip(usize::try_from(skip).unwrap_or(usize::MAX))
        .take(usize::try_from(items_per_page).unwrap_or(usize::MAX))
        .collect();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("cloud.mongodb.com");
    let href = |n: u64| {
        format!(
            "http://{host}{}?pageNum={n}&itemsPerPage={items_per_page}",
            uri.path()
        )
    };
    let mut links = vec![json!({"href": href(page_num), "rel": "self"})];
    if page_num > 1 {
        links.push(json!({"href": href(page_num - 1), "rel": "previous"}));
    }
    if skip.saturating_add(items_per_page) < total {
        links.push(json!({"href": href(page_num + 1), "rel": "next"}));
    }
    json!({"links": links, "results": results, "totalCount": total})
}

/// Runs `f` on the connected config of `org` after the shared checks.
fn with_config(
    state: &Shared,
    fed: &str,
    org: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    f: impl FnOnce(&'static str, &mut OrgConfig) -> Response,
) -> Response {
    let mut s = lock(state);
    let content_type = match admit(&mut s, fed, method, uri, headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    match s.orgs.get_mut(org) {
        Some(cfg) => f(content_type, cfg),
        None => not_found(org),
    }
}
