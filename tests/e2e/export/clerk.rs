//! Exports from Clerk: paging through 1000 connections, progress lines or a bar, secrets it
//! cannot read, and failed calls.

use super::*;

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
