//! The provider layer: one trait, one module per SaaS, all of the same shape.
//!
//! Providers never import kube. They map the provider-neutral [`Desired`] state to their wire format,
//! read remote objects back as normalised [`Fields`] in the spec's own paths, and answer
//! observe/list/create/update/delete. The reconciler owns the flow (diff, conditions, requeue).

pub mod descriptor;
pub mod error;
pub mod http;

/// The behaviour suite every client passes against its emulator (tests only; never in the image).
#[cfg(any(test, feature = "testkit"))]
pub mod conformance;

use std::{fmt, sync::Arc, time::Duration};

use async_trait::async_trait;

pub use crate::core::desired::{Desired, ResourceKind};
pub use crate::core::diff::{Diff, Fields};
pub use descriptor::{CredentialValues, Descriptor};
pub use error::{ErrorClass, ProviderError};

/// Declares the providers: each line names a [`ProviderKind`] variant and its module, whose name
/// is the kind's [`ProviderKind::as_str`] (the ProviderConfig block, metrics label and status
/// value) and which exports a [`Descriptor`] as `DESCRIPTOR`. From the one list come the
/// modules, the enum and [`PROVIDERS`], the table the central code iterates.
macro_rules! providers {
    ($($variant:ident => $module:ident),+ $(,)?) => {
        $(pub mod $module;)+

        /// The supported providers.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ProviderKind {
            $($variant),+
        }

        impl ProviderKind {
            pub const ALL: [ProviderKind; PROVIDER_COUNT] = [$(Self::$variant),+];

            /// Lower-case name used in metrics labels, status and the ProviderConfig block.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => stringify!($module)),+
                }
            }

            /// Everything else the central code knows about the provider.
            pub fn descriptor(self) -> &'static Descriptor {
                match self {
                    $(Self::$variant => &$module::DESCRIPTOR),+
                }
            }
        }

        const PROVIDER_COUNT: usize = [$(stringify!($variant)),+].len();

        /// Every provider's descriptor, in [`ProviderKind::ALL`]'s order.
        pub const PROVIDERS: [&Descriptor; PROVIDER_COUNT] = [$(&$module::DESCRIPTOR),+];
    };
}

providers! {
    Qovery => qovery,
    Auth0 => auth0,
    LoginRadius => loginradius,
    Clerk => clerk,
    Atlas => atlas,
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a provider can do with one resource kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindCapabilities {
    pub kind: ResourceKind,
    /// The provider's API can create this object (otherwise it can only be adopted).
    pub create: bool,
    /// The provider's API can delete this object (otherwise deletion always orphans).
    pub delete: bool,
    /// Spec field paths (top level, in the spec's terms) this provider supports for the kind.
    pub fields: &'static [&'static str],
}

/// Everything a provider supports; a kind that is absent is not supported at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    pub kinds: Vec<KindCapabilities>,
}

impl Capabilities {
    pub fn kind(&self, kind: ResourceKind) -> Option<&KindCapabilities> {
        self.kinds.iter().find(|k| k.kind == kind)
    }
}

/// Values the provider generates that an identity-provider administrator needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Outputs {
    pub sp_entity_id: Option<String>,
    pub acs_url: Option<String>,
    pub sp_metadata_url: Option<String>,
    pub sp_certificate: Option<String>,
}

/// A remote object as observed.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Remote {
    /// The provider's id (the external name).
    pub id: String,
    /// The name the object is known by at the provider.
    pub name: String,
    /// Normalised values keyed by spec path, comparable with [`Provider::desired_fields`].
    pub fields: Fields,
    /// Provider-generated values for status.
    pub outputs: Outputs,
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    pub items: Vec<Remote>,
    /// Cursor for the next page; `None` on the last page.
    pub next: Option<String>,
}

/// Records each provider call (a metrics hook); the default does nothing.
pub trait CallObserver: Send + Sync {
    /// One HTTP call finished: provider, operation (e.g. "update"), outcome ("200", "429", "error").
    fn call(
        &self,
        provider: ProviderKind,
        operation: &'static str,
        outcome: &str,
        elapsed: Duration,
    );
    /// The client waited `wait` because of a rate limit (its own bucket or the provider's 429).
    fn rate_limit_wait(&self, provider: ProviderKind, wait: Duration);
}

/// A [`CallObserver`] that records nothing.
pub struct NoopObserver;

impl CallObserver for NoopObserver {
    fn call(&self, _: ProviderKind, _: &'static str, _: &str, _: Duration) {}
    fn rate_limit_wait(&self, _: ProviderKind, _: Duration) {}
}

/// The contract every provider client implements (Crossplane's ExternalClient, ACK's resource manager).
#[async_trait]
pub trait Provider: Send + Sync {
    fn kind(&self) -> ProviderKind;

    fn capabilities(&self) -> Capabilities;

    /// Pure: the normalised fields the desired state sets, in spec paths. Refuses with
    /// [`ProviderError::Unsupported`] what the provider cannot hold. Write-only values are left out.
    fn desired_fields(&self, desired: &Desired) -> Result<Fields, ProviderError>;

    /// Spec paths of write-only values (compared by hash, never read back) that `desired` sets.
    fn write_only_paths(&self, desired: &Desired) -> Vec<String>;

    /// Spec paths of values this provider accepts for `kind` but never returns (so a read cannot
    /// fill them; [`Provider::write_only_paths`] names those a given spec sets). `ssoperator
    /// export` turns a secret among them into a `secretRef` and lists the others.
    fn unreadable_paths(&self, _kind: ResourceKind) -> &'static [&'static str] {
        &[]
    }

    /// The spec fields that reproduce `remote`, keyed by spec path as [`Remote::fields`] is, for
    /// `ssoperator export` to un-flatten into a spec. The observed fields already are in the
    /// spec's paths and values; a provider whose comparison form differs from the spec's (Qovery's
    /// `role -> groups` dictionary) converts it back here. Pure.
    fn spec_fields(&self, _kind: ResourceKind, remote: &Remote) -> Fields {
        remote.fields.clone()
    }

    /// Checks that the credentials are accepted (cheapest authenticated read).
    async fn verify_credentials(&self) -> Result<(), ProviderError>;

    /// Reads one object by the provider's id; `Ok(None)` when it does not exist.
    async fn observe(&self, kind: ResourceKind, id: &str) -> Result<Option<Remote>, ProviderError>;

    /// Finds an object by its name (for adoption and to refuse duplicates).
    async fn find_by_name(
        &self,
        kind: ResourceKind,
        name: &str,
    ) -> Result<Option<Remote>, ProviderError>;

    /// Whether [`Provider::find_by_name`] finds the object by id (where the name is the id).
    /// Otherwise it matches the name, trimmed, and refuses a name that two objects share.
    fn name_is_id(&self, _kind: ResourceKind) -> bool {
        false
    }

    /// One page of the objects of a kind (the largest page the provider allows): the sweeps of
    /// [`crate::controller::observations`] read every object of an account this way. pass the previous page's `next` to continue.
    async fn list(&self, kind: ResourceKind, cursor: Option<String>)
    -> Result<Page, ProviderError>;

    /// Creates the object. Never retried blindly: a create is not idempotent.
    async fn create(&self, desired: &Desired) -> Result<Remote, ProviderError>;

    /// Closes `diff`. PATCH APIs send only the changed fields; PUT APIs send the observed object
    /// with the owned fields overlaid, so that fields owned by others are kept.
    async fn update(
        &self,
        id: &str,
        desired: &Desired,
        observed: &Remote,
        diff: &Diff,
    ) -> Result<Remote, ProviderError>;

    /// Deletes the object (for OrgRoleMapping: clears the role fields it owns). NotFound counts as done.
    async fn delete(&self, kind: ResourceKind, id: &str) -> Result<(), ProviderError>;
}

/// Shared handle to a provider client.
pub type DynProvider = Arc<dyn Provider>;

/// Refuses a spec field the provider does not support for a kind.
pub fn unsupported(provider: ProviderKind, what: impl Into<String>) -> ProviderError {
    ProviderError::Unsupported {
        provider: provider.as_str(),
        what: what.into(),
    }
}

/// Refuses a resource kind the provider does not manage (each provider's `check_kind`).
pub fn unsupported_kind(provider: ProviderKind, kind: ResourceKind) -> ProviderError {
    unsupported(provider, kind.as_str())
}
