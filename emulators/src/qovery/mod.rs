//! Qovery emulator: the "Organization Enterprise Connection" endpoints (list, get, PUT) of
//! Qovery's OpenAPI (contracts/qovery-enterprise-connection.yaml).
//!
//! Connections cannot be created through the API (Qovery staff set them up), so tests put them in
//! with the console helpers. Credentials are checked on every request as the real API takes them:
//! `Authorization: Token <api-token>` or `Authorization: Bearer <jwt>`. The specification documents
//! no error bodies and no rate limit; the `{status, error, message}` body and the `Retry-After`
//! header are guesses, as is the 400 for a PUT body that lacks a required field or has a wrong
//! type (the description declares only 200, 401, 403 and 404; a client that follows it never
//! sends such a body). A PUT whose `connection_name` differs from the path keeps the path's
//! name. Fields the emulator does not model (set with [`QoveryEmulator::edit_connection`]) are
//! stored and answered like the others.

mod routes;
mod state;
#[cfg(test)]
mod tests;
mod validation;
pub mod wire;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use axum::{Router, routing::get};

use super::{EmulatorCore, with_core};
use routes::{get_connection, list_connections, put_connection};
use state::{Shared, Store};

pub use routes::QoveryDialect;

/// In-memory Qovery API for one API token and a set of organizations.
#[derive(Clone)]
pub struct QoveryEmulator {
    shared: Shared,
    core: Arc<EmulatorCore>,
}

impl QoveryEmulator {
    /// `token` is the one accepted API token; it may act on every organization in `organization_ids`
    /// (any other organization id gives 403, as a token of another organization would).
    pub fn new(token: impl Into<String>, organization_ids: Vec<String>) -> Self {
        let state = Store {
            orgs: organization_ids
                .into_iter()
                .map(|o| (o, BTreeMap::new()))
                .collect(),
        };
        Self {
            shared: Shared {
                token: Arc::from(token.into()),
                state: Arc::new(Mutex::new(state)),
            },
            core: EmulatorCore::new("qovery", QoveryDialect),
        }
    }

    pub fn core(&self) -> Arc<EmulatorCore> {
        self.core.clone()
    }

    pub fn router(&self) -> Router {
        let routes = Router::new()
            .route(
                "/organization/{organizationId}/enterpriseconnection",
                get(list_connections),
            )
            .route(
                "/organization/{organizationId}/enterpriseconnection/{connectionName}",
                get(get_connection).put(put_connection),
            )
            .with_state(self.shared.clone());
        with_core(routes, self.core.clone())
    }
}
