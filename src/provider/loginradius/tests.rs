//! LoginRadius provider tests against a fake server and the emulator.

use super::*;
use crate::core::desired::SecretValue;
use crate::provider::http::RetryPolicy;
use ssoperator_emulators::{Faults, loginradius::LoginRadiusEmulator, serve};
use std::time::Duration;

const KEY: &str = "lr-key-0f9e8d7c";
const SECRET: &str = "lr-secret-1a2b3c4d";

fn provider(url: String, key: &str, secret: &str) -> LoginRadiusProvider {
    let settings = ClientSettings {
        retry: RetryPolicy {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_attempts: 2,
            max_rate_limit_wait: Duration::from_secs(5),
        },
        ..ClientSettings::new(url)
    };
    LoginRadiusProvider::new(
        settings,
        "org_unit".into(),
        Credentials {
            api_key: SecretValue::new(key),
            api_secret: SecretValue::new(secret),
        },
    )
    .unwrap()
}

fn no_secret(text: &str) {
    assert!(
        !text.contains(KEY) && !text.contains(SECRET),
        "secret leaked: {text}"
    );
}

#[tokio::test]
async fn credentials_travel_in_headers_never_in_the_url() {
    use axum::{extract::Request, routing::any};
    type Seen = Arc<Mutex<Vec<(String, Option<String>, Option<String>)>>>;
    use std::sync::{Arc, Mutex};
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().fallback(any(move |req: Request| {
        let log = log.clone();
        async move {
            let h = |n: &str| {
                req.headers()
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            log.lock().unwrap().push((
                req.uri().to_string(),
                h("x-loginradius-apikey"),
                h("x-loginradius-apisecret"),
            ));
            r#"{"Data": [], "Count": 0}"#
        }
    }));
    let running = serve(app, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let p = provider(running.url(), KEY, SECRET);
    p.verify_credentials().await.unwrap();
    let _ = p
        .observe(ResourceKind::EnterpriseConnection, "conn_1")
        .await;
    let _ = p.delete(ResourceKind::EnterpriseConnection, "conn_1").await;
    let seen = seen.lock().unwrap();
    assert!(seen.len() >= 3, "{seen:?}");
    for (uri, key, secret) in seen.iter() {
        no_secret(uri);
        assert!(!uri.to_ascii_lowercase().contains("apikey"), "{uri}");
        assert!(!uri.to_ascii_lowercase().contains("apisecret"), "{uri}");
        assert_eq!(key.as_deref(), Some(KEY), "{uri}");
        assert_eq!(secret.as_deref(), Some(SECRET), "{uri}");
    }
}

/// A server that answers every call with `answer(path_and_query)`.
async fn fake(
    answer: impl Fn(&str) -> (u16, String) + Clone + Send + Sync + 'static,
) -> ssoperator_emulators::Running {
    use axum::{extract::Request, response::IntoResponse, routing::any};
    let app = axum::Router::new().fallback(any(move |req: Request| {
        let answer = answer.clone();
        async move {
            let pq = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default();
            let (status, body) = answer(&pq);
            (
                axum::http::StatusCode::from_u16(status).unwrap(),
                [("content-type", "application/json")],
                body,
            )
                .into_response()
        }
    }));
    serve(app, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

#[tokio::test]
async fn a_bare_404_from_a_read_is_unknown_never_deleted() {
    // LoginRadius: "404 Not Found: the API endpoint is not correct or your account does not
    // have sufficient permissions". Before, this read as "deleted" and the reconciler
    // created the connection again.
    let running = fake(|_| (404, String::new())).await;
    let p = provider(running.url(), KEY, SECRET);
    for kind in [
        ResourceKind::EnterpriseConnection,
        ResourceKind::OrgRoleMapping,
    ] {
        let e = p.observe(kind, "conn_1").await.unwrap_err();
        assert!(matches!(e, ProviderError::Indeterminate(_)), "{e:?}");
        assert_eq!(e.reason().as_str(), "RemoteStateUnknown");
        let text = e.to_string();
        assert!(text.contains("not documented by LoginRadius"), "{text}");
        assert!(text.contains("/connections/{connId}"), "{text}");
        no_secret(&text);
    }
    let e = p
        .find_by_name(ResourceKind::EnterpriseConnection, "c")
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Indeterminate(_)), "{e:?}");
    // Nor is a bare 404 to DELETE taken as "already gone".
    let e = p
        .delete(ResourceKind::EnterpriseConnection, "conn_1")
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Indeterminate(_)), "{e:?}");
    // LoginRadius' own code 8151 still means "no such connection".
    let running = fake(|_| {
        (
            400,
            r#"{"Description":"This Connection ID is invalid, please use valid Connection ID.","ErrorCode":8151,"Message":"Connection ID is invalid"}"#.into(),
        )
    })
    .await;
    let p = provider(running.url(), KEY, SECRET);
    assert!(
        p.observe(ResourceKind::EnterpriseConnection, "conn_1")
            .await
            .unwrap()
            .is_none()
    );
    p.delete(ResourceKind::EnterpriseConnection, "conn_1")
        .await
        .unwrap();
}

#[tokio::test]
async fn the_read_paths_are_configurable_in_one_place() {
    let running = fake(|pq| {
        if pq.starts_with("/custom/org_unit/one/conn_1") {
            (200, r#"{"Id":"conn_1","Name":"n"}"#.into())
        } else if pq.starts_with("/custom/org_unit/all?page=1&size=100") {
            (200, r#"{"Data":[{"Id":"conn_1","Name":"n"}]}"#.into())
        } else {
            (404, String::new())
        }
    })
    .await;
    let p = provider(running.url(), KEY, SECRET).with_read_paths(client::ReadPaths {
        get_one: "/custom/{orgId}/one/{connId}",
        list: "/custom/{orgId}/all",
        page_index_param: "page",
        page_size_param: "size",
    });
    let r = p
        .observe(ResourceKind::EnterpriseConnection, "conn_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.name, "n");
    let page = p
        .list(ResourceKind::EnterpriseConnection, None)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.next, None, "a short page ends the list");
}

/// Pages of `size` over `total` connections, with or without `Count`.
fn paged(
    total: usize,
    size: usize,
    with_count: bool,
) -> impl Fn(&str) -> (u16, String) + Clone {
    move |pq: &str| {
        let index: usize = pq
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("pageindex="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let data: Vec<_> = (0..total)
            .skip((index - 1) * size)
            .take(size)
            .map(|n| serde_json::json!({"Id": format!("conn_{n}"), "Name": format!("c{n}")}))
            .collect();
        let mut body = serde_json::json!({ "Data": data });
        if with_count {
            body["Count"] = serde_json::json!(total);
        }
        (200, body.to_string())
    }
}

async fn walk(p: &LoginRadiusProvider) -> Result<Vec<String>, ProviderError> {
    let mut cursor = None;
    let mut names = vec![];
    loop {
        let page = p.list(ResourceKind::EnterpriseConnection, cursor).await?;
        names.extend(page.items.into_iter().map(|r| r.name));
        cursor = page.next;
        if cursor.is_none() {
            return Ok(names);
        }
    }
}

#[tokio::test]
async fn paging_does_not_stop_early_when_count_is_missing() {
    for (total, with_count) in [(5, false), (4, false), (5, true), (4, true), (0, false)] {
        let running = fake(paged(total, 2, with_count)).await;
        let p = provider(running.url(), KEY, SECRET).with_page_size(2);
        let names = walk(&p).await.unwrap();
        let want: Vec<_> = (0..total).map(|n| format!("c{n}")).collect();
        assert_eq!(names, want, "total {total}, Count sent: {with_count}");
        let found = p
            .find_by_name(
                ResourceKind::EnterpriseConnection,
                &format!("c{}", total.max(1) - 1),
            )
            .await
            .unwrap();
        assert_eq!(found.is_some(), total > 0);
    }
    // A server that ignores the page index (no Count, always the same full page) is caught,
    // not walked forever.
    let running = fake(|_| {
        (
            200,
            r#"{"Data":[{"Id":"conn_0","Name":"c0"},{"Id":"conn_1","Name":"c1"}]}"#.into(),
        )
    })
    .await;
    let p = provider(running.url(), KEY, SECRET).with_page_size(2);
    let e = walk(&p).await.unwrap_err();
    assert!(matches!(e, ProviderError::Indeterminate(_)), "{e:?}");
}

#[tokio::test]
async fn unknown_fields_survive_updates_of_both_kinds() {
    let (emu, _running, p) = started().await;
    let c = p
        .create(&Desired::Connection(sample("fc", "fc.example")))
        .await
        .unwrap();
    // A field LoginRadius may add one day, set in its console.
    let future = serde_json::json!({"Mode": "strict", "Since": 2027});
    assert!(emu.edit_connection(&c.id, |conn| {
        conn.extra.insert("FutureSetting".into(), future.clone());
    }));
    let mut changed = sample("fc", "fc.example");
    changed.saml.as_mut().unwrap().idp_entity_id = Some("https://idp3.example.com".into());
    update(&p, &c.id, &Desired::Connection(changed))
        .await
        .unwrap();
    let after = emu.get_connection(&c.id).unwrap();
    assert_eq!(
        after.idp_entity_id.as_deref(),
        Some("https://idp3.example.com")
    );
    assert_eq!(after.extra.get("FutureSetting"), Some(&future));
    update(&p, &c.id, &roles(&c.id, "Admins", "role_admin"))
        .await
        .unwrap();
    let after = emu.get_connection(&c.id).unwrap();
    assert_eq!(after.group_roles.len(), 1);
    assert_eq!(after.extra.get("FutureSetting"), Some(&future));
    // The emulator takes credentials in the URL too (LoginRadius' Update Organization
    // Connection reference); this client never sends them so.
    assert_eq!(emu.query_credential_uses(), 0);
}

#[tokio::test]
async fn no_secret_in_debug_or_errors() {
    let emu = LoginRadiusEmulator::new(KEY, SECRET, "org_unit");
    let running = serve(emu.router(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let good = provider(running.url(), KEY, SECRET);
    no_secret(&format!("{good:?}"));

    // Wrong secret, wrong key.
    for p in [
        provider(running.url(), KEY, "wrong-secret"),
        provider(running.url(), "wrong-key", SECRET),
    ] {
        let e = p.verify_credentials().await.unwrap_err();
        assert!(matches!(e, ProviderError::Unauthenticated(_)), "{e:?}");
        no_secret(&format!("{e} {e:?} {p:?}"));
    }

    // Injected 5xx.
    emu.core().set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let e = good
        .observe(ResourceKind::EnterpriseConnection, "conn_x")
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Unavailable(_)), "{e:?}");
    no_secret(&format!("{e} {e:?}"));
    emu.core().set_faults(Faults::default());

    // Transport error (nothing listens): the message names the host, never the URL.
    drop(running);
    let e = good.verify_credentials().await.unwrap_err();
    no_secret(&format!("{e} {e:?}"));
}

async fn started() -> (
    LoginRadiusEmulator,
    ssoperator_emulators::Running,
    LoginRadiusProvider,
) {
    let emu = LoginRadiusEmulator::new(KEY, SECRET, "org_unit");
    let running = serve(emu.router(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let p = provider(running.url(), KEY, SECRET);
    (emu, running, p)
}

fn sample(name: &str, domain: &str) -> crate::core::desired::ConnectionDesired {
    use crate::core::desired::Protocol;
    use crate::crd::SamlSettings;
    crate::core::desired::ConnectionDesired {
        name: name.into(),
        domains: Some(vec![domain.into()]),
        active: Some(true),
        protocol: Protocol::Saml,
        idp_type: "saml_custom".into(),
        idp_type_explicit: true,
        saml: Some(SamlSettings {
            idp_entity_id: Some("https://idp.example.com".into()),
            idp_metadata_url: Some("https://idp.example.com/metadata.xml".into()),
            allow_idp_initiated: Some(true),
            ..Default::default()
        }),
        oidc: None,
        sync_user_attributes: None,
        organization_id: None,
    }
}

fn roles(target: &str, group: &str, role: &str) -> Desired {
    use crate::crd::{GroupMapping, RoleAssignment};
    Desired::RoleMapping(crate::core::desired::RoleMappingDesired {
        target: target.into(),
        default_role: None,
        enforce_group_sync: None,
        mappings: vec![GroupMapping {
            external_group: group.into(),
            external_group_id: None,
            roles: vec![RoleAssignment {
                role: role.into(),
                project_id: None,
            }],
        }],
        atlas: None,
    })
}

async fn update(
    p: &LoginRadiusProvider,
    id: &str,
    d: &Desired,
) -> Result<Remote, ProviderError> {
    let kind = d.kind();
    let observed = p.observe(kind, id).await?.unwrap();
    let diff = crate::core::diff::diff(&p.desired_fields(d)?, &observed.fields);
    p.update(id, d, &observed, &diff).await
}

#[tokio::test]
async fn domain_errors_name_spec_domains() {
    let (emu, _running, p) = started().await;
    emu.set_org_domains(Some(vec!["corp.example".into(), "new.corp.example".into()]));
    emu.set_unverified_domains(vec!["new.corp.example".into()]);
    for (domain, code) in [("other.example", "8150"), ("new.corp.example", "8177")] {
        let d = Desired::Connection(sample("c", domain));
        match p.create(&d).await {
            Err(ProviderError::Invalid { message, field }) => {
                assert_eq!(field.as_deref(), Some("spec.domains"));
                assert!(message.contains(code), "{message}");
            }
            other => panic!("{domain}: {other:?}"),
        }
    }
    let created = p
        .create(&Desired::Connection(sample("c", "CORP.example")))
        .await
        .unwrap();
    assert!(created.id.starts_with("conn_"));
    assert_eq!(
        created.fields["domains"],
        serde_json::json!(["corp.example"])
    );
    assert!(
        created
            .outputs
            .acs_url
            .as_deref()
            .unwrap()
            .contains(".hub.loginradius.com/saml/sp/acs/")
    );
}

#[tokio::test]
async fn renaming_onto_an_existing_name_is_a_conflict() {
    let (_emu, _running, p) = started().await;
    p.create(&Desired::Connection(sample("a", "a.example")))
        .await
        .unwrap();
    let b = p
        .create(&Desired::Connection(sample("b", "b.example")))
        .await
        .unwrap();
    let e = update(&p, &b.id, &Desired::Connection(sample("a", "b.example")))
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Conflict(_)), "{e:?}");
    // Renaming to its own name is fine.
    update(&p, &b.id, &Desired::Connection(sample("b", "b.example")))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_two_kinds_never_erase_each_other() {
    let (emu, _running, p) = started().await;
    let c = p
        .create(&Desired::Connection(sample("both", "both.example")))
        .await
        .unwrap();
    let sp_before = c.outputs.clone();

    update(&p, &c.id, &roles(&c.id, "Admins", "role_admin"))
        .await
        .unwrap();
    let after_roles = emu.get_connection(&c.id).unwrap();
    assert_eq!(
        after_roles.idp_entity_id.as_deref(),
        Some("https://idp.example.com")
    );
    assert_eq!(after_roles.is_idp_initiated, Some(true));
    assert_eq!(after_roles.group_roles.len(), 1);
    let group_role_id = after_roles.group_roles[0].id.clone();
    assert!(group_role_id.starts_with("group_role_"));

    let mut changed = sample("both-renamed", "both.example");
    changed.saml.as_mut().unwrap().idp_entity_id = Some("https://idp2.example.com".into());
    let r = update(&p, &c.id, &Desired::Connection(changed))
        .await
        .unwrap();
    assert_eq!(r.outputs, sp_before, "server-generated SP values changed");
    let after_conn = emu.get_connection(&c.id).unwrap();
    assert_eq!(after_conn.group_roles, after_roles.group_roles);
    assert_eq!(after_conn.name, "both-renamed");

    // Deleting the role mapping clears GroupRoles only, twice.
    p.delete(ResourceKind::OrgRoleMapping, &c.id).await.unwrap();
    p.delete(ResourceKind::OrgRoleMapping, &c.id).await.unwrap();
    let cleared = emu.get_connection(&c.id).unwrap();
    assert!(cleared.group_roles.is_empty());
    assert_eq!(
        cleared.idp_entity_id.as_deref(),
        Some("https://idp2.example.com")
    );
}

#[tokio::test]
async fn lists_page_and_find_by_name_walks_pages() {
    let (emu, _running, p) = started().await;
    let p = p.with_page_size(2);
    for n in 0..5 {
        p.create(&Desired::Connection(sample(&format!("c{n}"), "x.example")))
            .await
            .unwrap();
    }
    let mut cursor = None;
    let mut names = vec![];
    loop {
        let page = p
            .list(ResourceKind::EnterpriseConnection, cursor)
            .await
            .unwrap();
        names.extend(page.items.into_iter().map(|r| r.name));
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(names, ["c0", "c1", "c2", "c3", "c4"]);
    let found = p
        .find_by_name(ResourceKind::EnterpriseConnection, "c4")
        .await
        .unwrap();
    assert_eq!(found.unwrap().name, "c4");
    assert!(
        p.find_by_name(ResourceKind::EnterpriseConnection, "zz")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(emu.count_connections(), 5);
}

#[tokio::test]
async fn deleting_twice_is_fine_and_creating_a_role_mapping_is_refused() {
    let (_emu, _running, p) = started().await;
    let c = p
        .create(&Desired::Connection(sample("d", "d.example")))
        .await
        .unwrap();
    p.delete(ResourceKind::EnterpriseConnection, &c.id)
        .await
        .unwrap();
    p.delete(ResourceKind::EnterpriseConnection, &c.id)
        .await
        .unwrap();
    assert!(
        p.observe(ResourceKind::EnterpriseConnection, &c.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        p.create(&roles(&c.id, "g", "r")).await,
        Err(ProviderError::Unsupported { .. })
    ));
}
