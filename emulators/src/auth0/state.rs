//! The tenant the emulator holds (tokens and connection profiles), and the console helpers
//! that edit it behind the API.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard},
    time::{SystemTime, UNIX_EPOCH},
};

use serde_json::{Value, json};

use super::Auth0Emulator;
use super::wire;
use super::wire::{ConnectionProfile, ConnectionProfileTemplateItem, StrategyOverride};
use crate::base62_id;

pub(super) fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// An issued management token.
pub(super) struct Token {
    pub(super) expires_at: f64,
    pub(super) scopes: Vec<String>,
}

pub(super) struct Data {
    pub(super) domain: String,
    pub(super) client_id: String,
    pub(super) client_secret: String,
    pub(super) token_lifetime: u64,
    pub(super) scopes: Vec<String>,
    pub(super) tokens: HashMap<String, Token>,
    pub(super) tokens_issued: u64,
    /// Profiles by creation sequence: the checkpoint `next` is the last sequence of a page.
    pub(super) profiles: BTreeMap<u64, ConnectionProfile>,
    pub(super) seq: u64,
}

impl Data {
    pub(super) fn find(&self, id: &str) -> Option<u64> {
        self.profiles
            .iter()
            .find(|(_, p)| p.id.as_deref() == Some(id))
            .map(|(k, _)| *k)
    }

    pub(super) fn name_taken(&self, name: &str, except: Option<u64>) -> bool {
        self.profiles
            .iter()
            .any(|(k, p)| Some(*k) != except && p.name == name)
    }

    pub(super) fn insert(&mut self, profile: ConnectionProfile) {
        self.seq += 1;
        self.profiles.insert(self.seq, profile);
    }
}

pub(super) type Shared = Arc<Mutex<Data>>;

pub(super) fn lock(s: &Shared) -> MutexGuard<'_, Data> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

impl Auth0Emulator {
    /// Everything the tenant holds (no credentials or tokens).
    pub fn snapshot(&self) -> Value {
        let d = lock(&self.data);
        json!({
            "domain": d.domain,
            "connection_profiles": d.profiles.values().collect::<Vec<_>>(),
        })
    }

    /// Adds a profile as if made in the dashboard, with the given id.
    pub fn insert_profile(&self, id: &str, mut profile: ConnectionProfile) {
        profile.id = Some(id.to_string());
        lock(&self.data).insert(profile);
    }

    /// Changes a profile behind the API's back; false when there is no such profile.
    pub fn edit_profile(&self, id: &str, f: impl FnOnce(&mut ConnectionProfile)) -> bool {
        let mut d = lock(&self.data);
        match d.find(id).and_then(|k| d.profiles.get_mut(&k)) {
            Some(p) => {
                f(p);
                true
            }
            None => false,
        }
    }

    pub fn get_profile(&self, id: &str) -> Option<ConnectionProfile> {
        let d = lock(&self.data);
        d.find(id).and_then(|k| d.profiles.get(&k).cloned())
    }

    pub fn count_profiles(&self) -> usize {
        lock(&self.data).profiles.len()
    }

    /// Lifetime (`expires_in`) of tokens issued from now on.
    pub fn set_token_lifetime(&self, secs: u64) {
        lock(&self.data).token_lifetime = secs;
    }

    /// Scopes granted to tokens issued from now on.
    pub fn set_scopes(&self, scopes: &[&str]) {
        lock(&self.data).scopes = scopes.iter().map(|s| s.to_string()).collect();
    }

    /// Invalidates every issued token (as if the signing key rotated).
    pub fn revoke_tokens(&self) {
        lock(&self.data).tokens.clear();
    }

    /// How many tokens `/oauth/token` has issued.
    pub fn tokens_issued(&self) -> u64 {
        lock(&self.data).tokens_issued
    }
}

pub(super) fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 3);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// A JWT-shaped access token (RS256 header, Auth0 claims, random signature).
pub(super) fn mint_jwt(
    domain: &str,
    client_id: &str,
    audience: &str,
    scope: &str,
    iat: u64,
    exp: u64,
) -> String {
    let header = b64url(br#"{"alg":"RS256","typ":"JWT","kid":"emulator"}"#);
    let claims = json!({
        "iss": format!("https://{domain}/"),
        "sub": format!("{client_id}@clients"),
        "aud": audience,
        "iat": iat,
        "exp": exp,
        "scope": scope,
        "gty": "client-credentials",
        "azp": client_id,
    });
    let payload = b64url(claims.to_string().as_bytes());
    format!("{header}.{payload}.{}", base62_id(43))
}

/// The templates Auth0 offers (a fixed catalogue; the emulator's two mirror Auth0's dashboard).
pub fn templates() -> Vec<ConnectionProfileTemplateItem> {
    let features = |f: &[&str]| Some(f.iter().map(|s| s.to_string()).collect());
    vec![
        ConnectionProfileTemplateItem {
            id: "cpt_enterprise_sso".into(),
            display_name: "Enterprise SSO".into(),
            template: ConnectionProfile {
                name: "Enterprise SSO".into(),
                organization: Some(wire::Organization {
                    show_as_button: Some("optional".into()),
                    assign_membership_on_login: Some("required".into()),
                    extra: Default::default(),
                }),
                connection_name_prefix_template: Some("sso-{org_id}".into()),
                enabled_features: features(&["scim", "universal_logout"]),
                ..Default::default()
            },
        },
        ConnectionProfileTemplateItem {
            id: "cpt_google_workspace".into(),
            display_name: "Google Workspace directory sync".into(),
            template: ConnectionProfile {
                name: "Google Workspace".into(),
                strategy_overrides: Some(BTreeMap::from([(
                    "google-apps".to_string(),
                    StrategyOverride {
                        enabled_features: features(&["directory_sync"]),
                        provisioning: Some(json!({"google_workspace": {"sync_users": true}})),
                        ..Default::default()
                    },
                )])),
                ..Default::default()
            },
        },
    ]
}
