//! A controller that panics or blocks: the process ends or turns unhealthy, and the Lease is
//! released.

use super::*;

/// A controller that panics ends the process (non-zero) and the Lease is handed over.
#[tokio::test]
async fn leader_a_panicking_controller_ends_the_process_and_releases_the_lease() {
    let (client, ns, _e) = clerk_setup().await;
    let mut a = Replica::start_with(
        &ns,
        "panic-a",
        support::kubeconfig_path(),
        &[("FAILPOINTS", "reconcile-start=panic")],
        &[],
    );
    wait_holder(&client, &ns, "panic-a", Duration::from_secs(30)).await;
    apply(&client, &ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
        "metadata": {"name": "okta"},
        "spec": {"providerConfigRef": {"name": "clerk"}, "name": "Okta", "domains": ["okta.example"],
                 "saml": {"idpMetadataUrl": "https://okta.example/metadata"}}}))
    .await;
    let status = a.wait_exit(Duration::from_secs(30)).await;
    let log = a.log();
    let status = status
        .unwrap_or_else(|| panic!("the process outlived its panicking controller; log:\n{log}"));
    assert!(!status.success(), "exit {status}; log:\n{log}");
    assert!(log.contains("a controller stopped"), "{log}");
    assert_eq!(
        holder(&client, &ns).await,
        None,
        "the lease was not released"
    );
}

/// A controller that blocks its thread turns /healthz unhealthy while /metrics still answers.
#[tokio::test]
async fn leader_a_blocked_controller_turns_healthz_unhealthy() {
    let (client, ns, _e) = clerk_setup().await;
    let a = Replica::start_with(
        &ns,
        "block-a",
        support::kubeconfig_path(),
        &[("FAILPOINTS", "reconcile-start=sleep(120000)")],
        &["--liveness-timeout", "3s"],
    );
    wait_holder(&client, &ns, "block-a", Duration::from_secs(30)).await;
    a.metrics().await;
    // Idle but healthy: no resource yet, the controllers' heartbeat beats.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(a.healthz().await, Some(200));
    apply(&client, &ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
        "metadata": {"name": "okta"},
        "spec": {"providerConfigRef": {"name": "clerk"}, "name": "Okta", "domains": ["okta.example"],
                 "saml": {"idpMetadataUrl": "https://okta.example/metadata"}}}))
    .await;
    let since = Instant::now();
    let mut last = None;
    while since.elapsed() < Duration::from_secs(20) {
        last = a.healthz().await;
        if last == Some(503) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "blocked: /healthz {last:?} {:.1} s after the resource was applied",
        since.elapsed().as_secs_f64()
    );
    assert_eq!(last, Some(503), "log:\n{}", a.log());
    // The process is alive and serving: its metrics answer, and it counted the reconcile.
    assert!(a.reconciles().await >= 1.0);
}
