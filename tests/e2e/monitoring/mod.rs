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
use ssoperator::crd::{EnterpriseConnection, OrgRoleMapping};
use ssoperator_emulators::{Faults, qovery::QoveryEmulator};

use crate::{
    install::{OperatorProcess, free_port, render, run, tempdir, tools_bin},
    operator::*,
    support,
};

mod dashboard;
mod exposed;

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
