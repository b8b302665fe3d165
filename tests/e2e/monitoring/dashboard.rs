//! The dashboard and the PrometheusRule as rendered: opt-in, a well-formed dashboard, rules that
//! pass `promtool check rules`.

use super::*;

/// Structural checks Grafana relies on: unique panel ids, a gridPos inside the 24 columns and no
/// two panels overlapping, every non-row panel with the templated Prometheus datasource and
/// targets that each have an expr and a refId unique within the panel; templating variables that
/// query the same datasource.
fn lint_dashboard(d: &Value) {
    for key in ["title", "uid", "schemaVersion", "panels", "templating"] {
        assert!(!d[key].is_null(), "dashboard has no {key}");
    }
    let ds = json!({"type": "prometheus", "uid": "${datasource}"});
    let vars = d["templating"]["list"].as_array().unwrap();
    assert!(
        vars.iter().any(|v| v["name"] == "datasource"
            && v["type"] == "datasource"
            && v["query"] == "prometheus"),
        "a datasource variable of type prometheus"
    );
    for v in vars.iter().filter(|v| v["type"] == "query") {
        assert_eq!(v["datasource"], ds, "variable {}", v["name"]);
    }
    let panels = d["panels"].as_array().unwrap();
    assert!(panels.len() >= 10, "{} panels", panels.len());
    let mut ids = BTreeSet::new();
    let mut cells: BTreeMap<(i64, i64), String> = BTreeMap::new();
    for p in panels {
        let title = p["title"].as_str().unwrap_or_default().to_string();
        assert!(!title.is_empty(), "a panel without title: {p}");
        let id = p["id"].as_i64().unwrap_or_else(|| panic!("{title}: no id"));
        assert!(ids.insert(id), "{title}: id {id} is used twice");
        let g = &p["gridPos"];
        let [h, w, x, y] = ["h", "w", "x", "y"].map(|k| {
            g[k].as_i64()
                .unwrap_or_else(|| panic!("{title}: gridPos.{k}"))
        });
        assert!(
            h > 0 && w > 0 && x >= 0 && y >= 0 && x + w <= 24,
            "{title}: gridPos {g}"
        );
        for cx in x..x + w {
            for cy in y..y + h {
                if let Some(other) = cells.insert((cx, cy), title.clone()) {
                    panic!("{title} overlaps {other} at ({cx}, {cy})");
                }
            }
        }
        if p["type"] == "row" {
            continue;
        }
        assert!(
            ["timeseries", "stat", "gauge", "table", "bargauge"]
                .contains(&p["type"].as_str().unwrap()),
            "{title}: type {}",
            p["type"]
        );
        assert_eq!(p["datasource"], ds, "{title}: datasource");
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("{title}: no targets"));
        assert!(!targets.is_empty(), "{title}: no targets");
        let mut refs = BTreeSet::new();
        for t in targets {
            assert_eq!(t["datasource"], ds, "{title}: target datasource");
            let expr = t["expr"].as_str().unwrap_or_default();
            assert!(!expr.trim().is_empty(), "{title}: a target without expr");
            assert!(
                refs.insert(t["refId"].as_str().unwrap().to_string()),
                "{title}: refId twice"
            );
            assert_eq!(
                expr.matches('(').count(),
                expr.matches(')').count(),
                "{title}: unbalanced parentheses in {expr}"
            );
        }
    }
}

#[test]
fn dashboard_and_rules_are_opt_in_well_formed_and_pass_promtool() {
    // Off by default: deploy/ (the default render) carries neither.
    let defaults = render("mon", "ops", &[]);
    assert!(
        !defaults.iter().any(|d| d["kind"] == "PrometheusRule"
            || (d["kind"] == "ConfigMap" && d["metadata"]["name"] == "mon-ssoperator-dashboard")),
        "the dashboard and the rules are opt-in"
    );

    let (dashboard, rule) = rendered();
    lint_dashboard(&dashboard);
    let d = dashboard.to_string();
    for needle in [
        "ssoperator_resources",
        "condition=\\\"Synced\\\"",
        "ssoperator_reconciles_total",
        "ssoperator_reconcile_errors_total",
        "status=\\\"429\\\"",
        "ssoperator_rate_limit_waits_total",
        "ssoperator_drift_repairs_total",
        "ssoperator_status_writes_total",
        "ssoperator_leader",
    ] {
        assert!(d.contains(needle), "no panel uses {needle}");
    }
    let alerts: BTreeSet<_> = rule["spec"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["alert"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        alerts,
        [
            "SsoperatorDown",
            "SsoperatorNoLeader",
            "SsoperatorResourcesNotReady",
            "SsoperatorRepeatedDriftRepairs",
            "SsoperatorProviderRateLimited",
            "SsoperatorIdpCertificateExpiring",
            "SsoperatorIdpCertificateExpired"
        ]
        .map(String::from)
        .into(),
    );
    // Every alert reads this release's series only.
    for (what, expr) in expressions(&dashboard, &rule) {
        if what.starts_with("alert") {
            assert!(
                expr.contains(r#"job="mon-ssoperator-metrics", namespace="ops""#),
                "{what}: {expr}"
            );
        }
    }

    // promtool: the rule file is the PrometheusRule's spec; its unit tests show the alerts fire.
    let dir = tempdir("promtool");
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, serde_json::to_string_pretty(&rule["spec"]).unwrap()).unwrap();
    let promtool = tools_bin().join("promtool");
    let out = run(
        Command::new(&promtool)
            .arg("check")
            .arg("rules")
            .arg(&rules),
        None,
    );
    assert!(
        out.ok,
        "promtool check rules:\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout.contains("SUCCESS: 7 rules found"),
        "{}",
        out.stdout
    );
    let sel = r#"job="mon-ssoperator-metrics", namespace="ops""#;
    let tests = json!({
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [
                {"series": format!("ssoperator_leader{{{sel}, pod=\"a\"}}"), "values": "1x10 _x10"},
                {"series": format!("ssoperator_leader{{{sel}, pod=\"b\"}}"), "values": "0x10 _x10"},
                {"series": format!("ssoperator_resources{{{sel}, kind=\"EnterpriseConnection\", condition=\"Ready\", status=\"False\"}}"), "values": "1x20"},
                {"series": format!("ssoperator_resources{{{sel}, kind=\"OrgRoleMapping\", condition=\"Ready\", status=\"False\"}}"), "values": "0x20"},
                {"series": format!("ssoperator_drift_repairs_total{{{sel}, kind=\"OrgRoleMapping\"}}"), "values": "0+1x20"},
                {"series": format!("ssoperator_provider_calls_total{{{sel}, provider=\"clerk\", operation=\"get\", status=\"200\"}}"), "values": "0+100x40"},
                {"series": format!("ssoperator_provider_calls_total{{{sel}, provider=\"clerk\", operation=\"get\", status=\"429\"}}"), "values": "0+5x40"},
                {"series": format!("ssoperator_provider_calls_total{{{sel}, provider=\"auth0\", operation=\"get\", status=\"200\"}}"), "values": "0+100x40"},
                // promtool's clock starts at 0: one certificate expires 14 days less an hour
                // from then, one 10 minutes from then. The resource's namespace label is stored as
                // exported_namespace (the scrape's namespace label wins).
                {"series": format!("ssoperator_idp_certificate_expiry_timestamp_seconds{{{sel}, exported_namespace=\"ns\", name=\"soon\", kind=\"EnterpriseConnection\", provider=\"clerk\", fingerprint=\"AA\"}}"), "values": "1206000x40"},
                {"series": format!("ssoperator_idp_certificate_expiry_timestamp_seconds{{{sel}, exported_namespace=\"ns\", name=\"gone\", kind=\"EnterpriseConnection\", provider=\"loginradius\", fingerprint=\"BB\"}}"), "values": "600x40"},
            ],
            "alert_rule_test": [
                {"eval_time": "9m", "alertname": "SsoperatorDown", "exp_alerts": []},
                {"eval_time": "9m", "alertname": "SsoperatorNoLeader", "exp_alerts": []},
                {"eval_time": "22m", "alertname": "SsoperatorDown",
                 "exp_alerts": [{"exp_labels": {"severity": "critical", "job": "mon-ssoperator-metrics", "namespace": "ops"},
                   "exp_annotations": {"summary": "ssoperator is down",
                     "description": "No replica of ssoperator in ops has been scraped for 5 minutes: SSO resources are not reconciled."}}]},
                {"eval_time": "10m", "alertname": "SsoperatorResourcesNotReady", "exp_alerts": []},
                {"eval_time": "16m", "alertname": "SsoperatorResourcesNotReady",
                 "exp_alerts": [{"exp_labels": {"severity": "warning", "kind": "EnterpriseConnection"},
                   "exp_annotations": {"summary": "EnterpriseConnection resources not Ready",
                     "description": "1 EnterpriseConnection resources have had Ready False or Unknown for 15m. kubectl get enterpriseconnection -A shows which; their Ready condition and Events say why."}}]},
                {"eval_time": "2m", "alertname": "SsoperatorRepeatedDriftRepairs", "exp_alerts": []},
                {"eval_time": "10m", "alertname": "SsoperatorRepeatedDriftRepairs",
                 "exp_alerts": [{"exp_labels": {"severity": "warning", "kind": "OrgRoleMapping"},
                   "exp_annotations": {"summary": "OrgRoleMapping drift repaired repeatedly",
                     "description": "ssoperator repaired drift of OrgRoleMapping resources at their provider 10 times in the last hour (threshold 3): someone or something keeps changing them in the provider's console or API. The DriftRepaired Events and status.lastDrift name the fields."}}]},
                {"eval_time": "5m", "alertname": "SsoperatorIdpCertificateExpiring", "exp_alerts": []},
                {"eval_time": "15m", "alertname": "SsoperatorIdpCertificateExpiring",
                 "exp_alerts": [{"exp_labels": {"severity": "warning", "exported_namespace": "ns", "name": "soon", "kind": "EnterpriseConnection", "provider": "clerk", "fingerprint": "AA"},
                   "exp_annotations": {"summary": "IdP certificate of ns/soon expires soon",
                     "description": "The IdP signing certificate AA of EnterpriseConnection ns/soon (clerk) expires in 13d 22h 45m 0s (threshold 14 days). When it expires nobody can sign in through this connection: have the IdP publish a new certificate and put it in the spec, or set spec.saml.idpMetadataUrl so that ssoperator sends it. status.idpCertificates lists it."}}]},
                {"eval_time": "5m", "alertname": "SsoperatorIdpCertificateExpired", "exp_alerts": []},
                {"eval_time": "15m", "alertname": "SsoperatorIdpCertificateExpired",
                 "exp_alerts": [{"exp_labels": {"severity": "critical", "exported_namespace": "ns", "name": "gone", "kind": "EnterpriseConnection", "provider": "loginradius", "fingerprint": "BB"},
                   "exp_annotations": {"summary": "IdP certificate of ns/gone has expired",
                     "description": "The IdP signing certificate BB of EnterpriseConnection ns/gone (loginradius) has expired: sign-ins through this connection fail until it is replaced."}}]},
                {"eval_time": "30m", "alertname": "SsoperatorProviderRateLimited",
                 "exp_alerts": [{"exp_labels": {"severity": "warning", "provider": "clerk"},
                   "exp_annotations": {"summary": "clerk answers too many calls with 429",
                     "description": "4.762% of ssoperator's calls to clerk were answered 429 Too Many Requests over 10 minutes (threshold 0.01). Lower the ProviderConfig's rateLimit to the account's limit, or look for another client sharing the account."}}]},
            ],
        }, {
            // Both replicas scraped, neither leading.
            "interval": "1m",
            "input_series": [
                {"series": format!("ssoperator_leader{{{sel}, pod=\"a\"}}"), "values": "1 0x10"},
                {"series": format!("ssoperator_leader{{{sel}, pod=\"b\"}}"), "values": "0x10"},
            ],
            "alert_rule_test": [
                {"eval_time": "4m", "alertname": "SsoperatorNoLeader", "exp_alerts": []},
                {"eval_time": "7m", "alertname": "SsoperatorNoLeader",
                 "exp_alerts": [{"exp_labels": {"severity": "critical"},
                   "exp_annotations": {"summary": "No ssoperator replica holds the leader Lease",
                     "description": "ssoperator in ops runs but no replica has led for 5 minutes: nothing reconciles. Check the Lease and the replicas' logs."}}]},
                {"eval_time": "7m", "alertname": "SsoperatorDown", "exp_alerts": []},
            ],
        }],
    });
    let test_file = dir.join("rules_test.yaml");
    std::fs::write(&test_file, serde_json::to_string_pretty(&tests).unwrap()).unwrap();
    let out = run(
        Command::new(&promtool)
            .current_dir(&dir)
            .args(["test", "rules", "rules_test.yaml"]),
        None,
    );
    assert!(
        out.ok,
        "promtool test rules:\n{}\n{}",
        out.stdout, out.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}
