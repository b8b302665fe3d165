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

/// One provider's account, as the round trip needs it.
struct Case {
    provider: &'static str,
    account: Option<&'static str>,
    url: String,
    /// Credentials Secret keys and values.
    creds: Vec<(&'static str, &'static str)>,
    /// The edit for the diff: a file name prefix, a JSON pointer in it, the new value, and the
    /// spec path the diff must name.
    edit: (&'static str, &'static str, Value, &'static str),
    /// How many resources the export must hold.
    resources: usize,
}

fn env_of(case: &Case) -> Vec<(String, String)> {
    case.creds
        .iter()
        .map(|(k, v)| (ssoperator::cli::env_name(k), v.to_string()))
        .collect()
}

async fn round_trip(case: Case, core: std::sync::Arc<EmulatorCore>) {
    let (client, ns) = setup().await;
    let dir = std::env::temp_dir().join(format!("ssoperator-export-{ns}"));
    let _ = std::fs::remove_dir_all(&dir);
    let env = env_of(&case);
    let mut args = vec![
        "export",
        "--provider",
        case.provider,
        "--endpoint",
        &case.url,
        "-n",
        &ns,
        "--output-dir",
    ];
    let dir_s = dir.display().to_string();
    args.push(&dir_s);
    if let Some(a) = case.account {
        args.extend(["--account", a]);
    }
    let w0 = writes(&core);
    let (code, _, stderr) = cli(&args, &env).await;
    assert_eq!(code, 0, "export failed: {stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    for (_, v) in &case.creds {
        assert!(!stderr.contains(v), "a credential on stderr: {stderr}");
    }
    let files = read_dir(&dir);
    for (p, text) in &files {
        println!("--- {} export {}:\n{text}", case.provider, p.display());
    }
    println!("{} export stderr:\n{stderr}", case.provider);
    // One ProviderConfig and the resources.
    assert_eq!(files.len(), case.resources + 1, "{files:#?}");
    for (p, text) in &files {
        for (_, v) in &case.creds {
            assert!(!text.contains(v), "a credential in {}", p.display());
        }
    }
    // validate: the export passes the CRD schemas and CEL rules offline.
    let (code, stdout, stderr) = cli(&["validate", "-f", &dir_s], &[]).await;
    assert_eq!(code, 0, "validate of the export: {stdout} {stderr}");

    // A second export of the unchanged account, this time with the credentials read from the
    // cluster (--credentials-secret), is byte-identical.
    let secret_name = format!("{}-credentials", case.provider);
    secret(&client, &ns, &secret_name, &case.creds).await;
    let again = std::env::temp_dir().join(format!("ssoperator-export-{ns}-again"));
    let _ = std::fs::remove_dir_all(&again);
    let mut args2 = args.clone();
    let again_s = again.display().to_string();
    let at = args2.iter().position(|a| *a == dir_s).unwrap();
    args2[at] = &again_s;
    let from_cluster = format!("{ns}/{secret_name}");
    args2.extend(["--credentials-secret", &from_cluster]);
    let kubeconfig = vec![(
        "KUBECONFIG".to_string(),
        support::kubeconfig_path().to_string(),
    )];
    let (code, _, stderr) = cli(&args2, &kubeconfig).await;
    assert_eq!(code, 0, "export with --credentials-secret: {stderr}");
    let second: Vec<String> = read_dir(&again).into_iter().map(|(_, t)| t).collect();
    let first: Vec<String> = files.iter().map(|(_, t)| t.clone()).collect();
    assert_eq!(first, second, "a re-export differs");

    // kubectl apply -> all Ready, no provider write.
    kubectl_apply(&dir);
    let op = Operator::start(&client, &ns);
    let n = wait_all_ready(&client, &ns).await;
    assert_eq!(n, case.resources);
    assert_eq!(
        writes(&core),
        w0,
        "provider writes after applying the export"
    );

    // Manage: still no write, over resyncs in which the operator reconciled.
    manage_all(&client, &ns).await;
    wait_all_ready(&client, &ns).await;
    assert_quiet(&op, || writes(&core), 2).await;
    assert_eq!(writes(&core), w0, "provider writes under Manage");

    // diff on the export: nothing, exit 0 (credentials from a file this time).
    let creds_file = std::env::temp_dir().join(format!("ssoperator-creds-{ns}.yaml"));
    let string_data: serde_json::Map<String, Value> = case
        .creds
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    std::fs::write(
        &creds_file,
        serde_yaml::to_string(&json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": secret_name, "namespace": ns}, "stringData": string_data}))
        .unwrap(),
    )
    .unwrap();
    let creds_s = creds_file.display().to_string();
    let (code, stdout, stderr) =
        cli(&["diff", "-f", &dir_s, "--credentials-file", &creds_s], &[]).await;
    assert_eq!(
        (code, stdout.as_str()),
        (0, ""),
        "diff of the export: {stderr}"
    );

    // One field changed in the file: exactly that field, exit 1.
    let (prefix, pointer, value, path) = &case.edit;
    let (file, text) = files
        .iter()
        .find(|(p, _)| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .unwrap_or_else(|| panic!("no exported file starts with {prefix}: {files:#?}"));
    let mut doc: Value = serde_yaml::from_str(text).unwrap();
    *doc.pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{pointer} not in {text}")) = value.clone();
    std::fs::write(file, serde_yaml::to_string(&doc).unwrap()).unwrap();
    let (code, stdout, stderr) = cli(&["diff", "-f", &dir_s], &env).await;
    println!("{} diff after editing {pointer}:\n{stdout}", case.provider);
    assert_eq!(code, 1, "diff after an edit: {stdout} {stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("~ "), "{stdout}");
    assert!(
        lines[1]
            .trim_start()
            .starts_with(&format!("~ spec.{path}: ")),
        "{stdout}"
    );
    assert_eq!(writes(&core), w0, "diff wrote to the provider");
    // The edited file is still valid; a broken one is refused with its field path.
    let (code, _, _) = cli(&["validate", "-f", &file.display().to_string()], &[]).await;
    assert_eq!(code, 0);
    let mut broken = doc.clone();
    broken["spec"]["deletionPolicy"] = json!("Sometimes");
    std::fs::write(file, serde_yaml::to_string(&broken).unwrap()).unwrap();
    let (code, stdout, _) = cli(&["validate", "-f", &file.display().to_string()], &[]).await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains(": spec.deletionPolicy: "), "{stdout}");
    let _ = std::fs::remove_file(&creds_file);
    drop(op);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&again);
}

const CLERK_KEY: &str = "sk_test_export0000000000000000";

fn clerk_saml(name: &str, domain: &str, sso: &str) -> Value {
    json!({"name": name, "provider": "saml_custom", "domains": [domain],
           "saml": {"idp_entity_id": format!("https://{domain}/idp"), "idp_sso_url": sso}})
}

#[tokio::test]
async fn clerk_export_apply_manage_diff_round_trip() {
    let clerk = ClerkEmulator::new(CLERK_KEY);
    clerk
        .insert_from_body(
            "ent_acme1",
            clerk_saml("Acme SSO", "acme.example", "https://acme.example/sso"),
        )
        .unwrap();
    // The same name twice (Clerk allows it): two resources with stable, different names.
    clerk
        .insert_from_body(
            "ent_acme2",
            clerk_saml("Acme SSO", "acme2.example", "https://acme2.example/sso"),
        )
        .unwrap();
    clerk
        .insert_from_body(
            "ent_globex",
            clerk_saml(
                "Globex (EU)",
                "globex.example",
                "https://globex.example/sso",
            ),
        )
        .unwrap();
    let run = serve(clerk.router()).await;
    round_trip(
        Case {
            provider: "clerk",
            account: None,
            url: run.url(),
            creds: vec![("secretKey", CLERK_KEY)],
            edit: (
                "enterpriseconnection-globex-eu",
                "/spec/saml/idpSsoUrl",
                json!("https://globex.example/sso2"),
                "saml.idpSsoUrl",
            ),
            resources: 3,
        },
        clerk.core(),
    )
    .await;
}

#[tokio::test]
async fn auth0_export_apply_manage_diff_round_trip() {
    let auth0 = Auth0Emulator::new(
        "export.eu.auth0.com",
        "export-client-id",
        "export-client-secret-000",
    );
    auth0.insert_profile(
        "cop_1",
        serde_json::from_value(json!({"name": "Default profile",
            "organization": {"show_as_button": "optional", "assign_membership_on_login": "required"},
            "connection_name_prefix_template": "con-{org_id}",
            "enabled_features": ["scim", "universal_logout"]}))
        .unwrap(),
    );
    auth0.insert_profile(
        "cop_2",
        serde_json::from_value(json!({"name": "Bare"})).unwrap(),
    );
    let run = serve(auth0.router()).await;
    round_trip(
        Case {
            provider: "auth0",
            account: Some("export.eu.auth0.com"),
            url: run.url(),
            creds: vec![
                ("clientId", "export-client-id"),
                ("clientSecret", "export-client-secret-000"),
            ],
            edit: (
                "connectionprofile-default-profile",
                "/spec/connectionNamePrefixTemplate",
                json!("acme-{org_id}"),
                "connectionNamePrefixTemplate",
            ),
            resources: 2,
        },
        auth0.core(),
    )
    .await;
}

const LR_ORG: &str = "org_export0000000000";

#[tokio::test]
async fn loginradius_export_apply_manage_diff_round_trip() {
    let lr = LoginRadiusEmulator::new(
        "00000000-expo-4000-8000-000000000000",
        "export-api-secret-0000",
        LR_ORG,
    );
    lr.insert_connection(
        "conn_acme",
        serde_json::from_value(
            json!({"Name": "Acme Okta", "Domain": "acme.example", "IsActive": true,
            "ConnectionType": "saml_okta", "IDPEntityId": "http://www.okta.com/exk1",
            "IDPMetadataUrl": "https://acme.okta.example/app/exk1/sso/saml/metadata",
            "IsIDPInitiated": false,
            "GroupRoles": [{"GroupId": "00g1", "Name": "Engineering", "RoleId": "role_dev"}]}),
        )
        .unwrap(),
    );
    // No group roles: a connection only (no OrgRoleMapping is exported for it).
    lr.insert_connection(
        "conn_globex",
        serde_json::from_value(
            json!({"Name": "Globex", "Domain": "globex.example", "IsActive": false,
            "ConnectionType": "saml_custom", "IDPEntityId": "urn:globex"}),
        )
        .unwrap(),
    );
    let run = serve(lr.router()).await;
    round_trip(
        Case {
            provider: "loginradius",
            account: Some(LR_ORG),
            url: run.url(),
            creds: vec![
                ("apiKey", "00000000-expo-4000-8000-000000000000"),
                ("apiSecret", "export-api-secret-0000"),
            ],
            edit: (
                "enterpriseconnection-acme-okta",
                "/spec/saml/idpEntityId",
                json!("http://www.okta.com/exk2"),
                "saml.idpEntityId",
            ),
            resources: 3,
        },
        lr.core(),
    )
    .await;
}

const QOVERY_ORG: &str = "0b8d2c4e-9b1a-4c7e-8f2d-5a6b7c8d9e01";

#[tokio::test]
async fn qovery_export_apply_manage_diff_round_trip() {
    let q = QoveryEmulator::new("qov_export_token_000000", vec![QOVERY_ORG.to_string()]);
    q.insert_connection("acme-okta-saml", "viewer");
    q.edit_connection("acme-okta-saml", |dto| {
        dto.enforce_group_sync = true;
        dto.group_mappings = [
            ("admin".to_string(), vec!["ops".to_string()]),
            (
                "devops".to_string(),
                vec!["ops".to_string(), "platform".to_string()],
            ),
        ]
        .into_iter()
        .collect();
    });
    let run = serve(q.router()).await;
    round_trip(
        Case {
            provider: "qovery",
            account: Some(QOVERY_ORG),
            url: run.url(),
            creds: vec![("token", "qov_export_token_000000")],
            edit: (
                "orgrolemapping-acme-okta-saml",
                "/spec/defaultRole",
                json!("admin"),
                "defaultRole",
            ),
            resources: 2,
        },
        q.core(),
    )
    .await;
}

const FED: &str = "6e1e2d3c4b5a69788796a5b4";
const ORG: &str = "6e0b1c2d3e4f5a6b7c8d9e0f";

#[tokio::test]
async fn atlas_export_apply_manage_diff_round_trip() {
    let atlas = AtlasEmulator::new("exportpk", "00000000-expo-4000-8000-notarealkey0", FED);
    atlas.insert_org_config(ORG, Some("0a1de0000000000000e1"));
    atlas.edit_org_config(ORG, |cfg| {
        cfg.domain_allow_list = vec!["acme.example".into()];
        cfg.domain_restriction_enabled = true;
        cfg.post_auth_role_grants = vec!["ORG_MEMBER".into()];
        cfg.role_mappings = vec![RoleMapping {
            external_group_name: "dba".into(),
            id: AtlasEmulator::new_id(),
            role_assignments: vec![
                RoleAssignment {
                    group_id: None,
                    org_id: Some(ORG.into()),
                    role: "ORG_OWNER".into(),
                },
                RoleAssignment {
                    group_id: Some("6e0b1c2d3e4f5a6b7c8d9e99".into()),
                    org_id: None,
                    role: "GROUP_READ_ONLY".into(),
                },
            ],
        }];
    });
    let run = serve(atlas.router()).await;
    round_trip(
        Case {
            provider: "atlas",
            account: Some(FED),
            url: run.url(),
            creds: vec![
                ("publicKey", "exportpk"),
                ("privateKey", "00000000-expo-4000-8000-notarealkey0"),
            ],
            edit: (
                "orgrolemapping-",
                "/spec/atlas/domainRestrictionEnabled",
                json!(false),
                "atlas.domainRestrictionEnabled",
            ),
            resources: 1,
        },
        atlas.core(),
    )
    .await;
}

/// 1000 Clerk connections in ⌈1000/500⌉ = 2 list calls and nothing else (SAML connections have no
/// write-only value to fetch), with one plain progress line per page when stderr is no terminal.
#[tokio::test]
async fn clerk_export_of_1000_connections_takes_two_list_calls() {
    let clerk = ClerkEmulator::new(CLERK_KEY);
    for i in 0..1000 {
        clerk
            .insert_from_body(
                &format!("ent_{i:04}"),
                clerk_saml(
                    &format!("Tenant {i}"),
                    &format!("t{i}.example"),
                    "https://idp.example/sso",
                ),
            )
            .unwrap();
    }
    let run = serve(clerk.router()).await;
    let env = vec![(
        ssoperator::cli::env_name("secretKey"),
        CLERK_KEY.to_string(),
    )];
    let (code, stdout, stderr) = cli(
        &[
            "export",
            "--provider",
            "clerk",
            "--endpoint",
            &run.url(),
            "-n",
            "big",
        ],
        &env,
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let calls = clerk.core().calls();
    let total: u64 = calls.values().sum();
    let lists: u64 = calls
        .iter()
        .filter(|(k, _)| k.starts_with("GET ") && k.ends_with("/enterprise_connections"))
        .map(|(_, n)| n)
        .sum();
    println!(
        "clerk export of 1000 connections: {lists} list calls, {total} calls in all: {calls:?}"
    );
    assert_eq!(lists, 2, "{calls:?}");
    assert_eq!(total, lists, "calls besides the list: {calls:?}");
    let docs = stdout.matches("\nkind: EnterpriseConnection\n").count();
    assert_eq!(stdout.matches("\n---\n").count(), 1000);
    assert_eq!(docs, 1000);
    assert_eq!(
        stdout.matches("\nkind: ProviderConfig\n").count(),
        1,
        "{}",
        &stdout[..stdout.len().min(2000)]
    );
    let progress: Vec<&str> = stderr.lines().filter(|l| l.contains(": page ")).collect();
    assert_eq!(
        progress,
        [
            "export clerk: EnterpriseConnection: page 1: 500 objects (500 so far)",
            "export clerk: EnterpriseConnection: page 2: 500 objects (1000 so far)",
        ],
        "{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "terminal escapes without a terminal: {stderr:?}"
    );
}

/// An OIDC connection's client secret, which Clerk never returns, becomes a secretRef listed on
/// stderr, never a value; a refused key fails with the provider, the call and its HTTP status,
/// without the key.
#[tokio::test]
async fn clerk_export_refers_to_secrets_it_cannot_read_and_names_failed_calls() {
    let clerk = ClerkEmulator::new(CLERK_KEY);
    clerk
        .insert_from_body(
            "ent_oidc",
            json!({"name": "Okta OIDC", "provider": "oidc_custom", "domains": ["okta.example"],
                   "oidc": {"client_id": "okta-client", "client_secret": "the-client-secret-value",
                            "discovery_url": "https://okta.example/.well-known/openid-configuration"}}),
        )
        .unwrap();
    let run = serve(clerk.router()).await;
    let env = vec![(
        ssoperator::cli::env_name("secretKey"),
        CLERK_KEY.to_string(),
    )];
    let url = run.url();
    let base = [
        "export",
        "--provider",
        "clerk",
        "--endpoint",
        &url,
        "-n",
        "sso",
    ];
    let (code, stdout, stderr) = cli(&base, &env).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !stdout.contains("the-client-secret-value") && !stderr.contains("the-client-secret-value")
    );
    let docs: Vec<Value> = stdout
        .split("\n---\n")
        .map(|d| serde_yaml::from_str(d).unwrap())
        .collect();
    let ec = docs
        .iter()
        .find(|d| d["kind"] == "EnterpriseConnection")
        .unwrap();
    assert_eq!(
        ec["spec"]["oidc"],
        json!({"clientId": "okta-client",
               "clientSecretRef": {"name": "okta-oidc-client-secret", "key": "clientSecret"},
               "discoveryUrl": "https://okta.example/.well-known/openid-configuration",
               // Clerk fills these from the discovery document.
               "authUrl": "https://okta.example/oauth2/authorize",
               "tokenUrl": "https://okta.example/oauth2/token",
               "userInfoUrl": "https://okta.example/oauth2/userinfo",
               "requiresPkce": false})
    );
    assert!(
        stderr.contains("Secret sso/okta-oidc-client-secret key clientSecret (EnterpriseConnection/okta-oidc spec.oidc.clientSecretRef)"),
        "{stderr}"
    );
    assert!(
        stdout
            .contains("# spec.oidc.clientSecretRef: the provider never returns the client secret"),
        "{stdout}"
    );

    // JSON output: a List, the same objects.
    let mut json_args = base.to_vec();
    json_args.extend(["-o", "json"]);
    let (code, stdout, _) = cli(&json_args, &env).await;
    assert_eq!(code, 0);
    let list: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert_eq!(list["items"][1], *ec);

    let wrong = vec![(
        ssoperator::cli::env_name("secretKey"),
        "sk_test_wrongwrongwrong".to_string(),
    )];
    let (code, stdout, stderr) = cli(&base, &wrong).await;
    assert_eq!(code, 2, "{stdout}");
    assert!(stdout.is_empty());
    // Clerk answers an unknown key with 403 (authentication_invalid).
    assert!(
        stderr.contains("clerk list (HTTP 403): unauthenticated"),
        "{stderr}"
    );
    assert!(!stderr.contains("wrongwrong"), "{stderr}");
    let (code, _, stderr) = cli(&base, &[]).await;
    assert_eq!(code, 2);
    assert!(stderr.contains("SSOPERATOR_CRED_SECRET_KEY"), "{stderr}");

    // diff: a resource without externalName whose name is free would be created (exit 1); one
    // whose ProviderConfig is not among the files is an error (exit 2).
    let dir = std::env::temp_dir().join(format!("ssoperator-diff-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pc = docs.iter().find(|d| d["kind"] == "ProviderConfig").unwrap();
    let new_conn = json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
        "metadata": {"name": "brand-new", "namespace": "sso"},
        "spec": {"providerConfigRef": {"name": "clerk"}, "name": "Brand new", "domains": ["new.example"],
                 "saml": {"idpEntityId": "urn:new", "idpSsoUrl": "https://new.example/sso"}}});
    std::fs::write(dir.join("pc.yaml"), serde_yaml::to_string(pc).unwrap()).unwrap();
    std::fs::write(
        dir.join("new.yaml"),
        serde_yaml::to_string(&new_conn).unwrap(),
    )
    .unwrap();
    let dir_s = dir.display().to_string();
    let (code, stdout, stderr) = cli(&["diff", "-f", &dir_s], &env).await;
    assert_eq!(code, 1, "{stdout} {stderr}");
    assert_eq!(
        stdout,
        "+ EnterpriseConnection sso/brand-new (clerk: \"Brand new\" does not exist and would be created)\n    + spec.domains: [\"new.example\"]\n    + spec.name: \"Brand new\"\n    + spec.saml.idpEntityId: \"urn:new\"\n    + spec.saml.idpSsoUrl: \"https://new.example/sso\"\n"
    );
    std::fs::remove_file(dir.join("pc.yaml")).unwrap();
    let (code, stdout, stderr) = cli(&["diff", "-f", &dir_s], &env).await;
    assert_eq!(code, 2, "{stdout}");
    assert!(
        stderr.contains("ProviderConfig sso/clerk is not in the files"),
        "{stderr}"
    );
    assert_eq!(clerk.core().writes(), 0, "diff wrote");
    let _ = std::fs::remove_dir_all(&dir);
}

/// On a terminal the progress is an indicatif bar, not lines: the export runs under `script`
/// (a pty for stderr; stdout goes to a file), with 400 ms of emulator latency per call so that
/// the bar draws before the export ends.
#[tokio::test]
async fn export_progress_is_a_bar_on_a_terminal() {
    let clerk = ClerkEmulator::new(CLERK_KEY);
    for i in 0..600 {
        clerk
            .insert_from_body(
                &format!("ent_{i:04}"),
                clerk_saml(
                    &format!("Tenant {i}"),
                    &format!("t{i}.example"),
                    "https://idp.example/sso",
                ),
            )
            .unwrap();
    }
    clerk.core().set_faults(ssoperator_emulators::Faults {
        latency: std::time::Duration::from_millis(400),
        ..Default::default()
    });
    let run = serve(clerk.router()).await;
    let out_file = std::env::temp_dir().join(format!("ssoperator-tty-{}.yaml", std::process::id()));
    let inner = format!(
        "SSOPERATOR_CRED_SECRET_KEY={CLERK_KEY} {} export --provider clerk --endpoint {} -n tty > {}",
        env!("CARGO_BIN_EXE_ssoperator"),
        run.url(),
        out_file.display()
    );
    let out = tokio::process::Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .output()
        .await
        .expect("run script (util-linux)");
    let tty = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{tty}");
    assert!(
        tty.contains("export clerk: EnterpriseConnection page "),
        "no progress bar on the terminal: {tty:?}"
    );
    assert!(
        !tty.contains("objects (500 so far)"),
        "plain lines on a terminal: {tty:?}"
    );
    let yaml = std::fs::read_to_string(&out_file).unwrap();
    assert_eq!(yaml.matches("\nkind: EnterpriseConnection\n").count(), 600);
    let _ = std::fs::remove_file(&out_file);
}

/// `diff` of an OrgRoleMapping that names its connection by `connectionRef` (not
/// `externalName`): the EnterpriseConnection among the files gives the provider id.
#[tokio::test]
async fn diff_resolves_connection_ref_from_the_files() {
    let q = QoveryEmulator::new("qov_diff_token_0000000", vec![QOVERY_ORG.to_string()]);
    q.insert_connection("acme-okta-saml", "viewer");
    let run = serve(q.router()).await;
    let dir = std::env::temp_dir().join(format!("ssoperator-diffref-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let docs = [
        json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "ProviderConfig",
            "metadata": {"name": "qovery", "namespace": "sso"},
            "spec": {"qovery": {"organizationId": QOVERY_ORG}, "credentialsSecretRef": {"name": "q"},
                     "endpoint": run.url()}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "q", "namespace": "sso"},
            "stringData": {"token": "qov_diff_token_0000000"}}),
        json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
            "metadata": {"name": "acme", "namespace": "sso"},
            "spec": {"providerConfigRef": {"name": "qovery"}, "name": "acme-okta-saml", "saml": {}}}),
        json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "OrgRoleMapping",
            "metadata": {"name": "acme-roles", "namespace": "sso"},
            "spec": {"providerConfigRef": {"name": "qovery"}, "connectionRef": {"name": "acme"},
                     "defaultRole": "viewer", "mappings": []}}),
    ];
    let text: Vec<String> = docs
        .iter()
        .map(|d| serde_yaml::to_string(d).unwrap())
        .collect();
    let file = dir.join("all.yaml");
    std::fs::write(&file, text.join("---\n")).unwrap();
    let file_s = file.display().to_string();
    // Credentials from the Secret among the files; nothing in the environment.
    let (code, stdout, stderr) = cli(&["diff", "-f", &file_s], &[]).await;
    assert_eq!((code, stdout.as_str()), (0, ""), "{stderr}");
    let edited = text
        .join("---\n")
        .replace("defaultRole: viewer", "defaultRole: admin");
    std::fs::write(&file, edited).unwrap();
    let (code, stdout, stderr) = cli(&["diff", "-f", &file_s], &[]).await;
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        stdout,
        "~ OrgRoleMapping sso/acme-roles (qovery acme-okta-saml)\n    ~ spec.defaultRole: \"viewer\" -> \"admin\"\n"
    );
    assert_eq!(q.core().writes(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
