//! Transport failures in words a person can act on.

/// A transport failure in words a person can act on: the cause (connection refused, DNS failure,
/// TLS error, timeout, ...) and the host (never the URL, whose query may carry a credential).
pub fn transport_error(err: &reqwest::Error) -> String {
    let host = err
        .url()
        .and_then(|u| {
            let host = u.host_str()?;
            Some(match u.port() {
                Some(p) => format!("{host}:{p}"),
                None => host.to_string(),
            })
        })
        .unwrap_or_else(|| "the provider".to_string());
    // The innermost cause (an OS error, the resolver's or TLS library's words).
    let mut chain: Vec<String> = Vec::new();
    let mut io_kind = None;
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            io_kind = Some(io.kind());
        }
        chain.push(e.to_string());
        source = e.source();
    }
    let all = chain.join(": ").to_ascii_lowercase();
    let detail = chain.last().cloned().unwrap_or_default();
    let detail = if detail.len() > 200 {
        let mut end = 200;
        while !detail.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &detail[..end])
    } else {
        detail
    };
    use std::io::ErrorKind;
    let mut tls_cause = None;
    let cause = if err.is_timeout() || io_kind == Some(ErrorKind::TimedOut) {
        if err.is_connect() {
            "timeout while connecting"
        } else {
            "timeout waiting for the answer"
        }
    } else if io_kind == Some(ErrorKind::ConnectionRefused) {
        "connection refused"
    } else if all.contains("dns error") || all.contains("lookup address") {
        "DNS failure"
    } else if all.contains("certificate")
        || all.contains("tls")
        || all.contains("handshake")
        || all.contains("ssl")
        || all.contains("corrupt message")
        || all.contains("alert")
        // Connected, then bytes that are no TLS: the TLS library reports invalid data.
        || (err.is_connect()
            && io_kind == Some(ErrorKind::InvalidData)
            && err.url().is_some_and(|u| u.scheme() == "https"))
    {
        tls_cause = tls_hint(&all);
        "TLS error"
    } else if io_kind == Some(ErrorKind::ConnectionReset)
        || io_kind == Some(ErrorKind::ConnectionAborted)
        || all.contains("connection closed")
        || all.contains("connection reset")
    {
        "connection closed by the server"
    } else if all.contains("tunnel") {
        // HTTPS_PROXY is set and the proxy would not open a tunnel to the provider.
        "the proxy (HTTPS_PROXY) refused the tunnel"
    } else if err.is_connect() {
        "cannot connect"
    } else if err.is_body() || err.is_decode() {
        "broken response"
    } else {
        "request failed"
    };
    if let Some(hint) = tls_cause {
        return format!("{cause} ({host}): {hint}");
    }
    if detail.is_empty()
        || detail
            .to_ascii_lowercase()
            .contains(&cause.to_ascii_lowercase())
    {
        format!("{cause} ({host})")
    } else {
        format!("{cause} ({host}): {detail}")
    }
}

/// What a person can do about a TLS failure whose cause the TLS library names (rustls' words,
/// lower-cased): a certificate the roots do not vouch for points at `--provider-ca-bundle`.
fn tls_hint(all: &str) -> Option<String> {
    let flag = crate::config::CA_BUNDLE_FLAG;
    let untrusted = |why: &str| {
        format!(
            "certificate not trusted ({why}): if the endpoint or a TLS-inspecting proxy uses a \
             private CA, give its certificate with {flag} (chart value providerCABundle)"
        )
    };
    if all.contains("unknownissuer") || all.contains("unknown issuer") {
        Some(untrusted("unknown issuer"))
    } else if all.contains("badsignature") || all.contains("bad signature") {
        Some(untrusted("bad signature"))
    } else if all.contains("notvalidforname") || all.contains("not valid for name") {
        Some("certificate not valid for this host name".to_string())
    } else if all.contains("expired") {
        Some("certificate expired".to_string())
    } else if all.contains("notvalidyet") || all.contains("not valid yet") {
        Some("certificate not valid yet".to_string())
    } else if all.contains("revoked") {
        Some("certificate revoked".to_string())
    } else {
        None
    }
}
