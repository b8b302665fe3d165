//! Rate limiting per provider account (issue 9, item 5): 200 Clerk EnterpriseConnections through
//! two ProviderConfigs of one Clerk account, against a Clerk emulator that allows 10 requests/s
//! with a burst of 10, as Clerk's own token bucket would.

use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Event;
use kube::{
    Api, ResourceExt,
    api::{ListParams, Patch, PatchParams},
    runtime::{WatchStreamExt, watcher},
};
use serde_json::json;
use ssoperator::{
    config::Config,
    controller,
    crd::EnterpriseConnection,
    emulator::clerk::ClerkEmulator,
    metrics::{Metrics, sum_samples},
};

use crate::{operator::*, support};

const N: usize = 200;

/// Provider calls the operator counted with this HTTP status (`ssoperator_provider_calls_total`).
fn calls_with_status(metrics: &Metrics, status: &str) -> u64 {
    let label = format!("status=\"{status}\"");
    metrics
        .render()
        .lines()
        .filter(|l| l.starts_with("ssoperator_provider_calls_total{") && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test]
async fn one_clerk_account_at_10_rps_sees_at_most_1_percent_429_and_stable_status() {
    let (client, ns) = setup().await;
    let clerk = ClerkEmulator::new("sk_test_rate");
    // Clerk's bucket: capacity 10, refilled at 10 per second.
    clerk.core().set_rate_limit(Some((10, 10)));
    let run = serve(clerk.router()).await;

    secret(
        &client,
        &ns,
        "clerk-creds",
        &[("secretKey", "sk_test_rate")],
    )
    .await;
    // Two ProviderConfigs of one account (as two teams would write them), each allowed the
    // account's documented rate: together they must still stay within it.
    for name in ["clerk-a", "clerk-b"] {
        apply(&client, &ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "ProviderConfig",
            "metadata": {"name": name},
            "spec": {"clerk": {}, "credentialsSecretRef": {"name": "clerk-creds"}, "endpoint": run.url(),
                     "rateLimit": {"requestsPerSecond": 10, "burst": 10}}}))
        .await;
    }

    // The chart's defaults (concurrency 4), with a resync long enough that every call counted
    // below serves the creates.
    let mut config = Config::defaults();
    config.namespaces = vec![ns.clone()];
    config.resync = Duration::from_secs(600);
    config.identity = Some(format!("e2e-{ns}"));
    let metrics = Arc::new(Metrics::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let operator = tokio::spawn(controller::run(
        client.clone(),
        config,
        metrics.clone(),
        async {
            let _ = stopped.await;
        },
    ));

    // Every status version the API server holds, per resource: how many carried RateLimited.
    let ecs: Api<EnterpriseConnection> = Api::namespaced(client.clone(), &ns);
    let rate_limited_writes: Arc<Mutex<BTreeMap<String, u32>>> = Arc::default();
    let watch = {
        let (ecs, counts) = (ecs.clone(), rate_limited_writes.clone());
        tokio::spawn(async move {
            let mut seen = HashSet::new();
            let mut s = watcher(ecs, watcher::Config::default())
                .default_backoff()
                .applied_objects()
                .boxed();
            while let Some(Ok(ec)) = s.next().await {
                let limited = ec.status.as_ref().is_some_and(|st| {
                    st.conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.reason == "RateLimited")
                });
                if limited && seen.insert((ec.name_any(), ec.resource_version())) {
                    *counts.lock().unwrap().entry(ec.name_any()).or_default() += 1;
                }
            }
        })
    };

    let pp = PatchParams::apply(support::FIELD_MANAGER).force();
    let start = Instant::now();
    stream::iter(0..N)
        .for_each_concurrent(16, |i| {
            let (ecs, pp) = (ecs.clone(), pp.clone());
            async move {
                let name = format!("conn-{i:03}");
                let pc = if i % 2 == 0 { "clerk-a" } else { "clerk-b" };
                let doc = json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
                    "metadata": {"name": name},
                    "spec": {"providerConfigRef": {"name": pc}, "name": format!("Tenant {i}"),
                             "domains": [format!("tenant-{i}.example")], "deletionPolicy": "Delete",
                             "saml": {"idpMetadataUrl": format!("https://idp.example/{i}/metadata")}}});
                ecs.patch(&name, &pp, &Patch::Apply(doc)).await.unwrap();
            }
        })
        .await;

    let deadline = Instant::now() + Duration::from_secs(300);
    let (ready_after, not_ready) = loop {
        let list = ecs.list(&ListParams::default()).await.unwrap();
        let not_ready: Vec<String> = list
            .items
            .iter()
            .filter(|o| !ready(*o))
            .map(|o| format!("{}: {} {}", o.name_any(), reason(o), message(o)))
            .collect();
        if not_ready.is_empty() || Instant::now() > deadline {
            break (start.elapsed(), not_ready);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    let emulator_calls: u64 = clerk.core().calls().values().sum();
    let operator_calls = sum_samples(&metrics.render(), "ssoperator_provider_calls_total") as u64;
    let too_many = calls_with_status(&metrics, "429");
    let share = too_many as f64 / emulator_calls.max(1) as f64;
    let status_writes = sum_samples(&metrics.render(), "ssoperator_status_writes_total");
    let limited = rate_limited_writes.lock().unwrap().clone();
    let worst = limited.values().copied().max().unwrap_or(0);
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    let warning_events = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|e| e.reason.as_deref() == Some("RateLimited"))
        .map(|e| e.count.unwrap_or(1).max(1) as u64)
        .sum::<u64>();
    println!(
        "rate limit: {N} Clerk EnterpriseConnections, 2 ProviderConfigs of one account, emulator 10 rps burst 10"
    );
    println!(
        "  provider calls                 {emulator_calls:>8}  (operator counted {operator_calls})"
    );
    println!(
        "  answered 429                   {too_many:>8}  ({:.2} %)",
        share * 100.0
    );
    println!(
        "  status writes                  {status_writes:>8}  ({:.2} per resource)",
        status_writes / N as f64
    );
    println!(
        "  status writes with RateLimited {:>8}  ({} resources, at most {worst} for one)",
        limited.values().sum::<u32>(),
        limited.len()
    );
    println!("  RateLimited Warning events     {warning_events:>8}");
    println!(
        "  all Ready after                {ready_after:>8.1?}  ({} not Ready)",
        not_ready.len()
    );

    assert!(
        not_ready.is_empty(),
        "{} of {N} not Ready after {ready_after:?}: {:?}",
        not_ready.len(),
        &not_ready[..not_ready.len().min(5)]
    );
    assert_eq!(clerk.count_connections(), N, "one remote object each");
    assert!(
        share <= 0.01,
        "{too_many} of {emulator_calls} provider calls ({:.2} %) were answered 429",
        share * 100.0
    );
    assert!(
        worst <= 1,
        "a resource's status was written {worst} times while it waited for the rate limit"
    );

    watch.abort();
    let _ = stop.send(());
    let _ = operator.await;
    drop(run);
}
