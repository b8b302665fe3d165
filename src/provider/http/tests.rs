//! Tests of the shared HTTP plumbing.

use super::*;
use reqwest::header::HeaderValue;
use std::sync::Mutex;

fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

#[test]
fn retry_after_seconds() {
    assert_eq!(
        retry_after(&headers(&[("retry-after", "3".into())])),
        Some(Duration::from_secs(3))
    );
}

#[test]
fn auth0_reset_is_an_epoch_timestamp() {
    let reset = jiff::Timestamp::now().as_second() + 5;
    let wait = retry_after(&headers(&[("x-ratelimit-reset", reset.to_string())])).unwrap();
    assert!(
        wait >= Duration::from_secs(4) && wait <= Duration::from_secs(5),
        "{wait:?}"
    );
}

#[test]
fn no_header_means_no_hint() {
    assert_eq!(retry_after(&HeaderMap::new()), None);
}

/// Junk a provider (or a proxy in front of it) could put in a rate-limit header.
fn junk() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        "inf",
        "-inf",
        "+inf",
        "infinity",
        "NaN",
        "nan",
        "-NaN",
        "-1",
        "-0",
        "0",
        "0.0001",
        "1e20",
        "1e300",
        "-1e300",
        "1e-300",
        "4.5",
        "18446744073709551616",
        "9223372036854775807",
        "-9223372036854775808",
        "99999999999999999999999999",
        "Mon, 01 Jan 1900 00:00:00 GMT",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "tomorrow",
        "",
        " ",
        "0x10",
        "1_000",
        "12abc",
        "--1",
        ".",
        "e",
        "1e",
        "  7  ",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    v.push("9".repeat(10 * 1024).into_bytes());
    v.push("x".repeat(10 * 1024).into_bytes());
    v.push(format!("1{}", "0".repeat(400)).into_bytes());
    for s in ["\u{23f3}", "\u{0663}", "1\u{00a0}", "\u{ff11}", "\u{1F600}"] {
        v.push(s.as_bytes().to_vec());
    }
    v.push(vec![0xff, 0xfe, b'1']);
    v
}

#[test]
fn no_provider_header_can_panic_and_every_wait_is_bounded() {
    let names = ["retry-after", "x-ratelimit-reset", "ratelimit-reset"];
    let mut tried = 0;
    for value in junk() {
        let Ok(value) = HeaderValue::from_bytes(&value) else {
            continue; // not sendable over HTTP at all
        };
        let mut sets: Vec<HeaderMap> = names
            .iter()
            .map(|n| {
                let mut h = HeaderMap::new();
                h.insert(*n, value.clone());
                h
            })
            .collect();
        let mut all = HeaderMap::new();
        for n in names {
            all.insert(n, value.clone());
        }
        sets.push(all);
        for h in sets {
            tried += 1;
            let hint = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| retry_after(&h)))
                .unwrap_or_else(|_| panic!("retry_after panicked on {h:?}"));
            assert!(
                hint.is_none_or(|w| w <= MAX_PROVIDER_WAIT),
                "{h:?} gave {hint:?}"
            );
            let wait = rate_limit_wait(&h);
            assert!(
                (MIN_RATE_LIMIT_WAIT..=MAX_PROVIDER_WAIT).contains(&wait),
                "{h:?} gave a 429 wait of {wait:?}"
            );
            // The gate takes any wait without overflowing its clock.
            let gate = account_limiter(10, 10);
            assert!(gate.pause(wait));
            assert!(gate.paused_for().is_some_and(|w| w <= MAX_PROVIDER_WAIT));
        }
    }
    assert!(tried > 150, "only {tried} header sets were tried");
}

#[test]
fn absurd_waits_are_capped_and_past_resets_are_no_wait() {
    let h = |k: &'static str, v: &str| headers(&[(k, v.to_string())]);
    assert_eq!(
        retry_after(&h("retry-after", "inf")),
        Some(MAX_PROVIDER_WAIT)
    );
    assert_eq!(
        retry_after(&h("retry-after", "1e300")),
        Some(MAX_PROVIDER_WAIT)
    );
    assert_eq!(retry_after(&h("retry-after", "-1")), Some(Duration::ZERO));
    assert_eq!(retry_after(&h("retry-after", "NaN")), None);
    assert_eq!(
        retry_after(&h("retry-after", "Thu, 01 Jan 2099 00:00:00 GMT")),
        Some(MAX_PROVIDER_WAIT)
    );
    // Beyond what a timestamp holds: no hint, so a 429 waits the minimum.
    let far = h("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT");
    assert!(retry_after(&far).is_none_or(|w| w == MAX_PROVIDER_WAIT));
    assert!((MIN_RATE_LIMIT_WAIT..=MAX_PROVIDER_WAIT).contains(&rate_limit_wait(&far)));
    assert_eq!(
        retry_after(&h("retry-after", "Mon, 01 Jan 1900 00:00:00 GMT")),
        Some(Duration::ZERO)
    );
    let past = (jiff::Timestamp::now().as_second() - 30).to_string();
    assert_eq!(
        retry_after(&h("x-ratelimit-reset", &past)),
        Some(Duration::ZERO)
    );
    // A wait that is asked for is at least a second: no requeue at 0 in a loop.
    assert_eq!(rate_limit_wait(&h("retry-after", "0")), MIN_RATE_LIMIT_WAIT);
    assert_eq!(
        rate_limit_wait(&h("x-ratelimit-reset", &past)),
        MIN_RATE_LIMIT_WAIT
    );
    assert_eq!(rate_limit_wait(&HeaderMap::new()), MIN_RATE_LIMIT_WAIT);
    assert_eq!(
        rate_limit_wait(&h("retry-after", "7")),
        Duration::from_secs(7)
    );
    assert_eq!(
        rate_limited(Duration::ZERO).class(),
        crate::provider::ErrorClass::RateLimited(MIN_RATE_LIMIT_WAIT)
    );
}

#[tokio::test]
async fn a_pause_longer_than_a_call_may_wait_is_returned_at_once() {
    let gate = account_limiter(100, 100);
    assert!(gate.pause(Duration::from_secs(60)));
    assert!(
        !gate.pause(Duration::from_secs(5)),
        "lands inside the first"
    );
    let started = tokio::time::Instant::now();
    let left = gate.admit(Duration::from_secs(30)).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(100));
    assert!(left > Duration::from_secs(55) && left <= Duration::from_secs(60));
    // A pause of 0 still pauses a second.
    let gate = account_limiter(100, 100);
    gate.pause(Duration::ZERO);
    let waited = gate.admit(Duration::from_secs(30)).await.unwrap();
    assert!(waited >= Duration::from_millis(950), "{waited:?}");
}

#[tokio::test]
async fn the_gate_changes_rate_in_place_and_keeps_its_pause() {
    let gate = account_limiter(5, 10);
    gate.pause(Duration::from_secs(10));
    gate.set_rate(7, 7);
    assert_eq!(gate.rate(), (7, 7));
    assert!(gate.paused_for().is_some());
}

/// A server that answers the first request with a 429 carrying `retry_after`, then 200s, and
/// records when each request arrived.
async fn limited_server(
    retry_after: &'static str,
) -> (String, Arc<Mutex<Vec<tokio::time::Instant>>>) {
    use axum::{http::StatusCode as S, response::IntoResponse, routing::get};
    let seen: Arc<Mutex<Vec<tokio::time::Instant>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/x",
        get(move || {
            let log = log.clone();
            async move {
                let mut l = log.lock().unwrap();
                l.push(tokio::time::Instant::now());
                if l.len() == 1 {
                    (
                        S::TOO_MANY_REQUESTS,
                        [("retry-after", retry_after)],
                        "slow down",
                    )
                        .into_response()
                } else {
                    (S::OK, "{}").into_response()
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn client_with(url: &str, gate: Option<AccountLimiter>) -> HttpClient {
    let mut settings = ClientSettings::new(url);
    settings.limiter = gate;
    HttpClient::new(ProviderKind::Clerk, settings).unwrap()
}

async fn get(c: &HttpClient) -> Result<Response, ProviderError> {
    let url = c.url("/x");
    c.send(
        "get",
        Idempotency::Idempotent,
        |r| r.get(&url),
        |_| ProviderError::invalid("refused"),
    )
    .await
}

#[tokio::test]
async fn a_429_pauses_every_call_of_the_account_not_only_the_one_that_got_it() {
    let (url, seen) = limited_server("2").await;
    let gate = account_limiter(100, 100);
    // Two clients of one account (two ProviderConfigs), one gate.
    let (a, b) = (
        client_with(&url, Some(gate.clone())),
        client_with(&url, Some(gate.clone())),
    );
    let first = tokio::spawn(async move { get(&a).await });
    while seen.lock().unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        gate.paused_for().is_some(),
        "the 429 did not pause the account"
    );
    let second = get(&b).await;
    assert!(second.is_ok() && first.await.unwrap().is_ok());
    let seen = seen.lock().unwrap();
    let after = seen[1..].iter().map(|t| t.duration_since(seen[0])).min();
    assert!(
        after.is_some_and(|d| d >= Duration::from_millis(1950)),
        "a call went out {after:?} after the 429 asked for 2 s"
    );
}

#[tokio::test]
async fn retry_after_zero_still_waits_a_second() {
    for gate in [None, Some(account_limiter(100, 100))] {
        let (url, seen) = limited_server("0").await;
        let c = client_with(&url, gate);
        get(&c).await.unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert!(seen[1].duration_since(seen[0]) >= Duration::from_millis(950));
    }
}

/// A client that tries once, with a short timeout, so that each cause shows at once.
fn one_shot(base: &str) -> HttpClient {
    let mut settings = ClientSettings::new(base);
    settings.timeout = Duration::from_millis(500);
    settings.retry.max_attempts = 1;
    HttpClient::new(ProviderKind::LoginRadius, settings).unwrap()
}

async fn failure(base: &str) -> String {
    let c = one_shot(base);
    let url = c.url("/v2/x?apikey=canary-key&apisecret=canary-secret");
    let err = c
        .send(
            "list",
            Idempotency::Idempotent,
            |r| r.get(&url),
            |_| ProviderError::invalid("answered"),
        )
        .await
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, ProviderError::Unavailable(_)), "{text}");
    assert!(
        !text.contains("canary") && !text.contains("apikey") && !text.contains("/v2/x"),
        "the URL leaked: {text}"
    );
    println!("{base} -> {err}");
    text
}

#[tokio::test]
async fn transport_failures_name_their_cause_and_host() {
    // Connection refused: a loopback port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let text = failure(&format!("http://127.0.0.1:{port}")).await;
    assert!(text.contains("connection refused"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");

    // DNS: .invalid never resolves (RFC 6761).
    let text = failure("http://no-such-host.invalid").await;
    assert!(text.contains("DNS failure"), "{text}");
    assert!(text.contains("no-such-host.invalid"), "{text}");

    // Timeout: a server that accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let keep = tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let text = failure(&format!("http://{addr}")).await;
    assert!(text.contains("timeout"), "{text}");
    assert!(text.contains(&addr.to_string()), "{text}");

    // TLS: https to a plain-HTTP server.
    let (url, _) = limited_server("1").await;
    let text = failure(&url.replace("http://", "https://")).await;
    assert!(text.contains("TLS error"), "{text}");
    keep.abort();
}

/// Marks the run of [`proxy_child`] that [`provider_calls_honour_https_proxy_and_no_proxy`]
/// starts (reqwest reads proxy variables once per process, so they are set on a child).
const PROXY_CHILD: &str = "SSOPERATOR_TEST_PROXY_CHILD";

#[tokio::test]
async fn proxy_child() {
    let Ok(refused_port) = std::env::var(PROXY_CHILD) else {
        return; // Not started by the proxy test: nothing to check.
    };
    // Through HTTPS_PROXY: the proxy refuses the tunnel.
    let via_proxy = failure("https://127.0.0.1:9").await;
    assert!(via_proxy.contains("proxy (HTTPS_PROXY)"), "{via_proxy}");
    // NO_PROXY=localhost: straight to a port nothing listens on.
    let direct = failure(&format!("https://localhost:{refused_port}")).await;
    assert!(direct.contains("connection refused"), "{direct}");
}

#[tokio::test]
async fn provider_calls_honour_https_proxy_and_no_proxy() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A proxy that records the request line of each CONNECT and refuses it.
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_addr = proxy.local_addr().unwrap();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = proxy.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let text = String::from_utf8_lossy(&buf);
            log.lock()
                .unwrap()
                .push(text.lines().next().unwrap_or_default().to_string());
            let _ = s
                .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    let refused_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap());
    for var in [
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
        "HTTP_PROXY",
        "ALL_PROXY",
    ] {
        child.env_remove(var);
    }
    let out = child
        .args([
            "provider::http::tests::proxy_child",
            "--exact",
            "--nocapture",
        ])
        .env(PROXY_CHILD, refused_port.to_string())
        .env("HTTPS_PROXY", format!("http://{proxy_addr}"))
        .env("NO_PROXY", "localhost")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("1 passed"), "{stdout}");
    let seen = seen.lock().unwrap().clone();
    task.abort();
    // The call to 127.0.0.1 went through the proxy (once: a refused tunnel is not retried
    // by one_shot), the one to localhost did not.
    assert_eq!(seen, vec!["CONNECT 127.0.0.1:9 HTTP/1.1".to_string()]);
}

#[test]
fn backoff_is_capped() {
    let p = RetryPolicy {
        max_delay: Duration::from_millis(500),
        ..Default::default()
    };
    for retry in 0..30 {
        assert!(p.backoff(retry) <= Duration::from_millis(500));
    }
}

/// A server that answers `/x` and counts the TCP connections it accepts.
async fn counting_server() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use axum::{routing::get, serve::ListenerExt};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let listener = listener.tap_io(move |_| {
        count.fetch_add(1, Ordering::SeqCst);
    });
    let app = axum::Router::new().route("/x", get(|| async { "{}" }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, accepted)
}

#[tokio::test]
async fn clients_of_several_accounts_share_one_connection_pool() {
    use std::sync::atomic::Ordering;
    let (url, accepted) = counting_server().await;
    let mut settings = ClientSettings::new(url.clone());
    settings.transport = Some(transport(&settings).unwrap());
    let a = HttpClient::new(ProviderKind::Clerk, settings.clone()).unwrap();
    let b = HttpClient::new(ProviderKind::Auth0, settings).unwrap();
    for _ in 0..3 {
        get(&a).await.unwrap();
        get(&b).await.unwrap();
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "one pool, one connection"
    );
    // A client without a shared transport has a pool (and connections) of its own.
    let own = HttpClient::new(ProviderKind::Clerk, ClientSettings::new(url)).unwrap();
    get(&own).await.unwrap();
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}
