//! What `ssoperator export` makes of a provider's objects: stable Kubernetes names, specs
//! un-flattened from the observed fields, and the manifests' text. Pure: no I/O.
//!
//! The observed [`Fields`] of a remote object are keyed by spec path (`saml.idpEntityId`) in the
//! same normalised form that the provider's `desired_fields` produces, so a spec is rebuilt by
//! un-flattening them; a spec built that way has, by construction, an empty diff against the
//! object it came from (the export checks that again for every object).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{desired::ResourceKind, diff::Fields};

/// `apiVersion` of every ssoperator kind.
pub const API_VERSION: &str = "ssoperator.io/v1alpha1";
/// Longest name this module makes: a DNS-1123 label, valid for every kind.
const MAX_NAME: usize = 63;

/// A DNS-1123 label from a provider's name: lower case, runs of anything but `[a-z0-9]` become
/// one `-`, no `-` at either end, at most 63 characters. `fallback` when nothing is left.
pub fn dns1123_name(name: &str, fallback: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out = out.trim_matches('-').to_string();
    out.truncate(MAX_NAME);
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        fallback.to_string()
    } else {
        out
    }
}

/// `bytes` bytes of SHA-256 of a provider id, in hex: the stable suffix of a name two objects share.
fn id_suffix(id: &str, bytes: usize) -> String {
    hex::encode(&Sha256::digest(id.as_bytes())[..bytes])
}

/// `stem-suffix`, the stem shortened so that the whole stays a DNS-1123 label.
fn suffixed(stem: &str, suffix: &str) -> String {
    let mut stem = stem.to_string();
    stem.truncate(MAX_NAME - suffix.len() - 1);
    format!("{}-{suffix}", stem.trim_end_matches('-'))
}

/// Kubernetes names for objects given as `(provider name, provider id)`, in the same order.
/// Each name depends only on its own object: a name that no other object of the list maps to is
/// kept; the objects that share one all get `-<hash of their id>` appended. So adding or
/// removing an object never renames an unrelated one, and a re-export is byte-identical.
pub fn assign_names(objects: &[(String, String)], fallback: &str) -> Vec<String> {
    let bases: Vec<String> = objects
        .iter()
        .map(|(name, _)| dns1123_name(name, fallback))
        .collect();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for b in &bases {
        *count.entry(b.as_str()).or_default() += 1;
    }
    let taken: BTreeSet<&str> = bases.iter().map(String::as_str).collect();
    let mut out: Vec<String> = Vec::with_capacity(objects.len());
    for (b, (_, id)) in bases.iter().zip(objects) {
        if count.get(b.as_str()).copied().unwrap_or(0) <= 1 {
            out.push(b.clone());
            continue;
        }
        let mut name = suffixed(b, &id_suffix(id, 4));
        // A suffixed name that another object has as its plain name: a longer suffix.
        if taken.contains(name.as_str()) {
            name = suffixed(b, &id_suffix(id, 8));
        }
        out.push(name);
    }
    out
}

/// Nested JSON from dotted spec paths (`saml.idpEntityId` -> `{"saml": {"idpEntityId": ..}}`).
/// `null` means "not set" and is left out. A path that is both a value and the parent of
/// another path is an error naming it.
pub fn unflatten(fields: &Fields) -> Result<Map<String, Value>, String> {
    let mut root = Map::new();
    for (path, value) in fields {
        if value.is_null() {
            continue;
        }
        let parts: Vec<&str> = path.split('.').collect();
        let Some((leaf, parents)) = parts.split_last() else {
            continue;
        };
        let mut at = &mut root;
        for (i, p) in parents.iter().enumerate() {
            let entry = at
                .entry((*p).to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            at = entry.as_object_mut().ok_or_else(|| {
                format!(
                    "field {path} is below {}, which holds a value",
                    parts[..=i].join(".")
                )
            })?;
        }
        if at.get(*leaf).is_some_and(Value::is_object) && !value.is_object() {
            return Err(format!(
                "field {path} holds a value and has fields below it"
            ));
        }
        match (at.get_mut(*leaf), value) {
            (Some(Value::Object(have)), Value::Object(more)) => {
                for (k, v) in more {
                    have.insert(k.clone(), v.clone());
                }
            }
            _ => {
                at.insert((*leaf).to_string(), value.clone());
            }
        }
    }
    Ok(root)
}

/// The ProviderConfig (or ClusterProviderConfig) the exported resources point at.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigTarget {
    pub name: String,
    /// `ClusterProviderConfig` instead of `ProviderConfig`.
    pub cluster: bool,
}

/// What the export needs to know about one remote object.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportItem {
    pub kind: ResourceKind,
    /// The provider's id (spec.externalName).
    pub id: String,
    /// The name the provider shows (for the Kubernetes name).
    pub name: String,
    /// The spec fields, in spec paths ([`crate::provider::Provider::spec_fields`]).
    pub fields: Fields,
    /// Spec paths the provider never returns ([`crate::provider::Provider::unreadable_paths`]).
    pub unreadable: Vec<String>,
}

/// A write-only secret the user must put in a Secret before the resource can be Ready.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecretToFill {
    /// `kind/name` of the resource that refers to it.
    pub resource: String,
    /// The spec field that refers to it (`spec.oidc.clientSecretRef`).
    pub field: String,
    pub secret: String,
    pub key: String,
}

/// One exported resource: its manifest, the notes that go in its comment, and the Secrets to fill.
#[derive(Clone, Debug, PartialEq)]
pub struct Exported {
    pub kind: ResourceKind,
    pub name: String,
    pub manifest: Value,
    pub notes: Vec<String>,
    pub secrets: Vec<SecretToFill>,
}

/// The manifest of one remote object: `spec.externalName` set, `managementPolicy: ObserveOnly`,
/// `deletionPolicy: Orphan`, every field the provider returned. A secret the provider never
/// returns becomes a `secretRef` to a Secret named after the resource (never a value); other
/// values it never returns are left out (the operator then leaves them as the provider has
/// them) and named in a note.
pub fn manifest(
    item: &ExportItem,
    name: &str,
    namespace: &str,
    config: &ConfigTarget,
) -> Result<Exported, String> {
    let mut spec = unflatten(&item.fields)
        .map_err(|e| format!("{} {:?} (id {}): {e}", item.kind, item.name, item.id))?;
    let mut notes = vec![];
    let mut secrets = vec![];
    if item.kind == ResourceKind::EnterpriseConnection {
        spec.entry("name")
            .or_insert_with(|| Value::String(item.name.clone()));
        if !spec.contains_key("saml") && !spec.contains_key("oidc") {
            // The provider's own SAML settings: `saml: {}` selects SAML and sets nothing.
            spec.insert("saml".into(), json!({}));
        }
    }
    let protocol = ["saml", "oidc"]
        .into_iter()
        .find(|p| spec.contains_key(*p))
        .unwrap_or("");
    let mut left_out = vec![];
    for path in &item.unreadable {
        if !path.starts_with(&format!("{protocol}.")) {
            continue;
        }
        if path == "oidc.clientSecret" {
            let secret = format!("{name}-client-secret");
            if let Some(oidc) = spec.get_mut("oidc").and_then(Value::as_object_mut) {
                oidc.insert(
                    "clientSecretRef".into(),
                    json!({"name": secret, "key": "clientSecret"}),
                );
            }
            notes.push(format!(
                "spec.oidc.clientSecretRef: the provider never returns the client secret; create Secret {namespace}/{secret} with key clientSecret (for a public PKCE client, delete clientSecretRef instead)"
            ));
            secrets.push(SecretToFill {
                resource: format!("{}/{name}", item.kind),
                field: "spec.oidc.clientSecretRef".into(),
                secret,
                key: "clientSecret".into(),
            });
        } else {
            left_out.push(format!("spec.{path}"));
        }
    }
    if !left_out.is_empty() {
        notes.push(format!(
            "not exported, the provider never returns them (they stay as the provider has them unless you set them): {}",
            left_out.join(", ")
        ));
    }
    let mut full = Map::new();
    full.insert(
        "providerConfigRef".into(),
        json!({
            "kind": if config.cluster { "ClusterProviderConfig" } else { "ProviderConfig" },
            "name": config.name,
        }),
    );
    full.insert("externalName".into(), json!(item.id));
    full.insert("managementPolicy".into(), json!("ObserveOnly"));
    full.insert("deletionPolicy".into(), json!("Orphan"));
    for (k, v) in spec {
        full.insert(k, v);
    }
    let manifest = json!({
        "apiVersion": API_VERSION,
        "kind": item.kind.as_str(),
        "metadata": {"name": name, "namespace": namespace},
        "spec": Value::Object(full),
    });
    Ok(Exported {
        kind: item.kind,
        name: name.to_string(),
        manifest,
        notes,
        secrets,
    })
}

/// Every object as a manifest, named with [`assign_names`] per kind, in a stable order (kind,
/// then name). `fallback` names come from the kind.
pub fn export_all(
    items: &[ExportItem],
    namespace: &str,
    config: &ConfigTarget,
) -> Result<Vec<Exported>, String> {
    let mut out = vec![];
    let mut kinds: Vec<ResourceKind> = items.iter().map(|i| i.kind).collect();
    kinds.sort();
    kinds.dedup();
    for kind in kinds {
        let of_kind: Vec<&ExportItem> = items.iter().filter(|i| i.kind == kind).collect();
        let keys: Vec<(String, String)> = of_kind
            .iter()
            .map(|i| (i.name.clone(), i.id.clone()))
            .collect();
        let fallback = kind.as_str().to_ascii_lowercase();
        let names = assign_names(&keys, &fallback);
        let mut made = of_kind
            .iter()
            .zip(&names)
            .map(|(item, name)| manifest(item, name, namespace, config))
            .collect::<Result<Vec<_>, _>>()?;
        made.sort_by(|a, b| a.name.cmp(&b.name));
        out.extend(made);
    }
    Ok(out)
}

/// A document as YAML, with its notes as a leading comment.
pub fn to_yaml(manifest: &Value, notes: &[String]) -> Result<String, String> {
    let body = serde_yaml::to_string(manifest).map_err(|e| e.to_string())?;
    let mut out = String::new();
    for n in notes {
        for line in n.lines() {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(&body);
    Ok(out)
}

/// Several YAML documents as one stream (`---` between them).
pub fn yaml_stream(docs: &[String]) -> String {
    let mut out = String::new();
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(d);
    }
    out
}

/// The kind's plural lower-case name (the resource's part of a file name).
pub fn file_stem(kind: &str, name: &str) -> String {
    format!("{}-{name}", kind.to_ascii_lowercase())
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

    #[test]
    fn names_are_dns_1123_labels() {
        assert_eq!(dns1123_name("Acme Corp (SAML)", "x"), "acme-corp-saml");
        assert_eq!(dns1123_name("  --Ünïcode__ß--", "x"), "n-code");
        assert_eq!(
            dns1123_name("***", "enterpriseconnection"),
            "enterpriseconnection"
        );
        let long = dns1123_name(&"a-".repeat(60), "x");
        assert!(long.len() <= 63 && !long.ends_with('-'), "{long}");
    }

    #[test]
    fn shared_names_get_a_stable_suffix_from_the_id() {
        let objs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let names = assign_names(
            &objs(&[("Acme", "id1"), ("acme", "id2"), ("Globex", "id3")]),
            "x",
        );
        assert_eq!(names[2], "globex");
        assert!(names[0].starts_with("acme-") && names[1].starts_with("acme-"));
        assert_ne!(names[0], names[1]);
        // Order and unrelated objects do not change a name.
        let again = assign_names(
            &objs(&[("Globex", "id3"), ("acme", "id2"), ("Acme", "id1")]),
            "x",
        );
        assert_eq!(
            again,
            vec![names[2].clone(), names[1].clone(), names[0].clone()]
        );
        let more = assign_names(
            &objs(&[
                ("Acme", "id1"),
                ("acme", "id2"),
                ("Globex", "id3"),
                ("Initech", "id4"),
            ]),
            "x",
        );
        assert_eq!(&more[..3], &names[..]);
        for n in &names {
            assert!(n.len() <= 63);
        }
        // A suffixed name that is another object's plain name takes a longer suffix; long
        // names stay labels.
        let clash = format!("acme-{}", id_suffix("id1", 4));
        let names = assign_names(
            &objs(&[("Acme", "id1"), ("acme", "id2"), (&clash, "id9")]),
            "x",
        );
        assert_eq!(names[2], clash);
        assert_ne!(names[0], clash);
        assert_eq!(names[0].len(), "acme-".len() + 16);
        let long = "L".repeat(80);
        let names = assign_names(&objs(&[(&long, "a"), (&long, "b")]), "x");
        assert!(
            names.iter().all(|n| n.len() <= 63 && !n.contains("--")),
            "{names:?}"
        );
        assert_ne!(names[0], names[1]);
    }

    #[test]
    fn unflatten_nests_paths_and_drops_nulls() {
        let f = fields(&[
            ("name", json!("Acme")),
            ("saml.idpEntityId", json!("urn:x")),
            ("saml.attributeMapping.emailAddress", json!("mail")),
            ("oidc.requiresPkce", Value::Null),
            ("organization.show_as_button", json!("optional")),
        ]);
        let v = Value::Object(unflatten(&f).unwrap());
        assert_eq!(
            v,
            json!({"name": "Acme", "organization": {"show_as_button": "optional"},
                   "saml": {"idpEntityId": "urn:x", "attributeMapping": {"emailAddress": "mail"}}})
        );
        let clash = fields(&[("saml", json!("x")), ("saml.idpEntityId", json!("y"))]);
        assert!(unflatten(&clash).unwrap_err().contains("saml"));
    }

    fn item(kind: ResourceKind, f: Fields, unreadable: &[&str]) -> ExportItem {
        ExportItem {
            kind,
            id: "ent_1".into(),
            name: "Acme SSO".into(),
            fields: f,
            unreadable: unreadable.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_manifest_adopts_observes_and_orphans() {
        let cfg = ConfigTarget {
            name: "clerk".into(),
            cluster: false,
        };
        let f = fields(&[
            ("name", json!("Acme SSO")),
            ("oidc.clientId", json!("cid")),
            (
                "oidc.discoveryUrl",
                json!("https://idp/.well-known/openid-configuration"),
            ),
        ]);
        let e = manifest(
            &item(
                ResourceKind::EnterpriseConnection,
                f,
                &["oidc.clientSecret", "saml.idpCertificate"],
            ),
            "acme-sso",
            "sso",
            &cfg,
        )
        .unwrap();
        let spec = &e.manifest["spec"];
        assert_eq!(spec["externalName"], "ent_1");
        assert_eq!(spec["managementPolicy"], "ObserveOnly");
        assert_eq!(spec["deletionPolicy"], "Orphan");
        assert_eq!(
            spec["providerConfigRef"],
            json!({"kind": "ProviderConfig", "name": "clerk"})
        );
        assert_eq!(
            spec["oidc"]["clientSecretRef"],
            json!({"name": "acme-sso-client-secret", "key": "clientSecret"})
        );
        assert!(spec.get("saml").is_none());
        assert_eq!(e.secrets.len(), 1);
        // The SAML path does not apply to an OIDC connection.
        assert_eq!(e.notes.len(), 1);
        let yaml = to_yaml(&e.manifest, &e.notes).unwrap();
        assert!(yaml.starts_with("# spec.oidc.clientSecretRef"), "{yaml}");
        // A connection whose fields say nothing of the protocol is SAML with the provider's settings.
        let bare = manifest(
            &item(ResourceKind::EnterpriseConnection, Fields::new(), &[]),
            "acme-sso",
            "sso",
            &cfg,
        )
        .unwrap();
        assert_eq!(bare.manifest["spec"]["saml"], json!({}));
        assert_eq!(bare.manifest["spec"]["name"], "Acme SSO");
    }

    #[test]
    fn saml_values_never_returned_are_named_not_guessed() {
        let cfg = ConfigTarget {
            name: "c".into(),
            cluster: true,
        };
        let f = fields(&[("saml.idpEntityId", json!("urn:x"))]);
        let e = manifest(
            &item(
                ResourceKind::EnterpriseConnection,
                f,
                &["saml.idpCertificate", "oidc.clientSecret"],
            ),
            "n",
            "ns",
            &cfg,
        )
        .unwrap();
        assert!(e.manifest["spec"]["saml"].get("idpCertificate").is_none());
        assert!(e.secrets.is_empty());
        assert_eq!(e.notes.len(), 1);
        assert!(
            e.notes[0].ends_with("set them): spec.saml.idpCertificate"),
            "{:?}",
            e.notes
        );
        assert_eq!(
            e.manifest["spec"]["providerConfigRef"]["kind"],
            "ClusterProviderConfig"
        );
    }

    #[test]
    fn export_is_sorted_and_byte_identical_whatever_the_list_order() {
        let cfg = ConfigTarget {
            name: "c".into(),
            cluster: false,
        };
        let mk = |id: &str, name: &str| ExportItem {
            kind: ResourceKind::EnterpriseConnection,
            id: id.into(),
            name: name.into(),
            fields: fields(&[("name", json!(name)), ("saml.idpEntityId", json!("urn:x"))]),
            unreadable: vec![],
        };
        let a = vec![mk("1", "Zeta"), mk("2", "alpha"), mk("3", "Alpha")];
        let b = vec![mk("3", "Alpha"), mk("1", "Zeta"), mk("2", "alpha")];
        let render = |items: &[ExportItem]| {
            let docs: Vec<String> = export_all(items, "ns", &cfg)
                .unwrap()
                .iter()
                .map(|e| to_yaml(&e.manifest, &e.notes).unwrap())
                .collect();
            yaml_stream(&docs)
        };
        assert_eq!(render(&a), render(&b));
        let names: Vec<String> = export_all(&a, "ns", &cfg)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names.len(), 3);
        assert_eq!(names[2], "zeta");
    }
}
