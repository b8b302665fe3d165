//! Fixtures shared by the e2e tests: one real control plane per test process, clients, the CRDs,
//! temporary namespaces, and the kubectl that matches the API server.
//!
//! The control plane comes from `E2E_KUBECONFIG` when `scripts/with-k8s.sh` (or `scripts/test.sh`)
//! started one; otherwise the first test that needs it starts `scripts/with-k8s.sh --serve` and
//! every test in the process shares it. It is stopped when the test process exits.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{OnceLock, mpsc},
    time::Duration,
};

use k8s_openapi::{
    api::core::v1::Namespace,
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, Client, Config, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
    runtime::wait::{await_condition, conditions},
};
use rand::{Rng, distr::Alphanumeric};

/// Field manager of everything the tests apply.
pub const FIELD_MANAGER: &str = "ssoperator-tests";
/// Label put on every namespace the tests create (`kubectl delete ns -l ssoperator.io/e2e=true`).
pub const NAMESPACE_LABEL: &str = "ssoperator.io/e2e";
/// The Kubernetes version `scripts/build-k8s-bins.sh` builds by default.
pub const K8S_VERSION: &str = "1.36.3";

/// How long a cold start may take: building the binaries on first use is 10-25 minutes on 2 cores.
const START_TIMEOUT: Duration = Duration::from_secs(45 * 60);
const ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(60);

/// Path of the kubeconfig of the test control plane, started on first use.
pub fn kubeconfig_path() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| match std::env::var("E2E_KUBECONFIG") {
        Ok(path) if !path.is_empty() => path,
        _ => start_control_plane(),
    })
}

/// Starts `scripts/with-k8s.sh --serve` and returns the kubeconfig path it prints. Every call
/// starts another control plane (tests that must not share the API server with the rest use
/// their own); each stops when the test process exits.
///
/// PR_SET_PDEATHSIG (set by `setpriv --pdeathsig`) fires when the *thread* that spawned the child
/// exits, and libtest runs each test on its own short-lived thread, so the script is spawned from
/// a dedicated thread that never returns. The script also polls this process (K8S_WATCH_PID) in
/// case setpriv is missing. Either way its EXIT trap stops etcd and kube-apiserver.
pub fn start_control_plane() -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/with-k8s.sh");
    let (tx, rx) = mpsc::channel::<Result<String, String>>();
    std::thread::Builder::new()
        .name("k8s-control-plane".into())
        .spawn(move || {
            let mut cmd = if Path::new("/usr/bin/setpriv").exists() {
                let mut c = Command::new("/usr/bin/setpriv");
                c.args(["--pdeathsig", "TERM", "--"]).arg(&script);
                c
            } else {
                Command::new(&script)
            };
            cmd.arg("--serve")
                .env("K8S_WATCH_PID", std::process::id().to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit());
            let mut child = match cmd.spawn() {
                Ok(child) => child,
                Err(e) => {
                    let _ = tx.send(Err(format!("cannot run {}: {e}", script.display())));
                    return;
                }
            };
            let Some(stdout) = child.stdout.take() else {
                let _ = tx.send(Err("with-k8s.sh has no stdout".into()));
                return;
            };
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(path) = line.strip_prefix("KUBECONFIG=") {
                    let _ = tx.send(Ok(path.to_owned()));
                    sent = true;
                }
            }
            // stdout closed: the script exited, before or after it was ready.
            let status = child.wait();
            if !sent {
                let _ = tx.send(Err(format!(
                    "scripts/with-k8s.sh --serve exited before the control plane was ready: {status:?}"
                )));
                return;
            }
            eprintln!("e2e: the test control plane exited early: {status:?}");
            loop {
                std::thread::park();
            }
        })
        .expect("spawn the control-plane thread");
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(Ok(path)) => path,
        Ok(Err(e)) => panic!("{e}"),
        Err(e) => panic!("the test control plane did not become ready: {e}"),
    }
}

/// A client for the test control plane, built from its kubeconfig.
///
/// Build one per test: a client is bound to the tokio runtime it was made on, and every
/// `#[tokio::test]` has its own runtime.
pub async fn client() -> Client {
    client_for(kubeconfig_path()).await
}

/// The client configuration of the test control plane.
pub async fn config() -> Config {
    config_for(kubeconfig_path()).await
}

async fn config_for(path: &str) -> Config {
    let kubeconfig = Kubeconfig::read_from(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("kubeconfig {path}: {e}"))
}

/// A client for the control plane of the kubeconfig at `path`.
pub async fn client_for(path: &str) -> Client {
    let config = config_for(path).await;
    // The operator's own client (HTTP/2 lanes), so that every e2e test goes through it.
    ssoperator::apiserver::builder(config, true)
        .expect("build a kube client")
        .build()
}

/// Server-side applies every CRD of `ssoperator::crd::all()` and waits until each is Established.
/// Done once per test process; later calls return at once.
pub async fn install_crds(client: &Client) {
    static INSTALLED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    INSTALLED
        .get_or_init(|| async {
            apply_crds(client).await;
        })
        .await;
}

/// Applies every CRD (idempotent) and waits for Established; returns the applied objects.
pub async fn apply_crds(client: &Client) -> Vec<CustomResourceDefinition> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut applied = Vec::new();
    for (_, crd) in ssoperator::crd::all() {
        let name = crd.name_any();
        let out = api
            .patch(&name, &params, &Patch::Apply(&crd))
            .await
            .unwrap_or_else(|e| panic!("apply CRD {name}: {e}"));
        applied.push(out);
    }
    for crd in &applied {
        let name = crd.name_any();
        tokio::time::timeout(
            ESTABLISHED_TIMEOUT,
            await_condition(api.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .unwrap_or_else(|_| panic!("CRD {name} not Established within {ESTABLISHED_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("watch CRD {name}: {e}"));
    }
    applied
}

/// A random lower-case suffix for names that must be unique per run.
pub fn random_suffix(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(|c| char::from(c).to_ascii_lowercase())
        .collect()
}

/// Creates a namespace with a random name and returns the name. The namespace is labelled with
/// [`NAMESPACE_LABEL`]; a bare API server never finishes deleting namespaces (that is
/// kube-controller-manager's job), so tests do not wait for deletion.
pub async fn temp_namespace(client: &Client) -> String {
    let api: Api<Namespace> = Api::all(client.clone());
    loop {
        let name = format!("e2e-{}", random_suffix(8));
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name, "labels": { NAMESPACE_LABEL: "true" } }
        }))
        .expect("namespace object");
        match api.create(&PostParams::default(), &ns).await {
            Ok(_) => return name,
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(e) => panic!("create namespace {name}: {e}"),
        }
    }
}

/// Deletes a namespace without waiting (best effort; keeps shared clusters tidy).
pub async fn delete_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api.delete(name, &DeleteParams::background()).await;
}

/// The kubectl built next to kube-apiserver (`K8S_BIN`, or the build cache of
/// `scripts/build-k8s-bins.sh`); `kubectl` on PATH when neither has one.
pub fn kubectl() -> PathBuf {
    let mut dirs = Vec::new();
    if let Some(bin) = std::env::var_os("K8S_BIN").filter(|v| !v.is_empty()) {
        dirs.push(PathBuf::from(bin));
    }
    let version = std::env::var("K8S_VERSION").unwrap_or_else(|_| K8S_VERSION.to_owned());
    let cache = std::env::var_os("SSOPERATOR_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .filter(|v| !v.is_empty())
                .map(|d| PathBuf::from(d).join("ssoperator"))
        })
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/ssoperator")));
    if let Some(cache) = cache {
        dirs.push(cache.join(format!("k8s-{version}")).join("bin"));
    }
    dirs.into_iter()
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("kubectl"))
}
