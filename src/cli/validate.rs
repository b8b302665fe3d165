//! `ssoperator validate`: manifests checked offline against the CRDs' OpenAPI schemas (the
//! `jsonschema` crate) and their CEL rules ([`crate::core::cel`]), each finding with its field
//! path. The schemas are the ones `crdgen` writes to `crds/`, embedded in the binary.

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

/// One kind's schema: the CRD's `openAPIV3Schema` (for the CEL rules) and the JSON Schema
/// validator built from it.
pub struct KindSchema {
    kind: String,
    openapi: Value,
    validator: Result<jsonschema::Validator, String>,
}

/// The CRD's OpenAPI schema as JSON Schema, with the API server's reading of it: `nullable`
/// admits `null`, and an object with declared properties (and no
/// `x-kubernetes-preserve-unknown-fields`) admits no other field, as `kubectl apply`'s strict
/// field validation refuses unknown fields.
pub fn to_json_schema(schema: &Value) -> Value {
    let mut out = schema.clone();
    adapt(&mut out);
    // The root declares spec and status only: apiVersion, kind and metadata are Kubernetes'.
    if let Some(o) = out.as_object_mut()
        && schema.get("additionalProperties").is_none()
    {
        o.remove("additionalProperties");
    }
    out
}

fn adapt(v: &mut Value) {
    let Some(o) = v.as_object_mut() else { return };
    if o.get("nullable") == Some(&Value::Bool(true)) {
        if let Some(Value::String(t)) = o.get("type").cloned() {
            o.insert("type".into(), serde_json::json!([t, "null"]));
        }
        if let Some(Value::Array(e)) = o.get_mut("enum") {
            e.push(Value::Null);
        }
    }
    let preserve = o.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if o.contains_key("properties") && !o.contains_key("additionalProperties") && !preserve {
        o.insert("additionalProperties".into(), Value::Bool(false));
    }
    if let Some(Value::Object(props)) = o.get_mut("properties") {
        props.values_mut().for_each(adapt);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = o.get_mut(key) {
            adapt(child);
        }
    }
}

/// The generated CRD files (`crdgen`'s output, which the unit test
/// `crd::tests::committed_crd_files_match_the_generator` keeps equal to the types): embedded as
/// text rather than built from the types at run time, which would link every CRD type's schema
/// code into the operator binary.
const CRD_FILES: [&str; 5] = [
    include_str!("../../crds/providerconfigs.yaml"),
    include_str!("../../crds/clusterproviderconfigs.yaml"),
    include_str!("../../crds/enterpriseconnections.yaml"),
    include_str!("../../crds/connectionprofiles.yaml"),
    include_str!("../../crds/orgrolemappings.yaml"),
];

/// The schemas of every ssoperator kind.
pub fn schemas() -> Vec<KindSchema> {
    CRD_FILES
        .iter()
        .filter_map(|text| {
            let v: Value = serde_yaml::from_str(text).ok()?;
            let kind = v.pointer("/spec/names/kind")?.as_str()?.to_string();
            let openapi = v
                .pointer("/spec/versions/0/schema/openAPIV3Schema")?
                .clone();
            let validator = jsonschema::options()
                .build(&to_json_schema(&openapi))
                .map_err(|e| format!("the {kind} schema does not compile: {e}"));
            Some(KindSchema {
                kind,
                openapi,
                validator,
            })
        })
        .collect()
}

/// The uniqueness of `x-kubernetes-list-type: set` items and of `map` list keys, which JSON
/// Schema cannot say: `path[i]: Duplicate value` for each repeat, as the API server words it.
/// One schema node; [`cel::walk`] visits them all.
fn list_types(schema: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
    if let (Some(list), Some(t)) = (
        value.as_array(),
        schema.get("x-kubernetes-list-type").and_then(Value::as_str),
    ) {
        let keys: Vec<&str> = schema
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
            .map(|k| k.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let identity = |v: &Value| -> Option<Value> {
            match t {
                "set" => Some(v.clone()),
                "map" => Some(Value::Array(
                    keys.iter()
                        .map(|k| v.get(*k).cloned().unwrap_or(Value::Null))
                        .collect(),
                )),
                _ => None,
            }
        };
        let mut seen: Vec<Value> = vec![];
        for (i, item) in list.iter().enumerate() {
            if let Some(id) = identity(item) {
                if seen.contains(&id) {
                    out.push(format!("{path}[{i}]: Duplicate value: {id}"));
                } else {
                    seen.push(id);
                }
            }
        }
    }
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
pub fn check(doc: &Value, schemas: &[KindSchema]) -> Vec<String> {
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
    let Some(schema) = schemas.iter().find(|s| s.kind == kind) else {
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
    match &schema.validator {
        Ok(v) => {
            for e in v.iter_errors(doc) {
                let at = dotted(e.instance_path().as_str());
                let join = |field: &str| {
                    if at.is_empty() {
                        field.to_string()
                    } else {
                        format!("{at}.{field}")
                    }
                };
                // Named as the API server names them: the missing or unknown field itself.
                use jsonschema::error::ValidationErrorKind as K;
                match e.kind() {
                    K::Required { property } => {
                        let field = property.as_str().unwrap_or_default();
                        out.push(format!("{}: Required value", join(field)));
                    }
                    K::AdditionalProperties { unexpected } => {
                        for field in unexpected {
                            out.push(format!("{}: unknown field", join(field)));
                        }
                    }
                    _ => {
                        let path = if at.is_empty() {
                            "(root)".to_string()
                        } else {
                            at.clone()
                        };
                        out.push(format!("{path}: {e}"));
                    }
                }
            }
        }
        Err(e) => out.push(e.clone()),
    }
    cel::walk(&schema.openapi, doc, "", &mut |s, v, p| {
        list_types(s, v, p, &mut out)
    });
    let mut violations = vec![];
    cel::check(&schema.openapi, doc, "", &mut violations);
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
    fn every_kind_has_its_embedded_schema() {
        let kinds: Vec<String> = schemas().into_iter().map(|s| s.kind).collect();
        let want: Vec<String> = crate::crd::all()
            .into_iter()
            .map(|(_, crd)| crd.spec.names.kind)
            .collect();
        assert_eq!(kinds, want);
        assert!(schemas().iter().all(|s| s.validator.is_ok()));
    }

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
        // Unknown fields are refused (as kubectl's strict field validation does); a null in a
        // nullable field is not.
        let typo = json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
            "metadata": {"name": "a"},
            "spec": {"providerConfigRef": {"name": "p"}, "name": "A", "externalName": null,
                     "saml": {"idpSsoURL": "https://idp/sso"}}});
        let f = check(&typo, &s);
        assert_eq!(f, ["spec.saml.idpSsoURL: unknown field"]);
        let dup = json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "OrgRoleMapping",
            "metadata": {"name": "m"},
            "spec": {"providerConfigRef": {"name": "p"}, "externalName": "x",
                     "mappings": [{"externalGroup": "a", "roles": [{"role": "r"}]},
                                  {"externalGroup": "a", "roles": [{"role": "s"}]}],
                     "atlas": {"postAuthRoleGrants": ["ORG_MEMBER", "ORG_MEMBER"]}}});
        let f = check(&dup, &s);
        assert_eq!(
            f,
            [
                "spec.atlas.postAuthRoleGrants[1]: Duplicate value: \"ORG_MEMBER\"",
                "spec.mappings[1]: Duplicate value: [\"a\"]"
            ]
        );
        let other = json!({"apiVersion": "v1", "kind": "Secret"});
        assert!(check(&other, &s).is_empty());
        let unknown = json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "Thing", "metadata": {"name": "x"}});
        assert_eq!(check(&unknown, &s).len(), 1);
    }
}
