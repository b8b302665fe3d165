//! The federation the emulator holds, and the console helpers that edit it behind the API.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard},
};

use serde_json::{Value, json};

use super::AtlasEmulator;
use super::wire::OrgConfig;
use crate::hex_id;

/// Nonces kept before the oldest are forgotten (their clients then get a stale challenge).
pub(super) const MAX_NONCES: usize = 1024;

pub(super) struct Inner {
    pub(super) public_key: String,
    pub(super) private_key: String,
    pub(super) federation_settings_id: String,
    pub(super) orgs: BTreeMap<String, OrgConfig>,
    /// Identity providers by their legacy 20-hex id: (24-hex id, display name).
    pub(super) idps: BTreeMap<String, (String, String)>,
    /// The federation's verified domains (`federatedDomains`).
    pub(super) federated_domains: Vec<String>,
    /// Issued nonce => the `nc:cnonce` pairs already used with it.
    pub(super) nonces: HashMap<String, HashSet<String>>,
}

pub(super) type Shared = Arc<Mutex<Inner>>;

pub(super) fn lock(s: &Shared) -> MutexGuard<'_, Inner> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

impl AtlasEmulator {
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
