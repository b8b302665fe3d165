//! `ssoperator export` and `ssoperator diff` round trips: for each provider, objects made
//! outside the operator (seeded into the emulator) are exported, applied with kubectl, become
//! Ready with no provider write, stay without writes under Manage, and `diff` on the export
//! finds nothing until one field of the file is changed. Plus: 1000 Clerk connections in
//! ⌈1000/500⌉ list calls with plain-line progress.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use kube::{Api, Client, api::ListParams};
use serde_json::{Value, json};
use ssoperator::crd::{ConnectionProfile, EnterpriseConnection, OrgRoleMapping};
use ssoperator_emulators::{
    EmulatorCore,
    atlas::{AtlasEmulator, RoleAssignment, RoleMapping},
    auth0::Auth0Emulator,
    clerk::ClerkEmulator,
    loginradius::LoginRadiusEmulator,
    qovery::QoveryEmulator,
};

use crate::{operator::*, support};

mod clerk;
mod diff;
mod round_trip;

/// Runs the `ssoperator` binary with `env` (the credentials) and no terminal: (exit code,
/// stdout, stderr). Async: the emulators answer on this test's runtime meanwhile.
async fn cli(args: &[&str], env: &[(String, String)]) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_ssoperator"));
    cmd.args(args);
    // Only what the test gives: no SSOPERATOR_CRED_* from the caller's environment.
    for (k, _) in std::env::vars() {
        if k.starts_with("SSOPERATOR_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("run ssoperator");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn kubectl_apply(dir: &Path) {
    let out = Command::new(support::kubectl())
        .args(["--kubeconfig", support::kubeconfig_path(), "apply", "-f"])
        .arg(dir)
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "kubectl apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every file of the export, read back.
fn read_dir(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

/// Names of the ssoperator resources of each managed kind in `ns`.
async fn names(client: &Client, ns: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let lp = ListParams::default();
    let n = |items: Vec<kube::core::ObjectMeta>| -> Vec<String> {
        items.into_iter().filter_map(|m| m.name).collect()
    };
    let ec: Api<EnterpriseConnection> = Api::namespaced(client.clone(), ns);
    let cp: Api<ConnectionProfile> = Api::namespaced(client.clone(), ns);
    let rm: Api<OrgRoleMapping> = Api::namespaced(client.clone(), ns);
    (
        n(ec.list(&lp)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|o| o.metadata)
            .collect()),
        n(cp.list(&lp)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|o| o.metadata)
            .collect()),
        n(rm.list(&lp)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|o| o.metadata)
            .collect()),
    )
}

async fn wait_all_ready(client: &Client, ns: &str) -> usize {
    let (ec, cp, rm) = names(client, ns).await;
    for n in &ec {
        wait_for::<EnterpriseConnection>(client, ns, n, "Ready", ready).await;
    }
    for n in &cp {
        wait_for::<ConnectionProfile>(client, ns, n, "Ready", ready).await;
    }
    for n in &rm {
        wait_for::<OrgRoleMapping>(client, ns, n, "Ready", ready).await;
    }
    ec.len() + cp.len() + rm.len()
}

async fn manage_all(client: &Client, ns: &str) {
    let (ec, cp, rm) = names(client, ns).await;
    let manage = json!({"managementPolicy": "Manage"});
    for n in &ec {
        patch_spec::<EnterpriseConnection>(client, ns, n, manage.clone()).await;
    }
    for n in &cp {
        patch_spec::<ConnectionProfile>(client, ns, n, manage.clone()).await;
    }
    for n in &rm {
        patch_spec::<OrgRoleMapping>(client, ns, n, manage.clone()).await;
    }
}

/// Provider writes, the Auth0 token grant left out (a read needs it).
fn writes(core: &EmulatorCore) -> u64 {
    core.calls()
        .iter()
        .filter(|(k, _)| {
            ["POST ", "PUT ", "PATCH ", "DELETE "]
                .iter()
                .any(|m| k.starts_with(m))
                && !k.contains("/oauth/token")
        })
        .map(|(_, n)| n)
        .sum()
}

const CLERK_KEY: &str = "sk_test_export0000000000000000";

fn clerk_saml(name: &str, domain: &str, sso: &str) -> Value {
    json!({"name": name, "provider": "saml_custom", "domains": [domain],
           "saml": {"idp_entity_id": format!("https://{domain}/idp"), "idp_sso_url": sso}})
}

const QOVERY_ORG: &str = "0b8d2c4e-9b1a-4c7e-8f2d-5a6b7c8d9e01";
