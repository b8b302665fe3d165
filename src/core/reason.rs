//! Every condition reason the operator writes, in one enum: the conditions, the metrics' `reason`
//! label and the Events of failures all take their reason from here, and
//! `deploy/argocd/health.lua` is checked against [`Reason::health_when_not_ready`] by a test.

/// How Argo CD's health check (`deploy/argocd/health.lua`) reads `Ready=False` with a reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotReadyHealth {
    /// The operator retries by itself: Progressing (the script's `retried` table).
    Progressing,
    /// A computed change waits for a person or for a writing operator: Suspended (`waiting`).
    Suspended,
    /// Waits for a change of the spec or of what it references: Degraded (the default).
    Degraded,
}

macro_rules! reasons {
    ($( $(#[$doc:meta])* $name:ident => $health:ident, )*) => {
        /// A condition reason (CamelCase, as Kubernetes conventions ask).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Reason {
            $( $(#[$doc])* $name, )*
        }

        impl Reason {
            /// Every reason, in declaration order.
            pub const ALL: &'static [Reason] = &[$(Reason::$name),*];

            /// The reason as written in conditions, Events and metrics labels.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Reason::$name => stringify!($name), )*
                }
            }

            /// How Argo CD reports a resource whose Ready condition is False for this reason.
            pub fn health_when_not_ready(self) -> NotReadyHealth {
                match self {
                    $( Reason::$name => NotReadyHealth::$health, )*
                }
            }
        }
    };
}

reasons! {
    // --- Never Ready=False: Ready or Synced True, the certificate conditions False, AwaitingApproval
    /// The AwaitingApproval condition's reason while a plan waits (Ready says AwaitingApproval).
    PlanPending => Degraded,
    /// Ready: the remote object matches the spec.
    Available => Degraded,
    /// Ready of a ProviderConfig: the provider accepted its credentials.
    CredentialsAccepted => Degraded,
    /// Synced: the provider was read and is up to date.
    ReconcileSuccess => Degraded,
    /// Synced of an ObserveOnly resource: the provider was read; nothing is written.
    Observed => Degraded,
    /// Synced while the `ssoperator.io/paused` annotation stops all writes.
    ReconcilePaused => Degraded,
    /// CertificateExpiring/CertificateExpired False: every IdP certificate in use is valid.
    CertificatesValid => Degraded,

    // --- Waits for a person or for a writing operator (Suspended)
    /// changePolicy Manual: the plan waits for `ssoperator.io/approve`.
    AwaitingApproval => Suspended,
    /// `--dry-run`: the operator would create, update, delete or adopt.
    WouldCreate => Suspended,
    WouldUpdate => Suspended,
    WouldDelete => Suspended,
    WouldAdopt => Suspended,

    // --- Retried by the operator (Progressing)
    /// The provider answered 5xx, timed out, or could not be reached.
    ProviderUnavailable => Progressing,
    /// The provider's rate limit (or the operator's own budget) makes the call wait.
    RateLimited => Progressing,
    /// A Kubernetes API call failed.
    KubernetesError => Progressing,
    /// Adding or removing the finalizer failed.
    FinalizerError => Progressing,
    /// A role mapping or profile waits for its EnterpriseConnection to be Ready.
    ConnectionNotReady => Progressing,

    // --- Waits for a change of the spec or of what it references (Degraded)
    /// The remote object differs and the resource may not write (ObserveOnly or paused).
    Drifted => Degraded,
    /// A lockout guard refused the plan; `ssoperator.io/allow-lockout` lets exactly it through.
    LockoutRisk => Degraded,
    /// The provider answered 404 where the object must exist.
    NotFound => Degraded,
    /// The provider refused a write that conflicts with another object.
    Conflict => Degraded,
    /// The provider refused the credentials.
    Unauthenticated => Degraded,
    /// The credentials lack a permission.
    Forbidden => Degraded,
    /// The provider refused the request as invalid.
    ProviderRejected => Degraded,
    /// The provider cannot hold what the spec asks for.
    Unsupported => Degraded,
    /// The provider's answer does not tell whether the object exists (never read as deleted).
    RemoteStateUnknown => Degraded,
    /// The spec is invalid in a way the CRD schema cannot express.
    InvalidSpec => Degraded,
    /// A ProviderConfig sets no provider block.
    InvalidProviderConfig => Degraded,
    /// A ProviderConfig's endpoint is not allowed.
    InvalidEndpoint => Degraded,
    /// A credentials Secret's value is not usable (not UTF-8).
    InvalidSecret => Degraded,
    /// An IdP certificate in the spec or its Secret cannot be parsed.
    InvalidCertificate => Degraded,
    /// The referenced ProviderConfig or ClusterProviderConfig does not exist.
    ProviderConfigNotFound => Degraded,
    /// A referenced Secret does not exist.
    SecretNotFound => Degraded,
    /// A referenced Secret lacks a key.
    SecretKeyNotFound => Degraded,
    /// A referenced Secret could not be read.
    SecretUnavailable => Degraded,
    /// The referenced EnterpriseConnection does not exist.
    ConnectionNotFound => Degraded,
    /// The remote object does not exist and will not be created.
    RemoteNotFound => Degraded,
    /// Another object of the same name exists at the provider.
    NameTaken => Degraded,
    /// Another resource manages the same remote object.
    AlreadyManaged => Degraded,
    /// A ClusterProviderConfig does not allow the resource's namespace.
    NamespaceNotAllowed => Degraded,
    /// The outputs Secret or ConfigMap belongs to something else.
    OutputsTargetTaken => Degraded,
    /// A ProviderConfig still used by resources that need it to delete their objects.
    InUse => Degraded,
    /// An IdP certificate in use expires within the warning threshold.
    CertificateExpiring => Degraded,
    /// An IdP certificate in use has expired.
    CertificateExpired => Degraded,
    /// The IdP metadata URL could not be fetched.
    IdpMetadataFetchFailed => Degraded,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The names of a `local <name> = { A = true, ... }` table of the health script.
    fn lua_table(script: &str, name: &str) -> BTreeSet<String> {
        let start = format!("local {name} = {{");
        let body = script
            .split_once(start.as_str())
            .and_then(|(_, rest)| rest.split_once('}'))
            .map(|(body, _)| body)
            .unwrap_or_else(|| panic!("health.lua has no table {name}"));
        body.split(',')
            .filter_map(|entry| entry.split_once('='))
            .map(|(key, _)| key.trim().to_string())
            .collect()
    }

    fn with_health(health: NotReadyHealth) -> BTreeSet<String> {
        Reason::ALL
            .iter()
            .filter(|r| r.health_when_not_ready() == health)
            .map(|r| r.as_str().to_string())
            .collect()
    }

    #[test]
    fn the_argocd_health_script_knows_every_retried_and_waiting_reason() {
        let script = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/argocd/health.lua"
        ));
        assert_eq!(
            lua_table(script, "retried"),
            with_health(NotReadyHealth::Progressing),
            "deploy/argocd/health.lua `retried` must list exactly the Progressing reasons"
        );
        assert_eq!(
            lua_table(script, "waiting"),
            with_health(NotReadyHealth::Suspended),
            "deploy/argocd/health.lua `waiting` must list exactly the Suspended reasons"
        );
    }

    #[test]
    fn reasons_are_unique_camel_case_words() {
        let names: BTreeSet<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), Reason::ALL.len());
        for n in names {
            assert!(
                n.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                    && n.chars().all(|c| c.is_ascii_alphanumeric()),
                "{n}"
            );
        }
    }
}
