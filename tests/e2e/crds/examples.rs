//! The examples: they cover every provider and kind, and pass strict server-side apply.

use super::*;

/// The examples hold what the README promises: every provider's ProviderConfig with its Secret,
/// and the managed resources of each provider. Static: needs no control plane.
#[test]
fn examples_cover_every_provider_and_kind() {
    let secret_keys: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("qovery", &["token"][..]),
        ("auth0", &["clientId", "clientSecret"][..]),
        ("loginradius", &["apiKey", "apiSecret"][..]),
        ("clerk", &["secretKey"][..]),
        ("atlas", &["publicKey", "privateKey"][..]),
    ]);
    let mut seen = BTreeSet::new();
    for file in example_files() {
        let text = std::fs::read_to_string(&file).expect("read example");
        let docs = yaml_documents(&text);
        let shown = file.display();
        let secrets: BTreeMap<&str, &Value> = docs
            .iter()
            .filter(|d| str_at(d, "/kind") == "Secret")
            .map(|d| (str_at(d, "/metadata/name"), d))
            .collect();
        // Provider of every ProviderConfig / ClusterProviderConfig in the file, by kind and name.
        let mut configs = BTreeMap::new();
        for doc in &docs {
            let kind = str_at(doc, "/kind");
            let name = str_at(doc, "/metadata/name");
            assert!(
                doc.pointer("/metadata/namespace").is_none(),
                "{shown}: {kind} {name} sets a namespace; the examples are applied into any namespace"
            );
            if kind != "ProviderConfig" && kind != "ClusterProviderConfig" {
                continue;
            }
            assert!(
                doc.pointer("/spec/endpoint").is_none(),
                "{shown}: {kind} {name} sets endpoint; examples use the real services"
            );
            let providers: Vec<&str> = secret_keys
                .keys()
                .copied()
                .filter(|p| doc["spec"].get(*p).is_some())
                .collect();
            assert_eq!(providers.len(), 1, "{shown}: {kind} {name}");
            let provider = providers[0];
            let secret_name = str_at(doc, "/spec/credentialsSecretRef/name");
            let secret = secrets
                .get(secret_name)
                .unwrap_or_else(|| panic!("{shown}: Secret {secret_name} of {name} is missing"));
            for key in secret_keys[provider] {
                assert!(
                    secret.pointer(&format!("/stringData/{key}")).is_some(),
                    "{shown}: Secret {secret_name} lacks key {key} for {provider}"
                );
            }
            configs.insert((kind.to_owned(), name.to_owned()), provider);
            seen.insert(format!("{kind}/{provider}"));
        }
        for doc in &docs {
            let kind = str_at(doc, "/kind");
            if !matches!(
                kind,
                "EnterpriseConnection" | "ConnectionProfile" | "OrgRoleMapping"
            ) {
                continue;
            }
            let ref_kind = match str_at(doc, "/spec/providerConfigRef/kind") {
                "" => "ProviderConfig",
                k => k,
            };
            let ref_name = str_at(doc, "/spec/providerConfigRef/name");
            let provider = configs
                .get(&(ref_kind.to_owned(), ref_name.to_owned()))
                .unwrap_or_else(|| panic!("{shown}: {ref_kind} {ref_name} is not in the file"));
            let mut variant = String::new();
            if kind == "EnterpriseConnection" {
                variant = if doc["spec"].get("saml").is_some() {
                    "/saml".into()
                } else {
                    "/oidc".into()
                };
                if let Some(secret_ref) = doc.pointer("/spec/oidc/clientSecretRef") {
                    let (name, key) = (str_at(secret_ref, "/name"), str_at(secret_ref, "/key"));
                    assert!(
                        secrets
                            .get(name)
                            .is_some_and(|s| s.pointer(&format!("/stringData/{key}")).is_some()),
                        "{shown}: clientSecretRef {name}/{key} is not in the file"
                    );
                }
            }
            seen.insert(format!("{kind}/{provider}{variant}"));
        }
    }
    let wanted = [
        "ProviderConfig/qovery",
        "ProviderConfig/auth0",
        "ProviderConfig/loginradius",
        "ProviderConfig/clerk",
        "ProviderConfig/atlas",
        "ClusterProviderConfig/atlas",
        "EnterpriseConnection/clerk/saml",
        "EnterpriseConnection/clerk/oidc",
        "EnterpriseConnection/loginradius/saml",
        "EnterpriseConnection/qovery/saml",
        "ConnectionProfile/auth0",
        "OrgRoleMapping/qovery",
        "OrgRoleMapping/loginradius",
        "OrgRoleMapping/atlas",
    ];
    let missing: Vec<_> = wanted.iter().filter(|w| !seen.contains(**w)).collect();
    assert!(
        missing.is_empty(),
        "examples lack {missing:?}; they have {seen:?}"
    );
}

#[tokio::test]
async fn every_example_is_accepted_by_strict_server_side_apply() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::temp_namespace(&client).await;
    let mut cluster_scoped = Vec::new();
    let mut applied = 0;
    for file in example_files() {
        let text = std::fs::read_to_string(&file).expect("read example");
        for mut doc in yaml_documents(&text) {
            let kind = str_at(&doc, "/kind").to_owned();
            if kind == "ClusterProviderConfig" {
                // Cluster-scoped: a name of its own per run, and the Secret from this run's namespace.
                let name = format!("{}-{ns}", str_at(&doc, "/metadata/name"));
                doc["metadata"]["name"] = json!(name);
                doc["spec"]["credentialsSecretRef"]["namespace"] = json!(ns);
            }
            let name = str_at(&doc, "/metadata/name").to_owned();
            let stored = apply(&client, &ns, doc.clone(), false)
                .await
                .unwrap_or_else(|e| panic!("{}: {kind} {name} rejected: {e}", file.display()));
            applied += 1;
            if kind == "ClusterProviderConfig" {
                cluster_scoped.push((doc.clone(), name.clone()));
            }
            if let Some(spec) = doc.get("spec") {
                let stored = serde_json::to_value(&stored).expect("serialize");
                let mut lost = Vec::new();
                missing_from(spec, &stored["spec"], "spec", &mut lost);
                assert!(
                    lost.is_empty(),
                    "{}: {kind} {name} was not stored as sent: {lost:?}",
                    file.display()
                );
            }
        }
    }
    assert!(applied >= 20, "only {applied} example objects applied");

    // Applying the same examples again is a no-op that still passes strict validation.
    for file in example_files() {
        let text = std::fs::read_to_string(&file).expect("read example");
        for doc in yaml_documents(&text)
            .into_iter()
            .filter(|d| str_at(d, "/kind") != "ClusterProviderConfig")
        {
            apply(&client, &ns, doc, true)
                .await
                .unwrap_or_else(|e| panic!("{}: re-apply rejected: {e}", file.display()));
        }
    }

    for (doc, name) in cluster_scoped {
        let gvk = GroupVersionKind::gvk("ssoperator.io", "v1alpha1", str_at(&doc, "/kind"));
        let (resource, _) = discovery::pinned_kind(&client, &gvk)
            .await
            .expect("discover");
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        api.delete(&name, &DeleteParams::default())
            .await
            .expect("delete cluster-scoped example");
    }
    support::delete_namespace(&client, &ns).await;
}
