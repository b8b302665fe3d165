//! SSO safety: lockout guards, change approval (changePolicy Manual) and the dry run. Each held
//! write is shown to reach the provider zero times, and exactly once after its plan's hash is
//! named in the right annotation.

use std::process::Command;

use kube::ResourceExt;
use serde_json::{Value, json};
use ssoperator::crd::{ConnectionProfile, EnterpriseConnection, OrgRoleMapping, Plan};
use ssoperator_emulators::{
    atlas::{AtlasEmulator, RoleAssignment, RoleMapping},
    clerk::ClerkEmulator,
    demo::DemoEmulators,
    loginradius::LoginRadiusEmulator,
    qovery::QoveryEmulator,
};

use crate::operator::*;
use crate::support;

mod approval;
mod dry_run;
mod lockout;

const FED: &str = "5f0c1a2b3c4d5e6f7a8b9c0d";
const ATLAS_ORG: &str = "6a0b1c2d3e4f5a6b7c8d9e21";
const QOVERY_ORG: &str = "7f1c2a4e-8b7d-4c1e-9a2f-5d6e7f809a1c";
const LR_ORG: &str = "org_safety00000000001";
const ALLOW: &str = "ssoperator.io/allow-lockout";
const APPROVE: &str = "ssoperator.io/approve";

fn held<K: HasManagedStatus>(reason_: &'static str) -> impl Fn(&K) -> bool {
    move |o: &K| {
        reason(o) == reason_
            && o.managed_status().and_then(|s| s.observed_generation) == o.meta().generation
    }
}

fn plan_of<K: HasManagedStatus>(o: &K) -> Plan {
    o.managed_status()
        .and_then(|s| s.plan.as_deref().cloned())
        .unwrap_or_else(|| panic!("no plan in status: {:?}", o.managed_status()))
}

fn stalled<K: HasManagedStatus>(o: &K) -> bool {
    condition(o.managed_status(), "Stalled").is_some_and(|c| c.0 == "True")
}

fn reconciles(op: &Operator) -> f64 {
    ssoperator::metrics::sum_samples(&op.metrics.render(), "ssoperator_reconciles_total")
}

/// Waits two resyncs and checks that `writes` did not move while the operator reconciled.
async fn no_write_for_two_resyncs(op: &Operator, writes: impl Fn() -> u64) {
    let (w0, r0) = (writes(), reconciles(op));
    tokio::time::sleep(RESYNC * 2 + std::time::Duration::from_millis(500)).await;
    assert_eq!(writes(), w0, "a held write reached the provider");
    assert!(reconciles(op) > r0, "the operator did not reconcile");
}

/// `kubectl describe` of one object, printed for the record (`--nocapture`).
fn describe(ns: &str, resource: &str) {
    let out = Command::new(support::kubectl())
        .args([
            "--kubeconfig",
            support::kubeconfig_path(),
            "-n",
            ns,
            "describe",
            resource,
        ])
        .output()
        .unwrap();
    eprintln!(
        "--- kubectl describe {resource}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn connection(name: &str, config: &str, domain: &str, extra: Value) -> Value {
    let saml = if config == "lr" {
        json!({"idpEntityId": "https://idp.example.com", "idpMetadataUrl": "https://idp.example.com/metadata.xml"})
    } else {
        json!({"idpEntityId": "https://idp.example.com", "idpSsoUrl": "https://idp.example.com/sso"})
    };
    let mut spec = json!({"providerConfigRef": {"name": config}, "name": name, "domains": [domain], "saml": saml});
    for (k, v) in extra.as_object().into_iter().flatten() {
        spec[k] = v.clone();
    }
    json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection", "metadata": {"name": name}, "spec": spec})
}
