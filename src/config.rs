//! Operator settings from flags and environment variables.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser;

/// ssoperator: reconciles SSO connections, connection profiles and role mappings at SaaS providers.
#[derive(Parser, Debug, Clone)]
#[command(version, about)]
pub struct Config {
    /// `export`, `diff` or `validate`; without a subcommand the operator runs.
    #[command(subcommand)]
    pub command: Option<crate::cli::Command>,
    /// Watch only these namespaces (comma-separated); all namespaces when empty.
    #[arg(long, env = "SSOPERATOR_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// How often every resource is compared with its provider to find console drift (jittered +-10%).
    #[arg(long, env = "SSOPERATOR_RESYNC", default_value = "10m", value_parser = parse_duration)]
    pub resync: Duration,
    /// Reconciles running at once per kind, over all watched namespaces. Most of a reconcile is
    /// waiting on I/O, and each provider account's rate limit gates its calls anyway.
    #[arg(long, env = "SSOPERATOR_CONCURRENCY", default_value_t = 32)]
    pub concurrency: u16,
    /// Address of the /metrics, /healthz and /readyz endpoints.
    #[arg(long, env = "SSOPERATOR_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Log format: json or text.
    #[arg(long, env = "SSOPERATOR_LOG_FORMAT", default_value = "json")]
    pub log_format: String,
    /// Take part in Lease-based leader election so that only one replica writes.
    #[arg(long, env = "SSOPERATOR_LEADER_ELECT", default_value_t = false)]
    pub leader_elect: bool,
    /// Namespace of the leader-election Lease.
    #[arg(long, env = "SSOPERATOR_LEASE_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    /// Name of the leader-election Lease.
    #[arg(
        long,
        env = "SSOPERATOR_LEASE_NAME",
        default_value = "ssoperator-leader"
    )]
    pub lease_name: String,
    /// This replica's identity in the Lease (defaults to the host name).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Watch Secret metadata so that a changed referenced Secret is acted on at once (needs list/watch on Secrets).
    #[arg(long, env = "SSOPERATOR_WATCH_SECRETS", default_value_t = true, action = clap::ArgAction::Set)]
    pub watch_secrets: bool,
    /// Verify ClusterProviderConfigs and write their status. Default: only when watching all
    /// namespaces (a namespace-scoped install just reads them, so that two installs never write
    /// the same object and none needs access to every credentials Secret).
    #[arg(long, env = "SSOPERATOR_CLUSTER_PROVIDER_CONFIGS", action = clap::ArgAction::Set)]
    pub cluster_provider_configs: Option<bool>,
    /// `/healthz` fails when the controllers' heartbeat (beaten every second by the task that runs
    /// them, or by the standby's election loop) or the oldest reconcile in flight is older than this.
    #[arg(long, env = "SSOPERATOR_LIVENESS_TIMEOUT", default_value = "5m", value_parser = parse_duration)]
    pub liveness_timeout: Duration,
    /// Client-side requests per second per provider account when its ProviderConfig sets no rateLimit.
    #[arg(long, env = "SSOPERATOR_DEFAULT_RATE", default_value_t = 5)]
    pub default_rate: u32,
    /// Speak HTTP/2 to the API server where it offers it, as client-go does: the watches (five
    /// per watched namespace) share a few connections instead of holding one each. Off, or with
    /// a proxy in the kubeconfig: kube's HTTP/1.1 client.
    #[arg(long, env = "SSOPERATOR_API_SERVER_HTTP2", default_value_t = true, action = clap::ArgAction::Set)]
    pub api_server_http2: bool,
    /// PEM file of one or more CA certificates that provider endpoints may also chain to (a TLS
    /// proxy or a private endpoint); added to the built-in webpki roots, which stay trusted.
    /// Proxies: provider calls honour `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`.
    #[arg(long, env = "SSOPERATOR_PROVIDER_CA_BUNDLE")]
    pub provider_ca_bundle: Option<PathBuf>,
    /// Observe every provider and compute every plan, but never write to a provider (no create,
    /// update, delete or adoption): each would-be write is an Event (WouldCreate, WouldUpdate,
    /// WouldDelete, WouldAdopt), a condition and `status.plan`. For a first install on an
    /// account that already has connections. No finalizers are added.
    #[arg(long, env = "SSOPERATOR_DRY_RUN", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub dry_run: bool,
    /// Refuse writes that would lock administrators or a domain's users out (README, "Lockout
    /// guards") unless the resource's ssoperator.io/allow-lockout annotation names the plan.
    #[arg(long, env = "SSOPERATOR_LOCKOUT_GUARDS", default_value_t = true, action = clap::ArgAction::Set)]
    pub lockout_guards: bool,
    /// Condition CertificateExpiring (and a Warning Event) when an IdP certificate of an
    /// EnterpriseConnection expires within this time (e.g. 30d, 720h). A resource can set its own
    /// with the annotation ssoperator.io/certificate-expiry-warning.
    #[arg(long, env = "SSOPERATOR_CERTIFICATE_EXPIRY_WARNING", default_value = "30d", value_parser = parse_duration)]
    pub certificate_expiry_warning: Duration,
    /// How often the IdP metadata at spec.saml.idpMetadataUrl is fetched again to find a new
    /// signing certificate (at the first reconcile after this time has passed).
    #[arg(long, env = "SSOPERATOR_IDP_METADATA_REFRESH", default_value = "1h", value_parser = parse_duration)]
    pub idp_metadata_refresh: Duration,
    /// Fetch IdP metadata over plain http:// from any host (by default only https://, and http://
    /// to a loopback host).
    #[arg(long, env = "SSOPERATOR_IDP_METADATA_ALLOW_HTTP", default_value_t = false, action = clap::ArgAction::Set)]
    pub idp_metadata_allow_http: bool,
}

/// The flag that names the provider CA bundle, as errors and TLS failures quote it.
pub const CA_BUNDLE_FLAG: &str = "--provider-ca-bundle";

impl Config {
    /// The certificates of `--provider-ca-bundle` (none without it). An unreadable file, one
    /// without a certificate or with a broken one is an error that names the flag and the file.
    pub fn provider_roots(&self) -> Result<Vec<reqwest::Certificate>, String> {
        match &self.provider_ca_bundle {
            None => Ok(Vec::new()),
            Some(path) => load_ca_bundle(path),
        }
    }

    /// Defaults, as if no flag was given (for tests).
    pub fn defaults() -> Self {
        Self::parse_from(["ssoperator"])
    }

    /// Whether this operator verifies ClusterProviderConfigs and writes them (status, the in-use
    /// finalizer): `--cluster-provider-configs`, by default only when watching all namespaces.
    pub fn manages_cluster_provider_configs(&self) -> bool {
        self.cluster_provider_configs
            .unwrap_or(self.namespaces.is_empty())
    }
}

/// Reads a PEM bundle of CA certificates (see [`Config::provider_roots`]).
pub fn load_ca_bundle(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, String> {
    let shown = path.display();
    let pem = std::fs::read(path)
        .map_err(|e| format!("{CA_BUNDLE_FLAG} {shown}: cannot read the file: {e}"))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        format!("{CA_BUNDLE_FLAG} {shown}: not a PEM bundle of CA certificates: {e}")
    })?;
    if certs.is_empty() {
        return Err(format!(
            "{CA_BUNDLE_FLAG} {shown}: no certificate in the file (expected one or more PEM \
             blocks -----BEGIN CERTIFICATE-----)"
        ));
    }
    // reqwest checks the DER only when a client is built: build one now, so that a broken
    // certificate stops the operator at startup rather than failing every provider call.
    let mut builder = reqwest::Client::builder();
    for c in &certs {
        builder = builder.add_root_certificate(c.clone());
    }
    builder.build().map_err(|e| {
        let mut why = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            why = format!("{why}: {s}");
            src = s.source();
        }
        format!("{CA_BUNDLE_FLAG} {shown}: a certificate in the file is not valid: {why}")
    })?;
    Ok(certs)
}

/// Parses `90s`, `10m`, `1h`, `30d` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 30s, 10m, 1h"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => {
            return Err(format!(
                "invalid duration unit in {s:?}: use ms, s, m, h or d"
            ));
        }
    };
    if !(0.0..=31_536_000.0).contains(&secs) {
        return Err(format!("duration {s:?} out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("5 weeks").is_err());
    }

    fn bundle_error(contents: Option<&[u8]>) -> String {
        let dir = std::env::temp_dir().join(format!(
            "ssoperator-ca-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bundle.pem");
        if let Some(c) = contents {
            std::fs::write(&path, c).unwrap();
        }
        let config =
            Config::parse_from(["ssoperator", "--provider-ca-bundle", path.to_str().unwrap()]);
        let err = config.provider_roots().err().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(err.contains("--provider-ca-bundle"), "{err}");
        assert!(err.contains("bundle.pem"), "{err}");
        err
    }

    #[test]
    fn bad_ca_bundles_are_errors_naming_the_flag() {
        let missing = bundle_error(None);
        assert!(missing.contains("cannot read"), "{missing}");
        let empty = bundle_error(Some(b"just some text\n"));
        assert!(empty.contains("no certificate"), "{empty}");
        let broken = bundle_error(Some(
            b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        ));
        assert!(
            broken.contains("not valid") || broken.contains("not a PEM"),
            "{broken}"
        );
        assert!(Config::defaults().provider_roots().unwrap().is_empty());
    }
}
