//! Auth0 emulator: `POST /oauth/token` (client-credentials grant) and the Management API's
//! `/api/v2/connection-profiles` endpoints, with Auth0's validation, error bodies, checkpoint
//! pagination and `x-ratelimit-*` headers on 429.

mod routes;
mod state;
#[cfg(test)]
mod tests;
mod validation;
pub mod wire;

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    routing::{get, post},
};

use super::{EmulatorCore, with_core};
use routes::{
    Auth0Dialect, create, list, list_templates, read, read_template, remove, token, update,
};
use state::{Data, Shared};

pub use state::templates;
pub use validation::{prefix_template_matches, validate};

/// Scopes a Management API token needs for connection profiles.
pub const SCOPES: [&str; 4] = [
    "read:connection_profiles",
    "create:connection_profiles",
    "update:connection_profiles",
    "delete:connection_profiles",
];

/// The emulated Auth0 tenant.
#[derive(Clone)]
pub struct Auth0Emulator {
    core: Arc<EmulatorCore>,
    data: Shared,
}

impl Auth0Emulator {
    /// A tenant `domain` (e.g. `demo.eu.auth0.com`) with one machine-to-machine application.
    pub fn new(domain: &str, client_id: &str, client_secret: &str) -> Self {
        Self {
            core: EmulatorCore::new("auth0", Auth0Dialect),
            data: Arc::new(Mutex::new(Data {
                domain: domain.to_string(),
                client_id: client_id.to_string(),
                client_secret: client_secret.to_string(),
                token_lifetime: 86_400,
                scopes: SCOPES.iter().map(|s| s.to_string()).collect(),
                tokens: HashMap::new(),
                tokens_issued: 0,
                profiles: BTreeMap::new(),
                seq: 0,
            })),
        }
    }

    pub fn core(&self) -> Arc<EmulatorCore> {
        self.core.clone()
    }

    pub fn router(&self) -> Router {
        let routes = Router::new()
            .route("/oauth/token", post(token))
            .route("/api/v2/connection-profiles", get(list).post(create))
            // A static segment: matched before the `{id}` route below.
            .route("/api/v2/connection-profiles/templates", get(list_templates))
            .route(
                "/api/v2/connection-profiles/templates/{id}",
                get(read_template),
            )
            .route(
                "/api/v2/connection-profiles/{id}",
                get(read).patch(update).delete(remove),
            )
            .with_state(self.data.clone());
        with_core(routes, self.core.clone())
    }
}
