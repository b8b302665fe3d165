use super::*;

fn spec(holder: Option<&str>, renew_secs: i64, duration: Option<i32>) -> LeaseSpec {
    LeaseSpec {
        holder_identity: holder.map(String::from),
        renew_time: Some(MicroTime(jiff::Timestamp::from_second(renew_secs).unwrap())),
        lease_duration_seconds: duration,
        ..Default::default()
    }
}

#[test]
fn a_record_expires_only_after_it_stayed_unchanged_for_the_lease_on_our_clock() {
    let t0 = Instant::now();
    let mut seen = Observation::default();
    // Its renewTime is from 1970: another node's clock says nothing about expiry.
    seen.observe(Some(&spec(Some("a"), 1, Some(15))), t0);
    assert_eq!(
        seen.verdict("b", t0),
        Verdict::HeldUntil(t0 + Duration::from_secs(15))
    );
    assert_eq!(
        seen.verdict("b", t0 + Duration::from_secs(14)),
        Verdict::HeldUntil(t0 + Duration::from_secs(15))
    );
    // The same record seen again does not restart the clock.
    seen.observe(
        Some(&spec(Some("a"), 1, Some(15))),
        t0 + Duration::from_secs(10),
    );
    assert_eq!(
        seen.verdict("b", t0 + Duration::from_secs(15)),
        Verdict::Expired
    );
}

#[test]
fn a_renewal_restarts_the_clock_whatever_its_timestamp() {
    let t0 = Instant::now();
    let mut seen = Observation::default();
    seen.observe(Some(&spec(Some("a"), 1_000_000, Some(15))), t0);
    // A renewal whose renewTime lies in the past (a skewed node) still counts as a renewal.
    let t1 = t0 + Duration::from_secs(12);
    seen.observe(Some(&spec(Some("a"), 10, Some(15))), t1);
    assert_eq!(
        seen.verdict("b", t0 + Duration::from_secs(16)),
        Verdict::HeldUntil(t1 + Duration::from_secs(15))
    );
    assert_eq!(
        seen.verdict("b", t1 + Duration::from_secs(15)),
        Verdict::Expired
    );
}

#[test]
fn the_duration_comes_from_the_record() {
    let t0 = Instant::now();
    let mut seen = Observation::default();
    seen.observe(Some(&spec(Some("a"), 1, Some(30))), t0);
    assert_eq!(
        seen.verdict("b", t0 + Duration::from_secs(20)),
        Verdict::HeldUntil(t0 + Duration::from_secs(30))
    );
    let mut seen = Observation::default();
    seen.observe(Some(&spec(Some("a"), 1, None)), t0);
    assert_eq!(seen.verdict("b", t0 + LEASE_DURATION), Verdict::Expired);
}

#[test]
fn free_and_own_records_are_taken_at_once() {
    let t0 = Instant::now();
    let mut seen = Observation::default();
    seen.observe(Some(&spec(None, 1, Some(15))), t0);
    assert_eq!(seen.verdict("b", t0), Verdict::Free);
    seen.observe(Some(&spec(Some(""), 1, Some(15))), t0);
    assert_eq!(seen.verdict("b", t0), Verdict::Free);
    seen.observe(None, t0);
    assert_eq!(seen.verdict("b", t0), Verdict::Free);
    seen.observe(Some(&spec(Some("b"), 1, Some(15))), t0);
    assert_eq!(seen.verdict("b", t0), Verdict::Ours);
}

#[test]
fn the_fence_closes_at_its_deadline_by_itself() {
    let fence = Fence::closed();
    assert!(!fence.allows());
    fence.extend_until(std::time::Instant::now() + Duration::from_secs(60));
    assert!(fence.allows());
    fence.extend_until(std::time::Instant::now());
    assert!(!fence.allows(), "a deadline reached refuses writes");
    fence.extend_until(std::time::Instant::now() + Duration::from_millis(30));
    assert!(fence.allows());
    std::thread::sleep(Duration::from_millis(40));
    assert!(
        !fence.allows(),
        "no renewal: closed without anyone closing it"
    );
    assert!(Fence::open().allows());
    let open = Fence::open();
    open.close();
    assert!(!open.allows());
}
