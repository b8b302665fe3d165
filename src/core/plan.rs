//! Plans: the change a write would make, shown field by field and named by a hash, so that a
//! person can approve exactly that change (changePolicy Manual), let exactly that change through a
//! lockout guard, or read what a dry run would do. Pure: no I/O.

use std::fmt;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::diff::Fields;
use crate::crd::{Plan, PlannedField};

/// Shown instead of a write-only value (a client secret): never in clear, in status or Events.
pub const CHANGED: &str = "(changed)";
/// Values in status are cut here; the hash covers the whole value.
const SHOWN_CHARS: usize = 256;

/// What a write would do to the remote object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "Create",
            Self::Update => "Update",
            Self::Delete => "Delete",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything a plan is computed from.
pub struct Change<'a> {
    pub action: Action,
    /// The resource kind (EnterpriseConnection...).
    pub kind: &'a str,
    /// The provider account's identity (provider, endpoint, account id; never a credential).
    pub account: &'a str,
    /// The remote object's id, or its name before a create.
    pub object: &'a str,
    /// The fields the spec sets (normalised, spec paths).
    pub want: &'a Fields,
    /// What the provider holds now (`None` before a create).
    pub current: Option<&'a Fields>,
    /// The paths the write changes (a diff's paths; every path of `want` for a create).
    pub paths: &'a [String],
    /// Paths of write-only values among `paths`: shown as [`CHANGED`].
    pub write_only: &'a [String],
    /// HMAC of the write-only values (keyed, not reversible): a new secret makes a new plan.
    pub write_only_hash: Option<&'a str>,
}

/// The plan of `change`, first computed at `created_at` (kept from an earlier plan with the
/// same hash, so that an unchanged plan never rewrites status).
pub fn plan(change: &Change<'_>, created_at: impl Into<String>) -> Plan {
    let value = |fields: Option<&Fields>, path: &str| -> Option<Value> {
        fields.and_then(|f| f.get(path)).cloned()
    };
    let mut hashed = Vec::new();
    let mut fields = Vec::new();
    for path in change.paths {
        let secret = change.write_only.contains(path);
        let current = value(change.current, path);
        let desired = match change.action {
            Action::Delete => None,
            _ => value(Some(change.want), path),
        };
        hashed.push(json!([path, current, desired]));
        let shown = |v: Option<Value>| -> Option<String> {
            if secret {
                return (change.action != Action::Delete).then(|| CHANGED.to_string());
            }
            v.map(|v| cut(&v.to_string()))
        };
        fields.push(PlannedField {
            path: path.clone(),
            current: if secret { None } else { shown(current) },
            desired: shown(desired),
        });
    }
    let input = json!([
        change.action.as_str(),
        change.kind,
        change.account,
        change.object,
        hashed,
        change.write_only_hash,
    ]);
    let digest = Sha256::digest(input.to_string().as_bytes());
    Plan {
        hash: hex::encode(&digest[..8]),
        action: change.action.as_str().to_string(),
        fields,
        created_at: created_at.into(),
    }
}

/// One line for an Event or a condition message: `Update saml.idpSsoUrl, active`.
pub fn summary(plan: &Plan) -> String {
    let paths: Vec<&str> = plan.fields.iter().map(|f| f.path.as_str()).collect();
    if paths.is_empty() {
        plan.action.clone()
    } else {
        format!("{} {}", plan.action, paths.join(", "))
    }
}

/// A plan as `ssoperator diff` prints it, like `terraform plan`: `<sign> <header>` (`+` create,
/// `~` update, `-` delete) and one indented line per field: `~ spec.path: old -> new`,
/// `+ spec.path: new` where the provider has no value, `- spec.path: old` for a delete, and
/// `~ spec.path: (would change)` for a write-only value. Nothing for a plan without fields.
pub fn render(header: &str, plan: &Plan) -> String {
    if plan.fields.is_empty() {
        return String::new();
    }
    let sign = match plan.action.as_str() {
        "Create" => "+",
        "Delete" => "-",
        _ => "~",
    };
    let mut out = format!("{sign} {header}\n");
    for f in &plan.fields {
        let line = match (&f.current, &f.desired) {
            (_, Some(d)) if d == CHANGED => format!("    ~ spec.{}: (would change)", f.path),
            (None, Some(d)) => format!("    + spec.{}: {d}", f.path),
            (Some(c), Some(d)) => format!("    ~ spec.{}: {c} -> {d}", f.path),
            (Some(c), None) => format!("    - spec.{}: {c}", f.path),
            (None, None) => format!("    ~ spec.{}", f.path),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn cut(s: &str) -> String {
    match s.char_indices().nth(SHOWN_CHARS) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, Value)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn change<'a>(
        want: &'a Fields,
        current: Option<&'a Fields>,
        paths: &'a [String],
        write_only: &'a [String],
        write_only_hash: Option<&'a str>,
    ) -> Change<'a> {
        Change {
            action: Action::Update,
            kind: "EnterpriseConnection",
            account: "clerk https://api.clerk.com",
            object: "conn_1",
            want,
            current,
            paths,
            write_only,
            write_only_hash,
        }
    }

    #[test]
    fn the_hash_names_exactly_one_change() {
        let want = fields(&[("active", json!(true)), ("name", json!("a"))]);
        let now = fields(&[("active", json!(false)), ("name", json!("a"))]);
        let paths = vec!["active".to_string()];
        let p = plan(&change(&want, Some(&now), &paths, &[], None), "t1");
        // The same change later: the same hash, whatever the time.
        assert_eq!(
            p.hash,
            plan(&change(&want, Some(&now), &paths, &[], None), "t2").hash
        );
        assert_eq!(p.hash.len(), 16);
        assert_eq!(p.fields.len(), 1);
        assert_eq!(p.fields[0].current.as_deref(), Some("false"));
        assert_eq!(p.fields[0].desired.as_deref(), Some("true"));
        // Another desired value, another current value, another object or action: another hash.
        let want2 = fields(&[("active", json!(false))]);
        let now2 = fields(&[("active", json!(null))]);
        let other = [
            plan(&change(&want2, Some(&now), &paths, &[], None), "t").hash,
            plan(&change(&want, Some(&now2), &paths, &[], None), "t").hash,
            plan(
                &Change {
                    object: "conn_2",
                    ..change(&want, Some(&now), &paths, &[], None)
                },
                "t",
            )
            .hash,
            plan(
                &Change {
                    action: Action::Create,
                    ..change(&want, Some(&now), &paths, &[], None)
                },
                "t",
            )
            .hash,
        ];
        for h in other {
            assert_ne!(h, p.hash);
        }
    }

    #[test]
    fn write_only_values_are_never_shown_but_change_the_hash() {
        let want = fields(&[("oidc.clientId", json!("id"))]);
        let paths = vec!["oidc.clientSecret".to_string()];
        let wo = paths.clone();
        let a = plan(&change(&want, Some(&want), &paths, &wo, Some("h1")), "t");
        let b = plan(&change(&want, Some(&want), &paths, &wo, Some("h2")), "t");
        assert_ne!(a.hash, b.hash);
        assert_eq!(a.fields[0].desired.as_deref(), Some(CHANGED));
        assert_eq!(a.fields[0].current, None);
        assert_eq!(summary(&a), "Update oidc.clientSecret");
    }

    #[test]
    fn long_values_are_cut_in_status_only() {
        let long = "x".repeat(1000);
        let want = fields(&[("saml.idpCertificate", json!(long))]);
        let paths = vec!["saml.idpCertificate".to_string()];
        let p = plan(&change(&want, None, &paths, &[], None), "t");
        let shown = p.fields[0].desired.clone().unwrap_or_default();
        assert!(shown.chars().count() <= SHOWN_CHARS + 1, "{}", shown.len());
        assert!(shown.ends_with('…'));
        let want2 = fields(&[("saml.idpCertificate", json!(format!("{long}y")))]);
        assert_ne!(
            plan(&change(&want2, None, &paths, &[], None), "t").hash,
            p.hash
        );
    }

    #[test]
    fn plans_render_like_terraform_and_hide_write_only_values() {
        let want = fields(&[
            ("name", json!("b")),
            ("active", json!(true)),
            ("oidc.clientId", json!("id")),
        ]);
        let now = fields(&[("name", json!("a")), ("oidc.clientId", json!("id"))]);
        let paths: Vec<String> = ["active", "name", "oidc.clientSecret"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let wo = vec!["oidc.clientSecret".to_string()];
        let p = plan(&change(&want, Some(&now), &paths, &wo, Some("h")), "t");
        assert_eq!(
            render("EnterpriseConnection sso/acme (clerk ent_1)", &p),
            "~ EnterpriseConnection sso/acme (clerk ent_1)\n    + spec.active: true\n    ~ spec.name: \"a\" -> \"b\"\n    ~ spec.oidc.clientSecret: (would change)\n"
        );
        let create = plan(
            &Change {
                action: Action::Create,
                ..change(&want, None, &paths[..2], &[], None)
            },
            "t",
        );
        assert_eq!(
            render("x", &create),
            "+ x\n    + spec.active: true\n    + spec.name: \"b\"\n"
        );
        let none = plan(&change(&want, Some(&want), &[], &[], None), "t");
        assert_eq!(render("x", &none), "");
    }
}
