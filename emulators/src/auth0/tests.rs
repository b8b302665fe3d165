use serde_json::json;

use super::state::b64url;
use super::validation::{prefix_template_matches, validate};

#[test]
fn prefix_template_follows_its_pattern() {
    for ok in [
        "",
        "abc",
        "a-b",
        "{org_id}",
        "sso-{org_name}",
        "{org_id}-x",
        "x-",
    ] {
        assert!(prefix_template_matches(ok), "{ok}");
    }
    for bad in ["-a", "a--b", "a_b", "{org}", "{org_id", "a b", "é"] {
        assert!(!prefix_template_matches(bad), "{bad}");
    }
}

#[test]
fn validation_names_the_property() {
    let m = validate(&json!({"name": "x".repeat(51)}), false).unwrap_err();
    assert!(m.contains("on property name"), "{m}");
    let m = validate(&json!({"name": "a", "foo": 1}), true).unwrap_err();
    assert!(m.contains("Additional properties not allowed: foo"), "{m}");
    let m = validate(&json!({}), true).unwrap_err();
    assert!(m.contains("Missing required property: name"), "{m}");
    let m = validate(
        &json!({"strategy_overrides": {"okta": {"enabled_features": ["sso"]}}}),
        false,
    )
    .unwrap_err();
    assert!(
        m.contains("on property strategy_overrides.okta.enabled_features[0]"),
        "{m}"
    );
    let m = validate(&json!({"strategy_overrides": {"github": {}}}), false).unwrap_err();
    assert!(m.contains("github"), "{m}");
    let m = validate(
        &json!({"organization": {"show_as_button": "always"}}),
        false,
    )
    .unwrap_err();
    assert!(m.contains("organization.show_as_button"), "{m}");
    let m = validate(
        &json!({"connection_name_prefix_template": "{org_name}-{org_id}"}),
        false,
    )
    .unwrap_err();
    assert!(m.contains("maximum 15"), "{m}");
    assert!(
        validate(
            &json!({"name": "ok", "connection_config": {}, "enabled_features": ["scim"]}),
            true
        )
        .is_ok()
    );
}

#[test]
fn new_fields_follow_the_sdk_models() {
    let ok = json!({"name": "n", "enabled_features": ["directory_sync"],
            "provisioning": {"scim": {"tokens": {"scopes": ["get:users"], "default_expiry": null}},
                "google_workspace": {"sync_users": true}},
            "cross_app_access_resource_app": {"status": {"default_value": "enabled"}},
            "strategy_overrides": {"okta": {"provisioning": {"google_workspace": {"sync_users": false}}}, "ad": null}});
    assert_eq!(validate(&ok, true), Ok(()));
    for (bad, path) in [
        (
            json!({"connection_config": {"a": 1}}),
            "on property connection_config",
        ),
        (
            json!({"strategy_overrides": {"okta": {"connection_config": {"a": 1}}}}),
            "on property strategy_overrides.okta.connection_config",
        ),
        (
            json!({"provisioning": {"scim": {"tokens": {"scopes": ["read:users"]}}}}),
            "on property provisioning.scim.tokens.scopes[0]",
        ),
        (
            json!({"provisioning": {"scim": {}}}),
            "Missing required property: tokens' on property provisioning.scim",
        ),
        (
            json!({"cross_app_access_resource_app": {"status": {"default_value": "on"}}}),
            "on property cross_app_access_resource_app.status.default_value",
        ),
    ] {
        let m = validate(&bad, false).unwrap_err();
        assert!(m.contains(path), "{bad}: {m}");
    }
}

#[test]
fn base64url_matches_known_values() {
    assert_eq!(b64url(b"f"), "Zg");
    assert_eq!(b64url(b"fo"), "Zm8");
    assert_eq!(b64url(b"foo"), "Zm9v");
    assert_eq!(b64url(b"\xfb\xff"), "-_8");
}
