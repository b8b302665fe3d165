//! Pure mapping between the desired profile, the wire format and normalised [`Fields`].
//!
//! Field paths follow the spec (camelCase), except the organization leaves, which the spec keeps in
//! Auth0's snake_case: `name`, `organization.show_as_button`, `organization.assign_membership_on_login`,
//! `connectionNamePrefixTemplate`, `enabledFeatures`, `connectionConfig`,
//! `strategyOverrides.<strategy>.enabledFeatures`, `strategyOverrides.<strategy>.connectionConfig`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::api::{ConnectionProfile, Organization, StrategyOverride};
use crate::core::{
    desired::ProfileDesired,
    diff::{Diff, Fields},
    normalize,
};
use crate::crd::{Feature, StrategyOverride as SpecOverride};
use crate::provider::{Outputs, ProviderError, Remote};

const ORG_BUTTON: &str = "organization.show_as_button";
const ORG_MEMBERSHIP: &str = "organization.assign_membership_on_login";
const PREFIX: &str = "connectionNamePrefixTemplate";
const FEATURES: &str = "enabledFeatures";
const CONFIG: &str = "connectionConfig";
const OVERRIDES: &str = "strategyOverrides";

fn feature_names(fs: &[Feature]) -> Vec<String> {
    normalize::string_set(fs.iter().map(|f| f.as_str().to_string()))
}

fn spec_override(o: &SpecOverride) -> StrategyOverride {
    StrategyOverride {
        enabled_features: o.enabled_features.as_deref().map(feature_names),
        connection_config: o
            .connection_config
            .as_ref()
            .map(|c| c.clone().into_iter().collect()),
    }
}

fn desired_organization(p: &ProfileDesired) -> Option<Organization> {
    p.organization.as_ref().map(|o| Organization {
        show_as_button: o.show_as_button.map(|b| b.as_str().to_string()),
        assign_membership_on_login: o.assign_membership_on_login.map(|b| b.as_str().to_string()),
    })
}

fn desired_overrides(p: &ProfileDesired) -> Option<BTreeMap<String, StrategyOverride>> {
    p.strategy_overrides.as_ref().map(|so| {
        so.entries()
            .into_iter()
            .map(|(name, o)| (name.to_string(), spec_override(o)))
            .collect()
    })
}

/// The wire object `desired` describes (the create body).
pub fn wire_from_desired(p: &ProfileDesired) -> ConnectionProfile {
    ConnectionProfile {
        id: None,
        name: p.name.clone(),
        organization: desired_organization(p),
        connection_name_prefix_template: p.connection_name_prefix_template.clone(),
        enabled_features: p
            .enabled_features
            .as_ref()
            .map(|f| normalize::string_set(f.iter().cloned())),
        connection_config: p.connection_config.clone(),
        strategy_overrides: desired_overrides(p),
    }
}

/// Normalised fields of a wire object: every value it holds, under the spec's paths.
pub fn fields_of(w: &ConnectionProfile) -> Fields {
    let mut f = Fields::new();
    f.insert("name".into(), json!(w.name));
    if let Some(o) = &w.organization {
        if let Some(v) = &o.show_as_button {
            f.insert(ORG_BUTTON.into(), json!(v));
        }
        if let Some(v) = &o.assign_membership_on_login {
            f.insert(ORG_MEMBERSHIP.into(), json!(v));
        }
    }
    if let Some(v) = &w.connection_name_prefix_template {
        f.insert(PREFIX.into(), json!(v));
    }
    if let Some(v) = &w.enabled_features {
        f.insert(
            FEATURES.into(),
            json!(normalize::string_set(v.iter().cloned())),
        );
    }
    if let Some(v) = &w.connection_config {
        f.insert(CONFIG.into(), Value::Object(v.clone()));
    }
    for (strategy, o) in w.strategy_overrides.iter().flatten() {
        if let Some(v) = &o.enabled_features {
            f.insert(
                format!("{OVERRIDES}.{strategy}.{FEATURES}"),
                json!(normalize::string_set(v.iter().cloned())),
            );
        }
        if let Some(v) = &o.connection_config {
            f.insert(
                format!("{OVERRIDES}.{strategy}.{CONFIG}"),
                Value::Object(v.clone()),
            );
        }
    }
    f
}

/// The fields the desired state sets (only those; `None` stays unmanaged).
pub fn desired_fields(p: &ProfileDesired) -> Fields {
    // The create body holds exactly what the spec sets, so its fields are the desired ones.
    fields_of(&wire_from_desired(p))
}

/// A remote object from a wire object.
pub fn remote_of(w: &ConnectionProfile) -> Result<Remote, ProviderError> {
    let id =
        w.id.clone()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| ProviderError::Unavailable("connection profile without an id".into()))?;
    Ok(Remote {
        id,
        name: w.name.clone(),
        fields: fields_of(w),
        outputs: Outputs::default(),
    })
}

fn observed_str(observed: &Fields, path: &str) -> Option<String> {
    observed
        .get(path)
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn string_list(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    })
}

/// The PATCH body closing `diff`: only the top-level wire fields that differ. `organization` and
/// `strategy_overrides` are sent whole (observed values overlaid with the desired ones) because
/// Auth0 does not document whether nested objects are merged or replaced.
pub fn patch_body(p: &ProfileDesired, observed: &Fields, diff: &Diff) -> Map<String, Value> {
    let want = wire_from_desired(p);
    let mut body = Map::new();
    if diff.touches("name") {
        body.insert("name".into(), json!(want.name));
    }
    if diff.touches("organization") {
        let d = want.organization.unwrap_or_default();
        let org = Organization {
            show_as_button: d
                .show_as_button
                .or_else(|| observed_str(observed, ORG_BUTTON)),
            assign_membership_on_login: d
                .assign_membership_on_login
                .or_else(|| observed_str(observed, ORG_MEMBERSHIP)),
        };
        body.insert("organization".into(), json!(org));
    }
    if diff.touches(PREFIX) {
        body.insert(
            "connection_name_prefix_template".into(),
            json!(want.connection_name_prefix_template),
        );
    }
    if diff.touches(FEATURES) {
        body.insert("enabled_features".into(), json!(want.enabled_features));
    }
    if diff.touches(CONFIG) {
        body.insert("connection_config".into(), json!(want.connection_config));
    }
    if diff.touches(OVERRIDES) {
        let mut all: BTreeMap<String, StrategyOverride> = BTreeMap::new();
        for (path, v) in observed {
            let Some(rest) = path.strip_prefix(&format!("{OVERRIDES}.")) else {
                continue;
            };
            let Some((strategy, leaf)) = rest.rsplit_once('.') else {
                continue;
            };
            let entry = all.entry(strategy.to_string()).or_default();
            match leaf {
                FEATURES => entry.enabled_features = string_list(v),
                CONFIG => entry.connection_config = v.as_object().cloned(),
                _ => {}
            }
        }
        for (strategy, o) in want.strategy_overrides.unwrap_or_default() {
            let entry = all.entry(strategy).or_default();
            if o.enabled_features.is_some() {
                entry.enabled_features = o.enabled_features;
            }
            if o.connection_config.is_some() {
                entry.connection_config = o.connection_config;
            }
        }
        body.insert("strategy_overrides".into(), json!(all));
    }
    body
}

/// The spec path of a wire field path such as `strategy_overrides.okta.enabled_features[0]`.
pub fn spec_path(wire: &str) -> String {
    let wire = wire.split('[').next().unwrap_or(wire);
    let mut parts = wire.split('.');
    let top = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    let camel = |s: &str| match s {
        "connection_name_prefix_template" => PREFIX.to_string(),
        "enabled_features" => FEATURES.to_string(),
        "connection_config" => CONFIG.to_string(),
        "strategy_overrides" => OVERRIDES.to_string(),
        other => other.to_string(),
    };
    match (top, rest.as_slice()) {
        ("organization", _) => wire.to_string(),
        ("strategy_overrides", [strategy, leaf, ..]) => {
            format!("{OVERRIDES}.{strategy}.{}", camel(leaf))
        }
        ("strategy_overrides", [strategy]) => format!("{OVERRIDES}.{strategy}"),
        (top, _) => camel(top),
    }
}

/// The wire field an Auth0 validation message names, e.g. `... on property name (...)` or
/// `Additional properties not allowed: foo`.
pub fn field_in_message(message: &str) -> Option<String> {
    const MARKERS: [&str; 3] = [
        " on property ",
        "Missing required property: ",
        "Additional properties not allowed: ",
    ];
    MARKERS.iter().find_map(|m| {
        let (_, rest) = message.split_once(m)?;
        let field: String = rest
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, '\'' | ',' | '(' | ')'))
            .collect();
        let field = field.trim_end_matches('.');
        (!field.is_empty()).then(|| field.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{OrganizationBehaviour, ProfileOrganization, StrategyOverrides};

    fn profile() -> ProfileDesired {
        ProfileDesired {
            name: "p".into(),
            organization: Some(ProfileOrganization {
                show_as_button: Some(OrganizationBehaviour::Optional),
                assign_membership_on_login: None,
            }),
            connection_name_prefix_template: Some("sso-{org_id}".into()),
            enabled_features: Some(vec!["universal_logout".into(), "scim".into()]),
            connection_config: None,
            strategy_overrides: Some(StrategyOverrides {
                google_apps: Some(SpecOverride {
                    enabled_features: Some(vec![Feature::UniversalLogout, Feature::Scim]),
                    connection_config: Some(BTreeMap::new()),
                }),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn desired_fields_hold_only_what_the_spec_sets() {
        let f = desired_fields(&profile());
        assert_eq!(
            f.keys().cloned().collect::<Vec<_>>(),
            vec![
                "connectionNamePrefixTemplate",
                "enabledFeatures",
                "name",
                "organization.show_as_button",
                "strategyOverrides.google-apps.connectionConfig",
                "strategyOverrides.google-apps.enabledFeatures",
            ]
        );
        assert_eq!(f["enabledFeatures"], json!(["scim", "universal_logout"]));
    }

    #[test]
    fn a_remote_matching_the_spec_gives_an_empty_diff() {
        let mut wire = wire_from_desired(&profile());
        wire.id = Some("cop_1".into());
        // The provider may list features in another order and hold fields the spec leaves out.
        wire.enabled_features = Some(vec!["universal_logout".into(), "scim".into()]);
        wire.connection_config = Some(Map::new());
        let remote = remote_of(&wire).unwrap();
        assert!(crate::core::diff::diff(&desired_fields(&profile()), &remote.fields).is_empty());
    }

    #[test]
    fn patch_sends_only_changed_top_level_fields_and_keeps_observed_nested_values() {
        let mut observed_wire = wire_from_desired(&profile());
        observed_wire.organization = Some(Organization {
            show_as_button: Some("none".into()),
            assign_membership_on_login: Some("required".into()),
        });
        observed_wire.strategy_overrides = Some(BTreeMap::from([(
            "okta".to_string(),
            StrategyOverride {
                enabled_features: Some(vec!["scim".into()]),
                connection_config: None,
            },
        )]));
        let observed = fields_of(&observed_wire);
        let diff = crate::core::diff::diff(&desired_fields(&profile()), &observed);
        assert_eq!(
            diff.paths,
            vec![
                "organization.show_as_button",
                "strategyOverrides.google-apps.connectionConfig",
                "strategyOverrides.google-apps.enabledFeatures",
            ]
        );
        let body = patch_body(&profile(), &observed, &diff);
        assert_eq!(
            Value::Object(body),
            json!({
                "organization": {"show_as_button": "optional", "assign_membership_on_login": "required"},
                "strategy_overrides": {
                    "google-apps": {"enabled_features": ["scim", "universal_logout"], "connection_config": {}},
                    "okta": {"enabled_features": ["scim"]}
                }
            })
        );
    }

    #[test]
    fn wire_paths_map_to_spec_paths() {
        assert_eq!(spec_path("name"), "name");
        assert_eq!(
            spec_path("connection_name_prefix_template"),
            "connectionNamePrefixTemplate"
        );
        assert_eq!(spec_path("enabled_features[1]"), "enabledFeatures");
        assert_eq!(
            spec_path("organization.show_as_button"),
            "organization.show_as_button"
        );
        assert_eq!(
            spec_path("strategy_overrides.google-apps.enabled_features[0]"),
            "strategyOverrides.google-apps.enabledFeatures"
        );
    }

    #[test]
    fn fields_are_found_in_auth0_messages() {
        assert_eq!(
            field_in_message(
                "Payload validation error: 'String is too long (51 chars), maximum 50' on property name (The name of the connection profile)."
            )
            .as_deref(),
            Some("name")
        );
        assert_eq!(
            field_in_message("Payload validation error: 'Additional properties not allowed: foo'.")
                .as_deref(),
            Some("foo")
        );
        assert_eq!(
            field_in_message("Payload validation error: 'Missing required property: name'.")
                .as_deref(),
            Some("name")
        );
        assert_eq!(field_in_message("Something else"), None);
    }
}
