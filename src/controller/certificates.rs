//! IdP certificate expiry and rotation for SAML EnterpriseConnections.
//!
//! The reconcile flow calls in at four points, each one line in `reconcile.rs`:
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

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
    time::{Duration, Instant},
};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{
    Resource, ResourceExt,
    runtime::{
        events::{Event, EventType},
        reflector::Store,
    },
};

use super::{context::Context, error::Error, lock, managed::Managed};
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
    metrics::{CertificateCounter, CertificateLabels},
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

/// Largest IdP metadata document the operator reads.
pub const MAX_METADATA_BYTES: usize = 1024 * 1024;
/// Time limit of one metadata fetch (connect, redirects and body).
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// What this module keeps between reconciles (in memory; a restart fetches again).
pub struct State {
    http: Option<reqwest::Client>,
    /// The last metadata fetch per object uid.
    fetched: Mutex<HashMap<String, Fetched>>,
    /// What [`observe`] found, for [`complete`] in the same reconcile.
    prepared: Mutex<HashMap<String, Prepared>>,
    /// The metadata fetch failure last reported per object uid (reported once, not every time).
    failures: Mutex<HashMap<String, String>>,
    /// Objects whose desired state carries a new signing certificate from the IdP's metadata in
    /// this reconcile: the write that sends it is a rotation, not a drift repair.
    rotating: Mutex<std::collections::HashSet<String>>,
    /// The last threshold crossing (state, fingerprint) and rotation (new fingerprint) published
    /// per object uid: a reconcile can start from a copy that does not show the status written
    /// with them yet, and must not publish them again.
    crossed: Mutex<HashMap<String, (Expiry, String)>>,
    rotated_to: Mutex<HashMap<String, String>>,
}

struct Fetched {
    url: String,
    at: Instant,
    /// The certificates of the last metadata that parsed.
    certificates: Option<Vec<Certificate>>,
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
    reason: &'static str,
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
                reason: "SecretUnavailable",
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
            failures: Mutex::default(),
            rotating: Mutex::default(),
            crossed: Mutex::default(),
            rotated_to: Mutex::default(),
        }
    }

    /// Whether the object's desired state carries a new signing certificate from the IdP's
    /// metadata (see [`complete`]): a write now is a rotation, not a drift repair.
    pub fn rotating(&self, uid: &str) -> bool {
        lock(&self.rotating).contains(uid)
    }

    /// Forgets a deleted resource.
    pub fn forget(&self, uid: &str) {
        lock(&self.fetched).remove(uid);
        lock(&self.prepared).remove(uid);
        lock(&self.failures).remove(uid);
        lock(&self.rotating).remove(uid);
        lock(&self.crossed).remove(uid);
        lock(&self.rotated_to).remove(uid);
    }
}

/// The HTTP client of metadata fetches: the provider clients' trust (webpki roots plus
/// `--provider-ca-bundle`) and proxy settings, a time limit, and redirects only to the same
/// scheme and host.
fn metadata_client(config: &Config) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder();
    for cert in config.provider_roots()? {
        builder = builder.add_root_certificate(cert);
    }
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let first = attempt.previous().first().cloned();
        let same = first.is_some_and(|f| {
            f.scheme() == attempt.url().scheme()
                && f.host_str() == attempt.url().host_str()
                && f.port_or_known_default() == attempt.url().port_or_known_default()
        });
        if attempt.previous().len() > 5 {
            attempt.error("more than 5 redirects")
        } else if same {
            attempt.follow()
        } else {
            attempt.error("a redirect to another host or scheme")
        }
    });
    builder
        .timeout(METADATA_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .redirect(policy)
        .user_agent(concat!("ssoperator/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

/// Checks the metadata URL: https, or http to a loopback host (or anywhere with
/// `--idp-metadata-allow-http`).
pub fn check_metadata_url(raw: &str, allow_http: bool) -> Result<url::Url, String> {
    let u = url::Url::parse(raw.trim()).map_err(|e| format!("is not a URL: {e}"))?;
    let host = u.host().ok_or("has no host")?;
    match u.scheme() {
        "https" => Ok(u),
        "http" => {
            let loopback = match host {
                url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
                url::Host::Ipv4(ip) => ip.is_loopback(),
                url::Host::Ipv6(ip) => ip.is_loopback(),
            };
            if loopback || allow_http {
                Ok(u)
            } else {
                Err("must be https:// (plain http:// is fetched only from a loopback host, or with the operator flag --idp-metadata-allow-http)".into())
            }
        }
        other => Err(format!("must be an https:// URL, not {other}:")),
    }
}

/// Fetches a metadata document: a 2xx answer of at most [`MAX_METADATA_BYTES`]. Errors name the
/// host, never the whole URL (whose query may carry a token).
async fn fetch(client: &reqwest::Client, url: url::Url) -> Result<String, String> {
    let host = url.host_str().unwrap_or_default().to_string();
    let mut resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| crate::provider::http::transport_error(&e))?;
    if !resp.status().is_success() {
        return Err(format!("{host} answered HTTP {}", resp.status().as_u16()));
    }
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_METADATA_BYTES as u64)
    {
        return Err(format!(
            "{host} sent more than {MAX_METADATA_BYTES} bytes of metadata"
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| crate::provider::http::transport_error(&e))?
    {
        if body.len() + chunk.len() > MAX_METADATA_BYTES {
            return Err(format!(
                "{host} sent more than {MAX_METADATA_BYTES} bytes of metadata"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| format!("the metadata from {host} is not UTF-8 text"))
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
        source: source.to_string(),
        subject: c.subject.clone(),
        sha256_fingerprint: c.fingerprint.clone(),
        not_before: c.not_before_rfc3339(),
        not_after: c.not_after_rfc3339(),
        in_use,
    }
}

fn uid_of<K: Resource>(obj: &K) -> String {
    obj.uid().unwrap_or_default()
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
            reason: "InvalidCertificate",
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
    let (due, last) = {
        let fetched = lock(&state.fetched);
        match fetched.get(&uid) {
            Some(f) if f.url == url => (
                f.at.elapsed() >= ctx.config.idp_metadata_refresh,
                f.certificates.clone(),
            ),
            _ => (true, None),
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
    let certificates = match result {
        Ok(found) => {
            lock(&state.failures).remove(&uid);
            Some(found)
        }
        Err(message) => {
            let first =
                lock(&state.failures).insert(uid.clone(), message.clone()) != Some(message.clone());
            if first {
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
            last
        }
    };
    lock(&state.fetched).insert(
        uid,
        Fetched {
            url: url.to_string(),
            at: Instant::now(),
            certificates: certificates.clone(),
        },
    );
    certificates
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

fn seconds(rfc3339: &str) -> Option<i64> {
    rfc3339
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_second())
}

fn state_of(status: &ManagedStatus) -> Expiry {
    if conditions::is_true(&status.conditions, CERTIFICATE_EXPIRED) {
        Expiry::Expired
    } else if conditions::is_true(&status.conditions, CERTIFICATE_EXPIRING) {
        Expiry::Expiring
    } else {
        Expiry::Valid
    }
}

/// Sets the certificate conditions after a sync, and publishes the Events of a threshold crossing
/// and of a rotation (see the module doc). `synced`: the provider now holds the desired state.
pub async fn conclude<K: Managed>(
    ctx: &Context,
    obj: &K,
    old: &ManagedStatus,
    status: &mut ManagedStatus,
    synced: bool,
    generation: Option<i64>,
) {
    if obj.meta().uid.is_none() || obj.saml().is_none() {
        conditions::remove(&mut status.conditions, CERTIFICATE_EXPIRING);
        conditions::remove(&mut status.conditions, CERTIFICATE_EXPIRED);
        return;
    }
    let in_use = |s: &ManagedStatus| {
        s.idp_certificates
            .iter()
            .find(|e| e.source == FROM_METADATA_URL && e.in_use == Some(true))
            .cloned()
    };
    if !synced {
        // Not sent: the certificate in use is still the one before.
        let before = old
            .idp_certificates
            .iter()
            .filter(|e| e.source == FROM_METADATA_URL)
            .cloned();
        let mut kept: Vec<_> = status
            .idp_certificates
            .iter()
            .filter(|e| e.source != FROM_METADATA_URL)
            .cloned()
            .collect();
        if status
            .idp_certificates
            .iter()
            .any(|e| e.source == FROM_METADATA_URL)
        {
            kept.extend(before);
        }
        status.idp_certificates = kept;
    } else if let (Some(was), Some(now)) = (in_use(old), in_use(status))
        && was.sha256_fingerprint != now.sha256_fingerprint
        && lock(&ctx.certificates.rotated_to)
            .insert(uid_of(obj), now.sha256_fingerprint.clone())
            .as_ref()
            != Some(&now.sha256_fingerprint)
    {
        let provider = status.provider.clone().unwrap_or_default();
        publish(
            ctx,
            obj,
            EventType::Normal,
            "CertificateRotated",
            format!(
                "sent the IdP's new signing certificate {} ({}, valid until {}) to {provider}, replacing {} (valid until {})",
                now.sha256_fingerprint, now.subject, now.not_after, was.sha256_fingerprint, was.not_after
            ),
        )
        .await;
    }
    let earliest = status
        .idp_certificates
        .iter()
        .filter(|e| e.counts())
        .filter_map(|e| Some((seconds(&e.not_after)?, e)))
        .min_by_key(|(t, _)| *t);
    let Some((not_after, cert)) = earliest else {
        conditions::remove(&mut status.conditions, CERTIFICATE_EXPIRING);
        conditions::remove(&mut status.conditions, CERTIFICATE_EXPIRED);
        return;
    };
    let limit = threshold(ctx, obj);
    let now_secs = jiff::Timestamp::now().as_second();
    let state = certs::expiry(not_after, now_secs, limit);
    let what = format!(
        "the IdP certificate {} ({}, from {}) expires at {}",
        cert.sha256_fingerprint, cert.subject, cert.source, cert.not_after
    );
    let days = limit.as_secs() / 86_400;
    let hours = limit.as_secs() / 3600;
    let window = if days > 0 && limit.as_secs().is_multiple_of(86_400) {
        format!("{days}d")
    } else {
        format!("{hours}h")
    };
    let now = Time(jiff::Timestamp::now());
    let (expiring, expired) = match state {
        Expiry::Valid => (
            Wanted::new(
                CERTIFICATE_EXPIRING,
                false,
                "CertificatesValid",
                format!("{what}, after the {window} warning threshold"),
            ),
            Wanted::new(
                CERTIFICATE_EXPIRED,
                false,
                "CertificatesValid",
                what.clone(),
            ),
        ),
        Expiry::Expiring => (
            Wanted::new(
                CERTIFICATE_EXPIRING,
                true,
                "CertificateExpiring",
                format!("{what}, within the {window} warning threshold"),
            ),
            Wanted::new(
                CERTIFICATE_EXPIRED,
                false,
                "CertificateExpiring",
                what.clone(),
            ),
        ),
        Expiry::Expired => (
            Wanted::new(
                CERTIFICATE_EXPIRING,
                false,
                "CertificateExpired",
                what.replace("expires at", "expired at"),
            ),
            Wanted::new(
                CERTIFICATE_EXPIRED,
                true,
                "CertificateExpired",
                what.replace("expires at", "expired at"),
            ),
        ),
    };
    let message = match state {
        Expiry::Expired => expired.message.clone(),
        _ => expiring.message.clone(),
    };
    conditions::set(&mut status.conditions, expiring, generation, now.clone());
    conditions::set(&mut status.conditions, expired, generation, now.clone());
    if state == Expiry::Expired && conditions::is_true(&status.conditions, READY) {
        conditions::set(
            &mut status.conditions,
            Wanted::new(
                READY,
                false,
                "CertificateExpired",
                format!(
                    "{message}: sign-ins through this connection fail until the IdP certificate is replaced"
                ),
            ),
            generation,
            now,
        );
    }
    let published = {
        let mut crossed = lock(&ctx.certificates.crossed);
        let fingerprint = cert.sha256_fingerprint.clone();
        let before = crossed
            .get(&uid_of(obj))
            .filter(|(_, fp)| *fp == fingerprint)
            .map_or(Expiry::Valid, |(s, _)| *s);
        crossed.insert(uid_of(obj), (state, fingerprint));
        before
    };
    if state > state_of(old).max(published) {
        let reason = match state {
            Expiry::Expired => "CertificateExpired",
            _ => "CertificateExpiring",
        };
        publish(ctx, obj, EventType::Warning, reason, message).await;
    }
}

async fn publish<K: Managed>(ctx: &Context, obj: &K, type_: EventType, reason: &str, note: String) {
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: reason.into(),
        secondary: None,
    };
    if let Err(e) = ctx.events.publish(&ev, &obj.object_ref(&())).await {
        tracing::warn!(error = %e, "cannot publish event");
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
    Box::new(move || {
        let mut out = BTreeMap::new();
        for ec in connections.state() {
            let Some(status) = ec.status.as_ref() else {
                continue;
            };
            for c in status.idp_certificates.iter().filter(|c| c.counts()) {
                let Some(not_after) = seconds(&c.not_after) else {
                    continue;
                };
                out.insert(
                    CertificateLabels {
                        namespace: ec.namespace().unwrap_or_default(),
                        name: ec.name_any(),
                        kind: "EnterpriseConnection".into(),
                        provider: status.provider.clone().unwrap_or_default(),
                        fingerprint: c.sha256_fingerprint.clone(),
                    },
                    not_after,
                );
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn metadata_urls_must_be_https_except_to_loopback_or_with_the_flag() {
        for ok in [
            "https://idp.example.com/metadata",
            "http://127.0.0.1:8080/m",
            "http://localhost/m",
            "http://[::1]/m",
        ] {
            assert!(check_metadata_url(ok, false).is_ok(), "{ok}");
        }
        let e = check_metadata_url("http://idp.example.com/metadata", false).unwrap_err();
        assert!(e.contains("--idp-metadata-allow-http"), "{e}");
        assert!(check_metadata_url("http://idp.example.com/metadata", true).is_ok());
        assert!(check_metadata_url("file:///etc/passwd", true).is_err());
        assert!(check_metadata_url("ftp://idp.example.com/m", true).is_err());
        assert!(check_metadata_url("not a url", false).is_err());
    }

    fn remote_with(cert: Option<&str>) -> Remote {
        let mut fields = crate::core::diff::Fields::new();
        if let Some(c) = cert {
            fields.insert("saml.idpCertificate".into(), json!(c));
        }
        Remote {
            id: "c1".into(),
            name: "c".into(),
            fields,
            outputs: Default::default(),
        }
    }

    const CERT: &str = "MIIBxzCCAW2gAwIBAgIUOmgVxRNRvmMl4LODskWiSzKveYwwCgYIKoZIzj0EAwIwOTEdMBsGA1UEAwwUbG9naW4uZ2xvYmV4LmV4YW1wbGUxGDAWBgNVBAoMD0dsb2JleCBEZW1vIElkUDAeFw0yNjExMjMxMTMyMDhaFw0zNjExMjAxMTMyMDhaMDkxHTAbBgNVBAMMFGxvZ2luLmdsb2JleC5leGFtcGxlMRgwFgYDVQQKDA9HbG9iZXggRGVtbyBJZFAwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASkKefTCJg6Dh5KvHIdV8CqMN9Gz7LHGMRCs0Q8WjjhaAdsIOYMmVdwNQBhA+Xq4k8Wm2NcE+r4g3sZOpiU7/IYo1MwUTAdBgNVHQ4EFgQUhYmPB2Qh2QVWSoyWuNw95/Ln/t0wHwYDVR0jBBgwFoAUhYmPB2Qh2QVWSoyWuNw95/Ln/t0wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEA5DXcHPqeYh8lGuMOvxGj5bu/i0pBw+YCrlU2XNyYE/4CIHcOeN7SGu1ilIbLf+hKp7eAUapWO7Dgb1y8uLxl8Aoy";

    #[test]
    fn what_the_provider_holds_is_listed_only_when_the_spec_carries_no_certificate() {
        let mut status = ManagedStatus::default();
        observe_remote(&mut status, &remote_with(Some(CERT)));
        assert_eq!(status.idp_certificates.len(), 1);
        assert_eq!(status.idp_certificates[0].source, FROM_PROVIDER);
        assert_eq!(status.idp_certificates[0].not_after, "2036-11-20T11:32:08Z");
        // Gone at the provider: gone from status.
        observe_remote(&mut status, &remote_with(None));
        assert!(status.idp_certificates.is_empty());
        // A broken one is not listed, and nothing panics.
        observe_remote(&mut status, &remote_with(Some("MIIB%%")));
        assert!(status.idp_certificates.is_empty());
        // The spec's own certificate: the provider's copy is not listed beside it.
        status.idp_certificates.push(IdpCertificateStatus {
            source: FROM_INLINE.into(),
            ..Default::default()
        });
        observe_remote(&mut status, &remote_with(Some(CERT)));
        assert_eq!(status.idp_certificates.len(), 1);
        assert_eq!(status.idp_certificates[0].source, FROM_INLINE);
    }
}
