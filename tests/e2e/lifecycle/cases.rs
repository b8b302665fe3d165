//! The five cases: one resource kind per provider, with its spec, its edit and how to read its
//! remote object.

use super::*;

pub(super) fn clerk_enterprise_connection_case() -> Case {
    Case {
        provider: "clerk",
        block: json!({"clerk": {}}),
        credentials: vec![("secretKey", demo::CLERK_SECRET_KEY)],
        kind: "EnterpriseConnection",
        prelude: vec![],
        spec: json!({"name": "Acme Okta", "domains": ["acme.example"], "idpType": "saml_okta",
                     "saml": {"idpMetadataUrl": "https://acme.okta.example/metadata"}}),
        pointer: "/name",
        initial: json!("Acme Okta"),
        edit: json!({"name": "Acme Okta EU"}),
        edited: json!("Acme Okta EU"),
        remote: |e, id| json_of(e.clerk.get_connection(id)),
        console: |e, id| {
            e.clerk
                .edit_connection(id, |c| c.name = "Renamed in the dashboard".into());
        },
        count: |e| e.clerk.count_connections(),
        creatable: true,
        deleted: |e, id| e.clerk.get_connection(id).is_none(),
        seed: Some(|e| {
            let id = "ec_seededInTheDashboard00000000";
            e.clerk
                .insert_from_body(id, json!({"name": "Seeded", "domains": ["seeded.example"], "provider": "saml_okta"}))
                .unwrap();
            id.to_string()
        }),
    }
}

pub(super) fn auth0_connection_profile_case() -> Case {
    Case {
        provider: "auth0",
        block: json!({"auth0": {"domain": demo::AUTH0_DOMAIN}}),
        credentials: vec![
            ("clientId", demo::AUTH0_CLIENT_ID),
            ("clientSecret", demo::AUTH0_CLIENT_SECRET),
        ],
        kind: "ConnectionProfile",
        prelude: vec![],
        spec: json!({"name": "workforce", "enabledFeatures": ["scim"],
                     "organization": {"show_as_button": "optional", "assign_membership_on_login": "required"}}),
        pointer: "/name",
        initial: json!("workforce"),
        edit: json!({"name": "workforce-v2"}),
        edited: json!("workforce-v2"),
        remote: |e, id| json_of(e.auth0.get_profile(id)),
        console: |e, id| {
            e.auth0
                .edit_profile(id, |p| p.name = "renamed-in-dashboard".into());
        },
        count: |e| e.auth0.count_profiles(),
        creatable: true,
        deleted: |e, id| e.auth0.get_profile(id).is_none(),
        seed: Some(|e| {
            let id = "cop_seededInTheDashboard";
            e.auth0.insert_profile(
                id,
                auth0_api::ConnectionProfile {
                    name: "seeded".into(),
                    ..Default::default()
                },
            );
            id.to_string()
        }),
    }
}

pub(super) fn loginradius_enterprise_connection_case() -> Case {
    Case {
        provider: "loginradius",
        block: json!({"loginradius": {"organizationId": demo::LOGINRADIUS_ORG}}),
        credentials: vec![
            ("apiKey", demo::LOGINRADIUS_API_KEY),
            ("apiSecret", demo::LOGINRADIUS_API_SECRET),
        ],
        kind: "EnterpriseConnection",
        prelude: vec![],
        spec: json!({"name": "Globex", "domains": ["globex.example"], "idpType": "saml_microsoft",
                     "saml": {"idpEntityId": "https://sts.windows.net/globex/",
                              "idpMetadataUrl": "https://login.microsoftonline.com/globex/federationmetadata.xml",
                              "allowIdpInitiated": true}}),
        pointer: "/IsIDPInitiated",
        initial: json!(true),
        edit: json!({"saml": {"allowIdpInitiated": false}}),
        edited: json!(false),
        remote: |e, id| json_of(e.loginradius.get_connection(id)),
        console: |e, id| {
            e.loginradius
                .edit_connection(id, |c| c.is_idp_initiated = Some(true));
        },
        count: |e| e.loginradius.count_connections(),
        creatable: true,
        deleted: |e, id| e.loginradius.get_connection(id).is_none(),
        seed: Some(|e| {
            e.loginradius.insert_connection(
                "conn_seededInConsole",
                loginradius_api::Connection {
                    name: "Seeded".into(),
                    domain: Some("seeded.example".into()),
                    ..Default::default()
                },
            )
        }),
    }
}

pub(super) fn qovery_org_role_mapping_case() -> Case {
    Case {
        provider: "qovery",
        block: json!({"qovery": {"organizationId": demo::QOVERY_ORG}}),
        credentials: vec![("token", demo::QOVERY_TOKEN)],
        kind: "OrgRoleMapping",
        // Qovery cannot create connections: the EnterpriseConnection adopts the seeded one by name.
        prelude: vec![
            json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
            "metadata": {"name": "conn"},
            "spec": {"providerConfigRef": {"name": "qovery"}, "name": demo::QOVERY_CONNECTION,
                     "deletionPolicy": "Orphan", "saml": {}}}),
        ],
        spec: json!({"connectionRef": {"name": "conn"}, "defaultRole": "viewer",
                     "mappings": [{"externalGroup": "eng", "roles": [{"role": "devops"}]}]}),
        pointer: "/default_role",
        initial: json!("viewer"),
        edit: json!({"defaultRole": "devops"}),
        edited: json!("devops"),
        remote: |e, id| json_of(e.qovery.get_connection(id)),
        console: |e, id| {
            e.qovery
                .edit_connection(id, |c| c.default_role = "admin".into());
        },
        count: |e| e.qovery.count_connections(),
        creatable: false,
        deleted: |e, id| {
            e.qovery
                .get_connection(id)
                .is_some_and(|c| c.group_mappings.is_empty())
        },
        seed: None,
    }
}

pub(super) fn atlas_org_role_mapping_case() -> Case {
    Case {
        provider: "atlas",
        block: json!({"atlas": {"federationSettingsId": demo::ATLAS_FEDERATION}}),
        credentials: vec![
            ("publicKey", demo::ATLAS_PUBLIC_KEY),
            ("privateKey", demo::ATLAS_PRIVATE_KEY),
        ],
        kind: "OrgRoleMapping",
        prelude: vec![],
        spec: json!({"externalName": demo::ATLAS_ORG,
                     "mappings": [{"externalGroup": "dba", "roles": [{"role": "ORG_OWNER"}]}],
                     "atlas": {"domainRestrictionEnabled": true, "domainAllowList": ["acme.example"]}}),
        pointer: "/domainAllowList",
        initial: json!(["acme.example"]),
        edit: json!({"atlas": {"domainAllowList": ["acme.example", "eu.acme.example"]}}),
        edited: json!(["acme.example", "eu.acme.example"]),
        remote: |e, id| json_of(e.atlas.get_org_config(id)),
        console: |e, id| {
            e.atlas
                .edit_org_config(id, |c| c.domain_allow_list = vec!["evil.example".into()]);
        },
        count: |e| e.atlas.count_org_configs(),
        creatable: false,
        deleted: |e, id| {
            e.atlas
                .get_org_config(id)
                .is_some_and(|c| c.role_mappings.is_empty())
        },
        seed: None,
    }
}
