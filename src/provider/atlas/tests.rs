//! Atlas provider tests against its emulator.

use super::testkit::{
    self, FEDERATION_SETTINGS_ID, IDENTITY_PROVIDER_ID, PRIVATE_KEY, PUBLIC_KEY,
};
use super::*;
use crate::core::desired::{RoleMappingDesired, SecretValue};
use crate::core::diff::diff;
use crate::crd::{GroupMapping, RoleAssignment as SpecRole};
use crate::provider::conformance::Target;
use ssoperator_emulators::Faults;

fn client(t: &testkit::AtlasTarget, private_key: &str) -> AtlasProvider {
    let mut settings = ClientSettings::new(t.url());
    settings.retry.base_delay = std::time::Duration::from_millis(5);
    settings.retry.max_delay = std::time::Duration::from_millis(10);
    AtlasProvider::new(
        settings,
        FEDERATION_SETTINGS_ID.into(),
        Credentials {
            public_key: PUBLIC_KEY.into(),
            private_key: SecretValue::new(private_key),
        },
    )
    .unwrap()
}

fn role_mapping(desired: Desired) -> RoleMappingDesired {
    match desired {
        Desired::RoleMapping(rm) => rm,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn the_digest_nonce_is_reused_so_only_the_first_call_pays_a_401() {
    let t = testkit::start().await;
    let p = client(&t, PRIVATE_KEY);
    p.verify_credentials().await.unwrap();
    let core = t.core();
    core.reset_calls();
    for n in 0..5 {
        assert!(
            p.observe(ResourceKind::OrgRoleMapping, &testkit::org_id(900 + n))
                .await
                .unwrap()
                .is_none()
        );
    }
    assert_eq!(core.calls().values().sum::<u64>(), 5, "{:?}", core.calls());
}

#[tokio::test]
async fn a_wrong_key_is_unauthenticated_after_one_challenge_and_never_leaks() {
    let t = testkit::start().await;
    let p = client(&t, "wrong-private-key-123");
    t.core().reset_calls();
    let err = p.verify_credentials().await.unwrap_err();
    assert!(matches!(err, ProviderError::Unauthenticated(_)), "{err:?}");
    assert_eq!(t.core().calls().values().sum::<u64>(), 2);
    let shown = format!("{err} {err:?} {p:?}");
    assert!(!shown.contains("wrong-private-key-123"), "{shown}");
    assert!(!shown.contains(PUBLIC_KEY), "{shown}");
}

#[tokio::test]
async fn no_secret_appears_in_debug_output_or_provider_errors() {
    let t = testkit::start().await;
    let p = client(&t, PRIVATE_KEY);
    let mut shown = format!("{p:?}");
    t.core().set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let err = p.verify_credentials().await.unwrap_err();
    t.core().set_faults(Faults::default());
    assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");
    shown.push_str(&format!("{err} {err:?}"));
    let err = p
        .update(
            &testkit::org_id(1),
            &t.sample(ResourceKind::OrgRoleMapping, 1),
            &Remote {
                id: String::new(),
                name: String::new(),
                fields: Fields::new(),
                outputs: Outputs::default(),
            },
            &Diff::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::NotFound(_)), "{err:?}");
    shown.push_str(&format!("{err} {err:?}"));
    assert!(!shown.contains(PRIVATE_KEY), "{shown}");
    assert!(!shown.contains(PUBLIC_KEY), "{shown}");
}

#[tokio::test]
async fn update_keeps_fields_it_does_not_own_although_patch_replaces_the_object() {
    let t = testkit::start().await;
    let p = client(&t, PRIVATE_KEY);
    let mut rm = role_mapping(t.sample(ResourceKind::OrgRoleMapping, 7));
    let org = t.seed(&Desired::RoleMapping(rm.clone())).await;
    t.emulator().edit_org_config(&org, |cfg| {
        cfg.data_access_identity_provider_ids = vec!["65a1b2c3d4e5f6a7b8c9d0e1".into()];
        cfg.domain_restriction_enabled = true;
    });
    let admins_id = t.emulator().get_org_config(&org).unwrap().role_mappings[0]
        .id
        .clone();
    // The spec leaves domain restriction and grants to the console.
    rm.atlas = None;
    rm.mappings[1].roles.remove(0);
    let desired = Desired::RoleMapping(rm);
    let observed = p
        .observe(ResourceKind::OrgRoleMapping, &org)
        .await
        .unwrap()
        .unwrap();
    let want = p.desired_fields(&desired).unwrap();
    let d = diff(&want, &observed.fields);
    assert_eq!(d.paths, vec!["mappings"]);
    p.update(&org, &desired, &observed, &d).await.unwrap();
    let cfg = t.emulator().get_org_config(&org).unwrap();
    assert_eq!(
        cfg.identity_provider_id.as_deref(),
        Some(IDENTITY_PROVIDER_ID)
    );
    assert_eq!(
        cfg.data_access_identity_provider_ids,
        vec!["65a1b2c3d4e5f6a7b8c9d0e1"]
    );
    assert!(cfg.domain_restriction_enabled);
    assert_eq!(cfg.post_auth_role_grants, vec!["ORG_MEMBER"]);
    assert_eq!(
        cfg.role_mappings[0].id, admins_id,
        "existing mapping kept its id"
    );
    let after = p
        .observe(ResourceKind::OrgRoleMapping, &org)
        .await
        .unwrap()
        .unwrap();
    assert!(diff(&want, &after.fields).is_empty());
}

#[tokio::test]
async fn a_field_unknown_to_the_client_survives_an_update() {
    // `instantUserProvisioningDisabled` is in Atlas' description but not in this client's
    // types: it rides in `extra`, and the full-object PATCH must carry it back (the emulator,
    // like Atlas, resets a field the PATCH leaves out).
    let t = testkit::start().await;
    let p = client(&t, PRIVATE_KEY);
    let mut rm = role_mapping(t.sample(ResourceKind::OrgRoleMapping, 8));
    let org = t.seed(&Desired::RoleMapping(rm.clone())).await;
    assert!(
        t.emulator()
            .edit_org_config(&org, |cfg| cfg.instant_user_provisioning_disabled = true)
    );
    rm.mappings[1].roles.remove(0);
    let desired = Desired::RoleMapping(rm);
    let observed = p
        .observe(ResourceKind::OrgRoleMapping, &org)
        .await
        .unwrap()
        .unwrap();
    let d = diff(&p.desired_fields(&desired).unwrap(), &observed.fields);
    assert_eq!(d.paths, vec!["mappings"]);
    p.update(&org, &desired, &observed, &d).await.unwrap();
    let cfg = t.emulator().get_org_config(&org).unwrap();
    assert!(cfg.instant_user_provisioning_disabled);
    assert_eq!(
        cfg.role_mappings
            .iter()
            .map(|m| m.role_assignments.len())
            .sum::<usize>(),
        rm_roles(&desired)
    );
}

fn rm_roles(d: &Desired) -> usize {
    match d {
        Desired::RoleMapping(rm) => rm.mappings.iter().map(|m| m.roles.len()).sum(),
        _ => 0,
    }
}

#[tokio::test]
async fn a_mapping_without_an_org_role_is_rejected_naming_the_field() {
    let t = testkit::start().await;
    let p = client(&t, PRIVATE_KEY);
    let mut rm = role_mapping(t.sample(ResourceKind::OrgRoleMapping, 8));
    let org = t.seed(&Desired::RoleMapping(rm.clone())).await;
    rm.mappings.push(GroupMapping {
        external_group: "project-only".into(),
        external_group_id: None,
        roles: vec![SpecRole {
            role: "GROUP_OWNER".into(),
            project_id: Some(testkit::PROJECT_ID.into()),
        }],
    });
    let desired = Desired::RoleMapping(rm);
    let observed = p
        .observe(ResourceKind::OrgRoleMapping, &org)
        .await
        .unwrap()
        .unwrap();
    let err = p
        .update(&org, &desired, &observed, &Diff::default())
        .await
        .unwrap_err();
    match err {
        ProviderError::Invalid { field, message } => {
            assert_eq!(field.as_deref(), Some("mappings"));
            assert!(message.contains("INVALID_ATTRIBUTE"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn delete_clears_owned_fields_and_keeps_the_org_connected() {
    let t = testkit::start().await;
    let p = client(&t, PRIVATE_KEY);
    let org = t.seed(&t.sample(ResourceKind::OrgRoleMapping, 9)).await;
    p.delete(ResourceKind::OrgRoleMapping, &org).await.unwrap();
    let cfg = t.emulator().get_org_config(&org).unwrap();
    assert!(cfg.role_mappings.is_empty());
    assert!(cfg.post_auth_role_grants.is_empty());
    assert!(cfg.domain_allow_list.is_empty());
    assert_eq!(
        cfg.identity_provider_id.as_deref(),
        Some(IDENTITY_PROVIDER_ID)
    );
    let writes = t.core().writes();
    p.delete(ResourceKind::OrgRoleMapping, &org).await.unwrap();
    assert_eq!(
        t.core().writes(),
        writes,
        "nothing left to clear, nothing sent"
    );
    p.delete(ResourceKind::OrgRoleMapping, &testkit::org_id(999))
        .await
        .unwrap();
}

#[tokio::test]
async fn console_drift_shows_in_the_diff() {
    let t = testkit::start().await;
    let p = client(&t, PRIVATE_KEY);
    let desired = t.sample(ResourceKind::OrgRoleMapping, 10);
    let org = t.seed(&desired).await;
    t.emulator().edit_org_config(&org, |cfg| {
        cfg.role_mappings[0].role_assignments[0].role = "ORG_READ_ONLY".into();
        cfg.post_auth_role_grants.clear();
    });
    let observed = p
        .observe(ResourceKind::OrgRoleMapping, &org)
        .await
        .unwrap()
        .unwrap();
    let d = diff(&p.desired_fields(&desired).unwrap(), &observed.fields);
    assert_eq!(d.paths, vec!["atlas.postAuthRoleGrants", "mappings"]);
}

#[tokio::test]
async fn the_seed_path_and_body_work_with_digest_auth_and_patch_replaces_the_whole_object() {
    let t = testkit::start().await;
    let org = "5df7a168f10fab3a149357fb";
    t.emulator()
        .insert_org_config(org, Some(IDENTITY_PROVIDER_ID));
    t.emulator()
        .edit_org_config(org, |cfg| cfg.domain_restriction_enabled = true);
    let path = format!(
        "/api/public/v1.0/federationSettings/{FEDERATION_SETTINGS_ID}/connectedOrgConfigs/{org}"
    );
    let http = reqwest::Client::new();
    let url = format!("{}{path}", t.url());
    let first = http.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 401);
    let mut prompt =
        digest_auth::parse(first.headers()["www-authenticate"].to_str().unwrap()).unwrap();
    let ctx = digest_auth::AuthContext::new_with_method(
        PUBLIC_KEY,
        PRIVATE_KEY,
        path.as_str(),
        None::<&[u8]>,
        digest_auth::HttpMethod::PATCH,
    );
    // The seed's example request body; it leaves domainRestrictionEnabled out.
    let body = serde_json::json!({
        "identityProviderId": IDENTITY_PROVIDER_ID,
        "orgId": org,
        "roleMappings": [{"externalGroupName": "example",
            "roleAssignments": [{"groupId": null, "orgId": org, "role": "ORG_OWNER"}]}]
    });
    let resp = http
        .patch(&url)
        .header("Authorization", prompt.respond(&ctx).unwrap().to_string())
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let got: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(got["domainRestrictionEnabled"], serde_json::json!(false));
    assert_eq!(got["userConflicts"], serde_json::Value::Null);
    let id = got["roleMappings"][0]["id"].as_str().unwrap();
    assert!(id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit()));
    // An answer is good once: the same nc and cnonce again is a replay.
    let ctx = digest_auth::AuthContext::new(PUBLIC_KEY, PRIVATE_KEY, path.as_str());
    let answer = prompt.respond(&ctx).unwrap().to_string();
    let once = http
        .get(&url)
        .header("Authorization", &answer)
        .send()
        .await
        .unwrap();
    assert_eq!(once.status(), 200);
    let replay = http
        .get(&url)
        .header("Authorization", &answer)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);
    let stale = replay.headers()["www-authenticate"].to_str().unwrap();
    assert!(stale.contains("stale=true"), "{stale}");
}

#[tokio::test]
async fn v2_paths_need_the_versioned_media_type() {
    let t = testkit::start().await;
    let path = format!(
        "/api/atlas/v2/federationSettings/{FEDERATION_SETTINGS_ID}/connectedOrgConfigs"
    );
    let http = reqwest::Client::new();
    let url = format!("{}{path}", t.url());
    let first = http.get(&url).send().await.unwrap();
    let mut prompt =
        digest_auth::parse(first.headers()["www-authenticate"].to_str().unwrap()).unwrap();
    let ctx = digest_auth::AuthContext::new(PUBLIC_KEY, PRIVATE_KEY, path.as_str());
    let resp = http
        .get(&url)
        .header("Accept", "application/json")
        .header("Authorization", prompt.respond(&ctx).unwrap().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 406);
    let resp = http
        .get(&url)
        .header("Accept", "application/vnd.atlas.2025-03-12+json")
        .header("Authorization", prompt.respond(&ctx).unwrap().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["totalCount"], serde_json::json!(0));
}
