//! Pure mapping between the desired profile, the wire format and normalised [`Fields`].
//!
//! Field paths follow the spec (camelCase), except the organization leaves, which the spec keeps in
//! Auth0's snake_case: `name`, `organization.show_as_button`, `organization.assign_membership_on_login`,
//! `connectionNamePrefixTemplate`, `enabledFeatures`, `connectionConfig`,
//! `strategyOverrides.<strategy>.{enabledFeatures,connectionConfig,provisioning.…}`,
//! `provisioning.scim.tokens.{scopes,defaultExpiry,maxAllowedExpiry}`,
//! `provisioning.googleWorkspace.syncUsers`,
//! `crossAppAccessResourceApp.status.{defaultValue,allowedValues}`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::api::{ConnectionProfile, Organization, StrategyOverride};
use crate::core::{
    desired::ProfileDesired,
    diff::{Diff, Fields},
    normalize,
};
use crate::crd::{
    CrossAppAccessResourceApp, Feature, Provisioning, StrategyOverride as SpecOverride,
};
use crate::provider::{Outputs, ProviderError, Remote};

const ORG_BUTTON: &str = "organization.show_as_button";
const ORG_MEMBERSHIP: &str = "organization.assign_membership_on_login";
const PREFIX: &str = "connectionNamePrefixTemplate";
const FEATURES: &str = "enabledFeatures";
const CONFIG: &str = "connectionConfig";
const OVERRIDES: &str = "strategyOverrides";
const PROVISIONING: &str = "provisioning";
const CROSS_APP: &str = "crossAppAccessResourceApp";

/// Top-level wire objects a PATCH must send whole (Auth0 replaces a top-level field with what is
/// sent): they are rebuilt from the object as it is now, never from the fields we model.
pub const NESTED: [(&str, &str); 4] = [
    ("organization", "organization"),
    (OVERRIDES, "strategy_overrides"),
    (PROVISIONING, "provisioning"),
    (CROSS_APP, "cross_app_access_resource_app"),
];

fn feature_names(fs: &[Feature]) -> Vec<String> {
    normalize::string_set(fs.iter().map(|f| f.as_str().to_string()))
}

/// The wire `provisioning` the spec describes (only what it sets).
fn provisioning_wire(p: &Provisioning) -> Value {
    let mut m = Map::new();
    if let Some(scim) = &p.scim {
        let t = &scim.tokens;
        let mut tokens = Map::new();
        tokens.insert(
            "scopes".into(),
            json!(normalize::string_set(
                t.scopes.iter().map(|s| s.as_str().to_string())
            )),
        );
        if let Some(v) = t.default_expiry {
            tokens.insert("default_expiry".into(), json!(v));
        }
        if let Some(v) = t.max_allowed_expiry {
            tokens.insert("max_allowed_expiry".into(), json!(v));
        }
        m.insert("scim".into(), json!({ "tokens": tokens }));
    }
    if let Some(gw) = &p.google_workspace {
        m.insert(
            "google_workspace".into(),
            json!({ "sync_users": gw.sync_users }),
        );
    }
    Value::Object(m)
}

fn cross_app_wire(c: &CrossAppAccessResourceApp) -> Value {
    let mut status = Map::new();
    status.insert(
        "default_value".into(),
        json!(c.status.default_value.as_str()),
    );
    if let Some(av) = &c.status.allowed_values {
        status.insert(
            "allowed_values".into(),
            json!(normalize::string_set(
                av.iter().map(|s| s.as_str().to_string())
            )),
        );
    }
    json!({ "status": status })
}

fn spec_override(o: &SpecOverride) -> StrategyOverride {
    StrategyOverride {
        enabled_features: o.enabled_features.as_deref().map(feature_names),
        connection_config: o
            .connection_config
            .as_ref()
            .map(|c| c.clone().into_iter().collect()),
        provisioning: o.provisioning.as_deref().map(provisioning_wire),
        extra: Map::new(),
    }
}

fn desired_organization(p: &ProfileDesired) -> Option<Organization> {
    p.organization.as_ref().map(|o| Organization {
        show_as_button: o.show_as_button.map(|b| b.as_str().to_string()),
        assign_membership_on_login: o.assign_membership_on_login.map(|b| b.as_str().to_string()),
        extra: Map::new(),
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
        provisioning: p.provisioning.as_ref().map(provisioning_wire),
        cross_app_access_resource_app: p.cross_app_access_resource_app.as_ref().map(cross_app_wire),
        extra: Map::new(),
    }
}

/// `sync_users` → `syncUsers`.
fn camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut upper = false;
    for c in s.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The leaves of a wire object under `prefix`, with camelCase keys; lists of strings are sets
/// (their order means nothing to Auth0); nulls are "not set".
fn flatten_into(prefix: &str, v: &Value, f: &mut Fields) {
    match v {
        Value::Null => {}
        Value::Object(m) => {
            for (k, v) in m {
                flatten_into(&format!("{prefix}.{}", camel(k)), v, f);
            }
        }
        Value::Array(a) if a.iter().all(Value::is_string) => {
            f.insert(
                prefix.to_string(),
                json!(normalize::string_set(
                    a.iter().filter_map(Value::as_str).map(str::to_string)
                )),
            );
        }
        other => {
            f.insert(prefix.to_string(), other.clone());
        }
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
        if let Some(v) = &o.provisioning {
            flatten_into(&format!("{OVERRIDES}.{strategy}.{PROVISIONING}"), v, &mut f);
        }
    }
    if let Some(v) = &w.provisioning {
        flatten_into(PROVISIONING, v, &mut f);
    }
    if let Some(v) = &w.cross_app_access_resource_app {
        flatten_into(CROSS_APP, v, &mut f);
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

/// `over` laid onto `base`: objects merge key by key (recursively), anything else replaces.
fn overlay(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => overlay(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (base, over) => *base = over,
    }
}

/// Whether closing `diff` needs the profile as it is now (a nested object must be sent whole).
pub fn needs_current(diff: &Diff) -> bool {
    NESTED.iter().any(|(spec, _)| diff.touches(spec))
}

/// The PATCH body closing `diff`: only the top-level wire fields that differ. Auth0 replaces a
/// top-level field with what is sent, so a nested object (`organization`, `strategy_overrides`,
/// `provisioning`, `cross_app_access_resource_app`) is sent whole: the object as it is now
/// (`current`, every field it holds, known to us or not) with the desired values laid over it.
pub fn patch_body(
    p: &ProfileDesired,
    current: Option<&ConnectionProfile>,
    diff: &Diff,
) -> Map<String, Value> {
    let want = wire_from_desired(p);
    let mut body = Map::new();
    if diff.touches("name") {
        body.insert("name".into(), json!(want.name));
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
    let want = serde_json::to_value(&want).unwrap_or(Value::Null);
    let now = current
        .and_then(|c| serde_json::to_value(c).ok())
        .unwrap_or(Value::Null);
    for (spec, wire) in NESTED {
        if !diff.touches(spec) {
            continue;
        }
        let mut merged = match now.get(wire) {
            Some(v @ Value::Object(_)) => v.clone(),
            _ => json!({}),
        };
        if let Some(w) = want.get(wire) {
            overlay(&mut merged, w.clone());
        }
        body.insert(wire.into(), merged);
    }
    body
}

/// The spec path of a wire field path such as `strategy_overrides.okta.enabled_features[0]`.
pub fn spec_path(wire: &str) -> String {
    let wire = wire.split('[').next().unwrap_or(wire);
    let parts: Vec<&str> = wire.split('.').collect();
    match parts.as_slice() {
        // The spec keeps Auth0's names for organization leaves and strategies.
        ["organization", ..] => wire.to_string(),
        ["strategy_overrides", strategy, rest @ ..] => {
            [OVERRIDES.to_string(), strategy.to_string()]
                .into_iter()
                .chain(rest.iter().map(|p| camel(p)))
                .collect::<Vec<_>>()
                .join(".")
        }
        parts => parts.iter().map(|p| camel(p)).collect::<Vec<_>>().join("."),
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
                    provisioning: None,
                }),
                ..Default::default()
            }),
            provisioning: None,
            cross_app_access_resource_app: None,
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
    fn patch_sends_only_changed_top_level_fields_and_keeps_current_nested_values() {
        let mut current = wire_from_desired(&profile());
        current.id = Some("cop_1".into());
        current.organization = Some(Organization {
            show_as_button: Some("none".into()),
            assign_membership_on_login: Some("required".into()),
            extra: Map::from_iter([("future".to_string(), json!(1))]),
        });
        // Set in the dashboard: another strategy with a field we do not model, and a field of a
        // newer API inside the strategy the spec manages.
        let mut okta = StrategyOverride {
            enabled_features: Some(vec!["scim".into()]),
            provisioning: Some(json!({"scim": {"tokens": {"scopes": ["get:users"]}}})),
            ..Default::default()
        };
        okta.extra.insert("future".into(), json!({"a": 1}));
        let mut google = current.strategy_overrides.as_ref().unwrap()["google-apps"].clone();
        google.enabled_features = Some(vec!["scim".into()]);
        google.provisioning = Some(json!({"google_workspace": {"sync_users": true}}));
        google.extra.insert("newer".into(), json!("kept"));
        current.strategy_overrides = Some(BTreeMap::from([
            ("okta".to_string(), okta),
            ("google-apps".to_string(), google),
        ]));
        let observed = fields_of(&current);
        let diff = crate::core::diff::diff(&desired_fields(&profile()), &observed);
        assert_eq!(
            diff.paths,
            vec![
                "organization.show_as_button",
                "strategyOverrides.google-apps.enabledFeatures",
            ]
        );
        assert!(needs_current(&diff));
        let body = patch_body(&profile(), Some(&current), &diff);
        assert_eq!(
            Value::Object(body),
            json!({
                "organization": {"show_as_button": "optional", "assign_membership_on_login": "required", "future": 1},
                "strategy_overrides": {
                    "google-apps": {
                        "enabled_features": ["scim", "universal_logout"],
                        "connection_config": {},
                        "provisioning": {"google_workspace": {"sync_users": true}},
                        "newer": "kept"
                    },
                    "okta": {
                        "enabled_features": ["scim"],
                        "provisioning": {"scim": {"tokens": {"scopes": ["get:users"]}}},
                        "future": {"a": 1}
                    }
                }
            })
        );
    }

    #[test]
    fn new_fields_map_to_spec_paths_and_converge() {
        use crate::crd::{
            CrossAppAccessStatus, CrossAppStatus, GoogleWorkspaceProvisioning, ScimProvisioning,
            ScimScope, ScimTokens,
        };
        let mut p = profile();
        p.enabled_features = Some(vec!["directory_sync".into(), "scim".into()]);
        p.provisioning = Some(Provisioning {
            scim: Some(ScimProvisioning {
                tokens: ScimTokens {
                    scopes: vec![ScimScope::PostUsers, ScimScope::GetUsers],
                    default_expiry: Some(3600),
                    max_allowed_expiry: None,
                },
            }),
            google_workspace: Some(GoogleWorkspaceProvisioning { sync_users: false }),
        });
        p.cross_app_access_resource_app = Some(CrossAppAccessResourceApp {
            status: CrossAppAccessStatus {
                default_value: CrossAppStatus::Enabled,
                allowed_values: Some(vec![CrossAppStatus::Enabled]),
            },
        });
        let f = desired_fields(&p);
        assert_eq!(
            f["provisioning.scim.tokens.scopes"],
            json!(["get:users", "post:users"])
        );
        assert_eq!(f["provisioning.scim.tokens.defaultExpiry"], json!(3600));
        assert_eq!(f["provisioning.googleWorkspace.syncUsers"], json!(false));
        assert_eq!(
            f["crossAppAccessResourceApp.status.defaultValue"],
            json!("enabled")
        );
        assert_eq!(f["enabledFeatures"], json!(["directory_sync", "scim"]));
        // Auth0 answers with its own order and nulls for what is not set: no diff.
        let mut wire = wire_from_desired(&p);
        wire.id = Some("cop_1".into());
        wire.provisioning = Some(
            json!({"scim": {"tokens": {"scopes": ["post:users", "get:users"],
            "default_expiry": 3600, "max_allowed_expiry": null}}, "google_workspace": {"sync_users": false}}),
        );
        assert!(crate::core::diff::diff(&f, &remote_of(&wire).unwrap().fields).is_empty());
        assert_eq!(
            spec_path("provisioning.scim.tokens.scopes[0]"),
            "provisioning.scim.tokens.scopes"
        );
        assert_eq!(
            spec_path("strategy_overrides.google-apps.provisioning.google_workspace.sync_users"),
            "strategyOverrides.google-apps.provisioning.googleWorkspace.syncUsers"
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
