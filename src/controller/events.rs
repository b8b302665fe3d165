//! Kubernetes Events, published without keeping them.
//!
//! kube's `Recorder` keeps every Event it published for six minutes, to count repeats as a
//! series; after a bulk create that is one whole Event per resource held in memory. The reconciler
//! publishes an Event only when something happened or an error changed, so repeats are rare: a
//! repeat within [`SERIES_WINDOW`] patches the first Event's series, and all that is kept for it
//! is a small key, at most [`MAX_SERIES`] of them.

use std::{
    collections::HashMap,
    hash::{DefaultHasher, Hash, Hasher},
    sync::Mutex,
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::{
        core::v1::ObjectReference,
        events::v1::{Event as K8sEvent, EventSeries},
    },
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
};
use kube::{
    Api, Client,
    api::{Patch, PatchParams, PostParams},
    runtime::events::{Event, EventType},
};
use serde_json::json;

use super::lock;

/// Repeats within this window count as one series (kube's Recorder uses six minutes).
const SERIES_WINDOW: Duration = Duration::from_secs(360);
/// Series remembered at most; the oldest are forgotten first.
const MAX_SERIES: usize = 1024;

pub struct Publisher {
    client: Client,
    controller: String,
    instance: String,
    /// Per (object, type, reason, note) hash: the Event's name, count, last time.
    series: Mutex<HashMap<u64, Series>>,
}

struct Series {
    name: String,
    count: i32,
    last: Instant,
}

impl Publisher {
    pub fn new(client: Client, controller: &str, instance: Option<String>) -> Self {
        Self {
            client,
            controller: controller.to_string(),
            instance: instance.unwrap_or_else(|| controller.to_string()),
            series: Mutex::default(),
        }
    }

    pub async fn publish(
        &self,
        ev: &Event,
        reference: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let namespace = reference
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let events: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
        let key = series_key(ev, reference);
        let repeat = {
            let mut series = lock(&self.series);
            series.retain(|_, s| s.last.elapsed() < SERIES_WINDOW);
            series.get_mut(&key).map(|s| {
                s.count += 1;
                s.last = Instant::now();
                (s.name.clone(), s.count)
            })
        };
        let now = MicroTime(jiff::Timestamp::now());
        if let Some((name, count)) = repeat {
            let patch = json!({ "series": EventSeries { count, last_observed_time: now.clone() } });
            match events
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(()),
                // Gone (expired or deleted): publish it anew.
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        let name = format!(
            "{}.{:x}",
            reference.name.as_deref().unwrap_or(&self.controller),
            now.0.as_nanosecond()
        );
        let event = K8sEvent {
            action: Some(ev.action.clone()),
            reason: Some(ev.reason.clone()),
            event_time: Some(now),
            regarding: Some(reference.clone()),
            note: ev.note.clone(),
            metadata: ObjectMeta {
                namespace: Some(namespace),
                name: Some(name.clone()),
                ..Default::default()
            },
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            type_: Some(
                match ev.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .into(),
            ),
            related: ev.secondary.clone(),
            ..Default::default()
        };
        events.create(&PostParams::default(), &event).await?;
        let mut series = lock(&self.series);
        if series.len() >= MAX_SERIES
            && let Some(oldest) = series.iter().min_by_key(|(_, s)| s.last).map(|(k, _)| *k)
        {
            series.remove(&oldest);
        }
        series.insert(
            key,
            Series {
                name,
                count: 1,
                last: Instant::now(),
            },
        );
        Ok(())
    }

    /// How many series are remembered (for tests).
    pub fn remembered(&self) -> usize {
        lock(&self.series).len()
    }
}

fn series_key(ev: &Event, reference: &ObjectReference) -> u64 {
    let mut h = DefaultHasher::new();
    reference.uid.hash(&mut h);
    reference.namespace.hash(&mut h);
    reference.name.hash(&mut h);
    matches!(ev.type_, EventType::Warning).hash(&mut h);
    ev.reason.hash(&mut h);
    ev.note.hash(&mut h);
    h.finish()
}
