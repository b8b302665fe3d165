//! Invalid manifests: the API server rejects each with the offending field named, and
//! `ssoperator validate` refuses the same ones by the same field.

use super::{invalid_cases::invalid_cases, *};

/// JSON merge patch (RFC 7386): `null` removes a key, objects merge, anything else replaces.
fn merged(base: &Value, patch: &Value) -> Value {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            let mut out = b.clone();
            for (k, v) in p {
                if v.is_null() {
                    out.remove(k);
                } else {
                    let next = merged(b.get(k).unwrap_or(&Value::Null), v);
                    out.insert(k.clone(), next);
                }
            }
            Value::Object(out)
        }
        (_, p) => p.clone(),
    }
}

/// Minimal valid objects of each kind; each invalid case (`invalid_cases`) is one of these plus a
/// patch that breaks exactly one rule (CEL rules only run once the schema checks pass).
fn base(kind: &str) -> Value {
    let spec = match kind {
        "ProviderConfig" => json!({ "clerk": {}, "credentialsSecretRef": { "name": "creds" } }),
        "ClusterProviderConfig" => json!({
            "clerk": {}, "credentialsSecretRef": { "name": "creds", "namespace": "default" }
        }),
        "EnterpriseConnection" => json!({
            "providerConfigRef": { "name": "clerk" }, "name": "Acme", "saml": {}
        }),
        "ConnectionProfile" => json!({ "providerConfigRef": { "name": "auth0" }, "name": "Acme" }),
        "OrgRoleMapping" => json!({
            "providerConfigRef": { "name": "atlas" },
            "externalName": "6a0b1c2d3e4f5a6b7c8d9e0f",
            "mappings": [{ "externalGroup": "admins", "roles": [{ "role": "ORG_OWNER" }] }]
        }),
        other => panic!("no base for {other}"),
    };
    json!({
        "apiVersion": "ssoperator.io/v1alpha1",
        "kind": kind,
        "metadata": { "name": "base" },
        "spec": spec
    })
}

#[tokio::test]
async fn invalid_manifests_are_rejected_with_the_offending_field_named() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::temp_namespace(&client).await;
    let suffix = support::random_suffix(6);
    let mut failures = Vec::new();

    // The bases themselves are valid, so each case fails only through its own patch.
    for kind in [
        "ProviderConfig",
        "ClusterProviderConfig",
        "EnterpriseConnection",
        "ConnectionProfile",
        "OrgRoleMapping",
    ] {
        let mut obj = base(kind);
        obj["metadata"]["name"] = json!(format!("base-{suffix}"));
        if let Err(e) = apply(&client, &ns, obj, true).await {
            failures.push(format!("valid base {kind} was rejected: {e}"));
        }
    }

    let cases = invalid_cases();
    assert!(cases.len() >= 15);
    for (i, case) in cases.iter().enumerate() {
        let mut obj = merged(&base(case.kind), &case.patch);
        obj["metadata"]["name"] = json!(format!("invalid-{i}-{suffix}"));
        // Create (POST) goes through the full validation and names the field as `expect` says.
        match send(&client, &ns, obj.clone(), Write::Create, true).await {
            Ok(_) => failures.push(format!("{} ({}): create accepted it", case.what, case.kind)),
            Err(kube::Error::Api(status)) => {
                let missing: Vec<_> = case
                    .expect
                    .iter()
                    .filter(|s| !status.message.contains(**s))
                    .collect();
                // 422 Invalid from validation; 400 BadRequest from strict decoding (unknown fields).
                if !matches!(status.code, 400 | 422) || !missing.is_empty() {
                    failures.push(format!(
                        "{} ({}): create: HTTP {} without {missing:?} in: {}",
                        case.what, case.kind, status.code, status.message
                    ));
                }
            }
            Err(e) => failures.push(format!("{} ({}): create: {e}", case.what, case.kind)),
        }
        // Server-side apply rejects it too. Unknown fields and duplicate list keys already fail
        // when the apply patch is converted to the schema's type, before validation; the API
        // server answers those with HTTP 500 and names the list or field without an index.
        let field = case.expect[0].split('[').next().unwrap_or_default();
        match apply(&client, &ns, obj, true).await {
            Ok(_) => failures.push(format!("{} ({}): apply accepted it", case.what, case.kind)),
            Err(kube::Error::Api(status)) => {
                let typed_patch = status.code == 500
                    && status
                        .message
                        .contains("failed to create typed patch object");
                if !(status.code == 422 || typed_patch) || !status.message.contains(field) {
                    failures.push(format!(
                        "{} ({}): apply: HTTP {} without {field:?} in: {}",
                        case.what, case.kind, status.code, status.message
                    ));
                }
            }
            Err(e) => failures.push(format!("{} ({}): apply: {e}", case.what, case.kind)),
        }
    }
    support::delete_namespace(&client, &ns).await;
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// `ssoperator validate` (offline: the CRD schemas and the Rust twins of their CEL rules)
/// refuses every case the API server refuses, naming the same field; the bases pass.
#[test]
fn ssoperator_validate_refuses_what_the_api_server_refuses_by_the_same_field() {
    use ssoperator::cli::validate::{check, schemas};
    let schemas = schemas();
    let mut failures = Vec::new();
    for kind in [
        "ProviderConfig",
        "ClusterProviderConfig",
        "EnterpriseConnection",
        "ConnectionProfile",
        "OrgRoleMapping",
    ] {
        let found = check(&base(kind), &schemas);
        if !found.is_empty() {
            failures.push(format!("valid base {kind}: {found:?}"));
        }
    }
    let cases = invalid_cases();
    for case in &cases {
        let obj = merged(&base(case.kind), &case.patch);
        let found = check(&obj, &schemas);
        let field = case.expect[0];
        if !found.iter().any(|f| f.starts_with(&format!("{field}: "))) {
            failures.push(format!(
                "{} ({}): no finding at {field}: {found:?}",
                case.what, case.kind
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
