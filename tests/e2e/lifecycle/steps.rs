//! The steps of one lifecycle, in the order `lifecycle` runs them on one resource "r".

use super::*;

/// One case's namespace, demo emulators and operator.
pub(super) struct Run {
    pub(super) case: Case,
    client: Client,
    ns: String,
    e: DemoEmulators,
    _op: Operator,
}

impl Run {
    pub(super) async fn start(case: Case, install: Install) -> Self {
        let p = case.provider;
        let (client, ns) = setup().await;
        let e = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
        provider_account(
            &client,
            &ns,
            p,
            case.block.clone(),
            &e.endpoints()[p],
            "creds",
            &case.credentials,
        )
        .await;
        let op = Operator::start_with(&client, &ns, |config| {
            config.watch_secrets = install == Install::SecretWatch;
            // Deletion mechanics under test; the lockout guard's refusal of such a delete is
            // tested in safety.
            config.lockout_guards = false;
        });
        for doc in &case.prelude {
            apply(&client, &ns, doc.clone()).await;
        }
        Self {
            case,
            client,
            ns,
            e,
            _op: op,
        }
    }

    fn writes(&self) -> u64 {
        self.e.writes()[self.case.provider]
    }

    /// Merge-patches the resource "r".
    async fn patch(&self, patch: Value) {
        merge_patch(&self.client, &self.ns, self.case.kind, "r", patch).await;
    }

    /// Waits until `pred` holds for the resource "r".
    async fn wait_resource(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        wait_until(&self.client, &self.ns, self.case.kind, "r", what, pred).await
    }

    /// Waits until the remote field the case follows has its edited value again.
    async fn wait_edited(&self, id: &str, what: &str) {
        let edited = &self.case.edited;
        wait_remote(&self.e, &self.case, id, what, |v| v == edited).await;
    }

    /// Create (or adopt) → Ready, the remote matching the spec. Returns the external id.
    pub(super) async fn create_or_adopt(&self) -> String {
        let (case, e, p) = (&self.case, &self.e, self.case.provider);
        let before = (case.count)(e);
        apply(
            &self.client,
            &self.ns,
            manifest(case, "r", json!({"deletionPolicy": "Delete"})),
        )
        .await;
        let o = self.wait_resource("Ready", is_ready).await;
        let id = o["status"]["externalId"].as_str().unwrap().to_string();
        let expected_count = before + usize::from(case.creatable);
        assert_eq!(
            (case.count)(e),
            expected_count,
            "{p}: remote objects after create"
        );
        wait_remote(e, case, &id, "as the spec says", |v| *v == case.initial).await;
        id
    }

    /// A spec edit → exactly one provider write, and Ready for the new generation.
    pub(super) async fn spec_edit_writes_once(&self, id: &str) {
        let w = self.writes();
        self.patch(json!({"spec": self.case.edit})).await;
        self.wait_resource("Ready at generation 2", |o| {
            is_ready(o) && o["metadata"]["generation"] == 2
        })
        .await;
        self.wait_edited(id, "edited").await;
        tokio::time::sleep(RESYNC * 2).await;
        assert_eq!(
            self.writes() - w,
            1,
            "{}: provider writes for one spec edit: {:?}",
            self.case.provider,
            self.e.writes()
        );
    }

    /// A console edit → repaired within a resync, with an Event and the field in
    /// status.lastDrift.
    pub(super) async fn console_edit_is_repaired(&self, id: &str) {
        (self.case.console)(&self.e, id);
        wait_event(&self.client, &self.ns, "r", "DriftRepaired").await;
        self.wait_edited(id, "repaired").await;
        // The status is written after the repair, so wait for it.
        self.wait_resource("showing lastDrift", |o| {
            o["status"]["lastDrift"]["fields"]
                .as_array()
                .is_some_and(|f| !f.is_empty())
        })
        .await;
    }

    /// ObserveOnly: drift is reported, nothing is written; back to Manage repairs it.
    pub(super) async fn observe_only_reports_drift_without_writing(&self, id: &str) {
        self.patch(json!({"spec": {"managementPolicy": "ObserveOnly"}}))
            .await;
        self.wait_resource("observing", |o| {
            o["status"]["observedGeneration"] == o["metadata"]["generation"]
        })
        .await;
        let w = self.writes();
        (self.case.console)(&self.e, id);
        self.wait_resource("Drifted", |o| ready_condition(o).1 == "Drifted")
            .await;
        tokio::time::sleep(RESYNC * 2).await;
        assert_eq!(
            self.writes(),
            w,
            "{}: ObserveOnly wrote to the provider",
            self.case.provider
        );
        self.patch(json!({"spec": {"managementPolicy": "Manage"}}))
            .await;
        self.wait_edited(id, "repaired after ObserveOnly").await;
        self.wait_resource("Ready", is_ready).await;
    }

    /// Paused: no write while the annotation is there; removing it repairs.
    pub(super) async fn paused_writes_nothing(&self, id: &str) {
        let w = self.writes();
        self.patch(json!({"metadata": {"annotations": {PAUSED_ANNOTATION: "true"}}}))
            .await;
        (self.case.console)(&self.e, id);
        self.wait_resource("paused", |o| {
            o["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["reason"] == "ReconcilePaused"))
        })
        .await;
        tokio::time::sleep(RESYNC * 2).await;
        assert_eq!(
            self.writes(),
            w,
            "{}: a paused resource wrote to the provider",
            self.case.provider
        );
        self.patch(json!({"metadata": {"annotations": {PAUSED_ANNOTATION: null}}}))
            .await;
        self.wait_edited(id, "repaired after unpausing").await;
        self.wait_resource("Ready", is_ready).await;
    }

    /// Bad credentials → Unauthenticated on the ProviderConfig and the resource; fixed → Ready.
    /// Returns how long the fix took to be seen.
    pub(super) async fn bad_credentials_then_fixed(&self, id: &str) -> Duration {
        let (client, ns, case, p) = (&self.client, &self.ns, &self.case, self.case.provider);
        // The last credential is the secret half: a wrong value of the right shape.
        let mut bad: Vec<(&str, String)> = case
            .credentials
            .iter()
            .map(|(k, v)| (*k, v.to_string()))
            .collect();
        if let Some(last) = bad.last_mut() {
            last.1.push('x');
        }
        let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
        secret(client, ns, "creds", &bad).await;
        wait_for::<ProviderConfig>(client, ns, p, "Unauthenticated", |pc| {
            pc_ready(pc).is_some_and(|(s, r)| s == "False" && r == "Unauthenticated")
        })
        .await;
        (case.console)(&self.e, id); // gives the resource something to do with the bad key
        // An OrgRoleMapping whose connection is blocked says so, naming the connection's reason.
        let o = self
            .wait_resource("Unauthenticated", |o| {
                let (status, reason) = ready_condition(o);
                status == "False" && (reason == "Unauthenticated" || reason == "ConnectionNotReady")
            })
            .await;
        let ready = o["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
            .cloned()
            .unwrap_or_default();
        assert!(
            ready["reason"] == "Unauthenticated"
                || ready["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("Unauthenticated"),
            "{p}: {ready}"
        );
        if ready["reason"] == "Unauthenticated" {
            // A person must fix the key: kstatus' Stalled says so (Flux reports Failed).
            let stalled = o["status"]["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Stalled"))
                .cloned()
                .unwrap_or_default();
            assert_eq!(stalled["status"], "True", "{p}: {:#}", o["status"]);
        }
        // Without a Secret watch the fix is seen by the ProviderConfig's recheck (the tests'
        // resync).
        let fixed = std::time::Instant::now();
        secret(client, ns, "creds", &case.credentials).await;
        provider_ready(client, ns, p).await;
        let o = self.wait_resource("Ready again", is_ready).await;
        let fix_seen = fixed.elapsed();
        assert!(
            !o["status"]["conditions"].to_string().contains("Stalled"),
            "{p}: Stalled stayed after the fix: {:#}",
            o["status"]
        );
        self.wait_edited(id, "repaired after the key was fixed")
            .await;
        fix_seen
    }

    /// Delete under Delete: the remote object (or this resource's part of it) goes, then the
    /// finalizer.
    pub(super) async fn delete_removes_the_remote(&self, id: &str) {
        let (client, ns, case, e) = (&self.client, &self.ns, &self.case, &self.e);
        api(client, ns, case.kind)
            .delete("r", &DeleteParams::default())
            .await
            .unwrap();
        wait_until_gone(client, ns, case.kind, "r").await;
        assert!(
            (case.deleted)(e, id),
            "{}: remote {id} not removed: {:?}",
            case.provider,
            (case.remote)(e, id)
        );
    }

    /// Where the provider can create: adoption by externalName creates nothing; Orphan leaves
    /// the object in place.
    pub(super) async fn adoption_creates_nothing_and_orphan_keeps_it(&self) {
        let (client, ns, case, e, p) = (
            &self.client,
            &self.ns,
            &self.case,
            &self.e,
            self.case.provider,
        );
        let Some(seed) = case.seed else {
            return;
        };
        let seeded = seed(e);
        let count = (case.count)(e);
        apply(
            client,
            ns,
            manifest(
                case,
                "adopted",
                json!({"externalName": seeded, "deletionPolicy": "Orphan"}),
            ),
        )
        .await;
        let o = wait_until(client, ns, case.kind, "adopted", "Ready", is_ready).await;
        assert_eq!(
            o["status"]["externalId"],
            seeded.as_str(),
            "{p}: adopted the wrong object"
        );
        assert_eq!((case.count)(e), count, "{p}: adoption created an object");
        wait_remote(e, case, &seeded, "matching the spec", |v| {
            *v == case.initial
        })
        .await;
        api(client, ns, case.kind)
            .delete("adopted", &DeleteParams::default())
            .await
            .unwrap();
        wait_until_gone(client, ns, case.kind, "adopted").await;
        assert!(
            (case.remote)(e, &seeded).is_some(),
            "{p}: Orphan deleted the remote object"
        );
        assert_eq!((case.count)(e), count);
    }
}
