//! The table of invalid manifests: each is a minimal valid object of its kind plus a patch that
//! breaks exactly one schema or CEL rule.

use super::*;

pub(super) struct Invalid {
    pub(super) kind: &'static str,
    pub(super) what: &'static str,
    pub(super) patch: Value,
    /// Substrings the API server's message must contain: the field path, and for CEL rules the rule's message.
    pub(super) expect: &'static [&'static str],
}

pub(super) fn invalid_cases() -> Vec<Invalid> {
    let case = |kind, what, patch, expect| Invalid {
        kind,
        what,
        patch,
        expect,
    };
    let many_domains: Vec<Value> = (0..51)
        .map(|i| json!(format!("d{i}.acme.example")))
        .collect();
    let many_mappings: Vec<Value> = (0..201)
        .map(|i| json!({ "externalGroup": format!("group-{i}"), "roles": [{ "role": "ORG_MEMBER" }] }))
        .collect();
    let many_grants: Vec<Value> = (0..11).map(|i| json!(format!("ROLE_{i}"))).collect();
    vec![
        // ProviderConfig / ClusterProviderConfig
        case(
            "ProviderConfig",
            "two provider blocks",
            json!({"spec": {"auth0": {"domain": "acme.eu.auth0.com"}}}),
            &[
                "spec",
                "exactly one provider block (qovery, auth0, loginradius, clerk, atlas) must be set",
            ],
        ),
        case(
            "ProviderConfig",
            "no provider block",
            json!({"spec": {"clerk": null}}),
            &["spec", "exactly one provider block"],
        ),
        case(
            "ClusterProviderConfig",
            "credentialsSecretRef without namespace",
            json!({"spec": {"credentialsSecretRef": {"namespace": null}}}),
            &[
                "spec",
                "credentialsSecretRef.namespace is required in a ClusterProviderConfig",
            ],
        ),
        case(
            "ProviderConfig",
            "credentialsSecretRef missing",
            json!({"spec": {"credentialsSecretRef": null}}),
            &["spec.credentialsSecretRef", "Required value"],
        ),
        case(
            "ProviderConfig",
            "endpoint not an http(s) URL",
            json!({"spec": {"endpoint": "ftp://api.example"}}),
            &["spec.endpoint", "endpoint must be an http(s) URL"],
        ),
        case(
            "ProviderConfig",
            "Atlas federationSettingsId not 24 lower-case hex",
            json!({"spec": {"clerk": null, "atlas": {"federationSettingsId": "5F1E2D3C4B5A69788796A5B4"}}}),
            &["spec.atlas.federationSettingsId", "^[0-9a-f]{24}$"],
        ),
        case(
            "ProviderConfig",
            "Qovery organizationId not a UUID",
            json!({"spec": {"clerk": null, "qovery": {"organizationId": "acme-organization-not-a-uuid-000000"}}}),
            &["spec.qovery.organizationId"],
        ),
        case(
            "ProviderConfig",
            "Auth0 domain with a scheme",
            json!({"spec": {"clerk": null, "auth0": {"domain": "https://acme.eu.auth0.com"}}}),
            &["spec.auth0.domain"],
        ),
        case(
            "ProviderConfig",
            "Clerk apiVersion not a date",
            json!({"spec": {"clerk": {"apiVersion": "v2"}}}),
            &["spec.clerk.apiVersion"],
        ),
        case(
            "ProviderConfig",
            "requestsPerSecond below 1",
            json!({"spec": {"rateLimit": {"requestsPerSecond": 0}}}),
            &[
                "spec.rateLimit.requestsPerSecond",
                "greater than or equal to 1",
            ],
        ),
        case(
            "ProviderConfig",
            "requestsPerSecond above 1000",
            json!({"spec": {"rateLimit": {"requestsPerSecond": 1001}}}),
            &[
                "spec.rateLimit.requestsPerSecond",
                "less than or equal to 1000",
            ],
        ),
        case(
            "ProviderConfig",
            "unknown field (typo)",
            json!({"spec": {"endpiont": "https://api.example"}}),
            &["spec.endpiont", "unknown field"],
        ),
        // EnterpriseConnection
        case(
            "EnterpriseConnection",
            "both saml and oidc",
            json!({"spec": {"oidc": {"clientId": "x", "discoveryUrl": "https://idp.example/.well-known/openid-configuration"}}}),
            &["spec", "exactly one of saml or oidc must be set"],
        ),
        case(
            "EnterpriseConnection",
            "neither saml nor oidc",
            json!({"spec": {"saml": null}}),
            &["spec", "exactly one of saml or oidc must be set"],
        ),
        case(
            "EnterpriseConnection",
            "empty name",
            json!({"spec": {"name": ""}}),
            &["spec.name"],
        ),
        case(
            "EnterpriseConnection",
            "domain not an FQDN",
            json!({"spec": {"domains": ["acme.example", "not a domain"]}}),
            &["spec.domains[1]"],
        ),
        case(
            "EnterpriseConnection",
            "more than 50 domains",
            json!({"spec": {"domains": many_domains}}),
            &["spec.domains", "at most 50 items"],
        ),
        case(
            "EnterpriseConnection",
            "idpMetadata and idpMetadataUrl both set",
            json!({"spec": {"saml": {"idpMetadata": "<EntityDescriptor/>", "idpMetadataUrl": "https://idp.example/metadata"}}}),
            &[
                "spec.saml",
                "set at most one of idpMetadata or idpMetadataUrl",
            ],
        ),
        case(
            "EnterpriseConnection",
            "SAML SSO URL without scheme",
            json!({"spec": {"saml": {"idpSsoUrl": "idp.example/sso"}}}),
            &["spec.saml.idpSsoUrl"],
        ),
        case(
            "EnterpriseConnection",
            "oidc without discoveryUrl or authUrl",
            json!({"spec": {"saml": null, "oidc": {"clientId": "x"}}}),
            &[
                "spec.oidc",
                "set discoveryUrl, or both authUrl and tokenUrl",
            ],
        ),
        case(
            "EnterpriseConnection",
            "oidc authUrl without tokenUrl",
            json!({"spec": {"saml": null, "oidc": {"clientId": "x", "authUrl": "https://idp.example/authorize"}}}),
            &[
                "spec.oidc",
                "set discoveryUrl, or both authUrl and tokenUrl",
            ],
        ),
        case(
            "EnterpriseConnection",
            "oidc clientSecretRef without key",
            json!({"spec": {"saml": null, "oidc": {"clientId": "x", "discoveryUrl": "https://idp.example/.well-known/openid-configuration", "clientSecretRef": {"name": "s"}}}}),
            &["spec.oidc.clientSecretRef.key", "Required value"],
        ),
        case(
            "EnterpriseConnection",
            "deletionPolicy not Orphan or Delete",
            json!({"spec": {"deletionPolicy": "Remove"}}),
            &["spec.deletionPolicy", "Unsupported value"],
        ),
        case(
            "EnterpriseConnection",
            "managementPolicy not Manage or ObserveOnly",
            json!({"spec": {"managementPolicy": "Observe"}}),
            &["spec.managementPolicy", "Unsupported value"],
        ),
        case(
            "EnterpriseConnection",
            "providerConfigRef kind unknown",
            json!({"spec": {"providerConfigRef": {"kind": "Issuer"}}}),
            &["spec.providerConfigRef.kind", "Unsupported value"],
        ),
        case(
            "EnterpriseConnection",
            "idpType unknown",
            json!({"spec": {"idpType": "saml_generic"}}),
            &["spec.idpType", "Unsupported value"],
        ),
        // ConnectionProfile
        case(
            "ConnectionProfile",
            "empty name",
            json!({"spec": {"name": ""}}),
            &["spec.name"],
        ),
        case(
            "ConnectionProfile",
            "name over 50 characters",
            json!({"spec": {"name": "x".repeat(51)}}),
            &["spec.name"],
        ),
        case(
            "ConnectionProfile",
            "prefix template over 15 characters",
            json!({"spec": {"connectionNamePrefixTemplate": "acme-{org_id}-xyz"}}),
            &["spec.connectionNamePrefixTemplate"],
        ),
        case(
            "ConnectionProfile",
            "prefix template with a forbidden character",
            json!({"spec": {"connectionNamePrefixTemplate": "acme_{org_id}"}}),
            &["spec.connectionNamePrefixTemplate"],
        ),
        case(
            "ConnectionProfile",
            "prefix template with a leading hyphen",
            json!({"spec": {"connectionNamePrefixTemplate": "-acme"}}),
            &[
                "spec.connectionNamePrefixTemplate",
                "must not start with a hyphen or contain two hyphens in a row",
            ],
        ),
        case(
            "ConnectionProfile",
            "prefix template with two hyphens in a row",
            json!({"spec": {"connectionNamePrefixTemplate": "ac--me"}}),
            &[
                "spec.connectionNamePrefixTemplate",
                "must not start with a hyphen or contain two hyphens in a row",
            ],
        ),
        case(
            "ConnectionProfile",
            "unknown feature",
            json!({"spec": {"enabledFeatures": ["sso"]}}),
            &["spec.enabledFeatures[0]", "Unsupported value"],
        ),
        case(
            "ConnectionProfile",
            "duplicate feature",
            json!({"spec": {"enabledFeatures": ["scim", "scim"]}}),
            &["spec.enabledFeatures[1]", "Duplicate value"],
        ),
        case(
            "ConnectionProfile",
            "show_as_button not none/optional/required",
            json!({"spec": {"organization": {"show_as_button": "always"}}}),
            &["spec.organization.show_as_button", "Unsupported value"],
        ),
        case(
            "ConnectionProfile",
            "assign_membership_on_login not none/optional/required",
            json!({"spec": {"organization": {"assign_membership_on_login": "sometimes"}}}),
            &[
                "spec.organization.assign_membership_on_login",
                "Unsupported value",
            ],
        ),
        case(
            "ConnectionProfile",
            "strategy override key not one of the eight",
            json!({"spec": {"strategyOverrides": {"github": {"enabledFeatures": ["scim"]}}}}),
            &["spec.strategyOverrides.github", "unknown field"],
        ),
        case(
            "ConnectionProfile",
            "unknown feature in a strategy override",
            json!({"spec": {"strategyOverrides": {"google-apps": {"enabledFeatures": ["sso"]}}}}),
            &[
                "spec.strategyOverrides.google-apps.enabledFeatures[0]",
                "Unsupported value",
            ],
        ),
        case(
            "ConnectionProfile",
            "connectionConfig with a property (Auth0's schema allows only {})",
            json!({"spec": {"connectionConfig": {"idpinitiated": true}}}),
            &["spec.connectionConfig", "at most 0"],
        ),
        case(
            "ConnectionProfile",
            "a strategy's connectionConfig with a property",
            json!({"spec": {"strategyOverrides": {"okta": {"connectionConfig": {"x": 1}}}}}),
            &["spec.strategyOverrides.okta.connectionConfig", "at most 0"],
        ),
        case(
            "ConnectionProfile",
            "unknown SCIM token scope",
            json!({"spec": {"provisioning": {"scim": {"tokens": {"scopes": ["read:users"]}}}}}),
            &[
                "spec.provisioning.scim.tokens.scopes[0]",
                "Unsupported value",
            ],
        ),
        case(
            "ConnectionProfile",
            "SCIM provisioning without tokens",
            json!({"spec": {"provisioning": {"scim": {}}}}),
            &["spec.provisioning.scim.tokens", "Required value"],
        ),
        case(
            "ConnectionProfile",
            "Google Workspace provisioning of a strategy without syncUsers",
            json!({"spec": {"strategyOverrides": {"google-apps": {"provisioning": {"googleWorkspace": {}}}}}}),
            &[
                "spec.strategyOverrides.google-apps.provisioning.googleWorkspace.syncUsers",
                "Required value",
            ],
        ),
        case(
            "ConnectionProfile",
            "unknown cross app access status",
            json!({"spec": {"crossAppAccessResourceApp": {"status": {"defaultValue": "on"}}}}),
            &[
                "spec.crossAppAccessResourceApp.status.defaultValue",
                "Unsupported value",
            ],
        ),
        // OrgRoleMapping
        case(
            "OrgRoleMapping",
            "both connectionRef and externalName",
            json!({"spec": {"connectionRef": {"name": "acme"}}}),
            &["spec", "set exactly one of connectionRef or externalName"],
        ),
        case(
            "OrgRoleMapping",
            "neither connectionRef nor externalName",
            json!({"spec": {"externalName": null}}),
            &["spec", "set exactly one of connectionRef or externalName"],
        ),
        case(
            "OrgRoleMapping",
            "more than 200 mappings",
            json!({"spec": {"mappings": many_mappings}}),
            &["spec.mappings", "at most 200 items"],
        ),
        case(
            "OrgRoleMapping",
            "empty externalGroup",
            json!({"spec": {"mappings": [{"externalGroup": "", "roles": [{"role": "ORG_MEMBER"}]}]}}),
            &["spec.mappings[0].externalGroup"],
        ),
        case(
            "OrgRoleMapping",
            "mapping without roles",
            json!({"spec": {"mappings": [{"externalGroup": "admins", "roles": []}]}}),
            &["spec.mappings[0].roles"],
        ),
        case(
            "OrgRoleMapping",
            "the same externalGroup twice",
            json!({"spec": {"mappings": [
                {"externalGroup": "admins", "roles": [{"role": "ORG_OWNER"}]},
                {"externalGroup": "admins", "roles": [{"role": "ORG_MEMBER"}]}]}}),
            &["spec.mappings[1]", "Duplicate value"],
        ),
        case(
            "OrgRoleMapping",
            "more than 10 Atlas post-auth role grants",
            json!({"spec": {"atlas": {"postAuthRoleGrants": many_grants}}}),
            &["spec.atlas.postAuthRoleGrants", "at most 10 items"],
        ),
        case(
            "OrgRoleMapping",
            "providerConfigRef without name",
            json!({"spec": {"providerConfigRef": {"name": null}}}),
            &["spec.providerConfigRef.name", "Required value"],
        ),
    ]
}
