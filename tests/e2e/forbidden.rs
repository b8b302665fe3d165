//! A credential that can read but not write (an Auth0 application without `update:` scope): the
//! refused write is the resource's condition (`Forbidden`), the ProviderConfig stays Ready, and
//! nothing loops: each resource tries once, then waits for a person (or a spec change).

use std::time::{Duration, Instant};

use serde_json::json;
use ssoperator::{crd::ConnectionProfile, metrics::sum_samples};
use ssoperator_emulators::auth0::wire as auth0_api;
use ssoperator_emulators::demo::DemoEmulators;

use crate::operator::{
    Operator, apply, demo_account, pc_ready, provider_ready, reason, setup, wait_for,
};

const RESOURCES: usize = 20;
/// The acceptance's window: five minutes, with a resync short enough to run 60 times in it.
const WINDOW: Duration = Duration::from_secs(300);
const RESYNC: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_read_only_key_makes_no_loop_and_keeps_the_provider_config_ready() {
    let (client, ns) = setup().await;
    let e = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
    e.auth0.set_scopes(&["read:connection_profiles"]);
    let op = Operator::start_with(&client, &ns, |c| c.resync = RESYNC);
    demo_account(&client, &ns, "auth0", &e, "auth0").await;
    // Ready first: its first Ready rightly wakes the resources that use it, which would count
    // twice here for resources that had already tried.
    provider_ready(&client, &ns, "auth0").await;
    for i in 0..RESOURCES {
        let id = format!("cop_readonly{i:04}");
        e.auth0.insert_profile(
            &id,
            auth0_api::ConnectionProfile {
                name: format!("dashboard-{i}"),
                ..Default::default()
            },
        );
        // The spec renames it: an update the key may not make.
        apply(&client, &ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "ConnectionProfile",
            "metadata": {"name": format!("p{i}")},
            "spec": {"providerConfigRef": {"name": "auth0"}, "externalName": id, "name": format!("spec-{i}")}}))
        .await;
    }
    let started = Instant::now();
    for i in 0..RESOURCES {
        wait_for::<ConnectionProfile>(&client, &ns, &format!("p{i}"), "Forbidden", |o| {
            reason(o) == "Forbidden"
        })
        .await;
    }
    let account_checks = |e: &DemoEmulators| -> u64 {
        e.auth0
            .core()
            .calls()
            .iter()
            .filter(|(route, _)| route.starts_with("GET ") && !route.contains("{id}"))
            .map(|(_, n)| n)
            .sum()
    };
    let checks_before = account_checks(&e);
    tokio::time::sleep(WINDOW.saturating_sub(started.elapsed())).await;

    // Calls on one profile (by id): the resources' reads and writes, not the account's checks.
    let calls = e.auth0.core().calls();
    let per_object: u64 = calls
        .iter()
        .filter(|(route, _)| route.contains("{id}"))
        .map(|(_, n)| n)
        .sum();
    let reconciles = sum_samples(&op.metrics.render(), "ssoperator_reconciles_total");
    let checks = account_checks(&e) - checks_before;
    eprintln!(
        "read-only key, {RESOURCES} resources, {WINDOW:?} at resync {RESYNC:?}: {per_object} calls on profiles ({:.2} per resource), {reconciles} reconciles, {checks} credential checks in the window; calls: {calls:?}",
        per_object as f64 / RESOURCES as f64
    );
    assert!(
        per_object <= 2 * RESOURCES as u64,
        "more than 2 provider calls per resource: {calls:?}"
    );
    // The operator was alive all along: the ProviderConfig was rechecked every resync.
    assert!(
        checks >= 10,
        "only {checks} credential checks in the window"
    );
    let pc = provider_ready(&client, &ns, "auth0").await;
    let ready = pc_ready(&pc);
    assert_eq!(ready.map(|(s, _)| s), Some("True".to_string()));
}
