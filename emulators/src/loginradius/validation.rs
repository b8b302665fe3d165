//! Request body checks for create and update.

use axum::body::Bytes;

use super::routes::{Fail, bad_parameter, domain_not_in_org, domain_not_verified, duplicate_name};
use super::state::{Data, normal_domain};
use super::wire::Connection;

/// Connection types accepted (LoginRadius validates the type but does not list the values).
const CONNECTION_TYPES: &[&str] = &["saml_custom", "saml_okta", "saml_google", "saml_microsoft"];

/// Parses and validates a create/update body; `except` is the id being updated.
pub(super) fn validate(
    data: &Data,
    body: &Bytes,
    except: Option<&str>,
) -> Result<Connection, Fail> {
    let mut c: Connection =
        serde_json::from_slice(body).map_err(|_| bad_parameter("request body"))?;
    c.name = c.name.trim().to_string();
    if c.name.is_empty() {
        return Err(bad_parameter("Name"));
    }
    if !CONNECTION_TYPES.contains(&c.connection_type.as_str()) {
        return Err(bad_parameter("ConnectionType"));
    }
    let domain = c.domain.as_deref().map(normal_domain).unwrap_or_default();
    if domain.is_empty() {
        return Err(bad_parameter("Domain"));
    }
    if data
        .org_domains
        .as_ref()
        .is_some_and(|ds| !ds.contains(&domain))
    {
        return Err(domain_not_in_org());
    }
    if data.unverified.contains(&domain) {
        return Err(domain_not_verified());
    }
    if data
        .connections
        .iter()
        .any(|o| Some(o.id.as_str()) != except && o.name == c.name)
    {
        return Err(duplicate_name());
    }
    Ok(c)
}
