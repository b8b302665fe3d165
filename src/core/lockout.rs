//! Lockout guards: writes that would lock an organization's administrators (or every user of a
//! domain) out of single sign-on. The reconciler refuses them unless the resource carries
//! `ssoperator.io/allow-lockout: "<plan hash>"` for exactly that change. Pure: the rules look at
//! the remote object before and after the write; the reconciler answers the one question that
//! needs the rest of the account ([`Guard::needs_other_active_connection`]).

use std::fmt;

use serde_json::Value;

use super::desired::ResourceKind;
use super::diff::Fields;
use super::plan::Action;

/// Atlas' organization owner role.
const ATLAS_OWNER: &str = "ORG_OWNER";
/// Qovery's roles that can undo a bad group sync.
const QOVERY_ADMIN_ROLES: [&str; 2] = ["admin", "owner"];

/// A rule a change breaks; the message names it (see README, "Lockout guards").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Atlas: domain restriction on, and no role mapping grants ORG_OWNER.
    AtlasRestrictionWithoutOwner,
    /// Atlas: the change removes the last role mapping that grants ORG_OWNER.
    AtlasLastOwnerMapping,
    /// Qovery: group sync enforced, and no group is mapped to the admin or owner role.
    QoveryGroupSyncWithoutAdmin,
    /// Clerk, LoginRadius: the change deactivates or deletes the only active connection of a domain.
    LastActiveConnection { domain: String },
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AtlasRestrictionWithoutOwner => f.write_str(
                "atlas-restriction-without-owner: atlas.domainRestrictionEnabled would be true with no role mapping granting ORG_OWNER",
            ),
            Self::AtlasLastOwnerMapping => f.write_str(
                "atlas-last-owner-mapping: the change removes the last role mapping that grants ORG_OWNER",
            ),
            Self::QoveryGroupSyncWithoutAdmin => f.write_str(
                "qovery-group-sync-without-admin: enforceGroupSync would be true with no group mapped to the admin or owner role",
            ),
            Self::LastActiveConnection { domain } => write!(
                f,
                "last-active-connection: the change deactivates or deletes the only active connection for domain {domain}"
            ),
        }
    }
}

/// A write to check: the remote object before it and after it.
pub struct Guard<'a> {
    pub provider: &'a str,
    pub kind: ResourceKind,
    pub action: Action,
    /// The provider's object now (`None` before a create).
    pub before: Option<&'a Fields>,
    /// The fields the spec sets.
    pub want: &'a Fields,
}

impl Guard<'_> {
    /// The remote object as the write leaves it (`None`: gone). A role mapping's delete clears
    /// the fields it owns, as each provider's client does it.
    pub fn after(&self) -> Option<Fields> {
        match self.action {
            Action::Create | Action::Update => {
                let mut after = self.before.cloned().unwrap_or_default();
                after.extend(self.want.iter().map(|(k, v)| (k.clone(), v.clone())));
                Some(after)
            }
            Action::Delete if self.kind == ResourceKind::OrgRoleMapping => {
                let mut after = self.before.cloned().unwrap_or_default();
                after.insert("mappings".into(), Value::Array(Vec::new()));
                if self.provider == "qovery" {
                    // Qovery's clear also turns the group sync off (src/provider/qovery/mapping.rs).
                    after.insert("enforceGroupSync".into(), Value::Bool(false));
                    after.insert("mappings".into(), Value::Object(Default::default()));
                }
                Some(after)
            }
            Action::Delete => None,
        }
    }

    /// The first rule the change breaks that needs nothing but the object itself.
    pub fn broken_rule(&self) -> Option<Rule> {
        let after = self.after();
        match (self.provider, self.kind) {
            ("atlas", ResourceKind::OrgRoleMapping) => {
                let after = after.as_ref()?;
                let owner_after = atlas_grants_owner(after);
                if flag(after, "atlas.domainRestrictionEnabled") && !owner_after {
                    return Some(Rule::AtlasRestrictionWithoutOwner);
                }
                let owner_before = self.before.is_some_and(atlas_grants_owner);
                (owner_before && !owner_after).then_some(Rule::AtlasLastOwnerMapping)
            }
            ("qovery", ResourceKind::OrgRoleMapping) => {
                let after = after.as_ref()?;
                (flag(after, "enforceGroupSync") && !qovery_maps_admin(after))
                    .then_some(Rule::QoveryGroupSyncWithoutAdmin)
            }
            _ => None,
        }
    }

    /// Clerk and LoginRadius: the domains this connection serves actively now and would not
    /// after the change. Each needs another active connection of the account, or the change
    /// breaks [`Rule::LastActiveConnection`]. Neither provider reports domain verification
    /// through the connection API, so every domain of the connection counts.
    pub fn needs_other_active_connection(&self) -> Vec<String> {
        if self.kind != ResourceKind::EnterpriseConnection
            || !matches!(self.provider, "clerk" | "loginradius")
        {
            return Vec::new();
        }
        let Some(before) = self.before else {
            return Vec::new();
        };
        let served =
            |f: &Fields| -> Vec<String> { if is_active(f) { domains(f) } else { Vec::new() } };
        let after = self.after().map(|f| served(&f)).unwrap_or_default();
        served(before)
            .into_iter()
            .filter(|d| !after.contains(d))
            .collect()
    }
}

/// Whether a connection of the account (another one) serves `domain` actively.
pub fn serves(connection: &Fields, domain: &str) -> bool {
    is_active(connection) && domains(connection).iter().any(|d| d == domain)
}

/// Active unless the provider says otherwise (LoginRadius may leave the flag out).
fn is_active(f: &Fields) -> bool {
    f.get("active").and_then(Value::as_bool).unwrap_or(true)
}

fn domains(f: &Fields) -> Vec<String> {
    f.get("domains")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|d| d.trim().to_ascii_lowercase())
        .collect()
}

fn flag(f: &Fields, path: &str) -> bool {
    f.get(path).and_then(Value::as_bool).unwrap_or(false)
}

/// `mappings` as Atlas holds them: `[{externalGroup, roles: [{role, projectId?}]}]`; an
/// organization role has no projectId.
fn atlas_grants_owner(f: &Fields) -> bool {
    f.get("mappings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("roles")?.as_array())
        .flatten()
        .any(|r| {
            r.get("role").and_then(Value::as_str) == Some(ATLAS_OWNER)
                && r.get("projectId").is_none_or(Value::is_null)
        })
}

/// `mappings` as Qovery holds them: `{role: [group, ...]}`.
fn qovery_maps_admin(f: &Fields) -> bool {
    f.get("mappings")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .any(|(role, groups)| {
            QOVERY_ADMIN_ROLES.contains(&role.to_ascii_lowercase().as_str())
                && groups.as_array().is_some_and(|g| !g.is_empty())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Fields {
        serde_json::from_value(v).unwrap()
    }

    fn guard<'a>(
        provider: &'a str,
        kind: ResourceKind,
        action: Action,
        before: Option<&'a Fields>,
        want: &'a Fields,
    ) -> Guard<'a> {
        Guard {
            provider,
            kind,
            action,
            before,
            want,
        }
    }

    const ORM: ResourceKind = ResourceKind::OrgRoleMapping;
    const EC: ResourceKind = ResourceKind::EnterpriseConnection;

    #[test]
    fn atlas_restriction_needs_an_owner_mapping() {
        let owner = json!([{"externalGroup": "owners", "roles": [{"role": "ORG_OWNER"}]}]);
        let project_owner =
            json!([{"externalGroup": "p", "roles": [{"role": "ORG_OWNER", "projectId": "p1"}]}]);
        let before = fields(
            json!({"mappings": owner, "atlas.domainRestrictionEnabled": false, "atlas.domainAllowList": []}),
        );
        let ok = fields(json!({"mappings": owner, "atlas.domainRestrictionEnabled": true}));
        assert_eq!(
            guard("atlas", ORM, Action::Update, Some(&before), &ok).broken_rule(),
            None
        );
        let bad =
            fields(json!({"mappings": project_owner, "atlas.domainRestrictionEnabled": true}));
        assert_eq!(
            guard("atlas", ORM, Action::Update, Some(&before), &bad).broken_rule(),
            Some(Rule::AtlasRestrictionWithoutOwner)
        );
        // Removing the last owner mapping, restriction off.
        let none = fields(json!({"mappings": []}));
        assert_eq!(
            guard("atlas", ORM, Action::Update, Some(&before), &none).broken_rule(),
            Some(Rule::AtlasLastOwnerMapping)
        );
        // Deleting the mapping resource clears the mappings: the same rule.
        assert_eq!(
            guard("atlas", ORM, Action::Delete, Some(&before), &ok).broken_rule(),
            Some(Rule::AtlasLastOwnerMapping)
        );
        // A mapping that never granted ORG_OWNER may go.
        let plain = fields(
            json!({"mappings": [{"externalGroup": "d", "roles": [{"role": "ORG_MEMBER"}]}]}),
        );
        assert_eq!(
            guard("atlas", ORM, Action::Update, Some(&plain), &none).broken_rule(),
            None
        );
    }

    #[test]
    fn qovery_group_sync_needs_an_admin_group() {
        let before = fields(json!({"enforceGroupSync": false, "mappings": {}}));
        let bad = fields(json!({"enforceGroupSync": true, "mappings": {"viewer": ["eng"]}}));
        assert_eq!(
            guard("qovery", ORM, Action::Update, Some(&before), &bad).broken_rule(),
            Some(Rule::QoveryGroupSyncWithoutAdmin)
        );
        let empty_admin = fields(json!({"enforceGroupSync": true, "mappings": {"admin": []}}));
        assert!(
            guard("qovery", ORM, Action::Update, Some(&before), &empty_admin)
                .broken_rule()
                .is_some()
        );
        for role in ["admin", "OWNER"] {
            let ok = fields(json!({"enforceGroupSync": true, "mappings": {role: ["ops"]}}));
            assert_eq!(
                guard("qovery", ORM, Action::Update, Some(&before), &ok).broken_rule(),
                None
            );
        }
        // Qovery's delete turns the sync off with the mappings: no lockout.
        assert_eq!(
            guard("qovery", ORM, Action::Delete, Some(&bad), &bad).broken_rule(),
            None
        );
    }

    #[test]
    fn deactivating_or_deleting_a_connection_frees_its_domains() {
        let before = fields(json!({"active": true, "domains": ["acme.com", "Acme.io"]}));
        let off = fields(json!({"active": false}));
        assert_eq!(
            guard("clerk", EC, Action::Update, Some(&before), &off).needs_other_active_connection(),
            vec!["acme.com", "acme.io"]
        );
        let fewer = fields(json!({"domains": ["acme.com"]}));
        assert_eq!(
            guard("loginradius", EC, Action::Update, Some(&before), &fewer)
                .needs_other_active_connection(),
            vec!["acme.io"]
        );
        assert_eq!(
            guard("clerk", EC, Action::Delete, Some(&before), &fewer)
                .needs_other_active_connection(),
            vec!["acme.com", "acme.io"]
        );
        // An inactive connection serves nobody; a create frees nothing; Auth0 has no such rule.
        let inactive = fields(json!({"active": false, "domains": ["acme.com"]}));
        assert!(
            guard("clerk", EC, Action::Delete, Some(&inactive), &off)
                .needs_other_active_connection()
                .is_empty()
        );
        assert!(
            guard("clerk", EC, Action::Create, None, &off)
                .needs_other_active_connection()
                .is_empty()
        );
        assert!(
            guard("auth0", EC, Action::Delete, Some(&before), &off)
                .needs_other_active_connection()
                .is_empty()
        );
        assert!(serves(&before, "acme.io"));
        assert!(!serves(&inactive, "acme.com"));
    }
}
