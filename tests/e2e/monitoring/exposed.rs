//! Every metric a panel or an alert names is on a running operator binary's `/metrics`.

use super::*;

/// The sample names of a text exposition (`name{...} value` or `name value`).
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn every_metric_the_dashboard_and_alerts_name_is_on_a_running_operators_metrics() {
    let (dashboard, rule) = rendered();
    let mut wanted: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (what, expr) in expressions(&dashboard, &rule) {
        for name in metric_names(&expr) {
            wanted.entry(name).or_default().push(what.clone());
        }
    }
    // The templating variables read label values of a metric too.
    for v in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(q) = v["definition"]
            .as_str()
            .and_then(|q| q.strip_prefix("label_values("))
        {
            let metric = q.split([',', '{']).next().unwrap().trim().to_string();
            wanted
                .entry(metric)
                .or_default()
                .push(format!("variable {}", v["name"]));
        }
    }
    assert!(wanted.len() >= 10, "{wanted:?}");

    // A Qovery account that answers the first calls with 429, behind a ProviderConfig whose own
    // rate limit makes calls wait; a connection with a role mapping; a connection whose
    // ProviderConfig does not exist (a reconcile error); a console edit (a drift repair).
    let (client, ns) = setup().await;
    let emu = QoveryEmulator::new("qov_mon_token", vec![ORG.to_string()]);
    emu.insert_connection("acme-sso", "viewer");
    let running = serve(emu.router()).await;
    emu.core().set_faults(Faults {
        rate_limit_storm: 2,
        ..Faults::default()
    });
    secret(&client, &ns, "qovery-creds", &[("token", "qov_mon_token")]).await;
    apply(
        &client,
        &ns,
        json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "ProviderConfig",
        "metadata": {"name": "qovery"}, "spec": {"credentialsSecretRef": {"name": "qovery-creds"},
        "endpoint": running.url(), "qovery": {"organizationId": ORG},
        "rateLimit": {"requestsPerSecond": 2, "burst": 1}}}),
    )
    .await;
    apply(&client, &ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
        "metadata": {"name": "acme"}, "spec": {"providerConfigRef": {"name": "qovery"}, "name": "acme-sso", "saml": {}}})).await;
    apply(&client, &ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "OrgRoleMapping",
        "metadata": {"name": "acme-roles"}, "spec": {"providerConfigRef": {"name": "qovery"}, "connectionRef": {"name": "acme"},
        "defaultRole": "viewer", "mappings": [{"externalGroup": "Administrators", "roles": [{"role": "admin"}]}]}})).await;
    apply(&client, &ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
        "metadata": {"name": "orphan"}, "spec": {"providerConfigRef": {"name": "missing"}, "name": "orphan-sso",
        "saml": {"idpCertificate": crate::idp::certificate("orphan-idp", -1, 400).pem}}})).await;

    // The operator binary, leader-elected, scoped to the namespace.
    let tmp = tempdir("monitoring");
    let port = free_port();
    let log = tmp.join("operator.log");
    let log_file = std::fs::File::create(&log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_ssoperator"))
        .args([
            format!("--namespaces={ns}"),
            format!("--resync={}s", RESYNC.as_secs()),
            format!("--metrics-addr=127.0.0.1:{port}"),
            "--leader-elect".into(),
            format!("--lease-namespace={ns}"),
            "--cluster-provider-configs=false".into(),
            "--log-format=text".into(),
        ])
        .env("KUBECONFIG", support::kubeconfig_path())
        .env("POD_NAME", format!("monitoring-{ns}"))
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .unwrap();
    let op = OperatorProcess { child, log };

    provider_ready(&client, &ns, "qovery").await;
    wait_for::<EnterpriseConnection>(&client, &ns, "acme", "Ready", ready).await;
    wait_for::<OrgRoleMapping>(&client, &ns, "acme-roles", "Ready", ready).await;
    emu.edit_connection("acme-sso", |c| c.group_mappings.clear());
    wait_event(&client, &ns, "acme-roles", "DriftRepaired").await;

    let url = format!("http://127.0.0.1:{port}/metrics");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let (text, missing) = loop {
        let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
        let exposed = sample_names(&text);
        let missing: BTreeMap<_, _> = wanted
            .iter()
            .filter(|(name, _)| !exposed.contains(*name))
            .collect();
        if missing.is_empty() || tokio::time::Instant::now() > deadline {
            break (text, format!("{missing:#?}"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(
        missing,
        "{}",
        "metrics named by the dashboard or the alerts but not on /metrics:\n/metrics:\n{text}\nlog:\n{}",
        op.log()
    );
    // The values behind them are the ones this run caused.
    let has = |needle: &str| text.lines().any(|l| l.starts_with(needle));
    assert!(has("ssoperator_leader 1"), "{text}");
    assert!(
        has(
            r#"ssoperator_resources{kind="EnterpriseConnection",condition="Ready",status="True"} 1"#
        ),
        "{text}"
    );
    assert!(
        has(
            r#"ssoperator_resources{kind="EnterpriseConnection",condition="Ready",status="False"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"status="429""#), "{text}");
    // The orphan's IdP certificate is watched although its ProviderConfig is missing.
    assert!(
        text.lines().any(|l| l.starts_with(&format!(
            "ssoperator_idp_certificate_expiry_timestamp_seconds{{namespace=\"{ns}\",name=\"orphan\""
        ))),
        "{text}"
    );
    eprintln!(
        "monitoring: {} metric names from {} expressions all exposed",
        wanted.len(),
        expressions(&dashboard, &rule).len()
    );
    drop(op);
    support::delete_namespace(&client, &ns).await;
}
