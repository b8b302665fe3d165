//! The dry run: over the examples it writes nothing and reports each write once.

use super::*;

#[tokio::test]
async fn a_dry_run_over_the_examples_writes_nothing_and_reports_each_write_once() {
    let (client, ns) = setup().await;
    let emulators = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
    let docs = crate::demo::examples_for(&emulators, &ns);
    let op = Operator::start_with(&client, &ns, |c| {
        c.dry_run = true;
        c.cluster_provider_configs = Some(true);
    });
    for doc in &docs {
        apply(&client, &ns, doc.clone()).await;
    }
    // Auth0's token request counts as a POST; it changes nothing at the provider.
    let writes = || {
        emulators.writes().values().sum::<u64>()
            - emulators
                .auth0
                .core()
                .calls()
                .get("POST /oauth/token")
                .copied()
                .unwrap_or(0)
    };
    let would = |r: &str| r.starts_with("Would");
    let mut reported = std::collections::BTreeMap::new();
    for doc in &docs {
        let name = doc["metadata"]["name"].as_str().unwrap();
        let observe_only = doc["spec"]["managementPolicy"] == "ObserveOnly";
        let waits_for_connection = doc["spec"].get("connectionRef").is_some();
        // An ObserveOnly resource never writes, but its adoption is reported all the same.
        let done = |reason: &str| match () {
            _ if waits_for_connection => reason == "ConnectionNotReady",
            _ if observe_only => would(reason) || reason == "Available" || reason == "Drifted",
            _ => would(reason),
        };
        let reason_now = match doc["kind"].as_str().unwrap() {
            "EnterpriseConnection" => reason(
                &wait_for::<EnterpriseConnection>(&client, &ns, name, "reported", |o| {
                    done(&reason(o))
                })
                .await,
            ),
            "ConnectionProfile" => reason(
                &wait_for::<ConnectionProfile>(&client, &ns, name, "reported", |o| {
                    done(&reason(o))
                })
                .await,
            ),
            "OrgRoleMapping" => reason(
                &wait_for::<OrgRoleMapping>(&client, &ns, name, "reported", |o| done(&reason(o)))
                    .await,
            ),
            _ => continue,
        };
        eprintln!("{} {name}: {reason_now}", doc["kind"]);
        reported.insert(name.to_string(), would(&reason_now));
    }
    // Role mappings that wait for a connection settle a resync after it reports (seen once: a
    // status write a moment after the last resource was reported); then nothing moves.
    tokio::time::sleep(RESYNC * 2).await;
    assert_quiet(&op, writes, 3).await;
    assert_eq!(writes(), 0, "{:?}", emulators.writes());
    describe(&ns, "enterpriseconnection/acme-okta-saml");
    eprintln!(
        "provider writes over the dry run: {} ({:?}, Auth0 token requests excluded)",
        writes(),
        emulators.writes()
    );
    for doc in &docs {
        let name = doc["metadata"]["name"].as_str().unwrap();
        if !matches!(
            doc["kind"].as_str(),
            Some("EnterpriseConnection" | "ConnectionProfile" | "OrgRoleMapping")
        ) {
            continue;
        }
        let reasons = event_reasons(&client, &ns, name).await;
        let count = reasons.iter().filter(|r| would(r)).count();
        assert_eq!(count, usize::from(reported[name]), "{name}: {reasons:?}");
        assert!(
            !reasons
                .iter()
                .any(|r| r == "Created" || r == "Adopted" || r == "Updated"),
            "{name}: {reasons:?}"
        );
    }
    // No finalizer was added: a dry run never deletes.
    let ecs: kube::Api<EnterpriseConnection> = kube::Api::namespaced(client.clone(), &ns);
    for ec in ecs.list(&Default::default()).await.unwrap() {
        assert!(ec.finalizers().is_empty(), "{ec:?}");
    }
    let cpcs: kube::Api<ssoperator::crd::ClusterProviderConfig> = kube::Api::all(client.clone());
    for doc in docs.iter().filter(|d| d["kind"] == "ClusterProviderConfig") {
        let _ = cpcs
            .delete(
                doc["metadata"]["name"].as_str().unwrap(),
                &Default::default(),
            )
            .await;
    }
}
