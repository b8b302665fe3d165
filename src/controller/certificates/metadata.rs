//! Fetching IdP metadata from spec.saml.idpMetadataUrl: https only (or loopback), bounded in size
//! and time, redirects only to the same host.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Largest IdP metadata document the operator reads.
pub const MAX_METADATA_BYTES: usize = 1024 * 1024;
/// Time limit of one metadata fetch (connect, redirects and body).
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// The HTTP client of metadata fetches: the provider clients' trust (webpki roots plus
/// `--provider-ca-bundle`) and proxy settings, a time limit, and redirects only to the same
/// scheme and host.
pub(super) fn metadata_client(config: &Config) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder();
    for cert in config.provider_roots()? {
        builder = builder.add_root_certificate(cert);
    }
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let first = attempt.previous().first().cloned();
        let same = first.is_some_and(|f| {
            f.scheme() == attempt.url().scheme()
                && f.host_str() == attempt.url().host_str()
                && f.port_or_known_default() == attempt.url().port_or_known_default()
        });
        if attempt.previous().len() > 5 {
            attempt.error("more than 5 redirects")
        } else if same {
            attempt.follow()
        } else {
            attempt.error("a redirect to another host or scheme")
        }
    });
    // Each resource fetches its IdP's metadata once per --idp-metadata-refresh, mostly from a host
    // of its own: a pooled connection is seldom used again. With the defaults (idle for 90 s, no
    // cap per host) a converge of thousands of tenants held an idle connection per IdP host.
    builder
        .pool_idle_timeout(Duration::from_secs(2))
        .pool_max_idle_per_host(4)
        .timeout(METADATA_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .redirect(policy)
        .user_agent(concat!("ssoperator/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

/// Checks the metadata URL: https, or http to a loopback host (or anywhere with
/// `--idp-metadata-allow-http`).
pub fn check_metadata_url(raw: &str, allow_http: bool) -> Result<url::Url, String> {
    let u = url::Url::parse(raw.trim()).map_err(|e| format!("is not a URL: {e}"))?;
    let host = u.host().ok_or("has no host")?;
    match u.scheme() {
        "https" => Ok(u),
        "http" => {
            let loopback = match host {
                url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
                url::Host::Ipv4(ip) => ip.is_loopback(),
                url::Host::Ipv6(ip) => ip.is_loopback(),
            };
            if loopback || allow_http {
                Ok(u)
            } else {
                Err("must be https:// (plain http:// is fetched only from a loopback host, or with the operator flag --idp-metadata-allow-http)".into())
            }
        }
        other => Err(format!("must be an https:// URL, not {other}:")),
    }
}

/// Fetches a metadata document: a 2xx answer of at most [`MAX_METADATA_BYTES`]. Errors name the
/// host, never the whole URL (whose query may carry a token).
pub(super) async fn fetch(client: &reqwest::Client, url: url::Url) -> Result<String, String> {
    let host = url.host_str().unwrap_or_default().to_string();
    let mut resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| crate::provider::http::transport_error(&e))?;
    if !resp.status().is_success() {
        return Err(format!("{host} answered HTTP {}", resp.status().as_u16()));
    }
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_METADATA_BYTES as u64)
    {
        return Err(format!(
            "{host} sent more than {MAX_METADATA_BYTES} bytes of metadata"
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| crate::provider::http::transport_error(&e))?
    {
        if body.len() + chunk.len() > MAX_METADATA_BYTES {
            return Err(format!(
                "{host} sent more than {MAX_METADATA_BYTES} bytes of metadata"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| format!("the metadata from {host} is not UTF-8 text"))
}
