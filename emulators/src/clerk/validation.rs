//! Request body checks: allowed keys, types, domains, URLs, certificates and custom attributes.

use axum::{body::Bytes, http::StatusCode};
use serde_json::{Map, Value};

use super::routes::{ApiError, error, format_invalid, missing, unprocessable, value_invalid};
use super::state::WriteOnly;
use super::wire::{EnterpriseConnection, OidcInput, SamlInput};

pub(super) const CREATE_KEYS: &[&str] = &[
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

pub(super) const UPDATE_KEYS: &[&str] = &[
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

pub(super) fn parse_object(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
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
pub(super) fn check_keys(
    m: &Map<String, Value>,
    allowed: &[&str],
    prefix: &str,
) -> Result<(), ApiError> {
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

pub(super) fn opt_string(
    m: &Map<String, Value>,
    key: &str,
    prefix: &str,
) -> Result<Option<String>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format_invalid(
            &format!("{prefix}{key}"),
            "must be a string",
        )),
    }
}

pub(super) fn opt_bool(m: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
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
pub(super) fn domains_param(m: &Map<String, Value>) -> Result<Option<Vec<String>>, ApiError> {
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
pub(super) fn saml_param(v: &Value) -> Result<(SamlInput, Option<Value>), ApiError> {
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

pub(super) fn oidc_param(v: &Value) -> Result<OidcInput, ApiError> {
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

/// An active connection needs a complete IdP configuration.
pub(super) fn check_activatable(
    conn: &EnterpriseConnection,
    wo: &WriteOnly,
) -> Result<(), ApiError> {
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
pub(super) fn custom_attributes_param(
    m: &Map<String, Value>,
) -> Result<Option<Vec<Value>>, ApiError> {
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
