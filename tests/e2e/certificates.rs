//! IdP certificates: expiry conditions, Events and the expiry gauge; rotation from an IdP's
//! metadata URL to a provider that holds a certificate (Clerk). Certificates are made here with
//! rcgen, with chosen validity.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use k8s_openapi::api::events::v1::Event as K8sEvent;
use kube::{Api, api::ListParams};
use serde_json::{Value, json};
use ssoperator::crd::{EnterpriseConnection, IdpCertificateStatus};
use ssoperator_emulators::clerk::ClerkEmulator;

use crate::operator::*;

use crate::idp::{body, certificate, metadata};

fn connection(name: &str, saml: Value) -> Value {
    json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
           "metadata": {"name": name},
           "spec": {"providerConfigRef": {"name": "clerk"}, "name": name,
                    "domains": [format!("{name}.example.com")], "saml": saml}})
}

fn saml_with(extra: Value) -> Value {
    let mut saml = json!({"idpEntityId": "https://idp.example.com", "idpSsoUrl": "https://idp.example.com/sso"});
    for (k, v) in extra.as_object().into_iter().flatten() {
        saml[k] = v.clone();
    }
    saml
}

fn certs_of(ec: &EnterpriseConnection) -> Vec<IdpCertificateStatus> {
    ec.status
        .as_ref()
        .map(|s| s.idp_certificates.clone())
        .unwrap_or_default()
}

fn cond(ec: &EnterpriseConnection, type_: &str) -> Option<(String, String, String)> {
    condition(ec.status.as_ref(), type_)
}

/// The events.k8s.io Events of `name` with `reason`: how many, and whether any repeated (a series).
async fn events_of(client: &kube::Client, ns: &str, name: &str, reason: &str) -> (usize, bool) {
    let api: Api<K8sEvent> = Api::namespaced(client.clone(), ns);
    let lp = ListParams::default().fields(&format!("regarding.name={name}"));
    let items: Vec<K8sEvent> = api
        .list(&lp)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .collect();
    let repeated = items.iter().any(|e| e.series.is_some());
    (items.len(), repeated)
}

/// The value of the expiry gauge for one resource and fingerprint, if exposed.
fn gauge(op: &Operator, ns: &str, name: &str, fingerprint: &str) -> Option<f64> {
    gauge_of(op, ns, name, "clerk", fingerprint)
}

fn gauge_of(op: &Operator, ns: &str, name: &str, provider: &str, fingerprint: &str) -> Option<f64> {
    let text = op.metrics.render();
    let prefix = format!(
        "ssoperator_idp_certificate_expiry_timestamp_seconds{{namespace=\"{ns}\",name=\"{name}\",kind=\"EnterpriseConnection\",provider=\"{provider}\",fingerprint=\"{fingerprint}\"}} "
    );
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

async fn clerk_setup(
    client: &kube::Client,
    ns: &str,
    clerk: &ClerkEmulator,
) -> ssoperator_emulators::Running {
    let run = serve(clerk.router()).await;
    clerk_account(client, ns, &run.url(), "sk_test_certs").await;
    run
}

#[tokio::test]
async fn expiring_and_expired_certificates_give_conditions_events_and_the_gauge() {
    let (client, ns) = setup().await;
    let clerk = ClerkEmulator::new("sk_test_certs");
    let _run = clerk_setup(&client, &ns, &clerk).await;
    let op = Operator::start(&client, &ns);

    let soon = certificate("soon-idp", -300, 10);
    let gone = certificate("gone-idp", -300, -1);
    let far = certificate("far-idp", -1, 400);
    secret(&client, &ns, "idp-cert", &[("tls.crt", &far.pem)]).await;
    secret(
        &client,
        &ns,
        "broken-cert",
        &[(
            "tls.crt",
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        )],
    )
    .await;
    apply(
        &client,
        &ns,
        connection("soon", saml_with(json!({"idpCertificate": soon.pem}))),
    )
    .await;
    apply(
        &client,
        &ns,
        connection("gone", saml_with(json!({"idpCertificate": gone.pem}))),
    )
    .await;
    apply(
        &client,
        &ns,
        connection(
            "from-secret",
            saml_with(json!({"idpCertificateSecretRef": {"name": "idp-cert", "key": "tls.crt"}})),
        ),
    )
    .await;
    apply(
        &client,
        &ns,
        connection(
            "broken",
            saml_with(
                json!({"idpCertificateSecretRef": {"name": "broken-cert", "key": "tls.crt"}}),
            ),
        ),
    )
    .await;

    // Expiring in 10 days (threshold 30): Ready, CertificateExpiring True, status, Event, gauge.
    let ec = wait_for::<EnterpriseConnection>(&client, &ns, "soon", "CertificateExpiring", |ec| {
        ready(ec) && cond(ec, "CertificateExpiring").is_some_and(|c| c.0 == "True")
    })
    .await;
    let listed = certs_of(&ec);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].source, "spec.saml.idpCertificate");
    assert_eq!(listed[0].sha256_fingerprint, soon.fingerprint);
    assert_eq!(listed[0].subject, "CN=soon-idp");
    assert_eq!(
        listed[0].not_after,
        jiff::Timestamp::from_second(soon.not_after)
            .unwrap()
            .to_string()
    );
    let (_, _, msg) = cond(&ec, "CertificateExpiring").unwrap();
    assert!(
        // The subject and the fingerprint's first bytes; the whole fingerprint is in idpCertificates.
        msg.contains(&format!("CN=soon-idp ({}…", &soon.fingerprint[..8])) && msg.contains("30d"),
        "{msg}"
    );
    // CertificateExpired does not repeat what CertificateExpiring says.
    let (status, _, msg) = cond(&ec, "CertificateExpired").unwrap();
    assert_eq!(
        (status.as_str(), msg.as_str()),
        (
            "False",
            ssoperator::core::conditions::NO_CERTIFICATE_EXPIRED
        )
    );
    wait_event(&client, &ns, "soon", "CertificateExpiring").await;
    assert_eq!(
        gauge(&op, &ns, "soon", &soon.fingerprint),
        Some(soon.not_after as f64)
    );

    // Expired: Ready False with reason CertificateExpired, a Warning Event.
    let ec = wait_for::<EnterpriseConnection>(&client, &ns, "gone", "CertificateExpired", |ec| {
        cond(ec, "CertificateExpired").is_some_and(|c| c.0 == "True")
    })
    .await;
    eprintln!(
        "status of gone:\n{}",
        serde_yaml::to_string(&ec.status).unwrap()
    );
    let (status, reason_, msg) = cond(&ec, "Ready").unwrap();
    assert_eq!(
        (status.as_str(), reason_.as_str()),
        ("False", "CertificateExpired"),
        "{msg}"
    );
    assert!(msg.contains(&gone.fingerprint[..8]), "{msg}");
    wait_event(&client, &ns, "gone", "CertificateExpired").await;

    // From a Secret: listed, not expiring, and sent to Clerk as the IdP certificate.
    let ec = wait_for::<EnterpriseConnection>(&client, &ns, "from-secret", "Ready", ready).await;
    let listed = certs_of(&ec);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].source, "spec.saml.idpCertificateSecretRef");
    assert_eq!(listed[0].sha256_fingerprint, far.fingerprint);
    assert_eq!(cond(&ec, "CertificateExpiring").unwrap().0, "False");
    let id = ec.status.as_ref().unwrap().external_id.clone().unwrap();
    let sent = clerk.write_only(&id).unwrap().idp_certificate.unwrap();
    assert_eq!(body(&sent), body(&far.pem));

    // A broken certificate in a Secret: a condition that names the field, nothing created.
    let ec = wait_for::<EnterpriseConnection>(&client, &ns, "broken", "InvalidCertificate", |ec| {
        reason(ec) == "InvalidCertificate"
    })
    .await;
    assert!(
        message(&ec).contains("spec.saml.idpCertificateSecretRef"),
        "{}",
        message(&ec)
    );
    assert!(message(&ec).contains("broken-cert"), "{}", message(&ec));
    assert!(ec.status.as_ref().unwrap().external_id.is_none());

    // One Event per threshold crossing, not one per reconcile: after several resyncs the
    // Events were published once (no series).
    tokio::time::sleep(RESYNC * 3).await;
    assert_eq!(
        events_of(&client, &ns, "soon", "CertificateExpiring").await,
        (1, false)
    );
    assert_eq!(
        events_of(&client, &ns, "gone", "CertificateExpired").await,
        (1, false)
    );

    // A per-resource threshold below the remaining 10 days: no longer expiring.
    annotate::<EnterpriseConnection>(
        &client,
        &ns,
        "soon",
        "ssoperator.io/certificate-expiry-warning",
        Some("5d"),
    )
    .await;
    wait_for::<EnterpriseConnection>(&client, &ns, "soon", "CertificateExpiring False", |ec| {
        cond(ec, "CertificateExpiring").is_some_and(|c| c.0 == "False")
    })
    .await;

    // The series goes with the resource.
    delete::<EnterpriseConnection>(&client, &ns, "soon").await;
    wait_gone::<EnterpriseConnection>(&client, &ns, "soon").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while gauge(&op, &ns, "soon", &soon.fingerprint).is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the series outlived its resource"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_new_signing_certificate_in_the_idp_metadata_reaches_the_provider_with_one_write() {
    let (client, ns) = setup().await;
    let clerk = ClerkEmulator::new("sk_test_certs");
    let _run = clerk_setup(&client, &ns, &clerk).await;
    // The IdP: a loopback server whose metadata the test switches.
    let old = certificate("idp-2025", -300, 60);
    let new = certificate("idp-2026", -1, 700);
    let served = Arc::new(Mutex::new(metadata(&old.pem)));
    let fetches = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (s, f) = (served.clone(), fetches.clone());
    let idp = axum::Router::new().route(
        "/metadata",
        axum::routing::get(move || {
            let (s, f) = (s.clone(), f.clone());
            async move {
                f.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                s.lock().unwrap().clone()
            }
        }),
    );
    let idp_run = serve(idp).await;
    let refresh = Duration::from_secs(3);
    let op = Operator::start_with(&client, &ns, |c| c.idp_metadata_refresh = refresh);
    apply(
        &client,
        &ns,
        connection(
            "rotating",
            json!({"idpEntityId": "https://idp.example.com",
        "idpMetadataUrl": format!("{}/metadata", idp_run.url())}),
        ),
    )
    .await;

    let ec = wait_for::<EnterpriseConnection>(&client, &ns, "rotating", "Ready", ready).await;
    let id = ec.status.as_ref().unwrap().external_id.clone().unwrap();
    let held = || {
        clerk
            .write_only(&id)
            .and_then(|w| w.idp_certificate)
            .map(|c| body(&c))
    };
    assert_eq!(held(), Some(body(&old.pem)));
    let listed = certs_of(&ec);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (
            listed[0].source.as_str(),
            listed[0].in_use,
            listed[0].sha256_fingerprint.as_str()
        ),
        (
            "spec.saml.idpMetadataUrl",
            Some(true),
            old.fingerprint.as_str()
        )
    );
    assert!(fetches.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    // Settled: no write while the metadata stays the same.
    assert_quiet(&op, || clerk.core().writes(), 2).await;

    // The IdP switches to a new certificate: the provider holds it within one refresh (plus the
    // resync that picks it up), after exactly one write.
    let writes = clerk.core().writes();
    *served.lock().unwrap() = metadata(&new.pem);
    let switched = tokio::time::Instant::now();
    while held() != Some(body(&new.pem)) {
        assert!(
            switched.elapsed() < refresh + RESYNC + Duration::from_secs(3),
            "the provider still holds the old certificate after {:?}",
            switched.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_event(&client, &ns, "rotating", "CertificateRotated").await;
    let ec = wait_for::<EnterpriseConnection>(
        &client,
        &ns,
        "rotating",
        "new certificate in status",
        |ec| {
            certs_of(ec)
                .iter()
                .any(|c| c.sha256_fingerprint == new.fingerprint && c.in_use == Some(true))
        },
    )
    .await;
    eprintln!(
        "status of rotating:\n{}\nevents: {:?}",
        serde_yaml::to_string(&ec.status).unwrap(),
        event_reasons(&client, &ns, "rotating").await
    );
    assert!(ready(&ec));
    assert_eq!(cond(&ec, "CertificateExpiring").unwrap().0, "False");
    // A rotation is an update the IdP asked for, not a drift repair.
    let reasons = event_reasons(&client, &ns, "rotating").await;
    assert!(!reasons.iter().any(|r| r == "DriftRepaired"), "{reasons:?}");
    assert!(ec.status.as_ref().unwrap().last_drift.is_none());
    tokio::time::sleep(refresh + RESYNC * 2).await;
    assert_eq!(
        clerk.core().writes() - writes,
        1,
        "provider writes for one rotation"
    );
    assert_eq!(held(), Some(body(&new.pem)));
}

#[tokio::test]
async fn the_certificate_loginradius_fetched_from_the_metadata_url_is_reported_and_watched() {
    use ssoperator_emulators::loginradius::{LoginRadiusEmulator, wire::IdpCertificate};
    const ORG: &str = "org_certs000000000001";
    let (client, ns) = setup().await;
    let lr = LoginRadiusEmulator::new("lr-key", "lr-secret", ORG);
    let run = serve(lr.router()).await;
    loginradius_account(&client, &ns, &run.url(), ORG, ("lr-key", "lr-secret")).await;
    let op = Operator::start(&client, &ns);
    apply(&client, &ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
        "metadata": {"name": "lr-sso"},
        "spec": {"providerConfigRef": {"name": "lr"}, "name": "lr-sso", "domains": ["lr-sso.example.com"],
                 "saml": {"idpEntityId": "https://idp.example.com", "idpMetadataUrl": "https://idp.example.com/metadata.xml"}}})).await;
    let ec = wait_for::<EnterpriseConnection>(&client, &ns, "lr-sso", "Ready", ready).await;
    assert!(
        certs_of(&ec).is_empty(),
        "LoginRadius holds no certificate yet"
    );
    let id = ec.status.as_ref().unwrap().external_id.clone().unwrap();

    // LoginRadius fetched the metadata and holds its certificate: reported, watched, not written.
    let held = certificate("lr-idp", -300, 10);
    let writes = lr.core().writes();
    assert!(
        lr.edit_connection(&id, |c| c.idp_certificate = Some(IdpCertificate {
            certificate: held.pem.clone(),
            ..Default::default()
        }))
    );
    let ec =
        wait_for::<EnterpriseConnection>(&client, &ns, "lr-sso", "provider certificate", |ec| {
            cond(ec, "CertificateExpiring").is_some_and(|c| c.0 == "True")
        })
        .await;
    let listed = certs_of(&ec);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (
            listed[0].source.as_str(),
            listed[0].sha256_fingerprint.as_str()
        ),
        ("provider", held.fingerprint.as_str())
    );
    assert_eq!(
        gauge_of(&op, &ns, "lr-sso", "loginradius", &held.fingerprint),
        Some(held.not_after as f64)
    );
    wait_event(&client, &ns, "lr-sso", "CertificateExpiring").await;
    assert_eq!(
        lr.core().writes(),
        writes,
        "the operator wrote to LoginRadius"
    );
}
