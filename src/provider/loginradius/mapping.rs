//! Pure mapping between the provider-neutral desired state, LoginRadius' connection object and Fields.
//!
//! One LoginRadius connection holds two resources: the EnterpriseConnection (name, domain, IdP
//! settings, attributes, type, active) and the OrgRoleMapping (`GroupRoles`). Each overlay below
//! writes only the fields its kind owns, so a PUT of the whole object never erases the other's.

use serde_json::{Value, json};

use super::api::{Attributes, Connection, GroupRole, IdpCertificate};
use crate::core::desired::{ConnectionDesired, Protocol, RoleMappingDesired};
use crate::core::diff::Fields;
use crate::core::normalize;
use crate::provider::{Outputs, ProviderError, ProviderKind, Remote, unsupported};

const KIND: ProviderKind = super::KIND;

/// Refuses what a LoginRadius connection cannot hold, naming the spec field.
pub fn check_connection(c: &ConnectionDesired, org_id: &str) -> Result<(), ProviderError> {
    if c.protocol == Protocol::Oidc || c.oidc.is_some() {
        // LoginRadius documents no OIDC fields for organization connections.
        return Err(unsupported(KIND, "spec.oidc"));
    }
    if !c.idp_type.starts_with("saml_") {
        return Err(unsupported(KIND, "spec.idpType"));
    }
    if c.domains.as_ref().is_some_and(|d| d.len() > 1) {
        return Err(unsupported(
            KIND,
            "spec.domains (a LoginRadius connection holds exactly one domain)",
        ));
    }
    if c.sync_user_attributes.is_some() {
        return Err(unsupported(KIND, "spec.syncUserAttributes"));
    }
    if c.organization_id.as_deref().is_some_and(|o| o != org_id) {
        return Err(unsupported(
            KIND,
            "spec.organizationId (connections live in the ProviderConfig's organization)",
        ));
    }
    if let Some(s) = &c.saml {
        let refused = [
            (s.idp_sso_url.is_some(), "spec.saml.idpSsoUrl"),
            (s.idp_metadata.is_some(), "spec.saml.idpMetadata"),
            (s.allow_subdomains.is_some(), "spec.saml.allowSubdomains"),
            (s.force_authn.is_some(), "spec.saml.forceAuthn"),
        ];
        if let Some((_, field)) = refused.iter().find(|(set, _)| *set) {
            return Err(unsupported(KIND, *field));
        }
    }
    Ok(())
}

/// Normalised fields the desired connection sets, in spec paths.
pub fn connection_fields(c: &ConnectionDesired, org_id: &str) -> Result<Fields, ProviderError> {
    check_connection(c, org_id)?;
    let mut f = Fields::new();
    f.insert("name".into(), json!(c.name));
    if let Some(d) = &c.domains {
        f.insert("domains".into(), json!(normalize::domains(d)));
    }
    if let Some(a) = c.active {
        f.insert("active".into(), json!(a));
    }
    // A defaulted idpType is not compared with an adopted connection's type.
    if c.idp_type_explicit {
        f.insert("idpType".into(), json!(c.idp_type));
    }
    if let Some(s) = &c.saml {
        if let Some(v) = &s.idp_entity_id {
            f.insert("saml.idpEntityId".into(), json!(v.trim()));
        }
        if let Some(v) = &s.idp_metadata_url {
            f.insert("saml.idpMetadataUrl".into(), json!(normalize::url(v)));
        }
        if let Some(v) = &s.idp_certificate {
            f.insert("saml.idpCertificate".into(), json!(normalize::pem(v)));
        }
        if let Some(v) = s.allow_idp_initiated {
            f.insert("saml.allowIdpInitiated".into(), json!(v));
        }
        if let Some(m) = &s.attribute_mapping {
            let leaves = [
                ("userId", &m.user_id),
                ("emailAddress", &m.email_address),
                ("firstName", &m.first_name),
                ("lastName", &m.last_name),
                ("groups", &m.groups),
            ];
            for (leaf, v) in leaves {
                if let Some(v) = v {
                    f.insert(format!("saml.attributeMapping.{leaf}"), json!(v));
                }
            }
            if !m.custom.is_empty() {
                f.insert("saml.attributeMapping.custom".into(), json!(m.custom));
            }
        }
    }
    Ok(f)
}

/// Observed connection as EnterpriseConnection fields (same paths and normalisation as [`connection_fields`]).
pub fn observed_connection_fields(c: &Connection) -> Fields {
    let mut f = Fields::new();
    f.insert("name".into(), json!(c.name));
    if let Some(d) = c.domain.as_deref().filter(|d| !d.trim().is_empty()) {
        f.insert("domains".into(), json!([normalize::domain(d)]));
    }
    if let Some(a) = c.is_active {
        f.insert("active".into(), json!(a));
    }
    if !c.connection_type.is_empty() {
        f.insert("idpType".into(), json!(c.connection_type));
    }
    if let Some(v) = c.idp_entity_id.as_deref().filter(|v| !v.is_empty()) {
        f.insert("saml.idpEntityId".into(), json!(v.trim()));
    }
    if let Some(v) = c.idp_metadata_url.as_deref().filter(|v| !v.is_empty()) {
        f.insert("saml.idpMetadataUrl".into(), json!(normalize::url(v)));
    }
    if let Some(v) = c
        .idp_certificate
        .as_ref()
        .map(|c| c.certificate.as_str())
        .filter(|v| !v.is_empty())
    {
        f.insert("saml.idpCertificate".into(), json!(normalize::pem(v)));
    }
    if let Some(v) = c.is_idp_initiated {
        f.insert("saml.allowIdpInitiated".into(), json!(v));
    }
    if let Some(a) = &c.attributes {
        let leaves = [
            ("userId", &a.id),
            ("emailAddress", &a.email),
            ("firstName", &a.first_name),
            ("lastName", &a.last_name),
            ("groups", &a.groups),
        ];
        for (leaf, v) in leaves {
            if let Some(v) = v {
                f.insert(format!("saml.attributeMapping.{leaf}"), json!(v));
            }
        }
        if !a.custom_mapping.is_empty() {
            f.insert(
                "saml.attributeMapping.custom".into(),
                json!(a.custom_mapping),
            );
        }
    }
    f
}

/// Writes the fields the EnterpriseConnection owns and the spec sets onto `conn`; leaves
/// `GroupRoles` and everything the spec leaves out as they are.
pub fn overlay_connection(conn: &mut Connection, c: &ConnectionDesired) {
    conn.name = c.name.clone();
    if let Some(d) = c.domains.as_ref().and_then(|d| d.first()) {
        conn.domain = Some(d.clone());
    }
    if let Some(a) = c.active {
        conn.is_active = Some(a);
    }
    if c.idp_type_explicit || conn.connection_type.is_empty() {
        conn.connection_type = c.idp_type.clone();
    }
    let Some(s) = &c.saml else { return };
    if let Some(v) = &s.idp_entity_id {
        conn.idp_entity_id = Some(v.trim().to_string());
    }
    if let Some(v) = &s.idp_metadata_url {
        conn.idp_metadata_url = Some(v.trim().to_string());
    }
    if let Some(v) = &s.idp_certificate {
        let cert = conn
            .idp_certificate
            .get_or_insert_with(IdpCertificate::default);
        if normalize::pem(&cert.certificate) != normalize::pem(v) {
            // The dates belong to the old certificate; LoginRadius derives new ones.
            *cert = IdpCertificate {
                certificate: v.clone(),
                ..IdpCertificate::default()
            };
        }
    }
    if let Some(v) = s.allow_idp_initiated {
        conn.is_idp_initiated = Some(v);
    }
    if let Some(m) = &s.attribute_mapping {
        let a = conn.attributes.get_or_insert_with(Attributes::default);
        let leaves = [
            (&mut a.id, &m.user_id),
            (&mut a.email, &m.email_address),
            (&mut a.first_name, &m.first_name),
            (&mut a.last_name, &m.last_name),
            (&mut a.groups, &m.groups),
        ];
        for (wire, want) in leaves {
            if let Some(v) = want {
                *wire = Some(v.clone());
            }
        }
        if !m.custom.is_empty() {
            a.custom_mapping = m.custom.clone();
        }
    }
}

/// The body of a create.
pub fn new_connection(c: &ConnectionDesired) -> Connection {
    let mut conn = Connection::default();
    overlay_connection(&mut conn, c);
    conn
}

/// Provider-generated values an IdP administrator needs.
pub fn outputs(c: &Connection) -> Outputs {
    Outputs {
        sp_entity_id: c.entity_id.clone(),
        acs_url: c.acs_endpoint.clone(),
        sp_metadata_url: c.metadata_url.clone(),
        sp_certificate: c.sp_certificate.as_ref().map(|s| s.certificate.clone()),
    }
}

/// The connection as an EnterpriseConnection.
pub fn connection_remote(c: &Connection) -> Remote {
    Remote {
        id: c.id.clone(),
        name: c.name.clone(),
        fields: observed_connection_fields(c),
        outputs: outputs(c),
    }
}

/// Refuses role settings LoginRadius cannot hold, naming the spec field.
pub fn check_role_mapping(m: &RoleMappingDesired) -> Result<(), ProviderError> {
    if m.default_role.is_some() {
        return Err(unsupported(KIND, "spec.defaultRole"));
    }
    if m.enforce_group_sync.is_some() {
        return Err(unsupported(KIND, "spec.enforceGroupSync"));
    }
    if m.atlas.is_some() {
        return Err(unsupported(KIND, "spec.atlas"));
    }
    for (i, g) in m.mappings.iter().enumerate() {
        // A LoginRadius GroupRole maps one group to exactly one role.
        if g.roles.len() != 1 {
            return Err(unsupported(
                KIND,
                format!("spec.mappings[{i}].roles (LoginRadius maps a group to exactly one role)"),
            ));
        }
        if g.roles.iter().any(|r| r.project_id.is_some()) {
            return Err(unsupported(
                KIND,
                format!("spec.mappings[{i}].roles[0].projectId"),
            ));
        }
    }
    Ok(())
}

/// One mapping as a normalised value. The group id is shown only when it differs from the name,
/// because a mapping without `externalGroupId` is sent with the group name as `GroupId`.
fn mapping_value(name: &str, group_id: &str, role: &str) -> Value {
    let mut v = json!({"externalGroup": name, "roles": [{"role": role}]});
    if group_id != name {
        v["externalGroupId"] = json!(group_id);
    }
    v
}

fn sorted(mut v: Vec<Value>) -> Value {
    v.sort_by_key(|a| a.to_string());
    v.dedup();
    Value::Array(v)
}

/// Normalised fields the desired role mapping sets.
pub fn role_mapping_fields(m: &RoleMappingDesired) -> Result<Fields, ProviderError> {
    check_role_mapping(m)?;
    let items = desired_group_roles(m)
        .iter()
        .map(|g| mapping_value(&g.name, &g.group_id, &g.role_id))
        .collect();
    Ok(Fields::from([("mappings".to_string(), sorted(items))]))
}

/// Observed `GroupRoles` as OrgRoleMapping fields.
pub fn observed_role_mapping_fields(c: &Connection) -> Fields {
    let items = c
        .group_roles
        .iter()
        .map(|g| mapping_value(&g.name, &g.group_id, &g.role_id))
        .collect();
    Fields::from([("mappings".to_string(), sorted(items))])
}

/// The connection as an OrgRoleMapping (its id is the connection id, which is also its name).
pub fn role_mapping_remote(c: &Connection) -> Remote {
    Remote {
        id: c.id.clone(),
        name: c.id.clone(),
        fields: observed_role_mapping_fields(c),
        outputs: Outputs::default(),
    }
}

/// The desired `GroupRoles`, without ids.
fn desired_group_roles(m: &RoleMappingDesired) -> Vec<GroupRole> {
    m.mappings
        .iter()
        .map(|g| GroupRole {
            group_id: g
                .external_group_id
                .clone()
                .unwrap_or_else(|| g.external_group.clone()),
            name: g.external_group.clone(),
            role_id: g.roles.first().map(|r| r.role.clone()).unwrap_or_default(),
            id: String::new(),
        })
        .collect()
}

/// Replaces `GroupRoles` (the only field an OrgRoleMapping owns), keeping the ids of unchanged entries.
pub fn overlay_role_mapping(conn: &mut Connection, m: &RoleMappingDesired) {
    let old = std::mem::take(&mut conn.group_roles);
    conn.group_roles = desired_group_roles(m)
        .into_iter()
        .map(|mut g| {
            if let Some(prev) = old
                .iter()
                .find(|o| o.group_id == g.group_id && o.name == g.name && o.role_id == g.role_id)
            {
                g.id = prev.id.clone();
            }
            g
        })
        .collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::diff::diff;
    use crate::crd::{AttributeMapping, GroupMapping, RoleAssignment, SamlSettings};

    fn seed_example() -> Connection {
        serde_json::from_str(super::super::api::tests::SEED_EXAMPLE).unwrap()
    }

    fn desired() -> ConnectionDesired {
        ConnectionDesired {
            name: "AzureAD".into(),
            domains: Some(vec!["example.com".into()]),
            active: Some(true),
            protocol: Protocol::Saml,
            idp_type: "saml_custom".into(),
            idp_type_explicit: true,
            saml: Some(SamlSettings {
                idp_entity_id: Some("https://exampleIdp.com".into()),
                idp_metadata_url: Some("https://EXAMPLEIDP.com/metadata.xml".into()),
                idp_certificate: Some(
                    "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----".into(),
                ),
                allow_idp_initiated: Some(true),
                attribute_mapping: Some(Box::new(AttributeMapping {
                    user_id: Some("sub".into()),
                    email_address: Some("email".into()),
                    groups: Some("groups".into()),
                    custom: [("Gender".to_string(), "gender".to_string())].into(),
                    ..Default::default()
                })),
                ..Default::default()
            }),
            oidc: None,
            sync_user_attributes: None,
            organization_id: None,
        }
    }

    fn roles(pairs: &[(&str, Option<&str>, &str)]) -> RoleMappingDesired {
        RoleMappingDesired {
            target: "conn_Z5ZtmHl2aMpi5VZP".into(),
            default_role: None,
            enforce_group_sync: None,
            mappings: pairs
                .iter()
                .map(|(g, id, r)| GroupMapping {
                    external_group: g.to_string(),
                    external_group_id: id.map(str::to_string),
                    roles: vec![RoleAssignment {
                        role: r.to_string(),
                        project_id: None,
                    }],
                })
                .collect(),
            atlas: None,
        }
    }

    #[test]
    fn the_seed_example_matches_a_spec_that_describes_it() {
        let want = connection_fields(&desired(), "org_1").unwrap();
        let got = observed_connection_fields(&seed_example());
        assert!(diff(&want, &got).is_empty(), "{:?}", diff(&want, &got));
        let m = roles(&[(
            "Security",
            Some("eca8da89-09ed-476f-a689-11fa9a0b14ce"),
            "role_Z6NE1ZkupP7lwD6E",
        )]);
        let want = role_mapping_fields(&m).unwrap();
        assert!(diff(&want, &observed_role_mapping_fields(&seed_example())).is_empty());
    }

    #[test]
    fn a_defaulted_idp_type_neither_compares_nor_overwrites_an_adopted_type() {
        let mut conn = seed_example();
        conn.connection_type = "saml_microsoft".into();
        let mut d = desired();
        d.idp_type_explicit = false;
        assert!(
            !connection_fields(&d, "org_1")
                .unwrap()
                .contains_key("idpType")
        );
        overlay_connection(&mut conn, &d);
        assert_eq!(conn.connection_type, "saml_microsoft");
        // Set in the spec, it is compared and written.
        d.idp_type_explicit = true;
        assert_eq!(
            connection_fields(&d, "org_1").unwrap()["idpType"],
            "saml_custom"
        );
        overlay_connection(&mut conn, &d);
        assert_eq!(conn.connection_type, "saml_custom");
        // A new connection gets the default.
        d.idp_type_explicit = false;
        assert_eq!(new_connection(&d).connection_type, "saml_custom");
    }

    #[test]
    fn a_connection_update_keeps_group_roles() {
        let mut conn = seed_example();
        let before = conn.group_roles.clone();
        let mut d = desired();
        d.name = "Renamed".into();
        d.saml.as_mut().unwrap().idp_entity_id = Some("https://other-idp".into());
        overlay_connection(&mut conn, &d);
        assert_eq!(conn.group_roles, before);
        assert_eq!(conn.name, "Renamed");
        assert_eq!(conn.idp_entity_id.as_deref(), Some("https://other-idp"));
        // Fields the spec leaves out stay as they were.
        assert_eq!(
            conn.attributes.as_ref().unwrap().first_name.as_deref(),
            Some("firstName")
        );
        // The body carries GroupRoles, so a full-replace PUT keeps them.
        let body = serde_json::to_value(&conn).unwrap();
        assert_eq!(body["GroupRoles"][0]["RoleId"], "role_Z6NE1ZkupP7lwD6E");
    }

    #[test]
    fn a_role_update_keeps_idp_settings() {
        let mut conn = seed_example();
        let before = conn.clone();
        overlay_role_mapping(&mut conn, &roles(&[("Admins", None, "role_admin")]));
        assert_eq!(conn.group_roles.len(), 1);
        assert_eq!(conn.group_roles[0].group_id, "Admins");
        let mut only_roles_changed = conn.clone();
        only_roles_changed.group_roles = before.group_roles.clone();
        assert_eq!(only_roles_changed, before);
        assert_eq!(
            observed_connection_fields(&conn),
            observed_connection_fields(&before)
        );
    }

    #[test]
    fn role_update_keeps_ids_of_unchanged_entries() {
        let mut conn = seed_example();
        overlay_role_mapping(
            &mut conn,
            &roles(&[
                (
                    "Security",
                    Some("eca8da89-09ed-476f-a689-11fa9a0b14ce"),
                    "role_Z6NE1ZkupP7lwD6E",
                ),
                ("New", None, "role_new"),
            ]),
        );
        assert_eq!(conn.group_roles[0].id, "group_role_Z6NFN5kupP7lwD6G");
        assert_eq!(conn.group_roles[1].id, "");
    }

    #[test]
    fn mapping_order_does_not_matter() {
        let a = role_mapping_fields(&roles(&[("a", None, "r1"), ("b", None, "r2")])).unwrap();
        let b = role_mapping_fields(&roles(&[("b", None, "r2"), ("a", None, "r1")])).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn what_loginradius_cannot_hold_is_refused_by_name() {
        let expect = |d: ConnectionDesired, field: &str| match connection_fields(&d, "org_1") {
            Err(ProviderError::Unsupported { what, .. }) => {
                assert!(what.starts_with(field), "{what}")
            }
            other => panic!("{field}: {other:?}"),
        };
        let mut d = desired();
        d.domains = Some(vec!["a.com".into(), "b.com".into()]);
        expect(d, "spec.domains");
        let mut d = desired();
        d.saml.as_mut().unwrap().force_authn = Some(true);
        expect(d, "spec.saml.forceAuthn");
        let mut d = desired();
        d.saml.as_mut().unwrap().idp_sso_url = Some("https://idp/sso".into());
        expect(d, "spec.saml.idpSsoUrl");
        let mut d = desired();
        d.protocol = Protocol::Oidc;
        expect(d, "spec.oidc");
        let mut d = desired();
        d.organization_id = Some("org_other".into());
        expect(d, "spec.organizationId");
        let mut d = desired();
        d.organization_id = Some("org_1".into());
        assert!(connection_fields(&d, "org_1").is_ok());

        let mut m = roles(&[("a", None, "r1")]);
        m.mappings[0].roles.push(RoleAssignment {
            role: "r2".into(),
            project_id: None,
        });
        match role_mapping_fields(&m) {
            Err(ProviderError::Unsupported { what, .. }) => {
                assert!(what.starts_with("spec.mappings[0].roles"))
            }
            other => panic!("{other:?}"),
        }
        let mut m = roles(&[]);
        m.default_role = Some("viewer".into());
        assert!(matches!(
            role_mapping_fields(&m),
            Err(ProviderError::Unsupported { what, .. }) if what == "spec.defaultRole"
        ));
    }
}
