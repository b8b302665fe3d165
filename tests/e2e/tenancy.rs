//! Shared-account boundaries: a ClusterProviderConfig's `allowedNamespaces` refuses resources in
//! other namespaces with a condition naming the rule, and a plain http:// endpoint is accepted
//! only for loopback hosts unless `allowInsecureEndpoint` is set.

use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api,
    api::{DeleteParams, Patch, PatchParams},
};
use serde_json::{Value, json};
use ssoperator::crd::{ClusterProviderConfig, EnterpriseConnection, ProviderConfig};
use ssoperator_emulators::clerk::ClerkEmulator;

use crate::{operator::*, support};

fn cpc(name: &str, ns: &str, endpoint: &str, allowed: Value) -> Value {
    let mut spec = json!({"clerk": {}, "credentialsSecretRef": {"name": "clerk-creds", "namespace": ns}, "endpoint": endpoint});
    if !allowed.is_null() {
        spec["allowedNamespaces"] = allowed;
    }
    json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "ClusterProviderConfig", "metadata": {"name": name}, "spec": spec})
}

fn connection(name: &str, config: &str, domain: &str) -> Value {
    json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection", "metadata": {"name": name},
        "spec": {"providerConfigRef": {"kind": "ClusterProviderConfig", "name": config}, "name": name, "domains": [domain],
                 "saml": {"idpEntityId": "https://idp.example", "idpSsoUrl": "https://idp.example/sso"}}})
}

#[tokio::test]
async fn cluster_provider_config_refuses_namespaces_its_selector_does_not_allow() {
    let (client, ns) = setup().await;
    let sfx = support::random_suffix(6);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .patch(
            &ns,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"e2e-tenant": sfx}}})),
        )
        .await
        .unwrap();
    let clerk = ClerkEmulator::new("sk_test_tenancy");
    let run = serve(clerk.router()).await;
    let core = clerk.core();
    secret(
        &client,
        &ns,
        "clerk-creds",
        &[("secretKey", "sk_test_tenancy")],
    )
    .await;
    let (ours, others, everyone) = (
        format!("tenant-{sfx}"),
        format!("other-{sfx}"),
        format!("everyone-{sfx}"),
    );
    apply(
        &client,
        &ns,
        cpc(
            &ours,
            &ns,
            &run.url(),
            json!({"from": "Selector", "selector": {"matchLabels": {"e2e-tenant": sfx}}}),
        ),
    )
    .await;
    apply(
        &client,
        &ns,
        cpc(
            &others,
            &ns,
            &run.url(),
            json!({"from": "Selector", "selector": {"matchExpressions": [{"key": "e2e-tenant", "operator": "In", "values": [format!("other-{sfx}")]}]}}),
        ),
    )
    .await;
    // No allowedNamespaces: every namespace (the documented default).
    apply(&client, &ns, cpc(&everyone, &ns, &run.url(), Value::Null)).await;
    let _op = Operator::start(&client, &ns);

    apply(
        &client,
        &ns,
        connection("allowed", &ours, "allowed.example"),
    )
    .await;
    apply(
        &client,
        &ns,
        connection("default-all", &everyone, "all.example"),
    )
    .await;
    apply(
        &client,
        &ns,
        connection("refused", &others, "refused.example"),
    )
    .await;
    wait_for::<EnterpriseConnection>(&client, &ns, "allowed", "Ready", ready).await;
    wait_for::<EnterpriseConnection>(&client, &ns, "default-all", "Ready", ready).await;
    let refused = wait_for::<EnterpriseConnection>(&client, &ns, "refused", "refused", |o| {
        reason(o) == "NamespaceNotAllowed"
    })
    .await;
    let msg = message(&refused);
    println!("refused: {msg}");
    for want in [
        others.as_str(),
        ns.as_str(),
        "spec.allowedNamespaces",
        "from: Selector",
        &format!("e2e-tenant in (other-{sfx})"),
    ] {
        assert!(msg.contains(want), "{want:?} not in {msg}");
    }
    let stalled = condition(refused.status.as_ref(), "Stalled");
    assert!(
        stalled.is_some_and(|c| c.0 == "True"),
        "a refusal only a person can clear is Stalled"
    );
    // Two creates (the allowed connections); none for the refused one.
    assert_eq!(core.calls_of("POST"), 2, "{:?}", core.calls());

    let cpcs: Api<ClusterProviderConfig> = Api::all(client.clone());
    for name in [&ours, &others, &everyone] {
        let _ = cpcs.delete(name, &DeleteParams::default()).await;
    }
    support::delete_namespace(&client, &ns).await;
}

/// Dry-run server-side apply of a ProviderConfig with this endpoint.
async fn try_endpoint(
    client: &kube::Client,
    ns: &str,
    endpoint: &str,
    allow: Option<bool>,
) -> Result<(), String> {
    let mut spec =
        json!({"clerk": {}, "credentialsSecretRef": {"name": "clerk-creds"}, "endpoint": endpoint});
    if let Some(a) = allow {
        spec["allowInsecureEndpoint"] = json!(a);
    }
    let pc = json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "ProviderConfig", "metadata": {"name": "endpoint"}, "spec": spec});
    let api: Api<ProviderConfig> = Api::namespaced(client.clone(), ns);
    let mut params = PatchParams::apply(support::FIELD_MANAGER).force();
    params.dry_run = true;
    api.patch("endpoint", &params, &Patch::Apply(&pc))
        .await
        .map(|_| ())
        .map_err(|e| match e {
            kube::Error::Api(s) => format!("HTTP {}: {}", s.code, s.message),
            other => other.to_string(),
        })
}

#[tokio::test]
async fn plain_http_endpoints_are_refused_unless_loopback_or_allowed() {
    let (client, ns) = setup().await;
    for ok in [
        "http://127.0.0.1:8080",
        "http://127.1.2.3/api",
        "http://localhost:9000",
        "http://[::1]:9000",
        "https://api.clerk.com",
    ] {
        try_endpoint(&client, &ns, ok, None)
            .await
            .unwrap_or_else(|e| panic!("{ok} refused: {e}"));
    }
    for bad in [
        "http://api.clerk.example",
        "http://10.0.0.7:8080",
        "http://128.0.0.1",
    ] {
        let err = try_endpoint(&client, &ns, bad, None).await.unwrap_err();
        println!("{bad}: {err}");
        for want in ["spec.endpoint", "loopback", "allowInsecureEndpoint"] {
            assert!(err.contains(want), "{bad}: {want:?} not in {err}");
        }
        let err = try_endpoint(&client, &ns, bad, Some(false))
            .await
            .unwrap_err();
        assert!(err.contains("loopback"), "{err}");
        try_endpoint(&client, &ns, bad, Some(true))
            .await
            .unwrap_or_else(|e| panic!("{bad} with allowInsecureEndpoint refused: {e}"));
    }
    // The same rule guards ClusterProviderConfigs.
    let api: Api<ClusterProviderConfig> = Api::all(client.clone());
    let mut params = PatchParams::apply(support::FIELD_MANAGER).force();
    params.dry_run = true;
    let obj = cpc("insecure", &ns, "http://api.clerk.example", Value::Null);
    let err = api
        .patch("insecure", &params, &Patch::Apply(&obj))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
    support::delete_namespace(&client, &ns).await;
}
