//! Pure mapping between the provider-neutral role-mapping state and Atlas' `ConnectedOrgConfig`.
//!
//! Field paths: `mappings` (sorted by external group, roles sorted; server ids ignored),
//! `atlas.domainAllowList` (lower-case, sorted), `atlas.domainRestrictionEnabled`,
//! `atlas.postAuthRoleGrants` (sorted).

use serde_json::{Value, json};

use super::api::{ConnectedOrgConfig, RoleAssignment, RoleMapping};
use crate::core::desired::RoleMappingDesired;
use crate::core::diff::Fields;
use crate::core::normalize;
use crate::crd::GroupMapping;
use crate::provider::{ProviderError, unsupported};

/// One group with its roles as `(project id, role)`.
type Group = (String, Vec<(Option<String>, String)>);

pub const MAPPINGS: &str = "mappings";
pub const DOMAIN_ALLOW_LIST: &str = "atlas.domainAllowList";
pub const DOMAIN_RESTRICTION_ENABLED: &str = "atlas.domainRestrictionEnabled";
pub const POST_AUTH_ROLE_GRANTS: &str = "atlas.postAuthRoleGrants";

/// Refuses what a connected org config cannot hold.
pub fn check_supported(desired: &RoleMappingDesired) -> Result<(), ProviderError> {
    if desired.default_role.is_some() {
        return Err(unsupported(super::KIND, "spec.defaultRole"));
    }
    if desired.enforce_group_sync.is_some() {
        return Err(unsupported(super::KIND, "spec.enforceGroupSync"));
    }
    if desired
        .mappings
        .iter()
        .any(|m| m.external_group_id.is_some())
    {
        // Atlas matches groups by name only.
        return Err(unsupported(
            super::KIND,
            "spec.mappings[].externalGroupId",
        ));
    }
    Ok(())
}

/// The normalised fields the desired state sets. The resource owns the org's role mappings, so
/// `mappings` is always present (an empty list means "no mappings").
pub fn desired_fields(desired: &RoleMappingDesired) -> Result<Fields, ProviderError> {
    check_supported(desired)?;
    let mut fields = Fields::new();
    let groups: Vec<Group> = desired
        .mappings
        .iter()
        .map(|m| {
            let roles = m
                .roles
                .iter()
                .map(|r| (r.project_id.clone(), r.role.clone()))
                .collect();
            (m.external_group.clone(), roles)
        })
        .collect();
    fields.insert(MAPPINGS.into(), mappings_value(groups));
    if let Some(atlas) = &desired.atlas {
        if let Some(list) = &atlas.domain_allow_list {
            fields.insert(
                DOMAIN_ALLOW_LIST.into(),
                json!(normalize::domains(list.as_slice())),
            );
        }
        if let Some(enabled) = atlas.domain_restriction_enabled {
            fields.insert(DOMAIN_RESTRICTION_ENABLED.into(), json!(enabled));
        }
        if let Some(grants) = &atlas.post_auth_role_grants {
            fields.insert(
                POST_AUTH_ROLE_GRANTS.into(),
                json!(normalize::string_set(grants.iter().cloned())),
            );
        }
    }
    Ok(fields)
}

/// What the org config holds, in the same paths and normalisation as [`desired_fields`].
pub fn observed_fields(cfg: &ConnectedOrgConfig) -> Fields {
    let groups = cfg
        .role_mappings
        .iter()
        .map(|m| {
            let roles = m
                .role_assignments
                .iter()
                // An assignment without groupId is an organization-level role.
                .map(|a| (a.group_id.clone(), a.role.clone()))
                .collect();
            (m.external_group_name.clone(), roles)
        })
        .collect();
    let mut fields = Fields::new();
    fields.insert(MAPPINGS.into(), mappings_value(groups));
    fields.insert(
        DOMAIN_ALLOW_LIST.into(),
        json!(normalize::domains(cfg.domain_allow_list.as_slice())),
    );
    fields.insert(
        DOMAIN_RESTRICTION_ENABLED.into(),
        json!(cfg.domain_restriction_enabled),
    );
    fields.insert(
        POST_AUTH_ROLE_GRANTS.into(),
        json!(normalize::string_set(
            cfg.post_auth_role_grants.iter().cloned()
        )),
    );
    fields
}

/// `[{externalGroup, roles: [{role, projectId?}]}]`, groups sorted by name, roles sorted and de-duplicated.
fn mappings_value(groups: Vec<Group>) -> Value {
    let mut groups = groups;
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    let items: Vec<Value> = groups
        .into_iter()
        .map(|(group, mut roles)| {
            roles.sort();
            roles.dedup();
            let roles: Vec<Value> = roles
                .into_iter()
                .map(|(project, role)| match project {
                    Some(p) => json!({"role": role, "projectId": p}),
                    None => json!({"role": role}),
                })
                .collect();
            json!({"externalGroup": group, "roles": roles})
        })
        .collect();
    Value::Array(items)
}

/// Atlas role mappings for the spec's mappings in org `org_id`. A mapping whose group already
/// exists starts from the one Atlas holds (its id, read-only and never sent, and any field this
/// client does not model); only its role assignments, which the spec owns, are replaced.
pub fn role_mappings(
    mappings: &[GroupMapping],
    org_id: &str,
    current: &[RoleMapping],
) -> Vec<RoleMapping> {
    mappings
        .iter()
        .map(|m| {
            let held = current
                .iter()
                .find(|c| c.external_group_name == m.external_group);
            (m, held)
        })
        .map(|(m, held)| RoleMapping {
            external_group_name: m.external_group.clone(),
            id: held.and_then(|c| c.id.clone()),
            extra: held.map(|c| c.extra.clone()).unwrap_or_default(),
            role_assignments: m
                .roles
                .iter()
                .map(|r| match &r.project_id {
                    Some(p) => RoleAssignment {
                        group_id: Some(p.clone()),
                        org_id: None,
                        role: r.role.clone(),
                    },
                    None => RoleAssignment {
                        group_id: None,
                        org_id: Some(org_id.to_string()),
                        role: r.role.clone(),
                    },
                })
                .collect(),
        })
        .collect()
}

/// The complete object to PATCH: the latest config with only the fields this resource owns
/// replaced. Everything else (IdP ids, domain restriction when unset, unknown fields) is kept,
/// because the PATCH replaces the whole object.
pub fn overlay(desired: &RoleMappingDesired, latest: &ConnectedOrgConfig) -> ConnectedOrgConfig {
    let mut out = latest.clone();
    out.user_conflicts = None;
    out.role_mappings = role_mappings(&desired.mappings, &latest.org_id, &latest.role_mappings);
    if let Some(atlas) = &desired.atlas {
        if let Some(list) = &atlas.domain_allow_list {
            out.domain_allow_list = normalize::domains(list.as_slice());
        }
        if let Some(enabled) = atlas.domain_restriction_enabled {
            out.domain_restriction_enabled = enabled;
        }
        if let Some(grants) = &atlas.post_auth_role_grants {
            out.post_auth_role_grants = normalize::string_set(grants.iter().cloned());
        }
    }
    out
}

/// The object with the role fields an OrgRoleMapping owns cleared (role mappings, post-auth
/// grants, domain allow-list); `None` when they are already empty, so nothing needs writing.
pub fn cleared(latest: &ConnectedOrgConfig) -> Option<ConnectedOrgConfig> {
    if latest.role_mappings.is_empty()
        && latest.post_auth_role_grants.is_empty()
        && latest.domain_allow_list.is_empty()
    {
        return None;
    }
    let mut out = latest.clone();
    out.user_conflicts = None;
    out.role_mappings.clear();
    out.post_auth_role_grants.clear();
    out.domain_allow_list.clear();
    Some(out)
}

/// The spec path an Atlas error parameter or attribute name refers to.
pub fn spec_field(attribute: &str) -> Option<&'static str> {
    let a = attribute.rsplit('.').next().unwrap_or(attribute);
    let a = a.split('[').next().unwrap_or(a);
    match a {
        "roleMappings" | "externalGroupName" | "roleAssignments" | "role" | "groupId" | "orgId" => {
            Some(MAPPINGS)
        }
        "domainAllowList" => Some(DOMAIN_ALLOW_LIST),
        "domainRestrictionEnabled" => Some(DOMAIN_RESTRICTION_ENABLED),
        "postAuthRoleGrants" => Some(POST_AUTH_ROLE_GRANTS),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::diff::diff;
    use crate::crd::{AtlasOrgSettings, RoleAssignment as SpecRole};

    const ORG: &str = "5df7a168f10fab3a149357fb";

    fn desired() -> RoleMappingDesired {
        RoleMappingDesired {
            target: ORG.into(),
            default_role: None,
            enforce_group_sync: None,
            mappings: vec![
                GroupMapping {
                    external_group: "eng".into(),
                    external_group_id: None,
                    roles: vec![
                        SpecRole {
                            role: "GROUP_OWNER".into(),
                            project_id: Some("6120a1b2c3d4e5f6a7b8c9d0".into()),
                        },
                        SpecRole {
                            role: "ORG_MEMBER".into(),
                            project_id: None,
                        },
                    ],
                },
                GroupMapping {
                    external_group: "admins".into(),
                    external_group_id: None,
                    roles: vec![SpecRole {
                        role: "ORG_OWNER".into(),
                        project_id: None,
                    }],
                },
            ],
            atlas: Some(AtlasOrgSettings {
                domain_allow_list: Some(vec!["B.example.com".into(), "a.example.com".into()]),
                domain_restriction_enabled: Some(true),
                post_auth_role_grants: Some(vec!["ORG_MEMBER".into()]),
            }),
        }
    }

    fn seed_config() -> ConnectedOrgConfig {
        serde_json::from_value(json!({
            "domainAllowList": [],
            "domainRestrictionEnabled": false,
            "identityProviderId": "0oa7i0grsgbwJiIyw357",
            "orgId": ORG,
            "postAuthRoleGrants": ["ORG_OWNER"],
            "roleMappings": [{
                "externalGroupName": "admins",
                "id": "61e89721b827b56c845ff44c",
                "roleAssignments": [{"groupId": null, "orgId": ORG, "role": "ORG_OWNER"}]
            }],
            "userConflicts": null,
            "instantUserProvisioningDisabled": true
        }))
        .unwrap()
    }

    #[test]
    fn read_only_fields_and_nulls_are_never_sent() {
        let patched = overlay(&desired(), &seed_config());
        let body = serde_json::to_value(&patched).unwrap();
        // orgId and the role-mapping ids are readOnly in the description; userConflicts is
        // server-computed; no field is sent as null (none is nullable).
        assert!(body.get("orgId").is_none(), "{body}");
        assert!(body.get("userConflicts").is_none(), "{body}");
        for m in body["roleMappings"].as_array().unwrap() {
            assert!(m.get("id").is_none(), "{m}");
            for a in m["roleAssignments"].as_array().unwrap() {
                assert!(a.as_object().unwrap().values().all(|v| !v.is_null()), "{a}");
            }
        }
        assert_eq!(body["instantUserProvisioningDisabled"], json!(true));
        let mut no_idp = seed_config();
        no_idp.identity_provider_id = None;
        let body = serde_json::to_value(&no_idp).unwrap();
        assert!(body.get("identityProviderId").is_none(), "{body}");
    }

    #[test]
    fn a_kept_mapping_keeps_its_unknown_fields() {
        let mut cfg = seed_config();
        cfg.role_mappings[0]
            .extra
            .insert("futureFlag".into(), json!({"on": true}));
        let patched = overlay(&desired(), &cfg);
        let admins = patched
            .role_mappings
            .iter()
            .find(|m| m.external_group_name == "admins")
            .unwrap();
        assert_eq!(admins.extra["futureFlag"], json!({"on": true}));
        let eng = patched
            .role_mappings
            .iter()
            .find(|m| m.external_group_name == "eng")
            .unwrap();
        assert!(eng.extra.is_empty());
    }

    #[test]
    fn the_seed_response_parses_and_keeps_unknown_fields() {
        let cfg = seed_config();
        assert_eq!(cfg.role_mappings[0].external_group_name, "admins");
        assert_eq!(cfg.extra["instantUserProvisioningDisabled"], json!(true));
        let back = serde_json::to_value(&cfg).unwrap();
        assert_eq!(back["instantUserProvisioningDisabled"], json!(true));
        assert!(
            back.get("userConflicts").is_none(),
            "read-only field sent back"
        );
    }

    #[test]
    fn overlay_then_observe_gives_an_empty_diff() {
        let d = desired();
        let patched = overlay(&d, &seed_config());
        let want = desired_fields(&d).unwrap();
        assert!(diff(&want, &observed_fields(&patched)).is_empty());
    }

    #[test]
    fn overlay_keeps_what_the_resource_does_not_own_and_reuses_ids() {
        let mut d = desired();
        d.atlas = None;
        let patched = overlay(&d, &seed_config());
        assert_eq!(
            patched.identity_provider_id.as_deref(),
            Some("0oa7i0grsgbwJiIyw357")
        );
        assert_eq!(patched.post_auth_role_grants, vec!["ORG_OWNER"]);
        assert!(!patched.domain_restriction_enabled);
        let admins = patched
            .role_mappings
            .iter()
            .find(|m| m.external_group_name == "admins")
            .unwrap();
        assert_eq!(admins.id.as_deref(), Some("61e89721b827b56c845ff44c"));
        let eng = patched
            .role_mappings
            .iter()
            .find(|m| m.external_group_name == "eng")
            .unwrap();
        assert_eq!(eng.id, None);
        assert_eq!(
            eng.role_assignments[0].group_id.as_deref(),
            Some("6120a1b2c3d4e5f6a7b8c9d0")
        );
        assert_eq!(eng.role_assignments[0].org_id, None);
        assert_eq!(eng.role_assignments[1].org_id.as_deref(), Some(ORG));
    }

    #[test]
    fn order_case_and_server_ids_do_not_make_a_diff() {
        let mut cfg = seed_config();
        cfg.domain_allow_list = vec!["a.example.com".into(), "b.example.com".into()];
        cfg.domain_restriction_enabled = true;
        cfg.post_auth_role_grants = vec!["ORG_MEMBER".into()];
        cfg.role_mappings.insert(
            0,
            RoleMapping {
                external_group_name: "eng".into(),
                id: Some("aaaaaaaaaaaaaaaaaaaaaaaa".into()),
                extra: Default::default(),
                role_assignments: vec![
                    RoleAssignment {
                        group_id: None,
                        org_id: Some(ORG.into()),
                        role: "ORG_MEMBER".into(),
                    },
                    RoleAssignment {
                        group_id: Some("6120a1b2c3d4e5f6a7b8c9d0".into()),
                        org_id: None,
                        role: "GROUP_OWNER".into(),
                    },
                ],
            },
        );
        let d = diff(&desired_fields(&desired()).unwrap(), &observed_fields(&cfg));
        assert!(d.is_empty(), "{:?}", d.paths);
    }

    #[test]
    fn only_what_the_spec_sets_is_compared() {
        let mut d = desired();
        d.atlas = Some(AtlasOrgSettings::default());
        let fields = desired_fields(&d).unwrap();
        assert_eq!(fields.keys().collect::<Vec<_>>(), vec![MAPPINGS]);
    }

    #[test]
    fn fields_atlas_cannot_hold_are_refused_by_name() {
        let mut d = desired();
        d.default_role = Some("ORG_MEMBER".into());
        let err = desired_fields(&d).unwrap_err();
        assert!(err.to_string().contains("spec.defaultRole"), "{err}");
        let mut d = desired();
        d.enforce_group_sync = Some(true);
        let err = desired_fields(&d).unwrap_err();
        assert!(err.to_string().contains("spec.enforceGroupSync"), "{err}");
    }

    #[test]
    fn clearing_empties_owned_fields_and_keeps_the_idp() {
        let cleared = cleared(&seed_config()).unwrap();
        assert!(cleared.role_mappings.is_empty());
        assert!(cleared.post_auth_role_grants.is_empty());
        assert_eq!(
            cleared.identity_provider_id.as_deref(),
            Some("0oa7i0grsgbwJiIyw357")
        );
        assert!(super::cleared(&cleared).is_none());
    }

    #[test]
    fn error_parameters_map_to_spec_paths() {
        assert_eq!(
            spec_field("roleMappings[0].externalGroupName"),
            Some(MAPPINGS)
        );
        assert_eq!(spec_field("domainAllowList"), Some(DOMAIN_ALLOW_LIST));
        assert_eq!(spec_field("identityProviderId"), None);
    }
}
