//! The Clerk client against its emulator: secrets, Clerk's PATCH rules, error mapping, paging.

use serde_json::{Value, json};

use super::testkit::{self, SECRET_KEY, sample_connection};
use super::*;
use crate::core::diff::diff;
use ssoperator_emulators::{self, Faults, Running, clerk::ClerkEmulator};

async fn setup() -> (ClerkEmulator, Running, ClerkProvider) {
    let emu = ClerkEmulator::new(SECRET_KEY);
    let running = ssoperator_emulators::serve(emu.router(), ([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let client = testkit::client(&running, SECRET_KEY);
    (emu, running, client)
}

fn conn(n: usize) -> Desired {
    Desired::Connection(sample_connection(n))
}

fn desired_name(d: &Desired) -> &str {
    d.name()
}

/// A raw request to the emulator, for the wire rules the client never exercises.
async fn raw(running: &Running, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .request(method, format!("{}{path}", running.url()))
        .bearer_auth(SECRET_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn no_secret_appears_in_debug_output_or_error_messages() {
    let (emu, running, client) = setup().await;
    let debug = format!("{client:?}");
    assert!(!debug.contains(SECRET_KEY), "{debug}");

    let bad_key = "sk_test_this_is_a_wrong_key_123";
    let bad = testkit::client(&running, bad_key);
    assert!(!format!("{bad:?}").contains(bad_key));
    let err = bad.verify_credentials().await.unwrap_err();
    assert!(matches!(err, ProviderError::Unauthenticated(_)), "{err:?}");
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(
            !text.contains(bad_key) && !text.contains(SECRET_KEY),
            "{text}"
        );
    }

    // A refused create that carries the OIDC client secret must not echo it.
    let mut c = sample_connection(2);
    c.oidc.as_mut().unwrap().discovery_url = Some("ftp://not-http".into());
    let secret = c.oidc.as_ref().unwrap().client_secret.clone().unwrap();
    let err = client
        .create(&Desired::Connection(c.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::Invalid { field: Some(f), .. } if f == "spec.oidc.discoveryUrl"),
        "{err:?}"
    );
    assert!(!err.to_string().contains(secret.expose()));
    let body = mapping::create_body(&c).unwrap();
    assert!(!format!("{body:?}").contains(secret.expose()));
    assert!(!format!("{c:?}").contains(secret.expose()));

    // 5xx answers.
    emu.core().set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let err = client.create(&conn(4)).await.unwrap_err();
    emu.core().set_faults(Faults::default());
    assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");
    assert!(!err.to_string().contains(SECRET_KEY));
    assert!(!err.to_string().contains("oidc-secret-4"));
    // The emulator's snapshot shows write-only values only as set.
    client.create(&conn(6)).await.unwrap();
    let snap = emu.snapshot().to_string();
    assert!(
        !snap.contains("oidc-secret-6") && snap.contains("<set>"),
        "{snap}"
    );
}

#[test]
fn a_publishable_key_is_refused_without_being_quoted() {
    let err = ClerkProvider::new(
        ClientSettings::new(DEFAULT_BASE_URL),
        None,
        Credentials {
            secret_key: SecretValue::new("pk_test_publishable_value"),
        },
    )
    .unwrap_err();
    assert!(!err.to_string().contains("publishable_value"), "{err}");
    let err = ClerkProvider::new(
        ClientSettings::new(DEFAULT_BASE_URL),
        Some("latest".into()),
        Credentials {
            secret_key: SecretValue::new("sk_test_x"),
        },
    )
    .unwrap_err();
    assert!(matches!(err, ProviderError::Invalid { .. }));
}

#[tokio::test]
async fn the_api_version_header_is_sent() {
    let (emu, running, client) = setup().await;
    client.verify_credentials().await.unwrap();
    assert_eq!(emu.last_api_version().as_deref(), Some(DEFAULT_API_VERSION));
    let pinned = ClerkProvider::new(
        ClientSettings::new(running.url()),
        Some("2025-11-10".into()),
        Credentials {
            secret_key: SecretValue::new(SECRET_KEY),
        },
    )
    .unwrap();
    pinned.verify_credentials().await.unwrap();
    assert_eq!(emu.last_api_version().as_deref(), Some("2025-11-10"));
}

#[tokio::test]
async fn write_only_values_are_sent_on_create_and_when_the_diff_names_them() {
    let (emu, _running, client) = setup().await;
    let desired = sample_connection(2);
    let created = client
        .create(&Desired::Connection(desired.clone()))
        .await
        .unwrap();
    let held = emu.write_only(&created.id).unwrap();
    assert_eq!(held.client_secret.as_deref(), Some("oidc-secret-2"));
    // The derived OIDC endpoints do not count as drift.
    let want = client
        .desired_fields(&Desired::Connection(desired.clone()))
        .unwrap();
    assert!(diff(&want, &created.fields).is_empty());

    let mut rotated = desired.clone();
    rotated.oidc.as_mut().unwrap().client_secret = Some(SecretValue::new("rotated"));
    let rotated = Desired::Connection(rotated);
    // Not named by the diff: not sent.
    let d = Diff {
        paths: vec!["name".into()],
    };
    client
        .update(&created.id, &rotated, &created, &d)
        .await
        .unwrap();
    assert_eq!(
        emu.write_only(&created.id)
            .unwrap()
            .client_secret
            .as_deref(),
        Some("oidc-secret-2")
    );
    let mut d = Diff::default();
    d.push("oidc.clientSecret");
    client
        .update(&created.id, &rotated, &created, &d)
        .await
        .unwrap();
    assert_eq!(
        emu.write_only(&created.id)
            .unwrap()
            .client_secret
            .as_deref(),
        Some("rotated")
    );

    // SAML: certificate and attribute mapping are held, never echoed.
    let saml = client.create(&conn(1)).await.unwrap();
    let held = emu.write_only(&saml.id).unwrap();
    assert!(held.idp_certificate.is_some());
    assert_eq!(
        held.attribute_mapping.unwrap().email_address.as_deref(),
        Some("mail")
    );
    let wire = serde_json::to_string(&emu.get_connection(&saml.id).unwrap()).unwrap();
    assert!(!wire.contains("BEGIN CERTIFICATE") && !wire.contains("attribute_mapping"));
    assert!(
        saml.outputs
            .acs_url
            .unwrap()
            .contains("/v1/saml/acs/samlc_")
    );
    assert!(saml.outputs.sp_entity_id.is_some() && saml.outputs.sp_metadata_url.is_some());
    // sync_user_attributes is not in the create body: the spec's false was patched in.
    assert_eq!(saml.fields["syncUserAttributes"], json!(false));
}

#[tokio::test]
async fn drift_made_in_the_console_is_seen_and_closed_with_one_patch() {
    let (emu, _running, client) = setup().await;
    let desired = conn(3);
    let id = client.create(&desired).await.unwrap().id;
    assert!(emu.edit_connection(&id, |c| {
        c.saml_connection.as_mut().unwrap().force_authn = true;
        c.domains = vec!["other.example.com".into()];
    }));
    let observed = client
        .observe(ResourceKind::EnterpriseConnection, &id)
        .await
        .unwrap()
        .unwrap();
    let want = client.desired_fields(&desired).unwrap();
    let d = diff(&want, &observed.fields);
    assert_eq!(d.paths, vec!["domains", "saml.forceAuthn"]);
    let before = emu.core().writes();
    let after = client.update(&id, &desired, &observed, &d).await.unwrap();
    assert_eq!(emu.core().writes() - before, 1);
    assert!(diff(&want, &after.fields).is_empty());
}

#[tokio::test]
async fn clerk_patch_rules_hold_in_the_emulator() {
    let (emu, running, client) = setup().await;
    let id = client.create(&conn(5)).await.unwrap().id;
    let path = format!("/v1/enterprise_connections/{id}");
    // domains: [] is "no change".
    let (status, body) = raw(
        &running,
        reqwest::Method::PATCH,
        &path,
        json!({"domains": []}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["domains"], json!(["conn5.example.com"]));
    // A non-empty list replaces.
    let (_, body) = raw(
        &running,
        reqwest::Method::PATCH,
        &path,
        json!({"domains": ["A.example.com", "b.example.com"]}),
    )
    .await;
    assert_eq!(body["domains"], json!(["a.example.com", "b.example.com"]));
    // provider is not accepted.
    let (status, body) = raw(
        &running,
        reqwest::Method::PATCH,
        &path,
        json!({"provider": "saml_okta"}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["meta"]["param_name"], "provider");
    // The organization cannot be unlinked; null leaves it.
    let (status, _) = raw(
        &running,
        reqwest::Method::PATCH,
        &path,
        json!({"organization_id": ""}),
    )
    .await;
    assert_eq!(status, 422);
    let (status, body) = raw(
        &running,
        reqwest::Method::PATCH,
        &path,
        json!({"organization_id": null}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["organization_id"], "org_conformance");
    // OIDC settings on a SAML connection are refused.
    let (status, _) = raw(
        &running,
        reqwest::Method::PATCH,
        &path,
        json!({"oidc": {"client_id": "x"}}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(emu.count_connections(), 1);
}

#[tokio::test]
async fn duplicates_and_validation_errors_map_to_conflict_and_invalid() {
    let (_emu, _running, client) = setup().await;
    client.create(&conn(7)).await.unwrap();
    // Another name, same domain.
    let mut other = sample_connection(9);
    other.domains = Some(vec!["conn7.example.com".into()]);
    let err = client
        .create(&Desired::Connection(other))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::Conflict(m) if m.contains("form_identifier_exists")),
        "{err:?}"
    );
    // Same name, another domain: Clerk keeps no name unique (its description constrains none), so
    // the create succeeds; the reconciler's find_by_name before a create is what sees the name taken.
    let mut other = sample_connection(7);
    other.domains = Some(vec!["elsewhere.example.com".into()]);
    let twin = client.create(&Desired::Connection(other)).await.unwrap();
    assert!(matches!(
        client
            .find_by_name(ResourceKind::EnterpriseConnection, desired_name(&conn(7)))
            .await,
        Err(ProviderError::Conflict(_))
    ));
    client
        .delete(ResourceKind::EnterpriseConnection, &twin.id)
        .await
        .unwrap();
    // Activating a SAML connection without IdP settings.
    let mut bare = sample_connection(11);
    bare.saml = Some(Default::default());
    let err = client.create(&Desired::Connection(bare)).await.unwrap_err();
    assert!(
        matches!(&err, ProviderError::Invalid { field: Some(f), .. } if f == "spec.active"),
        "{err:?}"
    );
    // Other kinds are not Clerk's.
    let err = client
        .observe(ResourceKind::ConnectionProfile, "x")
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Unsupported { .. }));
}

#[tokio::test]
async fn list_is_newest_first_and_find_by_name_pages_through() {
    let (emu, running, client) = setup().await;
    for n in 0..23 {
        client.create(&conn(100 + 2 * n)).await.unwrap();
    }
    let page = client
        .list(ResourceKind::EnterpriseConnection, None)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 10);
    assert_eq!(page.items[0].name, "OIDC connection 144");
    assert_eq!(page.next.as_deref(), Some("10"));
    let last = client
        .list(ResourceKind::EnterpriseConnection, Some("20".into()))
        .await
        .unwrap();
    assert_eq!(last.items.len(), 3);
    assert_eq!(last.next, None);
    let found = client
        .find_by_name(ResourceKind::EnterpriseConnection, "OIDC connection 100")
        .await
        .unwrap();
    assert!(found.is_some());
    // Clerk's own limits: default 10, at most 500.
    let (status, body) = raw(
        &running,
        reqwest::Method::GET,
        "/v1/enterprise_connections",
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"].as_array().unwrap().len(), 10);
    assert_eq!(body["total_count"], 23);
    let (status, _) = raw(
        &running,
        reqwest::Method::GET,
        "/v1/enterprise_connections?limit=501",
        Value::Null,
    )
    .await;
    assert_eq!(status, 422);
    // Two connections with one name (made in the console) are ambiguous.
    let mut twin = emu.get_connection(&found.unwrap().id).unwrap();
    twin.id = "ec_twin".into();
    twin.domains = vec!["twin.example.com".into()];
    emu.insert_connection(twin);
    assert!(matches!(
        client
            .find_by_name(ResourceKind::EnterpriseConnection, "OIDC connection 100")
            .await,
        Err(ProviderError::Conflict(_))
    ));
}

#[tokio::test]
async fn ids_are_path_escaped() {
    let (_emu, _running, client) = setup().await;
    let got = client
        .observe(ResourceKind::EnterpriseConnection, "../../v1/users?x=1")
        .await
        .unwrap();
    assert!(got.is_none());
    client
        .delete(ResourceKind::EnterpriseConnection, "ec_missing")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_rename_onto_a_taken_name_is_found_by_the_list_lookup() {
    let (emu, _running, client) = setup().await;
    client.create(&conn(1)).await.unwrap();
    let b = client.create(&conn(2)).await.unwrap();
    let Desired::Connection(mut renamed) = conn(2) else {
        unreachable!()
    };
    renamed.name = sample_connection(1).name;
    let renamed = Desired::Connection(renamed);
    let d = diff(&client.desired_fields(&renamed).unwrap(), &b.fields);
    assert_eq!(d.paths, vec!["name"]);
    let err = client.update(&b.id, &renamed, &b, &d).await.unwrap_err();
    assert!(matches!(err, ProviderError::Conflict(_)), "{err:?}");
    assert_eq!(emu.get_connection(&b.id).unwrap().name, b.name);
}

#[tokio::test]
async fn a_wrong_key_is_a_403_and_unauthenticated() {
    let (_emu, running, _client) = setup().await;
    let bad = testkit::client(&running, "sk_test_wrong");
    let err = bad.verify_credentials().await.unwrap_err();
    assert!(matches!(err, ProviderError::Unauthenticated(_)), "{err:?}");
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/enterprise_connections", running.url()))
        .bearer_auth("sk_test_wrong")
        .send()
        .await
        .unwrap();
    // The description lists 403 (AuthorizationInvalid) for a refused key, and no 401.
    assert_eq!(resp.status().as_u16(), 403);
}

#[tokio::test]
async fn a_connection_without_sub_object_ids_is_read() {
    let (emu, _running, client) = setup().await;
    let created = client.create(&conn(3)).await.unwrap();
    // The description marks saml_connection.id and oauth_config.id optional.
    let mut raw = serde_json::to_value(emu.get_connection(&created.id).unwrap()).unwrap();
    for sub in ["saml_connection", "oauth_config"] {
        if let Some(o) = raw.get_mut(sub).and_then(Value::as_object_mut) {
            o.remove("id");
        }
    }
    emu.insert_connection(serde_json::from_value(raw).unwrap());
    let got = client
        .observe(ResourceKind::EnterpriseConnection, &created.id)
        .await
        .unwrap();
    assert!(got.is_some());
}

#[tokio::test]
async fn custom_attributes_are_checked_against_the_description() {
    let (_emu, running, _client) = setup().await;
    for (attrs, param) in [
        (
            json!([{"name": "x", "key": "_x"}]),
            "custom_attributes[0].key",
        ),
        (
            json!([{"name": "", "key": "x"}]),
            "custom_attributes[0].name",
        ),
        (json!([{"key": "x"}]), "custom_attributes[0].name"),
        (
            json!([{"name": "x", "key": "x", "colour": "red"}]),
            "custom_attributes[0].colour",
        ),
        (
            json!([{"name": "x", "key": "x", "multi_valued": "yes"}]),
            "custom_attributes[0].multi_valued",
        ),
    ] {
        let (status, body) = raw(
            &running,
            reqwest::Method::POST,
            "/v1/enterprise_connections",
            json!({"name": "c", "provider": "saml_custom", "domains": ["c.example.com"], "custom_attributes": attrs}),
        )
        .await;
        assert_eq!(status, 422, "{attrs}: {body}");
        assert_eq!(body["errors"][0]["meta"]["param_name"], param, "{body}");
    }
    let (status, body) = raw(
        &running,
        reqwest::Method::POST,
        "/v1/enterprise_connections",
        json!({"name": "c", "provider": "saml_custom", "domains": ["c.example.com"],
            "custom_attributes": [{"name": "Dept", "key": "dept-1_a", "multi_valued": true}]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn fields_set_in_the_dashboard_survive_an_update_of_owned_fields() {
    let (emu, _running, client) = setup().await;
    let desired = conn(4);
    let created = client.create(&desired).await.unwrap();
    assert!(emu.edit_connection(&created.id, |c| {
        c.extra.insert("future_field".into(), json!({"kept": true}));
        c.custom_attributes = vec![json!({"name": "Dept", "key": "dept"})];
        c.name = "renamed in the dashboard".into();
    }));
    let observed = client
        .observe(ResourceKind::EnterpriseConnection, &created.id)
        .await
        .unwrap()
        .unwrap();
    let d = diff(&client.desired_fields(&desired).unwrap(), &observed.fields);
    assert_eq!(d.paths, vec!["name"]);
    let after = client
        .update(&created.id, &desired, &observed, &d)
        .await
        .unwrap();
    assert_eq!(after.name, desired.name());
    let stored = emu.get_connection(&created.id).unwrap();
    assert_eq!(stored.extra["future_field"], json!({"kept": true}));
    assert_eq!(
        stored.custom_attributes,
        vec![json!({"name": "Dept", "key": "dept"})]
    );
}
