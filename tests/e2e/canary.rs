//! Secrets never leave the operator: a canary value in the credentials and in the OIDC client
//! secret, the operator as its own process at `RUST_LOG=trace`, through a create, an update, a
//! 422 that echoes the request body (a provider quoting the request in a validation error), a
//! 503 that does the same, and refused credentials → the canary appears in no log line, Event,
//! status or metric.

use std::{
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use k8s_openapi::api::events::v1::Event;
use kube::{Api, api::ListParams};
use serde_json::json;
use ssoperator::crd::{EnterpriseConnection, ProviderConfig};
use ssoperator_emulators::clerk::ClerkEmulator;

use crate::{
    operator::{apply, patch_spec, pc_ready, reason, secret, serve, setup, wait_for},
    support,
};

/// In every secret value below; searched for in everything the operator wrote.
const MARK: &str = "CANARY7q";
const KEY: &str = "sk_test_CANARY7qkey00000000000000000000000";
const WRONG_KEY: &str = "sk_test_CANARY7qwrong0000000000000000000";
const CLIENT_SECRET: &str = "oidc-CANARY7q-client-secret-one";
const CLIENT_SECRET_2: &str = "oidc-CANARY7q-client-secret-two";

const PASS: u8 = 0;
const ECHO_422: u8 = 1;
const ECHO_503: u8 = 2;

#[derive(Clone)]
struct Proxy {
    upstream: String,
    mode: Arc<AtomicU8>,
    http: reqwest::Client,
}

/// Forwards to the Clerk emulator; in an echo mode, answers writes with Clerk's error body
/// quoting the request body, as a careless provider's validation error would.
async fn forward(
    State(p): State<Proxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mode = p.mode.load(Ordering::SeqCst);
    if mode != PASS && method != Method::GET {
        let status = if mode == ECHO_422 {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        let echoed = String::from_utf8_lossy(&body).into_owned();
        let error = json!({"errors": [{"message": "is invalid",
            "long_message": format!("request {echoed} is invalid"), "code": "form_param_invalid"}]});
        return (
            status,
            [("content-type", "application/json")],
            error.to_string(),
        )
            .into_response();
    }
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut req = p
        .http
        .request(method, format!("{}{path}", p.upstream))
        .body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            req = req.header(name, value);
        }
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let mut out = Response::builder().status(status.as_u16());
    for (name, value) in resp.headers() {
        if name != "content-length" && name != "transfer-encoding" {
            out = out.header(name, value);
        }
    }
    out.body(Body::from(resp.bytes().await.unwrap())).unwrap()
}

/// The operator process, its log going to a file.
struct Process {
    child: Child,
    log: std::path::PathBuf,
    metrics: String,
}

impl Process {
    fn start(ns: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let log = std::env::temp_dir().join(format!("ssoperator-canary-{ns}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_ssoperator"))
            .env("KUBECONFIG", support::kubeconfig_path())
            .env("RUST_LOG", "trace")
            .args([
                "--namespaces",
                ns,
                "--resync",
                "2s",
                "--default-rate",
                "100",
            ])
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
            .args(["--identity", &format!("canary-{ns}")])
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        Self {
            child,
            log,
            metrics: format!("http://127.0.0.1:{port}/metrics"),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

#[tokio::test]
async fn no_secret_value_reaches_logs_events_status_or_metrics() {
    let (client, ns) = setup().await;
    let clerk = ClerkEmulator::with_instance(KEY, "canary");
    let upstream = serve(clerk.router()).await;
    let mode = Arc::new(AtomicU8::new(PASS));
    let proxy = Proxy {
        upstream: upstream.url(),
        mode: mode.clone(),
        http: reqwest::Client::new(),
    };
    let front = serve(Router::new().fallback(forward).with_state(proxy)).await;
    let op = Process::start(&ns);

    secret(&client, &ns, "creds", &[("secretKey", KEY)]).await;
    secret(&client, &ns, "oidc", &[("clientSecret", CLIENT_SECRET)]).await;
    apply(
        &client,
        &ns,
        json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "ProviderConfig",
        "metadata": {"name": "clerk"},
        "spec": {"clerk": {}, "credentialsSecretRef": {"name": "creds"}, "endpoint": front.url()}}),
    )
    .await;
    apply(&client, &ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
        "metadata": {"name": "gitlab"},
        "spec": {"providerConfigRef": {"name": "clerk"}, "name": "GitLab", "domains": ["gitlab.example"],
                 "idpType": "oidc_custom",
                 "oidc": {"discoveryUrl": "https://gitlab.example/.well-known/openid-configuration",
                          "clientId": "gitlab-client", "clientSecretRef": {"name": "oidc", "key": "clientSecret"}}}}))
    .await;
    let generation_is = |g: i64| {
        move |o: &EnterpriseConnection| {
            o.metadata.generation == Some(g)
                && o.status.as_ref().and_then(|s| s.observed_generation) == Some(g)
        }
    };
    // Create.
    wait_for::<EnterpriseConnection>(&client, &ns, "gitlab", "Ready", |o| {
        reason(o) == "Available"
    })
    .await;
    // Update, the client secret included (a new value is sent).
    secret(&client, &ns, "oidc", &[("clientSecret", CLIENT_SECRET_2)]).await;
    patch_spec::<EnterpriseConnection>(&client, &ns, "gitlab", json!({"name": "GitLab 2"})).await;
    wait_for::<EnterpriseConnection>(&client, &ns, "gitlab", "Ready at 2", |o| {
        generation_is(2)(o) && reason(o) == "Available"
    })
    .await;
    assert!(clerk.snapshot().to_string().contains("GitLab 2"));
    // A 422 that quotes the request, then a 503 that does the same.
    secret(&client, &ns, "oidc", &[("clientSecret", CLIENT_SECRET)]).await;
    mode.store(ECHO_422, Ordering::SeqCst);
    patch_spec::<EnterpriseConnection>(&client, &ns, "gitlab", json!({"name": "GitLab 3"})).await;
    wait_for::<EnterpriseConnection>(&client, &ns, "gitlab", "rejected", |o| {
        generation_is(3)(o) && reason(o) == "ProviderRejected"
    })
    .await;
    mode.store(ECHO_503, Ordering::SeqCst);
    patch_spec::<EnterpriseConnection>(&client, &ns, "gitlab", json!({"name": "GitLab 4"})).await;
    wait_for::<EnterpriseConnection>(&client, &ns, "gitlab", "unavailable", |o| {
        generation_is(4)(o) && reason(o) == "ProviderUnavailable"
    })
    .await;
    // Refused credentials.
    mode.store(PASS, Ordering::SeqCst);
    secret(&client, &ns, "creds", &[("secretKey", WRONG_KEY)]).await;
    wait_for::<ProviderConfig>(&client, &ns, "clerk", "Unauthenticated", |pc| {
        pc_ready(pc).is_some_and(|(s, r)| s == "False" && r == "Unauthenticated")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Everything the operator wrote.
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    let events =
        serde_json::to_string(&events.list(&ListParams::default()).await.unwrap()).unwrap();
    let ecs: Api<EnterpriseConnection> = Api::namespaced(client.clone(), &ns);
    let pcs: Api<ProviderConfig> = Api::namespaced(client.clone(), &ns);
    let objects = format!(
        "{}{}",
        serde_json::to_string(&ecs.list(&ListParams::default()).await.unwrap()).unwrap(),
        serde_json::to_string(&pcs.list(&ListParams::default()).await.unwrap()).unwrap()
    );
    let metrics = reqwest::get(&op.metrics)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let log = std::fs::read_to_string(&op.log).unwrap();
    assert!(
        events.contains("ProviderRejected") && events.contains("ProviderUnavailable"),
        "the failure paths were not taken: {events}"
    );
    assert!(log.lines().count() > 100, "the trace log is nearly empty");
    let hits: Vec<(&str, usize)> = [
        ("log", &log),
        ("events", &events),
        ("objects", &objects),
        ("metrics", &metrics),
    ]
    .into_iter()
    .map(|(what, text)| (what, text.matches(MARK).count()))
    .collect();
    eprintln!(
        "canary hits (log of {} lines at RUST_LOG=trace): {hits:?}",
        log.lines().count()
    );
    let leaked: Vec<&str> = log.lines().filter(|l| l.contains(MARK)).take(5).collect();
    assert!(
        hits.iter().all(|(_, n)| *n == 0),
        "canary found: {hits:?}; log lines: {leaked:#?}"
    );
    // The echoed bodies did reach the operator, and were cut where it wrote them.
    assert!(
        events.contains("<redacted>"),
        "no echoed secret was redacted: {events}"
    );
}
