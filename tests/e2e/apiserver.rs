//! The controllers' API server connection (`ssoperator::apiserver`) on the real API server. The
//! test control plane allows 100 streams per HTTP/2 connection (`scripts/with-k8s.sh`), the bound
//! of Go's HTTP/2 server, below kube-apiserver's default of 1000.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api,
    api::{PostParams, WatchEvent, WatchParams},
};
use ssoperator::apiserver::{self, Lanes, WATCHES_PER_LANE};

use crate::support;

const PATIENCE: Duration = Duration::from_secs(15);

#[tokio::test]
async fn watches_spread_over_http2_lanes_and_never_hold_a_request_back() {
    let config = support::config().await;
    let lanes = Lanes::new(&config).unwrap();
    let client = apiserver::over(lanes.clone(), &config).unwrap().build();
    let version = client
        .send(
            http::Request::get("/version")
                .body(Vec::new().into())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        version.version(),
        http::Version::HTTP_2,
        "ALPN chose HTTP/2"
    );

    let ns = support::temp_namespace(&client).await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    // More watches than one connection may hold: 120 against the server's 100 streams.
    let wanted = 2 * WATCHES_PER_LANE + 20;
    let mut watches = Vec::new();
    for i in 0..wanted {
        let watch = tokio::time::timeout(PATIENCE, api.watch(&WatchParams::default(), "0"))
            .await
            .unwrap_or_else(|_| panic!("watch {i} waited for a stream for {PATIENCE:?}"))
            .unwrap()
            .boxed();
        watches.push(watch);
    }
    assert_eq!(
        lanes.watch_lanes(),
        3,
        "{wanted} watches, {WATCHES_PER_LANE} a lane"
    );

    // A request that ends is not queued behind the watches, and every watch sees its result.
    let cm: ConfigMap =
        serde_json::from_value(serde_json::json!({ "metadata": { "name": "seen" } })).unwrap();
    tokio::time::timeout(PATIENCE, api.create(&PostParams::default(), &cm))
        .await
        .expect("a create waited behind the watches")
        .unwrap();
    for (i, watch) in watches.iter_mut().enumerate() {
        loop {
            let event = tokio::time::timeout(PATIENCE, watch.next())
                .await
                .unwrap_or_else(|_| panic!("watch {i} saw nothing in {PATIENCE:?}"))
                .expect("the watch ended")
                .unwrap();
            match event {
                WatchEvent::Added(cm) if cm.metadata.name.as_deref() == Some("seen") => break,
                WatchEvent::Bookmark(_) => continue,
                other => panic!("watch {i}: unexpected {other:?}"),
            }
        }
    }

    // Closed watches give their places back: as many again fit in the lanes already open.
    drop(watches);
    let mut again = Vec::new();
    for _ in 0..wanted {
        again.push(
            api.watch(&WatchParams::default(), "0")
                .await
                .unwrap()
                .boxed(),
        );
    }
    assert_eq!(lanes.watch_lanes(), 3);
    drop(again);
    support::delete_namespace(&client, &ns).await;
}
