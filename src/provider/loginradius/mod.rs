//! LoginRadius: organization identity-provider connections (`/v2/manage/organizations/{orgId}/connections`).
//!
//! One LoginRadius connection backs two resource kinds: the EnterpriseConnection (its SAML
//! settings) and the OrgRoleMapping (its `GroupRoles`). Updates are PUTs of the whole object, so
//! both kinds read the latest copy, overlay only what they own and send it back.
//!
//! The reads (one connection, the list) are not documented by LoginRadius: their paths are
//! guesses kept in [`client::ReadPaths`], and a bare 404 from them is "unknown", never "deleted"
//! (see [`client`]).

pub mod api;
pub mod client;
pub mod mapping;
/// Drives this client against its emulator (the conformance suite and tests; never in the image).
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

use std::fmt;

use async_trait::async_trait;

pub use client::Credentials;

use crate::core::desired::{Desired, ResourceKind};
use crate::core::diff::{Diff, Fields};
use crate::provider::http::{ClientSettings, HttpClient};
use crate::provider::{
    Capabilities, KindCapabilities, Page, Provider, ProviderError, ProviderKind, Remote,
    unsupported,
};

/// The real service.
pub const DEFAULT_BASE_URL: &str = "https://api.loginradius.com";

/// Connections per list call. Paging is not documented by LoginRadius (see [`client::ReadPaths`]).
pub const DEFAULT_PAGE_SIZE: u32 = 100;

const KIND: ProviderKind = ProviderKind::LoginRadius;

/// A client of one LoginRadius organization.
pub struct LoginRadiusProvider {
    client: client::Client,
    page_size: u32,
}

impl fmt::Debug for LoginRadiusProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRadiusProvider")
            .field("client", &self.client)
            .field("page_size", &self.page_size)
            .finish()
    }
}

impl LoginRadiusProvider {
    pub fn new(
        settings: ClientSettings,
        organization_id: String,
        credentials: Credentials,
    ) -> Result<Self, ProviderError> {
        if organization_id.trim().is_empty() {
            return Err(ProviderError::invalid(
                "LoginRadius organization id is empty",
            ));
        }
        let http = HttpClient::new(KIND, settings)?;
        Ok(Self {
            client: client::Client::new(http, organization_id, credentials),
            page_size: DEFAULT_PAGE_SIZE,
        })
    }

    /// Sets the list page size (tests use small pages to exercise paging).
    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size.max(1);
        self
    }

    /// Sends the undocumented reads (one connection, the list) elsewhere; see
    /// [`client::ReadPaths`].
    pub fn with_read_paths(mut self, reads: client::ReadPaths) -> Self {
        self.client = self.client.with_read_paths(reads);
        self
    }

    fn remote(kind: ResourceKind, c: &api::Connection) -> Result<Remote, ProviderError> {
        match kind {
            ResourceKind::EnterpriseConnection => Ok(mapping::connection_remote(c)),
            ResourceKind::OrgRoleMapping => Ok(mapping::role_mapping_remote(c)),
            ResourceKind::ConnectionProfile => Err(unsupported(KIND, "ConnectionProfile")),
        }
    }

    /// The latest copy of a connection that must exist.
    async fn latest(&self, id: &str) -> Result<api::Connection, ProviderError> {
        self.client
            .get(id)
            .await?
            .ok_or_else(|| ProviderError::NotFound(format!("LoginRadius connection {id}")))
    }
}

#[async_trait]
impl Provider for LoginRadiusProvider {
    fn kind(&self) -> ProviderKind {
        KIND
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            kinds: vec![
                KindCapabilities {
                    kind: ResourceKind::EnterpriseConnection,
                    create: true,
                    delete: true,
                    fields: &["name", "domains", "active", "idpType", "saml"],
                },
                KindCapabilities {
                    kind: ResourceKind::OrgRoleMapping,
                    // GroupRoles live inside a connection: it is adopted, and "delete" clears them.
                    create: false,
                    delete: true,
                    fields: &["mappings"],
                },
            ],
        }
    }

    fn desired_fields(&self, desired: &Desired) -> Result<Fields, ProviderError> {
        match desired {
            Desired::Connection(c) => mapping::connection_fields(c, self.client.org_id()),
            Desired::RoleMapping(m) => mapping::role_mapping_fields(m),
            Desired::Profile(_) => Err(unsupported(KIND, "ConnectionProfile")),
        }
    }

    fn write_only_paths(&self, _desired: &Desired) -> Vec<String> {
        // LoginRadius echoes everything it holds (the IdP certificate included).
        vec![]
    }

    async fn verify_credentials(&self) -> Result<(), ProviderError> {
        self.client.list(1, 1).await.map(|_| ())
    }

    async fn observe(&self, kind: ResourceKind, id: &str) -> Result<Option<Remote>, ProviderError> {
        match self.client.get(id).await? {
            Some(c) => Self::remote(kind, &c).map(Some),
            None => Ok(None),
        }
    }

    fn name_is_id(&self, kind: ResourceKind) -> bool {
        kind == ResourceKind::OrgRoleMapping
    }

    async fn find_by_name(
        &self,
        kind: ResourceKind,
        name: &str,
    ) -> Result<Option<Remote>, ProviderError> {
        match kind {
            // A role mapping is known by its connection's id.
            ResourceKind::OrgRoleMapping => self.observe(kind, name).await,
            ResourceKind::EnterpriseConnection => {
                let mut cursor = None;
                loop {
                    let page = self.list(kind, cursor).await?;
                    if let Some(r) = page.items.into_iter().find(|r| r.name == name) {
                        return Ok(Some(r));
                    }
                    match page.next {
                        Some(next) => cursor = Some(next),
                        None => return Ok(None),
                    }
                }
            }
            ResourceKind::ConnectionProfile => Err(unsupported(KIND, "ConnectionProfile")),
        }
    }

    async fn list(
        &self,
        kind: ResourceKind,
        cursor: Option<String>,
    ) -> Result<Page, ProviderError> {
        // The cursor is `index` or `index:first id of the previous page`: a server that ignored
        // the (undocumented) page index would answer the same page again, forever.
        let (index, previous_first) = match cursor {
            None => (1, None),
            Some(c) => {
                let (i, first) = match c.split_once(':') {
                    Some((i, f)) => (i, Some(f.to_string())),
                    None => (c.as_str(), None),
                };
                let i = i
                    .parse::<u32>()
                    .ok()
                    .filter(|i| *i >= 1)
                    .ok_or_else(|| ProviderError::invalid(format!("bad list cursor {c:?}")))?;
                (i, first)
            }
        };
        let page = self.client.list(index, self.page_size).await?;
        let first = page.data.first().map(|c| c.id.clone());
        if previous_first.is_some() && first == previous_first {
            return Err(ProviderError::Indeterminate(format!(
                "LoginRadius answered page {index} of the connection list with the previous page again; the list's paging parameters are not documented and seem to be ignored"
            )));
        }
        let seen = u64::from(index - 1) * u64::from(self.page_size) + page.data.len() as u64;
        // A short or empty page ends the list; `Count`, when present, may end it sooner. Without
        // `Count` a full page always asks for the next one (it may be empty).
        let full = page.data.len() as u64 >= u64::from(self.page_size);
        let more = full && page.count.is_none_or(|total| seen < total);
        let next = more.then(|| format!("{}:{}", index + 1, first.unwrap_or_default()));
        let items = page
            .data
            .iter()
            .map(|c| Self::remote(kind, c))
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }

    async fn create(&self, desired: &Desired) -> Result<Remote, ProviderError> {
        match desired {
            Desired::Connection(c) => {
                mapping::check_connection(c, self.client.org_id())?;
                let created = self.client.create(&mapping::new_connection(c)).await?;
                Ok(mapping::connection_remote(&created))
            }
            Desired::RoleMapping(_) => Err(unsupported(
                KIND,
                "creating an OrgRoleMapping (its GroupRoles live in an existing connection)",
            )),
            Desired::Profile(_) => Err(unsupported(KIND, "ConnectionProfile")),
        }
    }

    async fn update(
        &self,
        id: &str,
        desired: &Desired,
        _observed: &Remote,
        _diff: &Diff,
    ) -> Result<Remote, ProviderError> {
        // PUT replaces the whole object: start from the latest copy, not from `observed`, so that
        // a change made meanwhile to the fields the other kind owns is not undone.
        match desired {
            Desired::Connection(c) => {
                mapping::check_connection(c, self.client.org_id())?;
                let mut conn = self.latest(id).await?;
                mapping::overlay_connection(&mut conn, c);
                let put = self.client.put(id, &conn).await?;
                Ok(mapping::connection_remote(&put))
            }
            Desired::RoleMapping(m) => {
                mapping::check_role_mapping(m)?;
                let mut conn = self.latest(id).await?;
                mapping::overlay_role_mapping(&mut conn, m);
                let put = self.client.put(id, &conn).await?;
                Ok(mapping::role_mapping_remote(&put))
            }
            Desired::Profile(_) => Err(unsupported(KIND, "ConnectionProfile")),
        }
    }

    async fn delete(&self, kind: ResourceKind, id: &str) -> Result<(), ProviderError> {
        match kind {
            ResourceKind::EnterpriseConnection => self.client.delete(id).await,
            ResourceKind::OrgRoleMapping => {
                // Clears GroupRoles; the connection itself stays.
                let Some(mut conn) = self.client.get(id).await? else {
                    return Ok(());
                };
                if conn.group_roles.is_empty() {
                    return Ok(());
                }
                conn.group_roles.clear();
                match self.client.put(id, &conn).await {
                    Ok(_) | Err(ProviderError::NotFound(_)) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            ResourceKind::ConnectionProfile => Err(unsupported(KIND, "ConnectionProfile")),
        }
    }
}

#[cfg(test)]
mod tests {
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
}
