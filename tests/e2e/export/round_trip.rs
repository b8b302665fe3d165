//! The export, apply, Manage and diff round trip, once per provider.

use super::*;

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
