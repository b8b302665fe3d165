use serde_json::Value;
use serde_json::json;

use super::Contract;

fn clerk() -> &'static Contract {
    Contract::for_provider("clerk").unwrap()
}

fn request(c: &Contract, method: &str, path: &str, body: Value) -> Vec<String> {
    let bytes = serde_json::to_vec(&body).unwrap();
    c.check_request(method, path, None, Some("application/json"), &bytes)
        .1
}

#[test]
fn every_contract_loads_and_names_operations() {
    for p in ["clerk", "atlas", "qovery", "auth0"] {
        let c = Contract::for_provider(p).unwrap_or_else(|| panic!("{p} does not load"));
        assert!(
            c.operations.len() >= 3,
            "{p}: {} operations",
            c.operations.len()
        );
    }
    assert!(Contract::for_provider("loginradius").is_none());
}

#[test]
fn a_misspelled_or_miscased_field_is_a_violation() {
    let good = json!({"name": "Acme", "domains": ["acme.com"], "provider": "saml_custom"});
    let path = "/v1/enterprise_connections";
    assert_eq!(
        request(clerk(), "POST", path, good.clone()),
        Vec::<String>::new()
    );
    let mut typo = good.clone();
    typo["domain"] = typo["domains"].take();
    typo.as_object_mut().unwrap().remove("domains");
    let v = request(clerk(), "POST", path, typo);
    assert!(
        v.iter().any(|m| m.contains("$.domain: not a field")),
        "{v:?}"
    );
    let mut cased = good;
    cased["Name"] = cased["name"].take();
    cased.as_object_mut().unwrap().remove("name");
    let v = request(clerk(), "POST", path, cased);
    assert!(v.iter().any(|m| m.contains("`name` is missing")), "{v:?}");
}

#[test]
fn enum_values_types_and_statuses_are_held_to_the_description() {
    let c = clerk();
    let v = request(
        c,
        "POST",
        "/v1/enterprise_connections",
        json!({"name": "Acme", "domains": ["acme.com"], "provider": "saml_acme"}),
    );
    assert!(v.iter().any(|m| m.contains("is not one of")), "{v:?}");
    let (op, v) = c.check_request(
        "GET",
        "/v1/enterprise_connections",
        Some("limit=x"),
        None,
        b"",
    );
    assert!(v.iter().any(|m| m.contains("query `limit`")), "{v:?}");
    let op = op.unwrap();
    let v = c.check_response(op, 409, Some("application/json"), b"{}");
    assert!(v.iter().any(|m| m.contains("lists only")), "{v:?}");
    assert!(c.check_response(op, 429, None, b"").is_empty());
    assert!(c.check_response(op, 503, None, b"").is_empty());
    let v = c.check_response(
        op,
        200,
        Some("application/json"),
        br#"{"data": [], "total_count": "3"}"#,
    );
    assert!(v.iter().any(|m| m.contains("total_count")), "{v:?}");
}

#[test]
fn a_required_read_only_field_is_required_in_answers_only() {
    let atlas = Contract::for_provider("atlas").unwrap();
    let path = "/api/atlas/v2/federationSettings/5d1113b25a115342acc2d1aa/connectedOrgConfigs/5df7a168f10fab3a00000003";
    let body = json!({"domainRestrictionEnabled": false});
    let bytes = serde_json::to_vec(&body).unwrap();
    let ct = "application/vnd.atlas.2023-01-01+json";
    let (op, v) = atlas.check_request("PATCH", path, None, Some(ct), &bytes);
    assert!(v.is_empty(), "{v:?}");
    let v = atlas.check_response(op.unwrap(), 200, Some(ct), &bytes);
    assert!(v.iter().any(|m| m.contains("`orgId` is missing")), "{v:?}");
    let sent = json!({"domainRestrictionEnabled": false, "orgId": "5df7a168f10fab3a00000003"});
    let bytes = serde_json::to_vec(&sent).unwrap();
    let (_, v) = atlas.check_request("PATCH", path, None, Some(ct), &bytes);
    assert!(v.iter().any(|m| m.contains("$.orgId: read-only")), "{v:?}");
}

#[test]
fn literal_segments_win_over_templates() {
    let auth0 = Contract::for_provider("auth0").unwrap();
    let (op, v) = auth0.check_request(
        "GET",
        "/api/v2/connection-profiles/templates",
        None,
        None,
        b"",
    );
    assert!(v.is_empty(), "{v:?}");
    let op = &auth0.operations[op.unwrap()];
    assert_eq!(op.segments.last().map(String::as_str), Some("templates"));
}

#[test]
fn read_only_fields_in_requests_and_unknown_routes_are_violations() {
    let auth0 = Contract::for_provider("auth0").unwrap();
    let v = request(
        auth0,
        "PATCH",
        "/api/v2/connection-profiles/cop_1",
        json!({"id": "cop_1", "name": "x"}),
    );
    assert!(v.iter().any(|m| m.contains("read-only")), "{v:?}");
    let (_, v) = auth0.check_request("GET", "/api/v2/connection-profile", None, None, b"");
    assert!(v.iter().any(|m| m.contains("not an operation")), "{v:?}");
    let (op, v) = auth0.check_request("POST", "/oauth/token", None, None, b"x");
    assert!(op.is_none() && v.is_empty(), "{v:?}");
}
