//! One crash per write point, per creatable provider, per phase (create, update, delete).

use super::*;

/// One row of the table: a crash at `point` in `phase` for `target`.
struct Row {
    provider: &'static str,
    phase: &'static str,
    point: &'static str,
    crashed: bool,
    duplicates: usize,
    leaks: usize,
    recovery: Option<Duration>,
}

const CREATE_POINTS: [&str; 5] = [
    "status-write-before",
    "status-write-after",
    "create-before",
    "create-after",
    "create-recorded",
];

const UPDATE_POINTS: [&str; 3] = ["update-before", "update-after", "status-write-before"];

const DELETE_POINTS: [&str; 2] = ["delete-before", "delete-after"];

/// A namespace of its own and fresh emulators with the target's resources applied; `ready`:
/// reconciled to Ready by an operator without fail points, which is then stopped.
async fn fresh(
    client: &Client,
    target: Target,
    ready: bool,
) -> (String, DemoEmulators, Api<DynamicObject>) {
    let ns = support::temp_namespace(client).await;
    let e = DemoEmulators::start([127, 0, 0, 1].into()).await.unwrap();
    target.install(client, &ns, &e).await;
    let api = target.api(client, &ns);
    if ready {
        let _op = Process::start(&ns, None);
        while !all_ready(&api, 1).await {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    (ns, e, api)
}

async fn run_target(client: &Client, target: Target) -> Vec<Row> {
    let mut rows = vec![];
    let row = |phase, point, (crashed, recovery): (bool, Option<Duration>), count: usize| Row {
        provider: target.provider,
        phase,
        point,
        crashed,
        duplicates: if phase == "delete" {
            0
        } else {
            count.saturating_sub(RESOURCES)
        },
        leaks: if phase == "delete" { count } else { 0 },
        recovery,
    };
    for point in CREATE_POINTS {
        let (ns, e, api) = fresh(client, target, false).await;
        let outcome = phase(&ns, point, || all_ready(&api, 1)).await;
        rows.push(row("create", point, outcome, target.count(&e)));
    }
    for point in UPDATE_POINTS {
        let (ns, e, api) = fresh(client, target, true).await;
        for i in 0..RESOURCES {
            let patch = json!({"spec": {"name": format!("Fault {i} v2")}});
            api.patch(
                &format!("r{i}"),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .unwrap();
        }
        let outcome = phase(&ns, point, || all_ready(&api, 2)).await;
        let held = e.snapshot()[target.provider].to_string();
        for i in 0..RESOURCES {
            assert!(
                held.contains(&format!("Fault {i} v2")),
                "{} {point}: the edit of r{i} is not at the provider",
                target.provider
            );
        }
        rows.push(row("update", point, outcome, target.count(&e)));
    }
    for point in DELETE_POINTS {
        let (ns, e, api) = fresh(client, target, true).await;
        for i in 0..RESOURCES {
            api.delete(&format!("r{i}"), &DeleteParams::default())
                .await
                .unwrap();
        }
        let outcome = phase(&ns, point, || all_gone(&api)).await;
        rows.push(row("delete", point, outcome, target.count(&e)));
    }
    rows
}

#[tokio::test]
async fn a_crash_at_any_write_point_leaves_one_object_per_resource() {
    let (client, _) = setup().await;
    let started = Instant::now();
    let tables = futures::future::join_all(TARGETS.iter().map(|t| run_target(&client, *t))).await;
    let rows: Vec<Row> = tables.into_iter().flatten().collect();
    eprintln!(
        "\nfault suite ({RESOURCES} resources per run, {:?} in all)",
        started.elapsed()
    );
    eprintln!(
        "{:<12} {:<7} {:<20} {:<8} {:>10} {:>6} {:>10}",
        "provider", "phase", "point", "crashed", "duplicates", "leaks", "recovery"
    );
    for r in &rows {
        eprintln!(
            "{:<12} {:<7} {:<20} {:<8} {:>10} {:>6} {:>10}",
            r.provider,
            r.phase,
            r.point,
            r.crashed,
            r.duplicates,
            r.leaks,
            r.recovery
                .map(|d| format!("{:.1}s", d.as_secs_f64()))
                .unwrap_or_else(|| "-".into())
        );
    }
    let bad: Vec<String> = rows
        .iter()
        .filter(|r| r.duplicates > 0 || r.leaks > 0)
        .map(|r| format!("{} {} {}", r.provider, r.phase, r.point))
        .collect();
    assert!(
        bad.is_empty(),
        "duplicates or leaks after a crash at: {bad:?}"
    );
    // Every point is reached by every creatable provider in its phase: a point no run crashed
    // at would be a point this suite does not test.
    let missed: Vec<String> = rows
        .iter()
        .filter(|r| !r.crashed)
        .map(|r| format!("{} {} {}", r.provider, r.phase, r.point))
        .collect();
    assert!(missed.is_empty(), "points never reached: {missed:?}");
    // The phases together cover every fail point the reconcile flow has.
    let covered: std::collections::BTreeSet<&str> = CREATE_POINTS
        .iter()
        .chain(&UPDATE_POINTS)
        .chain(&DELETE_POINTS)
        .copied()
        .collect();
    let all: std::collections::BTreeSet<&str> = CRASH_POINTS.iter().copied().collect();
    assert_eq!(covered, all, "fail points the suite does not crash at");
    let by_provider: BTreeMap<&str, usize> = rows.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.provider).or_default() += 1;
        m
    });
    assert_eq!(by_provider.len(), TARGETS.len());
}
