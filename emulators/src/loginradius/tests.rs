use serde_json::Value;
use serde_json::json;

use super::LoginRadiusEmulator;

async fn start() -> (LoginRadiusEmulator, super::super::Running, reqwest::Client) {
    let emu = LoginRadiusEmulator::new("k", "s", "org_1");
    let running = super::super::serve(emu.router(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    (emu, running, reqwest::Client::new())
}

fn body() -> Value {
    json!({"Name": "n", "Domain": "a.example", "ConnectionType": "saml_custom",
               "IDPEntityId": "https://idp", "GroupRoles": [{"GroupId": "g", "Name": "g", "RoleId": "role_1"}]})
}

#[tokio::test]
async fn wire_shapes_follow_the_reference() {
    let (emu, running, http) = start().await;
    let base = format!(
        "{}/v2/manage/organizations/org_1/connections",
        running.url()
    );
    let auth = |r: reqwest::RequestBuilder| {
        r.header("X-LoginRadius-ApiKey", "k")
            .header("X-LoginRadius-ApiSecret", "s")
    };

    let r = http
        .get(&base)
        .header("X-LoginRadius-ApiKey", "x")
        .header("X-LoginRadius-ApiSecret", "s")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["ErrorCode"], 901);
    let r = http
        .get(&base)
        .header("X-LoginRadius-ApiKey", "k")
        .header("X-LoginRadius-ApiSecret", "x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["ErrorCode"], 902);
    // The query-string form of LoginRadius' Update Organization Connection reference is
    // accepted too, and counted.
    assert_eq!(emu.query_credential_uses(), 0);
    let r = http
        .get(&base)
        .query(&[("apikey", "k"), ("apisecret", "s")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(&base)
        .query(&[("apikey", "k"), ("apisecret", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(emu.query_credential_uses(), 2);

    let created: Value = auth(http.post(&base))
        .json(&body())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["Id"].as_str().unwrap().to_string();
    assert!(id.starts_with("conn_"));
    assert!(
        created["GroupRoles"][0]["Id"]
            .as_str()
            .unwrap()
            .starts_with("group_role_")
    );
    let entity = created["EntityId"].as_str().unwrap();
    assert_eq!(created["MetadataUrl"], format!("{entity}/metadata.xml"));

    // PUT replaces: what the body leaves out is cleared (GroupRoles, IDPEntityId).
    let put: Value = auth(http.put(format!("{base}/{id}")))
        .json(&json!({"Name": "n", "Domain": "a.example", "ConnectionType": "saml_custom"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(put["GroupRoles"], json!([]));
    assert!(put.get("IDPEntityId").is_none());
    assert_eq!(put["EntityId"], created["EntityId"]);

    let list: Value = auth(http.get(&base))
        .query(&[("pageindex", "1"), ("pagesize", "1")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["Count"], 1);
    assert_eq!(list["Data"].as_array().unwrap().len(), 1);

    let r = auth(http.get(format!("{base}/conn_nope")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["ErrorCode"], 8151);
    let del: Value = auth(http.delete(format!("{base}/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(del, json!({"IsDeleted": true}));
}
