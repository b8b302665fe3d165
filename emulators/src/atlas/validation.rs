//! Request checks: Digest auth, the versioned media type, query parameters and bodies.

use std::collections::{HashMap, HashSet};

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use md5::{Digest, Md5};
use serde_json::{Value, json};

use super::routes::{Rejection, api_error};
use super::state::{Inner, MAX_NONCES};
use super::wire::{OrgConfig, PatchBody, PatchRoleMapping, RoleAssignment, RoleMapping};
use super::{AtlasEmulator, REALM, VERSION};
use crate::base62_id;

fn invalid_attribute(attribute: &str, detail: &str) -> Rejection {
    Box::new(api_error(
        StatusCode::BAD_REQUEST,
        "INVALID_ATTRIBUTE",
        detail,
        vec![json!(attribute)],
    ))
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
pub(super) fn authenticate(
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
pub(super) fn negotiate(uri: &Uri, headers: &HeaderMap) -> Result<&'static str, Rejection> {
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

pub(super) fn page_param(
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

pub(super) fn is_hex24(s: &str) -> bool {
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
pub(super) fn replace(current: &OrgConfig, body: PatchBody) -> Result<OrgConfig, Rejection> {
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
pub(super) fn check_mapping(
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

pub(super) fn duplicate_group(name: &str) -> Rejection {
    invalid_attribute(
        "externalGroupName",
        &format!("A role mapping for external group {name} already exists."),
    )
}

pub(super) fn no_idp_for_mappings() -> Rejection {
    invalid_attribute(
        "identityProviderId",
        "Role mappings and post-authentication role grants need an identity provider connected to the organization.",
    )
}

/// The request body as `T`, or Atlas' INVALID_JSON answer.
pub(super) fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Rejection> {
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
