//! Clerk Backend API emulator: `/v1/enterprise_connections` with Clerk's bearer secret-key auth,
//! `ClerkErrors` bodies, offset pagination (limit default 10, max 500, newest first) and the
//! documented PATCH rules (`domains: []` is no change, `organization_id` cannot be unlinked,
//! `provider` is not accepted). Write-only inputs are kept but never echoed. A refused key is a
//! 403 (the description lists no 401); names are not unique (only a domain in use is refused).

mod routes;
mod state;
mod validation;
pub mod wire;

use std::sync::Arc;

use axum::{Router, response::IntoResponse, routing::get};

use super::{EmulatorCore, with_core};
use routes::{authenticate, create, get_one, list, not_found, remove, update};
use state::Ctx;

pub use routes::{ApiError, ClerkDialect};
pub use state::WriteOnly;

/// Clerk's `provider` values for enterprise connections.
pub const PROVIDERS: [&str; 7] = [
    "saml_custom",
    "saml_okta",
    "saml_google",
    "saml_microsoft",
    "oidc_custom",
    "oidc_github_enterprise",
    "oidc_gitlab",
];

/// The Clerk Backend API emulator of one instance.
pub struct ClerkEmulator {
    core: Arc<EmulatorCore>,
    ctx: Ctx,
}

impl ClerkEmulator {
    /// `secret_key` is the only key accepted as `Authorization: Bearer <key>`.
    pub fn new(secret_key: impl Into<String>) -> Self {
        Self::with_instance(secret_key, "emulator")
    }

    /// As [`ClerkEmulator::new`]; `instance` names the Frontend API host
    /// (`clerk.<instance>.example`) in the generated SAML service-provider URLs.
    pub fn with_instance(secret_key: impl Into<String>, instance: &str) -> Self {
        let secret_key: String = secret_key.into();
        Self {
            core: EmulatorCore::new("clerk", ClerkDialect),
            ctx: Ctx {
                state: Arc::default(),
                secret_key: secret_key.into(),
                host: format!("clerk.{instance}.example").into(),
                api_version: Arc::default(),
            },
        }
    }

    pub fn core(&self) -> Arc<EmulatorCore> {
        self.core.clone()
    }

    pub fn router(&self) -> Router {
        let routes = Router::new()
            .route("/v1/enterprise_connections", get(list).post(create))
            .route(
                "/v1/enterprise_connections/{enterprise_connection_id}",
                get(get_one).patch(update).delete(remove),
            )
            .fallback(|| async { not_found().into_response() })
            .layer(axum::middleware::from_fn_with_state(
                self.ctx.clone(),
                authenticate,
            ))
            .with_state(self.ctx.clone());
        with_core(routes, self.core.clone())
    }
}
