//! IdP signing certificates: parsed from PEM, base64 DER or SAML metadata XML, judged against an
//! expiry threshold, and the one to send to a provider chosen among those an IdP publishes.
//! Pure: no I/O, no clock (the caller passes `now`).

use std::time::Duration;

use sha2::{Digest, Sha256};

/// One parsed X.509 certificate, with what status and the provider need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    /// The subject's distinguished name (RFC 4514 order, as x509-parser prints it).
    pub subject: String,
    /// SHA-256 of the DER, upper-case hex pairs separated by colons (as `openssl x509
    /// -fingerprint -sha256` prints it).
    pub fingerprint: String,
    /// Validity, in seconds since the Unix epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// The certificate as one PEM block (64-column base64), what a provider is sent.
    pub pem: String,
}

impl Certificate {
    /// The DER it was parsed from (its PEM's body): [`parse_der`] of it gives it back.
    pub fn der(&self) -> Vec<u8> {
        let body = self
            .pem
            .trim()
            .trim_start_matches(BEGIN)
            .trim_end_matches(END);
        base64_decode(body).unwrap_or_default()
    }
    pub fn not_before_rfc3339(&self) -> String {
        rfc3339(self.not_before)
    }
    pub fn not_after_rfc3339(&self) -> String {
        rfc3339(self.not_after)
    }
}

/// A Unix time as RFC 3339 (UTC, seconds); out-of-range values print as the number itself.
pub fn rfc3339(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| secs.to_string())
}

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// Parses the DER of one certificate.
pub fn parse_der(der: &[u8]) -> Result<Certificate, String> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("is not an X.509 certificate: {e}"))?;
    if !rest.is_empty() {
        return Err(format!(
            "is not an X.509 certificate: {} bytes after its end",
            rest.len()
        ));
    }
    let validity = cert.validity();
    Ok(Certificate {
        subject: cert.subject().to_string(),
        fingerprint: fingerprint(der),
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        pem: to_pem(der),
    })
}

/// SHA-256 of `der` as `AB:CD:...`.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn to_pem(der: &[u8]) -> String {
    let b64 = base64_encode(der);
    let mut out = String::from(BEGIN);
    out.push('\n');
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(END);
    out.push('\n');
    out
}

fn base64_encode(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64, whitespace ignored; the error says what is wrong.
fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let clean: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if clean.is_empty() {
        return Err("is empty".into());
    }
    if !clean.len().is_multiple_of(4) {
        return Err(format!(
            "is not valid base64: {} characters, not a multiple of 4",
            clean.len()
        ));
    }
    let value = |b: u8| -> Option<u32> {
        Some(match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(clean.len() / 4 * 3);
    let chunks = clean.len() / 4;
    for (i, c) in clean.chunks(4).enumerate() {
        let pad = c.iter().rev().take_while(|b| **b == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != chunks) {
            return Err("is not valid base64: '=' padding in the middle".into());
        }
        let mut n = 0u32;
        for (j, b) in c.iter().enumerate() {
            let v = if j >= 4 - pad {
                0
            } else {
                value(*b).ok_or_else(|| {
                    format!(
                        "is not valid base64: character {:?} is not in the base64 alphabet",
                        char::from(*b)
                    )
                })?
            };
            n = (n << 6) | v;
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Ok(out)
}

/// Parses one or more certificates: PEM blocks (a chain), or the base64 of one DER alone (as
/// SAML metadata and some IdP consoles give it). The error says what is wrong, for the caller to
/// prefix with the field.
pub fn parse_text(text: &str) -> Result<Vec<Certificate>, String> {
    let t = text.trim();
    if !t.contains("-----BEGIN") {
        let der = base64_decode(t)?;
        return parse_der(&der).map(|c| vec![c]);
    }
    let mut out = Vec::new();
    let mut rest = t;
    while let Some(start) = rest.find("-----BEGIN") {
        let block = &rest[start..];
        let header_end = block[5..]
            .find("-----")
            .map(|i| i + 10)
            .ok_or("is not PEM: a -----BEGIN line is not closed")?;
        // `get`: no panic on a header too short or not ASCII ("-----BEGIN-----").
        let label = block
            .get(11..header_end.saturating_sub(5))
            .map_or("", str::trim);
        if label != "CERTIFICATE" {
            return Err(format!(
                "holds a PEM {label:?} block, not a CERTIFICATE (only certificates belong here)"
            ));
        }
        let body_and_end = &block[header_end..];
        let end = body_and_end.find(END).ok_or_else(|| {
            format!(
                "is not PEM: certificate {} has no {END} line",
                out.len() + 1
            )
        })?;
        let n = out.len() + 1;
        let der = base64_decode(&body_and_end[..end])
            .map_err(|e| format!("is not PEM: the body of certificate {n} {e}"))?;
        out.push(parse_der(&der).map_err(|e| format!("certificate {n} {e}"))?);
        rest = &body_and_end[end + END.len()..];
    }
    if !rest.trim().is_empty() {
        return Err("is not PEM: text after the last -----END CERTIFICATE----- line".into());
    }
    Ok(out)
}

/// The signing certificates of an IdP's SAML metadata: the `X509Certificate`s of the
/// `KeyDescriptor`s of its `IDPSSODescriptor` whose `use` is `signing` or absent (any
/// `KeyDescriptor` when there is no IDPSSODescriptor), each once, in document order.
pub fn metadata_signing_certificates(xml: &str) -> Result<Vec<Certificate>, String> {
    // roxmltree refuses DTDs by default: no entity expansion from IdP input.
    let doc = roxmltree::Document::parse(xml.trim()).map_err(|e| format!("is not XML: {e}"))?;
    let root = doc.root_element().tag_name().name();
    if !matches!(root, "EntityDescriptor" | "EntitiesDescriptor") {
        return Err(format!(
            "is XML but not SAML metadata: the root element is <{root}>, not <EntityDescriptor>"
        ));
    }
    let idp = doc
        .descendants()
        .any(|n| n.has_tag_name("IDPSSODescriptor"));
    let mut out: Vec<Certificate> = Vec::new();
    for kd in doc
        .descendants()
        .filter(|n| n.has_tag_name("KeyDescriptor"))
    {
        let under_idp = kd.ancestors().any(|a| a.has_tag_name("IDPSSODescriptor"));
        if idp && !under_idp {
            continue;
        }
        if kd.attribute("use").is_some_and(|u| u != "signing") {
            continue;
        }
        for x in kd
            .descendants()
            .filter(|n| n.has_tag_name("X509Certificate"))
        {
            let text: String = x
                .descendants()
                .filter(|n| n.is_text())
                .filter_map(|n| n.text())
                .collect();
            let n = out.len() + 1;
            let der = base64_decode(&text)
                .map_err(|e| format!("signing certificate {n}: the X509Certificate {e}"))?;
            let cert = parse_der(&der).map_err(|e| format!("signing certificate {n} {e}"))?;
            if !out.iter().any(|c| c.fingerprint == cert.fingerprint) {
                out.push(cert);
            }
        }
    }
    if out.is_empty() {
        return Err(
            "names no signing certificate (no KeyDescriptor with an X509Certificate)".into(),
        );
    }
    Ok(out)
}

/// Where a certificate stands against the expiry threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Expiry {
    Valid,
    /// notAfter is within the threshold.
    Expiring,
    /// notAfter has passed.
    Expired,
}

pub fn expiry(not_after: i64, now: i64, threshold: Duration) -> Expiry {
    let threshold = i64::try_from(threshold.as_secs()).unwrap_or(i64::MAX);
    if not_after <= now {
        Expiry::Expired
    } else if not_after - now <= threshold {
        Expiry::Expiring
    } else {
        Expiry::Valid
    }
}

/// Which of the certificates an IdP publishes to send to a provider that holds one: the one sent
/// before (`current`, by fingerprint) while the IdP still publishes it and it is not within the
/// threshold; otherwise the valid one (notBefore passed) that lasts longest, so that a new
/// certificate published beside the old one replaces it before the old one expires, and a
/// certificate that replaced the old one outright is taken at once. None when `certs` is empty.
pub fn select_signing(
    certs: &[Certificate],
    current: Option<&str>,
    now: i64,
    threshold: Duration,
) -> Option<usize> {
    if let Some(i) = current.and_then(|fp| certs.iter().position(|c| c.fingerprint == fp))
        && expiry(certs[i].not_after, now, threshold) == Expiry::Valid
    {
        return Some(i);
    }
    let started = |c: &Certificate| c.not_before <= now;
    let best = |pool: &mut dyn Iterator<Item = (usize, &Certificate)>| {
        pool.max_by_key(|(_, c)| c.not_after).map(|(i, _)| i)
    };
    best(&mut certs.iter().enumerate().filter(|(_, c)| started(c)))
        .or_else(|| best(&mut certs.iter().enumerate()))
}

/// Parses a threshold such as `30d`, `720h` or `90m` (see [`crate::config::parse_duration`]).
pub fn parse_threshold(s: &str) -> Result<Duration, String> {
    crate::config::parse_duration(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate, valid 2026-11-23 to 2036-11-20 (examples/loginradius.yaml's).
    const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBxzCCAW2gAwIBAgIUOmgVxRNRvmMl4LODskWiSzKveYwwCgYIKoZIzj0EAwIw
OTEdMBsGA1UEAwwUbG9naW4uZ2xvYmV4LmV4YW1wbGUxGDAWBgNVBAoMD0dsb2Jl
eCBEZW1vIElkUDAeFw0yNjExMjMxMTMyMDhaFw0zNjExMjAxMTMyMDhaMDkxHTAb
BgNVBAMMFGxvZ2luLmdsb2JleC5leGFtcGxlMRgwFgYDVQQKDA9HbG9iZXggRGVt
byBJZFAwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASkKefTCJg6Dh5KvHIdV8Cq
MN9Gz7LHGMRCs0Q8WjjhaAdsIOYMmVdwNQBhA+Xq4k8Wm2NcE+r4g3sZOpiU7/IY
o1MwUTAdBgNVHQ4EFgQUhYmPB2Qh2QVWSoyWuNw95/Ln/t0wHwYDVR0jBBgwFoAU
hYmPB2Qh2QVWSoyWuNw95/Ln/t0wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD
AgNIADBFAiEA5DXcHPqeYh8lGuMOvxGj5bu/i0pBw+YCrlU2XNyYE/4CIHcOeN7S
Gu1ilIbLf+hKp7eAUapWO7Dgb1y8uLxl8Aoy
-----END CERTIFICATE-----";

    fn body(pem: &str) -> String {
        pem.lines().filter(|l| !l.starts_with("-----")).collect()
    }

    /// A certificate with chosen validity, made here (not a fixture).
    fn made(cn: &str, not_before: i64, not_after: i64) -> String {
        let mut params = rcgen::CertificateParams::new(vec![format!("{cn}.example")]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.not_before = time::OffsetDateTime::from_unix_timestamp(not_before).unwrap();
        params.not_after = time::OffsetDateTime::from_unix_timestamp(not_after).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn a_good_certificate_gives_subject_fingerprint_and_dates() {
        let certs = parse_text(CERT).unwrap();
        assert_eq!(certs.len(), 1);
        let c = &certs[0];
        assert!(
            c.subject.contains("CN=login.globex.example"),
            "{}",
            c.subject
        );
        assert_eq!(c.not_before_rfc3339(), "2026-11-23T11:32:08Z");
        assert_eq!(c.not_after_rfc3339(), "2036-11-20T11:32:08Z");
        assert_eq!(c.fingerprint.len(), 32 * 3 - 1);
        assert!(
            c.fingerprint
                .chars()
                .all(|ch| ch == ':' || ch.is_ascii_hexdigit() && !ch.is_ascii_lowercase())
        );
        // The same certificate as base64 alone, and re-encoded PEM, parse the same.
        assert_eq!(parse_text(&body(CERT)).unwrap(), certs);
        assert_eq!(parse_text(&c.pem).unwrap(), certs);
        assert_eq!(body(&c.pem), body(CERT));
        assert_eq!(parse_der(&c.der()).as_ref(), Ok(c));
    }

    #[test]
    fn a_chain_of_two_gives_both_in_order() {
        let a = made("leaf", 1_700_000_000, 1_900_000_000);
        let b = made("issuer", 1_600_000_000, 2_000_000_000);
        let certs = parse_text(&format!("{a}\n{b}")).unwrap();
        assert_eq!(certs.len(), 2);
        assert!(certs[0].subject.contains("CN=leaf"));
        assert!(certs[1].subject.contains("CN=issuer"));
        assert_eq!(certs[0].not_after, 1_900_000_000);
        assert_eq!(certs[1].not_before, 1_600_000_000);
        assert_ne!(certs[0].fingerprint, certs[1].fingerprint);
    }

    #[test]
    fn bad_pem_and_bad_base64_are_errors_not_panics() {
        let unclosed = CERT.replace(END, "");
        assert!(
            parse_text(&unclosed)
                .unwrap_err()
                .contains("END CERTIFICATE")
        );
        let key = CERT.replace("CERTIFICATE", "PRIVATE KEY");
        assert!(parse_text(&key).unwrap_err().contains("\"PRIVATE KEY\""));
        let garbage_body = format!("{BEGIN}\nnot*base64!\n{END}");
        let e = parse_text(&garbage_body).unwrap_err();
        assert!(e.contains("base64"), "{e}");
        let not_der = format!("{BEGIN}\naGVsbG8gd29ybGQh\n{END}");
        let e = parse_text(&not_der).unwrap_err();
        assert!(e.contains("not an X.509 certificate"), "{e}");
        for bad in ["MIIB%%%", "MIIBxzCC", "", "MII=AAAA"] {
            assert!(parse_text(bad).is_err(), "{bad:?}");
        }
        let e = parse_text("MIIB%%%x").unwrap_err();
        assert!(e.contains("'%'"), "{e}");
        for odd in [
            "-----BEGIN-----\nAAAA\n-----END-----",
            "-----BEGIN\u{e9}-----\nAAAA\n-----END CERTIFICATE-----",
            "-----BEGIN CERTIFICATE",
            "-----BEGIN CERTIFICATE-----",
            "x -----BEGIN \u{1F600}\u{1F600}-----",
        ] {
            assert!(parse_text(odd).is_err(), "{odd:?}");
        }
        let trailing = format!("{CERT}\nextra");
        assert!(
            parse_text(&trailing)
                .unwrap_err()
                .contains("after the last")
        );
        // Truncated DER.
        let b = body(CERT);
        let cut = &b[..b.len() - 8];
        assert!(parse_text(cut).is_err());
    }

    fn metadata(signing: &[&str], encryption: &[&str]) -> String {
        let kd = |use_: Option<&str>, pem: &str| {
            let attr = use_.map(|u| format!(" use=\"{u}\"")).unwrap_or_default();
            format!(
                "<md:KeyDescriptor{attr}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>\n{}\n</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>",
                body(pem)
            )
        };
        let mut kds = String::new();
        for (i, s) in signing.iter().enumerate() {
            kds.push_str(&kd((i % 2 == 0).then_some("signing"), s));
        }
        for e in encryption {
            kds.push_str(&kd(Some("encryption"), e));
        }
        format!(
            r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{kds}
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
        )
    }

    #[test]
    fn der_inside_metadata_xml_gives_the_signing_certificates() {
        let old = made("old", 1_600_000_000, 1_800_000_000);
        let new = made("new", 1_700_000_000, 2_000_000_000);
        let enc = made("enc", 1_600_000_000, 2_000_000_000);
        let certs = metadata_signing_certificates(&metadata(&[&old, &new, &old], &[&enc])).unwrap();
        let subjects: Vec<_> = certs.iter().map(|c| c.subject.as_str()).collect();
        assert_eq!(subjects, ["CN=old", "CN=new"]);
        assert_eq!(certs[1].not_after, 2_000_000_000);

        let e = metadata_signing_certificates("<html/>").unwrap_err();
        assert!(e.contains("<html>"), "{e}");
        let e = metadata_signing_certificates("<EntityDescriptor").unwrap_err();
        assert!(e.contains("not XML"), "{e}");
        let e = metadata_signing_certificates(&metadata(&[], &[&enc])).unwrap_err();
        assert!(e.contains("no signing certificate"), "{e}");
        let broken = metadata(&[&old], &[]).replace(&body(&old)[..20], "!!!!");
        let e = metadata_signing_certificates(&broken).unwrap_err();
        assert!(
            e.contains("signing certificate 1") && e.contains("base64"),
            "{e}"
        );
        // No DTDs, so no entity expansion.
        let dtd = "<!DOCTYPE x [<!ENTITY a \"aaaa\">]><EntityDescriptor>&a;</EntityDescriptor>";
        assert!(metadata_signing_certificates(dtd).is_err());
    }

    #[test]
    fn expired_and_expiring_certificates_are_told_apart() {
        let day = 86_400;
        let now = 1_800_000_000;
        let threshold = Duration::from_secs(30 * day as u64);
        let expired = parse_text(&made("gone", now - 100 * day, now - day)).unwrap();
        assert_eq!(
            expiry(expired[0].not_after, now, threshold),
            Expiry::Expired
        );
        assert_eq!(expiry(now + 10 * day, now, threshold), Expiry::Expiring);
        assert_eq!(expiry(now + 30 * day, now, threshold), Expiry::Expiring);
        assert_eq!(expiry(now + 31 * day, now, threshold), Expiry::Valid);
        assert_eq!(expiry(now, now, threshold), Expiry::Expired);
        assert!(Expiry::Expired > Expiry::Expiring && Expiry::Expiring > Expiry::Valid);
    }

    fn cert(fp: &str, not_before: i64, not_after: i64) -> Certificate {
        Certificate {
            subject: fp.into(),
            fingerprint: fp.into(),
            not_before,
            not_after,
            pem: String::new(),
        }
    }

    #[test]
    fn the_certificate_sent_stays_until_it_nears_expiry_or_is_withdrawn() {
        let day = 86_400;
        let now = 1_800_000_000;
        let t = Duration::from_secs(30 * day as u64);
        let old = cert("old", now - 300 * day, now + 100 * day);
        let new = cert("new", now - day, now + 700 * day);
        let future = cert("future", now + day, now + 900 * day);
        // First choice: the longest-lasting started one.
        assert_eq!(
            select_signing(&[old.clone(), new.clone()], None, now, t),
            Some(1)
        );
        // The one sent stays while it is published and not near expiry.
        assert_eq!(
            select_signing(&[old.clone(), new.clone()], Some("old"), now, t),
            Some(0)
        );
        // Near expiry: the new one replaces it before it expires.
        let late = now + 80 * day;
        assert_eq!(
            select_signing(&[old.clone(), new.clone()], Some("old"), late, t),
            Some(1)
        );
        // Withdrawn by the IdP: the new one at once.
        assert_eq!(
            select_signing(std::slice::from_ref(&new), Some("old"), now, t),
            Some(0)
        );
        // Not valid yet: not chosen while a started one exists.
        assert_eq!(
            select_signing(&[old.clone(), future.clone()], None, now, t),
            Some(0)
        );
        assert_eq!(
            select_signing(std::slice::from_ref(&future), None, now, t),
            Some(0)
        );
        assert_eq!(select_signing(&[], Some("old"), now, t), None);
    }
}
