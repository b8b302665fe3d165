//! The CRDs' CEL rules (`x-kubernetes-validations`) checked offline by `ssoperator validate`.
//!
//! The binary carries no CEL interpreter (Kubernetes' CEL has extension functions, `isURL`,
//! `lowerAscii`, `trim`, that the Rust CEL crates lack, and an interpreter would grow the image).
//! Instead each rule the CRDs carry has a Rust twin here, keyed by the rule's exact text; a unit
//! test fails when a CRD gains a rule without one. Pure: no I/O.

use serde_json::Value;

/// A rule's twin: whether `self` (the value at the rule's place) passes.
type Check = fn(&Value) -> bool;

fn has(v: &Value, key: &str) -> bool {
    v.get(key).is_some_and(|x| !x.is_null())
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// The twin of [`crate::provider::descriptor::one_block_rule`].
fn one_provider(v: &Value) -> bool {
    crate::provider::PROVIDERS
        .iter()
        .filter(|d| has(v, d.name()))
        .count()
        == 1
}

fn loopback_or_https(v: &Value) -> bool {
    let Some(e) = str_of(v, "endpoint") else {
        return true;
    };
    if !e.starts_with("http://") || v.get("allowInsecureEndpoint") == Some(&Value::Bool(true)) {
        return true;
    }
    let account = crate::crd::ProviderAccount {
        endpoint: Some(e.to_string()),
        ..Default::default()
    };
    super::validate::endpoint(&account).is_ok()
}

fn url_with_host(v: &Value) -> bool {
    let Some(s) = v.as_str() else { return true };
    !s.contains(' ')
        && url::Url::parse(s).is_ok_and(|u| u.host_str().is_some_and(|h| !h.is_empty()))
        && s.split_once("://").is_some_and(|(_, rest)| {
            !rest.starts_with(['/', '?', '#', ':', '@']) && !rest.is_empty()
        })
}

fn certificate(v: &Value) -> bool {
    let Some(s) = v.as_str() else { return true };
    let t = s.trim();
    if t.starts_with("-----BEGIN CERTIFICATE-----") {
        t.ends_with("-----END CERTIFICATE-----")
    } else {
        t.starts_with("MII")
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c) || c.is_whitespace())
    }
}

fn distinct_domains(v: &Value) -> bool {
    let Some(list) = v.as_array() else {
        return true;
    };
    let lower: Vec<String> = list
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_ascii_lowercase)
        .collect();
    lower
        .iter()
        .all(|d| lower.iter().filter(|e| *e == d).count() == 1)
}

/// Every rule of the CRDs with its twin.
const RULES: &[(&str, Check)] = &[
    (
        "!has(self.endpoint) || !self.endpoint.startsWith('http://') || (has(self.allowInsecureEndpoint) && self.allowInsecureEndpoint) || self.endpoint.matches('(?i)^http://(localhost|127[.][0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}|[[]::1[]])(:[0-9]+)?([/?#].*)?$')",
        loopback_or_https,
    ),
    (
        "self.startsWith('https://') || self.startsWith('http://')",
        |v| {
            v.as_str()
                .is_none_or(|s| s.starts_with("https://") || s.starts_with("http://"))
        },
    ),
    (
        "!self.contains(' ') && isURL(self) && self.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#:@]+')",
        url_with_host,
    ),
    ("has(self.credentialsSecretRef.namespace)", |v| {
        v.get("credentialsSecretRef")
            .is_some_and(|r| has(r, "namespace"))
    }),
    (
        "!has(self.from) || self.from != 'Selector' || has(self.selector)",
        |v| str_of(v, "from") != Some("Selector") || has(v, "selector"),
    ),
    (
        "(has(self.from) && self.from == 'Selector') || !has(self.selector)",
        |v| str_of(v, "from") == Some("Selector") || !has(v, "selector"),
    ),
    ("!self.startsWith('-') && !self.contains('--')", |v| {
        v.as_str()
            .is_none_or(|s| !s.starts_with('-') && !s.contains("--"))
    }),
    (
        "!(has(self.idpMetadata) && has(self.idpMetadataUrl))",
        |v| !(has(v, "idpMetadata") && has(v, "idpMetadataUrl")),
    ),
    (
        "!(has(self.idpCertificate) && has(self.idpCertificateSecretRef))",
        |v| !(has(v, "idpCertificate") && has(v, "idpCertificateSecretRef")),
    ),
    (
        "!has(self.idpType) || (self.idpType.startsWith('saml_') ? !has(self.oidc) : !has(self.saml))",
        |v| match str_of(v, "idpType") {
            None => true,
            Some(t) if t.starts_with("saml_") => !has(v, "oidc"),
            Some(_) => !has(v, "saml"),
        },
    ),
    (
        r"self.trim().startsWith('-----BEGIN CERTIFICATE-----') ? self.trim().endsWith('-----END CERTIFICATE-----') : self.trim().matches('^MII[A-Za-z0-9+/=\\s]*$')",
        certificate,
    ),
    ("has(self.configMap) != has(self.secret)", |v| {
        has(v, "configMap") != has(v, "secret")
    }),
    (
        "has(self.discoveryUrl) || (has(self.authUrl) && has(self.tokenUrl))",
        |v| has(v, "discoveryUrl") || (has(v, "authUrl") && has(v, "tokenUrl")),
    ),
    ("has(self.saml) != has(self.oidc)", |v| {
        has(v, "saml") != has(v, "oidc")
    }),
    (
        "self.all(d, self.exists_one(e, e.lowerAscii() == d.lowerAscii()))",
        distinct_domains,
    ),
    ("self.trim().startsWith('<')", |v| {
        v.as_str().is_none_or(|s| s.trim().starts_with('<'))
    }),
    ("has(self.connectionRef) != has(self.externalName)", |v| {
        has(v, "connectionRef") != has(v, "externalName")
    }),
];

fn twin(rule: &str) -> Option<Check> {
    // The one rule whose text comes from the provider table.
    if rule == crate::provider::descriptor::one_block_rule() {
        return Some(one_provider);
    }
    RULES.iter().find(|(r, _)| *r == rule).map(|(_, c)| *c)
}

/// A rule broken at `path` (dotted, `spec.saml.idpCertificate`), with the rule's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub path: String,
    pub message: String,
}

/// Checks `value` against every CEL rule of `schema` (an `openAPIV3Schema`, walked with the
/// value). A rule without a twin is reported as not checked, so it cannot pass silently.
pub fn check(schema: &Value, value: &Value, path: &str, out: &mut Vec<Violation>) {
    walk(schema, value, path, &mut |schema, value, path| {
        check_rules(schema, value, path, out)
    });
}

/// The CEL rules of one schema node against its value.
fn check_rules(schema: &Value, value: &Value, path: &str, out: &mut Vec<Violation>) {
    if let Some(rules) = schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
    {
        for r in rules {
            let rule = str_of(r, "rule").unwrap_or_default();
            let message = str_of(r, "message").unwrap_or(rule);
            let at = match str_of(r, "fieldPath") {
                Some(f) => format!("{path}{f}"),
                None => path.to_string(),
            };
            match twin(rule) {
                Some(c) if c(value) => {}
                Some(_) => out.push(Violation {
                    path: at,
                    message: message.to_string(),
                }),
                None => out.push(Violation {
                    path: at,
                    message: format!("rule not checked offline: {rule}"),
                }),
            }
        }
    }
}

/// Calls `visit` on every (schema, value, path) pair of an object, depth first: the properties
/// the value has and the items of its lists (`spec.mappings[0].roles`).
pub fn walk(
    schema: &Value,
    value: &Value,
    path: &str,
    visit: &mut dyn FnMut(&Value, &Value, &str),
) {
    visit(schema, value, path);
    if let (Some(props), Some(obj)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object(),
    ) {
        for (k, v) in obj {
            if let Some(s) = props.get(k) {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(s, v, &p, visit);
            }
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), value.as_array()) {
        for (i, v) in list.iter().enumerate() {
            walk(items, v, &format!("{path}[{i}]"), visit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules_of(schema: &Value, out: &mut Vec<String>) {
        match schema {
            Value::Object(m) => {
                if let Some(rs) = m.get("x-kubernetes-validations").and_then(Value::as_array) {
                    out.extend(
                        rs.iter()
                            .filter_map(|r| str_of(r, "rule").map(String::from)),
                    );
                }
                m.values().for_each(|v| rules_of(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| rules_of(v, out)),
            _ => {}
        }
    }

    /// Every CEL rule of every CRD has a twin here: a new rule fails this test until it gets one.
    #[test]
    fn every_crd_rule_has_a_twin() {
        let mut rules = vec![];
        for (_, crd) in crate::crd::all() {
            rules_of(&serde_json::to_value(&crd).unwrap(), &mut rules);
        }
        assert!(rules.len() >= 15, "{rules:?}");
        let missing: Vec<_> = rules.iter().filter(|r| twin(r).is_none()).collect();
        assert!(missing.is_empty(), "CEL rules without a twin: {missing:#?}");
    }

    #[test]
    fn twins_agree_with_the_rules_on_examples() {
        let t = |rule: &str, v: Value| twin(rule).unwrap()(&v);
        let one = &crate::provider::descriptor::one_block_rule();
        assert!(t(one, json!({"clerk": {}})));
        assert!(!t(
            one,
            json!({"clerk": {}, "qovery": {"organizationId": "x"}})
        ));
        assert!(!t(one, json!({})));
        let lo = RULES[0].0;
        assert!(t(lo, json!({"endpoint": "http://127.0.0.1:8080"})));
        assert!(t(lo, json!({"endpoint": "http://[::1]:1/x"})));
        assert!(!t(lo, json!({"endpoint": "http://api.example.com"})));
        assert!(t(
            lo,
            json!({"endpoint": "http://api.example.com", "allowInsecureEndpoint": true})
        ));
        let url = RULES[2].0;
        assert!(t(url, json!("https://api.example.com/v1")));
        assert!(!t(url, json!("https://")));
        assert!(!t(url, json!("https://a b")));
        assert!(!t(
            "self.all(d, self.exists_one(e, e.lowerAscii() == d.lowerAscii()))",
            json!(["a.com", "A.com"])
        ));
        assert!(t("has(self.saml) != has(self.oidc)", json!({"saml": {}})));
        assert!(!t(
            "has(self.saml) != has(self.oidc)",
            json!({"saml": {}, "oidc": {}})
        ));
    }

    #[test]
    fn violations_name_the_field() {
        let (_, crd) = crate::crd::all()
            .into_iter()
            .find(|(f, _)| *f == "enterpriseconnections.yaml")
            .unwrap();
        let crd = serde_json::to_value(&crd).unwrap();
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let obj = json!({"spec": {"name": "x", "providerConfigRef": {"name": "p"},
            "saml": {"idpCertificate": "not a cert"}, "oidc": {"clientId": "c"}}});
        let mut out = vec![];
        check(schema, &obj, "", &mut out);
        let paths: Vec<&str> = out.iter().map(|v| v.path.as_str()).collect();
        assert!(paths.contains(&"spec"), "{out:?}");
        assert!(paths.contains(&"spec.saml.idpCertificate"), "{out:?}");
        assert!(paths.contains(&"spec.oidc"), "{out:?}");
    }
}
