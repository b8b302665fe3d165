//! IdP certificate expiry and rotation for SAML EnterpriseConnections.
//!
//! The reconcile flow calls in at four points, each one line in `reconcile/`:
//! - [`observe`], before the provider is read: the certificates the spec carries (inline, from a
//!   Secret, inside inline metadata) are parsed and listed in `status.idpCertificates`;
//! - [`complete`], once the desired state is built and the provider known: a certificate from a
//!   Secret is put in the desired state, a broken certificate stops the reconcile with a condition
//!   that names the field, and for a provider that holds a certificate the operator sends
//!   ([`PUSHES_METADATA_CERTIFICATE`]) the IdP metadata at `spec.saml.idpMetadataUrl` is fetched
//!   (at most every `--idp-metadata-refresh`) and its current signing certificate is sent;
//! - [`observe_remote`], with what the provider holds: the certificate a provider that fetches the
//!   metadata itself (LoginRadius) holds is listed when the spec carries none of its own;
//! - [`conclude`], after the sync: conditions CertificateExpiring and CertificateExpired (Ready
//!   False), a Warning Event when a threshold is crossed, an Event CertificateRotated when a new
//!   signing certificate was sent.
//!
//! The metric `ssoperator_idp_certificate_expiry_timestamp_seconds` is read from status at each
//! scrape ([`counter`]).

mod expiry;
mod metadata;

use crate::core::reason::Reason;
pub use expiry::conclude;
use expiry::seconds;
pub use metadata::{MAX_METADATA_BYTES, METADATA_TIMEOUT, check_metadata_url};
use metadata::{fetch, metadata_client};

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{
    Resource, ResourceExt,
    runtime::{events::EventType, reflector::Store},
};

use super::{
    context::Context, error::Error, lock, managed::Managed, reconcile::publish, watch::hash_of,
};
use crate::{
    config::Config,
    core::{
        certificates::{self as certs, Certificate, Expiry},
        conditions::{self, READY, Wanted},
        desired::Desired,
    },
    crd::{
        CERTIFICATE_EXPIRY_WARNING_ANNOTATION, EnterpriseConnection, IdpCertificateStatus,
        ManagedStatus,
    },
    metrics::{CertificateCounter, CertificateSeries},
    provider::Remote,
};

/// Condition: the earliest certificate in use expires within the threshold.
pub const CERTIFICATE_EXPIRING: &str = "CertificateExpiring";
/// Condition: a certificate in use has expired (Ready is False meanwhile).
pub const CERTIFICATE_EXPIRED: &str = "CertificateExpired";

/// `status.idpCertificates[].source` of each origin.
pub const FROM_INLINE: &str = "spec.saml.idpCertificate";
pub const FROM_SECRET: &str = "spec.saml.idpCertificateSecretRef";
pub const FROM_METADATA: &str = "spec.saml.idpMetadata";
pub const FROM_METADATA_URL: &str = "spec.saml.idpMetadataUrl";
pub const FROM_PROVIDER: &str = "provider";

/// Providers that take the IdP's signing certificate from the operator when the spec names a
/// metadata URL. Clerk accepts `idp_certificate` beside `idp_metadata_url` (docs/clerk.md) and
/// reads neither back, so the operator fetches the metadata and sends the certificate the IdP
/// publishes. LoginRadius is given the metadata URL and fetches it itself: the operator reports
/// the certificate it holds ([`observe_remote`]). Qovery holds no IdP settings.
pub const PUSHES_METADATA_CERTIFICATE: &[&str] = &["clerk"];

/// What this module keeps between reconciles (in memory; a restart fetches again).
pub struct State {
    http: Option<reqwest::Client>,
    /// The last metadata fetch per object uid (one entry per resource with a metadata URL, so
    /// it holds hashes rather than the URL and the message).
    fetched: Mutex<HashMap<u64, Fetched>>,
    /// What [`observe`] found, for [`complete`] in the same reconcile.
    prepared: Mutex<HashMap<u64, Prepared>>,
    /// Objects whose desired state carries a new signing certificate from the IdP's metadata in
    /// this reconcile: the write that sends it is a rotation, not a drift repair.
    rotating: Mutex<std::collections::HashSet<u64>>,
    /// The last threshold crossing (state, fingerprint) and rotation (new fingerprint) published
    /// per object uid: a reconcile can start from a copy that does not show the status written
    /// with them yet, and must not publish them again.
    crossed: Mutex<HashMap<u64, (Expiry, String)>>,
    rotated_to: Mutex<HashMap<u64, String>>,
}

struct Fetched {
    /// The hash of the URL fetched.
    url: u64,
    at: Instant,
    /// The DER of each certificate of the last metadata that parsed: parsed again when used,
    /// since one entry is kept per resource and the parsed form (PEM, subject, fingerprint) takes
    /// twice the memory in four allocations instead of two.
    certificates: Option<Box<[Box<[u8]>]>>,
    /// The hash of the failure last reported (reported once, not at every fetch); `None` after
    /// a fetch that worked.
    reported: Option<u64>,
}

#[derive(Default)]
struct Prepared {
    problem: Option<Problem>,
    /// The certificate of spec.saml.idpCertificateSecretRef, to send as idpCertificate.
    secret_pem: Option<String>,
}

/// An error kept until [`complete`] returns it ([`Error`] is not `Clone`).
struct Problem {
    dependency: bool,
    reason: Reason,
    message: String,
}

impl Problem {
    fn of(e: Error) -> Self {
        match e {
            Error::Dependency { reason, message } => Self {
                dependency: true,
                reason,
                message,
            },
            Error::Refused { reason, message } => Self {
                dependency: false,
                reason,
                message,
            },
            other => Self {
                dependency: true,
                reason: Reason::SecretUnavailable,
                message: other.to_string(),
            },
        }
    }
    fn error(self) -> Error {
        if self.dependency {
            Error::dependency(self.reason, self.message)
        } else {
            Error::refused(self.reason, self.message)
        }
    }
}

impl State {
    pub fn new(config: &Config) -> Self {
        Self {
            http: metadata_client(config)
                .map_err(|e| tracing::warn!(error = %e, "cannot build the IdP metadata client"))
                .ok(),
            fetched: Mutex::default(),
            prepared: Mutex::default(),
            rotating: Mutex::default(),
            crossed: Mutex::default(),
            rotated_to: Mutex::default(),
        }
    }

    /// Whether the object's desired state carries a new signing certificate from the IdP's
    /// metadata (see [`complete`]): a write now is a rotation, not a drift repair.
    pub fn rotating(&self, uid: &str) -> bool {
        lock(&self.rotating).contains(&hash_of(uid))
    }

    /// Forgets a deleted resource.
    pub fn forget(&self, uid: &str) {
        let uid = hash_of(uid);
        lock(&self.fetched).remove(&uid);
        lock(&self.prepared).remove(&uid);
        lock(&self.rotating).remove(&uid);
        lock(&self.crossed).remove(&uid);
        lock(&self.rotated_to).remove(&uid);
    }
}

/// The expiry warning threshold of `obj`: its annotation, else `--certificate-expiry-warning`.
fn threshold<K: Resource>(ctx: &Context, obj: &K) -> Duration {
    match obj.annotations().get(CERTIFICATE_EXPIRY_WARNING_ANNOTATION) {
        Some(v) => certs::parse_threshold(v).unwrap_or_else(|e| {
            tracing::warn!(name = %obj.name_any(), annotation = CERTIFICATE_EXPIRY_WARNING_ANNOTATION, error = %e, "ignored; --certificate-expiry-warning applies");
            ctx.config.certificate_expiry_warning
        }),
        None => ctx.config.certificate_expiry_warning,
    }
}

fn entry(source: &str, c: &Certificate, in_use: Option<bool>) -> IdpCertificateStatus {
    IdpCertificateStatus {
        source: source.into(),
        subject: c.subject.clone(),
        sha256_fingerprint: c.fingerprint.clone(),
        not_before: c.not_before_rfc3339(),
        not_after: c.not_after_rfc3339(),
        in_use,
    }
}

/// The key of `obj` in [`State`]'s maps: its uid's hash (one entry per resource in some of
/// them, and a uid takes an allocation of its own).
fn uid_of<K: Resource>(obj: &K) -> u64 {
    hash_of(obj.uid().unwrap_or_default())
}

/// Lists the certificates the spec carries in `status.idpCertificates` (see the module doc).
pub async fn observe<K: Managed>(ctx: &Context, obj: &K, status: &mut ManagedStatus) {
    let uid = uid_of(obj);
    let Some(saml) = obj.saml() else {
        status.idp_certificates.clear();
        lock(&ctx.certificates.prepared).remove(&uid);
        return;
    };
    let ns = obj.namespace().unwrap_or_default();
    let mut listed = Vec::new();
    let mut prepared = Prepared::default();
    let invalid = |field: String| {
        Some(Problem {
            dependency: false,
            reason: Reason::InvalidCertificate,
            message: field,
        })
    };
    if let Some(text) = &saml.idp_certificate {
        match certs::parse_text(text) {
            Ok(found) => listed.extend(found.iter().map(|c| entry(FROM_INLINE, c, None))),
            Err(e) => prepared.problem = invalid(format!("{FROM_INLINE} {e}")),
        }
    }
    if let Some(r) = &saml.idp_certificate_secret_ref {
        match super::managed::read_secret_key(ctx, &ns, FROM_SECRET, r).await {
            Ok(value) => match certs::parse_text(value.expose()) {
                Ok(found) => {
                    listed.extend(found.iter().map(|c| entry(FROM_SECRET, c, None)));
                    prepared.secret_pem = Some(value.expose().to_string());
                }
                Err(e) => {
                    prepared.problem = invalid(format!(
                        "{FROM_SECRET}: key {:?} of Secret {ns}/{} {e}",
                        r.key, r.name
                    ))
                }
            },
            Err(e) => prepared.problem = Some(Problem::of(e)),
        }
    }
    if let Some(xml) = &saml.idp_metadata {
        match certs::metadata_signing_certificates(xml) {
            Ok(found) => listed.extend(found.iter().map(|c| entry(FROM_METADATA, c, None))),
            Err(e) => prepared.problem = invalid(format!("{FROM_METADATA} {e}")),
        }
    }
    // What later steps list is kept until they look again.
    let url_set = saml.idp_metadata_url.is_some();
    listed.extend(
        status
            .idp_certificates
            .iter()
            .filter(|c| (c.source == FROM_METADATA_URL && url_set) || c.source == FROM_PROVIDER)
            .cloned(),
    );
    status.idp_certificates = listed;
    lock(&ctx.certificates.prepared).insert(uid, prepared);
}

/// Completes the desired state with the IdP certificate (see the module doc); an error names
/// the spec field whose certificate is broken.
pub async fn complete<K: Managed>(
    ctx: &Context,
    obj: &K,
    provider: &str,
    status: &mut ManagedStatus,
    desired: Desired,
) -> Result<Desired, Error> {
    let uid = uid_of(obj);
    lock(&ctx.certificates.rotating).remove(&uid);
    let prepared = lock(&ctx.certificates.prepared)
        .remove(&uid)
        .unwrap_or_default();
    if let Some(p) = prepared.problem {
        return Err(p.error());
    }
    let Desired::Connection(mut c) = desired else {
        return Ok(desired);
    };
    let Some(saml) = c.saml.as_mut() else {
        return Ok(Desired::Connection(c));
    };
    if let Some(pem) = prepared.secret_pem {
        saml.idp_certificate = Some(pem);
    }
    let Some(url) = saml.idp_metadata_url.clone() else {
        return Ok(Desired::Connection(c));
    };
    if !PUSHES_METADATA_CERTIFICATE.contains(&provider) {
        status
            .idp_certificates
            .retain(|e| e.source != FROM_METADATA_URL);
        return Ok(Desired::Connection(c));
    }
    let Some(published) = published_certificates(ctx, obj, &url).await else {
        return Ok(Desired::Connection(c));
    };
    let current = status
        .idp_certificates
        .iter()
        .find(|e| e.source == FROM_METADATA_URL && e.in_use == Some(true))
        .map(|e| e.sha256_fingerprint.clone());
    let now = jiff::Timestamp::now().as_second();
    // A certificate the spec sets itself wins: the metadata's are then only listed (not in use).
    let sends = saml.idp_certificate.is_none() && saml.idp_metadata.is_none();
    let chosen = certs::select_signing(&published, current.as_deref(), now, threshold(ctx, obj))
        .filter(|_| sends);
    status
        .idp_certificates
        .retain(|e| e.source != FROM_METADATA_URL);
    status.idp_certificates.extend(
        published
            .iter()
            .enumerate()
            .map(|(i, p)| entry(FROM_METADATA_URL, p, Some(Some(i) == chosen))),
    );
    if let Some(i) = chosen {
        saml.idp_certificate = Some(published[i].pem.clone());
        if current.is_some_and(|fp| fp != published[i].fingerprint) {
            lock(&ctx.certificates.rotating).insert(uid);
        }
    }
    Ok(Desired::Connection(c))
}

/// The signing certificates the IdP publishes at `url`: fetched again once
/// `--idp-metadata-refresh` has passed (or the URL changed), else the last ones. A failure is
/// reported once in a Warning Event and the last good certificates stay in use.
async fn published_certificates<K: Managed>(
    ctx: &Context,
    obj: &K,
    url: &str,
) -> Option<Vec<Certificate>> {
    let uid = uid_of(obj);
    let state = &ctx.certificates;
    let url_hash = hash_of(url);
    let (due, last, reported) = {
        let fetched = lock(&state.fetched);
        match fetched.get(&uid) {
            Some(f) if f.url == url_hash => (
                f.at.elapsed() >= ctx.config.idp_metadata_refresh,
                f.certificates.as_deref().map(unpack),
                f.reported,
            ),
            f => (true, None, f.and_then(|f| f.reported)),
        }
    };
    if !due {
        return last;
    }
    let result = match (
        check_metadata_url(url, ctx.config.idp_metadata_allow_http),
        &state.http,
    ) {
        (Err(e), _) => Err(format!("{FROM_METADATA_URL} {e}")),
        (Ok(_), None) => Err("no HTTP client for IdP metadata (see the operator log)".into()),
        (Ok(u), Some(client)) => fetch(client, u)
            .await
            .map_err(|e| format!("{FROM_METADATA_URL}: cannot fetch the IdP metadata: {e}"))
            .and_then(|xml| {
                certs::metadata_signing_certificates(&xml)
                    .map_err(|e| format!("{FROM_METADATA_URL}: the IdP metadata {e}"))
            }),
    };
    let (certificates, reported) = match result {
        Ok(found) => (Some(found), None),
        Err(message) => {
            let failure = hash_of(&message);
            if reported != Some(failure) {
                tracing::warn!(name = %obj.name_any(), namespace = %obj.namespace().unwrap_or_default(), error = %message, "IdP metadata fetch failed");
                publish(
                    ctx,
                    obj,
                    EventType::Warning,
                    "IdpMetadataFetchFailed",
                    message,
                )
                .await;
            }
            (last, Some(failure))
        }
    };
    lock(&state.fetched).insert(
        uid,
        Fetched {
            url: url_hash,
            at: Instant::now(),
            certificates: certificates.as_deref().map(pack),
            reported,
        },
    );
    certificates
}

/// The DER of each certificate, to keep.
fn pack(certificates: &[Certificate]) -> Box<[Box<[u8]>]> {
    certificates
        .iter()
        .map(|c| c.der().into_boxed_slice())
        .collect()
}

/// The certificates kept by [`pack`] (each parsed before, so each parses again).
fn unpack(ders: &[Box<[u8]>]) -> Vec<Certificate> {
    ders.iter()
        .filter_map(|der| certs::parse_der(der).ok())
        .collect()
}

/// Lists the certificate the provider holds when the spec carries none of its own (a provider
/// that fetches the metadata at idpMetadataUrl itself echoes what it found).
pub fn observe_remote(status: &mut ManagedStatus, remote: &Remote) {
    status
        .idp_certificates
        .retain(|c| c.source != FROM_PROVIDER);
    if status
        .idp_certificates
        .iter()
        .any(|c| c.source != FROM_PROVIDER)
    {
        return;
    }
    let Some(pem) = remote
        .fields
        .get("saml.idpCertificate")
        .and_then(|v| v.as_str())
    else {
        return;
    };
    match certs::parse_text(pem) {
        Ok(found) => status
            .idp_certificates
            .extend(found.iter().map(|c| entry(FROM_PROVIDER, c, None))),
        Err(e) => tracing::warn!(error = %e, "the certificate the provider holds does not parse"),
    }
}

/// The resync period of `obj`, shortened so that the next reconcile comes when a certificate in
/// use crosses the warning threshold or expires, or when its metadata is due to be fetched again,
/// if that is sooner (and not below [`crate::crd::MIN_RESYNC_PERIOD`]; a sooner crossing is seen
/// at the next resync).
pub fn resync_period<K: Managed>(
    ctx: &Context,
    obj: &K,
    status: &ManagedStatus,
    period: Option<Duration>,
) -> Option<Duration> {
    if obj.saml().is_none() {
        return period;
    }
    let limit = threshold(ctx, obj);
    let now = jiff::Timestamp::now().as_second();
    let warn = i64::try_from(limit.as_secs()).unwrap_or(i64::MAX);
    let mut next: Option<Duration> = status
        .idp_certificates
        .iter()
        .filter(|e| e.counts())
        .filter_map(|e| seconds(&e.not_after))
        .flat_map(|t| [t.saturating_sub(warn), t])
        .filter(|t| *t > now)
        .min()
        .map(|t| Duration::from_secs(u64::try_from(t - now).unwrap_or(0) + 1));
    if obj.saml().is_some_and(|s| s.idp_metadata_url.is_some()) {
        let refresh = ctx.config.idp_metadata_refresh;
        next = Some(next.map_or(refresh, |n| n.min(refresh)));
    }
    let current = period.unwrap_or(ctx.config.resync);
    match next {
        Some(n) if n < current && n >= crate::crd::MIN_RESYNC_PERIOD => Some(n),
        _ => period,
    }
}

/// Reads `ssoperator_idp_certificate_expiry_timestamp_seconds` from the connections' status at
/// each scrape: one series per certificate in use (a fingerprint listed twice counts once).
pub fn counter(connections: Store<EnterpriseConnection>) -> CertificateCounter {
    Box::new(move |visit| {
        for ec in connections.state() {
            let Some(status) = ec.status.as_ref() else {
                continue;
            };
            let mut seen: Vec<&str> = Vec::new();
            for c in status.idp_certificates.iter().filter(|c| c.counts()) {
                let fingerprint = c.sha256_fingerprint.as_str();
                let Some(not_after) = seconds(&c.not_after) else {
                    continue;
                };
                if seen.contains(&fingerprint) {
                    continue;
                }
                seen.push(fingerprint);
                visit(CertificateSeries {
                    namespace: ec.metadata.namespace.as_deref().unwrap_or_default(),
                    name: ec.metadata.name.as_deref().unwrap_or_default(),
                    kind: "EnterpriseConnection",
                    provider: status.provider.as_deref().unwrap_or_default(),
                    fingerprint,
                    not_after,
                });
            }
        }
    })
}

#[cfg(test)]
mod tests;
