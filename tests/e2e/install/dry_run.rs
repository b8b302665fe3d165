//! The rendered chart and deploy/ on the API server: server-side dry-run in a restricted namespace.

use super::*;

fn server_dry_run(yaml: &str) -> Output {
    kubectl(
        &[
            "apply",
            "--server-side",
            "--dry-run=server",
            "--force-conflicts",
            "--field-manager",
            support::FIELD_MANAGER,
            "-f",
            "-",
        ],
        Some(yaml),
    )
}

async fn label_restricted(client: &Client, ns: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    api.patch(
        ns,
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"labels": {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/warn": "restricted",
        }}})),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn rendered_manifests_and_deploy_dir_pass_server_side_dry_run() {
    let client = admin().await;
    let release_ns = support::temp_namespace(&client).await;
    label_restricted(&client, &release_ns).await;
    let team_a = support::temp_namespace(&client).await;
    let team_b = support::temp_namespace(&client).await;

    for sets in [
        vec![],
        vec!["secrets.watch=true".to_string()],
        vec![
            format!("watchNamespaces={{{team_a},{team_b}}}"),
            format!("secrets.extraNamespaces={{{team_b},default}}"),
        ],
    ] {
        let yaml = template_text("ssoperator", &release_ns, &sets, true);
        let out = server_dry_run(&yaml);
        assert!(
            out.ok,
            "dry-run of the chart with {sets:?}:\n{}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("PodSecurity"),
            "Pod Security warnings with {sets:?}:\n{}",
            out.stderr
        );
        assert!(
            out.stdout
                .contains("deployment.apps/ssoperator serverside-applied (server dry run)"),
            "{}",
            out.stdout
        );
    }

    // A Pod made from the Deployment's template is admitted by the "restricted" profile, and the
    // same Pod with privilege escalation allowed is not (so the admission check is really on).
    let docs = render("ssoperator", &release_ns, &[]);
    let template = &one(&docs, "Deployment")["spec"]["template"];
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "ssoperator-pss", "namespace": release_ns,
                     "labels": template["metadata"]["labels"]},
        "spec": template["spec"]});
    let out = server_dry_run(&pod.to_string());
    assert!(
        out.ok,
        "restricted profile refused the operator Pod:\n{}",
        out.stderr
    );
    pod["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = json!(true);
    let out = server_dry_run(&pod.to_string());
    assert!(
        !out.ok && out.stderr.contains("PodSecurity"),
        "a privileged Pod was admitted: {}{}",
        out.stdout,
        out.stderr
    );

    // deploy/ with `kubectl apply -f deploy/`: the namespace renamed to an existing one (a dry
    // run creates nothing, so the objects in a new namespace would not find it).
    let tmp = tempdir("deploy");
    let text = std::fs::read_to_string(Path::new(ROOT).join("deploy/ssoperator.yaml")).unwrap();
    let docs: Vec<Value> = demo::parse_documents(&text.replace("ssoperator-system", &release_ns))
        .unwrap()
        .into_iter()
        .filter(|d| d["kind"] != "Namespace")
        .collect();
    let yaml: String = docs
        .iter()
        .map(|d| format!("---\n{}", serde_yaml::to_string(d).unwrap()))
        .collect();
    std::fs::write(tmp.join("ssoperator.yaml"), yaml).unwrap();
    std::fs::copy(
        Path::new(ROOT).join("deploy/Kustomization"),
        tmp.join("Kustomization"),
    )
    .unwrap();
    let out = kubectl(
        &[
            "apply",
            "--server-side",
            "--dry-run=server",
            "--force-conflicts",
            "--field-manager",
            support::FIELD_MANAGER,
            "-f",
            tmp.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.ok, "kubectl apply -f deploy/:\n{}", out.stderr);
    std::fs::remove_dir_all(&tmp).ok();
    for ns in [release_ns, team_a, team_b] {
        support::delete_namespace(&client, &ns).await;
    }
}
