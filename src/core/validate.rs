//! Checks of a spec that the CRD's schema and CEL rules cannot make (or that an API server
//! without them would let through): each error names the field. Pure: no I/O.

use crate::crd::{EnterpriseConnectionSpec, ProviderAccount};

use super::normalize;

/// Checks an EnterpriseConnection spec: no domain twice (case-insensitive), an idpType that
/// matches the protocol block, inline metadata that is SAML metadata XML, a certificate that is
/// an X.509 certificate.
pub fn connection(spec: &EnterpriseConnectionSpec) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for d in &spec.domains {
        if !seen.insert(normalize::domain(d)) {
            return Err(format!(
                "spec.domains lists {:?} twice (domains are case-insensitive)",
                normalize::domain(d)
            ));
        }
    }
    if let Some(t) = spec.idp_type {
        if t.is_saml() && spec.saml.is_none() {
            return Err(format!(
                "spec.idpType {} needs a saml block, not oidc",
                t.as_str()
            ));
        }
        if !t.is_saml() && spec.oidc.is_none() {
            return Err(format!(
                "spec.idpType {} needs an oidc block, not saml",
                t.as_str()
            ));
        }
    }
    if let Some(saml) = &spec.saml {
        if let Some(m) = &saml.idp_metadata {
            saml_metadata(m).map_err(|e| format!("spec.saml.idpMetadata {e}"))?;
        }
        if let Some(c) = &saml.idp_certificate {
            certificate(c).map_err(|e| format!("spec.saml.idpCertificate {e}"))?;
        }
    }
    Ok(())
}

/// Whether the text is well-formed XML whose root is a SAML metadata element.
pub fn saml_metadata(xml: &str) -> Result<(), String> {
    // roxmltree refuses DTDs by default: no entity expansion from user input.
    let doc = roxmltree::Document::parse(xml.trim()).map_err(|e| format!("is not XML: {e}"))?;
    let root = doc.root_element().tag_name().name();
    if matches!(root, "EntityDescriptor" | "EntitiesDescriptor") {
        Ok(())
    } else {
        Err(format!(
            "is XML but not SAML metadata: the root element is <{root}>, not <EntityDescriptor>"
        ))
    }
}

/// Whether the text is one X.509 certificate: PEM, or the base64 of its DER alone.
pub fn certificate(text: &str) -> Result<(), String> {
    let t = text.trim();
    let pem_text = if t.contains("-----BEGIN") {
        t.to_string()
    } else {
        let body: String = t.split_whitespace().collect();
        format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n")
    };
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem_text.as_bytes())
        .map_err(|e| format!("is not PEM or base64: {e}"))?;
    if pem.label != "CERTIFICATE" {
        return Err(format!("is a PEM {:?} block, not a CERTIFICATE", pem.label));
    }
    x509_parser::parse_x509_certificate(&pem.contents)
        .map(|_| ())
        .map_err(|e| format!("is not an X.509 certificate: {e}"))
}

/// Checks a provider account's endpoint: an http(s) URL with a host, and plain http only to a
/// loopback host unless `allowInsecureEndpoint` is true.
pub fn endpoint(account: &ProviderAccount) -> Result<(), String> {
    let Some(e) = &account.endpoint else {
        return Ok(());
    };
    let u = url::Url::parse(e.trim())
        .map_err(|err| format!("spec.endpoint {e:?} is not a URL: {err}"))?;
    let host = u
        .host()
        .ok_or_else(|| format!("spec.endpoint {e:?} has no host"))?;
    match u.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match host {
                url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
                url::Host::Ipv4(ip) => ip.is_loopback(),
                url::Host::Ipv6(ip) => ip.is_loopback(),
            };
            if loopback || account.allow_insecure_endpoint == Some(true) {
                Ok(())
            } else {
                Err(format!(
                    "spec.endpoint {e:?}: plain http:// is accepted only for a loopback host (127.0.0.0/8, ::1, localhost) unless spec.allowInsecureEndpoint is true"
                ))
            }
        }
        other => Err(format!(
            "spec.endpoint {e:?} must be an http(s) URL, not {other}:"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real self-signed certificate (the one examples/loginradius.yaml uses).
    const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBxzCCAW2gAwIBAgIUOmgVxRNRvmMl4LODskWiSzKveYwwCgYIKoZIzj0EAwIw
OTEdMBsGA1UEAwwUbG9naW4uZ2xvYmV4LmV4YW1wbGUxGDAWBgNVBAoMD0dsb2Jl
eCBEZW1vIElkUDAeFw0yNjExMjMxMTMyMDhaFw0zNjExMjAxMTMyMDhaMDkxHTAb
BgNVBAMMFGxvZ2luLmdsb2JleC5leGFtcGxlMRgwFgYDVQQKDA9HbG9iZXggRGVt
byBJZFAwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARhRIsOhFe7d5a6ecPIJf3+
hxRAXw3BHMT1LSSQMiAP587TQKneAuKndD9oC2XKAHLtyk2S1lkSdsq9Z+cn66Zc
o1MwUTAdBgNVHQ4EFgQUBYX0xuD8F5nk6huhcfZs7DVW6BEwHwYDVR0jBBgwFoAU
BYX0xuD8F5nk6huhcfZs7DVW6BEwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD
AgNIADBFAiEAqXejkmjhA281DOzT8oxGXuiA63wxocs188Ja8ix1mAUCIFBS/i8k
1oEfnvEeOhy28EFgJXctZ3mV0fvKoTmKcZ4f
-----END CERTIFICATE-----
";

    fn spec(v: serde_json::Value) -> EnterpriseConnectionSpec {
        let mut base = serde_json::json!({"providerConfigRef": {"name": "pc"}, "name": "x"});
        if let (Some(b), Some(o)) = (base.as_object_mut(), v.as_object()) {
            b.extend(o.clone());
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn certificates_parse_as_pem_or_bare_base64_and_junk_is_refused_by_field() {
        assert_eq!(certificate(CERT), Ok(()));
        let body: String = CERT.lines().filter(|l| !l.starts_with("-----")).collect();
        assert_eq!(certificate(&body), Ok(()));
        assert_eq!(certificate(&format!("  {CERT}\n\n")), Ok(()));
        for junk in [
            "MIIBkTCB+wIJAKHHIG1d",
            "MIIaGVsbG8gd29ybGQ=",
            "-----BEGIN CERTIFICATE-----\nMIIBaGVsbG8=\n-----END CERTIFICATE-----",
            "-----BEGIN PUBLIC KEY-----\nMIIBaGVsbG8=\n-----END PUBLIC KEY-----",
            "not base64 at all!!",
            "",
            &"A".repeat(20000),
        ] {
            let err = connection(&spec(serde_json::json!({"saml": {"idpCertificate": junk}})))
                .unwrap_err();
            assert!(err.starts_with("spec.saml.idpCertificate "), "{err}");
        }
    }

    #[test]
    fn metadata_must_be_saml_metadata_xml() {
        let ok = r#"<?xml version="1.0"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp"/>"#;
        assert_eq!(saml_metadata(ok), Ok(()));
        for bad in [
            "https://idp.example/metadata",
            "<EntityDescriptor>",
            "<html><body>login</body></html>",
            "<!DOCTYPE x [<!ENTITY a \"b\">]><EntityDescriptor>&a;</EntityDescriptor>",
        ] {
            let err =
                connection(&spec(serde_json::json!({"saml": {"idpMetadata": bad}}))).unwrap_err();
            assert!(err.starts_with("spec.saml.idpMetadata "), "{bad}: {err}");
        }
    }

    #[test]
    fn duplicate_domains_and_mismatched_idp_types_are_named() {
        let err = connection(&spec(
            serde_json::json!({"domains": ["a.example", "A.Example"], "saml": {}}),
        ))
        .unwrap_err();
        assert!(
            err.contains("spec.domains") && err.contains("a.example"),
            "{err}"
        );
        let err = connection(&spec(
            serde_json::json!({"idpType": "oidc_custom", "saml": {}}),
        ))
        .unwrap_err();
        assert!(err.contains("spec.idpType oidc_custom"), "{err}");
        let err = connection(&spec(serde_json::json!({"idpType": "saml_okta",
            "oidc": {"clientId": "c", "discoveryUrl": "https://idp/.well-known/openid-configuration"}})))
        .unwrap_err();
        assert!(err.contains("spec.idpType saml_okta"), "{err}");
        assert_eq!(
            connection(&spec(
                serde_json::json!({"idpType": "saml_okta", "domains": ["a.example", "b.example"], "saml": {}})
            )),
            Ok(())
        );
    }

    #[test]
    fn plain_http_endpoints_only_for_loopback_unless_allowed() {
        let account = |e: &str, allow: Option<bool>| ProviderAccount {
            endpoint: Some(e.into()),
            allow_insecure_endpoint: allow,
            ..ProviderAccount::default()
        };
        for ok in [
            "https://api.example.com",
            "http://127.0.0.1:8080",
            "http://127.9.8.7/",
            "http://[::1]:80",
            "http://LOCALHOST:1234",
        ] {
            assert_eq!(endpoint(&account(ok, None)), Ok(()), "{ok}");
        }
        for bad in [
            "http://api.example.com",
            "http://10.0.0.1",
            "http://128.0.0.1",
            "http://",
            "http://exa mple.com",
            "ftp://api.example.com",
            "api.example.com",
        ] {
            let err = endpoint(&account(bad, None)).unwrap_err();
            assert!(err.starts_with("spec.endpoint"), "{bad}: {err}");
        }
        assert_eq!(
            endpoint(&account("http://api.example.com", Some(true))),
            Ok(())
        );
        assert!(endpoint(&account("http://", Some(true))).is_err());
    }
}
