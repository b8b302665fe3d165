//! The chart without an API server: lint, render, arguments, opt-in values, and deploy/ kept
//! in step with it.

use super::*;

#[test]
fn chart_lints_and_renders_a_restricted_two_replica_operator() {
    for sets in [&[][..], &["watchNamespaces={team-a,team-b}"][..]] {
        let mut args = vec!["lint", "--strict", CHART];
        for s in sets {
            args.extend(["--set", s]);
        }
        let out = helm(&args);
        assert!(out.ok, "helm {args:?}:\n{}{}", out.stdout, out.stderr);
    }

    let docs = render("ssoperator", "sso-system", &[]);
    let deploy = one(&docs, "Deployment");
    assert_eq!(deploy["spec"]["replicas"], 2);
    let pod = &deploy["spec"]["template"]["spec"];
    let c = container(&docs);
    let args = strings(&c["args"]);
    for want in [
        "--leader-elect",
        "--lease-namespace=sso-system",
        "--lease-name=ssoperator-leader",
        "--watch-secrets=false",
        "--resync=10m",
        "--metrics-addr=0.0.0.0:8080",
    ] {
        assert!(args.iter().any(|a| a == want), "{want} not in {args:?}");
    }
    assert!(
        !args.iter().any(|a| a.starts_with("--namespaces")),
        "{args:?}"
    );
    // Pod Security "restricted".
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    // Probes on the operator's health endpoints, on the metrics port.
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["ports"][0]["containerPort"], 8080);
    assert!(c["resources"]["requests"]["memory"].is_string(), "{c}");
    assert!(c["resources"]["limits"]["memory"].is_string(), "{c}");
    assert_eq!(pod["serviceAccountName"], "ssoperator");
    assert_eq!(one(&docs, "Service")["spec"]["ports"][0]["port"], 8080);
    assert!(docs_of(&docs, "ServiceMonitor").is_empty());
    for d in &docs {
        let labels = &d["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/name"], "ssoperator", "{d}");
        assert_eq!(labels["app.kubernetes.io/instance"], "ssoperator", "{d}");
    }

    // Cluster-wide: Secrets are read one by one (get), never listed or watched.
    let rules = &one(&docs, "ClusterRole")["rules"];
    assert_eq!(verbs(rules, "", "secrets"), set(&["get"]));
    // Namespace labels, for ClusterProviderConfig allowedNamespaces selectors: get only.
    assert_eq!(verbs(rules, "", "namespaces"), set(&["get"]));
    assert_eq!(
        verbs(rules, "ssoperator.io", "enterpriseconnections"),
        set(&["get", "list", "watch", "patch"])
    );
    assert_eq!(
        verbs(rules, "ssoperator.io", "orgrolemappings/status"),
        set(&["patch"])
    );
    assert_eq!(
        verbs(rules, "events.k8s.io", "events"),
        set(&["create", "patch"])
    );
    for r in rules.as_array().unwrap() {
        assert!(!strings(&r["verbs"]).contains(&"*".into()), "{r}");
        assert!(!strings(&r["resources"]).contains(&"*".into()), "{r}");
        assert!(!strings(&r["verbs"]).contains(&"delete".into()), "{r}");
    }
    let roles = docs_of(&docs, "Role");
    assert_eq!(roles.len(), 1, "only the leader-election Role: {roles:#?}");
    assert_eq!(
        verbs(&roles[0]["rules"], "coordination.k8s.io", "leases"),
        set(&["create", "get", "update", "watch"])
    );

    // Opting in to watching Secrets cluster-wide.
    let docs = render("ssoperator", "sso-system", &["secrets.watch=true".into()]);
    assert_eq!(
        verbs(&one(&docs, "ClusterRole")["rules"], "", "secrets"),
        set(&["get", "list", "watch"])
    );
    assert!(strings(&container(&docs)["args"]).contains(&"--watch-secrets=true".into()));

    // Namespace-scoped: a Role per watched namespace, Secrets watched there only.
    let docs = render(
        "ssoperator",
        "sso-system",
        &[
            "watchNamespaces={team-a,team-b}".into(),
            "secrets.extraNamespaces={shared-creds,team-a}".into(),
        ],
    );
    let cluster_rules = &one(&docs, "ClusterRole")["rules"];
    assert!(
        verbs(cluster_rules, "", "secrets").is_empty(),
        "{cluster_rules}"
    );
    assert_eq!(
        verbs(cluster_rules, "ssoperator.io", "clusterproviderconfigs"),
        set(&["get", "list", "watch"])
    );
    assert_eq!(verbs(cluster_rules, "", "namespaces"), set(&["get"]));
    assert!(
        verbs(
            cluster_rules,
            "ssoperator.io",
            "clusterproviderconfigs/status"
        )
        .is_empty(),
        "{cluster_rules}"
    );
    assert!(
        verbs(cluster_rules, "ssoperator.io", "enterpriseconnections").is_empty(),
        "{cluster_rules}"
    );
    let args = strings(&container(&docs)["args"]);
    assert!(
        args.contains(&"--namespaces=team-a,team-b".into()),
        "{args:?}"
    );
    assert!(args.contains(&"--watch-secrets=true".into()), "{args:?}");
    let role_in = |ns: &str, name: &str| -> Value {
        docs_of(&docs, "Role")
            .into_iter()
            .find(|r| r["metadata"]["namespace"] == ns && r["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no Role {ns}/{name}"))
            .clone()
    };
    for ns in ["team-a", "team-b"] {
        let role = role_in(ns, "ssoperator");
        assert_eq!(
            verbs(&role["rules"], "", "secrets"),
            set(&["get", "list", "watch"])
        );
    }
    assert_eq!(
        verbs(
            &role_in("shared-creds", "ssoperator-secrets")["rules"],
            "",
            "secrets"
        ),
        set(&["get"])
    );
    let extra: Vec<_> = docs_of(&docs, "Role")
        .into_iter()
        .filter(|r| r["metadata"]["name"] == "ssoperator-secrets")
        .collect();
    assert_eq!(extra.len(), 1, "team-a is watched already: {extra:#?}");

    // Values reach the Deployment.
    let docs = render(
        "sso",
        "sso-system",
        &[
            "resyncPeriod=1h".into(),
            "logLevel=debug".into(),
            "image.tag=1.2.3".into(),
            "metrics.serviceMonitor.enabled=true".into(),
        ],
    );
    let c = container(&docs);
    assert!(strings(&c["args"]).contains(&"--resync=1h".into()));
    assert_eq!(c["env"][0], json!({"name": "RUST_LOG", "value": "debug"}));
    assert_eq!(c["image"], "ghcr.io/ssoperator/ssoperator:1.2.3");
    assert_eq!(
        one(&docs, "ServiceMonitor")["spec"]["endpoints"][0]["port"],
        "metrics"
    );

    // The schema refuses bad values.
    for bad in [
        "logFormat=xml",
        "replicaCount=0",
        "watchNamespaces={Not_A_Namespace}",
        "resyncPeriod=soon",
        "secrets.watch=maybe",
    ] {
        let out = helm(&["template", "x", CHART, "--set", bad]);
        assert!(!out.ok, "--set {bad} was accepted");
    }
}

/// The operator binary accepts the arguments the chart gives it (clap validates every value
/// before it acts on --help).
#[test]
fn the_operator_accepts_the_charts_arguments() {
    for sets in [
        vec![],
        vec!["watchNamespaces={a,b}".to_string()],
        vec![
            "providerCABundle.secret.name=corp-ca".to_string(),
            "providerCABundle.secret.key=ca.crt".to_string(),
        ],
    ] {
        let docs = render("ssoperator", "sso-system", &sets);
        let mut args = strings(&container(&docs)["args"]);
        args.push("--help".into());
        let out = run(
            Command::new(env!("CARGO_BIN_EXE_ssoperator")).args(&args),
            None,
        );
        assert!(out.ok, "ssoperator {args:?}:\n{}", out.stderr);
    }
}

/// Issue 14, item 5: `providerCABundle` mounts a ConfigMap or Secret key read-only and passes it
/// with `--provider-ca-bundle`; `extraEnv` carries proxies. Off by default (deploy/ is unchanged).
#[test]
fn provider_ca_bundle_and_proxy_env_are_opt_in() {
    let docs = render("ssoperator", "sso-system", &[]);
    let c = container(&docs);
    assert!(
        !strings(&c["args"])
            .iter()
            .any(|a| a.starts_with("--provider-ca-bundle")),
        "{c:#}"
    );
    assert!(c["volumeMounts"].is_null(), "{c:#}");
    let pod = &one(&docs, "Deployment")["spec"]["template"]["spec"];
    assert!(pod["volumes"].is_null(), "{pod:#}");

    for (source, volume) in [
        (
            "configMap",
            json!({"name": "provider-ca", "configMap": {"name": "corp-ca",
                "items": [{"key": "bundle.pem", "path": "bundle.pem"}]}}),
        ),
        (
            "secret",
            json!({"name": "provider-ca", "secret": {"secretName": "corp-ca",
                "items": [{"key": "bundle.pem", "path": "bundle.pem"}]}}),
        ),
    ] {
        let docs = render(
            "ssoperator",
            "sso-system",
            &[
                format!("providerCABundle.{source}.name=corp-ca"),
                format!("providerCABundle.{source}.key=bundle.pem"),
                "extraEnv[0].name=HTTPS_PROXY".into(),
                "extraEnv[0].value=http://proxy.corp:3128".into(),
                "extraEnv[1].name=NO_PROXY".into(),
                "extraEnv[1].value=.svc".into(),
            ],
        );
        let c = container(&docs);
        assert!(
            strings(&c["args"])
                .contains(&"--provider-ca-bundle=/etc/ssoperator/provider-ca/bundle.pem".into()),
            "{c:#}"
        );
        assert_eq!(
            c["volumeMounts"],
            json!([{"name": "provider-ca", "mountPath": "/etc/ssoperator/provider-ca", "readOnly": true}])
        );
        let env = c["env"].as_array().unwrap();
        assert!(env.contains(&json!({"name": "HTTPS_PROXY", "value": "http://proxy.corp:3128"})));
        assert!(env.contains(&json!({"name": "NO_PROXY", "value": ".svc"})));
        let pod = &one(&docs, "Deployment")["spec"]["template"]["spec"];
        assert_eq!(pod["volumes"], json!([volume]), "{source}");
    }

    // Both sources, or a reference without its key, are refused.
    for bad in [
        vec![
            "providerCABundle.configMap.name=a",
            "providerCABundle.configMap.key=k",
            "providerCABundle.secret.name=b",
            "providerCABundle.secret.key=k",
        ],
        vec!["providerCABundle.secret.name=b"],
        vec!["providerCABundle.other=x"],
    ] {
        let mut args = vec!["template", "x", CHART];
        for s in &bad {
            args.extend(["--set", s]);
        }
        let out = helm(&args);
        assert!(!out.ok, "{bad:?} was accepted");
    }
}

#[test]
fn deploy_dir_is_the_rendered_chart_and_a_stale_copy_fails_the_check() {
    let script = Path::new(ROOT).join("scripts/generate.sh");
    let helm_path = tools_bin().join("helm");
    let out = run(
        Command::new(&script).arg("--check").env("HELM", &helm_path),
        None,
    );
    assert!(
        out.ok,
        "deploy/ is stale (run scripts/generate.sh):\n{}{}",
        out.stdout, out.stderr
    );

    // A changed copy fails the same check, naming the file.
    let tmp = tempdir("stale");
    for f in [
        "deploy/ssoperator.yaml",
        "examples/gitops/argocd/argocd-cm.yaml",
    ] {
        let to = tmp.join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(Path::new(ROOT).join(f), &to).unwrap();
    }
    let stale = tmp.join("deploy/ssoperator.yaml");
    let text = std::fs::read_to_string(&stale).unwrap();
    std::fs::write(&stale, text.replacen("replicas: 2", "replicas: 3", 1)).unwrap();
    let out = run(
        Command::new(&script)
            .arg("--check")
            .arg(&tmp)
            .env("HELM", &helm_path),
        None,
    );
    assert!(!out.ok, "a stale deploy/ passed the check");
    assert!(
        out.stderr.contains("stale: deploy/ssoperator.yaml")
            && !out.stderr.contains("stale: examples"),
        "{}",
        out.stderr
    );

    // The kustomization covers every object of deploy/ssoperator.yaml.
    let out = run(
        Command::new(support::kubectl())
            .args(["kustomize"])
            .arg(Path::new(ROOT).join("deploy")),
        None,
    );
    assert!(out.ok, "kubectl kustomize deploy/: {}", out.stderr);
    let ids = |docs: Vec<Value>| -> BTreeSet<String> {
        docs.iter()
            .map(|d| format!("{}/{}", d["kind"], d["metadata"]["name"]))
            .collect()
    };
    let kustomized = ids(demo::parse_documents(&out.stdout).unwrap());
    let plain = ids(demo::parse_documents(&text).unwrap());
    assert_eq!(kustomized, plain);
    assert!(
        plain.contains("\"Namespace\"/\"ssoperator-system\""),
        "{plain:?}"
    );
    assert!(
        plain.contains("\"CustomResourceDefinition\"/\"enterpriseconnections.ssoperator.io\""),
        "{plain:?}"
    );
    std::fs::remove_dir_all(&tmp).ok();
}
