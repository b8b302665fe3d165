//! Mistakes the API server refuses at admission (the CRDs' schema and CEL rules).

use super::*;

/// Each is refused at admission with a message naming the field.
pub(super) fn refused_at_admission(u: &Urls, sfx: &str) -> Vec<Mistake> {
    use Caught::*;
    let pc = |name: &str, patch: Value| clerk_pc(u, name, patch);
    let cpc_name = format!("mistake-cpc-{sfx}");
    vec![
        // ---- refused at admission: EnterpriseConnection
        one(
            "the same domain twice",
            ec(
                "m-dup-domain",
                json!({"domains": ["acme.example", "acme.example"]}),
            ),
            Admission,
            &["spec.domains", "must not list the same domain twice"],
        ),
        one(
            "domains differing only in case",
            ec(
                "m-dup-case",
                json!({"domains": ["acme.example", "ACME.example"]}),
            ),
            Admission,
            &["spec.domains", "case-insensitive"],
        ),
        one(
            "idpType oidc_custom with a saml block",
            ec("m-oidc-type-saml", json!({"idpType": "oidc_custom"})),
            Admission,
            &["spec.idpType", "does not match the protocol block"],
        ),
        one(
            "idpType saml_okta with an oidc block",
            ec_oidc("m-saml-type-oidc", json!({"idpType": "saml_okta"})),
            Admission,
            &["spec.idpType", "does not match the protocol block"],
        ),
        one(
            "idpMetadata given a URL",
            ec(
                "m-metadata-url",
                json!({"saml": {"idpMetadata": "https://idp.acme.example/metadata"}}),
            ),
            Admission,
            &["spec.saml.idpMetadata", "SAML metadata XML"],
        ),
        one(
            "idpCertificate is a file name",
            ec(
                "m-cert-name",
                json!({"saml": {"idpCertificate": "okta.cert"}}),
            ),
            Admission,
            &["spec.saml.idpCertificate", "PEM certificate"],
        ),
        one(
            "idpCertificate is a PEM public key",
            ec(
                "m-cert-pubkey",
                json!({"saml": {"idpCertificate": "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n"}}),
            ),
            Admission,
            &["spec.saml.idpCertificate", "PEM certificate"],
        ),
        one(
            "idpCertificate PEM cut off before END",
            ec(
                "m-cert-cut",
                json!({"saml": {"idpCertificate": &CERT[..200]}}),
            ),
            Admission,
            &["spec.saml.idpCertificate", "PEM certificate"],
        ),
        one(
            "both saml and oidc",
            ec(
                "m-both",
                json!({"oidc": {"clientId": "x", "discoveryUrl": "https://idp.acme.example/.well-known/openid-configuration"}}),
            ),
            Admission,
            &["spec", "exactly one of saml or oidc must be set"],
        ),
        one(
            "neither saml nor oidc",
            ec("m-neither", json!({"saml": null})),
            Admission,
            &["spec", "exactly one of saml or oidc must be set"],
        ),
        one(
            "domain with a scheme",
            ec(
                "m-domain-scheme",
                json!({"domains": ["https://acme.example"]}),
            ),
            Admission,
            &["spec.domains[0]"],
        ),
        one(
            "an email address as domain",
            ec("m-domain-email", json!({"domains": ["it@acme.example"]})),
            Admission,
            &["spec.domains[0]"],
        ),
        one(
            "idpSsoUrl without scheme",
            ec(
                "m-sso-scheme",
                json!({"saml": {"idpSsoUrl": "idp.acme.example/sso"}}),
            ),
            Admission,
            &["spec.saml.idpSsoUrl"],
        ),
        one(
            "oidc without discoveryUrl or authUrl/tokenUrl",
            ec_oidc("m-oidc-urls", json!({"oidc": {"discoveryUrl": null}})),
            Admission,
            &[
                "spec.oidc",
                "set discoveryUrl, or both authUrl and tokenUrl",
            ],
        ),
        one(
            "clientSecretRef without key",
            ec_oidc(
                "m-oidc-key",
                json!({"oidc": {"clientSecretRef": {"key": null}}}),
            ),
            Admission,
            &["spec.oidc.clientSecretRef.key", "Required value"],
        ),
        one(
            "idpType spelled as the IdP's name",
            ec("m-idptype-okta", json!({"idpType": "okta"})),
            Admission,
            &["spec.idpType", "Unsupported value"],
        ),
        one(
            "deletionPolicy in lower case",
            ec("m-policy-case", json!({"deletionPolicy": "delete"})),
            Admission,
            &["spec.deletionPolicy", "Unsupported value"],
        ),
        one(
            "providerConfigRef left out",
            ec("m-no-pcref", json!({"providerConfigRef": null})),
            Admission,
            &["spec.providerConfigRef", "Required value"],
        ),
        one(
            "idpMetadata and idpMetadataUrl both set",
            ec(
                "m-metadata-both",
                json!({"saml": {"idpMetadata": METADATA, "idpMetadataUrl": "https://idp.acme.example/metadata"}}),
            ),
            Admission,
            &[
                "spec.saml",
                "set at most one of idpMetadata or idpMetadataUrl",
            ],
        ),
        one(
            "a typo in a field name (domain)",
            ec("m-typo", json!({"domain": ["acme.example"]})),
            Admission,
            &["spec.domain"],
        ),
        // ---- refused at admission: ProviderConfig / ClusterProviderConfig
        one(
            "endpoint http:// without a host",
            pc("m-endpoint-nohost", json!({"endpoint": "http://"})),
            Admission,
            &["spec.endpoint", "with a host"],
        ),
        one(
            "endpoint with a space in the host",
            pc(
                "m-endpoint-space",
                json!({"endpoint": "http://api clerk.example"}),
            ),
            Admission,
            &["spec.endpoint", "no spaces"],
        ),
        one(
            "endpoint plain http:// to a remote host",
            pc(
                "m-endpoint-http",
                json!({"endpoint": "http://api.clerk.example"}),
            ),
            Admission,
            &["spec.endpoint", "loopback"],
        ),
        one(
            "endpoint without a scheme",
            pc("m-endpoint-scheme", json!({"endpoint": "api.clerk.com"})),
            Admission,
            &["spec.endpoint", "endpoint must be an http(s) URL"],
        ),
        one(
            "two provider blocks",
            pc(
                "m-two-providers",
                json!({"auth0": {"domain": "acme.eu.auth0.com"}}),
            ),
            Admission,
            &["spec", "exactly one provider block"],
        ),
        one(
            "Auth0 domain with a scheme",
            pc(
                "m-auth0-scheme",
                json!({"clerk": null, "auth0": {"domain": "https://acme.eu.auth0.com"}}),
            ),
            Admission,
            &["spec.auth0.domain"],
        ),
        one(
            "Qovery organizationId not a UUID",
            pc(
                "m-qovery-org",
                json!({"clerk": null, "qovery": {"organizationId": "acme"}}),
            ),
            Admission,
            &["spec.qovery.organizationId"],
        ),
        one(
            "Atlas federationSettingsId in upper case",
            pc(
                "m-atlas-fed",
                json!({"clerk": null, "atlas": {"federationSettingsId": "5D1113B25A115342ACC2D1AA"}}),
            ),
            Admission,
            &["spec.atlas.federationSettingsId"],
        ),
        one(
            "ClusterProviderConfig Secret without namespace",
            obj(
                "ClusterProviderConfig",
                &cpc_name,
                pc_spec(json!({"clerk": {}}), "clerk-creds", &u.clerk),
            ),
            Admission,
            &["spec", "credentialsSecretRef.namespace is required"],
        ),
        one(
            "allowedNamespaces from Selector without a selector",
            obj(
                "ClusterProviderConfig",
                &cpc_name,
                merged(
                    &pc_spec(json!({"clerk": {}}), "clerk-creds", &u.clerk),
                    &json!({"credentialsSecretRef": {"namespace": "default"}, "allowedNamespaces": {"from": "Selector"}}),
                ),
            ),
            Admission,
            &[
                "spec.allowedNamespaces.selector",
                "required when from is Selector",
            ],
        ),
        // ---- refused at admission: OrgRoleMapping / ConnectionProfile
        one(
            "both connectionRef and externalName",
            obj(
                "OrgRoleMapping",
                "m-orm-both",
                json!({"providerConfigRef": {"name": "atlas"},
            "externalName": ATLAS_ORG, "connectionRef": {"name": "control-clerk"}, "mappings": []}),
            ),
            Admission,
            &["spec", "set exactly one of connectionRef or externalName"],
        ),
        one(
            "the same externalGroup twice",
            obj(
                "OrgRoleMapping",
                "m-orm-dup",
                json!({"providerConfigRef": {"name": "atlas"}, "externalName": ATLAS_ORG,
            "mappings": [{"externalGroup": "dba", "roles": [{"role": "ORG_OWNER"}]}, {"externalGroup": "dba", "roles": [{"role": "ORG_MEMBER"}]}]}),
            ),
            Admission,
            &["spec.mappings"],
        ),
        one(
            "a mapping without roles",
            obj(
                "OrgRoleMapping",
                "m-orm-noroles",
                json!({"providerConfigRef": {"name": "atlas"}, "externalName": ATLAS_ORG,
            "mappings": [{"externalGroup": "dba", "roles": []}]}),
            ),
            Admission,
            &["spec.mappings[0].roles"],
        ),
        one(
            "prefix template with an underscore",
            obj(
                "ConnectionProfile",
                "m-cp-prefix",
                json!({"providerConfigRef": {"name": "auth0"}, "name": "p",
            "connectionNamePrefixTemplate": "acme_{org_id}"}),
            ),
            Admission,
            &["spec.connectionNamePrefixTemplate"],
        ),
        one(
            "an unknown profile feature",
            obj(
                "ConnectionProfile",
                "m-cp-feature",
                json!({"providerConfigRef": {"name": "auth0"}, "name": "p",
            "enabledFeatures": ["sso"]}),
            ),
            Admission,
            &["spec.enabledFeatures[0]", "Unsupported value"],
        ),
    ]
}
