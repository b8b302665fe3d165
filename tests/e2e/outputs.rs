//! spec.writeOutputsTo: the IdP administrator's values kept in a ConfigMap (Clerk) or a Secret
//! (LoginRadius) owned by the resource, written once per change, never over someone else's object.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};
use ssoperator::crd::EnterpriseConnection;
use ssoperator_emulators::{clerk::ClerkEmulator, loginradius::LoginRadiusEmulator};

use crate::operator::*;

const LR_ORG: &str = "org_outputs0000000001";

fn connection(name: &str, config: &str, extra: Value) -> Value {
    // What each provider takes: Clerk the IdP's SSO URL, LoginRadius its metadata URL.
    let saml = match config {
        "lr" => {
            json!({"idpEntityId": "https://idp.example.com", "idpMetadataUrl": "https://idp.example.com/metadata.xml"})
        }
        _ => {
            json!({"idpEntityId": "https://idp.example.com", "idpSsoUrl": "https://idp.example.com/sso"})
        }
    };
    let mut spec = json!({"providerConfigRef": {"name": config}, "name": name, "domains": [format!("{name}.example.com")],
        "saml": saml});
    for (k, v) in extra.as_object().into_iter().flatten() {
        spec[k] = v.clone();
    }
    json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
           "metadata": {"name": name}, "spec": spec})
}

/// The outputs in status, under the keys the target holds.
fn status_outputs(ec: &EnterpriseConnection) -> Value {
    let o = ec.status.as_ref().and_then(|s| s.outputs.clone());
    let o = serde_json::to_value(o).unwrap();
    assert!(
        o.is_object() && !o.as_object().unwrap().is_empty(),
        "no outputs: {ec:?}"
    );
    o
}

#[tokio::test]
async fn outputs_are_kept_in_an_owned_configmap_or_secret() {
    let (client, ns) = setup().await;
    let clerk = ClerkEmulator::new("sk_test_outputs");
    let lr = LoginRadiusEmulator::new("lr-key", "lr-secret", LR_ORG);
    let (clerk_run, lr_run) = (serve(clerk.router()).await, serve(lr.router()).await);
    let op = Operator::start(&client, &ns);
    clerk_account(&client, &ns, &clerk_run.url(), "sk_test_outputs").await;
    loginradius_account(&client, &ns, &lr_run.url(), LR_ORG, ("lr-key", "lr-secret")).await;

    // A ConfigMap of that name that is not the resource's own is never taken over.
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let foreign = serde_json::from_value(
        json!({"metadata": {"name": "someone-elses"}, "data": {"keep": "me"}}),
    )
    .unwrap();
    configmaps
        .create(&PostParams::default(), &foreign)
        .await
        .unwrap();
    apply(
        &client,
        &ns,
        connection(
            "taken",
            "clerk",
            json!({"writeOutputsTo": {"configMap": "someone-elses"}}),
        ),
    )
    .await;
    let ec = wait_for::<EnterpriseConnection>(&client, &ns, "taken", "OutputsTargetTaken", |ec| {
        reason(ec) == "OutputsTargetTaken"
    })
    .await;
    assert!(
        message(&ec).contains("spec.writeOutputsTo.configMap"),
        "{}",
        message(&ec)
    );
    assert_eq!(
        configmaps.get("someone-elses").await.unwrap().data.unwrap()["keep"],
        "me"
    );

    apply(
        &client,
        &ns,
        connection(
            "clerk-sso",
            "clerk",
            json!({"writeOutputsTo": {"configMap": "clerk-sso-idp"}}),
        ),
    )
    .await;
    apply(
        &client,
        &ns,
        connection(
            "lr-sso",
            "lr",
            json!({"writeOutputsTo": {"secret": "lr-sso-idp"}}),
        ),
    )
    .await;
    let clerk_ec =
        wait_for::<EnterpriseConnection>(&client, &ns, "clerk-sso", "Ready", ready).await;
    let lr_ec = wait_for::<EnterpriseConnection>(&client, &ns, "lr-sso", "Ready", ready).await;

    // Clerk: a ConfigMap with status.outputs' values under their status names, owned by the resource.
    let cm = configmaps.get("clerk-sso-idp").await.unwrap();
    let want = status_outputs(&clerk_ec);
    let data = cm.data.clone().unwrap_or_default();
    assert_eq!(
        data.len(),
        want.as_object().unwrap().len(),
        "{data:?} vs {want}"
    );
    for (k, v) in want.as_object().unwrap() {
        assert_eq!(Some(&Value::String(data[k].clone())), Some(v), "{k}");
    }
    let owner = &cm.owner_references()[0];
    assert_eq!(
        (owner.uid.as_str(), owner.kind.as_str(), owner.controller),
        (
            clerk_ec.uid().unwrap().as_str(),
            "EnterpriseConnection",
            Some(true)
        )
    );

    // LoginRadius: the same in a Secret.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let s = secrets.get("lr-sso-idp").await.unwrap();
    let want = status_outputs(&lr_ec);
    let data: std::collections::BTreeMap<String, String> = s
        .data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
        .collect();
    for (k, v) in want.as_object().unwrap() {
        assert_eq!(Some(&Value::String(data[k].clone())), Some(v), "{k}");
    }
    assert_eq!(s.owner_references()[0].uid, lr_ec.uid().unwrap());

    // Written once: resyncs leave both objects alone (the operator reconciles meanwhile).
    let (cm_rv, s_rv) = (cm.resource_version(), s.resource_version());
    assert_quiet(&op, || clerk.core().writes() + lr.core().writes(), 2).await;
    assert_eq!(
        configmaps
            .get("clerk-sso-idp")
            .await
            .unwrap()
            .resource_version(),
        cm_rv
    );
    assert_eq!(
        secrets.get("lr-sso-idp").await.unwrap().resource_version(),
        s_rv
    );

    // A new target gets the values at the next reconcile.
    let ecs: Api<EnterpriseConnection> = Api::namespaced(client.clone(), &ns);
    ecs.patch(
        "clerk-sso",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"writeOutputsTo": {"configMap": "clerk-sso-idp-2"}}})),
    )
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(cm) = configmaps.get_opt("clerk-sso-idp-2").await.unwrap() {
            assert_eq!(
                cm.data.unwrap_or_default(),
                data_of_configmap(&configmaps, "clerk-sso-idp").await
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "clerk-sso-idp-2 was never written"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn data_of_configmap(
    api: &Api<ConfigMap>,
    name: &str,
) -> std::collections::BTreeMap<String, String> {
    api.get(name).await.unwrap().data.unwrap_or_default()
}
