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
}
