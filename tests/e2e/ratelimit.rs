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
    metrics::{Metrics, sum_samples},
};
use ssoperator_emulators::clerk::ClerkEmulator;

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

    // The defaults (concurrency 32 per kind), with a resync long enough that every call counted
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
    let apply_all = |extra_domain: bool| {
        let (ecs, pp) = (ecs.clone(), pp.clone());
        stream::iter(0..N).for_each_concurrent(16, move |i| {
            let (ecs, pp) = (ecs.clone(), pp.clone());
            async move {
                let name = format!("conn-{i:03}");
                let pc = if i % 2 == 0 { "clerk-a" } else { "clerk-b" };
                let mut domains = vec![format!("tenant-{i}.example")];
                if extra_domain {
                    domains.push(format!("eu.tenant-{i}.example"));
                }
                let doc = json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
                    "metadata": {"name": name},
                    "spec": {"providerConfigRef": {"name": pc}, "name": format!("Tenant {i}"),
                             "domains": domains, "deletionPolicy": "Delete",
                             "saml": {"idpMetadataUrl": format!("https://idp.example/{i}/metadata")}}});
                ecs.patch(&name, &pp, &Patch::Apply(doc)).await.unwrap();
            }
        })
    };
    let all_ready = |timeout: Duration| {
        let ecs = ecs.clone();
        async move {
            let deadline = Instant::now() + timeout;
            loop {
                let list = ecs.list(&ListParams::default()).await.unwrap();
                let not_ready: Vec<String> = list
                    .items
                    .iter()
                    .filter(|o| !ready(*o))
                    .map(|o| format!("{}: {} {}", o.name_any(), reason(o), message(o)))
                    .collect();
                if not_ready.is_empty() || Instant::now() > deadline {
                    return not_ready;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    let status_writes = || sum_samples(&metrics.render(), "ssoperator_status_writes_total");
    let rate_limited_events = || async {
        let events: Api<Event> = Api::namespaced(client.clone(), &ns);
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .filter(|e| e.reason.as_deref() == Some("RateLimited"))
            .map(|e| e.count.unwrap_or(1).max(1) as u64)
            .sum::<u64>()
    };
    let mut failures: Vec<String> = vec![];

    // Phase 1: create all 200 at once. The operator must keep within the account's 10 rps.
    let start = Instant::now();
    apply_all(false).await;
    let not_ready = all_ready(Duration::from_secs(300)).await;
    let ready_after = start.elapsed();
    let calls1: u64 = clerk.core().calls().values().sum();
    let operator_calls = sum_samples(&metrics.render(), "ssoperator_provider_calls_total") as u64;
    let too_many1 = calls_with_status(&metrics, "429");
    let share1 = too_many1 as f64 / calls1.max(1) as f64;
    let writes1 = status_writes();
    let limited1 = std::mem::take(&mut *rate_limited_writes.lock().unwrap());
    let worst1 = limited1.values().copied().max().unwrap_or(0);
    let events1 = rate_limited_events().await;
    println!(
        "rate limit, phase 1: {N} Clerk EnterpriseConnections created, 2 ProviderConfigs of one account, emulator 10 rps burst 10"
    );
    println!("  provider calls                 {calls1:>8}  (operator counted {operator_calls})");
    println!(
        "  answered 429                   {too_many1:>8}  ({:.2} %)",
        share1 * 100.0
    );
    println!(
        "  status writes                  {writes1:>8}  ({:.2} per resource)",
        writes1 / N as f64
    );
    println!(
        "  status writes with RateLimited {:>8}  ({} resources, at most {worst1} for one)",
        limited1.values().sum::<u32>(),
        limited1.len()
    );
    println!("  RateLimited Warning events     {events1:>8}");
    println!(
        "  all Ready after                {ready_after:>8.1?}  ({} not Ready)",
        not_ready.len()
    );
    if !not_ready.is_empty() {
        failures.push(format!(
            "phase 1: {} of {N} not Ready after {ready_after:?}: {:?}",
            not_ready.len(),
            &not_ready[..not_ready.len().min(5)]
        ));
    }
    if clerk.count_connections() != N {
        failures.push(format!(
            "phase 1: {} remote objects for {N} resources",
            clerk.count_connections()
        ));
    }
    if share1 > 0.01 {
        failures.push(format!(
            "phase 1: {too_many1} of {calls1} provider calls ({:.2} %) were answered 429",
            share1 * 100.0
        ));
    }

    // Phase 2: the provider refuses everything for 45 s (longer than one call may wait, 30 s),
    // each 429 asking to wait until the window ends, while every spec is edited. One 429 must
    // pause the account: the other resources wait without calling, each writes its status once
    // (RateLimited, with a message that does not count down), then all carry out the edit.
    let window = Duration::from_secs(45);
    clerk.core().reset_calls();
    let (too_many_before, writes_before) = (calls_with_status(&metrics, "429"), status_writes());
    clerk.core().refuse_for(window);
    let closed = Instant::now();
    apply_all(true).await;
    tokio::time::sleep(window.saturating_sub(closed.elapsed())).await;
    let calls_in_window: u64 = clerk.core().calls().values().sum();
    let too_many_in_window = calls_with_status(&metrics, "429") - too_many_before;
    let writes_in_window = status_writes() - writes_before;
    let reopened = Instant::now();
    let not_ready = all_ready(Duration::from_secs(300)).await;
    let ready_after2 = reopened.elapsed();
    let calls2: u64 = clerk.core().calls().values().sum();
    let too_many2 = calls_with_status(&metrics, "429") - too_many_before;
    let limited2 = rate_limited_writes.lock().unwrap().clone();
    let worst2 = limited2.values().copied().max().unwrap_or(0);
    let events2 = rate_limited_events().await - events1;
    println!(
        "rate limit, phase 2: every spec edited while the provider answers 429 for {window:?}"
    );
    println!(
        "  provider calls in the window   {calls_in_window:>8}  ({too_many_in_window} answered 429)"
    );
    println!(
        "  status writes in the window    {writes_in_window:>8}  ({:.2} per resource)",
        writes_in_window / N as f64
    );
    println!(
        "  status writes with RateLimited {:>8}  ({} resources, at most {worst2} for one)",
        limited2.values().sum::<u32>(),
        limited2.len()
    );
    println!("  RateLimited Warning events     {events2:>8}");
    println!(
        "  provider calls in all          {calls2:>8}  ({too_many2} answered 429, {:.2} %)",
        too_many2 as f64 / calls2.max(1) as f64 * 100.0
    );
    println!(
        "  all Ready after the window     {ready_after2:>8.1?}  ({} not Ready)",
        not_ready.len()
    );
    let total_calls = calls1 + calls2;
    let total_429 = too_many1 + too_many2;
    println!(
        "rate limit, both phases: {total_429} of {total_calls} provider calls answered 429 ({:.2} %)",
        total_429 as f64 / total_calls.max(1) as f64 * 100.0
    );
    if !not_ready.is_empty() {
        failures.push(format!(
            "phase 2: {} of {N} not Ready {ready_after2:?} after the window: {:?}",
            not_ready.len(),
            &not_ready[..not_ready.len().min(5)]
        ));
    }
    // The first 429, plus at most the calls already under way when it came (one per worker, and
    // a ProviderConfig check).
    if too_many_in_window > 10 {
        failures.push(format!(
            "phase 2: {too_many_in_window} calls were sent (and answered 429) while the account was paused"
        ));
    }
    if writes_in_window > N as f64 {
        failures.push(format!(
            "phase 2: {writes_in_window} status writes for {N} resources while the account was paused"
        ));
    }
    if total_429 as f64 > 0.01 * total_calls as f64 {
        failures.push(format!(
            "{total_429} of {total_calls} provider calls were answered 429"
        ));
    }
    for (phase, worst) in [(1, worst1), (2, worst2)] {
        if worst > 1 {
            failures.push(format!(
                "phase {phase}: a resource's status was written {worst} times while it waited for the rate limit"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");

    watch.abort();
    let _ = stop.send(());
    let _ = operator.await;
    drop(run);
}
