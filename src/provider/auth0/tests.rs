//! Auth0 provider tests against its emulator.

use super::*;
use crate::core::diff::diff;
use crate::provider::conformance::Target;
use ssoperator_emulators::Faults;
use std::time::Duration;
use testkit::{CLIENT_SECRET, client_with_secret, start};

fn profile(t: &testkit::Auth0Target, n: usize) -> Desired {
    t.sample(ResourceKind::ConnectionProfile, n)
}

fn with(d: &Desired, f: impl FnOnce(&mut ProfileDesired)) -> Desired {
    let mut d = d.clone();
    if let Desired::Profile(p) = &mut d {
        f(p);
    }
    d
}

#[tokio::test]
async fn no_secret_reaches_debug_output_or_error_messages() {
    let t = start().await;
    let good = client_with_secret(t.running.url(), CLIENT_SECRET);
    good.verify_credentials().await.unwrap();
    let debug = format!("{good:?}");
    assert!(!debug.contains(CLIENT_SECRET), "{debug}");
    // The issued token must not show either.
    let token = good.client.token(None).await.unwrap();
    assert!(!debug.contains(token.expose()));
    assert!(!format!("{good:?}").contains(token.expose()));

    let bad = client_with_secret(t.running.url(), "s3cr3t-value");
    assert!(!format!("{bad:?}").contains("s3cr3t-value"));
    let err = bad.verify_credentials().await.unwrap_err();
    assert!(matches!(err, ProviderError::Unauthenticated(_)), "{err:?}");
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains("s3cr3t-value"), "{text}");
    }

    t.emulator.core().set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let err = good
        .observe(ResourceKind::ConnectionProfile, "cop_x")
        .await
        .unwrap_err();
    t.emulator.core().set_faults(Faults::default());
    assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(
            !text.contains(CLIENT_SECRET) && !text.contains(token.expose()),
            "{text}"
        );
    }
}

#[tokio::test]
async fn the_token_is_cached_shared_by_clones_and_refreshed_once_on_401() {
    let t = start().await;
    let p = client_with_secret(t.running.url(), CLIENT_SECRET);
    let clone = p.clone();
    p.verify_credentials().await.unwrap();
    clone
        .list(ResourceKind::ConnectionProfile, None)
        .await
        .unwrap();
    assert_eq!(t.emulator.tokens_issued(), 1);

    t.emulator.revoke_tokens();
    clone
        .observe(ResourceKind::ConnectionProfile, "cop_missing")
        .await
        .unwrap();
    assert_eq!(t.emulator.tokens_issued(), 2);
    p.verify_credentials().await.unwrap();
    assert_eq!(
        t.emulator.tokens_issued(),
        2,
        "the refreshed token is shared"
    );
}

#[tokio::test]
async fn a_token_is_replaced_before_it_expires() {
    let t = start().await;
    t.emulator.set_token_lifetime(1);
    let p = client_with_secret(t.running.url(), CLIENT_SECRET);
    p.verify_credentials().await.unwrap();
    tokio::time::sleep(Duration::from_millis(950)).await;
    p.verify_credentials().await.unwrap();
    assert_eq!(t.emulator.tokens_issued(), 2);
}

#[tokio::test]
async fn validation_errors_name_the_spec_field() {
    let t = start().await;
    let p = t.client();
    let long = with(&profile(&t, 1), |p| p.name = "x".repeat(51));
    match p.create(&long).await {
        Err(ProviderError::Invalid { field, message }) => {
            assert_eq!(field.as_deref(), Some("name"));
            assert!(message.contains("maximum 50"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let hyphens = with(&profile(&t, 2), |p| {
        p.connection_name_prefix_template = Some("a--b".into())
    });
    match p.create(&hyphens).await {
        Err(ProviderError::Invalid { field, .. }) => {
            assert_eq!(field.as_deref(), Some("connectionNamePrefixTemplate"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(t.emulator.count_profiles(), 0);
}

#[tokio::test]
async fn renaming_onto_another_profile_is_a_conflict() {
    let t = start().await;
    let p = t.client();
    p.create(&profile(&t, 1)).await.unwrap();
    let b = p.create(&profile(&t, 2)).await.unwrap();
    let renamed = with(&profile(&t, 2), |p| p.name = "profile-1".into());
    let want = p.desired_fields(&renamed).unwrap();
    let d = diff(&want, &b.fields);
    assert_eq!(d.paths, vec!["name"]);
    let err = p.update(&b.id, &renamed, &b, &d).await.unwrap_err();
    assert!(matches!(err, ProviderError::Conflict(_)), "{err:?}");
}

#[tokio::test]
async fn missing_scope_is_permission_denied() {
    let t = start().await;
    t.emulator.set_scopes(&["read:connection_profiles"]);
    let p = t.client();
    p.verify_credentials().await.unwrap();
    let err = p.create(&profile(&t, 1)).await.unwrap_err();
    assert!(matches!(err, ProviderError::PermissionDenied(_)), "{err:?}");
}

#[tokio::test]
async fn drift_made_in_the_dashboard_is_seen_and_closed_by_one_patch() {
    let t = start().await;
    let p = t.client();
    let desired = profile(&t, 1);
    let created = p.create(&desired).await.unwrap();
    assert!(t.emulator.edit_profile(&created.id, |w| {
        w.enabled_features = Some(vec![]);
        if let Some(o) = w.organization.as_mut() {
            o.assign_membership_on_login = Some("none".into());
        }
    }));
    let observed = p
        .observe(ResourceKind::ConnectionProfile, &created.id)
        .await
        .unwrap()
        .unwrap();
    let want = p.desired_fields(&desired).unwrap();
    let d = diff(&want, &observed.fields);
    assert_eq!(
        d.paths,
        vec!["enabledFeatures", "organization.assign_membership_on_login"]
    );
    let before = t.core().writes();
    let after = p
        .update(&created.id, &desired, &observed, &d)
        .await
        .unwrap();
    assert_eq!(t.core().writes() - before, 1);
    assert!(diff(&want, &after.fields).is_empty());
    // The untouched sibling inside `organization` was kept.
    assert_eq!(
        after.fields["organization.show_as_button"],
        serde_json::json!("optional")
    );
}

#[tokio::test]
async fn fields_set_in_the_dashboard_survive_an_update_of_owned_fields() {
    let t = start().await;
    let p = t.client();
    let desired = profile(&t, 1);
    let created = p.create(&desired).await.unwrap();
    // A newer API's fields, unknown to our types, at the top level, inside an overridden
    // strategy the spec manages, and a strategy the spec leaves alone.
    assert!(t.emulator.edit_profile(&created.id, |w| {
        w.extra
            .insert("future_top".into(), serde_json::json!({"x": 1}));
        let so = w.strategy_overrides.get_or_insert_default();
        if let Some(okta) = so.get_mut("okta") {
            okta.enabled_features = Some(vec![]);
            okta.extra
                .insert("future_leaf".into(), serde_json::json!(true));
        }
        so.insert(
            "samlp".into(),
            ssoperator_emulators::auth0::wire::StrategyOverride {
                provisioning: Some(
                    serde_json::json!({"google_workspace": {"sync_users": true}}),
                ),
                ..Default::default()
            },
        );
        if let Some(org) = w.organization.as_mut() {
            org.show_as_button = Some("none".into());
            org.extra
                .insert("future_org".into(), serde_json::json!("kept"));
        }
    }));
    let observed = p
        .observe(ResourceKind::ConnectionProfile, &created.id)
        .await
        .unwrap()
        .unwrap();
    let want = p.desired_fields(&desired).unwrap();
    let d = diff(&want, &observed.fields);
    assert_eq!(
        d.paths,
        vec![
            "organization.show_as_button",
            "strategyOverrides.okta.enabledFeatures"
        ]
    );
    let after = p
        .update(&created.id, &desired, &observed, &d)
        .await
        .unwrap();
    assert!(diff(&want, &after.fields).is_empty());
    let stored = t.emulator.get_profile(&created.id).unwrap();
    assert_eq!(stored.extra["future_top"], serde_json::json!({"x": 1}));
    assert_eq!(
        stored.organization.unwrap().extra["future_org"],
        serde_json::json!("kept")
    );
    let so = stored.strategy_overrides.unwrap();
    assert_eq!(so["okta"].extra["future_leaf"], serde_json::json!(true));
    assert_eq!(
        so["samlp"].provisioning,
        Some(serde_json::json!({"google_workspace": {"sync_users": true}}))
    );
}

#[tokio::test]
async fn a_non_empty_connection_config_is_refused_by_name() {
    let t = start().await;
    let p = t.client();
    let bad = with(&profile(&t, 1), |p| {
        p.connection_config = Some(serde_json::Map::from_iter([(
            "x".to_string(),
            serde_json::json!(1),
        )]))
    });
    match p.create(&bad).await {
        Err(ProviderError::Invalid { field, message }) => {
            assert_eq!(field.as_deref(), Some("connectionConfig"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_tenant_rate_limit_is_waited_out() {
    let t = start().await;
    let p = t.client();
    p.verify_credentials().await.unwrap();
    t.core().set_rate_limit(Some((2, 5)));
    for _ in 0..4 {
        p.observe(ResourceKind::ConnectionProfile, "cop_missing")
            .await
            .unwrap();
    }
    t.core().set_rate_limit(None);
}

#[tokio::test]
async fn find_by_name_pages_through_the_list() {
    let t = start().await;
    let p = t.client();
    for n in 0..(PAGE_SIZE as usize + 5) {
        p.create(&profile(&t, n)).await.unwrap();
    }
    let last = format!("profile-{}", PAGE_SIZE + 4);
    let found = p
        .find_by_name(ResourceKind::ConnectionProfile, &last)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.name, last);
    assert!(
        p.find_by_name(ResourceKind::ConnectionProfile, "nope")
            .await
            .unwrap()
            .is_none()
    );
    assert!(t.core().calls()["GET /api/v2/connection-profiles"] >= 2);
}

#[test]
fn other_kinds_are_unsupported() {
    let p = client_with_secret("http://127.0.0.1:9".into(), CLIENT_SECRET);
    let conn = Desired::RoleMapping(crate::core::desired::RoleMappingDesired {
        target: "x".into(),
        default_role: None,
        enforce_group_sync: None,
        mappings: vec![],
        atlas: None,
    });
    assert!(matches!(
        p.desired_fields(&conn),
        Err(ProviderError::Unsupported { .. })
    ));
}
