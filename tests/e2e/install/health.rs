//! The Argo CD health script (deploy/argocd/health.lua), run by gopher-lua, on made-up objects.

use ssoperator::core::reason::{NotReadyHealth, Reason};

use super::*;

#[test]
fn argocd_health_script_maps_conditions_to_argocd_health() {
    let health = |obj: Value| -> (String, String) {
        let out = run(
            Command::new(tools_bin().join("argocd-health")).arg(HEALTH_LUA),
            Some(&obj.to_string()),
        );
        assert!(out.ok, "argocd-health on {obj}: {}", out.stderr);
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        (
            v["status"].as_str().unwrap().to_string(),
            v["message"].as_str().unwrap().to_string(),
        )
    };
    let with_ready = |status: &str, reason: &str, generation: i64, observed: i64| {
        json!({
            "apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
            "metadata": {"name": "x", "namespace": "y", "generation": generation},
            "status": {"observedGeneration": observed, "conditions": [
                {"type": "Ready", "status": status, "reason": reason, "message": "m",
                 "observedGeneration": observed, "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "Synced", "status": status, "reason": reason, "message": "m",
                 "observedGeneration": observed, "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
        })
    };
    assert_eq!(
        health(with_ready("True", "Available", 2, 2)),
        ("Healthy".into(), "Available: m".into())
    );
    assert_eq!(
        health(with_ready("True", "CredentialsAccepted", 1, 1)).0,
        "Healthy"
    );
    // A spec change the operator has not seen yet.
    assert_eq!(
        health(with_ready("True", "Available", 3, 2)).0,
        "Progressing"
    );
    // Every reason the operator writes, read by Argo CD's own Lua runtime as the operator's
    // Reason enum says: retried by the operator (Progressing), waiting for a person or a writing
    // operator (Suspended), or waiting for a change of the spec or what it references (Degraded).
    for reason in Reason::ALL {
        let expected = match reason.health_when_not_ready() {
            NotReadyHealth::Progressing => "Progressing",
            NotReadyHealth::Suspended => "Suspended",
            NotReadyHealth::Degraded => "Degraded",
        };
        assert_eq!(
            health(with_ready("False", reason.as_str(), 1, 1)),
            (expected.into(), format!("{reason}: m")),
            "{reason}"
        );
    }
    let fresh = json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "OrgRoleMapping",
        "metadata": {"name": "x", "namespace": "y", "generation": 1}, "spec": {}});
    assert_eq!(health(fresh.clone()).0, "Progressing");
    let mut unknown = with_ready("Unknown", "", 1, 1);
    unknown["status"]["conditions"][0]["reason"] = json!("Reconciling");
    assert_eq!(health(unknown).0, "Progressing");
    let mut deleting = with_ready("True", "Available", 1, 1);
    deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    assert_eq!(health(deleting).0, "Progressing");
    // With its Reconciling condition, kstatus (Flux) reads a plan awaiting approval as InProgress.
    let mut awaiting = with_ready("False", "AwaitingApproval", 1, 1);
    if let Some(c) = awaiting["status"]["conditions"].as_array_mut() {
        c.push(
            json!({"type": "Reconciling", "status": "True", "reason": "AwaitingApproval",
            "message": "m", "observedGeneration": 1, "lastTransitionTime": "2026-01-01T00:00:00Z"}),
        );
    }
    assert_eq!(kstatus(&awaiting).1["status"], "InProgress");
    assert_eq!(health(awaiting).0, "Suspended");
    // A lockout guard's refusal needs a person too, but it is a refusal.
    assert_eq!(
        health(with_ready("False", "LockoutRisk", 1, 1)).0,
        "Degraded"
    );
    let mut paused = with_ready("False", "Drifted", 1, 1);
    paused["metadata"]["annotations"] = json!({"ssoperator.io/paused": "true"});
    assert_eq!(health(paused).0, "Suspended");
}

// ---------------------------------------------------------------------------------------------
// deploy/ and the generate command
