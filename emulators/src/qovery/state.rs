//! The organizations' enterprise connections the emulator holds, and the console helpers that
//! edit them behind the API.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
};

use serde_json::{Value, json};

use super::QoveryEmulator;
use super::wire::EnterpriseConnectionDto;

#[derive(Default)]
pub(super) struct Store {
    /// Organization id -> connection name -> connection.
    pub(super) orgs: BTreeMap<String, BTreeMap<String, EnterpriseConnectionDto>>,
}

#[derive(Clone)]
pub(super) struct Shared {
    pub(super) token: Arc<str>,
    pub(super) state: Arc<Mutex<Store>>,
}

pub(super) fn lock(m: &Mutex<Store>) -> MutexGuard<'_, Store> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl QoveryEmulator {
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
