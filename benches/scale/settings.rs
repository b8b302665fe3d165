//! The benchmark's settings, from the environment (see the crate documentation).

use super::*;

/// The operator binary: cargo's build of this target, or `SCALE_OPERATOR_BINARY` (e.g. the image's
/// static musl binary from scripts/build-static.sh).
pub(crate) fn operator_binary() -> String {
    env("SCALE_OPERATOR_BINARY").unwrap_or_else(|| env!("CARGO_BIN_EXE_ssoperator").to_string())
}

pub(crate) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

pub(crate) fn env_parse<T: FromStr>(name: &str) -> Option<T> {
    env(name).map(|v| {
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not valid"))
    })
}

pub(crate) struct Settings {
    pub(crate) n: usize,
    pub(crate) namespaces: usize,
    pub(crate) limit: Option<WindowLimit>,
    pub(crate) limit_name: String,
    pub(crate) resync: Duration,
    pub(crate) timeout: Option<Duration>,
    pub(crate) operator_args: Vec<String>,
    pub(crate) operator_log: String,
    pub(crate) operator_wrapper: Vec<String>,
    /// How many IdP hosts serve the tenants' metadata (`SCALE_IDP_HOSTS`, default 1): tenant i
    /// fetches from host i mod hosts, each its own loopback address, as tenants' own IdPs are.
    pub(crate) idp_hosts: usize,
}

/// Loopback addresses 127.1.x.y, y in 1..=250.
pub(crate) const MAX_IDP_HOSTS: usize = 250 * 256;

impl Settings {
    pub(crate) fn from_env() -> Self {
        let bench = std::env::args().any(|a| a == "--bench");
        let n: Option<usize> = env_parse("SCALE_N");
        let smoke = !bench && n.is_none();
        let limit_name = env("SCALE_LIMIT")
            .unwrap_or_else(|| if smoke { "none" } else { "production" }.to_string());
        let limit = WindowLimit::parse(&limit_name, &WindowLimit::CLERK_PRESETS)
            .unwrap_or_else(|e| panic!("SCALE_LIMIT: {e}"));
        let resync = env("SCALE_RESYNC")
            .map(|v| parse_duration(&v).unwrap_or_else(|e| panic!("SCALE_RESYNC: {e}")))
            .unwrap_or(Duration::from_secs(if smoke { 5 } else { 60 }));
        let settings = Self {
            n: n.unwrap_or(if smoke { 20 } else { 1000 }),
            namespaces: env_parse("SCALE_NAMESPACES").unwrap_or(1),
            limit,
            limit_name,
            resync,
            timeout: env_parse::<u64>("SCALE_TIMEOUT").map(Duration::from_secs),
            operator_args: env("SCALE_OPERATOR_ARGS")
                .map(|v| v.split_whitespace().map(String::from).collect())
                .unwrap_or_default(),
            operator_log: env("SCALE_OPERATOR_LOG").unwrap_or_else(|| "warn".into()),
            operator_wrapper: env("SCALE_OPERATOR_WRAPPER")
                .map(|v| v.split_whitespace().map(String::from).collect())
                .unwrap_or_default(),
            idp_hosts: env_parse("SCALE_IDP_HOSTS").unwrap_or(1),
        };
        assert!(settings.n > 0, "SCALE_N must be at least 1");
        assert!(
            (1..=settings.n.min(MAX_IDP_HOSTS)).contains(&settings.idp_hosts),
            "SCALE_IDP_HOSTS must be between 1 and SCALE_N (at most {MAX_IDP_HOSTS})"
        );
        assert!(
            (1..=settings.n).contains(&settings.namespaces),
            "SCALE_NAMESPACES must be between 1 and SCALE_N"
        );
        assert!(!settings.resync.is_zero(), "SCALE_RESYNC must be positive");
        settings
    }

    /// The fewest provider calls that can converge: one create per resource and one list page
    /// per 500 (the check that no remote object of the same name exists).
    pub(crate) fn floor_calls(&self) -> usize {
        self.n + self.n.div_ceil(CLERK_PAGE)
    }

    /// Floor time at the limit's long-run rate: floor calls / (requests / window). The first
    /// window's burst could save up to one window (`burst_floor`); the ratio uses this one.
    pub(crate) fn floor(&self) -> Option<Duration> {
        self.limit
            .map(|l| Duration::from_secs_f64(self.floor_calls() as f64 / l.per_second()))
    }

    /// Floor time when the first `requests` calls go at once (the bucket's initial burst):
    /// (floor calls - requests) / rate.
    pub(crate) fn burst_floor(&self) -> Option<Duration> {
        self.limit.map(|l| {
            let after_burst = self.floor_calls().saturating_sub(l.requests as usize);
            Duration::from_secs_f64(after_burst as f64 / l.per_second())
        })
    }

    /// The operator's `spec.rateLimit`: the emulated limit's rate with its window as burst (the
    /// operator's gate then runs at 90 % of it), or the CRD's maximum without a limit.
    pub(crate) fn rate_limit(&self) -> (u32, u32) {
        match self.limit {
            Some(l) => (
                (l.per_second().floor() as u32).clamp(1, 1000),
                l.requests.clamp(1, 1000),
            ),
            None => (1000, 1000),
        }
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout.unwrap_or_else(|| {
            Duration::from_secs(180)
                + Duration::from_millis(50 * self.n as u64)
                + self.floor().unwrap_or_default() * 10
        })
    }
}
