//! Reconcile errors: each says whether to retry and what condition reason to show.

use crate::provider::{ErrorClass, ProviderError};

#[derive(thiserror::Error, Debug)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// A referenced object is missing or not ready; a watch on it brings the resource back.
    #[error("{message}")]
    Dependency {
        reason: &'static str,
        message: String,
    },
    /// The spec cannot be carried out as written (adoption conflicts, unsupported fields).
    #[error("{message}")]
    Refused {
        reason: &'static str,
        message: String,
    },
    #[error("finalizer: {0}")]
    Finalizer(String),
}

impl Error {
    pub fn dependency(reason: &'static str, message: impl Into<String>) -> Self {
        Self::Dependency {
            reason,
            message: message.into(),
        }
    }

    pub fn refused(reason: &'static str, message: impl Into<String>) -> Self {
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
            other @ Self::Kube(_) => other,
        }
    }

    /// Condition reason (a fixed label set, also used in metrics).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Kube(_) => "KubernetesError",
            Self::Provider(e) => e.reason(),
            Self::Dependency { reason, .. } | Self::Refused { reason, .. } => reason,
            Self::Finalizer(_) => "FinalizerError",
        }
    }

    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Kube(_) | Self::Finalizer(_) => ErrorClass::Transient,
            Self::Provider(e) => e.class(),
            Self::Dependency { .. } | Self::Refused { .. } => ErrorClass::Permanent,
        }
    }

    /// Whether it can clear without any change to this resource or a watched object: a missing
    /// dependency (it may arrive unwatched), a name or domain another object holds (it may be freed).
    pub fn clears_by_itself(&self) -> bool {
        match self {
            Self::Dependency { .. } => true,
            Self::Refused { reason, .. } => matches!(*reason, "NameTaken" | "AlreadyManaged"),
            Self::Provider(e) => matches!(e, ProviderError::Conflict(_)),
            _ => false,
        }
    }

    /// Whether only a person can clear it (kstatus' Stalled): a refused spec, a provider's
    /// refusal or bad credentials. A missing or unready dependency clears itself when the
    /// dependency appears (GitOps tools apply objects in any order), so it is not.
    pub fn stalls(&self) -> bool {
        !matches!(self, Self::Dependency { .. })
            && matches!(
                self.class(),
                ErrorClass::Permanent | ErrorClass::Credentials
            )
    }
}
