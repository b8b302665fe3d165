//! Normalisation helpers so that values that mean the same compare equal.

use serde_json::Value;

/// Domains are case-insensitive and may carry a trailing dot.
pub fn domain(d: &str) -> String {
    d.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// A set of domains: normalised, sorted, de-duplicated.
pub fn domains<S: AsRef<str>>(ds: &[S]) -> Vec<String> {
    string_set(ds.iter().map(|d| domain(d.as_ref())))
}

/// A set-like list of strings: sorted and de-duplicated.
pub fn string_set<I: IntoIterator<Item = String>>(items: I) -> Vec<String> {
    let mut v: Vec<String> = items.into_iter().collect();
    v.sort();
    v.dedup();
    v
}

/// URLs: surrounding whitespace and a trailing slash do not matter; scheme and host are case-insensitive.
pub fn url(u: &str) -> String {
    let t = u.trim().trim_end_matches('/');
    match t.split_once("://") {
        Some((scheme, rest)) => {
            let (host, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            format!(
                "{}://{}{}",
                scheme.to_ascii_lowercase(),
                host.to_ascii_lowercase(),
                path
            )
        }
        None => t.to_string(),
    }
}

/// PEM: line breaks, indentation and trailing whitespace do not matter, only the armour and base64 body.
pub fn pem(p: &str) -> String {
    let body: String = p
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .filter(|l| !l.starts_with("-----"))
        .collect();
    if p.contains("-----BEGIN") {
        format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----")
    } else {
        body
    }
}

/// Sorts every array of scalars or objects in a JSON value, recursively (for set-like provider lists).
pub fn sort_sets(v: &mut Value) {
    match v {
        Value::Array(items) => {
            items.iter_mut().for_each(sort_sets);
            items.sort_by_key(|a| a.to_string());
            items.dedup();
        }
        Value::Object(map) => map.values_mut().for_each(sort_sets),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_case_insensitive_and_order_free() {
        assert_eq!(
            domains(&["B.example.com.", "a.example.com", "b.example.com"]),
            vec!["a.example.com", "b.example.com"]
        );
    }

    #[test]
    fn url_trailing_slash_and_host_case_do_not_matter() {
        assert_eq!(
            url("HTTPS://IdP.Example.com/sso/"),
            url("https://idp.example.com/sso")
        );
        assert_ne!(
            url("https://idp.example.com/A"),
            url("https://idp.example.com/a")
        );
    }

    #[test]
    fn pem_whitespace_does_not_matter() {
        let a = "-----BEGIN CERTIFICATE-----\nMIIB\nAAAA\n-----END CERTIFICATE-----\n";
        let b = "  -----BEGIN CERTIFICATE-----\r\n  MIIBAAAA  \n-----END CERTIFICATE-----";
        assert_eq!(pem(a), pem(b));
    }

    #[test]
    fn nested_sets_sort() {
        let mut a = serde_json::json!({"m": [{"g": "b", "r": ["y", "x"]}, {"g": "a", "r": []}]});
        let mut b = serde_json::json!({"m": [{"g": "a", "r": []}, {"r": ["x", "y"], "g": "b"}]});
        sort_sets(&mut a);
        sort_sets(&mut b);
        assert_eq!(a, b);
    }
}
