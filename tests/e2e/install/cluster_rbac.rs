//! The default (cluster-wide) install's RBAC.

use super::*;

/// The default (cluster-wide) install: the ServiceAccount can get any Secret but list or watch
/// none unless `secrets.watch=true`, and writes nothing outside ssoperator.io, Events and its Lease.
#[tokio::test]
async fn cluster_wide_rbac_never_lists_secrets_unless_asked() {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    };
    let client = admin().await;
    let release_ns = support::temp_namespace(&client).await;
    let release = format!("ssopc-{}", support::random_suffix(5));
    let yaml = template_text(&release, &release_ns, &[], false);
    apply_rendered(&yaml);
    let tmp = tempdir("rbac-cluster");
    let (sa, _) = token_client(
        &create_token(&release_ns, &format!("{release}-ssoperator")),
        &tmp,
    )
    .await;
    let can = |verb: &str, group: &str, resource: &str, ns: Option<&str>, name: Option<&str>| {
        let sa = sa.clone();
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.into()),
                    group: Some(group.into()),
                    resource: Some(resource.into()),
                    namespace: ns.map(String::from),
                    name: name.map(String::from),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        async move {
            Api::<SelfSubjectAccessReview>::all(sa)
                .create(&PostParams::default(), &review)
                .await
                .unwrap()
                .status
                .unwrap()
                .allowed
        }
    };
    let lease = format!("{release}-ssoperator-leader");
    // (allowed, verb, group, resource, namespace, name)
    let (own, lease) = (Some(release_ns.as_str()), Some(lease.as_str()));
    let expectations = [
        (true, "get", "", "secrets", Some("kube-system"), Some("x")),
        (false, "list", "", "secrets", None, None),
        (false, "watch", "", "secrets", Some("default"), None),
        (false, "create", "", "configmaps", Some("default"), None),
        (false, "create", "", "secrets", Some("default"), None),
        (
            false,
            "delete",
            SSO,
            "enterpriseconnections",
            Some("default"),
            None,
        ),
        (
            true,
            "patch",
            SSO,
            "enterpriseconnections",
            Some("default"),
            None,
        ),
        // The in-use finalizer of a ClusterProviderConfig that Delete resources use.
        (
            true,
            "patch",
            SSO,
            "clusterproviderconfigs",
            None,
            Some("x"),
        ),
        (
            true,
            "create",
            "events.k8s.io",
            "events",
            Some("default"),
            None,
        ),
        (false, "create", "", "events", Some("default"), None),
        (true, "update", LEASES, "leases", own, lease),
        (false, "update", LEASES, "leases", own, Some("other")),
        (false, "create", LEASES, "leases", Some("default"), None),
        (true, "create", LEASES, "leases", own, None),
    ];
    for (allowed, verb, group, resource, ns, name) in expectations {
        assert_eq!(
            can(verb, group, resource, ns, name).await,
            allowed,
            "{verb} {group}/{resource} in {ns:?} name {name:?}"
        );
    }

    // Opting in to watching Secrets grants list and watch cluster-wide.
    apply_rendered(&template_text(
        &release,
        &release_ns,
        &["secrets.watch=true".into()],
        false,
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !can("list", "", "secrets", None, None).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "secrets.watch=true did not grant list"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(can("watch", "", "secrets", Some("default"), None).await);

    for kind in ["clusterrole", "clusterrolebinding"] {
        let _ = kubectl(&["delete", kind, &format!("{release}-ssoperator")], None);
    }
    support::delete_namespace(&client, &release_ns).await;
    std::fs::remove_dir_all(&tmp).ok();
}
