//! Reconcile errors: each says whether to retry and what condition reason to show.

use crate::core::reason::Reason;
use crate::provider::{ErrorClass, ProviderError};

#[derive(thiserror::Error, Debug)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// A referenced object is missing or not ready; a watch on it brings the resource back.
    #[error("{message}")]
    Dependency { reason: Reason, message: String },
    /// The spec cannot be carried out as written (adoption conflicts, unsupported fields).
    #[error("{message}")]
    Refused { reason: Reason, message: String },
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// A write that was computed and held back: it waits for approval, a lockout override, or
    /// an operator that may write (dry run). Not a failure: nothing is retried until the plan
    /// or the resource changes, and the next resync looks again.
    #[error("{message}")]
    Held { hold: Hold, message: String },
}

/// Why a computed write was not made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// changePolicy Manual: the plan waits for ssoperator.io/approve.
    AwaitingApproval,
    /// A lockout guard refused it; ssoperator.io/allow-lockout lets exactly that plan through.
    LockoutRisk,
    /// --dry-run: the operator would create, update, delete or adopt.
    WouldCreate,
    WouldUpdate,
    WouldDelete,
    WouldAdopt,
}

impl Hold {
    pub fn reason(self) -> Reason {
        match self {
            Self::AwaitingApproval => Reason::AwaitingApproval,
            Self::LockoutRisk => Reason::LockoutRisk,
            Self::WouldCreate => Reason::WouldCreate,
            Self::WouldUpdate => Reason::WouldUpdate,
            Self::WouldDelete => Reason::WouldDelete,
            Self::WouldAdopt => Reason::WouldAdopt,
        }
    }
}

impl Error {
    pub fn dependency(reason: Reason, message: impl Into<String>) -> Self {
        Self::Dependency {
            reason,
            message: message.into(),
        }
    }

    pub fn refused(reason: Reason, message: impl Into<String>) -> Self {
        Self::Refused {
            reason,
            message: message.into(),
        }
    }

    /// The same error with every secret value in `secrets` cut out of its message.
    pub fn redacted(self, secrets: &crate::core::redact::Secrets) -> Self {
        let r = |m: &str| secrets.redact(m);
        match self {
            Self::Provider(e) => Self::Provider(e.redacted(r)),
            Self::Dependency { reason, message } => Self::Dependency {
                reason,
                message: r(&message),
            },
            Self::Refused { reason, message } => Self::Refused {
                reason,
                message: r(&message),
            },
            Self::Finalizer(m) => Self::Finalizer(r(&m)),
            Self::Held { hold, message } => Self::Held {
                hold,
                message: r(&message),
            },
            other @ Self::Kube(_) => other,
        }
    }

    /// Condition reason (a fixed label set, also used in metrics).
    pub fn reason(&self) -> Reason {
        match self {
            Self::Kube(_) => Reason::KubernetesError,
            Self::Provider(e) => e.reason(),
            Self::Dependency { reason, .. } | Self::Refused { reason, .. } => *reason,
            Self::Finalizer(_) => Reason::FinalizerError,
            Self::Held { hold, .. } => hold.reason(),
        }
    }

    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Kube(_) | Self::Finalizer(_) => ErrorClass::Transient,
            Self::Provider(e) => e.class(),
            Self::Dependency { .. } | Self::Refused { .. } | Self::Held { .. } => {
                ErrorClass::Permanent
            }
        }
    }

    /// Whether it can clear without any change to this resource or a watched object: a missing
    /// dependency (it may arrive unwatched), a name or domain another object holds (it may be freed).
    pub fn clears_by_itself(&self) -> bool {
        match self {
            Self::Dependency { .. } => true,
            Self::Refused { reason, .. } => {
                matches!(reason, Reason::NameTaken | Reason::AlreadyManaged)
            }
            Self::Provider(e) => matches!(e, ProviderError::Conflict(_)),
            _ => false,
        }
    }

    /// Whether only a person can clear it (kstatus' Stalled): a refused spec, a provider's
    /// refusal or bad credentials. A missing or unready dependency clears itself when the
    /// dependency appears (GitOps tools apply objects in any order), so it is not.
    pub fn stalls(&self) -> bool {
        if let Self::Held { hold, .. } = self {
            // A guard's refusal needs a person; the other holds are the expected way of work.
            return *hold == Hold::LockoutRisk;
        }
        !matches!(self, Self::Dependency { .. })
            && matches!(
                self.class(),
                ErrorClass::Permanent | ErrorClass::Credentials
            )
    }
}
