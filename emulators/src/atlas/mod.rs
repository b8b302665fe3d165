//! MongoDB Atlas emulator: the connected-org configs of one federation, as the Atlas Admin API
//! (contracts/atlas-federation-settings.yaml) and the
//! Atlas Admin API v2 spec describe them. Serves the v2 paths (`/api/atlas/v2/...`, versioned
//! media type required) and the Atlas Admin API v1.0 paths (`/api/public/v1.0/...`) with the same
//! handlers.
//!
//! Auth is HTTP Digest (MD5, qop=auth) with a programmatic API key: requests without a valid
//! answer get `401` and a fresh challenge; nonces may be reused with a new `nc`, replays are refused.
//! PATCH replaces the whole object, as the real API does (absent fields reset to their defaults).
//!
//! Served, per `contracts/atlas-federation-settings.yaml`: the connected-org configs (list, get,
//! PATCH, DELETE), their `roleMappings` sub-resource (list, create, get, PUT, DELETE), the
//! federation's `identityProviders` list and `GET /api/atlas/v2/orgs/{orgId}/federationSettings`.
//! Every error, unknown routes and methods included, is an `ApiError` JSON body.
//!
//! Guesses (the description does not say): removing the federation's only connected org is a 400
//! with errorCode `CANNOT_REMOVE_LAST_CONNECTED_ORG`; identity providers are the ones the
//! connected configs name (each SAML, WORKFORCE, ACTIVE); role-mapping ids in a PATCH body are
//! read-only and ignored (a mapping keeps its id by its `externalGroupName`).

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
    http::{Method, StatusCode, Uri},
    routing::get,
};
use serde_json::json;

use super::{EmulatorCore, with_core};
use routes::{
    AtlasDialect, create_role_mapping, delete_config, delete_role_mapping, get_config,
    get_role_mapping, list_configs, list_identity_providers, list_role_mappings,
    org_federation_settings, patch_config, update_role_mapping,
};
use state::{Inner, Shared};

pub use routes::api_error;
pub use wire::{OrgConfig, RoleAssignment, RoleMapping};

/// The realm Atlas names in its Digest challenges.
pub const REALM: &str = "MMS Public API";

/// The only resource version the federation endpoints define.
pub const VERSION: &str = "2023-01-01";

/// The emulator of one federation.
#[derive(Clone)]
pub struct AtlasEmulator {
    core: Arc<EmulatorCore>,
    state: Shared,
}

impl AtlasEmulator {
    /// An emulator that accepts one API key (`public_key`/`private_key`) for federation
    /// `federation_settings_id`, holding no connected organizations yet.
    pub fn new(
        public_key: impl Into<String>,
        private_key: impl Into<String>,
        federation_settings_id: impl Into<String>,
    ) -> Self {
        Self {
            core: EmulatorCore::new("atlas", AtlasDialect),
            state: Arc::new(Mutex::new(Inner {
                public_key: public_key.into(),
                private_key: private_key.into(),
                federation_settings_id: federation_settings_id.into(),
                orgs: BTreeMap::new(),
                idps: BTreeMap::new(),
                federated_domains: Vec::new(),
                nonces: HashMap::new(),
            })),
        }
    }

    pub fn core(&self) -> Arc<EmulatorCore> {
        self.core.clone()
    }

    pub fn router(&self) -> Router {
        let mut router = Router::new();
        for prefix in ["/api/atlas/v2", "/api/public/v1.0"] {
            let fed = format!("{prefix}/federationSettings/{{fed}}");
            let base = format!("{fed}/connectedOrgConfigs");
            for one in [format!("{base}/{{org}}"), format!("{base}/{{org}}/")] {
                router = router.route(
                    &one,
                    get(get_config).patch(patch_config).delete(delete_config),
                );
            }
            router = router
                .route(&base, get(list_configs))
                .route(
                    &format!("{base}/{{org}}/roleMappings"),
                    get(list_role_mappings).post(create_role_mapping),
                )
                .route(
                    &format!("{base}/{{org}}/roleMappings/{{id}}"),
                    get(get_role_mapping)
                        .put(update_role_mapping)
                        .delete(delete_role_mapping),
                )
                .route(
                    &format!("{fed}/identityProviders"),
                    get(list_identity_providers),
                )
                .route(
                    &format!("{prefix}/orgs/{{org}}/federationSettings"),
                    get(org_federation_settings),
                );
        }
        let router = router
            .fallback(|uri: Uri| async move {
                api_error(
                    StatusCode::NOT_FOUND,
                    "RESOURCE_NOT_FOUND",
                    &format!("Cannot find resource {}.", uri.path()),
                    vec![json!(uri.path())],
                )
            })
            .method_not_allowed_fallback(|method: Method, uri: Uri| async move {
                api_error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "METHOD_NOT_ALLOWED",
                    &format!("Method {method} is not allowed on {}.", uri.path()),
                    vec![json!(method.as_str())],
                )
            });
        with_core(router.with_state(self.state.clone()), self.core.clone())
    }
}
