//! Per-resource schedules: `ssoperator.io/resync-period` reads (and repairs) one resource on its
//! own period while the operator's `--resync` is long, and a new value of
//! `ssoperator.io/reconcile-requested-at` takes exactly one reconcile, which reads the provider
//! live; an unrelated annotation takes none.

use std::time::{Duration, Instant};

use serde_json::json;
use ssoperator::crd::{
    ConnectionProfile, RECONCILE_REQUESTED_ANNOTATION, RESYNC_PERIOD_ANNOTATION,
};
use ssoperator_emulators::auth0::wire as auth0_api;
use ssoperator_emulators::demo::DemoEmulators;

use crate::operator::{
    Operator, annotate, apply, demo_account, provider_ready, ready, setup, wait_event, wait_for,
};

/// Long enough that no resync falls inside a test.
const GLOBAL: Duration = Duration::from_secs(600);

/// An Auth0 account with the profiles `ids` (each named as its resource's spec will say), and
/// a Ready ProviderConfig "auth0" for it.
async fn account(client: &kube::Client, ns: &str, ids: &[&str]) -> DemoEmulators {
    let e = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
    for id in ids {
        e.auth0.insert_profile(
            id,
            auth0_api::ConnectionProfile {
                name: id.to_string(),
                ..Default::default()
            },
        );
    }
    demo_account(client, ns, "auth0", &e, "auth0").await;
    provider_ready(client, ns, "auth0").await;
    e
}

/// A ConnectionProfile that adopts the profile `id` and wants it named `id`.
async fn profile(client: &kube::Client, ns: &str, id: &str, annotations: serde_json::Value) {
    apply(
        client,
        ns,
        json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "ConnectionProfile",
        "metadata": {"name": id, "annotations": annotations},
        "spec": {"providerConfigRef": {"name": "auth0"}, "externalName": id, "name": id}}),
    )
    .await;
    wait_for::<ConnectionProfile>(client, ns, id, "Ready", ready).await;
}

/// GETs of one profile by id so far (the list sweeps left out).
fn reads_by_id(e: &DemoEmulators) -> u64 {
    e.auth0
        .core()
        .calls()
        .iter()
        .filter(|(route, _)| route.starts_with("GET ") && route.ends_with("/{id}"))
        .map(|(_, n)| n)
        .sum()
}

fn name_of(e: &DemoEmulators, id: &str) -> String {
    e.auth0.get_profile(id).unwrap().name
}

fn edit_in_console(e: &DemoEmulators, id: &str) {
    assert!(
        e.auth0
            .edit_profile(id, |p| p.name = "edited-in-console".into())
    );
}

#[tokio::test]
async fn resync_period_annotation_reads_and_repairs_one_resource_on_its_own_schedule() {
    let (client, ns) = setup().await;
    let op = Operator::start_with(&client, &ns, |c| c.resync = GLOBAL);
    let e = account(&client, &ns, &["cop-fast", "cop-slow"]).await;
    // "1s" is below the minimum: 10s applies, and the resource's events say so.
    profile(
        &client,
        &ns,
        "cop-fast",
        json!({RESYNC_PERIOD_ANNOTATION: "1s"}),
    )
    .await;
    profile(&client, &ns, "cop-slow", json!({})).await;
    wait_event(&client, &ns, "cop-fast", "ResyncPeriodAdjusted").await;

    edit_in_console(&e, "cop-fast");
    edit_in_console(&e, "cop-slow");
    let (started, reads0) = (Instant::now(), reads_by_id(&e));
    while name_of(&e, "cop-fast") != "cop-fast" {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "cop-fast not repaired within its 10s period (+-10%)"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let repaired_after = started.elapsed();
    tokio::time::sleep(Duration::from_secs(25).saturating_sub(started.elapsed())).await;
    let reads = reads_by_id(&e) - reads0;
    eprintln!(
        "resync-period 10s under --resync {GLOBAL:?}: repaired after {repaired_after:?}, {reads} reads by id in 25s; calls {:?}",
        e.auth0.core().calls()
    );
    // Two or three resyncs of cop-fast in 25s, each one GET by id (a repair may read once more
    // before its write); cop-slow waits for the global period.
    assert!((2..=6).contains(&reads), "{reads} reads by id in 25s");
    assert_eq!(name_of(&e, "cop-slow"), "edited-in-console");
    drop(op);
}

#[tokio::test]
async fn reconcile_requested_at_takes_one_reconcile_per_new_value_and_other_annotations_none() {
    let (client, ns) = setup().await;
    let op = Operator::start_with(&client, &ns, |c| c.resync = GLOBAL);
    let e = account(&client, &ns, &["cop-now"]).await;
    profile(&client, &ns, "cop-now", json!({})).await;
    let reconciles = || {
        op.metrics
            .render()
            .lines()
            .filter(|l| {
                l.starts_with("ssoperator_reconciles_total")
                    && l.contains("kind=\"ConnectionProfile\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    };
    let settle = || tokio::time::sleep(Duration::from_secs(3));
    settle().await;
    edit_in_console(&e, "cop-now");
    let (r0, reads0) = (reconciles(), reads_by_id(&e));

    // An annotation the operator does not read: no reconcile, the drift stays.
    annotate::<ConnectionProfile>(&client, &ns, "cop-now", "example.com/note", Some("a")).await;
    settle().await;
    assert_eq!(reconciles(), r0, "an unrelated annotation woke a reconcile");
    assert_eq!(name_of(&e, "cop-now"), "edited-in-console");

    // "Reconcile now": one reconcile, which reads the provider live and repairs the drift.
    let asked = "2025-06-01T12:00:00Z";
    annotate::<ConnectionProfile>(
        &client,
        &ns,
        "cop-now",
        RECONCILE_REQUESTED_ANNOTATION,
        Some(asked),
    )
    .await;
    wait_for::<ConnectionProfile>(&client, &ns, "cop-now", "handled", |o| {
        o.status
            .as_ref()
            .and_then(|s| s.last_handled_reconcile_at.as_deref())
            == Some(asked)
    })
    .await;
    settle().await;
    assert_eq!(
        name_of(&e, "cop-now"),
        "cop-now",
        "the drift was not repaired"
    );
    assert_eq!(
        reconciles(),
        r0 + 1,
        "a new requested-at value: exactly one reconcile"
    );
    assert!(
        reads_by_id(&e) > reads0,
        "the requested reconcile read from the sweep"
    );

    // The same value again (another annotation changes): nothing.
    annotate::<ConnectionProfile>(&client, &ns, "cop-now", "example.com/note", Some("b")).await;
    settle().await;
    assert_eq!(
        reconciles(),
        r0 + 1,
        "an unchanged requested-at value woke a reconcile"
    );

    // A second new value: one more.
    annotate::<ConnectionProfile>(
        &client,
        &ns,
        "cop-now",
        RECONCILE_REQUESTED_ANNOTATION,
        Some("again"),
    )
    .await;
    wait_for::<ConnectionProfile>(&client, &ns, "cop-now", "handled", |o| {
        o.status
            .as_ref()
            .and_then(|s| s.last_handled_reconcile_at.as_deref())
            == Some("again")
    })
    .await;
    settle().await;
    assert_eq!(reconciles(), r0 + 2);
}
