//! Request body validation, after the connection-profile schema of Auth0's Management API
//! reference (`additionalProperties` false everywhere).

use serde_json::Value;

use super::wire::{CROSS_APP_STATUSES, FEATURES, ORGANIZATION_BEHAVIOURS, SCIM_SCOPES, STRATEGIES};

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn description(path: &str) -> &'static str {
    let top = path.split(['.', '[']).next().unwrap_or(path);
    let leaf = path
        .rsplit('.')
        .next()
        .unwrap_or(path)
        .split('[')
        .next()
        .unwrap_or(path);
    match (top, leaf) {
        ("name", _) => "The name of the connection profile",
        ("organization", "organization") => "The organization of the connection profile",
        ("organization", _) => "Enum for organization behaviour",
        ("connection_name_prefix_template", _) => "Connection name prefix template",
        ("strategy_overrides", "strategy_overrides") => {
            "Strategy-specific overrides for this attribute"
        }
        (_, "enabled_features") => "Enabled features for the connection profile",
        (_, "connection_config") => "Connection profile configuration",
        _ => "Strategy-specific overrides for this attribute",
    }
}

fn at(path: &str, detail: String) -> String {
    format!(
        "Payload validation error: '{detail}' on property {path} ({}).",
        description(path)
    )
}

fn expect_type(v: &Value, want: &str, path: &str) -> Result<(), String> {
    let got = type_name(v);
    if got == want {
        Ok(())
    } else {
        Err(at(
            path,
            format!("Expected type {want} but found type {got}"),
        ))
    }
}

fn only_keys(
    m: &serde_json::Map<String, Value>,
    allowed: &[&str],
    path: Option<&str>,
) -> Result<(), String> {
    let extra: Vec<&str> = m
        .keys()
        .map(String::as_str)
        .filter(|k| !allowed.contains(k))
        .collect();
    if extra.is_empty() {
        return Ok(());
    }
    let detail = format!("Additional properties not allowed: {}", extra.join(","));
    Err(match path {
        Some(p) => at(p, detail),
        None => format!("Payload validation error: '{detail}'."),
    })
}

/// `^(?!-)(?!.*--)(?:[a-zA-Z0-9-]|{org_id}|{org_name})*$`, written out because the regex crate has no lookaheads.
pub fn prefix_template_matches(s: &str) -> bool {
    if s.starts_with('-') || s.contains("--") {
        return false;
    }
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(r) = rest
            .strip_prefix("{org_id}")
            .or_else(|| rest.strip_prefix("{org_name}"))
        {
            rest = r;
            continue;
        }
        let mut chars = rest.chars();
        match chars.next() {
            Some(c) if c.is_ascii_alphanumeric() || c == '-' => rest = chars.as_str(),
            _ => return false,
        }
    }
    true
}

const PREFIX_PATTERN: &str = "^(?!-)(?!.*--)(?:[a-zA-Z0-9-]|{org_id}|{org_name})*$";

/// `connection_config` (top level or per strategy): Auth0's schema gives it no properties and
/// refuses any, so only `{}` (or null) passes.
fn validate_connection_config(c: &Value, path: &str) -> Result<(), String> {
    if c.is_null() {
        return Ok(());
    }
    expect_type(c, "object", path)?;
    match c.as_object() {
        Some(m) => only_keys(m, &[], Some(path)),
        None => Ok(()),
    }
}

fn validate_enum_list(v: &Value, path: &str, allowed: &[&str]) -> Result<(), String> {
    expect_type(v, "array", path)?;
    for (i, f) in v.as_array().into_iter().flatten().enumerate() {
        let p = format!("{path}[{i}]");
        expect_type(f, "string", &p)?;
        if !f.as_str().is_some_and(|s| allowed.contains(&s)) {
            return Err(at(&p, format!("No enum match for: {f}")));
        }
    }
    Ok(())
}

fn required<'a>(
    m: &'a serde_json::Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a Value, String> {
    m.get(key)
        .ok_or_else(|| at(path, format!("Missing required property: {key}")))
}

fn nullable_integer(
    m: &serde_json::Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<(), String> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(v) => expect_type(v, "integer", &format!("{path}.{key}")),
    }
}

/// `ConnectionProfileProvisioning` (also the per-strategy `provisioning`).
fn validate_provisioning(v: &Value, path: &str) -> Result<(), String> {
    if v.is_null() {
        return Ok(());
    }
    expect_type(v, "object", path)?;
    let Some(m) = v.as_object() else {
        return Ok(());
    };
    only_keys(m, &["scim", "google_workspace"], Some(path))?;
    if let Some(scim) = m.get("scim").filter(|v| !v.is_null()) {
        let p = format!("{path}.scim");
        expect_type(scim, "object", &p)?;
        if let Some(scim) = scim.as_object() {
            only_keys(scim, &["tokens"], Some(&p))?;
            let tokens = required(scim, "tokens", &p)?;
            let p = format!("{p}.tokens");
            expect_type(tokens, "object", &p)?;
            if let Some(t) = tokens.as_object() {
                only_keys(
                    t,
                    &["scopes", "default_expiry", "max_allowed_expiry"],
                    Some(&p),
                )?;
                validate_enum_list(
                    required(t, "scopes", &p)?,
                    &format!("{p}.scopes"),
                    &SCIM_SCOPES,
                )?;
                nullable_integer(t, "default_expiry", &p)?;
                nullable_integer(t, "max_allowed_expiry", &p)?;
            }
        }
    }
    if let Some(gw) = m.get("google_workspace").filter(|v| !v.is_null()) {
        let p = format!("{path}.google_workspace");
        expect_type(gw, "object", &p)?;
        if let Some(gw) = gw.as_object() {
            only_keys(gw, &["sync_users"], Some(&p))?;
            expect_type(
                required(gw, "sync_users", &p)?,
                "boolean",
                &format!("{p}.sync_users"),
            )?;
        }
    }
    Ok(())
}

/// `ConnectionProfileCrossAppAccessResourceApp`: `{status: {default_value, allowed_values?}}`.
fn validate_cross_app(v: &Value, path: &str) -> Result<(), String> {
    if v.is_null() {
        return Ok(());
    }
    expect_type(v, "object", path)?;
    let Some(m) = v.as_object() else {
        return Ok(());
    };
    only_keys(m, &["status"], Some(path))?;
    let p = format!("{path}.status");
    let status = required(m, "status", path)?;
    expect_type(status, "object", &p)?;
    if let Some(st) = status.as_object() {
        only_keys(st, &["default_value", "allowed_values"], Some(&p))?;
        let dv = required(st, "default_value", &p)?;
        let dp = format!("{p}.default_value");
        expect_type(dv, "string", &dp)?;
        if !dv.as_str().is_some_and(|s| CROSS_APP_STATUSES.contains(&s)) {
            return Err(at(&dp, format!("No enum match for: {dv}")));
        }
        if let Some(av) = st.get("allowed_values").filter(|v| !v.is_null()) {
            validate_enum_list(av, &format!("{p}.allowed_values"), &CROSS_APP_STATUSES)?;
        }
    }
    Ok(())
}

/// Checks a create (`create`) or PATCH body against Auth0's schema (the official SDK's models, with
/// Auth0's own refusal of unknown properties); the error is Auth0's message. `null` stands for
/// "not set" wherever the schema allows it.
pub fn validate(body: &Value, create: bool) -> Result<(), String> {
    let Some(m) = body.as_object() else {
        return Err(format!(
            "Payload validation error: 'Expected type object but found type {}'.",
            type_name(body)
        ));
    };
    only_keys(
        m,
        &[
            "name",
            "organization",
            "connection_name_prefix_template",
            "enabled_features",
            "connection_config",
            "strategy_overrides",
            "provisioning",
            "cross_app_access_resource_app",
        ],
        None,
    )?;
    if create && !m.contains_key("name") {
        return Err("Payload validation error: 'Missing required property: name'.".into());
    }
    if let Some(name) = m.get("name") {
        expect_type(name, "string", "name")?;
        let len = name.as_str().map(|s| s.chars().count()).unwrap_or_default();
        if len < 1 {
            return Err(at(
                "name",
                format!("String is too short ({len} chars), minimum 1"),
            ));
        }
        if len > 50 {
            return Err(at(
                "name",
                format!("String is too long ({len} chars), maximum 50"),
            ));
        }
    }
    if let Some(org) = m.get("organization").filter(|v| !v.is_null()) {
        expect_type(org, "object", "organization")?;
        if let Some(o) = org.as_object() {
            only_keys(
                o,
                &["show_as_button", "assign_membership_on_login"],
                Some("organization"),
            )?;
            for (k, v) in o.iter().filter(|(_, v)| !v.is_null()) {
                let p = format!("organization.{k}");
                expect_type(v, "string", &p)?;
                if !v
                    .as_str()
                    .is_some_and(|s| ORGANIZATION_BEHAVIOURS.contains(&s))
                {
                    return Err(at(&p, format!("No enum match for: {v}")));
                }
            }
        }
    }
    if let Some(t) = m
        .get("connection_name_prefix_template")
        .filter(|v| !v.is_null())
    {
        let p = "connection_name_prefix_template";
        expect_type(t, "string", p)?;
        let s = t.as_str().unwrap_or_default();
        let len = s.chars().count();
        if len > 15 {
            return Err(at(
                p,
                format!("String is too long ({len} chars), maximum 15"),
            ));
        }
        if !prefix_template_matches(s) {
            return Err(at(
                p,
                format!("String does not match pattern: {PREFIX_PATTERN}"),
            ));
        }
    }
    if let Some(f) = m.get("enabled_features").filter(|v| !v.is_null()) {
        validate_enum_list(f, "enabled_features", &FEATURES)?;
    }
    if let Some(c) = m.get("connection_config") {
        validate_connection_config(c, "connection_config")?;
    }
    if let Some(p) = m.get("provisioning") {
        validate_provisioning(p, "provisioning")?;
    }
    if let Some(c) = m.get("cross_app_access_resource_app") {
        validate_cross_app(c, "cross_app_access_resource_app")?;
    }
    if let Some(so) = m.get("strategy_overrides").filter(|v| !v.is_null()) {
        expect_type(so, "object", "strategy_overrides")?;
        if let Some(so) = so.as_object() {
            only_keys(so, &STRATEGIES, Some("strategy_overrides"))?;
            for (strategy, o) in so.iter().filter(|(_, o)| !o.is_null()) {
                let p = format!("strategy_overrides.{strategy}");
                expect_type(o, "object", &p)?;
                if let Some(o) = o.as_object() {
                    only_keys(
                        o,
                        &["enabled_features", "connection_config", "provisioning"],
                        Some(&p),
                    )?;
                    if let Some(f) = o.get("enabled_features").filter(|v| !v.is_null()) {
                        validate_enum_list(f, &format!("{p}.enabled_features"), &FEATURES)?;
                    }
                    if let Some(c) = o.get("connection_config") {
                        validate_connection_config(c, &format!("{p}.connection_config"))?;
                    }
                    if let Some(v) = o.get("provisioning") {
                        validate_provisioning(v, &format!("{p}.provisioning"))?;
                    }
                }
            }
        }
    }
    Ok(())
}
