//! A leader cut off from the API server (through a proxy the test closes) stops writing and exits.

use super::*;

/// A TCP proxy that forwards to `upstream` until cut; then it drops every open connection and
/// accepts new ones without ever answering (a black hole, so only timeouts end a call).
struct Proxy {
    addr: SocketAddr,
    cut: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                let mut rx = rx.clone();
                tokio::spawn(async move {
                    if *rx.borrow() {
                        let _held = &inbound;
                        std::future::pending::<()>().await;
                    }
                    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = rx.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Self { addr, cut, task }
    }

    fn cut(&self) {
        self.cut.send_replace(true);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A copy of the test kubeconfig whose server is `proxy`; returns (path, upstream address).
fn proxied_kubeconfig(proxy: SocketAddr, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(support::kubeconfig_path()).unwrap();
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    doc["clusters"][0]["cluster"]["server"] = format!("https://{proxy}").into();
    let path = std::env::temp_dir().join(format!("ssoperator-e2e-{name}.kubeconfig"));
    std::fs::write(&path, serde_yaml::to_string(&doc).unwrap()).unwrap();
    path
}

fn api_server_addr() -> SocketAddr {
    let text = std::fs::read_to_string(support::kubeconfig_path()).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let server = doc["clusters"][0]["cluster"]["server"].as_str().unwrap();
    let url = url::Url::parse(server).unwrap();
    let host = url.host_str().unwrap();
    format!("{host}:{}", url.port_or_known_default().unwrap())
        .parse()
        .unwrap()
}

/// The leader reaches the API server through a proxy that is then cut, while the provider stays
/// reachable: it makes no provider write after the cut, exits non-zero by its renew deadline
/// (before the standby may take over), and the standby carries out a spec edit.
#[tokio::test]
async fn leader_cut_off_from_the_api_server_stops_writing_and_exits() {
    let (client, ns, e) = clerk_setup().await;
    let proxy = Proxy::start(api_server_addr()).await;
    let kubeconfig = proxied_kubeconfig(proxy.addr, &format!("{ns}-cut-a"));
    let mut a = Replica::start_with(&ns, "cut-a", kubeconfig.to_str().unwrap(), &[], &[]);
    wait_holder(&client, &ns, "cut-a", Duration::from_secs(30)).await;
    let b = Replica::start(&ns, "cut-b");
    apply_okta(&client, &ns).await;
    b.metrics().await;
    tokio::time::sleep(RETRY_PERIOD * 2).await;
    let emulator0 = e.clerk.core().writes_by("cut-a");
    assert!(emulator0 >= 1, "the leader created the connection");

    proxy.cut();
    let cut = Instant::now();
    patch_spec::<EnterpriseConnection>(&client, &ns, "okta", json!({"name": "Okta EU"})).await;

    // Until it exits, the cut-off leader stays up: its /metrics answers.
    let mut answered = 0;
    let mut reconciles = vec![];
    let mut took_over = None;
    let status = loop {
        if let Some(status) = a.exited() {
            break status;
        }
        if let Some(text) = a.scrape().await {
            answered += 1;
            reconciles.push(sum_samples(&text, "ssoperator_reconciles_total"));
        }
        if took_over.is_none() && holder(&client, &ns).await.as_deref() == Some("cut-b") {
            took_over = Some(cut.elapsed());
        }
        assert!(
            cut.elapsed() < Duration::from_secs(40),
            "cut-a did not exit after the cut; log:\n{}",
            a.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let exited = cut.elapsed();
    let log = a.log();
    eprintln!(
        "cut: cut-a exited {:.2} s after the cut with {status}; /metrics answered {answered} times meanwhile (reconciles {:?})",
        exited.as_secs_f64(),
        (reconciles.first(), reconciles.last()),
    );
    assert!(!status.success(), "cut-a exited with success; log:\n{log}");
    assert!(answered > 0, "cut-a's metrics never answered after the cut");
    assert!(
        took_over.is_none(),
        "cut-b took the lease {took_over:?} after the cut, before cut-a stopped ({exited:?})"
    );
    // Its last renewal was sent before the cut: it is gone within the renew deadline (plus the
    // time to notice and exit).
    assert!(
        exited <= RENEW_DEADLINE + Duration::from_secs(2),
        "cut-a exited {exited:?} after the cut; log:\n{log}"
    );

    let took = edit_and_wait(&client, &ns, &e, "Okta EU", cut).await;
    eprintln!(
        "cut: cut-b carried out the spec edit {:.2} s after the cut",
        took.as_secs_f64()
    );
    print_writes("cut", &e);
    assert_eq!(holder(&client, &ns).await.as_deref(), Some("cut-b"));
    assert_eq!(
        e.clerk.core().writes_by("cut-a"),
        emulator0,
        "provider writes by the cut-off leader after the cut"
    );
    assert!(e.clerk.core().writes_by("cut-b") >= 1);
    assert_eq!(e.clerk.count_connections(), 1);
    let _ = std::fs::remove_file(kubeconfig);
}
