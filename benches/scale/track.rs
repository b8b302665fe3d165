//! Counting the resources (present, Ready) from a watch, and waiting on those counts.

use super::*;

/// Ready=True for the current generation.
pub(crate) fn is_ready(o: &EnterpriseConnection) -> bool {
    o.status.as_ref().is_some_and(|s| {
        s.observed_generation == o.metadata.generation
            && s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

/// Objects of the run that exist, and how many of them are Ready.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counts {
    pub(crate) present: usize,
    pub(crate) ready: usize,
}

/// Watches the run's EnterpriseConnections in every namespace and publishes their counts, so that
/// waiting costs a watch, not a list of N objects every poll.
pub(crate) fn track(api: Api<EnterpriseConnection>, selector: &str) -> watch::Receiver<Counts> {
    let (tx, rx) = watch::channel(Counts::default());
    let stream = watcher(api, watcher::Config::default().labels(selector)).default_backoff();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        let mut objects: HashMap<String, bool> = HashMap::new();
        let mut ready = 0usize;
        let mut init: Option<HashMap<String, bool>> = None;
        let key = |o: &EnterpriseConnection| {
            format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any())
        };
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Apply(o)) => {
                    let now = is_ready(&o);
                    if objects.insert(key(&o), now) == Some(true) {
                        ready -= 1;
                    }
                    ready += usize::from(now);
                }
                Ok(watcher::Event::Delete(o)) => {
                    if objects.remove(&key(&o)) == Some(true) {
                        ready -= 1;
                    }
                }
                Ok(watcher::Event::Init) => init = Some(HashMap::new()),
                Ok(watcher::Event::InitApply(o)) => {
                    init.get_or_insert_default().insert(key(&o), is_ready(&o));
                }
                Ok(watcher::Event::InitDone) => {
                    objects = init.take().unwrap_or_default();
                    ready = objects.values().filter(|r| **r).count();
                }
                Err(e) => eprintln!("bench: watch of the resources: {e} (retrying)"),
            }
            tx.send_replace(Counts {
                present: objects.len(),
                ready,
            });
        }
    });
    rx
}

/// Waits until `done` holds for the counts, failing at `deadline` or if the operator exits.
/// Long runs print progress every 15 s.
pub(crate) async fn wait_for(
    counts: &mut watch::Receiver<Counts>,
    operator: &mut Operator,
    deadline: Instant,
    what: &str,
    done: impl Fn(Counts) -> bool,
) {
    let start = Instant::now();
    let mut next_report = start + Duration::from_secs(15);
    loop {
        let now = *counts.borrow_and_update();
        if done(now) {
            return;
        }
        operator.assert_alive(&format!("while waiting for {what}"));
        let t = Instant::now();
        assert!(
            t < deadline,
            "{what}: not reached after {:.0?} ({} present, {} Ready); the end of {}:\n{}",
            start.elapsed(),
            now.present,
            now.ready,
            operator.log.display(),
            operator.log_tail()
        );
        if t >= next_report {
            eprintln!(
                "bench: {what}: {} present, {} Ready after {:.0?}",
                now.present,
                now.ready,
                start.elapsed()
            );
            next_report += Duration::from_secs(15);
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), counts.changed()).await;
    }
}

/// The status of every resource of the run, by `namespace/name`.
pub(crate) async fn statuses(
    client: &kube::Client,
    selector: &str,
) -> BTreeMap<String, serde_json::Value> {
    let api: Api<EnterpriseConnection> = Api::all(client.clone());
    let list = api
        .list(&ListParams::default().labels(selector))
        .await
        .expect("list the resources");
    list.items
        .into_iter()
        .map(|o| {
            let key = format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any());
            (key, serde_json::to_value(&o.status).unwrap_or_default())
        })
        .collect()
}
