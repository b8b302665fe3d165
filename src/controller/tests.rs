use std::time::Duration;

use super::*;

fn forever() -> BoxFuture<'static, ()> {
    futures::future::pending().boxed()
}

#[test]
fn meaningful_changes_with_the_operator_annotations_only() {
    use k8s_openapi::api::core::v1::ConfigMap;
    let with = |pairs: &[(&str, &str)]| {
        let mut o = ConfigMap::default();
        o.metadata.generation = Some(1);
        o.metadata.annotations = Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        meaningful(&o)
    };
    let base = with(&[]);
    assert_eq!(base, with(&[("example.com/note", "x")]));
    assert_eq!(base, with(&[("ssoperator.io/external-id", "id")]));
    let asked = with(&[(RECONCILE_REQUESTED_ANNOTATION, "1")]);
    assert_ne!(base, asked);
    assert_eq!(asked, with(&[(RECONCILE_REQUESTED_ANNOTATION, "1")]));
    assert_ne!(asked, with(&[(RECONCILE_REQUESTED_ANNOTATION, "2")]));
    assert_ne!(base, with(&[(RESYNC_PERIOD_ANNOTATION, "30s")]));
    assert_ne!(base, with(&[(APPROVE_ANNOTATION, "abc")]));
    assert_ne!(base, with(&[(ALLOW_LOCKOUT_ANNOTATION, "abc")]));
    assert_ne!(
        with(&[(RESYNC_PERIOD_ANNOTATION, "30s")]),
        with(&[(RESYNC_PERIOD_ANNOTATION, "1m")])
    );
    assert_ne!(
        base,
        with(&[(CERTIFICATE_EXPIRY_WARNING_ANNOTATION, "14d")])
    );
}

#[tokio::test]
async fn a_controller_that_returns_stops_the_supervisor_and_is_named() {
    let controllers = vec![
        ("A".to_string(), forever()),
        (
            "B".to_string(),
            async { tokio::time::sleep(Duration::from_millis(20)).await }.boxed(),
        ),
    ];
    let got = supervise(
        controllers,
        &Heartbeat::default(),
        futures::future::pending(),
    )
    .await;
    assert!(
        matches!(&got, Err(Stopped::Ended(n)) if n == "B"),
        "{got:?}"
    );
}

#[tokio::test]
async fn a_controller_that_panics_stops_the_supervisor_with_its_message() {
    let controllers = vec![
        ("A".to_string(), forever()),
        (
            "B".to_string(),
            async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                panic!("boom");
            }
            .boxed(),
        ),
    ];
    let got = supervise(
        controllers,
        &Heartbeat::default(),
        futures::future::pending(),
    )
    .await;
    assert!(
        matches!(&got, Err(Stopped::Panicked(n, m)) if n == "B" && m == "boom"),
        "{got:?}"
    );
}

#[tokio::test]
async fn shutdown_stops_the_supervisor_cleanly_and_the_heartbeat_beats_meanwhile() {
    let heartbeat = Heartbeat::default();
    std::thread::sleep(Duration::from_millis(30));
    let before = std::time::Instant::now();
    let controllers = vec![("A".to_string(), forever())];
    let got = supervise(
        controllers,
        &heartbeat,
        tokio::time::sleep(Duration::from_millis(20)),
    )
    .await;
    assert!(got.is_ok(), "{got:?}");
    assert!(
        heartbeat.age() <= before.elapsed(),
        "not beaten while supervising: {:?}",
        heartbeat.age()
    );
}
