//! Only the Lease holder reconciles; the Lease changes hands on a graceful stop, a SIGKILL and a
//! SIGSTOP, and the old leader writes nothing once the new one may.

use super::*;

#[tokio::test]
async fn only_the_leader_reconciles_and_a_graceful_stop_hands_over() {
    let (client, ns, e) = clerk_setup().await;
    let mut a = Replica::start(&ns, "replica-a");
    wait_holder(&client, &ns, "replica-a", Duration::from_secs(30)).await;
    let b = Replica::start(&ns, "replica-b");

    apply_okta(&client, &ns).await;
    assert!(a.reconciles().await > 0.0, "the leader did not reconcile");
    assert_eq!(b.reconciles().await, 0.0, "the standby reconciled");
    assert_eq!(holder(&client, &ns).await.as_deref(), Some("replica-a"));
    assert_eq!(e.clerk.core().writes_by("replica-b"), 0);

    // A graceful stop releases the lease: the standby takes over long before it would expire.
    a.stop().await;
    let handover = Instant::now();
    wait_holder(
        &client,
        &ns,
        "replica-b",
        LEASE_DURATION - Duration::from_secs(5),
    )
    .await;
    eprintln!("lease handed over in {:?}", handover.elapsed());

    edit_and_wait(&client, &ns, &e, "Okta EU", Instant::now()).await;
    assert!(
        b.reconciles().await > 0.0,
        "the new leader did not reconcile"
    );
    assert_eq!(e.clerk.count_connections(), 1);
    assert!(e.clerk.core().writes_by("replica-b") > 0);
}

/// SIGKILL of the leader, three times in a row: each time the standby carries out a spec edit made right
/// after the kill within 17 s.
#[tokio::test]
async fn leader_sigkill_the_standby_carries_out_an_edit_within_17_seconds() {
    let (client, ns, e) = clerk_setup().await;
    let mut leader = Replica::start(&ns, "kill-a");
    wait_holder(&client, &ns, "kill-a", Duration::from_secs(30)).await;
    let mut standbys = vec![
        Replica::start(&ns, "kill-b"),
        Replica::start(&ns, "kill-c"),
        Replica::start(&ns, "kill-d"),
    ];
    apply_okta(&client, &ns).await;

    for r in &standbys {
        r.metrics().await;
    }
    let mut figures = vec![];
    for (round, name) in ["Okta EU", "Okta US", "Okta AP"].into_iter().enumerate() {
        // Let the standbys settle (they have seen renewals), as in a running cluster.
        tokio::time::sleep(RETRY_PERIOD * 2).await;
        let killed = Instant::now();
        leader.child.kill().unwrap();
        let _ = leader.child.wait();
        let took = edit_and_wait(&client, &ns, &e, name, killed).await;
        let now = holder(&client, &ns).await;
        eprintln!(
            "failover after SIGKILL (round {}): {now:?} carried out the spec edit {:.2} s after the kill",
            round + 1,
            took.as_secs_f64()
        );
        figures.push(took);
        // The next round kills the new leader.
        let next = standbys
            .iter()
            .position(|r| Some(r.identity.as_str()) == now.as_deref())
            .unwrap_or_else(|| panic!("the holder {now:?} is no standby"));
        leader = standbys.remove(next);
    }
    print_writes("sigkill", &e);
    assert_eq!(e.clerk.count_connections(), 1);
    let tagged: u64 = ["kill-a", "kill-b", "kill-c", "kill-d"]
        .iter()
        .map(|r| e.clerk.core().writes_by(r))
        .sum();
    assert_eq!(tagged, e.clerk.core().writes(), "writes by no replica");
    for (i, took) in figures.iter().enumerate() {
        assert!(
            *took <= FAILOVER_BOUND,
            "round {}: the edit took {took:?} after SIGKILL (bound {FAILOVER_BOUND:?})",
            i + 1
        );
    }
}

/// SIGSTOP of the leader for longer than the lease, a spec edit meanwhile, SIGCONT: the standby
/// carries the edit out, and the old leader, once running again, makes no provider write and no
/// status write; it exits non-zero by itself (so it did run after SIGCONT).
#[tokio::test]
async fn leader_sigstop_then_sigcont_the_old_leader_writes_nothing() {
    let (client, ns, e) = clerk_setup().await;
    let mut a = Replica::start(&ns, "stop-a");
    wait_holder(&client, &ns, "stop-a", Duration::from_secs(30)).await;
    let b = Replica::start(&ns, "stop-b");
    apply_okta(&client, &ns).await;
    b.metrics().await;
    tokio::time::sleep(RETRY_PERIOD * 2).await;

    let (status0, provider0) = a.writes().await;
    let emulator0 = e.clerk.core().writes_by("stop-a");
    assert!(
        provider0 >= 1.0 && emulator0 >= 1,
        "the leader created the connection"
    );
    let stopped = Instant::now();
    a.signal("STOP");
    let took = edit_and_wait(&client, &ns, &e, "Okta EU", stopped).await;
    eprintln!(
        "failover after SIGSTOP: stop-b carried out the spec edit {:.2} s after the stop",
        took.as_secs_f64()
    );
    assert_eq!(holder(&client, &ns).await.as_deref(), Some("stop-b"));
    // Stopped for longer than the lease in any case.
    let resume_at = stopped + LEASE_DURATION + Duration::from_secs(5);
    tokio::time::sleep_until(resume_at).await;
    a.signal("CONT");
    let resumed = Instant::now();

    // Once running, it sees its renew deadline long gone: it stops its controllers and exits.
    let status = a
        .wait_exit(RETRY_PERIOD + CALL_TIMEOUT + Duration::from_secs(5))
        .await;
    let log = a.log();
    let counts = a.exit_counts();
    eprintln!(
        "after SIGCONT stop-a exited after {:?} with {status:?}",
        resumed.elapsed()
    );
    // Meanwhile the new leader goes on writing (another edit), so its writes are counted too.
    edit_and_wait(&client, &ns, &e, "Okta US", Instant::now()).await;
    print_writes("sigstop", &e);
    eprintln!(
        "sigstop: stop-a before SIGSTOP: {status0} status writes, {provider0} provider writes; at its exit: {counts:?}; stop-b: {:?}",
        b.writes().await
    );
    assert_eq!(
        e.clerk.core().writes_by("stop-a"),
        emulator0,
        "provider writes by the old leader (emulator)"
    );
    let status = status.unwrap_or_else(|| panic!("stop-a did not exit after SIGCONT; log:\n{log}"));
    assert!(!status.success(), "stop-a exited with success; log:\n{log}");
    let (status1, provider1) =
        counts.unwrap_or_else(|| panic!("no exit summary in stop-a's log:\n{log}"));
    assert_eq!(
        status1, status0,
        "status writes by the old leader after SIGCONT"
    );
    assert_eq!(
        provider1, provider0,
        "provider writes by the old leader after SIGCONT"
    );
    assert!(e.clerk.core().writes_by("stop-b") >= 2);
    assert_eq!(e.clerk.count_connections(), 1);
}
