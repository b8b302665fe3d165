//! Periodic resyncs without a timer per resource.
//!
//! A reconcile that ends well returns "await change" rather than "requeue after the resync
//! period": kube's scheduler would otherwise hold a request (the object's name, namespace,
//! resource version and uid, twice) for every resource at all times, about 0.9 KiB each. Instead
//! [`Looks`] keeps when each resource was last looked at (16 bytes), and one stream per managed
//! kind walks the store once a second for the resources whose period since then has passed. The
//! period is stretched by 0.9 to 1.1 per resource (from its uid), as the timers' jitter did, so
//! that resources looked at together drift apart.
//!
//! A reconcile that ends otherwise (an error's backoff, a resource's own resync period, a held
//! delete) has set a timer of its own in kube's scheduler; the walk leaves that resource alone
//! until a reconcile of it ends well again.

use std::{
    collections::{HashMap, HashSet},
    sync::Mutex,
    time::{Duration, Instant},
};

use futures::{Stream, StreamExt, stream};
use kube::{
    ResourceExt,
    runtime::{
        controller::Action,
        reflector::{ObjectRef, Store},
    },
};

use super::{lock, managed::Managed, watch::hash_of};
use crate::provider::ResourceKind;

/// How often the store is walked for the resources that are due.
const TICK: Duration = Duration::from_secs(1);
/// Marks a resource on a timer of its own.
const OWN_TIMER: u64 = u64::MAX;

/// When each resource (per kind, by uid hash) was last looked at, in milliseconds since this
/// process started, or [`OWN_TIMER`].
pub struct Looks {
    start: Instant,
    last: Mutex<HashMap<ResourceKind, HashMap<u64, u64>>>,
}

impl Default for Looks {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            last: Mutex::default(),
        }
    }
}

impl Looks {
    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(OWN_TIMER - 1)
    }

    /// Records how a reconcile of `uid` ended: "await change" leaves the next look to the walk;
    /// anything else (or an error, `None`) set a timer of its own.
    pub fn record(&self, kind: ResourceKind, uid: &str, ended: Option<&Action>) {
        let at = match ended {
            Some(a) if *a == Action::await_change() => self.now(),
            _ => OWN_TIMER,
        };
        lock(&self.last)
            .entry(kind)
            .or_default()
            .insert(hash_of(uid), at);
    }
}

/// The factor, 0.9 to 1.1, by which the period of the resource with this uid hash is stretched.
fn stretch(uid: u64) -> f64 {
    0.9 + (uid % 1000) as f64 / 5000.0
}

/// Whether a resource last looked at `last` (see [`Looks`]) is due at `now` for a resync.
fn due(last: u64, now: u64, period_ms: u64, uid: u64) -> bool {
    last != OWN_TIMER && (now.saturating_sub(last) as f64) >= period_ms as f64 * stretch(uid)
}

/// The resources of `store` as their resyncs come due, each once per `period` (stretched)
/// after its last look. A resource not looked at yet is first due a period after it is seen.
pub fn resyncs<K: Managed>(
    store: Store<K>,
    looks: std::sync::Arc<Looks>,
    period: Duration,
) -> impl Stream<Item = ObjectRef<K>> {
    let period_ms = u64::try_from(period.as_millis()).unwrap_or(u64::MAX);
    let mut ticks = tokio::time::interval(TICK.min(period / 10).max(Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    stream::unfold((ticks, 0u32), move |(mut ticks, n)| {
        let (store, looks) = (store.clone(), looks.clone());
        async move {
            ticks.tick().await;
            let objects = store.state();
            let now = looks.now();
            let mut all = lock(&looks.last);
            let last = all.entry(K::KIND).or_default();
            let mut due_now = Vec::new();
            for o in &objects {
                let uid = hash_of(o.uid().unwrap_or_default());
                let at = last.entry(uid).or_insert(now);
                if due(*at, now, period_ms, uid) {
                    // Not due again while its reconcile waits or runs; its end records anew.
                    *at = now;
                    due_now.push(ObjectRef::from_obj(o.as_ref()));
                }
            }
            // Now and then, forget resources that are gone.
            if n % 60 == 59 && last.len() > objects.len() {
                let live: HashSet<u64> = objects
                    .iter()
                    .map(|o| hash_of(o.uid().unwrap_or_default()))
                    .collect();
                last.retain(|uid, _| live.contains(uid));
            }
            drop(all);
            Some((stream::iter(due_now), (ticks, n.wrapping_add(1))))
        }
    })
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_is_due_a_stretched_period_after_its_last_look_and_never_on_its_own_timer() {
        let period = 60_000;
        for uid in [0, 1, 499, 999, 123_456_789] {
            let s = stretch(uid);
            assert!((0.9..=1.1).contains(&s), "{uid}: {s}");
            let after = (period as f64 * s).ceil() as u64;
            assert!(!due(1000, 1000 + after - 1, period, uid));
            assert!(due(1000, 1000 + after, period, uid));
            assert!(!due(OWN_TIMER, u64::MAX - 1, period, uid));
        }
    }

    #[test]
    fn stretches_spread_resources_looked_at_together() {
        let mut per_fifth = [0usize; 5];
        for i in 0..10_000 {
            let s = stretch(hash_of(format!("5f1c0e4a-{i:04}-4b7e-9c1d-0242ac120002")));
            per_fifth[((s - 0.9) / 0.2 * 5.0).min(4.0) as usize] += 1;
        }
        // Evenly spread would be 2000 a fifth.
        assert!(
            per_fifth.iter().all(|n| (1800..2200).contains(n)),
            "{per_fifth:?}"
        );
    }

    #[test]
    fn a_reconcile_that_ends_well_leaves_the_next_look_to_the_walk() {
        let looks = Looks::default();
        let kind = ResourceKind::EnterpriseConnection;
        looks.record(kind, "a", Some(&Action::await_change()));
        looks.record(kind, "b", Some(&Action::requeue(Duration::from_secs(5))));
        looks.record(kind, "c", None);
        let all = lock(&looks.last);
        let last = &all[&kind];
        assert!(last[&hash_of("a")] != OWN_TIMER);
        assert_eq!(last[&hash_of("b")], OWN_TIMER);
        assert_eq!(last[&hash_of("c")], OWN_TIMER);
    }
}
