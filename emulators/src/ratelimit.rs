//! Providers' rate limits: a token bucket, and a published limit of requests per window.

use std::time::{Duration, Instant};

/// A token bucket as providers run them.
#[derive(Clone, Debug)]
pub struct Bucket {
    pub capacity: f64,
    pub per_second: f64,
    pub(crate) tokens: f64,
    pub(crate) last: Instant,
}

impl Bucket {
    pub fn new(capacity: u32, per_second: u32) -> Self {
        Self {
            capacity: capacity as f64,
            per_second: per_second as f64,
            tokens: capacity as f64,
            last: Instant::now(),
        }
    }

    /// Takes a token, or says how long until one is available.
    pub fn take(&mut self) -> Result<u32, Duration> {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.per_second)
            .min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(self.tokens as u32)
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) / self.per_second.max(0.001),
            ))
        }
    }
}

/// A provider's published request limit: at most `requests` per `window`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowLimit {
    pub requests: u32,
    pub window: Duration,
}

impl WindowLimit {
    /// Clerk's Backend API limit per instance (identified by its secret key) in development:
    /// 100 requests per 10 s, then 429 with `Retry-After`
    /// (<https://clerk.com/docs/guides/how-clerk-works/system-limits>).
    pub const CLERK_DEVELOPMENT: Self = Self {
        requests: 100,
        window: Duration::from_secs(10),
    };
    /// Clerk's Backend API limit per production instance: 1000 requests per 10 s.
    pub const CLERK_PRODUCTION: Self = Self {
        requests: 1000,
        window: Duration::from_secs(10),
    };
    /// The named Clerk limits that [`WindowLimit::parse`] accepts.
    pub const CLERK_PRESETS: [(&'static str, Self); 2] = [
        ("development", Self::CLERK_DEVELOPMENT),
        ("production", Self::CLERK_PRODUCTION),
    ];

    /// The long-run rate, requests per second.
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.window.as_secs_f64().max(0.001)
    }

    /// Parses one of `presets` by name, `none` (no limit) or `<requests>/<seconds>` (e.g.
    /// `100/10`, `100/10s`).
    pub fn parse(s: &str, presets: &[(&str, Self)]) -> Result<Option<Self>, String> {
        let s = s.trim();
        if s == "none" {
            return Ok(None);
        }
        if let Some((_, limit)) = presets.iter().find(|(name, _)| *name == s) {
            return Ok(Some(*limit));
        }
        let names: Vec<&str> = presets.iter().map(|(name, _)| *name).collect();
        let bad = || {
            format!(
                "invalid rate limit {s:?}: expected {}, none or <requests>/<seconds> (e.g. 100/10)",
                names.join(", ")
            )
        };
        let (requests, secs) = s.split_once('/').ok_or_else(bad)?;
        let requests: u32 = requests.trim().parse().map_err(|_| bad())?;
        let secs: f64 = secs
            .trim()
            .trim_end_matches('s')
            .parse()
            .map_err(|_| bad())?;
        if requests == 0 || !(0.001..=86_400.0).contains(&secs) {
            return Err(bad());
        }
        Ok(Some(Self {
            requests,
            window: Duration::from_secs_f64(secs),
        }))
    }
}

impl std::fmt::Display for WindowLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requests / {} s",
            self.requests,
            self.window.as_secs_f64()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refuses_when_empty_and_says_how_long() {
        let mut b = Bucket::new(2, 1);
        assert!(b.take().is_ok());
        assert!(b.take().is_ok());
        let wait = b.take().unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
    }

    #[test]
    fn window_limits_parse_by_name_or_ratio() {
        let clerk = &WindowLimit::CLERK_PRESETS;
        assert_eq!(
            WindowLimit::parse("development", clerk).unwrap(),
            Some(WindowLimit::CLERK_DEVELOPMENT)
        );
        assert_eq!(
            WindowLimit::parse("production", clerk).unwrap(),
            Some(WindowLimit::CLERK_PRODUCTION)
        );
        assert_eq!(WindowLimit::parse("none", clerk).unwrap(), None);
        let custom = WindowLimit::parse("50/5s", clerk).unwrap().unwrap();
        assert_eq!(custom.requests, 50);
        assert_eq!(custom.per_second(), 10.0);
        for bad in ["", "fast", "0/10", "10/0", "10/x", "-1/10"] {
            assert!(WindowLimit::parse(bad, clerk).is_err(), "{bad}");
        }
    }
}
