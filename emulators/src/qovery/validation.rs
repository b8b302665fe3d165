//! The PUT body check.

use std::collections::BTreeMap;

use serde_json::Value;

use super::wire::EnterpriseConnectionDto;

/// Checks a PUT body field by field, so a missing or mistyped one is named in the 400.
pub(super) fn parse_dto(body: &[u8]) -> Result<EnterpriseConnectionDto, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("Malformed JSON request body: {e}"))?;
    let obj = v.as_object().ok_or("Request body must be a JSON object")?;
    let field = |name: &str| obj.get(name).filter(|v| !v.is_null());
    let connection_name = field("connection_name")
        .ok_or("connection_name is required")?
        .as_str()
        .ok_or("connection_name must be a string")?
        .to_string();
    let default_role = field("default_role")
        .ok_or("default_role is required")?
        .as_str()
        .ok_or("default_role must be a string")?
        .to_string();
    let enforce_group_sync = field("enforce_group_sync")
        .ok_or("enforce_group_sync is required")?
        .as_bool()
        .ok_or("enforce_group_sync must be a boolean")?;
    let raw = field("group_mappings")
        .ok_or("group_mappings is required")?
        .as_object()
        .ok_or("group_mappings must be an object")?;
    let mut group_mappings = BTreeMap::new();
    for (role, groups) in raw {
        let groups = groups
            .as_array()
            .ok_or_else(|| format!("group_mappings.{role} must be an array of strings"))?
            .iter()
            .map(|g| g.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!("group_mappings.{role} must contain only non-null strings"))?;
        group_mappings.insert(role.clone(), groups);
    }
    // Fields the emulator does not model are stored as sent (a PUT replaces the whole object).
    let extra = obj
        .iter()
        .filter(|(k, _)| {
            ![
                "connection_name",
                "default_role",
                "enforce_group_sync",
                "group_mappings",
            ]
            .contains(&k.as_str())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(EnterpriseConnectionDto {
        connection_name,
        default_role,
        enforce_group_sync,
        group_mappings,
        extra,
    })
}
