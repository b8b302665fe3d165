//! Pure mapping between ssoperator's desired state and Qovery's `EnterpriseConnectionDto`.
//!
//! One DTO holds both kinds: the EnterpriseConnection kind owns none of its fields (Qovery sets up
//! the SAML/OIDC side itself; the connection is only adopted by name), the OrgRoleMapping kind owns
//! `default_role`, `enforce_group_sync` and `group_mappings`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::api::EnterpriseConnectionDto;
use crate::core::desired::{ConnectionDesired, Protocol, RoleMappingDesired};
use crate::core::diff::Fields;
use crate::crd::GroupMapping;
use crate::provider::{Outputs, ProviderError, Remote, unsupported};

/// Spec path of the default role.
pub const DEFAULT_ROLE: &str = "defaultRole";
/// Spec path of the group-sync flag.
pub const ENFORCE_GROUP_SYNC: &str = "enforceGroupSync";
/// Spec path of the mappings, compared in Qovery's dictionary form.
pub const MAPPINGS: &str = "mappings";

/// Role -> IdP group names, normalised: keys sorted, group lists sorted and de-duplicated, roles
/// without any group left out (an empty list and an absent key grant the same).
pub type RoleGroups = BTreeMap<String, Vec<String>>;

/// A role as Qovery names it: a built-in name as written, or a custom role UUID in lower case
/// (UUIDs are case-insensitive; comparing them as written would show a diff forever).
pub fn role(r: &str) -> String {
    let r = r.trim();
    let is_uuid = r.len() == 36
        && r.chars().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    if is_uuid {
        r.to_ascii_lowercase()
    } else {
        r.to_string()
    }
}

fn refuse(what: impl Into<String>) -> ProviderError {
    unsupported(super::KIND, what)
}

/// Validates a connection spec: only `name` (the adoption key) and `saml: {}` are accepted, since
/// Qovery's API exposes none of the connection's identity-provider settings.
pub fn connection_fields(c: &ConnectionDesired) -> Result<Fields, ProviderError> {
    if c.domains.is_some() {
        return Err(refuse("spec.domains"));
    }
    if c.active.is_some() {
        return Err(refuse("spec.active"));
    }
    if c.protocol == Protocol::Oidc || c.oidc.is_some() {
        return Err(refuse("spec.oidc"));
    }
    // The default for SAML is saml_custom; anything else was set explicitly.
    if c.idp_type != "saml_custom" {
        return Err(refuse("spec.idpType"));
    }
    if let Some(saml) = &c.saml {
        // Every SAML setting skips serialising when unset, so the object's keys are what the spec sets.
        let set = serde_json::to_value(saml).unwrap_or(Value::Null);
        if let Some(key) = set.as_object().and_then(|o| o.keys().next()) {
            return Err(refuse(format!("spec.saml.{key}")));
        }
    }
    if c.sync_user_attributes.is_some() {
        return Err(refuse("spec.syncUserAttributes"));
    }
    if c.organization_id.is_some() {
        return Err(refuse("spec.organizationId"));
    }
    Ok(Fields::new())
}

/// Inverts the spec's `[{externalGroup, roles:[{role}]}]` into Qovery's `role -> [groups]`.
pub fn group_mappings(mappings: &[GroupMapping]) -> Result<RoleGroups, ProviderError> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (i, m) in mappings.iter().enumerate() {
        if m.external_group_id.is_some() {
            return Err(refuse(format!("spec.mappings[{i}].externalGroupId")));
        }
        for (j, r) in m.roles.iter().enumerate() {
            if r.project_id.is_some() {
                return Err(refuse(format!("spec.mappings[{i}].roles[{j}].projectId")));
            }
            out.entry(role(&r.role))
                .or_default()
                .insert(m.external_group.clone());
        }
    }
    Ok(out
        .into_iter()
        .map(|(role, groups)| (role, groups.into_iter().collect()))
        .collect())
}

/// Normalises a dictionary as read from Qovery (see [`RoleGroups`]).
pub fn normalize_groups(raw: &BTreeMap<String, Vec<String>>) -> RoleGroups {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (r, groups) in raw {
        out.entry(role(r))
            .or_default()
            .extend(groups.iter().cloned());
    }
    out.into_iter()
        .filter(|(_, groups)| !groups.is_empty())
        .map(|(r, groups)| (r, groups.into_iter().collect()))
        .collect()
}

fn groups_value(g: &RoleGroups) -> Value {
    json!(g)
}

/// The role fields a mapping spec sets. `mappings` is always owned: an empty list means "no
/// mappings" (the CRD cannot tell an absent list from an empty one).
pub fn mapping_fields(m: &RoleMappingDesired) -> Result<Fields, ProviderError> {
    if m.atlas.is_some() {
        return Err(refuse("spec.atlas"));
    }
    let mut f = Fields::new();
    if let Some(r) = &m.default_role {
        f.insert(DEFAULT_ROLE.into(), json!(role(r)));
    }
    if let Some(sync) = m.enforce_group_sync {
        f.insert(ENFORCE_GROUP_SYNC.into(), json!(sync));
    }
    f.insert(MAPPINGS.into(), groups_value(&group_mappings(&m.mappings)?));
    Ok(f)
}

/// Values Qovery's identity-provider setup needs (documented on the SSO page, not returned by the API).
pub fn outputs(name: &str) -> Outputs {
    Outputs {
        sp_entity_id: Some(format!("urn:auth0:qovery:{name}")),
        acs_url: Some(format!(
            "https://auth.qovery.com/login/callback?connection={name}"
        )),
        sp_metadata_url: None,
        sp_certificate: None,
    }
}

/// A connection as the EnterpriseConnection kind sees it: no managed fields, only outputs.
pub fn remote_connection(dto: &EnterpriseConnectionDto) -> Remote {
    Remote {
        id: dto.connection_name.clone(),
        name: dto.connection_name.clone(),
        fields: Fields::new(),
        outputs: outputs(&dto.connection_name),
    }
}

/// A connection as the OrgRoleMapping kind sees it: its three role fields.
pub fn remote_mapping(dto: &EnterpriseConnectionDto) -> Remote {
    let mut fields = Fields::new();
    fields.insert(DEFAULT_ROLE.into(), json!(role(&dto.default_role)));
    fields.insert(ENFORCE_GROUP_SYNC.into(), json!(dto.enforce_group_sync));
    fields.insert(
        MAPPINGS.into(),
        groups_value(&normalize_groups(&dto.group_mappings)),
    );
    Remote {
        id: dto.connection_name.clone(),
        name: dto.connection_name.clone(),
        fields,
        outputs: Outputs::default(),
    }
}

/// The spec's `mappings` (`[{externalGroup, roles: [{role}]}]`, groups sorted) from the
/// dictionary form of [`remote_mapping`]: the inverse of [`group_mappings`], so that a spec built
/// from it has the same fields as the remote object.
pub fn spec_mappings(groups: &Value) -> Value {
    let mut by_group: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (role, members) in groups.as_object().into_iter().flatten() {
        for g in members
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            by_group
                .entry(g.to_string())
                .or_default()
                .insert(role.clone());
        }
    }
    Value::Array(
        by_group
            .into_iter()
            .map(|(group, roles)| {
                let roles: Vec<Value> = roles.into_iter().map(|r| json!({"role": r})).collect();
                json!({"externalGroup": group, "roles": roles})
            })
            .collect(),
    )
}

/// The latest DTO with the mapping's owned fields laid over it; whatever the spec leaves out stays.
pub fn overlay(
    latest: &EnterpriseConnectionDto,
    m: &RoleMappingDesired,
) -> Result<EnterpriseConnectionDto, ProviderError> {
    mapping_fields(m)?;
    let mut dto = latest.clone();
    if let Some(r) = &m.default_role {
        dto.default_role = role(r);
    }
    if let Some(sync) = m.enforce_group_sync {
        dto.enforce_group_sync = sync;
    }
    dto.group_mappings = group_mappings(&m.mappings)?;
    Ok(dto)
}

/// What "deleting" a role mapping leaves: no mappings, no sync. `default_role` is required by the
/// API, so it keeps its value.
pub fn cleared(latest: &EnterpriseConnectionDto) -> EnterpriseConnectionDto {
    EnterpriseConnectionDto {
        enforce_group_sync: false,
        group_mappings: BTreeMap::new(),
        ..latest.clone()
    }
}

/// Whether [`cleared`] would change nothing (so a repeated delete sends no write).
pub fn is_cleared(dto: &EnterpriseConnectionDto) -> bool {
    !dto.enforce_group_sync && normalize_groups(&dto.group_mappings).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::diff::diff;
    use crate::crd::{AtlasOrgSettings, RoleAssignment, SamlSettings};

    fn gm(group: &str, roles: &[&str]) -> GroupMapping {
        GroupMapping {
            external_group: group.into(),
            external_group_id: None,
            roles: roles
                .iter()
                .map(|r| RoleAssignment {
                    role: (*r).into(),
                    project_id: None,
                })
                .collect(),
        }
    }

    fn mapping(mappings: Vec<GroupMapping>) -> RoleMappingDesired {
        RoleMappingDesired {
            target: "acme".into(),
            default_role: Some("viewer".into()),
            enforce_group_sync: Some(true),
            mappings,
            atlas: None,
        }
    }

    fn connection() -> ConnectionDesired {
        ConnectionDesired {
            name: "acme".into(),
            domains: None,
            active: None,
            protocol: Protocol::Saml,
            idp_type: "saml_custom".into(),
            idp_type_explicit: true,
            saml: Some(SamlSettings::default()),
            oidc: None,
            sync_user_attributes: None,
            organization_id: None,
        }
    }

    #[test]
    fn mappings_are_inverted_into_a_sorted_role_dictionary() {
        let g = group_mappings(&[
            gm("DevSecOps", &["devops"]),
            gm("Administrators", &["devops", "admin"]),
        ])
        .unwrap();
        assert_eq!(
            json!(g),
            json!({"admin": ["Administrators"], "devops": ["Administrators", "DevSecOps"]})
        );
    }

    #[test]
    fn a_spec_and_a_dto_meaning_the_same_give_no_diff() {
        let want = mapping_fields(&mapping(vec![
            gm("b", &["viewer"]),
            gm("a", &["viewer", "devops"]),
        ]))
        .unwrap();
        let dto = EnterpriseConnectionDto {
            extra: Default::default(),
            connection_name: "acme".into(),
            default_role: "viewer".into(),
            enforce_group_sync: true,
            group_mappings: BTreeMap::from([
                ("viewer".into(), vec!["b".into(), "a".into(), "a".into()]),
                ("devops".into(), vec!["a".into()]),
                ("admin".into(), vec![]),
            ]),
        };
        assert!(diff(&want, &remote_mapping(&dto).fields).is_empty());
    }

    #[test]
    fn custom_role_uuids_compare_case_insensitively() {
        let id = "3F1C2A4E-8B7D-4C1E-9A2F-5D6E7F809A1B";
        assert_eq!(role(id), id.to_ascii_lowercase());
        assert_eq!(role("Viewer"), "Viewer");
        let mut m = mapping(vec![gm("ops", &[id])]);
        m.default_role = Some(id.into());
        let dto = EnterpriseConnectionDto {
            extra: Default::default(),
            connection_name: "acme".into(),
            default_role: id.to_ascii_lowercase(),
            enforce_group_sync: true,
            group_mappings: BTreeMap::from([(id.to_ascii_lowercase(), vec!["ops".into()])]),
        };
        assert!(diff(&mapping_fields(&m).unwrap(), &remote_mapping(&dto).fields).is_empty());
    }

    #[test]
    fn fields_the_spec_leaves_out_are_absent() {
        let mut m = mapping(vec![]);
        m.default_role = None;
        m.enforce_group_sync = None;
        let f = mapping_fields(&m).unwrap();
        assert_eq!(f.keys().collect::<Vec<_>>(), vec!["mappings"]);
        assert_eq!(f["mappings"], json!({}));
    }

    #[test]
    fn project_scoped_roles_and_atlas_settings_are_refused_by_path() {
        let mut g = gm("a", &["viewer", "devops"]);
        g.roles[1].project_id = Some("p".into());
        let err = mapping_fields(&mapping(vec![gm("x", &["viewer"]), g])).unwrap_err();
        assert!(
            err.to_string()
                .contains("spec.mappings[1].roles[1].projectId")
        );
        let mut m = mapping(vec![]);
        m.atlas = Some(AtlasOrgSettings::default());
        assert!(
            mapping_fields(&m)
                .unwrap_err()
                .to_string()
                .contains("spec.atlas")
        );
    }

    #[test]
    fn overlay_keeps_what_the_spec_leaves_out() {
        let latest = EnterpriseConnectionDto {
            extra: Default::default(),
            connection_name: "acme".into(),
            default_role: "admin".into(),
            enforce_group_sync: false,
            group_mappings: BTreeMap::new(),
        };
        let mut m = mapping(vec![gm("ops", &["devops"])]);
        m.default_role = None;
        let dto = overlay(&latest, &m).unwrap();
        assert_eq!(dto.default_role, "admin");
        assert!(dto.enforce_group_sync);
        assert_eq!(dto.group_mappings["devops"], vec!["ops".to_string()]);
    }

    #[test]
    fn clearing_keeps_the_required_default_role() {
        let latest = EnterpriseConnectionDto {
            extra: Default::default(),
            connection_name: "acme".into(),
            default_role: "devops".into(),
            enforce_group_sync: true,
            group_mappings: BTreeMap::from([("admin".into(), vec!["a".into()])]),
        };
        let c = cleared(&latest);
        assert_eq!(c.default_role, "devops");
        assert!(is_cleared(&c) && !is_cleared(&latest));
    }

    #[test]
    fn spec_mappings_invert_the_dictionary() {
        let spec: Vec<GroupMapping> = serde_json::from_value(json!([
            {"externalGroup": "devs", "roles": [{"role": "DEVELOPER"}, {"role": "VIEWER"}]},
            {"externalGroup": "admins", "roles": [{"role": "ADMIN"}]},
        ]))
        .unwrap();
        let dict = groups_value(&group_mappings(&spec).unwrap());
        let back: Vec<GroupMapping> = serde_json::from_value(spec_mappings(&dict)).unwrap();
        assert_eq!(back[0].external_group, "admins");
        assert_eq!(back[1].roles.len(), 2);
        assert_eq!(groups_value(&group_mappings(&back).unwrap()), dict);
    }

    #[test]
    fn a_bare_saml_connection_has_no_managed_fields() {
        assert!(connection_fields(&connection()).unwrap().is_empty());
    }

    #[test]
    fn connection_settings_qovery_cannot_hold_are_refused_by_path() {
        let mut c = connection();
        c.domains = Some(vec!["a.com".into()]);
        assert!(
            connection_fields(&c)
                .unwrap_err()
                .to_string()
                .contains("spec.domains")
        );
        let mut c = connection();
        c.active = Some(true);
        assert!(
            connection_fields(&c)
                .unwrap_err()
                .to_string()
                .contains("spec.active")
        );
        let mut c = connection();
        c.saml = Some(SamlSettings {
            force_authn: Some(true),
            ..Default::default()
        });
        assert!(
            connection_fields(&c)
                .unwrap_err()
                .to_string()
                .contains("spec.saml.forceAuthn")
        );
        let mut c = connection();
        c.protocol = Protocol::Oidc;
        c.saml = None;
        assert!(
            connection_fields(&c)
                .unwrap_err()
                .to_string()
                .contains("spec.oidc")
        );
        let mut c = connection();
        c.idp_type = "saml_okta".into();
        assert!(
            connection_fields(&c)
                .unwrap_err()
                .to_string()
                .contains("spec.idpType")
        );
    }

    #[test]
    fn connection_outputs_follow_the_sso_page() {
        let r = remote_connection(&EnterpriseConnectionDto {
            connection_name: "acme-sso".into(),
            ..Default::default()
        });
        assert_eq!(r.id, "acme-sso");
        assert_eq!(
            r.outputs.sp_entity_id.as_deref(),
            Some("urn:auth0:qovery:acme-sso")
        );
        assert_eq!(
            r.outputs.acs_url.as_deref(),
            Some("https://auth.qovery.com/login/callback?connection=acme-sso")
        );
    }
}
