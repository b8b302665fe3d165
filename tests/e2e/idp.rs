//! An IdP for tests and the scale benchmark: self-signed signing certificates with chosen
//! validity (rcgen), the SAML metadata that publishes one, and a router of tenants' IdPs.

const DAY: i64 = 86_400;

/// A certificate made for a test.
pub struct Made {
    pub pem: String,
    pub fingerprint: String,
    pub not_after: i64,
}

/// A self-signed certificate `CN=<cn>` valid from `from_days` to `to_days` days from now.
pub fn certificate(cn: &str, from_days: i64, to_days: i64) -> Made {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut params = rcgen::CertificateParams::new(vec![format!("{cn}.example")]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let not_after = now + to_days * DAY;
    params.not_before = time::OffsetDateTime::from_unix_timestamp(now + from_days * DAY).unwrap();
    params.not_after = time::OffsetDateTime::from_unix_timestamp(not_after).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let fingerprint = ssoperator::core::certificates::fingerprint(cert.der());
    Made {
        pem: cert.pem(),
        fingerprint,
        not_after,
    }
}

pub fn body(pem: &str) -> String {
    pem.lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>()
}

/// SAML metadata of an IdP whose signing certificate is `pem`.
pub fn metadata(pem: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example.com">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.com/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#,
        body(pem)
    )
}

/// The tenants' IdPs: `/idp/{tenant}/metadata` answers metadata that publishes one signing
/// certificate `CN=<cn>` (the same for every tenant), as a working IdP would.
pub fn tenants(cn: &str) -> axum::Router {
    let metadata = metadata(&certificate(cn, -1, 700).pem);
    axum::Router::new().route(
        "/idp/{tenant}/metadata",
        axum::routing::get(move || std::future::ready(metadata.clone())),
    )
}
