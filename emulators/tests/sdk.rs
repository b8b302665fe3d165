//! The providers' official Python SDKs as clients of the emulators: each script in `tests/sdk/`
//! runs every operation ssoperator uses through the SDK, pointed at an in-process emulator by the
//! SDK's documented server-URL override. The SDKs are installed, pinned, by `scripts/sdk-venv.sh`
//! (`scripts/test.sh` runs it and exports `SSOPERATOR_SDK_PYTHON`); without them these tests fail.

use std::{path::PathBuf, process::Stdio, time::Duration};

use serde_json::Value;
use ssoperator_emulators::{Running, auth0::Auth0Emulator, clerk::ClerkEmulator, serve};

/// The venv's python: `SSOPERATOR_SDK_PYTHON`, else the cache directory `scripts/sdk-venv.sh` fills.
fn sdk_python() -> PathBuf {
    if let Some(p) = std::env::var_os("SSOPERATOR_SDK_PYTHON").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "SSOPERATOR_SDK_PYTHON={} does not exist; run scripts/sdk-venv.sh",
            p.display()
        );
        return p;
    }
    let cache = std::env::var_os("SSOPERATOR_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|c| PathBuf::from(c).join("ssoperator")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/ssoperator")))
        .unwrap_or_default();
    let p = cache.join("sdk-1/bin/python");
    assert!(
        p.is_file(),
        "the official SDKs are not installed ({} is missing): run scripts/sdk-venv.sh \
         (scripts/test.sh does) or set SSOPERATOR_SDK_PYTHON",
        p.display()
    );
    p
}

/// Runs `tests/sdk/<script>` with `env`; its last stdout line is a JSON result.
async fn run_script(script: &str, env: &[(&str, String)]) -> Value {
    let python = sdk_python();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sdk")
        .join(script);
    let mut cmd = tokio::process::Command::new(&python);
    cmd.arg(&path)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = match tokio::time::timeout(Duration::from_secs(120), cmd.output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => panic!("cannot run {} {}: {e}", python.display(), path.display()),
        Err(_) => panic!("{script} did not finish in 120 s"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("{script} printed no JSON result ({e}):\n{stdout}\n{stderr}"))
}

async fn start(router: axum::Router) -> Running {
    serve(router, ([127, 0, 0, 1], 0).into())
        .await
        .unwrap_or_else(|e| panic!("cannot start the emulator: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clerk_official_sdk_drives_the_emulator() {
    let key = "sk_test_sdk0123456789";
    let emulator = ClerkEmulator::new(key);
    let running = start(emulator.router()).await;
    let result = run_script(
        "clerk_sdk.py",
        &[
            ("CLERK_SERVER_URL", format!("{}/v1", running.url())),
            ("CLERK_SECRET_KEY", key.to_string()),
        ],
    )
    .await;
    assert_eq!(result["updated"], "sdk-saml-renamed", "{result}");
    assert_eq!(result["wrong_key"], 403, "{result}");
    assert_eq!(
        result["bad_custom_attribute"], "form_param_format_invalid",
        "{result}"
    );
    assert_eq!(emulator.count_connections(), 0);
    let calls = emulator.core().calls();
    for op in [
        "POST /v1/enterprise_connections",
        "GET /v1/enterprise_connections",
        "PATCH /v1/enterprise_connections/{enterprise_connection_id}",
        "DELETE /v1/enterprise_connections/{enterprise_connection_id}",
    ] {
        assert!(calls.keys().any(|k| k == op), "{op} not called: {calls:?}");
    }
    // An independent client's traffic passes the same contract check as ours.
    let violations = emulator.core().contract_violations();
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth0_official_sdk_drives_the_emulator() {
    let (domain, id, secret) = ("sdk.eu.auth0.com", "sdk-client", "sdk-secret");
    let emulator = Auth0Emulator::new(domain, id, secret);
    let running = start(emulator.router()).await;
    let result = run_script(
        "auth0_sdk.py",
        &[
            ("AUTH0_URL", running.url()),
            ("AUTH0_DOMAIN", domain.to_string()),
            ("AUTH0_CLIENT_ID", id.to_string()),
            ("AUTH0_CLIENT_SECRET", secret.to_string()),
        ],
    )
    .await;
    assert_eq!(result["listed"], 13, "{result}");
    assert_eq!(result["updated"], "sdk-profile-2", "{result}");
    assert!(
        result["templates"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "{result}"
    );
    assert_eq!(emulator.count_profiles(), 0);
    assert_eq!(emulator.tokens_issued(), 1);
    let violations = emulator.core().contract_violations();
    assert!(violations.is_empty(), "{violations:#?}");
}
