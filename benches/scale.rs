//! Scale benchmark: N Clerk EnterpriseConnections on the real API server against the Clerk
//! emulator. Prints convergence time, provider calls (to converge and per resync), API status
//! writes and the process' peak memory.
//!
//!   scripts/with-k8s.sh cargo bench --bench scale            # N=1000, release build
//!   SCALE_N=1000 scripts/with-k8s.sh cargo test --bench scale  # the same in a debug build
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it runs once with N=20 as a smoke
//! test that fails when the resources do not converge.

// Benchmark code: a panic with a message is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/e2e/support.rs"]
#[allow(dead_code)]
mod support;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{StreamExt, stream};
use kube::{
    Api,
    api::{ListParams, Patch, PatchParams},
};
use serde_json::json;
use ssoperator::{
    config::Config,
    controller,
    crd::{EnterpriseConnection, ProviderConfig},
    emulator::demo::{self, DemoEmulators},
    metrics::{Metrics, sum_samples},
};

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Ready=True for the current generation.
fn ready(o: &EnterpriseConnection) -> bool {
    o.status.as_ref().is_some_and(|s| {
        s.observed_generation == o.metadata.generation
            && s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

#[tokio::main]
async fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    let bench = std::env::args().any(|a| a == "--bench");
    // SCALE_N overrides the size in either mode (e.g. a debug build: SCALE_N=1000 cargo test --bench scale).
    let n: usize = std::env::var("SCALE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if bench { 1000 } else { 20 });
    let resync = if bench || n > 20 {
        Duration::from_secs(20)
    } else {
        Duration::from_secs(5)
    };

    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::temp_namespace(&client).await;
    let emulators = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
    let pp = PatchParams::apply("ssoperator-bench").force();
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), &ns);
    secrets
        .patch(
            "clerk",
            &pp,
            &Patch::Apply(
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "clerk"},
                "stringData": {"secretKey": demo::CLERK_SECRET_KEY}}),
            ),
        )
        .await
        .unwrap();
    let pcs: Api<ProviderConfig> = Api::namespaced(client.clone(), &ns);
    pcs.patch(
        "clerk",
        &pp,
        &Patch::Apply(json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "ProviderConfig",
            "metadata": {"name": "clerk"},
            "spec": {"clerk": {}, "credentialsSecretRef": {"name": "clerk"},
                     "endpoint": emulators.endpoints()["clerk"], "rateLimit": {"requestsPerSecond": 1000, "burst": 1000}}})),
    )
    .await
    .unwrap();

    let mut config = Config::defaults();
    config.namespaces = vec![ns.clone()];
    config.resync = resync;
    config.identity = Some("bench".into());
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

    // Create N connections, 16 requests at a time, and time until all are Ready.
    let ecs: Api<EnterpriseConnection> = Api::namespaced(client.clone(), &ns);
    let start = Instant::now();
    stream::iter(0..n)
        .for_each_concurrent(16, |i| {
            let (ecs, pp) = (ecs.clone(), pp.clone());
            async move {
                let name = format!("conn-{i:05}");
                let doc = json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
                    "metadata": {"name": name},
                    "spec": {"providerConfigRef": {"name": "clerk"}, "name": format!("Tenant {i}"),
                             "domains": [format!("tenant-{i}.example")], "deletionPolicy": "Delete",
                             "saml": {"idpMetadataUrl": format!("https://idp.example/{i}/metadata")}}});
                ecs.patch(&name, &pp, &Patch::Apply(doc)).await.unwrap();
            }
        })
        .await;
    let applied = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(60 + n as u64);
    let ready = loop {
        let list = ecs.list(&ListParams::default()).await.unwrap();
        let ready = list.items.iter().filter(|o| ready(o)).count();
        if ready == n {
            break start.elapsed();
        }
        assert!(Instant::now() < deadline, "only {ready} of {n} Ready");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let calls = emulators.clerk.core().calls();
    let status_writes = sum_samples(&metrics.render(), "ssoperator_status_writes_total");
    assert_eq!(
        emulators.clerk.count_connections(),
        n,
        "one remote object each"
    );

    // One resync period with nothing to do: what does it cost?
    emulators.clerk.core().reset_calls();
    let writes_before = status_writes;
    tokio::time::sleep(resync + resync / 5).await;
    let resync_calls: u64 = emulators.clerk.core().calls().values().sum();
    let resync_writes = emulators.clerk.core().writes();
    let resync_status =
        sum_samples(&metrics.render(), "ssoperator_status_writes_total") - writes_before;

    println!("scale benchmark: {n} Clerk EnterpriseConnections, resync {resync:?}");
    println!("  applied in                     {applied:>10.2?}");
    println!(
        "  all Ready after                {ready:>10.2?}  ({:.1} resources/s)",
        n as f64 / ready.as_secs_f64()
    );
    println!(
        "  provider calls to converge     {:>10}  {calls:?}",
        calls.values().sum::<u64>()
    );
    println!(
        "  status writes to converge      {status_writes:>10}  ({:.1} per resource)",
        status_writes / n as f64
    );
    println!(
        "  provider calls in one resync   {resync_calls:>10}  ({:.2} per resource; writes {resync_writes})",
        resync_calls as f64 / n as f64
    );
    println!("  status writes in one resync    {resync_status:>10}");
    println!(
        "  peak RSS (whole process: operator, emulators, harness) {} KiB",
        peak_rss_kib()
    );
    assert_eq!(resync_writes, 0, "a quiet resync wrote to the provider");
    assert_eq!(resync_status, 0.0, "a quiet resync wrote status");

    // Delete them all (deletionPolicy Delete) while the operator runs, so that nothing is left.
    // (The bare control plane runs no namespace controller, so deleting the namespace would not.)
    let start = Instant::now();
    ecs.delete_collection(&Default::default(), &ListParams::default())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60 + n as u64);
    while !ecs
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .is_empty()
    {
        assert!(Instant::now() < deadline, "resources not deleted");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!(
        "  all deleted after              {:>10.2?}  (remote objects left: {})",
        start.elapsed(),
        emulators.clerk.count_connections()
    );
    let _ = stop.send(());
    let _ = operator.await;
    support::delete_namespace(&client, &ns).await;
}
