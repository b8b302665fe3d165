//! Keeps secret values out of every text the operator writes (conditions, Events, logs). A
//! provider may quote the request in an error message (a validation error that echoes the body),
//! so messages are not trusted to be clean: every secret the operator holds for the resource and
//! its account is cut out of them.

use super::desired::SecretValue;

/// What replaces a secret value.
pub const REDACTED: &str = "<redacted>";
/// Values shorter than this are not searched for: they would mangle ordinary words, and a
/// secret that short protects nothing.
const MIN_LEN: usize = 6;

/// The secret values of one reconcile: the account's credentials and the resource's own.
#[derive(Clone, Default)]
pub struct Secrets(Vec<String>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} values)", self.0.len())
    }
}

impl Secrets {
    pub fn add(&mut self, value: &SecretValue) {
        let v = value.expose();
        if v.len() < MIN_LEN {
            return;
        }
        // The forms a provider may echo it in: as is, JSON-escaped, percent-encoded.
        let json = serde_json::to_string(v).unwrap_or_default();
        let json = json.trim_matches('"').to_string();
        let url: String = url::form_urlencoded::byte_serialize(v.as_bytes()).collect();
        for form in [v.to_string(), json, url] {
            if !self.0.contains(&form) {
                self.0.push(form);
            }
        }
        // Longest first, so that a value containing another is cut whole.
        self.0.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    pub fn extend(&mut self, other: &Secrets) {
        for v in &other.0 {
            if !self.0.contains(v) {
                self.0.push(v.clone());
            }
        }
        self.0.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// `text` with every secret value replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for v in &self.0 {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), REDACTED);
            }
        }
        out
    }

    /// The raw values, for keying a hash (never for printing).
    pub fn key_material(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_secret_is_cut_out() {
        let mut s = Secrets::default();
        s.add(&SecretValue::new("canary\"sec ret/1"));
        s.add(&SecretValue::new("abc")); // too short to search for
        let text = r#"invalid body {"client_secret":"canary\"sec ret/1"} or canary"sec ret/1 or canary%22sec+ret%2F1; abc"#;
        let out = s.redact(text);
        assert!(!out.contains("canary"), "{out}");
        assert_eq!(out.matches(REDACTED).count(), 3, "{out}");
        assert!(out.ends_with("abc"), "{out}");
        assert_eq!(format!("{s:?}"), "Secrets(3 values)");
    }
}
