//! `ssoperator_resources`: the resources by kind, condition and status, counted at each scrape
//! from the watch caches the controllers keep anyway. Counting at scrape time (rather than
//! updating a gauge after each status write) keeps the numbers right when a resource is deleted
//! or its status is changed by someone else, and costs nothing between scrapes.

use std::collections::BTreeMap;

use crate::crd::Condition;
use kube::{Resource, runtime::reflector::Store};

use crate::{
    core::conditions::{READY, SYNCED},
    crd::{
        ClusterProviderConfig, ConnectionProfile, EnterpriseConnection, OrgRoleMapping,
        ProviderConfig,
    },
    metrics::{ResourceCounter, ResourceLabels},
};

const STATUSES: [&str; 3] = ["True", "False", "Unknown"];

/// Adds the objects of `store` to `out`: for each of `types`, the status of that condition
/// (Unknown when the object has none yet). Every combination is present, zero when no object has
/// it, so that the series do not come and go.
fn count<K>(
    out: &mut BTreeMap<ResourceLabels, i64>,
    store: &Store<K>,
    types: &[&str],
    conditions: impl Fn(&K) -> Option<&[Condition]>,
) where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    let kind = K::kind(&()).to_string();
    let labels = |condition: &str, status: &str| ResourceLabels {
        kind: kind.clone(),
        condition: condition.to_string(),
        status: status.to_string(),
    };
    for condition in types {
        for status in STATUSES {
            out.entry(labels(condition, status)).or_insert(0);
        }
    }
    for obj in store.state() {
        let conds = conditions(&obj).unwrap_or_default();
        for condition in types {
            let status = conds
                .iter()
                .find(|c| c.type_ == *condition)
                .map(|c| c.status.as_str())
                .filter(|s| STATUSES.contains(s))
                .unwrap_or("Unknown");
            *out.entry(labels(condition, status)).or_insert(0) += 1;
        }
    }
}

/// The stores to count; ClusterProviderConfigs only when this operator reports their status.
pub struct Counted {
    pub provider_configs: Store<ProviderConfig>,
    pub cluster_provider_configs: Option<Store<ClusterProviderConfig>>,
    pub connections: Store<EnterpriseConnection>,
    pub profiles: Store<ConnectionProfile>,
    pub mappings: Store<OrgRoleMapping>,
}

/// The counter [`crate::metrics::Metrics::set_resource_counter`] takes.
pub fn resource_counter(stores: Counted) -> ResourceCounter {
    Box::new(move || {
        let mut out = BTreeMap::new();
        count(&mut out, &stores.provider_configs, &[READY], |o| {
            o.status.as_ref().map(|s| &s.conditions[..])
        });
        if let Some(cpcs) = &stores.cluster_provider_configs {
            count(&mut out, cpcs, &[READY], |o| {
                o.status.as_ref().map(|s| &s.conditions[..])
            });
        }
        let managed = [READY, SYNCED];
        count(&mut out, &stores.connections, &managed, |o| {
            o.status.as_ref().map(|s| &s.conditions[..])
        });
        count(&mut out, &stores.profiles, &managed, |o| {
            o.status.as_ref().map(|s| &s.conditions[..])
        });
        count(&mut out, &stores.mappings, &managed, |o| {
            o.status.as_ref().map(|s| &s.conditions[..])
        });
        out
    })
}

#[cfg(test)]
mod tests {
    use kube::runtime::{reflector::store, watcher::Event};
    use serde_json::json;

    use super::*;

    fn mapping(name: &str, ready: Option<&str>) -> OrgRoleMapping {
        let mut v = json!({
            "apiVersion": "ssoperator.io/v1alpha1",
            "kind": "OrgRoleMapping",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"providerConfigRef": {"name": "p"}},
        });
        if let Some(s) = ready {
            v["status"] = json!({"conditions": [{"type": "Ready", "status": s, "reason": "R",
                "message": "", "lastTransitionTime": "2024-01-01T00:00:00Z"}]});
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn counts_by_condition_and_forgets_deleted_objects() {
        let (orm_reader, mut orm_writer) = store::<OrgRoleMapping>();
        let a = mapping("a", Some("True"));
        let b = mapping("b", Some("False"));
        let c = mapping("c", None);
        for o in [&a, &b, &c] {
            orm_writer.apply_watcher_event(&Event::Apply(o.clone()));
        }
        let counter = resource_counter(Counted {
            provider_configs: store::<ProviderConfig>().0,
            cluster_provider_configs: None,
            connections: store::<EnterpriseConnection>().0,
            profiles: store::<ConnectionProfile>().0,
            mappings: orm_reader,
        });
        let get = |m: &BTreeMap<ResourceLabels, i64>, kind: &str, cond: &str, status: &str| {
            m[&ResourceLabels {
                kind: kind.into(),
                condition: cond.into(),
                status: status.into(),
            }]
        };
        let m = counter();
        assert_eq!(get(&m, "OrgRoleMapping", "Ready", "True"), 1);
        assert_eq!(get(&m, "OrgRoleMapping", "Ready", "False"), 1);
        assert_eq!(get(&m, "OrgRoleMapping", "Ready", "Unknown"), 1);
        assert_eq!(get(&m, "OrgRoleMapping", "Synced", "Unknown"), 3);
        assert_eq!(get(&m, "ProviderConfig", "Ready", "True"), 0);
        assert!(
            !m.keys()
                .any(|k| k.kind == "ProviderConfig" && k.condition == "Synced")
        );
        assert!(!m.keys().any(|k| k.kind == "ClusterProviderConfig"));

        orm_writer.apply_watcher_event(&Event::Delete(b));
        let m = counter();
        assert_eq!(get(&m, "OrgRoleMapping", "Ready", "False"), 0);
        assert_eq!(m.values().sum::<i64>(), 4);
    }
}
