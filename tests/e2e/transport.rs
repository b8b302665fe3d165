//! Issue 9, item 13: a provider that cannot be reached is reported with the cause and the host,
//! not as `error sending request`.

use serde_json::json;
use ssoperator::crd::EnterpriseConnection;

use crate::operator::*;

#[tokio::test]
async fn unreachable_providers_are_reported_with_cause_and_host() {
    let (client, ns) = setup().await;
    let _op = Operator::start(&client, &ns);
    secret(
        &client,
        &ns,
        "clerk-creds",
        &[("secretKey", "sk_test_canary_4242")],
    )
    .await;
    // A loopback port nothing listens on, and a host that never resolves (RFC 6761).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cases = [
        (
            "refused",
            format!("http://127.0.0.1:{port}"),
            "connection refused",
            format!("127.0.0.1:{port}"),
        ),
        (
            "dns",
            "https://clerk.ssoperator-e2e.invalid".to_string(),
            "DNS failure",
            "clerk.ssoperator-e2e.invalid".to_string(),
        ),
    ];
    for (name, endpoint, _, _) in &cases {
        provider_config(
            &client,
            &ns,
            name,
            json!({"clerk": {}}),
            "clerk-creds",
            endpoint,
        )
        .await;
        apply(
            &client,
            &ns,
            json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
            "metadata": {"name": name},
            "spec": {"providerConfigRef": {"name": name}, "name": format!("Tenant {name}"),
                     "domains": [format!("{name}.example")],
                     "saml": {"idpMetadataUrl": "https://idp.example/metadata"}}}),
        )
        .await;
    }
    for (name, _, cause, host) in &cases {
        let ec = wait_for::<EnterpriseConnection>(&client, &ns, name, "ProviderUnavailable", |o| {
            reason(o) == "ProviderUnavailable"
        })
        .await;
        let msg = message(&ec);
        println!("{name}: {msg}");
        assert!(msg.contains(cause), "{name}: {msg}");
        assert!(msg.contains(host.as_str()), "{name}: {msg}");
        assert!(!msg.contains("error sending request"), "{name}: {msg}");
        assert!(!msg.contains("sk_test_canary_4242"), "{name}: {msg}");
    }
}
