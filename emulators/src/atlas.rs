//! MongoDB Atlas emulator: the connected-org configs of one federation, as the Atlas Admin API
//! (contracts/atlas-federation-settings.yaml) and the
//! Atlas Admin API v2 spec describe them. Serves the v2 paths (`/api/atlas/v2/...`, versioned
//! media type required) and the seed's `/api/public/v1.0/...` paths with the same handlers.
//!
//! Auth is HTTP Digest (MD5, qop=auth) with a programmatic API key: requests without a valid
//! answer get `401` and a fresh challenge; nonces may be reused with a new `nc`, replays are refused.
//! PATCH replaces the whole object, as the real API does (absent fields reset to their defaults).
//!
//! Served, per `contracts/atlas-federation-settings.yaml`: the connected-org configs (list, get,
//! PATCH, DELETE), their `roleMappings` sub-resource (list, create, get, PUT, DELETE), the
//! federation's `identityProviders` list and `GET /api/atlas/v2/orgs/{orgId}/federationSettings`.
//! Every error, unknown routes and methods included, is an `ApiError` JSON body.
//!
//! Guesses (the description does not say): removing the federation's only connected org is a 400
//! with errorCode `CANNOT_REMOVE_LAST_CONNECTED_ORG`; identity providers are the ones the
//! connected configs name (each SAML, WORKFORCE, ACTIVE); role-mapping ids in a PATCH body are
//! read-only and ignored (a mapping keeps its id by its `externalGroupName`).

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::get,
};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Dialect, EmulatorCore, base62_id, hex_id, with_core};

/// The realm Atlas names in its Digest challenges.
pub const REALM: &str = "MMS Public API";
/// The only resource version the federation endpoints define.
pub const VERSION: &str = "2023-01-01";

/// `ConnectedOrgConfig` as the emulator stores and returns it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgConfig {
    pub org_id: String,
    pub domain_restriction_enabled: bool,
    pub domain_allow_list: Vec<String>,
    /// The legacy 20-hex id of the UI-access identity provider; absent when none is connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_provider_id: Option<String>,
    pub data_access_identity_provider_ids: Vec<String>,
    /// Set in the console or by a PATCH; a PATCH without it resets it to `false`.
    #[serde(default)]
    pub instant_user_provisioning_disabled: bool,
    pub post_auth_role_grants: Vec<String>,
    pub role_mappings: Vec<RoleMapping>,
    /// Server-computed; left out when there are none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_conflicts: Option<Vec<Value>>,
}

/// `AuthFederationRoleMapping`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleMapping {
    pub external_group_name: String,
    /// 24-hex id the emulator assigns.
    pub id: String,
    pub role_assignments: Vec<RoleAssignment>,
}

/// One role in a project (`groupId`) or in the organization (`orgId`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    pub role: String,
}

/// A PATCH body: everything optional, so that missing fields are told apart from wrong ones.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatchBody {
    org_id: Option<String>,
    domain_restriction_enabled: Option<bool>,
    domain_allow_list: Option<Vec<String>>,
    identity_provider_id: Option<String>,
    data_access_identity_provider_ids: Option<Vec<String>>,
    instant_user_provisioning_disabled: Option<bool>,
    post_auth_role_grants: Option<Vec<String>>,
    role_mappings: Option<Vec<PatchRoleMapping>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatchRoleMapping {
    external_group_name: Option<String>,
    /// Read-only: ignored in request bodies.
    #[allow(dead_code)]
    id: Option<String>,
    role_assignments: Option<Vec<PatchRoleAssignment>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatchRoleAssignment {
    group_id: Option<String>,
    org_id: Option<String>,
    role: Option<String>,
}

/// Nonces kept before the oldest are forgotten (their clients then get a stale challenge).
const MAX_NONCES: usize = 1024;

struct Inner {
    public_key: String,
    private_key: String,
    federation_settings_id: String,
    orgs: BTreeMap<String, OrgConfig>,
    /// Identity providers by their legacy 20-hex id: (24-hex id, display name).
    idps: BTreeMap<String, (String, String)>,
    /// The federation's verified domains (`federatedDomains`).
    federated_domains: Vec<String>,
    /// Issued nonce => the `nc:cnonce` pairs already used with it.
    nonces: HashMap<String, HashSet<String>>,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(s: &Shared) -> MutexGuard<'_, Inner> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

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
type Rejection = Box<Response>;

fn invalid_attribute(attribute: &str, detail: &str) -> Rejection {
    Box::new(api_error(
        StatusCode::BAD_REQUEST,
        "INVALID_ATTRIBUTE",
        detail,
        vec![json!(attribute)],
    ))
}

/// Atlas' error format for the shared middleware.
struct AtlasDialect;

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

/// The emulator of one federation.
#[derive(Clone)]
pub struct AtlasEmulator {
    core: Arc<EmulatorCore>,
    state: Shared,
}

impl AtlasEmulator {
    /// An emulator that accepts one API key (`public_key`/`private_key`) for federation
    /// `federation_settings_id`, holding no connected organizations yet.
    pub fn new(
        public_key: impl Into<String>,
        private_key: impl Into<String>,
        federation_settings_id: impl Into<String>,
    ) -> Self {
        Self {
            core: EmulatorCore::new("atlas", AtlasDialect),
            state: Arc::new(Mutex::new(Inner {
                public_key: public_key.into(),
                private_key: private_key.into(),
                federation_settings_id: federation_settings_id.into(),
                orgs: BTreeMap::new(),
                idps: BTreeMap::new(),
                federated_domains: Vec::new(),
                nonces: HashMap::new(),
            })),
        }
    }

    pub fn core(&self) -> Arc<EmulatorCore> {
        self.core.clone()
    }

    pub fn router(&self) -> Router {
        let mut router = Router::new();
        for prefix in ["/api/atlas/v2", "/api/public/v1.0"] {
            let fed = format!("{prefix}/federationSettings/{{fed}}");
            let base = format!("{fed}/connectedOrgConfigs");
            for one in [format!("{base}/{{org}}"), format!("{base}/{{org}}/")] {
                router = router.route(
                    &one,
                    get(get_config).patch(patch_config).delete(delete_config),
                );
            }
            router = router
                .route(&base, get(list_configs))
                .route(
                    &format!("{base}/{{org}}/roleMappings"),
                    get(list_role_mappings).post(create_role_mapping),
                )
                .route(
                    &format!("{base}/{{org}}/roleMappings/{{id}}"),
                    get(get_role_mapping)
                        .put(update_role_mapping)
                        .delete(delete_role_mapping),
                )
                .route(
                    &format!("{fed}/identityProviders"),
                    get(list_identity_providers),
                )
                .route(
                    &format!("{prefix}/orgs/{{org}}/federationSettings"),
                    get(org_federation_settings),
                );
        }
        let router = router
            .fallback(|uri: Uri| async move {
                api_error(
                    StatusCode::NOT_FOUND,
                    "RESOURCE_NOT_FOUND",
                    &format!("Cannot find resource {}.", uri.path()),
                    vec![json!(uri.path())],
                )
            })
            .method_not_allowed_fallback(|method: Method, uri: Uri| async move {
                api_error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "METHOD_NOT_ALLOWED",
                    &format!("Method {method} is not allowed on {}.", uri.path()),
                    vec![json!(method.as_str())],
                )
            });
        with_core(router.with_state(self.state.clone()), self.core.clone())
    }

    /// Everything the emulator holds (keys left out).
    pub fn snapshot(&self) -> Value {
        let s = lock(&self.state);
        json!({
            "federationSettingsId": s.federation_settings_id,
            "connectedOrgConfigs": s.orgs.values().collect::<Vec<_>>(),
        })
    }

    /// Connects an organization, as the Federation Management Console does (replaces any config
    /// the org had).
    pub fn insert_org_config(&self, org_id: &str, identity_provider_id: Option<&str>) {
        let cfg = OrgConfig {
            org_id: org_id.to_string(),
            identity_provider_id: identity_provider_id.map(str::to_string),
            ..OrgConfig::default()
        };
        let mut s = lock(&self.state);
        if let Some(idp) = identity_provider_id {
            let n = s.idps.len() + 1;
            s.idps
                .entry(idp.to_string())
                .or_insert_with(|| (hex_id(24), format!("Identity provider {n}")));
        }
        s.orgs.insert(org_id.to_string(), cfg);
    }

    /// Console: the federation's verified domains.
    pub fn set_federated_domains(&self, domains: Vec<String>) {
        lock(&self.state).federated_domains = domains;
    }

    /// Edits a config behind the API's back; `false` when the org is not connected.
    pub fn edit_org_config(&self, org_id: &str, f: impl FnOnce(&mut OrgConfig)) -> bool {
        match lock(&self.state).orgs.get_mut(org_id) {
            Some(cfg) => {
                f(cfg);
                true
            }
            None => false,
        }
    }

    pub fn get_org_config(&self, org_id: &str) -> Option<OrgConfig> {
        lock(&self.state).orgs.get(org_id).cloned()
    }

    pub fn count_org_configs(&self) -> usize {
        lock(&self.state).orgs.len()
    }

    /// A fresh 24-hex id, as Atlas assigns to role mappings.
    pub fn new_id() -> String {
        hex_id(24)
    }
}

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

/// A `401` with a fresh Digest challenge.
fn challenge(s: &mut Inner, stale: bool) -> Rejection {
    if s.nonces.len() >= MAX_NONCES {
        s.nonces.clear();
    }
    let nonce = base62_id(32);
    s.nonces.insert(nonce.clone(), HashSet::new());
    let mut resp = api_error(
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
        "You are not authorized for this resource.",
        vec![],
    );
    let value = format!(
        "Digest realm=\"{REALM}\", domain=\"\", nonce=\"{nonce}\", algorithm=MD5, qop=\"auth\", stale={stale}"
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    Box::new(resp)
}

/// Checks the Digest answer against the accepted key and an issued, unreplayed nonce.
fn authenticate(
    s: &mut Inner,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(), Rejection> {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.trim_start().starts_with("Digest "))
    else {
        return Err(challenge(s, false));
    };
    let Ok(auth) = digest_auth::AuthorizationHeader::parse(value) else {
        return Err(challenge(s, false));
    };
    let request_uri = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| uri.path().to_string());
    let (Some(cnonce), Some(digest_auth::Qop::AUTH)) = (auth.cnonce.as_deref(), auth.qop.as_ref())
    else {
        return Err(challenge(s, false));
    };
    if auth.username != s.public_key
        || auth.realm != REALM
        || auth.uri != request_uri
        || auth.algorithm.algo != digest_auth::AlgorithmType::MD5
        || auth.algorithm.sess
    {
        return Err(challenge(s, false));
    }
    let nc = format!("{:08x}", auth.nc);
    let ha1 = md5_hex(&format!("{}:{REALM}:{}", s.public_key, s.private_key));
    let ha2 = md5_hex(&format!("{}:{}", method.as_str(), auth.uri));
    let expected = md5_hex(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", auth.nonce));
    if !expected.eq_ignore_ascii_case(&auth.response) {
        return Err(challenge(s, false));
    }
    let Some(used) = s.nonces.get_mut(&auth.nonce) else {
        // A correct answer to a nonce we no longer know: ask again, marked stale.
        return Err(challenge(s, true));
    };
    if !used.insert(format!("{nc}:{cnonce}")) {
        return Err(challenge(s, true));
    }
    Ok(())
}

/// The v2 paths need `Accept: application/vnd.atlas.YYYY-MM-DD+json` with a date on or after
/// the first version; returns the content type to answer with.
fn negotiate(uri: &Uri, headers: &HeaderMap) -> Result<&'static str, Rejection> {
    if !uri.path().starts_with("/api/atlas/v2/") {
        return Ok("application/json");
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let date = accept.split(',').find_map(|part| {
        part.trim()
            .split(';')
            .next()
            .and_then(|t| t.strip_prefix("application/vnd.atlas."))
            .and_then(|t| t.strip_suffix("+json"))
            .map(str::to_string)
    });
    match date {
        Some(d) if is_date(&d) && d.as_str() >= VERSION => {
            Ok("application/vnd.atlas.2023-01-01+json")
        }
        _ => Err(Box::new(api_error(
            StatusCode::NOT_ACCEPTABLE,
            "INVALID_VERSION_DATE",
            "Send Accept: application/vnd.atlas.YYYY-MM-DD+json with a resource version on or after 2023-01-01.",
            vec![json!("Accept")],
        ))),
    }
}

fn is_date(d: &str) -> bool {
    let b = d.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
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

fn page_param(
    q: &HashMap<String, String>,
    name: &str,
    default: u64,
    max: u64,
) -> Result<u64, Rejection> {
    match q.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                invalid_attribute(
                    name,
                    &format!("Invalid attribute {name} specified: must be 1 to {max}."),
                )
            }),
    }
}

async fn list_configs(
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

async fn get_config(
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

async fn patch_config(
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

fn is_hex24(s: &str) -> bool {
    s.len() == 24
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn unique(list: &[String], attribute: &str) -> Result<(), Rejection> {
    let mut seen = HashSet::new();
    for item in list {
        if item.trim().is_empty() || !seen.insert(item) {
            return Err(invalid_attribute(
                attribute,
                &format!(
                    "Invalid attribute {attribute} specified: items must be non-empty and unique."
                ),
            ));
        }
    }
    Ok(())
}

/// The new config a PATCH makes: a full replace, absent fields reset to their defaults
/// (`domainRestrictionEnabled` false, lists empty, `identityProviderId` disconnected).
fn replace(current: &OrgConfig, body: PatchBody) -> Result<OrgConfig, Rejection> {
    let org = current.org_id.as_str();
    if let Some(id) = &body.org_id
        && id != org
    {
        return Err(invalid_attribute(
            "orgId",
            "The orgId does not match the organization in the path.",
        ));
    }
    let domain_allow_list = body.domain_allow_list.unwrap_or_default();
    unique(&domain_allow_list, "domainAllowList")?;
    let post_auth_role_grants = body.post_auth_role_grants.unwrap_or_default();
    unique(&post_auth_role_grants, "postAuthRoleGrants")?;
    let data_access = body.data_access_identity_provider_ids.unwrap_or_default();
    unique(&data_access, "dataAccessIdentityProviderIds")?;
    let identity_provider_id = body.identity_provider_id.filter(|s| !s.is_empty());

    let mut names = HashSet::new();
    let mut role_mappings = vec![];
    for m in body.role_mappings.unwrap_or_default() {
        let (name, out) = check_mapping(org, m)?;
        if !names.insert(name.clone()) {
            return Err(duplicate_group(&name));
        }
        // `id` is read-only: a mapping keeps its id by its group name; a new group gets a new id.
        let id = current
            .role_mappings
            .iter()
            .find(|c| c.external_group_name == name)
            .map(|c| c.id.clone())
            .unwrap_or_else(AtlasEmulator::new_id);
        role_mappings.push(RoleMapping {
            external_group_name: name,
            id,
            role_assignments: out,
        });
    }
    if identity_provider_id.is_none()
        && (!role_mappings.is_empty() || !post_auth_role_grants.is_empty())
    {
        return Err(no_idp_for_mappings());
    }
    Ok(OrgConfig {
        org_id: current.org_id.clone(),
        domain_restriction_enabled: body.domain_restriction_enabled.unwrap_or(false),
        domain_allow_list,
        identity_provider_id,
        data_access_identity_provider_ids: data_access,
        instant_user_provisioning_disabled: body
            .instant_user_provisioning_disabled
            .unwrap_or(false),
        post_auth_role_grants,
        role_mappings,
        user_conflicts: current.user_conflicts.clone(),
    })
}

/// Checks one role mapping of a request body; gives its group name and role assignments.
fn check_mapping(
    org: &str,
    m: PatchRoleMapping,
) -> Result<(String, Vec<RoleAssignment>), Rejection> {
    let name = m.external_group_name.unwrap_or_default();
    let len = name.chars().count();
    if !(1..=200).contains(&len) {
        return Err(invalid_attribute(
            "externalGroupName",
            "Invalid attribute externalGroupName specified: must be 1 to 200 characters.",
        ));
    }
    let assignments = m.role_assignments.unwrap_or_default();
    if assignments.is_empty() {
        return Err(invalid_attribute(
            "roleAssignments",
            "Invalid attribute roleAssignments specified: at least one role assignment is required.",
        ));
    }
    let mut out = vec![];
    for a in assignments {
        let role = a.role.unwrap_or_default();
        if role.trim().is_empty() {
            return Err(invalid_attribute(
                "role",
                "Invalid attribute role specified.",
            ));
        }
        match (a.group_id, a.org_id) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(invalid_attribute(
                    "roleAssignments",
                    "Each role assignment must name either a groupId or an orgId, not both.",
                ));
            }
            (Some(g), None) if !is_hex24(&g) => {
                return Err(invalid_attribute(
                    "groupId",
                    &format!("Invalid attribute groupId {g} specified."),
                ));
            }
            (None, Some(o)) if o != org => {
                return Err(invalid_attribute(
                    "orgId",
                    &format!("Role assignment orgId {o} is not the connected organization {org}."),
                ));
            }
            (group_id, org_id) => out.push(RoleAssignment {
                group_id,
                org_id,
                role,
            }),
        }
    }
    if !out.iter().any(|a| a.org_id.is_some()) {
        return Err(invalid_attribute(
            "roleAssignments",
            "Each role mapping must contain at least one organization role with its orgId.",
        ));
    }
    Ok((name, out))
}

fn duplicate_group(name: &str) -> Rejection {
    invalid_attribute(
        "externalGroupName",
        &format!("A role mapping for external group {name} already exists."),
    )
}

fn no_idp_for_mappings() -> Rejection {
    invalid_attribute(
        "identityProviderId",
        "Role mappings and post-authentication role grants need an identity provider connected to the organization.",
    )
}

/// The request body as `T`, or Atlas' INVALID_JSON answer.
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Rejection> {
    match serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .map(serde_json::from_value)
    {
        Some(Ok(b)) => Ok(b),
        Some(Err(e)) => Err(Box::new(api_error(
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
            &format!("Received JSON does not match expected format: {e}"),
            vec![],
        ))),
        None => Err(Box::new(api_error(
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
            "Received JSON is malformed.",
            vec![],
        ))),
    }
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

async fn delete_config(
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

async fn list_role_mappings(
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

async fn create_role_mapping(
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

async fn get_role_mapping(
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

async fn update_role_mapping(
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

async fn delete_role_mapping(
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

async fn list_identity_providers(
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

async fn org_federation_settings(
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

#[cfg(test)]
mod tests {
    use super::*;

    const FED: &str = "5f1e2d3c4b5a69788796a5b4";
    const ORG: &str = "6a0b1c2d3e4f5a6b7c8d9e0f";
    const ORG2: &str = "6a0b1c2d3e4f5a6b7c8d9e11";
    const IDP: &str = "0a1b2c3d4e5f6a7b8c9d";

    /// A Digest-answering caller of the emulator.
    struct Caller {
        url: String,
        http: reqwest::Client,
    }

    impl Caller {
        async fn call(
            &self,
            method: &str,
            path: &str,
            body: Option<Value>,
        ) -> (u16, String, Value) {
            let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let send = |auth: Option<String>| {
                let mut rb = self
                    .http
                    .request(m.clone(), format!("{}{path}", self.url))
                    .header("Accept", "application/vnd.atlas.2023-01-01+json");
                if let Some(b) = &body {
                    rb = rb
                        .header("Content-Type", "application/vnd.atlas.2023-01-01+json")
                        .body(b.to_string());
                }
                if let Some(a) = auth {
                    rb = rb.header("Authorization", a);
                }
                rb.send()
            };
            let first = send(None).await.unwrap();
            assert_eq!(first.status(), 401);
            let challenge = first.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .to_string();
            let mut prompt = digest_auth::parse(&challenge).unwrap();
            let ctx = digest_auth::AuthContext::new_with_method(
                "pub",
                "priv",
                path,
                None::<&[u8]>,
                digest_auth::HttpMethod::from(method.to_string()),
            );
            let answer = prompt.respond(&ctx).unwrap().to_string();
            let r = send(Some(answer)).await.unwrap();
            let status = r.status().as_u16();
            let ct = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            let text = r.text().await.unwrap();
            let v = if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap()
            };
            (status, ct, v)
        }
    }

    async fn start() -> (AtlasEmulator, super::super::Running, Caller) {
        let emu = AtlasEmulator::new("pub", "priv", FED);
        emu.insert_org_config(ORG, Some(IDP));
        emu.insert_org_config(ORG2, None);
        emu.set_federated_domains(vec!["example.com".into()]);
        let running = super::super::serve(emu.router(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let caller = Caller {
            url: running.url(),
            http: reqwest::Client::new(),
        };
        (emu, running, caller)
    }

    fn mapping(group: &str) -> Value {
        json!({"externalGroupName": group,
               "roleAssignments": [{"orgId": ORG, "role": "ORG_MEMBER"}]})
    }

    #[tokio::test]
    async fn role_mappings_are_a_sub_resource() {
        let (emu, _running, c) = start().await;
        let base = format!(
            "/api/atlas/v2/federationSettings/{FED}/connectedOrgConfigs/{ORG}/roleMappings"
        );
        let (st, ct, created) = c.call("POST", &base, Some(mapping("eng"))).await;
        assert_eq!(st, 200, "{created}");
        assert_eq!(ct, "application/vnd.atlas.2023-01-01+json");
        let id = created["id"].as_str().unwrap().to_string();
        assert!(is_hex24(&id));
        assert!(
            created["roleAssignments"][0].get("groupId").is_none(),
            "no nulls: {created}"
        );
        let (st, _, dup) = c.call("POST", &base, Some(mapping("eng"))).await;
        assert_eq!(
            (st, dup["errorCode"].as_str()),
            (400, Some("INVALID_ATTRIBUTE"))
        );
        let (st, _, list) = c.call("GET", &base, None).await;
        assert_eq!(st, 200);
        assert_eq!(list["totalCount"], 1);
        assert_eq!(list["results"][0]["id"], id);
        let one = format!("{base}/{id}");
        let (st, _, got) = c.call("GET", &one, None).await;
        assert_eq!((st, &got), (200, &created));
        let (st, _, put) = c.call("PUT", &one, Some(mapping("engineering"))).await;
        assert_eq!(st, 200);
        assert_eq!(
            (put["id"].as_str(), put["externalGroupName"].as_str()),
            (Some(id.as_str()), Some("engineering"))
        );
        assert_eq!(emu.get_org_config(ORG).unwrap().role_mappings.len(), 1);
        let (st, _, body) = c.call("DELETE", &one, None).await;
        assert_eq!((st, body), (204, Value::Null));
        let (st, _, err) = c.call("GET", &one, None).await;
        assert_eq!(
            (st, err["errorCode"].as_str()),
            (404, Some("RESOURCE_NOT_FOUND"))
        );
        // No identity provider: no mappings.
        let base2 = base.replace(ORG, ORG2);
        let (st, _, err) = c
            .call("POST", &base2, Some(json!({"externalGroupName": "g", "roleAssignments": [{"orgId": ORG2, "role": "ORG_MEMBER"}]})))
            .await;
        assert_eq!(
            (st, err["parameters"][0].as_str()),
            (400, Some("identityProviderId"))
        );
    }

    #[tokio::test]
    async fn org_configs_can_be_removed_but_not_the_last_one() {
        let (emu, _running, c) = start().await;
        let base = format!("/api/atlas/v2/federationSettings/{FED}/connectedOrgConfigs");
        let (st, _, body) = c.call("DELETE", &format!("{base}/{ORG2}"), None).await;
        assert_eq!((st, body), (204, Value::Null));
        assert_eq!(emu.count_org_configs(), 1);
        let (st, _, err) = c.call("DELETE", &format!("{base}/{ORG2}"), None).await;
        assert_eq!(
            (st, err["errorCode"].as_str()),
            (404, Some("RESOURCE_NOT_FOUND"))
        );
        let (st, _, err) = c.call("DELETE", &format!("{base}/{ORG}"), None).await;
        assert_eq!(st, 400, "{err}");
        assert_eq!(err["error"], 400);
    }

    #[tokio::test]
    async fn federation_settings_and_identity_providers_are_served() {
        let (_emu, _running, c) = start().await;
        let (st, _, fs) = c
            .call(
                "GET",
                &format!("/api/atlas/v2/orgs/{ORG}/federationSettings"),
                None,
            )
            .await;
        assert_eq!(st, 200);
        assert_eq!(
            fs,
            json!({"id": FED, "federatedDomains": ["example.com"], "hasRoleMappings": false,
                              "identityProviderId": IDP, "identityProviderStatus": "ACTIVE"})
        );
        let (st, _, fs) = c
            .call(
                "GET",
                &format!("/api/atlas/v2/orgs/{ORG2}/federationSettings"),
                None,
            )
            .await;
        assert_eq!(st, 200);
        assert!(fs.get("identityProviderId").is_none());
        let (st, _, err) = c
            .call(
                "GET",
                "/api/atlas/v2/orgs/aaaaaaaaaaaaaaaaaaaaaaaa/federationSettings",
                None,
            )
            .await;
        assert_eq!(
            (st, err["errorCode"].as_str()),
            (404, Some("RESOURCE_NOT_FOUND"))
        );
        let idps = format!("/api/atlas/v2/federationSettings/{FED}/identityProviders");
        let (st, _, list) = c.call("GET", &idps, None).await;
        assert_eq!(st, 200);
        assert_eq!(list["totalCount"], 1);
        let idp = &list["results"][0];
        assert_eq!(idp["oktaIdpId"], IDP);
        assert!(is_hex24(idp["id"].as_str().unwrap()));
        assert_eq!(idp["associatedOrgs"][0]["orgId"], ORG);
        let (_, _, oidc) = c.call("GET", &format!("{idps}?protocol=OIDC"), None).await;
        assert_eq!(oidc["totalCount"], 0);
    }

    #[tokio::test]
    async fn unknown_routes_and_methods_answer_api_errors() {
        let (_emu, running, c) = start().await;
        let http = reqwest::Client::new();
        let r = http
            .get(format!("{}/api/atlas/v2/nothing/here", running.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(r.headers()["content-type"], "application/json");
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            (v["error"].as_u64(), v["errorCode"].as_str()),
            (Some(404), Some("RESOURCE_NOT_FOUND"))
        );
        let r = http
            .post(format!(
                "{}/api/atlas/v2/federationSettings/{FED}/connectedOrgConfigs",
                running.url()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], 405);
        drop(c);
    }

    #[tokio::test]
    async fn instant_user_provisioning_is_kept_and_reset_by_a_full_patch() {
        let (emu, _running, c) = start().await;
        emu.edit_org_config(ORG, |cfg| cfg.instant_user_provisioning_disabled = true);
        let one = format!("/api/atlas/v2/federationSettings/{FED}/connectedOrgConfigs/{ORG}");
        let (_, _, got) = c.call("GET", &one, None).await;
        assert_eq!(got["instantUserProvisioningDisabled"], true);
        assert!(got.get("userConflicts").is_none());
        // A PATCH that leaves it out resets it, as every absent field.
        let (st, _, patched) = c
            .call(
                "PATCH",
                &one,
                Some(json!({"domainRestrictionEnabled": true, "identityProviderId": IDP})),
            )
            .await;
        assert_eq!(st, 200, "{patched}");
        assert_eq!(patched["instantUserProvisioningDisabled"], false);
    }
}
