//! One normalised error type for every provider, so that the reconciler branches on meaning, not on HTTP codes.

use crate::core::reason::Reason;
use std::time::Duration;

/// What went wrong at a provider. Messages never contain secret values.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum ProviderError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The provider rejected the request as invalid; `field` names the offending field when it said so.
    #[error("invalid{}: {message}", field.as_ref().map(|f| format!(" {f}")).unwrap_or_default())]
    Invalid {
        message: String,
        field: Option<String>,
    },
    /// The provider asked us to slow down and wait `retry_after`. The message carries no number,
    /// so that a condition built from it stays the same while the wait counts down (the wait goes
    /// to logs as a field).
    #[error(
        "rate limited by the provider: every call of this account waits until the provider's limit resets"
    )]
    RateLimited { retry_after: Duration },
    /// 5xx, timeout or connection failure: worth retrying later.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// The provider's answer does not say whether the object exists: e.g. a bare 404 (no error
    /// code of the provider's own) to a read the provider does not document, which LoginRadius
    /// documents as "wrong endpoint or insufficient permissions". Never taken to mean "deleted",
    /// so nothing is re-created; reported until a person checks the key or the endpoint.
    #[error("remote state unknown: {0}")]
    Indeterminate(String),
    /// The spec asks for something this provider cannot do (a missing capability).
    #[error("not supported by {provider}: {what}")]
    Unsupported {
        provider: &'static str,
        what: String,
    },
}

/// How the reconciler should react to an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Retry with capped, jittered backoff.
    Transient,
    /// Retry after exactly this wait.
    RateLimited(Duration),
    /// Will not succeed until the spec, a Secret or the provider changes: report and wait.
    Permanent,
    /// Credentials were refused (401): also mark the ProviderConfig.
    Credentials,
}

impl ProviderError {
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Unavailable(_) => ErrorClass::Transient,
            Self::RateLimited { retry_after } => ErrorClass::RateLimited(*retry_after),
            Self::Unauthenticated(_) => ErrorClass::Credentials,
            // The key works but may not do this (e.g. a read-only key asked to write): this
            // resource's problem, not the account's, so the ProviderConfig stays Ready.
            Self::PermissionDenied(_)
            | Self::Indeterminate(_)
            | Self::NotFound(_)
            | Self::Conflict(_)
            | Self::Invalid { .. }
            | Self::Unsupported { .. } => ErrorClass::Permanent,
        }
    }

    /// A short, fixed label for metrics and condition reasons.
    pub fn reason(&self) -> Reason {
        match self {
            Self::NotFound(_) => Reason::NotFound,
            Self::Conflict(_) => Reason::Conflict,
            Self::Unauthenticated(_) => Reason::Unauthenticated,
            Self::PermissionDenied(_) => Reason::Forbidden,
            Self::Invalid { .. } => Reason::ProviderRejected,
            Self::RateLimited { .. } => Reason::RateLimited,
            Self::Unavailable(_) => Reason::ProviderUnavailable,
            Self::Unsupported { .. } => Reason::Unsupported,
            Self::Indeterminate(_) => Reason::RemoteStateUnknown,
        }
    }

    /// The same error with `redact` applied to every message it carries (see
    /// [`crate::core::redact::Secrets`]): a provider may quote the request in its message.
    pub fn redacted(self, redact: impl Fn(&str) -> String) -> Self {
        match self {
            Self::NotFound(m) => Self::NotFound(redact(&m)),
            Self::Conflict(m) => Self::Conflict(redact(&m)),
            Self::Unauthenticated(m) => Self::Unauthenticated(redact(&m)),
            Self::PermissionDenied(m) => Self::PermissionDenied(redact(&m)),
            Self::Invalid { message, field } => Self::Invalid {
                message: redact(&message),
                field,
            },
            Self::Unavailable(m) => Self::Unavailable(redact(&m)),
            Self::Indeterminate(m) => Self::Indeterminate(redact(&m)),
            Self::Unsupported { provider, what } => Self::Unsupported {
                provider,
                what: redact(&what),
            },
            other @ Self::RateLimited { .. } => other,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid {
            message: message.into(),
            field: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_message_does_not_change_with_the_wait() {
        let a = ProviderError::RateLimited {
            retry_after: Duration::from_millis(1500),
        };
        let b = ProviderError::RateLimited {
            retry_after: Duration::ZERO,
        };
        assert_eq!(a.to_string(), b.to_string());
        assert!(!a.to_string().chars().any(|c| c.is_ascii_digit()), "{a}");
    }
}
