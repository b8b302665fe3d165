//! Tests of the Clerk mapping.

use super::*;
use crate::core::desired::{OidcDesired, SecretValue};
use crate::provider::clerk::api::{OauthConfig, SamlConnection};

fn saml() -> ConnectionDesired {
    ConnectionDesired {
        name: "Acme".into(),
        domains: Some(vec!["acme.com".into(), "b.acme.com".into()]),
        active: Some(true),
        protocol: Protocol::Saml,
        idp_type: "saml_custom".into(),
        idp_type_explicit: true,
        saml: Some(SamlSettings {
            idp_entity_id: Some("urn:idp".into()),
            idp_sso_url: Some("https://IdP.example.com/sso/".into()),
            idp_certificate: Some(
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----".into(),
            ),
            force_authn: Some(true),
            attribute_mapping: Some(Box::new(AttributeMapping {
                email_address: Some("mail".into()),
                ..Default::default()
            })),
            ..Default::default()
        }),
        oidc: None,
        sync_user_attributes: Some(false),
        organization_id: Some("org_1".into()),
    }
}

fn oidc() -> ConnectionDesired {
    ConnectionDesired {
        name: "Okta OIDC".into(),
        domains: Some(vec!["acme.com".into()]),
        active: None,
        protocol: Protocol::Oidc,
        idp_type: "oidc_custom".into(),
        idp_type_explicit: true,
        saml: None,
        oidc: Some(OidcDesired {
            discovery_url: Some(
                "https://idp.example.com/.well-known/openid-configuration".into(),
            ),
            auth_url: None,
            token_url: None,
            user_info_url: None,
            client_id: "cid".into(),
            client_secret: Some(SecretValue::new("s3cr3t-value")),
            requires_pkce: Some(false),
        }),
        sync_user_attributes: None,
        organization_id: None,
    }
}

fn wire_for(c: &ConnectionDesired) -> EnterpriseConnection {
    let s = c.saml.as_ref();
    let o = c.oidc.as_ref();
    EnterpriseConnection {
        object: "enterprise_connection".into(),
        id: "ec_1".into(),
        name: c.name.clone(),
        provider: c.idp_type.clone(),
        logo_public_url: None,
        active: c.active.unwrap_or(false),
        domains: vec!["B.ACME.com".into(), "acme.com".into()],
        organization_id: c.organization_id.clone(),
        sync_user_attributes: c.sync_user_attributes.unwrap_or(true),
        disable_additional_identifications: false,
        allow_organization_account_linking: false,
        custom_attributes: vec![],
        saml_connection: s.map(|s| SamlConnection {
            id: Some("samlc_1".into()),
            idp_entity_id: s.idp_entity_id.clone(),
            idp_sso_url: Some("https://idp.example.com/sso".into()),
            force_authn: s.force_authn.unwrap_or(false),
            acs_url: Some("https://clerk.x.example/v1/saml/acs/samlc_1".into()),
            ..Default::default()
        }),
        oauth_config: o.map(|o| OauthConfig {
            id: Some("oac_1".into()),
            client_id: Some(o.client_id.clone()),
            discovery_url: o.discovery_url.clone(),
            auth_url: Some("https://idp.example.com/authorize".into()),
            requires_pkce: o.requires_pkce.unwrap_or(false),
            ..Default::default()
        }),
        created_at: 1,
        updated_at: 1,
        extra: Default::default(),
    }
}

#[test]
fn idp_type_is_compared_only_when_the_spec_sets_it() {
    let mut c = saml();
    c.idp_type_explicit = false;
    assert!(!desired_fields(&c).unwrap().contains_key("idpType"));
    // An explicit saml_custom differs from an adopted saml_okta connection: compared.
    c.idp_type_explicit = true;
    assert_eq!(desired_fields(&c).unwrap()["idpType"], "saml_custom");
}

#[test]
fn a_connection_matching_its_spec_has_an_empty_diff() {
    for c in [saml(), oidc()] {
        let want = desired_fields(&c).unwrap();
        let mut w = wire_for(&c);
        if c.protocol == Protocol::Oidc {
            w.domains = vec!["ACME.com".into()];
        }
        let got = observed_fields(&w);
        let d = crate::core::diff::diff(&want, &got);
        assert!(d.is_empty(), "{:?}", d.paths);
    }
}

#[test]
fn write_only_values_stay_out_of_the_fields() {
    let f = desired_fields(&saml()).unwrap();
    assert!(!f.keys().any(|k| WRITE_ONLY.contains(&k.as_str())));
    assert_eq!(
        write_only_paths(&saml()),
        vec!["saml.idpCertificate", "saml.attributeMapping"]
    );
    assert_eq!(write_only_paths(&oidc()), vec!["oidc.clientSecret"]);
    let f = desired_fields(&oidc()).unwrap();
    assert!(!format!("{f:?}").contains("s3cr3t-value"));
}

#[test]
fn groups_and_custom_attribute_mappings_are_refused_by_name() {
    let mut c = saml();
    c.saml
        .as_mut()
        .unwrap()
        .attribute_mapping
        .as_mut()
        .unwrap()
        .groups = Some("g".into());
    let e = desired_fields(&c).unwrap_err();
    assert!(
        matches!(&e, ProviderError::Unsupported { what, .. } if what == "spec.saml.attributeMapping.groups"),
        "{e}"
    );
    let mut c = saml();
    c.saml
        .as_mut()
        .unwrap()
        .attribute_mapping
        .as_mut()
        .unwrap()
        .custom
        .insert("dept".into(), "d".into());
    let e = desired_fields(&c).unwrap_err();
    assert!(
        matches!(&e, ProviderError::Unsupported { what, .. } if what == "spec.saml.attributeMapping.custom"),
        "{e}"
    );
}

#[test]
fn idp_type_must_match_the_protocol_block() {
    let mut c = saml();
    c.idp_type = "oidc_custom".into();
    assert!(
        matches!(desired_fields(&c), Err(ProviderError::Invalid { field: Some(f), .. }) if f == "spec.idpType")
    );
}

#[test]
fn create_body_carries_write_only_values_and_no_sync_flag() {
    let b = serde_json::to_value(create_body(&saml()).unwrap()).unwrap();
    assert_eq!(b["provider"], "saml_custom");
    assert_eq!(b["domains"], json!(["acme.com", "b.acme.com"]));
    assert!(
        b["saml"]["idp_certificate"]
            .as_str()
            .unwrap()
            .contains("MIIB")
    );
    assert_eq!(b["saml"]["attribute_mapping"]["email_address"], "mail");
    assert!(b.get("sync_user_attributes").is_none());
    assert!(b.get("oidc").is_none());
    let b = serde_json::to_value(create_body(&oidc()).unwrap()).unwrap();
    assert_eq!(b["oidc"]["client_secret"], "s3cr3t-value");
    assert!(b.get("active").is_none());
}

#[test]
fn create_without_domains_is_refused_before_calling_clerk() {
    let mut c = saml();
    c.domains = None;
    assert!(
        matches!(create_body(&c), Err(ProviderError::Invalid { field: Some(f), .. }) if f == "spec.domains")
    );
}

#[test]
fn update_body_sends_only_the_diff() {
    let d = Diff {
        paths: vec!["saml.forceAuthn".into(), "syncUserAttributes".into()],
    };
    let b = update_body(&saml(), &d).unwrap();
    assert_eq!(
        Value::Object(b),
        json!({"sync_user_attributes": false, "saml": {"force_authn": true}})
    );
}

#[test]
fn update_body_sends_write_only_values_when_named() {
    let mut d = Diff::default();
    d.push("saml.attributeMapping");
    d.push("saml.idpCertificate");
    let b = Value::Object(update_body(&saml(), &d).unwrap());
    assert_eq!(
        b["saml"]["attribute_mapping"],
        json!({"user_id": null, "email_address": "mail", "first_name": null, "last_name": null})
    );
    assert!(b["saml"]["idp_certificate"].is_string());
    let mut d = Diff::default();
    d.push("oidc.clientSecret");
    let b = Value::Object(update_body(&oidc(), &d).unwrap());
    assert_eq!(b, json!({"oidc": {"client_secret": "s3cr3t-value"}}));
}

#[test]
fn an_explicit_idp_type_change_shows_in_the_diff() {
    let mut c = saml();
    c.idp_type = "saml_okta".into();
    let want = desired_fields(&c).unwrap();
    assert_eq!(want["idpType"], "saml_okta");
    let d = crate::core::diff::diff(&want, &observed_fields(&wire_for(&saml())));
    assert_eq!(d.paths, vec!["idpType"]);
}

#[test]
fn a_changed_idp_type_cannot_be_patched() {
    let d = Diff {
        paths: vec!["idpType".into()],
    };
    assert!(matches!(
        update_body(&saml(), &d),
        Err(ProviderError::Unsupported { .. })
    ));
}

#[test]
fn param_names_become_spec_paths() {
    assert_eq!(spec_field("domains"), "spec.domains");
    assert_eq!(spec_field("saml.idp_sso_url"), "spec.saml.idpSsoUrl");
    assert_eq!(spec_field("provider"), "spec.idpType");
    assert_eq!(
        spec_field("oidc.client_secret"),
        "spec.oidc.clientSecretRef"
    );
    assert_eq!(
        spec_field("sync_user_attributes"),
        "spec.syncUserAttributes"
    );
}

#[test]
fn outputs_come_from_the_saml_connection() {
    let o = outputs(&wire_for(&saml()));
    assert_eq!(
        o.acs_url.as_deref(),
        Some("https://clerk.x.example/v1/saml/acs/samlc_1")
    );
    assert_eq!(outputs(&wire_for(&oidc())), Outputs::default());
}
