//! LoginRadius emulator: organization identity-provider connections as LoginRadius' API
//! reference describes them.
//!
//! Documented by LoginRadius (its API reference, e.g.
//! <https://docs.demo.login2test.com/api-reference/organization-connections/UpdateOrganizationConnection>):
//! create (`POST …/connections`, 200 + the connection), update (`PUT …/connections/{connId}`),
//! delete (`DELETE …/connections/{connId}`, 200 `{"IsDeleted": true}`), the connection object
//! and the `{Description, ErrorCode, Message}` error body; credentials as the `apikey`/`apisecret`
//! query parameters (LoginRadius' Update Organization Connection reference) or the
//! `X-LoginRadius-ApiKey`/`X-LoginRadius-ApiSecret` headers
//! (LoginRadius' management-API pages). Both forms are accepted; [`LoginRadiusEmulator::query_credential_uses`]
//! counts the query form, so that tests can prove a client keeps credentials out of URLs.
//!
//! Guesses (LoginRadius does not document them), kept in one place so they are easy to revisit:
//! - UNDOCUMENTED READS: `GET …/connections/{connId}` exists and answers the connection object;
//!   the list pages with `pageindex` (1-based, default 1) and `pagesize` (default 20, at most 100)
//!   and answers `{ "Data": [...], "Count": total }`. The client must not trust them blindly (a
//!   bare 404 there is "unknown", not "deleted"); see `src/provider/loginradius/client.rs`.
//! - 81xx errors are HTTP 400 (8151 included); the client maps by `ErrorCode`, not by status.
//! - Wrong key: 403 with ErrorCode 901; wrong secret: 401 with ErrorCode 902.
//! - A header wins over the query parameter of the same credential when both are sent.
//! - 429 carries no rate-limit headers (none documented) and ErrorCode 429.
//! - PUT replaces every writable field: what the body leaves out is cleared (the safest reading
//!   for clients, which therefore send the whole object back). Fields the emulator does not model
//!   (a newer LoginRadius field, set with [`LoginRadiusEmulator::edit_connection`]) are stored and
//!   answered like the others, and cleared by a PUT that leaves them out.
//! - `Name`, `Domain` and `ConnectionType` are required; `ConnectionType` is one of the saml_*
//!   values of the CRD's idpType; `IsActive` defaults to true.
//! - `IDPCertificate.NotBefore/NotAfter` are set to now / now + 365 days when the certificate changes
//!   (the real service parses the certificate).

mod routes;
mod state;
#[cfg(test)]
mod tests;
mod validation;
pub mod wire;

use std::sync::{Arc, Mutex, atomic::AtomicUsize};

use axum::{Router, routing::get};

use super::EmulatorCore;
use routes::{create, delete, get_one, list, update};
use state::Inner;

pub use routes::LoginRadiusDialect;

/// Page size when `pagesize` is absent (guess).
pub const DEFAULT_PAGE_SIZE: usize = 20;

/// Largest `pagesize` honoured (guess).
pub const MAX_PAGE_SIZE: usize = 100;

/// An in-memory LoginRadius tenant with one organization.
#[derive(Clone)]
pub struct LoginRadiusEmulator {
    inner: Arc<Inner>,
    core: Arc<EmulatorCore>,
}

impl LoginRadiusEmulator {
    /// A tenant that accepts `api_key`/`api_secret` and holds organization `org_id`.
    /// Every domain belongs to the organization until [`Self::set_org_domains`] says otherwise.
    pub fn new(
        api_key: impl Into<String>,
        api_secret: impl Into<String>,
        org_id: impl Into<String>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                api_key: api_key.into(),
                api_secret: api_secret.into(),
                org_id: org_id.into(),
                site: "emulator".into(),
                data: Mutex::default(),
                query_credentials: AtomicUsize::new(0),
            }),
            core: EmulatorCore::new("loginradius", LoginRadiusDialect),
        }
    }

    pub fn core(&self) -> Arc<EmulatorCore> {
        self.core.clone()
    }

    pub fn router(&self) -> Router {
        let routes = Router::new()
            .route(
                "/v2/manage/organizations/{org_id}/connections",
                get(list).post(create),
            )
            .route(
                "/v2/manage/organizations/{org_id}/connections/{conn_id}",
                get(get_one).put(update).delete(delete),
            )
            .with_state(self.inner.clone());
        super::with_core(routes, self.core.clone())
    }
}
