//! What many resources in one account cost, at a size a test affords: 150 Clerk connections
//! over three namespaces (three ProviderConfigs of one account), counted at the emulator and in
//! the operator's metrics. The full-size figures come from `benches/scale/`.
//!
//! - converge: one create per resource plus the shared list pages (no list before each create),
//!   one reconcile, at most two status writes and two metadata writes (the finalizer, the id)
//!   per new resource;
//! - a quiet resync: a list sweep for the account (and each ProviderConfig's credentials check),
//!   no read by id, no write of any kind;
//! - a console edit is still repaired within one resync (a sweep that sees it wakes the owner).

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use futures::{StreamExt, stream};
use kube::{Api, Client, api::ListParams};
use serde_json::json;
use ssoperator::crd::EnterpriseConnection;
use ssoperator_emulators::demo::DemoEmulators;

use crate::{
    idp,
    operator::{Operator, apply, demo_account, provider_ready, ready, serve, wait_event},
    support,
};

const PER_NAMESPACE: usize = 50;
const NAMESPACES: usize = 3;
const N: usize = PER_NAMESPACE * NAMESPACES;
/// Long enough that convergence ends before the first resync, so each reconcile is counted.
const RESYNC: Duration = Duration::from_secs(12);

/// Calls by kind: (creates, list pages, reads by id, other writes).
fn tally(calls: &BTreeMap<String, u64>) -> (u64, u64, u64, u64) {
    let mut t = (0, 0, 0, 0);
    for (route, n) in calls {
        match (route.split(' ').next(), route.contains('{')) {
            (Some("POST"), false) => t.0 += n,
            (Some("GET"), false) => t.1 += n,
            (Some("GET"), true) => t.2 += n,
            _ => t.3 += n,
        }
    }
    t
}

fn metric(op: &Operator, name: &str, kind: &str) -> f64 {
    op.metrics
        .render()
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(&format!("kind=\"{kind}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn all_ready(client: &Client, namespaces: &[String]) -> usize {
    let mut n = 0;
    for ns in namespaces {
        let api: Api<EnterpriseConnection> = Api::namespaced(client.clone(), ns);
        n += api
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .filter(|o| {
                ready(*o)
                    && o.status.as_ref().and_then(|s| s.observed_generation)
                        == o.metadata.generation
            })
            .count();
    }
    n
}

#[tokio::test]
async fn many_connections_cost_one_create_each_and_a_quiet_resync_one_list() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let mut namespaces = vec![];
    for _ in 0..NAMESPACES {
        namespaces.push(support::temp_namespace(&client).await);
    }
    let e = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
    for ns in &namespaces {
        demo_account(&client, ns, "clerk", &e, "clerk").await;
    }
    let all = namespaces.clone();
    let op = Operator::start_with(&client, &namespaces[0], |c| {
        c.namespaces = all;
        c.resync = RESYNC;
    });
    // Ready first, so that no ProviderConfig's first Ready wakes resources (counted below).
    for ns in &namespaces {
        provider_ready(&client, ns, "clerk").await;
    }
    e.clerk.core().reset_calls();
    // The tenants' IdPs publish their metadata (one document for all).
    let idp_server = serve(idp::tenants("tenant-idp")).await;
    let idps = idp_server.url();

    let started = Instant::now();
    stream::iter(0..N)
        .for_each_concurrent(16, |i| {
            let (client, ns) = (client.clone(), namespaces[i % NAMESPACES].clone());
            let idps = idps.clone();
            async move {
                apply(
                    &client,
                    &ns,
                    json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
                    "metadata": {"name": format!("conn-{i:04}")},
                    "spec": {"providerConfigRef": {"name": "clerk"}, "name": format!("Tenant {i}"),
                             "domains": [format!("tenant-{i}.example")], "deletionPolicy": "Delete",
                             "saml": {"idpMetadataUrl": format!("{idps}/idp/{i}/metadata")}}}),
                )
                .await;
            }
        })
        .await;
    loop {
        let n = all_ready(&client, &namespaces).await;
        if n == N {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "only {n} of {N} Ready"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let converged = started.elapsed();
    let calls = e.clerk.core().calls();
    let (creates, pages, reads, writes) = tally(&calls);
    let reconciles = metric(&op, "ssoperator_reconciles_total", "EnterpriseConnection");
    let status_writes = metric(
        &op,
        "ssoperator_status_writes_total",
        "EnterpriseConnection",
    );
    eprintln!(
        "{N} connections in {NAMESPACES} namespaces Ready after {converged:?}: {creates} creates, {pages} list pages, {reads} reads by id, {writes} other calls; {reconciles} reconciles, {status_writes} status writes"
    );
    assert_eq!(e.clerk.count_connections(), N, "one remote object each");
    assert_eq!(creates, N as u64, "{calls:?}");
    assert!(
        (creates + pages + reads + writes) as f64 <= 1.1 * N as f64,
        "more than 1.1 provider calls per resource to converge: {calls:?}"
    );
    if converged < RESYNC.mul_f64(0.9) {
        assert!(
            reconciles <= N as f64 + 5.0,
            "{reconciles} reconciles for {N} new resources (one each); errors: {:?}",
            op.metrics
                .render()
                .lines()
                .filter(|l| l.starts_with("ssoperator_reconcile_errors_total"))
                .collect::<Vec<_>>()
        );
    }
    assert!(
        status_writes <= N as f64,
        "{status_writes} status writes for {N} new resources (the result: one each)"
    );
    let metadata_writes = metric(
        &op,
        "ssoperator_metadata_writes_total",
        "EnterpriseConnection",
    );
    // A write conditional on a copy that lags (the finalizer's) costs a conflict and a read.
    let fresh_reads = metric(&op, "ssoperator_fresh_reads_total", "EnterpriseConnection");
    assert!(
        fresh_reads <= N as f64 / 10.0,
        "{fresh_reads} reads of resources from the API server for {N} new resources"
    );
    assert!(
        metadata_writes <= 2.0 * N as f64,
        "{metadata_writes} metadata writes for {N} new resources (the finalizer with the pending name, then the id: two each)"
    );

    // A quiet resync: one sweep (a page), nothing read by id, nothing written.
    e.clerk.core().reset_calls();
    let (reconciles0, status0) = (
        metric(&op, "ssoperator_reconciles_total", "EnterpriseConnection"),
        metric(
            &op,
            "ssoperator_status_writes_total",
            "EnterpriseConnection",
        ),
    );
    let metadata0 = metric(
        &op,
        "ssoperator_metadata_writes_total",
        "EnterpriseConnection",
    );
    let sweeps =
        || ssoperator::metrics::sum_samples(&op.metrics.render(), "ssoperator_sweeps_total");
    let sweeps0 = sweeps();
    tokio::time::sleep(RESYNC.mul_f64(1.3)).await;
    let calls = e.clerk.core().calls();
    let (creates, pages, reads, writes) = tally(&calls);
    let reconciled =
        metric(&op, "ssoperator_reconciles_total", "EnterpriseConnection") - reconciles0;
    eprintln!(
        "one quiet resync: {pages} list pages, {reads} reads by id, {} writes; {reconciled} reconciles",
        creates + writes
    );
    assert!(
        reconciled >= N as f64,
        "only {reconciled} reconciles in a resync: the operator was not alive"
    );
    assert_eq!(creates + writes, 0, "writes in a quiet resync: {calls:?}");
    assert_eq!(reads, 0, "reads by id in a quiet resync: {calls:?}");
    // The window holds up to two sweeps of the account (one page each) and each ProviderConfig's
    // credentials check (a one-item list): at its resync, and once more when its own status
    // write (usedBy catching up with the new resources) brings it back. Without the sweeps this
    // window cost one read per resource.
    assert!(
        pages <= 2 + 3 * NAMESPACES as u64,
        "{pages} list pages in one resync: {calls:?}"
    );
    // The three ProviderConfigs are one account: one sweep per resync period.
    let swept = sweeps() - sweeps0;
    assert!(
        (1.0..=2.0).contains(&swept),
        "{swept} sweeps of the one account in {:?}",
        RESYNC.mul_f64(1.3)
    );
    // (A ProviderConfig's status.usedBy catches up with the new resources at its own resync.)
    assert_eq!(
        metric(
            &op,
            "ssoperator_status_writes_total",
            "EnterpriseConnection"
        ),
        status0,
        "status writes in a quiet resync"
    );
    assert_eq!(
        metric(
            &op,
            "ssoperator_metadata_writes_total",
            "EnterpriseConnection"
        ),
        metadata0,
        "metadata writes in a quiet resync"
    );

    // A console edit is repaired within a resync (plus the time to run the sweep).
    let ns = &namespaces[1];
    let api: Api<EnterpriseConnection> = Api::namespaced(client.clone(), ns);
    let target = api.get("conn-0001").await.unwrap();
    let id = target.status.unwrap().external_id.unwrap();
    let edited = Instant::now();
    assert!(
        e.clerk
            .edit_connection(&id, |c| c.domains = vec!["evil.example".into()])
    );
    wait_event(&client, ns, "conn-0001", "DriftRepaired").await;
    let repaired = edited.elapsed();
    eprintln!("console edit repaired after {repaired:?} (resync {RESYNC:?})");
    assert!(
        repaired < RESYNC.mul_f64(1.1) + Duration::from_secs(3),
        "console edit repaired only after {repaired:?}"
    );
    assert_eq!(
        e.clerk.get_connection(&id).unwrap().domains,
        ["tenant-1.example"]
    );

    drop(op);
    for ns in &namespaces {
        support::delete_namespace(&client, ns).await;
    }
}
