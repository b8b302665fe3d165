//! Issue 14, item 5: provider endpoints behind a private CA. Without `--provider-ca-bundle` the
//! ProviderConfig says the certificate is not trusted and names the flag; with a bundle that holds
//! the CA (next to an unrelated one) it becomes Ready and resources reconcile through it.

use std::{net::SocketAddr, path::Path, process::Command, sync::Arc};

use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use serde_json::json;
use ssoperator::crd::{EnterpriseConnection, ProviderConfig};
use ssoperator_emulators::qovery::QoveryEmulator;
use tokio_rustls::{TlsAcceptor, rustls};

use crate::operator::*;

const ORG: &str = "3f1c2a4e-8b7d-4c1e-9a2f-5d6e7f809a1b";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl (scripts/with-k8s.sh checks it is installed)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA named `name` (`{name}.key`, `{name}.crt`).
fn ca(dir: &Path, name: &str) {
    let key = format!("{name}.key");
    let crt = format!("{name}.crt");
    let subj = format!("/CN=ssoperator e2e {name}");
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &key,
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            &key,
            "-subj",
            &subj,
            "-days",
            "2",
            "-sha256",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            &crt,
        ],
    );
}

/// A test CA, a server certificate it signs for 127.0.0.1 and localhost, and an unrelated CA.
fn pki(dir: &Path) {
    ca(dir, "ca");
    ca(dir, "other-ca");
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "server.key",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            "server.key",
            "-subj",
            "/CN=127.0.0.1",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-sha256",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
    );
}

/// A TLS front (the test CA's certificate) that passes every connection on to `backend`.
async fn tls_front(dir: &Path, backend: SocketAddr) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.crt"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that does not trust the certificate aborts the handshake: nothing to do.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut up) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    (addr, task)
}

fn pc_message(pc: &ProviderConfig) -> String {
    pc.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.message.to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn private_ca_endpoints_need_the_ca_bundle() {
    let (client, ns) = setup().await;
    let dir = std::env::temp_dir().join(format!("ssoperator-e2e-pki-{ns}"));
    std::fs::create_dir_all(&dir).unwrap();
    pki(&dir);
    // One or more certificates: an unrelated CA first, then the one that signs the endpoint.
    let bundle = dir.join("bundle.pem");
    let mut pem = std::fs::read(dir.join("other-ca.crt")).unwrap();
    pem.extend(std::fs::read(dir.join("ca.crt")).unwrap());
    std::fs::write(&bundle, pem).unwrap();

    let emu = QoveryEmulator::new("qov_private_token", vec![ORG.to_string()]);
    emu.insert_connection("acme-sso", "viewer");
    let running = serve(emu.router()).await;
    let (front, front_task) = tls_front(&dir, running.addr).await;
    let endpoint = format!("https://127.0.0.1:{}", front.port());

    provider_account(
        &client,
        &ns,
        "private",
        json!({"qovery": {"organizationId": ORG}}),
        &endpoint,
        "qovery-creds",
        &[("token", "qov_private_token")],
    )
    .await;

    // Without the bundle: refused, and the message says why and what to set.
    let op = Operator::start(&client, &ns);
    let pc = wait_for::<ProviderConfig>(&client, &ns, "private", "not Ready", |pc| {
        pc_ready(pc).is_some_and(|r| r.0 == "False")
    })
    .await;
    let msg = pc_message(&pc);
    println!("without the bundle: {msg}");
    assert!(msg.contains("TLS error"), "{msg}");
    assert!(
        msg.contains("certificate not trusted (unknown issuer)"),
        "{msg}"
    );
    assert!(msg.contains("--provider-ca-bundle"), "{msg}");
    assert!(
        msg.contains(&format!("127.0.0.1:{}", front.port())),
        "{msg}"
    );
    assert!(!msg.contains("error sending request"), "{msg}");
    assert!(!msg.contains("qov_private_token"), "{msg}");
    drop(op);

    // With the bundle: Ready, and a connection reconciles through the TLS front.
    let _op = Operator::start_with(&client, &ns, |c| {
        c.provider_ca_bundle = Some(bundle.clone())
    });
    provider_ready(&client, &ns, "private").await;
    apply(&client, &ns, json!({"apiVersion": "ssoperator.io/v1alpha1", "kind": "EnterpriseConnection",
        "metadata": {"name": "acme"}, "spec": {"providerConfigRef": {"name": "private"}, "name": "acme-sso", "saml": {}}})).await;
    let ec = wait_for::<EnterpriseConnection>(&client, &ns, "acme", "Ready", ready).await;
    assert_eq!(
        ec.status.and_then(|s| s.external_id).as_deref(),
        Some("acme-sso")
    );
    front_task.abort();
    let _ = std::fs::remove_dir_all(&dir);
}
