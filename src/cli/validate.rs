//! `ssoperator validate`: manifests checked offline against the CRDs' OpenAPI schemas (the
//! `jsonschema` crate) and their CEL rules ([`crate::core::cel`]), each finding with its field
//! path. The schemas are the ones `crdgen` writes to `crds/`, built into the binary.

use std::path::PathBuf;

use serde_json::Value;

use super::{Doc, EXIT_ERROR, EXIT_FOUND, EXIT_OK};
use crate::core::cel;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Manifest files or directories (`*.yaml`, `*.yml`, `*.json`).
    #[arg(long, short = 'f', required = true)]
    pub filename: Vec<PathBuf>,
}

/// The `openAPIV3Schema` of each ssoperator kind.
fn schemas() -> Vec<(String, Value)> {
    crate::crd::all()
        .into_iter()
        .filter_map(|(_, crd)| {
            let v = serde_json::to_value(&crd).ok()?;
            let kind = v.pointer("/spec/names/kind")?.as_str()?.to_string();
            let schema = v
                .pointer("/spec/versions/0/schema/openAPIV3Schema")?
                .clone();
            Some((kind, schema))
        })
        .collect()
}

/// `/spec/saml/idpSsoUrl` -> `spec.saml.idpSsoUrl`, `/spec/mappings/0/roles` -> `spec.mappings[0].roles`.
fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for part in pointer.split('/').filter(|p| !p.is_empty()) {
        let part = part.replace("~1", "/").replace("~0", "~");
        if part.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&part);
        }
    }
    out
}

/// The findings for one document: `path: message`, empty when it is valid. Documents that are
/// not ssoperator kinds are not checked.
pub fn check(doc: &Value, schemas: &[(String, Value)]) -> Vec<String> {
    let api = doc
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !api.starts_with(&format!("{}/", crate::crd::GROUP)) {
        return vec![];
    }
    if api != crate::core::export::API_VERSION {
        return vec![format!(
            "apiVersion: {api} is not served (use {})",
            crate::core::export::API_VERSION
        )];
    }
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
    let Some((_, schema)) = schemas.iter().find(|(k, _)| k == kind) else {
        return vec![format!("kind: {kind:?} is not an ssoperator kind")];
    };
    let mut out = vec![];
    if doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        out.push("metadata.name: required".to_string());
    }
    // Kubernetes fills apiVersion, kind and metadata itself; the schema speaks for spec.
    match jsonschema::options().build(schema) {
        Ok(v) => {
            for e in v.iter_errors(doc) {
                let path = dotted(e.instance_path().as_str());
                let path = if path.is_empty() {
                    "(root)".to_string()
                } else {
                    path
                };
                out.push(format!("{path}: {e}"));
            }
        }
        Err(e) => out.push(format!("the {kind} schema does not compile: {e}")),
    }
    let mut violations = vec![];
    cel::check(schema, doc, "", &mut violations);
    out.extend(
        violations
            .into_iter()
            .map(|v| format!("{}: {}", v.path, v.message)),
    );
    out
}

/// Runs the validation; the exit code (0 valid, 1 invalid, 2 an error).
pub fn run(args: Args) -> u8 {
    let docs: Vec<Doc> = match super::load_docs(&args.filename) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("ssoperator validate: {e}");
            return EXIT_ERROR;
        }
    };
    let schemas = schemas();
    let mut bad = 0;
    let mut checked = 0;
    for d in &docs {
        let findings = check(&d.value, &schemas);
        if d.value
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|a| a.starts_with("ssoperator.io/"))
        {
            checked += 1;
        }
        if !findings.is_empty() {
            bad += 1;
            for f in findings {
                println!(
                    "{}: {} {}/{}: {f}",
                    d.source,
                    d.kind(),
                    d.namespace(),
                    d.name()
                );
            }
        }
    }
    eprintln!("validate: {checked} ssoperator manifests checked, {bad} invalid");
    if bad > 0 { EXIT_FOUND } else { EXIT_OK }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_become_field_paths() {
        assert_eq!(dotted("/spec/mappings/0/roles"), "spec.mappings[0].roles");
        assert_eq!(dotted(""), "");
    }

    #[test]
    fn schema_and_cel_findings_name_the_field() {
        let s = schemas();
        let ok = json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
            "metadata": {"name": "a"},
            "spec": {"providerConfigRef": {"name": "p"}, "name": "A", "saml": {"idpSsoUrl": "https://idp/sso"}}});
        assert_eq!(check(&ok, &s), Vec::<String>::new());
        let bad = json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
            "metadata": {"name": "a"},
            "spec": {"providerConfigRef": {"name": "p"}, "name": "A",
                     "saml": {"idpSsoUrl": "ftp://idp"}, "deletionPolicy": "Sometimes",
                     "domains": ["a.com", "A.com"]}});
        let f = check(&bad, &s);
        assert!(
            f.iter().any(|m| m.starts_with("spec.saml.idpSsoUrl:")),
            "{f:?}"
        );
        assert!(
            f.iter().any(|m| m.starts_with("spec.deletionPolicy:")),
            "{f:?}"
        );
        assert!(
            f.iter()
                .any(|m| m.starts_with("spec.domains: domains must not list")),
            "{f:?}"
        );
        let pc = json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "ProviderConfig",
            "metadata": {"name": "p"},
            "spec": {"clerk": {}, "atlas": {"federationSettingsId": "0123456789abcdef01234567"},
                     "credentialsSecretRef": {"name": "c"}, "endpoint": "http://api.example.com"}});
        let f = check(&pc, &s);
        assert!(
            f.iter()
                .any(|m| m.starts_with("spec: exactly one provider block")),
            "{f:?}"
        );
        assert!(
            f.iter()
                .any(|m| m.starts_with("spec.endpoint: endpoint: plain http://")),
            "{f:?}"
        );
        let other = json!({"apiVersion": "v1", "kind": "Secret"});
        assert!(check(&other, &s).is_empty());
        let unknown = json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "Thing", "metadata": {"name": "x"}});
        assert_eq!(check(&unknown, &s).len(), 1);
    }
}
