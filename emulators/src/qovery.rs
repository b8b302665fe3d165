//! Qovery emulator: the "Organization Enterprise Connection" endpoints (list, get, PUT) of
//! Qovery's OpenAPI (contracts/qovery-enterprise-connection.yaml).
//!
//! Connections cannot be created through the API (Qovery staff set them up), so tests put them in
//! with the console helpers. Credentials are checked on every request as the real API takes them:
//! `Authorization: Token <api-token>` or `Authorization: Bearer <jwt>`. The specification documents
//! no error bodies and no rate limit; the `{status, error, message}` body and the `Retry-After`
//! header are guesses, as is the 400 for a PUT body that lacks a required field or has a wrong
//! type (the description declares only 200, 401, 403 and 404; a client that follows it never
//! sends such a body). A PUT whose `connection_name` differs from the path keeps the path's
//! name. Fields the emulator does not model (set with [`QoveryEmulator::edit_connection`]) are
//! stored and answered like the others.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Value, json};

use super::{Dialect, EmulatorCore, with_core};
pub mod wire;

use wire::{EnterpriseConnectionDto, EnterpriseConnectionResponseList};

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

#[derive(Default)]
struct Store {
    /// Organization id -> connection name -> connection.
    orgs: BTreeMap<String, BTreeMap<String, EnterpriseConnectionDto>>,
}

#[derive(Clone)]
struct Shared {
    token: Arc<str>,
    state: Arc<Mutex<Store>>,
}

fn lock(m: &Mutex<Store>) -> MutexGuard<'_, Store> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// In-memory Qovery API for one API token and a set of organizations.
#[derive(Clone)]
pub struct QoveryEmulator {
    shared: Shared,
    core: Arc<EmulatorCore>,
}

impl QoveryEmulator {
    /// `token` is the one accepted API token; it may act on every organization in `organization_ids`
    /// (any other organization id gives 403, as a token of another organization would).
    pub fn new(token: impl Into<String>, organization_ids: Vec<String>) -> Self {
        let state = Store {
            orgs: organization_ids
                .into_iter()
                .map(|o| (o, BTreeMap::new()))
                .collect(),
        };
        Self {
            shared: Shared {
                token: Arc::from(token.into()),
                state: Arc::new(Mutex::new(state)),
            },
            core: EmulatorCore::new("qovery", QoveryDialect),
        }
    }

    pub fn core(&self) -> Arc<EmulatorCore> {
        self.core.clone()
    }

    pub fn router(&self) -> Router {
        let routes = Router::new()
            .route(
                "/organization/{organizationId}/enterpriseconnection",
                get(list_connections),
            )
            .route(
                "/organization/{organizationId}/enterpriseconnection/{connectionName}",
                get(get_connection).put(put_connection),
            )
            .with_state(self.shared.clone());
        with_core(routes, self.core.clone())
    }

    /// Everything the emulator holds (no token).
    pub fn snapshot(&self) -> Value {
        let st = lock(&self.shared.state);
        json!({ "organizations": st.orgs })
    }

    fn first_org(st: &Store) -> Option<String> {
        st.orgs.keys().next().cloned()
    }

    /// Console: Qovery staff enable SSO for the first organization, with `default_role`, no group
    /// mappings and no group sync. Replaces a connection of the same name.
    pub fn insert_connection(&self, name: &str, default_role: &str) {
        let mut st = lock(&self.shared.state);
        let Some(org) = Self::first_org(&st) else {
            return;
        };
        Self::insert_in(&mut st, &org, name, default_role);
    }

    /// Console: as [`Self::insert_connection`], in a chosen organization (added if unknown).
    pub fn insert_connection_in(&self, organization_id: &str, name: &str, default_role: &str) {
        let mut st = lock(&self.shared.state);
        Self::insert_in(&mut st, organization_id, name, default_role);
    }

    fn insert_in(st: &mut Store, org: &str, name: &str, default_role: &str) {
        st.orgs.entry(org.to_string()).or_default().insert(
            name.to_string(),
            EnterpriseConnectionDto {
                connection_name: name.to_string(),
                default_role: default_role.to_string(),
                enforce_group_sync: false,
                group_mappings: BTreeMap::new(),
                extra: serde_json::Map::new(),
            },
        );
    }

    /// Console: edits a connection of the first organization behind the operator's back.
    pub fn edit_connection(
        &self,
        name: &str,
        f: impl FnOnce(&mut EnterpriseConnectionDto),
    ) -> bool {
        let mut st = lock(&self.shared.state);
        let Some(org) = Self::first_org(&st) else {
            return false;
        };
        match st.orgs.get_mut(&org).and_then(|c| c.get_mut(name)) {
            Some(dto) => {
                f(dto);
                true
            }
            None => false,
        }
    }

    /// Console: a connection of the first organization.
    pub fn get_connection(&self, name: &str) -> Option<EnterpriseConnectionDto> {
        let st = lock(&self.shared.state);
        let org = Self::first_org(&st)?;
        st.orgs.get(&org).and_then(|c| c.get(name)).cloned()
    }

    /// Console: connections of the first organization.
    pub fn count_connections(&self) -> usize {
        let st = lock(&self.shared.state);
        Self::first_org(&st)
            .and_then(|o| st.orgs.get(&o).map(BTreeMap::len))
            .unwrap_or(0)
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

async fn list_connections(
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

async fn get_connection(
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

/// Checks a PUT body field by field, so a missing or mistyped one is named in the 400.
fn parse_dto(body: &[u8]) -> Result<EnterpriseConnectionDto, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("Malformed JSON request body: {e}"))?;
    let obj = v.as_object().ok_or("Request body must be a JSON object")?;
    let field = |name: &str| obj.get(name).filter(|v| !v.is_null());
    let connection_name = field("connection_name")
        .ok_or("connection_name is required")?
        .as_str()
        .ok_or("connection_name must be a string")?
        .to_string();
    let default_role = field("default_role")
        .ok_or("default_role is required")?
        .as_str()
        .ok_or("default_role must be a string")?
        .to_string();
    let enforce_group_sync = field("enforce_group_sync")
        .ok_or("enforce_group_sync is required")?
        .as_bool()
        .ok_or("enforce_group_sync must be a boolean")?;
    let raw = field("group_mappings")
        .ok_or("group_mappings is required")?
        .as_object()
        .ok_or("group_mappings must be an object")?;
    let mut group_mappings = BTreeMap::new();
    for (role, groups) in raw {
        let groups = groups
            .as_array()
            .ok_or_else(|| format!("group_mappings.{role} must be an array of strings"))?
            .iter()
            .map(|g| g.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!("group_mappings.{role} must contain only non-null strings"))?;
        group_mappings.insert(role.clone(), groups);
    }
    // Fields the emulator does not model are stored as sent (a PUT replaces the whole object).
    let extra = obj
        .iter()
        .filter(|(k, _)| {
            ![
                "connection_name",
                "default_role",
                "enforce_group_sync",
                "group_mappings",
            ]
            .contains(&k.as_str())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(EnterpriseConnectionDto {
        connection_name,
        default_role,
        enforce_group_sync,
        group_mappings,
        extra,
    })
}

async fn put_connection(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_put_body_missing_a_required_field_is_named() {
        let err =
            parse_dto(br#"{"connection_name":"a","default_role":"viewer","group_mappings":{}}"#)
                .unwrap_err();
        assert!(err.contains("enforce_group_sync"));
        let err = parse_dto(
            br#"{"connection_name":"a","default_role":"viewer","enforce_group_sync":true,"group_mappings":{"viewer":[null]}}"#,
        )
        .unwrap_err();
        assert!(err.contains("group_mappings.viewer"));
    }
}
