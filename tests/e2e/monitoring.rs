//! The chart's Grafana dashboard and PrometheusRule (`metrics.dashboard`, `metrics.prometheusRule`):
//! both opt-in, the dashboard a well-formed Grafana dashboard, the rules accepted by
//! `promtool check rules`, and every metric a panel or an alert names exposed on `/metrics` by a
//! running operator binary that has been made to use each of them (429s, rate-limit waits, a
//! reconcile error, a drift repair, leadership).

use std::{
    collections::{BTreeMap, BTreeSet},
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::{Value, json};
use ssoperator::crd::{EnterpriseConnection, OrgRoleMapping, ProviderConfig};
use ssoperator_emulators::{Faults, qovery::QoveryEmulator};

use crate::{
    install::{OperatorProcess, free_port, render, run, tempdir, tools_bin},
    operator::*,
    support,
};

const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/charts/ssoperator/dashboards/ssoperator.json"
);
const ORG: &str = "3f1c2a4e-8b7d-4c1e-9a2f-5d6e7f809a1b";

fn monitoring_sets() -> Vec<String> {
    vec![
        "metrics.dashboard.enabled=true".into(),
        "metrics.prometheusRule.enabled=true".into(),
        "metrics.serviceMonitor.enabled=true".into(),
    ]
}

/// The dashboard JSON and the PrometheusRule the chart renders with both switched on.
fn rendered() -> (Value, Value) {
    let docs = render("mon", "ops", &monitoring_sets());
    let cms: Vec<_> = docs
        .iter()
        .filter(|d| d["kind"] == "ConfigMap" && d["metadata"]["labels"]["grafana_dashboard"] == "1")
        .collect();
    assert_eq!(cms.len(), 1, "one dashboard ConfigMap: {cms:#?}");
    let text = cms[0]["data"]["ssoperator.json"].as_str().unwrap();
    let dashboard: Value = serde_json::from_str(text).unwrap();
    let file: Value = serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap()).unwrap();
    assert_eq!(
        dashboard, file,
        "the ConfigMap carries the chart's dashboard file"
    );
    let rules: Vec<_> = docs
        .iter()
        .filter(|d| d["kind"] == "PrometheusRule")
        .cloned()
        .collect();
    assert_eq!(rules.len(), 1);
    (dashboard, rules[0].clone())
}

/// Every expression: the panels' targets, then the alert rules' (by alert name).
fn expressions(dashboard: &Value, rule: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for p in dashboard["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            let key = format!("panel {:?} {}", p["title"], t["refId"]);
            out.insert(key, t["expr"].as_str().unwrap().to_string());
        }
    }
    for g in rule["spec"]["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            out.insert(
                format!("alert {}", r["alert"].as_str().unwrap()),
                r["expr"].as_str().unwrap().to_string(),
            );
        }
    }
    out
}

/// PromQL words that are not metric names when not followed by `(`: aggregations (followed by a
/// `by (...)` clause), binary operators, modifiers.
const KEYWORDS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "atan2",
    "inf",
    "nan",
];

/// The metric names an expression reads: identifiers outside label matchers (`{...}`), ranges
/// (`[...]`), grouping clauses (`by (...)` and the like) and strings, that are neither a function
/// or aggregation (followed by `(`) nor a keyword or a number.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = BTreeSet::new();
    let mut i = 0;
    let mut skip_parens_after: Option<String> = None;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                while i < chars.len() && chars[i] != close {
                    i += 1;
                }
                i += 1;
            }
            '(' if skip_parens_after.take().is_some() => {
                while i < chars.len() && chars[i] != ')' {
                    i += 1;
                }
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut j = i;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                let call = j < chars.len() && chars[j] == '(';
                let lower = word.to_ascii_lowercase();
                if [
                    "by",
                    "without",
                    "on",
                    "ignoring",
                    "group_left",
                    "group_right",
                ]
                .contains(&lower.as_str())
                {
                    skip_parens_after = Some(lower);
                } else if !call && !KEYWORDS.contains(&lower.as_str()) {
                    out.insert(word);
                }
            }
            c if c.is_ascii_digit() || c == '.' => {
                // A number (with an exponent or a duration unit, e.g. 1e3 or 5m after offset).
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    out
}

#[test]
fn metric_names_skips_functions_labels_ranges_and_groupings() {
    let e = r#"histogram_quantile(0.95, sum by (kind, le) (rate(ssoperator_x_bucket{a="b", c=~"$d"}[$__rate_interval])))
        / on (kind) group_left (reason) sum without (pod) (ssoperator_y_total) > 1e-2 and absent(up{job="j"} == 1)"#;
    assert_eq!(
        metric_names(e),
        BTreeSet::from([
            "ssoperator_x_bucket".to_string(),
            "ssoperator_y_total".to_string(),
            "up".to_string()
        ])
    );
}

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
        "saml": {"idpCertificate": crate::certificates::certificate("orphan-idp", -1, 400).pem}}})).await;

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

    wait_for::<ProviderConfig>(&client, &ns, "qovery", "Ready", |pc| {
        pc_ready(pc).is_some_and(|r| r.0 == "True")
    })
    .await;
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
