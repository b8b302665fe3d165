//! The run's table, and its row for the README's results table.

use super::*;

/// Prints the table of one run, then its README row.
pub(crate) fn print(
    run: &Run,
    converged: &Converged,
    settled: &Settled,
    quiet: &Quiet,
    deleted: &Deleted,
) {
    let s = &run.s;
    let n = s.n;
    let (rps, burst) = s.rate_limit();
    let per_resource = |x: u64| x as f64 / n as f64;
    let ready = converged.ready;
    let floor_text = match (s.floor(), s.burst_floor()) {
        (Some(floor), Some(burst_floor)) => format!(
            "{} = {} calls / {}/s (after the first window's burst of {}: {})",
            secs(floor),
            s.floor_calls(),
            s.limit.map(|l| l.per_second()).unwrap_or_default(),
            s.limit.map(|l| l.requests).unwrap_or_default(),
            secs(burst_floor)
        ),
        _ => "n/a (no limit)".into(),
    };
    let ratio = s
        .floor()
        .map(|f| format!("{:.2}", ready.as_secs_f64() / f.as_secs_f64()))
        .unwrap_or_else(|| "n/a".into());
    let rows: Vec<(&str, String)> = vec![
        ("N", n.to_string()),
        ("namespaces", s.namespaces.to_string()),
        ("IdP metadata hosts", s.idp_hosts.to_string()),
        ("Clerk limit (emulator)", run.limit_text.clone()),
        (
            "operator rateLimit",
            format!("{rps}/s, burst {burst} (its gate runs at 90 %)"),
        ),
        ("resync", format!("{:?}", s.resync)),
        ("applied in", secs(converged.applied)),
        ("time to all Ready", secs(ready)),
        (
            "resources/s",
            format!("{:.1}", n as f64 / ready.as_secs_f64()),
        ),
        (
            "floor calls",
            format!(
                "{} = {n} creates + {} list pages of {CLERK_PAGE}",
                s.floor_calls(),
                n.div_ceil(CLERK_PAGE)
            ),
        ),
        ("floor time", floor_text),
        ("ratio (time to Ready / floor time)", ratio.clone()),
        (
            "provider calls to converge",
            calls_text(&converged.calls, converged.rate_limited),
        ),
        (
            "  429s the operator saw / rate-limit waits",
            format!(
                "{} / {}",
                operator_429s(&converged.metrics),
                sum_samples(&converged.metrics, "ssoperator_rate_limit_waits_total") as u64
            ),
        ),
        (
            "status writes to converge",
            format!(
                "{}; {:.2} per resource",
                converged.status_writes_by_kind,
                per_resource(converged.status_writes)
            ),
        ),
        (
            "API server writes to converge",
            converged.apiserver.writes_text(n),
        ),
        (
            "API server reads to converge",
            converged.apiserver.reads_text(n),
        ),
        (
            "CPU to converge: API server / operator",
            format!(
                "{:.0} s ({:.2} cores) / {:.0} s ({:.2} cores) of {} cores",
                converged.apiserver.cpu_seconds,
                converged.apiserver.cpu_seconds / ready.as_secs_f64(),
                converged.operator_cpu,
                converged.operator_cpu / ready.as_secs_f64(),
                std::thread::available_parallelism().map_or(0, |p| p.get()),
            ),
        ),
        (
            "ProviderConfig usedBy caught up",
            format!(
                "{} after all Ready (status writes meanwhile: {})",
                secs(settled.used_by_lag),
                status_writes_text(&converged.metrics, &settled.metrics).1
            ),
        ),
        (
            "reconciles in flight at its start",
            format!("{} (waited up to 30 s for 0)", settled.in_flight),
        ),
        (
            "quiet resync: provider calls",
            format!(
                "{} ({:.2} per resource; writes {})",
                calls_text(&quiet.calls, quiet.rate_limited),
                per_resource(quiet.calls.values().sum::<u64>()),
                quiet.writes
            ),
        ),
        (
            "quiet resync: status writes",
            quiet.status_writes_text.clone(),
        ),
        (
            "quiet resync: sweeps of the account",
            format!(
                "{} in {} (one per resync period; the window of 1.2 periods can hold two)",
                quiet.sweeps,
                secs(quiet.duration)
            ),
        ),
        ("quiet resync: reconciles", quiet.reconciles.to_string()),
        ("operator VmHWM", mib(quiet.hwm)),
        ("operator VmRSS after the quiet resync", mib(quiet.rss)),
        (
            "operator idle CPU over the quiet resync",
            format!(
                "{:.1} % of one core ({})",
                quiet.idle_cpu,
                secs(quiet.duration)
            ),
        ),
        ("time to all deleted", secs(deleted.duration)),
        (
            "provider calls to delete",
            calls_text(&deleted.calls, deleted.rate_limited),
        ),
        ("remote objects left", deleted.left.to_string()),
        (
            "machine",
            format!(
                "{} cores, load average {} at start, {} at end",
                std::thread::available_parallelism().map_or(0, |p| p.get()),
                run.load_at_start,
                load_average()
            ),
        ),
    ];
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    println!(
        "\nscale benchmark: {n} Clerk EnterpriseConnections in {} namespace(s), limit {}, resync {:?}, operator {}",
        s.namespaces,
        s.limit_name,
        s.resync,
        operator_binary()
    );
    println!("| {:width$} | value |", "measure");
    println!("|{}|-------|", "-".repeat(width + 2));
    for (k, v) in &rows {
        println!("| {k:width$} | {v} |");
    }
    // One line for the README's results table.
    let by_op = |calls: &BTreeMap<String, u64>| {
        by_operation(calls)
            .iter()
            .map(|(op, c)| format!("{op} {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "README row: | {n} | {} | {} | {} | {:.1} | {ratio} | {} | {} | {:.2} | {} | {} | {} | {} | {:.1} % | {} |",
        s.namespaces,
        s.limit_name,
        secs(ready),
        n as f64 / ready.as_secs_f64(),
        by_op(&converged.calls),
        converged.rate_limited,
        per_resource(converged.status_writes),
        quiet.calls.values().sum::<u64>(),
        quiet.status_writes,
        mib(quiet.hwm),
        mib(quiet.rss),
        quiet.idle_cpu,
        secs(deleted.duration),
    );
}
