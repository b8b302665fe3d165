//! Mistakes the schema lets through and the operator reports with a Ready=False condition
//! naming the field at its first reconcile.

use super::*;

/// Each is reported by the operator with a Ready=False condition naming the field.
pub(super) fn reported_by_the_operator(u: &Urls) -> Vec<Mistake> {
    use Caught::*;
    vec![
        // ---- reported by the operator
        one(
            "idpMetadata is HTML, not SAML metadata",
            ec(
                "m-metadata-html",
                json!({"name": "Acme html", "domains": ["html.acme.example"],
            "saml": {"idpCertificate": null, "idpSsoUrl": null, "idpMetadata": "<html><body>Sign in</body></html>"}}),
            ),
            Condition,
            &["spec.saml.idpMetadata", "not SAML metadata"],
        ),
        one(
            "idpMetadata XML cut off",
            ec(
                "m-metadata-cut",
                json!({"name": "Acme cut", "domains": ["cut.acme.example"],
            "saml": {"idpCertificate": null, "idpSsoUrl": null, "idpMetadata": &METADATA[..120]}}),
            ),
            Condition,
            &["spec.saml.idpMetadata", "is not XML"],
        ),
        one(
            "base64 that is no X.509 certificate (Clerk)",
            ec(
                "m-cert-clerk",
                json!({"name": "Acme cert", "domains": ["cert.acme.example"],
            "saml": {"idpCertificate": NOT_A_CERT}}),
            ),
            Condition,
            &["spec.saml.idpCertificate", "not an X.509 certificate"],
        ),
        one(
            "base64 that is no X.509 certificate (LoginRadius)",
            obj(
                "EnterpriseConnection",
                "m-cert-lr",
                merged(
                    &lr_saml(),
                    &json!({"name": "Acme cert lr", "domains": ["certlr.acme.example"], "saml": {"idpCertificate": NOT_A_CERT}}),
                ),
            ),
            Condition,
            &["spec.saml.idpCertificate", "not an X.509 certificate"],
        ),
        one(
            "PEM armour around junk (LoginRadius)",
            obj(
                "EnterpriseConnection",
                "m-pem-lr",
                merged(
                    &lr_saml(),
                    &json!({"name": "Acme pem lr", "domains": ["pemlr.acme.example"],
                    "saml": {"idpCertificate": format!("-----BEGIN CERTIFICATE-----\n{NOT_A_CERT}\n-----END CERTIFICATE-----\n")}}),
                ),
            ),
            Condition,
            &["spec.saml.idpCertificate", "not an X.509 certificate"],
        ),
        one(
            "OIDC client Secret missing",
            ec_oidc(
                "m-oidc-nosecret",
                json!({"name": "Acme nosecret", "domains": ["nosecret.acme.example"],
            "oidc": {"clientSecretRef": {"name": "no-such-secret"}}}),
            ),
            Condition,
            &["spec.oidc.clientSecretRef", "no-such-secret", "not found"],
        ),
        one(
            "OIDC client Secret without the key",
            ec_oidc(
                "m-oidc-nokey",
                json!({"name": "Acme nokey", "domains": ["nokey.acme.example"],
            "oidc": {"clientSecretRef": {"key": "client-secret"}}}),
            ),
            Condition,
            &["spec.oidc.clientSecretRef", "client-secret"],
        ),
        one(
            "providerConfigRef names no ProviderConfig",
            ec(
                "m-no-pc",
                json!({"providerConfigRef": {"name": "clerk-prod"}}),
            ),
            Condition,
            &["spec.providerConfigRef", "clerk-prod", "not found"],
        ),
        many(
            "a publishable pk_ key where Clerk needs sk_",
            vec![
                secret_obj(
                    "clerk-pk-creds",
                    json!({"secretKey": "pk_test_Y2xlcmsuYWNtZS5leGFtcGxlJA"}),
                ),
                obj(
                    "ProviderConfig",
                    "clerk-pk",
                    pc_spec(json!({"clerk": {}}), "clerk-pk-creds", &u.clerk),
                ),
                ec(
                    "m-clerk-pk",
                    json!({"providerConfigRef": {"name": "clerk-pk"}, "name": "Acme pk"}),
                ),
            ],
            Condition,
            &["secretKey", "sk_"],
        ),
        many(
            "credentials Secret missing",
            vec![
                obj(
                    "ProviderConfig",
                    "clerk-nosecret",
                    pc_spec(json!({"clerk": {}}), "clerk-creds-typo", &u.clerk),
                ),
                ec(
                    "m-pc-nosecret",
                    json!({"providerConfigRef": {"name": "clerk-nosecret"}, "name": "Acme nocreds"}),
                ),
            ],
            Condition,
            &["credentials Secret", "clerk-creds-typo", "not found"],
        ),
        many(
            "credentials Secret without apiSecret (LoginRadius)",
            vec![
                secret_obj("lr-half-creds", json!({"apiKey": "mistakes-api-key"})),
                obj(
                    "ProviderConfig",
                    "lr-half",
                    pc_spec(
                        json!({"loginradius": {"organizationId": LR_ORG}}),
                        "lr-half-creds",
                        &u.lr,
                    ),
                ),
                obj(
                    "EnterpriseConnection",
                    "m-lr-nokey",
                    merged(
                        &lr_saml(),
                        &json!({"providerConfigRef": {"name": "lr-half"}, "name": "Acme half"}),
                    ),
                ),
            ],
            Condition,
            &["apiSecret", "lr-half-creds"],
        ),
        one(
            "externalName that does not exist",
            obj(
                "OrgRoleMapping",
                "m-orm-noext",
                json!({"providerConfigRef": {"name": "atlas"},
            "externalName": "0123456789abcdef01234567", "mappings": [{"externalGroup": "dba", "roles": [{"role": "ORG_OWNER"}]}]}),
            ),
            Condition,
            &[
                "spec.externalName",
                "0123456789abcdef01234567",
                "does not exist",
            ],
        ),
        one(
            "EnterpriseConnection on an Auth0 ProviderConfig",
            ec(
                "m-ec-auth0",
                json!({"providerConfigRef": {"name": "auth0"}, "name": "Acme auth0"}),
            ),
            Condition,
            &[
                "spec.providerConfigRef",
                "auth0 does not support EnterpriseConnection",
            ],
        ),
        one(
            "ConnectionProfile on a Clerk ProviderConfig",
            obj(
                "ConnectionProfile",
                "m-cp-clerk",
                json!({"providerConfigRef": {"name": "clerk"}, "name": "p"}),
            ),
            Condition,
            &[
                "spec.providerConfigRef",
                "clerk does not support ConnectionProfile",
            ],
        ),
        one(
            "connectionRef to a connection that does not exist",
            obj(
                "OrgRoleMapping",
                "m-orm-noconn",
                json!({"providerConfigRef": {"name": "lr"},
            "connectionRef": {"name": "azure"}, "mappings": [{"externalGroup": "dba", "externalGroupId": "g1", "roles": [{"role": "role_admin"}]}]}),
            ),
            Condition,
            &["spec.connectionRef", "azure", "not found"],
        ),
        one(
            "Clerk SAML connection without domains",
            ec(
                "m-clerk-nodomains",
                json!({"name": "Acme nodomains", "domains": null}),
            ),
            Condition,
            &["spec.domains"],
        ),
        one(
            "groups attribute mapping at Clerk",
            ec(
                "m-clerk-groups",
                json!({"name": "Acme groups", "domains": ["groups.acme.example"],
            "saml": {"attributeMapping": {"groups": "memberOf"}}}),
            ),
            Condition,
            &["spec.saml.attributeMapping.groups"],
        ),
        one(
            "inline idpMetadata at LoginRadius",
            obj(
                "EnterpriseConnection",
                "m-lr-metadata",
                merged(
                    &lr_saml(),
                    &json!({"name": "Acme lr metadata", "domains": ["lrmeta.acme.example"], "saml": {"idpCertificate": null, "idpMetadata": METADATA}}),
                ),
            ),
            Condition,
            &["spec.saml.idpMetadata"],
        ),
    ]
}
