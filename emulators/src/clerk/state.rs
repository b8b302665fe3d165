//! The instance the emulator holds, how a request body becomes a stored connection, and the
//! console helpers that edit it behind the API.

use std::{
    collections::BTreeMap,
    fmt,
    sync::{Arc, Mutex, MutexGuard},
};

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::routes::{ApiError, describe, error, format_invalid, missing, value_invalid};
use super::validation::{
    CREATE_KEYS, check_activatable, check_keys, custom_attributes_param, domains_param, oidc_param,
    opt_bool, opt_string, saml_param,
};
use super::wire::{
    AttributeMappingInput, EnterpriseConnection, OBJECT_ENTERPRISE_CONNECTION, OauthConfig,
    OidcInput, SamlConnection, SamlInput,
};
use super::{ClerkEmulator, PROVIDERS};
use crate::base62_id;

/// Values Clerk accepts but never returns. Debug shows only which are set.
#[derive(Clone, Default, PartialEq)]
pub struct WriteOnly {
    pub client_secret: Option<String>,
    pub idp_certificate: Option<String>,
    pub idp_metadata: Option<String>,
    pub attribute_mapping: Option<AttributeMappingInput>,
}

impl fmt::Debug for WriteOnly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.presence().to_string())
    }
}

impl WriteOnly {
    /// Which write-only values are held, without the values (for snapshots and Debug).
    fn presence(&self) -> Value {
        let set = |b: bool| if b { json!("<set>") } else { Value::Null };
        json!({
            "client_secret": set(self.client_secret.is_some()),
            "idp_certificate": set(self.idp_certificate.is_some()),
            "idp_metadata": set(self.idp_metadata.is_some()),
            "attribute_mapping": self.attribute_mapping.as_ref().and_then(|m| serde_json::to_value(m).ok()),
        })
    }
}

#[derive(Clone)]
pub(super) struct Stored {
    /// Creation order, for newest-first listing (timestamps can tie).
    pub(super) seq: u64,
    pub(super) conn: EnterpriseConnection,
    pub(super) write_only: WriteOnly,
}

#[derive(Default)]
pub(super) struct Store {
    pub(super) items: BTreeMap<String, Stored>,
    pub(super) seq: u64,
}

#[derive(Clone)]
pub(super) struct Ctx {
    pub(super) state: Arc<Mutex<Store>>,
    pub(super) secret_key: Arc<str>,
    pub(super) host: Arc<str>,
    /// The last `Clerk-API-Version` header received (for tests of the client).
    pub(super) api_version: Arc<Mutex<Option<String>>>,
}

pub(super) fn lock(m: &Mutex<Store>) -> MutexGuard<'_, Store> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl ClerkEmulator {
    /// Everything held, write-only values shown only as `<set>`.
    pub fn snapshot(&self) -> Value {
        let st = lock(&self.ctx.state);
        let mut items: Vec<&Stored> = st.items.values().collect();
        items.sort_by_key(|s| std::cmp::Reverse(s.seq));
        let conns: Vec<Value> = items
            .iter()
            .map(|s| {
                let mut v = serde_json::to_value(&s.conn).unwrap_or(Value::Null);
                if let Value::Object(m) = &mut v {
                    m.insert("write_only".into(), s.write_only.presence());
                }
                v
            })
            .collect();
        json!({ "host": &*self.ctx.host, "enterprise_connections": conns })
    }

    /// Console: stores `conn` as is, under `conn.id` (replacing any object with that id).
    pub fn insert_connection(&self, conn: EnterpriseConnection) {
        let mut st = lock(&self.ctx.state);
        st.seq += 1;
        let seq = st.seq;
        st.items.insert(
            conn.id.clone(),
            Stored {
                seq,
                conn,
                write_only: WriteOnly::default(),
            },
        );
    }

    /// Console: creates a connection from a create body under the chosen `id`, with the same
    /// validation the API applies (but no duplicate check). Returns Clerk's error text on refusal.
    pub fn insert_from_body(&self, id: &str, body: Value) -> Result<EnterpriseConnection, String> {
        let (conn, write_only) =
            build_connection(&self.ctx, id.to_string(), &body).map_err(describe)?;
        let mut st = lock(&self.ctx.state);
        st.seq += 1;
        let seq = st.seq;
        st.items.insert(
            id.to_string(),
            Stored {
                seq,
                conn: conn.clone(),
                write_only,
            },
        );
        Ok(conn)
    }

    /// Console: edits a connection behind the API's back; false when it does not exist.
    pub fn edit_connection(&self, id: &str, f: impl FnOnce(&mut EnterpriseConnection)) -> bool {
        let mut st = lock(&self.ctx.state);
        match st.items.get_mut(id) {
            Some(s) => {
                f(&mut s.conn);
                true
            }
            None => false,
        }
    }

    pub fn get_connection(&self, id: &str) -> Option<EnterpriseConnection> {
        lock(&self.ctx.state).items.get(id).map(|s| s.conn.clone())
    }

    /// The write-only values Clerk holds for a connection (for tests that check they were sent).
    pub fn write_only(&self, id: &str) -> Option<WriteOnly> {
        lock(&self.ctx.state)
            .items
            .get(id)
            .map(|s| s.write_only.clone())
    }

    /// The `Clerk-API-Version` header of the last authenticated request.
    pub fn last_api_version(&self) -> Option<String> {
        self.ctx
            .api_version
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn count_connections(&self) -> usize {
        lock(&self.ctx.state).items.len()
    }
}

/// Clerk reads the discovery document; the emulator derives the endpoints from its issuer.
fn derive_from_discovery(o: &mut OauthConfig, explicit: &OidcInput) {
    let Some(d) = &o.discovery_url else { return };
    let issuer = d
        .trim_end_matches('/')
        .trim_end_matches("/.well-known/openid-configuration")
        .to_string();
    if explicit.auth_url.is_none() {
        o.auth_url = Some(format!("{issuer}/oauth2/authorize"));
    }
    if explicit.token_url.is_none() {
        o.token_url = Some(format!("{issuer}/oauth2/token"));
    }
    if explicit.user_info_url.is_none() {
        o.user_info_url = Some(format!("{issuer}/oauth2/userinfo"));
    }
}

pub(super) fn apply_saml(
    conn: &mut EnterpriseConnection,
    wo: &mut WriteOnly,
    input: SamlInput,
    hint: Option<Value>,
) {
    let Some(s) = conn.saml_connection.as_mut() else {
        return;
    };
    if input.idp_entity_id.is_some() {
        s.idp_entity_id = input.idp_entity_id;
    }
    if input.idp_sso_url.is_some() {
        s.idp_sso_url = input.idp_sso_url;
    }
    if input.idp_metadata_url.is_some() {
        s.idp_metadata_url = input.idp_metadata_url;
    }
    if let Some(b) = input.allow_subdomains {
        s.allow_subdomains = b;
    }
    if let Some(b) = input.allow_idp_initiated {
        s.allow_idp_initiated = b;
    }
    if let Some(b) = input.force_authn {
        s.force_authn = b;
    }
    if hint.is_some() {
        s.login_hint = hint;
    }
    if input.idp_certificate.is_some() {
        wo.idp_certificate = input.idp_certificate;
    }
    if input.idp_metadata.is_some() {
        wo.idp_metadata = input.idp_metadata;
    }
    if input.attribute_mapping.is_some() {
        wo.attribute_mapping = input.attribute_mapping;
    }
}

pub(super) fn apply_oidc(
    conn: &mut EnterpriseConnection,
    wo: &mut WriteOnly,
    input: OidcInput,
    now: i64,
) {
    let Some(o) = conn.oauth_config.as_mut() else {
        return;
    };
    if input.client_id.is_some() {
        o.client_id = input.client_id.clone();
    }
    if input.discovery_url.is_some() {
        o.discovery_url = input.discovery_url.clone();
        derive_from_discovery(o, &input);
    }
    if input.auth_url.is_some() {
        o.auth_url = input.auth_url.clone();
    }
    if input.token_url.is_some() {
        o.token_url = input.token_url.clone();
    }
    if input.user_info_url.is_some() {
        o.user_info_url = input.user_info_url.clone();
    }
    if let Some(p) = input.requires_pkce {
        o.requires_pkce = p;
    }
    if input.client_secret.is_some() {
        wo.client_secret = input.client_secret;
    }
    o.updated_at = now;
}

/// Builds a new connection from a create body (everything but the duplicate check).
pub(super) fn build_connection(
    ctx: &Ctx,
    id: String,
    body: &Value,
) -> Result<(EnterpriseConnection, WriteOnly), ApiError> {
    let Value::Object(m) = body else {
        return Err(format_invalid("body", "must be an object"));
    };
    check_keys(m, CREATE_KEYS, "")?;
    let name = opt_string(m, "name", "")?
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| missing("name"))?;
    let provider = opt_string(m, "provider", "")?.ok_or_else(|| missing("provider"))?;
    if !PROVIDERS.contains(&provider.as_str()) {
        return Err(value_invalid(
            "provider",
            "must be one of saml_custom, saml_okta, saml_google, saml_microsoft, oidc_custom, oidc_github_enterprise, oidc_gitlab",
        ));
    }
    let domains = domains_param(m)?.ok_or_else(|| missing("domains"))?;
    let organization_id = opt_string(m, "organization_id", "")?;
    if organization_id
        .as_deref()
        .is_some_and(|o| o.trim().is_empty())
    {
        return Err(format_invalid("organization_id", "must not be empty"));
    }
    let active = opt_bool(m, "active")?.unwrap_or(false);
    let linking = opt_bool(m, "allow_organization_account_linking")?.unwrap_or(false);
    let custom_attributes = custom_attributes_param(m)?.unwrap_or_default();
    let is_saml = provider.starts_with("saml_");
    let saml = m.get("saml").filter(|v| !v.is_null());
    let oidc = m.get("oidc").filter(|v| !v.is_null());
    if saml.is_some() && !is_saml {
        return Err(value_invalid(
            "saml",
            "only SAML providers take SAML settings",
        ));
    }
    if oidc.is_some() && is_saml {
        return Err(value_invalid(
            "oidc",
            "only OIDC providers take OIDC settings",
        ));
    }
    let now = now_ms();
    let sub_id = base62_id(27);
    let host = &ctx.host;
    let mut conn = EnterpriseConnection {
        object: OBJECT_ENTERPRISE_CONNECTION.into(),
        id,
        name: name.clone(),
        provider: provider.clone(),
        logo_public_url: None,
        active,
        domains,
        organization_id,
        sync_user_attributes: true,
        disable_additional_identifications: false,
        allow_organization_account_linking: linking,
        custom_attributes,
        saml_connection: is_saml.then(|| SamlConnection {
            id: Some(format!("samlc_{sub_id}")),
            name: name.clone(),
            acs_url: Some(format!("https://{host}/v1/saml/acs/samlc_{sub_id}")),
            sp_entity_id: Some(format!("https://{host}/saml/samlc_{sub_id}")),
            sp_metadata_url: Some(format!("https://{host}/v1/saml/metadata/samlc_{sub_id}")),
            active,
            ..SamlConnection::default()
        }),
        oauth_config: (!is_saml).then(|| OauthConfig {
            id: Some(format!("oac_{sub_id}")),
            name: name.clone(),
            provider_key: provider.clone(),
            created_at: now,
            updated_at: now,
            ..OauthConfig::default()
        }),
        created_at: now,
        updated_at: now,
        authenticatable: true,
        disable_jit_provisioning: false,
        extra: Map::new(),
    };
    let mut wo = WriteOnly::default();
    if let Some(s) = saml {
        let (input, hint) = saml_param(s)?;
        apply_saml(&mut conn, &mut wo, input, hint);
    }
    if let Some(o) = oidc {
        let input = oidc_param(o)?;
        apply_oidc(&mut conn, &mut wo, input, now);
    }
    check_activatable(&conn, &wo)?;
    Ok((conn, wo))
}

/// A domain already used by another connection is refused. Names are not unique at Clerk (the
/// description constrains none), so a taken name is the operator's to detect, by its list lookup.
/// `status`: 409 on create (declared there), 400 on update (whose declared statuses hold no 409).
pub(super) fn check_domains_free(
    st: &Store,
    conn: &EnterpriseConnection,
    status: StatusCode,
) -> Result<(), ApiError> {
    for other in st.items.values().filter(|s| s.conn.id != conn.id) {
        if let Some(d) = conn.domains.iter().find(|d| other.conn.domains.contains(d)) {
            return Err(error(
                status,
                "form_identifier_exists",
                "already exists",
                &format!("The domain {d} is already used by another enterprise connection."),
                Some("domains"),
            )
            .into());
        }
    }
    Ok(())
}
