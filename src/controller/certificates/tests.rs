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

#[test]
fn kept_certificates_read_back_as_they_were_parsed() {
    let parsed = certs::parse_text(CERT).unwrap();
    let kept = pack(&parsed);
    assert_eq!(kept.len(), 1);
    assert!(
        kept[0].len() < parsed[0].pem.len(),
        "DER is smaller than PEM"
    );
    assert_eq!(unpack(&kept), parsed);
}
