//! Lockout guards: an admin lockout (Atlas, Qovery) and the last active connection of a domain
//! are refused until the plan is allowed.

use super::*;

fn orm(name: &str, config: &str, spec: Value) -> Value {
    let mut s = json!({"providerConfigRef": {"name": config}});
    for (k, v) in spec.as_object().into_iter().flatten() {
        s[k] = v.clone();
    }
    json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "OrgRoleMapping", "metadata": {"name": name}, "spec": s})
}

#[tokio::test]
async fn atlas_and_qovery_admin_lockouts_are_refused_until_the_plan_is_allowed() {
    let (client, ns) = setup().await;
    let atlas = AtlasEmulator::new("safepub", "safe-private", FED);
    atlas.insert_org_config(ATLAS_ORG, Some("0a7e0b5c9d1f2e3a4b6d"));
    atlas.edit_org_config(ATLAS_ORG, |c| {
        c.role_mappings = vec![RoleMapping {
            external_group_name: "owners".into(),
            id: AtlasEmulator::new_id(),
            role_assignments: vec![RoleAssignment {
                org_id: Some(ATLAS_ORG.into()),
                role: "ORG_OWNER".into(),
                ..Default::default()
            }],
        }];
    });
    let qovery = QoveryEmulator::new("qov_safe", vec![QOVERY_ORG.to_string()]);
    qovery.insert_connection("acme-sso", "viewer");
    let (atlas_run, qovery_run) = (serve(atlas.router()).await, serve(qovery.router()).await);
    let op = Operator::start(&client, &ns);
    atlas_account(
        &client,
        &ns,
        &atlas_run.url(),
        FED,
        ("safepub", "safe-private"),
    )
    .await;
    qovery_account(&client, &ns, &qovery_run.url(), QOVERY_ORG, "qov_safe").await;
    let atlas_writes = || atlas.core().writes();
    let qovery_writes = || qovery.core().writes();

    // Atlas, rule 2: replacing the only ORG_OWNER mapping.
    let member = json!([{"externalGroup": "dba", "roles": [{"role": "ORG_MEMBER"}]}]);
    apply(
        &client,
        &ns,
        orm(
            "atlas-roles",
            "atlas",
            json!({"externalName": ATLAS_ORG, "mappings": member}),
        ),
    )
    .await;
    let o = wait_for::<OrgRoleMapping>(
        &client,
        &ns,
        "atlas-roles",
        "LockoutRisk",
        held("LockoutRisk"),
    )
    .await;
    assert!(
        message(&o).contains("atlas-last-owner-mapping"),
        "{}",
        message(&o)
    );
    assert!(stalled(&o), "{o:?}");
    assert_eq!(plan_of(&o).action, "Update");
    assert_eq!(atlas_writes(), 0);
    // A hash that names another change lets nothing through.
    annotate::<OrgRoleMapping>(&client, &ns, "atlas-roles", ALLOW, Some("0123456789abcdef")).await;
    no_write_for_two_resyncs(&op, atlas_writes).await;
    let o =
        wait_for::<OrgRoleMapping>(&client, &ns, "atlas-roles", "still refused", |_| true).await;
    assert_eq!(reason(&o), "LockoutRisk");

    // Atlas, rule 1: domain restriction with no owner mapping; the right hash lets exactly it through.
    patch_spec::<OrgRoleMapping>(
        &client,
        &ns,
        "atlas-roles",
        json!({"atlas": {"domainRestrictionEnabled": true}}),
    )
    .await;
    let o = wait_for::<OrgRoleMapping>(&client, &ns, "atlas-roles", "refused", |o| {
        held("LockoutRisk")(o) && message(o).contains("atlas-restriction-without-owner")
    })
    .await;
    assert_eq!(atlas_writes(), 0);
    let hash = plan_of(&o).hash;
    assert!(message(&o).contains(&hash), "{}", message(&o));
    describe(&ns, "orgrolemapping/atlas-roles");
    annotate::<OrgRoleMapping>(&client, &ns, "atlas-roles", ALLOW, Some(&hash)).await;
    let o = wait_for::<OrgRoleMapping>(&client, &ns, "atlas-roles", "Ready", ready).await;
    assert_eq!(atlas_writes(), 1);
    assert!(o.status.as_ref().unwrap().plan.is_none(), "{o:?}");
    assert!(!stalled(&o));
    let held_now = atlas.get_org_config(ATLAS_ORG).unwrap();
    assert!(held_now.domain_restriction_enabled);
    assert_eq!(held_now.role_mappings.len(), 1);

    // Qovery: group sync enforced with no admin or owner group.
    apply(
        &client,
        &ns,
        orm(
            "acme-roles",
            "qovery",
            json!({"externalName": "acme-sso", "enforceGroupSync": true,
        "mappings": [{"externalGroup": "eng", "roles": [{"role": "viewer"}]}]}),
        ),
    )
    .await;
    let o = wait_for::<OrgRoleMapping>(
        &client,
        &ns,
        "acme-roles",
        "LockoutRisk",
        held("LockoutRisk"),
    )
    .await;
    assert!(
        message(&o).contains("qovery-group-sync-without-admin"),
        "{}",
        message(&o)
    );
    assert_eq!(qovery_writes(), 0);
    let first = plan_of(&o).hash;
    // Another change under the same rule has another hash: an override of the first is stale.
    patch_spec::<OrgRoleMapping>(
        &client,
        &ns,
        "acme-roles",
        json!({"mappings": [{"externalGroup": "eng", "roles": [{"role": "devops"}]}]}),
    )
    .await;
    let o = wait_for::<OrgRoleMapping>(&client, &ns, "acme-roles", "refused again", |o| {
        held("LockoutRisk")(o) && plan_of(o).hash != first
    })
    .await;
    annotate::<OrgRoleMapping>(&client, &ns, "acme-roles", ALLOW, Some(&first)).await;
    no_write_for_two_resyncs(&op, qovery_writes).await;
    let second = plan_of(&o).hash;
    annotate::<OrgRoleMapping>(&client, &ns, "acme-roles", ALLOW, Some(&second)).await;
    wait_for::<OrgRoleMapping>(&client, &ns, "acme-roles", "Ready", ready).await;
    assert_eq!(qovery_writes(), 1);
    let conn = qovery.get_connection("acme-sso").unwrap();
    assert!(conn.enforce_group_sync);
    let reasons = event_reasons(&client, &ns, "acme-roles").await;
    assert_eq!(
        reasons.iter().filter(|r| *r == "LockoutRisk").count(),
        2,
        "one Warning per refused plan: {reasons:?}"
    );
}

#[tokio::test]
async fn the_last_active_connection_of_a_domain_is_not_switched_off_or_deleted_unless_allowed() {
    let (client, ns) = setup().await;
    let clerk = ClerkEmulator::new("sk_test_safety");
    let lr = LoginRadiusEmulator::new("lr-key", "lr-secret", LR_ORG);
    let (clerk_run, lr_run) = (serve(clerk.router()).await, serve(lr.router()).await);
    let op = Operator::start(&client, &ns);
    clerk_account(&client, &ns, &clerk_run.url(), "sk_test_safety").await;
    loginradius_account(&client, &ns, &lr_run.url(), LR_ORG, ("lr-key", "lr-secret")).await;
    let clerk_writes = || clerk.core().writes();
    let lr_writes = || lr.core().writes();

    // Clerk: one active connection for acme.example.com.
    apply(
        &client,
        &ns,
        connection(
            "okta",
            "clerk",
            "acme.example.com",
            json!({"deletionPolicy": "Delete", "active": true,
                // Clerk activates a SAML connection only with complete IdP metadata.
                "saml": {"idpMetadataUrl": "https://idp.example.com/metadata.xml"}}),
        ),
    )
    .await;
    wait_for::<EnterpriseConnection>(&client, &ns, "okta", "Ready", ready).await;
    assert_eq!(clerk_writes(), 1);
    patch_spec::<EnterpriseConnection>(&client, &ns, "okta", json!({"active": false})).await;
    let o =
        wait_for::<EnterpriseConnection>(&client, &ns, "okta", "LockoutRisk", held("LockoutRisk"))
            .await;
    assert!(
        message(&o).contains("last-active-connection") && message(&o).contains("acme.example.com"),
        "{}",
        message(&o)
    );
    no_write_for_two_resyncs(&op, clerk_writes).await;
    // Deleting it is the same risk: the finalizer stays and nothing is deleted at Clerk.
    delete::<EnterpriseConnection>(&client, &ns, "okta").await;
    let o = wait_for::<EnterpriseConnection>(&client, &ns, "okta", "delete refused", |o| {
        o.status
            .as_ref()
            .and_then(|s| s.plan.as_ref())
            .is_some_and(|p| p.action == "Delete")
    })
    .await;
    assert_eq!(reason(&o), "LockoutRisk");
    no_write_for_two_resyncs(&op, clerk_writes).await;
    assert_eq!(clerk.count_connections(), 1);
    annotate::<EnterpriseConnection>(&client, &ns, "okta", ALLOW, Some(&plan_of(&o).hash)).await;
    wait_gone::<EnterpriseConnection>(&client, &ns, "okta").await;
    assert_eq!(clerk.count_connections(), 0);
    assert_eq!(clerk_writes(), 2, "one create, one delete");

    // LoginRadius: two active connections for one domain; the first may go off, the last may not.
    for name in ["azure-a", "azure-b"] {
        apply(
            &client,
            &ns,
            connection(name, "lr", "globex.example.com", json!({})),
        )
        .await;
    }
    for name in ["azure-a", "azure-b"] {
        wait_for::<EnterpriseConnection>(&client, &ns, name, "Ready", ready).await;
    }
    let w0 = lr_writes();
    patch_spec::<EnterpriseConnection>(&client, &ns, "azure-a", json!({"active": false})).await;
    wait_for::<EnterpriseConnection>(&client, &ns, "azure-a", "Ready", ready).await;
    assert_eq!(lr_writes(), w0 + 1);
    patch_spec::<EnterpriseConnection>(&client, &ns, "azure-b", json!({"active": false})).await;
    let o = wait_for::<EnterpriseConnection>(
        &client,
        &ns,
        "azure-b",
        "LockoutRisk",
        held("LockoutRisk"),
    )
    .await;
    assert!(
        message(&o).contains("globex.example.com"),
        "{}",
        message(&o)
    );
    no_write_for_two_resyncs(&op, lr_writes).await;
}
