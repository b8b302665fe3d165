//! `diff` resolving references among the files.

use super::*;

/// `diff` of an OrgRoleMapping that names its connection by `connectionRef` (not
/// `externalName`): the EnterpriseConnection among the files gives the provider id.
#[tokio::test]
async fn diff_resolves_connection_ref_from_the_files() {
    let q = QoveryEmulator::new("qov_diff_token_0000000", vec![QOVERY_ORG.to_string()]);
    q.insert_connection("acme-okta-saml", "viewer");
    let run = serve(q.router()).await;
    let dir = std::env::temp_dir().join(format!("ssoperator-diffref-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let docs = [
        json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "ProviderConfig",
            "metadata": {"name": "qovery", "namespace": "sso"},
            "spec": {"qovery": {"organizationId": QOVERY_ORG}, "credentialsSecretRef": {"name": "q"},
                     "endpoint": run.url()}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "q", "namespace": "sso"},
            "stringData": {"token": "qov_diff_token_0000000"}}),
        json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
            "metadata": {"name": "acme", "namespace": "sso"},
            "spec": {"providerConfigRef": {"name": "qovery"}, "name": "acme-okta-saml", "saml": {}}}),
        json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "OrgRoleMapping",
            "metadata": {"name": "acme-roles", "namespace": "sso"},
            "spec": {"providerConfigRef": {"name": "qovery"}, "connectionRef": {"name": "acme"},
                     "defaultRole": "viewer", "mappings": []}}),
    ];
    let text: Vec<String> = docs
        .iter()
        .map(|d| serde_yaml::to_string(d).unwrap())
        .collect();
    let file = dir.join("all.yaml");
    std::fs::write(&file, text.join("---\n")).unwrap();
    let file_s = file.display().to_string();
    // Credentials from the Secret among the files; nothing in the environment.
    let (code, stdout, stderr) = cli(&["diff", "-f", &file_s], &[]).await;
    assert_eq!((code, stdout.as_str()), (0, ""), "{stderr}");
    let edited = text
        .join("---\n")
        .replace("defaultRole: viewer", "defaultRole: admin");
    std::fs::write(&file, edited).unwrap();
    let (code, stdout, stderr) = cli(&["diff", "-f", &file_s], &[]).await;
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        stdout,
        "~ OrgRoleMapping sso/acme-roles (qovery acme-okta-saml)\n    ~ spec.defaultRole: \"viewer\" -> \"admin\"\n"
    );
    assert_eq!(q.core().writes(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
