//! The namespace-scoped install's RBAC, proven by the operator binary running with the chart's
//! ServiceAccount token.

use super::*;

fn is_forbidden<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> bool {
    matches!(r, Err(kube::Error::Api(e)) if e.code == 403)
}

/// The chart installed namespace-scoped; the operator binary runs with the chart's ServiceAccount
/// token and the chart's arguments, reconciles every example to Ready (the RBAC is enough), and
/// that identity can do nothing else (the RBAC is tight). Also: kstatus and the Argo CD health
/// check on the real objects, the Lease, and the peak memory the chart's resources are sized from.
///
/// One install and one operator process serve all the steps (each is costly to start).
#[tokio::test]
async fn operator_with_the_charts_service_account_reconciles_the_examples_and_nothing_more() {
    let install = Install::start().await;
    let ready_objects = install.examples_become_ready().await;
    install
        .holds_the_lease_and_fits_its_memory_limit(&ready_objects)
        .await;
    install.service_account_can_do_nothing_more().await;
    install
        .rules_review_allows_writes_only_to_its_own_kinds()
        .await;
    install
        .gitops_health_of_the_real_objects(&ready_objects)
        .await;
    install.sigterm_releases_the_lease_and_clean_up().await;
}

/// A namespace-scoped release, the examples in its watched namespace, and the operator binary
/// running as its ServiceAccount.
struct Install {
    client: Client,
    release: String,
    release_ns: String,
    watched: String,
    creds_ns: String,
    other: String,
    docs: Vec<Value>,
    lease_name: String,
    examples: Vec<Value>,
    /// The providers the examples point at; alive as long as the install.
    _emulators: DemoEmulators,
    tmp: PathBuf,
    /// A client with the ServiceAccount's token.
    sa: Client,
    metrics_port: u16,
    binary: String,
    op: OperatorProcess,
}

impl Install {
    async fn start() -> Self {
        let client = admin().await;
        let release_ns = support::temp_namespace(&client).await;
        let watched = support::temp_namespace(&client).await;
        let creds_ns = support::temp_namespace(&client).await;
        let other = support::temp_namespace(&client).await;
        let release = format!("ssop-{}", support::random_suffix(5));
        let sets = vec![
            format!("watchNamespaces={{{watched}}}"),
            format!("secrets.extraNamespaces={{{creds_ns}}}"),
        ];
        let yaml = template_text(&release, &release_ns, &sets, false);
        apply_rendered(&yaml);
        let docs = demo::parse_documents(&yaml).unwrap();
        let sa_name = one(&docs, "ServiceAccount")["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_string();
        let lease_name = format!("{release}-ssoperator-leader");

        // The examples, with the ClusterProviderConfig's Secret in the extra Secret namespace.
        let emulators = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
        let mut examples = examples_for(&emulators, &watched);
        for doc in &mut examples {
            if doc["kind"] == "ClusterProviderConfig" {
                let secret = doc["spec"]["credentialsSecretRef"]["name"]
                    .as_str()
                    .unwrap();
                let secret_doc = examples_for(&emulators, &watched)
                    .into_iter()
                    .find(|d| d["kind"] == "Secret" && d["metadata"]["name"] == secret)
                    .unwrap();
                apply(&client, &creds_ns, secret_doc).await;
                doc["spec"]["credentialsSecretRef"]["namespace"] = json!(creds_ns);
            }
        }
        for doc in &examples {
            apply(&client, &watched, doc.clone()).await;
        }

        // The operator binary, with the chart's arguments and the ServiceAccount's token.
        let tmp = tempdir("rbac");
        let token = create_token(&release_ns, &sa_name);
        let (sa, kubeconfig) = token_client(&token, &tmp).await;
        let metrics_port = free_port();
        let args: Vec<String> = strings(&container(&docs)["args"])
            .into_iter()
            .map(|a| {
                if a.starts_with("--metrics-addr=") {
                    format!("--metrics-addr=127.0.0.1:{metrics_port}")
                } else {
                    a
                }
            })
            .collect();
        assert!(args.contains(&"--leader-elect".into()), "{args:?}");
        let binary = std::env::var("SSOPERATOR_E2E_BINARY")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_ssoperator").to_string());
        let log = tmp.join("operator.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(&binary)
            .args(&args)
            .env("KUBECONFIG", &kubeconfig)
            .env("POD_NAME", "ssoperator-e2e-0")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap();
        Self {
            client,
            release,
            release_ns,
            watched,
            creds_ns,
            other,
            docs,
            lease_name,
            examples,
            _emulators: emulators,
            tmp,
            sa,
            metrics_port,
            binary,
            op: OperatorProcess { child, log },
        }
    }

    fn example(&self, pred: impl Fn(&Value) -> bool) -> &Value {
        self.examples.iter().find(|d| pred(d)).unwrap()
    }

    fn leases(&self) -> Api<Lease> {
        Api::namespaced(self.client.clone(), &self.release_ns)
    }

    /// Every example becomes Ready for its current generation; returns them as they are then.
    /// A namespace-scoped install only reads ClusterProviderConfigs (a cluster-wide install
    /// reports their status), so the one in the examples is used (its OrgRoleMapping gets Ready)
    /// but keeps no status from us.
    async fn examples_become_ready(&self) -> Vec<Value> {
        let (client, watched, op) = (&self.client, &self.watched, &self.op);
        let mut ready_objects = Vec::new();
        for doc in self
            .examples
            .iter()
            .filter(|d| d["kind"] != "Secret" && d["kind"] != "ClusterProviderConfig")
        {
            let obj = wait_obj(client, doc, watched, "Ready", op, ready_now).await;
            ready_objects.push(obj);
        }
        let kinds: BTreeSet<_> = ready_objects
            .iter()
            .map(|o| o["kind"].to_string())
            .collect();
        assert_eq!(
            kinds.len(),
            4,
            "every namespaced ssoperator.io kind is among the examples: {kinds:?}"
        );
        for doc in self
            .examples
            .iter()
            .filter(|d| d["kind"] == "ClusterProviderConfig")
        {
            let (api, name) = api_for(client, doc, watched);
            let cpc = serde_json::to_value(api.get(&name).await.unwrap()).unwrap();
            assert!(
                cpc["status"].is_null(),
                "a namespace-scoped install wrote a ClusterProviderConfig's status: {cpc:#}"
            );
        }
        let log_text = op.log();
        assert!(
            // Kubernetes says "... is forbidden: User ..." (code 403); a bare "403" would also
            // match digits of a timestamp.
            !log_text.contains("is forbidden") && !log_text.contains("\"code\":403"),
            "the operator hit a permission error:\n{log_text}"
        );
        ready_objects
    }

    /// The operator holds the Lease in the release namespace, its endpoints answer, and its peak
    /// memory leaves half of the chart's limit free.
    async fn holds_the_lease_and_fits_its_memory_limit(&self, ready_objects: &[Value]) {
        let lease = self.leases().get(&self.lease_name).await.unwrap();
        assert_eq!(
            lease.spec.unwrap().holder_identity.as_deref(),
            Some("ssoperator-e2e-0")
        );
        for path in ["/healthz", "/readyz", "/metrics"] {
            let url = format!("http://127.0.0.1:{}{path}", self.metrics_port);
            let resp = reqwest::get(&url).await.unwrap();
            assert!(resp.status().is_success(), "{url}: {}", resp.status());
        }
        let peak = self.op.peak_rss_kib();
        eprintln!(
            "install: operator ({}) peak RSS (VmHWM) after reconciling {} examples: {peak} KiB",
            self.binary,
            ready_objects.len()
        );
        let limit = container(&self.docs)["resources"]["limits"]["memory"]
            .as_str()
            .unwrap()
            .to_string();
        let limit_kib: u64 = limit.trim_end_matches("Mi").parse::<u64>().unwrap() * 1024;
        assert!(
            peak * 2 < limit_kib,
            "peak RSS {peak} KiB leaves less than half of the chart's memory limit {limit} free"
        );
    }

    /// Tight: as the ServiceAccount, nothing beyond what the operator needs.
    async fn service_account_can_do_nothing_more(&self) {
        let (client, sa) = (&self.client, &self.sa);
        let (watched, creds_ns, release_ns, other) =
            (&self.watched, &self.creds_ns, &self.release_ns, &self.other);
        let secret: Secret =
            serde_json::from_value(json!({"metadata": {"name": "not-for-the-operator"},
                "stringData": {"k": "v"}}))
            .unwrap();
        Api::<Secret>::namespaced(client.clone(), other)
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
        let lp = Default::default();
        for ns in [other, creds_ns, release_ns] {
            assert!(
                is_forbidden(Api::<Secret>::namespaced(sa.clone(), ns).list(&lp).await),
                "listed Secrets in {ns}"
            );
        }
        assert!(is_forbidden(Api::<Secret>::all(sa.clone()).list(&lp).await));
        assert!(is_forbidden(
            Api::<Secret>::namespaced(sa.clone(), other)
                .get("not-for-the-operator")
                .await
        ));
        // The ClusterProviderConfig's Secret: get only.
        Api::<Secret>::namespaced(sa.clone(), creds_ns)
            .get("atlas-credentials")
            .await
            .unwrap();
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "probe"}})).unwrap();
        assert!(is_forbidden(
            Api::<ConfigMap>::namespaced(sa.clone(), watched)
                .create(&PostParams::default(), &cm)
                .await
        ));
        assert!(is_forbidden(
            Api::<Secret>::namespaced(sa.clone(), watched)
                .create(&PostParams::default(), &secret)
                .await
        ));
        let deploy_name = one(&self.docs, "Deployment")["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(is_forbidden(
            Api::<Deployment>::namespaced(sa.clone(), release_ns)
                .patch(
                    &deploy_name,
                    &PatchParams::default(),
                    &Patch::Merge(&json!({"spec": {"replicas": 5}}))
                )
                .await
        ));
        assert!(is_forbidden(
            Api::<Namespace>::all(sa.clone())
                .patch(
                    watched,
                    &PatchParams::default(),
                    &Patch::Merge(&json!({"metadata": {"labels": {"x": "y"}}}))
                )
                .await
        ));
        let (ec_api, ec_name) = api_for(
            sa,
            self.example(|d| d["kind"] == "EnterpriseConnection"),
            watched,
        );
        assert!(is_forbidden(
            ec_api.delete(&ec_name, &DeleteParams::default()).await
        ));
        // Allowed: Events in a watched namespace, and creating a Lease (create cannot be limited
        // to a name) but not updating any Lease but its own.
        let event: EventV1 = serde_json::from_value(json!({
            "metadata": {"name": format!("probe.{}", support::random_suffix(6))},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "reportingController": "ssoperator", "reportingInstance": "probe",
            "action": "Probe", "reason": "Probe", "type": "Normal",
            "regarding": {"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
                          "name": ec_name, "namespace": watched}
        }))
        .unwrap();
        Api::<EventV1>::namespaced(sa.clone(), watched)
            .create(&PostParams::default(), &event)
            .await
            .unwrap();
        let probe: Lease = serde_json::from_value(json!({"metadata": {"name": "probe"}})).unwrap();
        let sa_leases: Api<Lease> = Api::namespaced(sa.clone(), release_ns);
        let created = sa_leases
            .create(&PostParams::default(), &probe)
            .await
            .unwrap();
        assert!(is_forbidden(
            sa_leases
                .replace("probe", &PostParams::default(), &created)
                .await
        ));
        assert!(is_forbidden(
            Api::<Lease>::namespaced(sa.clone(), watched)
                .create(&PostParams::default(), &probe)
                .await
        ));
    }

    /// The whole rule set, as the API server computes it: writes only on ssoperator.io, Events
    /// and Leases; no Secret access at all outside the watched and credentials namespaces.
    async fn rules_review_allows_writes_only_to_its_own_kinds(&self) {
        let (watched, creds_ns) = (&self.watched, &self.creds_ns);
        for ns in [
            watched,
            &self.release_ns,
            creds_ns,
            &self.other,
            &"default".to_string(),
        ] {
            let review = Api::<SelfSubjectRulesReview>::all(self.sa.clone())
                .create(
                    &PostParams::default(),
                    &SelfSubjectRulesReview {
                        spec: SelfSubjectRulesReviewSpec {
                            namespace: Some(ns.clone()),
                        },
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            let status = review.status.unwrap();
            assert!(!status.incomplete, "{status:?}");
            for rule in &status.resource_rules {
                let groups = rule.api_groups.clone().unwrap_or_default();
                let resources = rule.resources.clone().unwrap_or_default();
                let writes = rule.verbs.iter().any(|v| {
                    [
                        "create",
                        "update",
                        "patch",
                        "delete",
                        "deletecollection",
                        "*",
                    ]
                    .contains(&v.as_str())
                });
                let reviews = (groups == ["authorization.k8s.io"]
                    || groups == ["authentication.k8s.io"])
                    && resources.iter().all(|r| r.starts_with("selfsubject"))
                    && rule.verbs == ["create"];
                let allowed_write = groups == ["ssoperator.io"]
                    || (groups == ["events.k8s.io"] && resources == ["events"])
                    || (groups == ["coordination.k8s.io"] && resources == ["leases"]);
                assert!(
                    !writes || reviews || allowed_write,
                    "write rule outside ssoperator.io, Events and Leases in {ns}: {rule:?}"
                );
                if resources.iter().any(|r| r == "secrets" || r == "*") {
                    let expected: &[&str] = if ns == watched {
                        &["get", "list", "watch"]
                    } else if ns == creds_ns {
                        &["get"]
                    } else {
                        &[]
                    };
                    assert_eq!(rule.verbs, expected, "Secrets rule in {ns}: {rule:?}");
                }
            }
        }
    }

    /// GitOps health of the real objects: kstatus says Current and Argo CD says Healthy; then a
    /// spec change not reconciled yet, a missing ProviderConfig and a permanent error.
    async fn gitops_health_of_the_real_objects(&self, ready_objects: &[Value]) {
        let (client, watched, op) = (&self.client, &self.watched, &self.op);
        for obj in ready_objects {
            let (code, res) = kstatus(obj);
            assert_eq!(
                code,
                Some(0),
                "kstatus of {}: {res}",
                obj["metadata"]["name"]
            );
            assert_eq!(res["status"], "Current");
            assert_eq!(argocd_health(obj), "Healthy", "{obj:#}");
        }
        // A spec change not reconciled yet: InProgress / Progressing.
        let mut newer = ready_objects[0].clone();
        newer["metadata"]["generation"] =
            json!(newer["metadata"]["generation"].as_i64().unwrap() + 1);
        assert_eq!(kstatus(&newer).1["status"], "InProgress");
        assert_eq!(argocd_health(&newer), "Progressing");
        // A connection whose ProviderConfig does not exist (it may appear later, so the operator
        // keeps retrying and sets no Stalled condition): kstatus InProgress, Argo CD Degraded.
        let mut broken = self
            .example(|d| d["kind"] == "EnterpriseConnection")
            .clone();
        broken["metadata"]["name"] = json!("broken");
        broken["spec"]["providerConfigRef"] = json!({"name": "does-not-exist"});
        apply(client, watched, broken.clone()).await;
        let failed = wait_obj(client, &broken, watched, "failed", op, |o| {
            o["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["reason"] == "ProviderConfigNotFound")
        })
        .await;
        let (code, res) = kstatus(&failed);
        assert_eq!(code, Some(2), "{res}");
        assert_eq!(res["status"], "InProgress", "{res}");
        assert_eq!(argocd_health(&failed), "Degraded");
        // A spec the provider cannot take (a permanent error): Stalled=True, so kstatus (and
        // Flux) report Failed at once instead of waiting for a timeout.
        let mut rejected = self
            .example(|d| {
                d["kind"] == "EnterpriseConnection"
                    && d["spec"]["providerConfigRef"]["name"] == "loginradius"
            })
            .clone();
        rejected["metadata"]["name"] = json!("rejected");
        rejected["spec"]["name"] = json!("Rejected");
        rejected["spec"]["saml"]["idpSsoUrl"] = json!("https://idp.example/sso");
        apply(client, watched, rejected.clone()).await;
        let stalled = wait_obj(client, &rejected, watched, "stalled", op, |o| {
            o["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| {
                    c["type"] == "Stalled" && c["status"] == "True" && c["reason"] == "Unsupported"
                })
        })
        .await;
        let (code, res) = kstatus(&stalled);
        assert_eq!(code, Some(2), "{res}");
        assert_eq!(res["status"], "Failed", "{res}");
        assert_eq!(argocd_health(&stalled), "Degraded");
    }

    /// SIGTERM: a clean exit that gives the Lease up. Then cleans up what is cluster-scoped or
    /// outlives the namespaces.
    async fn sigterm_releases_the_lease_and_clean_up(mut self) {
        let status = self.op.terminate();
        assert!(status.success(), "exit {status:?}:\n{}", self.op.log());
        let lease = self.leases().get(&self.lease_name).await.unwrap();
        assert_eq!(
            lease.spec.unwrap().holder_identity,
            None,
            "Lease not released"
        );

        let (client, watched) = (&self.client, &self.watched);
        // "broken" (made by the GitOps step) is an EnterpriseConnection like this example.
        let (api, _) = api_for(
            client,
            self.example(|d| d["kind"] == "EnterpriseConnection"),
            watched,
        );
        let _ = api.delete("broken", &DeleteParams::default()).await;
        for doc in self
            .examples
            .iter()
            .filter(|d| d["kind"] == "ClusterProviderConfig")
        {
            let (api, name) = api_for(client, doc, watched);
            let _ = api.delete(&name, &DeleteParams::default()).await;
        }
        for kind in ["ClusterRole", "ClusterRoleBinding"] {
            let _ = kubectl(
                &[
                    "delete",
                    &kind.to_lowercase(),
                    &format!("{}-ssoperator", self.release),
                ],
                None,
            );
        }
        std::fs::remove_dir_all(&self.tmp).ok();
    }
}
