//! The organizations' connections the emulator holds, the credential check, and the console
//! helpers that edit them behind the API.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{
        Mutex, MutexGuard,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::LoginRadiusEmulator;
use super::routes::{Fail, lr_error};
use super::wire::{Connection, SpCertificate, codes};
use crate::base62_id;

/// What the emulator holds.
#[derive(Default)]
pub(super) struct Data {
    /// Connections in creation order (the list's order).
    pub(super) connections: Vec<Connection>,
    /// The organization's domains; `None` accepts any domain.
    pub(super) org_domains: Option<BTreeSet<String>>,
    /// Domains of the organization that are not verified yet.
    pub(super) unverified: BTreeSet<String>,
}

pub(super) struct Inner {
    pub(super) api_key: String,
    pub(super) api_secret: String,
    pub(super) org_id: String,
    /// Site name used in the generated hub URLs (`https://<site>.hub.loginradius.com`).
    pub(super) site: String,
    pub(super) data: Mutex<Data>,
    /// Requests that carried a credential in the query string.
    pub(super) query_credentials: AtomicUsize,
}

impl Inner {
    pub(super) fn data(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn now() -> jiff::Timestamp {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second()).unwrap_or(now)
}

fn fake_pem() -> String {
    format!(
        "-----BEGIN CERTIFICATE-----\nMIIC{}\n{}\n-----END CERTIFICATE-----\n",
        base62_id(60),
        base62_id(64)
    )
}

/// How LoginRadius compares domains: case and a trailing dot do not matter.
pub(super) fn normal_domain(d: &str) -> String {
    d.trim().trim_end_matches('.').to_ascii_lowercase()
}

impl LoginRadiusEmulator {
    /// The organization's domains (`None`: accept any).
    pub fn set_org_domains(&self, domains: Option<Vec<String>>) {
        self.inner.data().org_domains =
            domains.map(|ds| ds.iter().map(|d| normal_domain(d)).collect());
    }

    /// Domains that belong to the organization but are not verified.
    pub fn set_unverified_domains(&self, domains: Vec<String>) {
        self.inner.data().unverified = domains.iter().map(|d| normal_domain(d)).collect();
    }

    /// Everything the emulator holds (no credentials).
    pub fn snapshot(&self) -> Value {
        let d = self.inner.data();
        json!({
            "organization": self.inner.org_id,
            "orgDomains": d.org_domains,
            "unverifiedDomains": d.unverified,
            "connections": d.connections,
        })
    }

    /// Console: inserts a connection under `id`, filling the server-generated fields it lacks.
    /// Replaces a connection with the same id.
    pub fn insert_connection(&self, id: &str, mut conn: Connection) -> String {
        conn.id = id.to_string();
        self.inner.fill_server_fields(&mut conn, None);
        let mut d = self.inner.data();
        d.connections.retain(|c| c.id != id);
        d.connections.push(conn);
        id.to_string()
    }

    /// Console: changes a connection behind the API's back.
    pub fn edit_connection(&self, id: &str, f: impl FnOnce(&mut Connection)) -> bool {
        let mut d = self.inner.data();
        match d.connections.iter_mut().find(|c| c.id == id) {
            Some(c) => {
                f(c);
                true
            }
            None => false,
        }
    }

    pub fn get_connection(&self, id: &str) -> Option<Connection> {
        self.inner
            .data()
            .connections
            .iter()
            .find(|c| c.id == id)
            .cloned()
    }

    pub fn count_connections(&self) -> usize {
        self.inner.data().connections.len()
    }

    /// Requests so far that carried `apikey` or `apisecret` in the query string (LoginRadius takes
    /// them, but a URL ends up in logs: a client should use the headers).
    pub fn query_credential_uses(&self) -> usize {
        self.inner.query_credentials.load(Ordering::SeqCst)
    }
}

impl Inner {
    /// Credentials from the `X-LoginRadius-ApiKey`/`X-LoginRadius-ApiSecret` headers or the
    /// `apikey`/`apisecret` query parameters (both documented; a header wins).
    fn authorize(&self, query: &HashMap<String, String>, headers: &HeaderMap) -> Result<(), Fail> {
        let from_query = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        if from_query("apikey").is_some() || from_query("apisecret").is_some() {
            self.query_credentials.fetch_add(1, Ordering::SeqCst);
        }
        let take = |h: &str, q: &str| {
            headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .or_else(|| from_query(q))
        };
        if take("x-loginradius-apikey", "apikey").as_deref() != Some(self.api_key.as_str()) {
            return Err(lr_error(
                StatusCode::FORBIDDEN,
                codes::API_KEY_INVALID,
                "API key is invalid",
                "LoginRadius API key is invalid, please use a valid API key of your LoginRadius account.",
            ));
        }
        if take("x-loginradius-apisecret", "apisecret").as_deref() != Some(self.api_secret.as_str())
        {
            return Err(lr_error(
                StatusCode::UNAUTHORIZED,
                codes::API_SECRET_INVALID,
                "API secret is invalid",
                "LoginRadius API secret is invalid, please use a valid API secret of your LoginRadius account.",
            ));
        }
        Ok(())
    }

    pub(super) fn check(
        &self,
        org_id: &str,
        query: &HashMap<String, String>,
        headers: &HeaderMap,
    ) -> Result<(), Fail> {
        self.authorize(query, headers)?;
        if org_id != self.org_id {
            return Err(lr_error(
                StatusCode::BAD_REQUEST,
                codes::ORG_NOT_FOUND,
                "Organization does not exist",
                "The provided organization ID does not exist, please use a valid organization ID.",
            ));
        }
        Ok(())
    }

    /// Server-generated fields: id prefix, dates, SP-side URLs and certificate, group-role ids.
    pub(super) fn fill_server_fields(&self, c: &mut Connection, previous: Option<&Connection>) {
        let ts = now().to_string();
        if c.id.is_empty() {
            c.id = format!("conn_{}", base62_id(16));
        }
        c.created_date = previous
            .and_then(|p| p.created_date.clone())
            .or_else(|| c.created_date.clone())
            .or_else(|| Some(ts.clone()));
        c.modified_date = Some(ts);
        let sp = previous.filter(|p| p.entity_id.is_some());
        match sp {
            Some(p) => {
                c.entity_id = p.entity_id.clone();
                c.metadata_url = p.metadata_url.clone();
                c.acs_endpoint = p.acs_endpoint.clone();
                c.sp_certificate = p.sp_certificate.clone();
            }
            None if c.entity_id.is_none() => {
                let key = base62_id(34);
                let hub = format!("https://{}.hub.loginradius.com/saml/sp", self.site);
                c.entity_id = Some(format!("{hub}/{key}"));
                c.metadata_url = Some(format!("{hub}/{key}/metadata.xml"));
                c.acs_endpoint = Some(format!("{hub}/acs/{key}"));
                c.sp_certificate = Some(SpCertificate {
                    certificate: fake_pem(),
                });
            }
            None => {}
        }
        if c.is_active.is_none() {
            c.is_active = Some(true);
        }
        if let Some(cert) = c.idp_certificate.as_mut() {
            let old = previous.and_then(|p| p.idp_certificate.as_ref());
            match old.filter(|o| o.certificate == cert.certificate) {
                Some(o) => {
                    cert.not_before = o.not_before.clone();
                    cert.not_after = o.not_after.clone();
                }
                None if cert.certificate.is_empty() => {
                    cert.not_before = None;
                    cert.not_after = None;
                }
                None => {
                    let start = now();
                    let end = start
                        .checked_add(jiff::SignedDuration::from_hours(24 * 365))
                        .unwrap_or(start);
                    cert.not_before = Some(start.to_string());
                    cert.not_after = Some(end.to_string());
                }
            }
        }
        let old_roles = previous.map(|p| p.group_roles.as_slice()).unwrap_or(&[]);
        for g in &mut c.group_roles {
            if g.id.is_empty() || !old_roles.iter().any(|o| o.id == g.id) {
                g.id = format!("group_role_{}", base62_id(16));
            }
        }
    }
}
