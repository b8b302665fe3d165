//! Periodic resyncs without a timer per resource.
//!
//! A reconcile that ends well returns "await change" rather than "requeue after the resync
//! period": kube's scheduler would otherwise hold a request (the object's name, namespace,
//! resource version and uid, twice) for every resource at all times, about 0.7 KiB each, 7 MiB
//! at 10,000 resources. Instead one stream per managed kind walks the store: each resource has a
//! fixed place in the period (its uid hashed), so resyncs are spread evenly over the period,
//! each resource comes once per period, and nothing is kept per resource.
//!
//! A resource with its own resync period (the `ssoperator.io/resync-period` annotation) keeps
//! its own timer and is skipped here.

use std::{
    hash::{Hash, Hasher},
    time::Duration,
};

use futures::{Stream, StreamExt, stream};
use kube::{
    ResourceExt,
    runtime::reflector::{ObjectRef, Store},
};

use super::{context::resync_period, managed::Managed};
use crate::crd::RESYNC_PERIOD_ANNOTATION;

/// How often the store is walked for the resources whose place in the period has come.
const TICK: Duration = Duration::from_secs(1);

/// Where in a period of `period_ms` milliseconds the resync of the resource `uid` falls.
fn place(uid: &str, period_ms: u64) -> u64 {
    // SipHash with fixed keys: the same place in every process, so that a restart does not
    // bunch resources up.
    let mut h = std::hash::DefaultHasher::new();
    uid.hash(&mut h);
    h.finish() % period_ms.max(1)
}

/// Whether `place` lies in the part of the period after `from` up to and including `to`
/// (both offsets into the period), wrapping past its end when `to < from`.
fn due(place: u64, from: u64, to: u64) -> bool {
    if from <= to {
        from < place && place <= to
    } else {
        place > from || place <= to
    }
}

/// The window of the period that the walk at `elapsed` covers after the one at `before` (times
/// since the stream began, in milliseconds): `None` when a whole period or more went by (a
/// stalled process), and then every resource is due.
fn window(before: u64, elapsed: u64, period_ms: u64) -> Option<(u64, u64)> {
    let period_ms = period_ms.max(1);
    (elapsed.saturating_sub(before) < period_ms).then(|| (before % period_ms, elapsed % period_ms))
}

/// The resources of `store` as their resyncs come due, each once per `period`.
pub fn resyncs<K: Managed>(store: Store<K>, period: Duration) -> impl Stream<Item = ObjectRef<K>> {
    let period_ms = u64::try_from(period.as_millis()).unwrap_or(u64::MAX).max(1);
    let mut ticks = tokio::time::interval(TICK.min(period / 10).max(Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let start = tokio::time::Instant::now();
    stream::unfold((ticks, 0u64), move |(mut ticks, before)| {
        let store = store.clone();
        async move {
            ticks.tick().await;
            let elapsed = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
            let window = window(before, elapsed, period_ms);
            let due: Vec<ObjectRef<K>> = store
                .state()
                .iter()
                .filter(|o| {
                    let own = o
                        .annotations()
                        .get(RESYNC_PERIOD_ANNOTATION)
                        .map(String::as_str);
                    resync_period(own).0.is_none()
                })
                .filter(|o| {
                    window.is_none_or(|(from, to)| {
                        due(place(&o.uid().unwrap_or_default(), period_ms), from, to)
                    })
                })
                .map(|o| ObjectRef::from_obj(o.as_ref()))
                .collect();
            Some((stream::iter(due), (ticks, elapsed)))
        }
    })
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks a period in uneven steps, as ticks that come late would, and counts how often each
    /// resource came due.
    fn comes(places: &[u64], steps: &[u64], period_ms: u64) -> Vec<usize> {
        let mut counts = vec![0; places.len()];
        let mut before = 0;
        for &elapsed in steps {
            let w = window(before, elapsed, period_ms);
            for (i, p) in places.iter().enumerate() {
                if w.is_none_or(|(from, to)| due(*p, from, to)) {
                    counts[i] += 1;
                }
            }
            before = elapsed;
        }
        counts
    }

    #[test]
    fn each_resource_comes_once_per_period_whatever_the_ticks() {
        let period = 60_000;
        let places: Vec<u64> = (0..500)
            .map(|i| place(&format!("uid-{i}"), period))
            .collect();
        // Two periods in steps of 1 s, then of 7.3 s that cross the period's end unevenly.
        let even: Vec<u64> = (1..=120).map(|s| s * 1000).collect();
        assert!(comes(&places, &even, period).iter().all(|c| *c == 2));
        let uneven: Vec<u64> = (1..=40).map(|s| s * 7300).collect(); // 292 s: 4 periods and more
        let counts = comes(&places, &uneven, period);
        for (p, c) in places.iter().zip(&counts) {
            let expected = if *p <= 292_000 % period { 5 } else { 4 };
            assert_eq!(*c, expected, "place {p}");
        }
    }

    #[test]
    fn a_stall_longer_than_the_period_makes_everyone_due() {
        assert_eq!(window(1000, 62_000, 60_000), None);
        assert_eq!(window(1000, 2000, 60_000), Some((1000, 2000)));
        assert_eq!(window(59_000, 61_000, 60_000), Some((59_000, 1000)));
        assert!(due(59_500, 59_000, 1000) && due(500, 59_000, 1000) && !due(30_000, 59_000, 1000));
    }

    #[test]
    fn places_spread_over_the_period() {
        let period = 60_000;
        let mut per_tenth = [0usize; 10];
        for i in 0..10_000 {
            let p = place(&format!("5f1c0e4a-{i:04}-4b7e-9c1d-0242ac120002"), period);
            per_tenth[usize::try_from(p * 10 / period).unwrap_or(0)] += 1;
        }
        // Evenly spread would be 1000 a tenth.
        assert!(
            per_tenth.iter().all(|n| (850..1150).contains(n)),
            "{per_tenth:?}"
        );
    }
}
