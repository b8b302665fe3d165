//! After a sync: the certificate conditions, and the Events of a threshold crossing and of a
//! rotation.

#[allow(clippy::wildcard_imports)]
use super::*;

pub(super) fn seconds(rfc3339: &str) -> Option<i64> {
    rfc3339
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_second())
}

pub(super) fn state_of(status: &ManagedStatus) -> Expiry {
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
    // The fingerprint in full is in status.idpCertificates; its first bytes tell certificates of
    // one subject apart. Every stored copy and every write carries these messages.
    let what = format!(
        "the IdP certificate {} ({}…, from {}) expires at {}",
        cert.subject,
        short_fingerprint(&cert.sha256_fingerprint),
        cert.source,
        cert.not_after
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
                Reason::CertificatesValid,
                format!("{what}, after the {window} warning threshold"),
            ),
            Wanted::new(
                CERTIFICATE_EXPIRED,
                false,
                Reason::CertificatesValid,
                conditions::NO_CERTIFICATE_EXPIRED,
            ),
        ),
        Expiry::Expiring => (
            Wanted::new(
                CERTIFICATE_EXPIRING,
                true,
                Reason::CertificateExpiring,
                format!("{what}, within the {window} warning threshold"),
            ),
            Wanted::new(
                CERTIFICATE_EXPIRED,
                false,
                Reason::CertificateExpiring,
                conditions::NO_CERTIFICATE_EXPIRED,
            ),
        ),
        Expiry::Expired => (
            Wanted::new(
                CERTIFICATE_EXPIRING,
                false,
                Reason::CertificateExpired,
                what.replace("expires at", "expired at"),
            ),
            Wanted::new(
                CERTIFICATE_EXPIRED,
                true,
                Reason::CertificateExpired,
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
                Reason::CertificateExpired,
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
        let uid = uid_of(obj);
        let before = crossed
            .get(&uid)
            .filter(|(_, fp)| *fp == cert.sha256_fingerprint)
            .map_or(Expiry::Valid, |(s, _)| *s);
        // Valid is what a missing entry means: only the few resources past a threshold keep one.
        if state == Expiry::Valid {
            crossed.remove(&uid);
        } else {
            crossed.insert(uid, (state, cert.sha256_fingerprint.clone()));
        }
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

/// The first three bytes of a colon-separated fingerprint ("1B:76:11").
fn short_fingerprint(fingerprint: &str) -> &str {
    fingerprint.get(..8).unwrap_or(fingerprint)
}
