//! Field maps and the diff between what the spec sets and what the provider holds.

use std::collections::BTreeMap;

use serde_json::Value;

/// Normalised values keyed by field path in the spec's own terms (e.g. `saml.idpEntityId`).
pub type Fields = BTreeMap<String, Value>;

/// The field paths whose observed value differs from the desired one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    pub paths: Vec<String>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }
    /// Whether `path` or anything below it differs.
    pub fn touches(&self, path: &str) -> bool {
        self.paths
            .iter()
            .any(|p| p == path || p.starts_with(&format!("{path}.")))
    }
    /// Adds a path (used for write-only fields whose value cannot be read back).
    pub fn push(&mut self, path: impl Into<String>) {
        let path = path.into();
        if !self.paths.contains(&path) {
            self.paths.push(path);
            self.paths.sort();
        }
    }
}

/// Compares only the fields the spec sets: what the spec leaves out stays as the provider has it.
/// A field missing on the provider side counts as `null`.
pub fn diff(desired: &Fields, observed: &Fields) -> Diff {
    let paths = desired
        .iter()
        .filter(|(path, want)| observed.get(*path).unwrap_or(&Value::Null) != *want)
        .map(|(path, _)| path.clone())
        .collect();
    Diff { paths }
}

/// One field the operator would write, as `ssoperator diff` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub path: String,
    /// What the provider holds (`None`: not set there).
    pub from: Option<Value>,
    /// What the spec asks for; `None` for a write-only value, which is never shown.
    pub to: Option<Value>,
}

/// The changes that close `diff`: the value each differing path has and would get. A path in
/// `write_only` is shown without values (the provider never returns it, and the spec's value is
/// a secret or unread).
pub fn changes(
    desired: &Fields,
    observed: &Fields,
    diff: &Diff,
    write_only: &[String],
) -> Vec<Change> {
    diff.paths
        .iter()
        .map(|p| {
            if write_only.contains(p) {
                Change {
                    path: p.clone(),
                    from: None,
                    to: None,
                }
            } else {
                Change {
                    path: p.clone(),
                    from: observed.get(p).filter(|v| !v.is_null()).cloned(),
                    to: desired.get(p).cloned(),
                }
            }
        })
        .collect()
}

fn show(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// `terraform plan`-like lines for one resource: `~ <header>` and one indented line per field
/// (`~ path: old -> new`, `+ path: new` when the provider has no value, `~ path: (would change)`
/// for a write-only value). Nothing when there are no changes.
pub fn render(header: &str, changes: &[Change]) -> String {
    if changes.is_empty() {
        return String::new();
    }
    let mut out = format!("~ {header}\n");
    for c in changes {
        let line = match (&c.from, &c.to) {
            (_, None) => format!("    ~ spec.{}: (would change)\n", c.path),
            (None, Some(to)) => format!("    + spec.{}: {}\n", c.path, show(to)),
            (Some(from), Some(to)) => {
                format!("    ~ spec.{}: {} -> {}\n", c.path, show(from), show(to))
            }
        };
        out.push_str(&line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(pairs: &[(&str, Value)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn fields_the_spec_leaves_out_are_not_compared() {
        let desired = fields(&[("name", json!("a"))]);
        let observed = fields(&[("name", json!("a")), ("active", json!(false))]);
        assert!(diff(&desired, &observed).is_empty());
    }

    #[test]
    fn changed_and_missing_fields_are_listed() {
        let desired = fields(&[
            ("name", json!("a")),
            ("domains", json!(["x.com"])),
            ("active", json!(true)),
        ]);
        let observed = fields(&[("name", json!("b")), ("domains", json!(["x.com"]))]);
        assert_eq!(diff(&desired, &observed).paths, vec!["active", "name"]);
    }

    #[test]
    fn touches_matches_prefixes() {
        let d = Diff {
            paths: vec!["saml.idpSsoUrl".into()],
        };
        assert!(d.touches("saml"));
        assert!(!d.touches("sam"));
    }

    #[test]
    fn changes_render_like_a_plan_and_hide_write_only_values() {
        let desired = fields(&[
            ("name", json!("b")),
            ("saml.idpSsoUrl", json!("https://new")),
            ("active", json!(true)),
        ]);
        let observed = fields(&[
            ("name", json!("a")),
            ("saml.idpSsoUrl", json!("https://new")),
        ]);
        let mut d = diff(&desired, &observed);
        d.push("oidc.clientSecret");
        let c = changes(&desired, &observed, &d, &["oidc.clientSecret".to_string()]);
        let text = render("EnterpriseConnection sso/acme (clerk ent_1)", &c);
        assert_eq!(
            text,
            "~ EnterpriseConnection sso/acme (clerk ent_1)\n    + spec.active: true\n    ~ spec.name: \"a\" -> \"b\"\n    ~ spec.oidc.clientSecret: (would change)\n"
        );
        assert_eq!(render("x", &[]), "");
    }
}
