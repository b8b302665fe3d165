//! Change approval (changePolicy Manual): a write waits for the approval of its exact plan.

use super::*;

#[tokio::test]
async fn manual_changes_wait_for_the_approval_of_their_exact_plan() {
    let (client, ns) = setup().await;
    let clerk = ClerkEmulator::new("sk_test_manual");
    let clerk_run = serve(clerk.router()).await;
    let op = Operator::start(&client, &ns);
    clerk_account(&client, &ns, &clerk_run.url(), "sk_test_manual").await;
    // Its Ready status is written once; the quiet window below must not catch that write.
    provider_ready(&client, &ns, "clerk").await;
    let writes = || clerk.core().writes();
    apply(
        &client,
        &ns,
        connection(
            "manual",
            "clerk",
            "manual.example.com",
            json!({"changePolicy": "Manual"}),
        ),
    )
    .await;
    let o = wait_for::<EnterpriseConnection>(
        &client,
        &ns,
        "manual",
        "AwaitingApproval",
        held("AwaitingApproval"),
    )
    .await;
    let create = plan_of(&o);
    assert_eq!(create.action, "Create");
    assert!(
        create.fields.iter().any(
            |f| f.path == "domains" && f.desired.as_deref() == Some("[\"manual.example.com\"]")
        ),
        "{create:?}"
    );
    for type_ in ["AwaitingApproval", "Reconciling"] {
        assert_eq!(
            condition(o.status.as_ref(), type_).map(|c| c.0),
            Some("True".into()),
            "{type_}"
        );
    }
    assert_eq!(writes(), 0);
    // kubectl shows the hash to approve.
    let out = Command::new(support::kubectl())
        .args([
            "--kubeconfig",
            support::kubeconfig_path(),
            "-n",
            &ns,
            "get",
            "enterpriseconnection",
            "manual",
        ])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("APPROVAL") && table.contains(&create.hash),
        "{table}"
    );

    annotate::<EnterpriseConnection>(&client, &ns, "manual", APPROVE, Some(&create.hash)).await;
    let o = wait_for::<EnterpriseConnection>(&client, &ns, "manual", "Ready", ready).await;
    assert_eq!(writes(), 1, "exactly the create");
    assert!(o.status.as_ref().unwrap().plan.is_none());
    assert_eq!(condition(o.status.as_ref(), "AwaitingApproval"), None);
    let id = o.status.unwrap().external_id.unwrap();

    // An edit: a new plan, and nothing written for three resyncs (the old approval names the create).
    patch_spec::<EnterpriseConnection>(
        &client,
        &ns,
        "manual",
        json!({"saml": {"idpSsoUrl": "https://idp.example.com/sso2"}}),
    )
    .await;
    let o = wait_for::<EnterpriseConnection>(
        &client,
        &ns,
        "manual",
        "AwaitingApproval",
        held("AwaitingApproval"),
    )
    .await;
    let update = plan_of(&o);
    assert_eq!(update.action, "Update");
    describe(&ns, "enterpriseconnection/manual");
    let field = update
        .fields
        .iter()
        .find(|f| f.path == "saml.idpSsoUrl")
        .expect("planned field");
    assert_eq!(
        field.current.as_deref(),
        Some("\"https://idp.example.com/sso\"")
    );
    assert_eq!(
        field.desired.as_deref(),
        Some("\"https://idp.example.com/sso2\"")
    );
    assert_quiet(&op, writes, 3).await;
    annotate::<EnterpriseConnection>(&client, &ns, "manual", APPROVE, Some("ffffffffffffffff"))
        .await;
    no_write_for_two_resyncs(&op, writes).await;
    annotate::<EnterpriseConnection>(&client, &ns, "manual", APPROVE, Some(&update.hash)).await;
    wait_for::<EnterpriseConnection>(&client, &ns, "manual", "Ready", ready).await;
    assert_eq!(writes(), 2, "exactly one update");
    assert_eq!(
        clerk
            .get_connection(&id)
            .unwrap()
            .saml_connection
            .unwrap()
            .idp_sso_url
            .as_deref(),
        Some("https://idp.example.com/sso2")
    );

    // A change made in the console waits for approval too.
    clerk.edit_connection(&id, |c| c.name = "renamed in the console".into());
    let o = wait_for::<EnterpriseConnection>(&client, &ns, "manual", "drift plan", |o| {
        held("AwaitingApproval")(o) && plan_of(o).fields.iter().any(|f| f.path == "name")
    })
    .await;
    no_write_for_two_resyncs(&op, writes).await;
    annotate::<EnterpriseConnection>(&client, &ns, "manual", APPROVE, Some(&plan_of(&o).hash))
        .await;
    wait_for::<EnterpriseConnection>(&client, &ns, "manual", "Ready", ready).await;
    assert_eq!(writes(), 3);
    assert_eq!(clerk.get_connection(&id).unwrap().name, "manual");
}
