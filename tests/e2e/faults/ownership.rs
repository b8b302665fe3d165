//! The status and ownership defects a crash or a status wipe exposed: names are neither taken
//! nor created twice, strangers are not adopted, and an interrupted create is cleaned up.

use super::*;

/// Every managed resource of the namespace: (kind, name, object).
async fn managed_objects(client: &Client, ns: &str) -> Vec<(String, String, DynamicObject)> {
    let mut all = vec![];
    for kind in MANAGED_KINDS {
        let list = managed_api(client, ns, kind)
            .list(&Default::default())
            .await
            .unwrap();
        for o in list.items {
            let name = o.metadata.name.clone().unwrap_or_default();
            all.push((kind.to_string(), name, o));
        }
    }
    all
}

/// The name of a create in flight that `o` records: the annotation, or the status field older
/// versions wrote.
fn pending_create(o: &DynamicObject) -> Option<String> {
    o.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("ssoperator.io/pending-create").cloned())
        .or_else(|| o.data["status"]["pendingCreate"].as_str().map(String::from))
}

async fn wait_all_ready(client: &Client, ns: &str) -> Vec<(String, String, DynamicObject)> {
    let deadline = Instant::now() + PHASE_TIMEOUT;
    loop {
        let objects = managed_objects(client, ns).await;
        let not_ready: Vec<String> = objects
            .iter()
            .filter(|(_, _, o)| {
                !o.data["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
            .map(|(k, n, o)| format!("{k}/{n}: {}", o.data["status"]))
            .collect();
        if not_ready.is_empty() && !objects.is_empty() {
            return objects;
        }
        assert!(Instant::now() < deadline, "not Ready: {not_ready:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A confirmed create keeps no pending name (annotation or status); a wiped status (a backup restore, a
/// migration) costs no create and takes no name: the external-id annotation brings each
/// resource back to its own object.
#[tokio::test]
async fn status_loss_neither_creates_nor_takes_names() {
    let (client, ns) = setup().await;
    let e = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
    let op = crate::operator::Operator::start(&client, &ns);
    for doc in crate::demo::examples_for(&e, &ns) {
        apply(&client, &ns, doc).await;
    }
    let objects = wait_all_ready(&client, &ns).await;
    let pending: Vec<&String> = objects
        .iter()
        .filter(|(_, _, o)| pending_create(o).is_some())
        .map(|(_, n, _)| n)
        .collect();
    assert!(pending.is_empty(), "pending create left on {pending:?}");
    let ids: BTreeMap<String, Value> = objects
        .iter()
        .map(|(k, n, o)| (format!("{k}/{n}"), o.data["status"]["externalId"].clone()))
        .collect();
    let before = creates(&e);
    drop(op);

    // Wipe every status, as a restore without status does.
    for (kind, name, _) in &objects {
        managed_api(&client, &ns, kind)
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": null})),
            )
            .await
            .unwrap();
    }
    assert!(
        managed_objects(&client, &ns)
            .await
            .iter()
            .all(|(_, _, o)| o.data["status"]["externalId"].is_null()),
        "status was not wiped"
    );
    let op = crate::operator::Operator::start(&client, &ns);
    let objects = wait_all_ready(&client, &ns).await;
    assert!(op.status_writes() > 0, "the operator wrote no status");
    let after: BTreeMap<String, Value> = objects
        .iter()
        .map(|(k, n, o)| (format!("{k}/{n}"), o.data["status"]["externalId"].clone()))
        .collect();
    assert_eq!(after, ids, "a resource came back to another object");
    assert_eq!(creates(&e), before, "creates after a status wipe");
}

/// After a console delete the operator creates the object again and records the new id; if
/// someone made another object of the same name first, it is not taken over.
#[tokio::test]
async fn a_deleted_object_is_created_again_and_a_stranger_is_not_adopted() {
    let (client, ns) = setup().await;
    let e = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
    let target = TARGETS[0];
    let _op = crate::operator::Operator::start(&client, &ns);
    target.install(&client, &ns, &e).await;
    let api = target.api(&client, &ns);
    wait_until(&api, "r0", "Ready", |o| is_ready(o, 1)).await;
    let clerk = format!("{}/v1/enterprise_connections", e.endpoints()["clerk"]);
    let console = reqwest::Client::new();
    let console_delete = |id: String| {
        let req = console
            .delete(format!("{clerk}/{id}"))
            .bearer_auth(demo::CLERK_SECRET_KEY);
        async move { assert!(req.send().await.unwrap().status().is_success()) }
    };
    let id_of = |o: &DynamicObject| {
        o.data["status"]["externalId"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };

    // r0: deleted in the console → created again, under a new id, status and annotation agree.
    let first = id_of(&api.get("r0").await.unwrap());
    console_delete(first.clone()).await;
    let o = wait_until(&api, "r0", "created again", |o| {
        let id = id_of(o);
        !id.is_empty() && id != first && is_ready(o, 1)
    })
    .await;
    let second = id_of(&o);
    assert_eq!(
        o.metadata.annotations.clone().unwrap_or_default()["ssoperator.io/external-id"],
        second
    );
    assert_eq!(pending_create(&o), None, "{:?}", o.metadata.annotations);
    assert_eq!(target.count(&e), RESOURCES);

    // r1: deleted in the console and, before the operator looks, another object of that name
    // made there → NameTaken, and the stranger keeps its own domains.
    let r1 = id_of(&api.get("r1").await.unwrap());
    let mut stranger = e.clerk.get_connection(&r1).unwrap();
    console_delete(r1).await;
    stranger.id = "ent_stranger0000000000000000".into();
    stranger.domains = vec!["stranger.example".into()];
    e.clerk.insert_connection(stranger);
    wait_until(&api, "r1", "NameTaken", |o| {
        o.data["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["reason"] == "NameTaken")
    })
    .await;
    let kept = e
        .clerk
        .get_connection("ent_stranger0000000000000000")
        .unwrap();
    assert_eq!(kept.domains, vec!["stranger.example".to_string()]);
    assert!(
        id_of(&api.get("r1").await.unwrap()) != "ent_stranger0000000000000000",
        "the stranger was adopted"
    );
}

async fn wait_until(
    api: &Api<DynamicObject>,
    name: &str,
    what: &str,
    pred: impl Fn(&DynamicObject) -> bool,
) -> DynamicObject {
    let deadline = Instant::now() + PHASE_TIMEOUT;
    loop {
        let o = api.get(name).await.unwrap();
        if pred(&o) {
            return o;
        }
        assert!(
            Instant::now() < deadline,
            "{name} not {what}: {:#?}",
            o.data["status"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A create interrupted before its answer was recorded (the pending-create annotation, no id)
/// still deletes its remote object under `deletionPolicy: Delete`: found by the recorded name.
#[tokio::test]
async fn an_interrupted_create_is_deleted_by_its_name() {
    let (client, ns) = setup().await;
    let e = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
    let target = TARGETS[0];
    target.install(&client, &ns, &e).await;
    let api = target.api(&client, &ns);
    let mut armed = Process::start(&ns, Some("create-after"));
    let deadline = Instant::now() + PHASE_TIMEOUT;
    while armed.exited().is_none() {
        assert!(Instant::now() < deadline, "no crash at create-after");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(armed.exited(), Some(CRASH_EXIT));
    let interrupted = api.get("r0").await.unwrap();
    let r1 = api.get("r1").await.unwrap();
    let pending: Vec<&DynamicObject> = [&interrupted, &r1]
        .into_iter()
        .filter(|o| pending_create(o).is_some())
        .collect();
    // One create was interrupted after it reached the provider (the other resource may have
    // recorded its name too, before or after its own create).
    assert!(!pending.is_empty(), "no create was interrupted");
    assert!(
        pending
            .iter()
            .all(|o| o.data["status"]["externalId"].is_null())
    );
    // The finalizer came in the same write as the pending name, before the create.
    assert!(
        pending.iter().all(|o| o
            .metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == ssoperator::crd::FINALIZER)),
        "a pending create without the finalizer"
    );
    assert!(
        target.count(&e) >= 1,
        "the interrupted create did not reach the provider"
    );
    for i in 0..RESOURCES {
        api.delete(&format!("r{i}"), &DeleteParams::default())
            .await
            .unwrap();
    }
    let _clean = Process::start(&ns, None);
    while !all_gone(&api).await {
        assert!(Instant::now() < deadline + PHASE_TIMEOUT, "not deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        target.count(&e),
        0,
        "an interrupted create's object was left behind"
    );
}

/// A create interrupted under an earlier version, which recorded the pending name in
/// `status.pendingCreate` (no annotation, no id): the object of that name is adopted, not taken
/// for a stranger's (NameTaken) nor created a second time, and the status field is cleared.
#[tokio::test]
async fn a_pending_create_in_status_from_an_earlier_version_is_adopted() {
    let (client, ns) = setup().await;
    let e = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
    let target = TARGETS[0];
    target.install(&client, &ns, &e).await;
    let api = target.api(&client, &ns);
    let made = {
        let _op = Process::start(&ns, None);
        let o = wait_until(&api, "r0", "Ready", |o| is_ready(o, 1)).await;
        o.data["status"]["externalId"].as_str().unwrap().to_string()
    };
    // What an earlier version left after a crash between the create and its answer.
    api.patch(
        "r0",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"annotations": {"ssoperator.io/external-id": null}}})),
    )
    .await
    .unwrap();
    api.patch_status(
        "r0",
        &PatchParams::default(),
        &Patch::Merge(&json!({"status": {"externalId": null, "pendingCreate": "Fault 0"}})),
    )
    .await
    .unwrap();
    let _op = Process::start(&ns, None);
    let o = wait_until(&api, "r0", "adopted", |o| {
        is_ready(o, 1) && o.data["status"]["pendingCreate"].is_null()
    })
    .await;
    assert_eq!(o.data["status"]["externalId"], made.as_str());
    assert_eq!(
        o.metadata.annotations.clone().unwrap_or_default()["ssoperator.io/external-id"],
        made
    );
    assert_eq!(pending_create(&o), None);
    assert_eq!(target.count(&e), RESOURCES, "a second create");
}
