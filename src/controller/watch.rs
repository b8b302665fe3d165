//! One in-memory store per kind, whatever the number of watched namespaces, and the objects in
//! it stripped of what nothing reads.
//!
//! kube's reflector replaces its whole store on each `InitDone`, so the watch streams of several
//! namespaces cannot feed one store as they are: one namespace's relist would drop the others'
//! objects. [`merged`] turns the namespaces' streams into one: a single initial list (`Init`,
//! every namespace's objects, then one `InitDone` once all are listed), and after that every
//! relist of a namespace as `Apply` events plus a `Delete` for each of its objects that the
//! relist no longer shows. That also keeps a relist from holding a second copy of the store.

use std::{
    collections::{HashMap, HashSet},
    fmt::Debug,
    hash::{DefaultHasher, Hash, Hasher},
    sync::Arc,
};

use futures::{
    Stream, StreamExt,
    future::ready,
    stream::{self, BoxStream},
};
use kube::{
    Api, Client, Resource, ResourceExt,
    runtime::{
        WatchStreamExt,
        reflector::{ObjectRef, Store},
        watcher::{self, Event, watcher},
    },
};

use super::managed::Managed;

/// The prefix of the annotations the operator reads ([`crate::crd::PAUSED_ANNOTATION`],
/// [`crate::crd::EXTERNAL_ID_ANNOTATION`]); the stores keep only these.
const OWN_ANNOTATIONS: &str = "ssoperator.io/";

/// Drops what the operator never reads from an object before it is stored: `managedFields`
/// (about three quarters of a typical object), the labels and every annotation but its own
/// (kubectl's last-applied copy among them). Each label or annotation map, even of one entry,
/// costs a B-tree node of about half a KiB per object; the cached copies serve reads only (every
/// write is a patch of named fields, never the stored object sent back).
pub fn strip<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    meta.labels = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.retain(|k, _| k.starts_with(OWN_ANNOTATIONS));
        if a.is_empty() {
            meta.annotations = None;
        }
    }
}

/// The kind's API in one namespace, or in all.
pub(super) fn api_for<K>(client: &Client, ns: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// [`watch_of`] a managed kind, whose stored copies also drop an id annotation that status
/// repeats ([`super::reconcile::strip_recorded_id`]).
pub(super) fn watch_managed<K: Managed>(
    client: &Client,
) -> impl Fn(Option<&str>) -> BoxStream<'static, watcher::Result<watcher::Event<K>>> + use<K> {
    let watch = watch_of::<K>(client);
    move |ns| {
        watch(ns)
            .modify(super::reconcile::strip_recorded_id::<K>)
            .boxed()
    }
}

/// Opens the watch of a namespaced kind in one namespace (or all).
pub(super) fn watch_of<K>(
    client: &Client,
) -> impl Fn(Option<&str>) -> BoxStream<'static, watcher::Result<watcher::Event<K>>> + use<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static,
{
    let client = client.clone();
    move |ns| {
        watcher(api_for::<K>(&client, ns), watcher::Config::default())
            .default_backoff()
            .boxed()
    }
}

/// The namespaces to watch: each of `namespaces`, or all (`None`) when it is empty.
pub fn scopes(namespaces: &[String]) -> Vec<Option<String>> {
    if namespaces.is_empty() {
        vec![None]
    } else {
        namespaces.iter().cloned().map(Some).collect()
    }
}

/// The watch events of `K` in every scope (`watch` opens the stream of one) as one stream,
/// stripped ([`strip`]) and with the relist semantics described in the module comment.
/// `reader` must be the store this stream feeds: a namespace's relist is compared with it.
pub fn merged<K>(
    scopes: Vec<Option<String>>,
    reader: Store<K>,
    watch: impl Fn(Option<&str>) -> BoxStream<'static, watcher::Result<Event<K>>>,
) -> BoxStream<'static, watcher::Result<Event<K>>>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Send + Sync + 'static,
{
    let streams = scopes.iter().enumerate().map(|(i, ns)| {
        watch(ns.as_deref())
            .modify(strip)
            .map(move |e| (i, e))
            .boxed()
    });
    let streams: Vec<_> = streams.collect();
    let mut merge = Merge::new(scopes, reader);
    stream::select_all(streams)
        .flat_map(move |(i, e)| stream::iter(merge.step(i, e)))
        .boxed()
}

/// The state of [`merged`].
struct Merge<K: Resource<DynamicType = ()> + 'static> {
    /// The namespace of each stream; `None` watches all.
    scopes: Vec<Option<String>>,
    reader: Store<K>,
    started: bool,
    /// Which streams have finished their first list.
    listed: Vec<bool>,
    /// Objects deleted before every stream had finished its first list (the reflector's list
    /// buffer cannot drop them, so they are deleted right after).
    deleted_early: HashMap<ObjectRef<K>, K>,
    /// Per stream, during a later relist: the objects it has shown so far.
    relisting: Vec<Option<HashSet<ObjectRef<K>>>>,
}

impl<K> Merge<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    fn new(scopes: Vec<Option<String>>, reader: Store<K>) -> Self {
        let n = scopes.len();
        Self {
            scopes,
            reader,
            started: false,
            listed: vec![false; n],
            deleted_early: HashMap::new(),
            relisting: vec![None; n],
        }
    }

    fn all_listed(&self) -> bool {
        self.listed.iter().all(|l| *l)
    }

    fn step(
        &mut self,
        i: usize,
        event: watcher::Result<Event<K>>,
    ) -> Vec<watcher::Result<Event<K>>> {
        let event = match event {
            Ok(e) => e,
            Err(e) => return vec![Err(e)],
        };
        let mut out = vec![];
        if !self.started {
            self.started = true;
            out.push(Ok(Event::Init));
        }
        if !self.all_listed() {
            match event {
                // A stream that restarts before the others are listed lists its objects again;
                // the buffer keeps one copy of each.
                Event::Init => {}
                Event::InitApply(o) | Event::Apply(o) => {
                    self.deleted_early.remove(&ObjectRef::from_obj(&o));
                    out.push(Ok(Event::InitApply(o)));
                }
                Event::Delete(o) => {
                    self.deleted_early.insert(ObjectRef::from_obj(&o), o);
                }
                Event::InitDone => {
                    self.listed[i] = true;
                    if self.all_listed() {
                        out.push(Ok(Event::InitDone));
                        out.extend(
                            self.deleted_early
                                .drain()
                                .map(|(_, o)| Ok(Event::Delete(o))),
                        );
                    }
                }
            }
            return out;
        }
        match event {
            Event::Init => self.relisting[i] = Some(HashSet::new()),
            Event::InitApply(o) => {
                if let Some(seen) = self.relisting[i].as_mut() {
                    seen.insert(ObjectRef::from_obj(&o));
                }
                out.push(Ok(Event::Apply(o)));
            }
            Event::InitDone => {
                if let Some(seen) = self.relisting[i].take() {
                    let scope = self.scopes[i].as_deref();
                    out.extend(
                        self.reader
                            .state()
                            .into_iter()
                            .filter(|o| scope.is_none() || o.namespace().as_deref() == scope)
                            .filter(|o| !seen.contains(&ObjectRef::from_obj(o.as_ref())))
                            .map(|o| Ok(Event::Delete(o.as_ref().clone()))),
                    );
                }
            }
            e @ (Event::Apply(_) | Event::Delete(_)) => out.push(Ok(e)),
        }
        out
    }
}

/// Passes an object on only when `key` of it changed since this stream last passed it (kube's
/// `predicate_filter`, for the shared streams of [`kube::runtime::reflector::store_shared`]).
/// `store` holds the stream's objects: the keys of deleted ones are dropped now and then.
pub fn changed<K, S>(
    stream: S,
    store: Store<K>,
    key: impl Fn(&K) -> u64 + Send + 'static,
) -> impl Stream<Item = Arc<K>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
    S: Stream<Item = Arc<K>> + Send + 'static,
{
    // Keyed by a hash of the uid: a few bytes per object, for every object of the kind.
    let mut seen: HashMap<u64, u64> = HashMap::new();
    let mut prune_at = 1024;
    stream.filter(move |o| {
        let k = key(o);
        let changed = seen.insert(hash_of(&o.meta().uid), k) != Some(k);
        if seen.len() >= prune_at {
            let live: HashSet<u64> = store
                .state()
                .iter()
                .map(|o| hash_of(&o.meta().uid))
                .collect();
            seen.retain(|uid, _| live.contains(uid));
            prune_at = (seen.len() * 2).max(1024);
        }
        ready(changed)
    })
}

/// Hashes a value (for the keys of [`changed`]).
pub fn hash_of(v: impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::{api::ObjectMeta, runtime::reflector};

    use super::*;

    fn cm(ns: &str, name: &str, v: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                ..Default::default()
            },
            data: Some([("v".to_string(), v.to_string())].into()),
            ..Default::default()
        }
    }

    /// Feeds events through the merge and a reflector writer, as `merged` does.
    struct Harness {
        merge: Merge<ConfigMap>,
        writer: reflector::store::Writer<ConfigMap>,
        reader: Store<ConfigMap>,
    }

    impl Harness {
        fn new(namespaces: &[&str]) -> Self {
            let (reader, writer) = reflector::store();
            let scopes = namespaces.iter().map(|n| Some(n.to_string())).collect();
            Self {
                merge: Merge::new(scopes, reader.clone()),
                writer,
                reader,
            }
        }
        fn feed(&mut self, i: usize, e: Event<ConfigMap>) {
            for out in self.merge.step(i, Ok(e)) {
                self.writer
                    .apply_watcher_event(&out.unwrap_or(Event::InitDone));
            }
        }
        fn names(&self) -> Vec<String> {
            let mut n: Vec<String> = self
                .reader
                .state()
                .iter()
                .map(|o| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any()))
                .collect();
            n.sort();
            n
        }
    }

    #[test]
    fn one_store_holds_every_namespace_and_a_relist_of_one_keeps_the_others() {
        let mut h = Harness::new(&["a", "b"]);
        h.feed(0, Event::Init);
        h.feed(0, Event::InitApply(cm("a", "x", "1")));
        h.feed(0, Event::InitDone);
        h.feed(1, Event::Init);
        h.feed(1, Event::InitApply(cm("b", "y", "1")));
        assert!(
            h.reader.state().is_empty(),
            "nothing before every namespace is listed"
        );
        h.feed(1, Event::InitDone);
        assert_eq!(h.names(), ["a/x", "b/y"]);

        // Namespace a relists: x is gone, z is new; b's objects stay.
        h.feed(0, Event::Init);
        h.feed(0, Event::InitApply(cm("a", "z", "1")));
        assert_eq!(h.names(), ["a/x", "a/z", "b/y"], "no second copy, no gap");
        h.feed(0, Event::InitDone);
        assert_eq!(h.names(), ["a/z", "b/y"]);

        h.feed(1, Event::Apply(cm("b", "y", "2")));
        h.feed(1, Event::Delete(cm("b", "y", "2")));
        assert_eq!(h.names(), ["a/z"]);
    }

    #[test]
    fn an_object_deleted_before_every_namespace_is_listed_does_not_come_back() {
        let mut h = Harness::new(&["a", "b"]);
        h.feed(0, Event::Init);
        h.feed(0, Event::InitApply(cm("a", "x", "1")));
        h.feed(0, Event::InitApply(cm("a", "w", "1")));
        h.feed(0, Event::InitDone);
        h.feed(0, Event::Delete(cm("a", "x", "1")));
        h.feed(0, Event::Apply(cm("a", "v", "1")));
        h.feed(1, Event::Init);
        h.feed(1, Event::InitDone);
        assert_eq!(h.names(), ["a/v", "a/w"]);
    }

    #[tokio::test]
    async fn changed_passes_an_object_when_its_key_changes_and_forgets_deleted_ones() {
        let (reader, mut writer) = reflector::store::<ConfigMap>();
        let with_uid = |name: &str, v: &str| {
            let mut o = cm("a", name, v);
            o.metadata.uid = Some(format!("uid-{name}"));
            o
        };
        let live = with_uid("live", "1");
        writer.apply_watcher_event(&Event::Apply(live.clone()));
        let mut input = vec![live.clone(), live.clone(), with_uid("live", "2")];
        // More objects than the first prune threshold, none of them in the store (deleted).
        input.extend((0..1100).map(|i| with_uid(&format!("gone-{i}"), "1")));
        input.push(with_uid("live", "2"));
        let passed: Vec<String> = changed(
            futures::stream::iter(input.into_iter().map(Arc::new)),
            reader,
            |o: &ConfigMap| hash_of(o.data.as_ref().and_then(|d| d.get("v")).cloned()),
        )
        .map(|o| o.name_any())
        .filter(|n| ready(n == "live"))
        .collect()
        .await;
        // The first sighting, the change, and nothing for repeats, even after pruning.
        assert_eq!(passed, ["live", "live"]);
    }

    #[test]
    fn strip_drops_managed_fields_labels_and_foreign_annotations_only() {
        let mut o = cm("a", "x", "1");
        o.metadata.managed_fields = Some(vec![Default::default()]);
        o.metadata.labels = Some([("app".to_string(), "x".to_string())].into());
        o.metadata.annotations = Some(
            [
                (
                    "kubectl.kubernetes.io/last-applied-configuration".to_string(),
                    "{}".to_string(),
                ),
                (
                    crate::crd::PAUSED_ANNOTATION.to_string(),
                    "true".to_string(),
                ),
                (
                    crate::crd::EXTERNAL_ID_ANNOTATION.to_string(),
                    "id".to_string(),
                ),
            ]
            .into(),
        );
        strip(&mut o);
        assert!(o.metadata.managed_fields.is_none());
        assert!(o.metadata.labels.is_none());
        assert_eq!(
            o.annotations().keys().collect::<Vec<_>>(),
            [
                crate::crd::EXTERNAL_ID_ANNOTATION,
                crate::crd::PAUSED_ANNOTATION
            ]
        );
        assert_eq!(o.data, cm("a", "x", "1").data);

        let mut foreign_only = cm("a", "y", "1");
        foreign_only.metadata.annotations = Some([("k".to_string(), "v".to_string())].into());
        strip(&mut foreign_only);
        assert!(foreign_only.metadata.annotations.is_none());
    }
}
