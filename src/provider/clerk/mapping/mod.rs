//! Pure mapping between the provider-neutral desired connection, Clerk's wire bodies and the
//! normalised [`Fields`] the reconciler diffs. No I/O here.

use serde_json::{Map, Value, json};

use super::api::{
    AttributeMappingInput, CreateEnterpriseConnection, EnterpriseConnection, OidcInput, SamlInput,
};
use crate::core::desired::{ConnectionDesired, Protocol};
use crate::core::normalize;
use crate::crd::{AttributeMapping, SamlSettings};
use crate::provider::{Diff, Fields, Outputs, ProviderError, Remote, unsupported};

/// Spec paths of the values Clerk accepts but never echoes.
pub const WRITE_ONLY: [&str; 4] = [
    "oidc.clientSecret",
    "saml.idpCertificate",
    "saml.idpMetadata",
    "saml.attributeMapping",
];

/// Top-level spec fields Clerk can hold for an EnterpriseConnection.
pub const SUPPORTED_FIELDS: &[&str] = &[
    "name",
    "domains",
    "active",
    "idpType",
    "saml",
    "oidc",
    "syncUserAttributes",
    "organizationId",
];

fn refuse(what: &str) -> ProviderError {
    unsupported(super::KIND, what)
}

fn trimmed(s: &str) -> String {
    s.trim().to_string()
}

/// Refuses what Clerk cannot hold and a protocol block that contradicts the IdP type.
pub fn check(c: &ConnectionDesired) -> Result<(), ProviderError> {
    if let Some(m) = c.saml.as_ref().and_then(|s| s.attribute_mapping.as_ref()) {
        if m.groups.is_some() {
            return Err(refuse("spec.saml.attributeMapping.groups"));
        }
        if !m.custom.is_empty() {
            return Err(refuse("spec.saml.attributeMapping.custom"));
        }
    }
    let saml_type = c.idp_type.starts_with("saml_");
    let protocol_is_saml = c.protocol == Protocol::Saml;
    if saml_type != protocol_is_saml {
        return Err(ProviderError::Invalid {
            message: format!(
                "idpType {} does not match the {} block",
                c.idp_type,
                if protocol_is_saml { "saml" } else { "oidc" }
            ),
            field: Some("spec.idpType".into()),
        });
    }
    Ok(())
}

/// The normalised fields the desired connection sets, write-only values left out.
pub fn desired_fields(c: &ConnectionDesired) -> Result<Fields, ProviderError> {
    check(c)?;
    let mut f = Fields::new();
    f.insert("name".into(), json!(c.name.trim()));
    // A defaulted idpType must not flag an adopted saml_okta (say) connection as drifted.
    if c.idp_type_explicit {
        f.insert("idpType".into(), json!(c.idp_type));
    }
    if let Some(d) = &c.domains {
        f.insert("domains".into(), json!(normalize::domains(d)));
    }
    if let Some(a) = c.active {
        f.insert("active".into(), json!(a));
    }
    if let Some(s) = c.sync_user_attributes {
        f.insert("syncUserAttributes".into(), json!(s));
    }
    if let Some(o) = &c.organization_id {
        f.insert("organizationId".into(), json!(o.trim()));
    }
    if let Some(s) = &c.saml {
        saml_fields(&mut f, s);
    }
    if let Some(o) = &c.oidc {
        f.insert("oidc.clientId".into(), json!(o.client_id.trim()));
        put_url(&mut f, "oidc.discoveryUrl", o.discovery_url.as_deref());
        put_url(&mut f, "oidc.authUrl", o.auth_url.as_deref());
        put_url(&mut f, "oidc.tokenUrl", o.token_url.as_deref());
        put_url(&mut f, "oidc.userInfoUrl", o.user_info_url.as_deref());
        if let Some(p) = o.requires_pkce {
            f.insert("oidc.requiresPkce".into(), json!(p));
        }
    }
    Ok(f)
}

fn saml_fields(f: &mut Fields, s: &SamlSettings) {
    if let Some(e) = &s.idp_entity_id {
        f.insert("saml.idpEntityId".into(), json!(e.trim()));
    }
    put_url(f, "saml.idpSsoUrl", s.idp_sso_url.as_deref());
    put_url(f, "saml.idpMetadataUrl", s.idp_metadata_url.as_deref());
    for (path, v) in [
        ("saml.allowIdpInitiated", s.allow_idp_initiated),
        ("saml.allowSubdomains", s.allow_subdomains),
        ("saml.forceAuthn", s.force_authn),
    ] {
        if let Some(v) = v {
            f.insert(path.into(), json!(v));
        }
    }
}

fn put_url(f: &mut Fields, path: &str, v: Option<&str>) {
    if let Some(u) = v {
        f.insert(path.into(), json!(normalize::url(u)));
    }
}

/// Write-only paths the desired connection sets.
pub fn write_only_paths(c: &ConnectionDesired) -> Vec<String> {
    let mut out = vec![];
    if c.oidc.as_ref().is_some_and(|o| o.client_secret.is_some()) {
        out.push("oidc.clientSecret".to_string());
    }
    if let Some(s) = &c.saml {
        if s.idp_certificate.is_some() {
            out.push("saml.idpCertificate".into());
        }
        if s.idp_metadata.is_some() {
            out.push("saml.idpMetadata".into());
        }
        if s.attribute_mapping.is_some() {
            out.push("saml.attributeMapping".into());
        }
    }
    out
}

/// The observed connection as normalised fields in spec paths.
pub fn observed_fields(w: &EnterpriseConnection) -> Fields {
    let mut f = Fields::new();
    f.insert("name".into(), json!(w.name.trim()));
    f.insert("idpType".into(), json!(w.provider));
    f.insert("domains".into(), json!(normalize::domains(&w.domains)));
    f.insert("active".into(), json!(w.active));
    f.insert("syncUserAttributes".into(), json!(w.sync_user_attributes));
    if let Some(o) = &w.organization_id {
        f.insert("organizationId".into(), json!(o));
    }
    if let Some(s) = &w.saml_connection {
        if let Some(e) = &s.idp_entity_id {
            f.insert("saml.idpEntityId".into(), json!(e.trim()));
        }
        put_url(&mut f, "saml.idpSsoUrl", s.idp_sso_url.as_deref());
        put_url(&mut f, "saml.idpMetadataUrl", s.idp_metadata_url.as_deref());
        f.insert(
            "saml.allowIdpInitiated".into(),
            json!(s.allow_idp_initiated),
        );
        f.insert("saml.allowSubdomains".into(), json!(s.allow_subdomains));
        f.insert("saml.forceAuthn".into(), json!(s.force_authn));
    }
    if let Some(o) = &w.oauth_config {
        if let Some(id) = &o.client_id {
            f.insert("oidc.clientId".into(), json!(id.trim()));
        }
        put_url(&mut f, "oidc.discoveryUrl", o.discovery_url.as_deref());
        put_url(&mut f, "oidc.authUrl", o.auth_url.as_deref());
        put_url(&mut f, "oidc.tokenUrl", o.token_url.as_deref());
        put_url(&mut f, "oidc.userInfoUrl", o.user_info_url.as_deref());
        f.insert("oidc.requiresPkce".into(), json!(o.requires_pkce));
    }
    f
}

/// The service-provider values an IdP administrator needs (SAML only: Clerk does not report an
/// OIDC redirect URL on the connection).
pub fn outputs(w: &EnterpriseConnection) -> Outputs {
    let s = w.saml_connection.as_ref();
    Outputs {
        sp_entity_id: s.and_then(|s| s.sp_entity_id.clone()),
        acs_url: s.and_then(|s| s.acs_url.clone()),
        sp_metadata_url: s.and_then(|s| s.sp_metadata_url.clone()),
        sp_certificate: None,
    }
}

/// The observed connection as a [`Remote`].
pub fn remote(w: &EnterpriseConnection) -> Remote {
    Remote {
        id: w.id.clone(),
        name: w.name.clone(),
        fields: observed_fields(w),
        outputs: outputs(w),
    }
}

fn attribute_mapping(m: &AttributeMapping) -> AttributeMappingInput {
    AttributeMappingInput {
        user_id: m.user_id.clone(),
        email_address: m.email_address.clone(),
        first_name: m.first_name.clone(),
        last_name: m.last_name.clone(),
    }
}

fn saml_input(s: &SamlSettings) -> SamlInput {
    SamlInput {
        idp_entity_id: s.idp_entity_id.as_deref().map(trimmed),
        idp_sso_url: s.idp_sso_url.as_deref().map(trimmed),
        idp_certificate: s.idp_certificate.clone(),
        idp_metadata_url: s.idp_metadata_url.as_deref().map(trimmed),
        idp_metadata: s.idp_metadata.clone(),
        attribute_mapping: s.attribute_mapping.as_deref().map(attribute_mapping),
        allow_subdomains: s.allow_subdomains,
        allow_idp_initiated: s.allow_idp_initiated,
        force_authn: s.force_authn,
    }
}

/// The `POST` body. `sync_user_attributes` is not accepted on create; the caller patches it after.
pub fn create_body(c: &ConnectionDesired) -> Result<CreateEnterpriseConnection, ProviderError> {
    check(c)?;
    let domains = match &c.domains {
        Some(d) if !d.is_empty() => normalize::domains(d),
        _ => {
            return Err(ProviderError::Invalid {
                message: "Clerk requires at least one domain to create an enterprise connection"
                    .into(),
                field: Some("spec.domains".into()),
            });
        }
    };
    Ok(CreateEnterpriseConnection {
        name: c.name.trim().to_string(),
        provider: c.idp_type.clone(),
        domains,
        organization_id: c.organization_id.as_deref().map(trimmed),
        active: c.active,
        saml: c.saml.as_ref().map(saml_input),
        oidc: c.oidc.as_ref().map(|o| OidcInput {
            client_id: Some(o.client_id.trim().to_string()),
            client_secret: o.client_secret.as_ref().map(|s| s.expose().to_string()),
            discovery_url: o.discovery_url.as_deref().map(trimmed),
            auth_url: o.auth_url.as_deref().map(trimmed),
            token_url: o.token_url.as_deref().map(trimmed),
            user_info_url: o.user_info_url.as_deref().map(trimmed),
            requires_pkce: o.requires_pkce,
        }),
    })
}

fn put(m: &mut Map<String, Value>, key: &str, v: Option<Value>) {
    if let Some(v) = v {
        m.insert(key.to_string(), v);
    }
}

/// The `PATCH` body: only the fields `diff` names, in wire terms. Write-only values are sent when
/// the diff names their path. Refuses a change of IdP type (Clerk's `provider` is immutable).
pub fn update_body(
    c: &ConnectionDesired,
    diff: &Diff,
) -> Result<Map<String, Value>, ProviderError> {
    check(c)?;
    if diff.touches("idpType") {
        return Err(refuse(
            "changing spec.idpType of an existing connection (Clerk's provider is immutable; recreate the connection)",
        ));
    }
    let has = |p: &str| diff.touches(p);
    let mut body = Map::new();
    if has("name") {
        body.insert("name".into(), json!(c.name.trim()));
    }
    // `domains: []` would mean "no change" to Clerk, so only a non-empty list is ever sent.
    if has("domains")
        && let Some(d) = c.domains.as_ref().filter(|d| !d.is_empty())
    {
        body.insert("domains".into(), json!(normalize::domains(d)));
    }
    if has("active") {
        put(&mut body, "active", c.active.map(Value::Bool));
    }
    if has("syncUserAttributes") {
        put(
            &mut body,
            "sync_user_attributes",
            c.sync_user_attributes.map(Value::Bool),
        );
    }
    // Clerk cannot unlink an organization; an absent organizationId is never sent.
    if has("organizationId") {
        put(
            &mut body,
            "organization_id",
            c.organization_id.as_deref().map(|o| json!(o.trim())),
        );
    }
    if let Some(s) = &c.saml {
        let mut m = Map::new();
        let str_of = |v: &Option<String>| v.as_deref().map(|v| json!(v.trim()));
        let bool_of = |v: Option<bool>| v.map(Value::Bool);
        for (path, key, v) in [
            (
                "saml.idpEntityId",
                "idp_entity_id",
                str_of(&s.idp_entity_id),
            ),
            ("saml.idpSsoUrl", "idp_sso_url", str_of(&s.idp_sso_url)),
            (
                "saml.idpMetadataUrl",
                "idp_metadata_url",
                str_of(&s.idp_metadata_url),
            ),
            (
                "saml.idpCertificate",
                "idp_certificate",
                s.idp_certificate.clone().map(Value::String),
            ),
            (
                "saml.idpMetadata",
                "idp_metadata",
                s.idp_metadata.clone().map(Value::String),
            ),
            (
                "saml.allowIdpInitiated",
                "allow_idp_initiated",
                bool_of(s.allow_idp_initiated),
            ),
            (
                "saml.allowSubdomains",
                "allow_subdomains",
                bool_of(s.allow_subdomains),
            ),
            ("saml.forceAuthn", "force_authn", bool_of(s.force_authn)),
        ] {
            if has(path) {
                put(&mut m, key, v);
            }
        }
        if has("saml.attributeMapping") {
            let mapping = s
                .attribute_mapping
                .as_deref()
                .map(attribute_mapping)
                .unwrap_or_default();
            put(
                &mut m,
                "attribute_mapping",
                serde_json::to_value(mapping).ok(),
            );
        }
        if !m.is_empty() {
            body.insert("saml".into(), Value::Object(m));
        }
    }
    if let Some(o) = &c.oidc {
        let mut m = Map::new();
        let str_of = |v: &Option<String>| v.as_deref().map(|v| json!(v.trim()));
        for (path, key, v) in [
            (
                "oidc.clientId",
                "client_id",
                Some(json!(o.client_id.trim())),
            ),
            (
                "oidc.clientSecret",
                "client_secret",
                o.client_secret.as_ref().map(|s| json!(s.expose())),
            ),
            (
                "oidc.discoveryUrl",
                "discovery_url",
                str_of(&o.discovery_url),
            ),
            ("oidc.authUrl", "auth_url", str_of(&o.auth_url)),
            ("oidc.tokenUrl", "token_url", str_of(&o.token_url)),
            (
                "oidc.userInfoUrl",
                "user_info_url",
                str_of(&o.user_info_url),
            ),
            (
                "oidc.requiresPkce",
                "requires_pkce",
                o.requires_pkce.map(Value::Bool),
            ),
        ] {
            if has(path) {
                put(&mut m, key, v);
            }
        }
        if !m.is_empty() {
            body.insert("oidc".into(), Value::Object(m));
        }
    }
    Ok(body)
}

/// Clerk's `meta.param_name` (wire terms, e.g. `saml.idp_sso_url`) as a spec path.
pub fn spec_field(param: &str) -> String {
    let camel = |seg: &str| {
        let mut out = String::new();
        let mut upper = false;
        for ch in seg.chars() {
            if ch == '_' {
                upper = true;
            } else if upper {
                out.extend(ch.to_uppercase());
                upper = false;
            } else {
                out.push(ch);
            }
        }
        out
    };
    let path = match param {
        "provider" => "idpType".to_string(),
        "oidc.client_secret" | "client_secret" => "oidc.clientSecretRef".to_string(),
        p => p.split('.').map(camel).collect::<Vec<_>>().join("."),
    };
    format!("spec.{path}")
}

#[cfg(test)]
mod tests;
