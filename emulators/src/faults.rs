//! The faults an emulator injects.

use std::time::Duration;

/// Faults the emulator injects, switchable at run time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    /// Share of requests (0.0 to 1.0) answered with a 5xx in the provider's error format.
    pub error_rate: f64,
    /// Extra latency added to every request.
    pub latency: Duration,
    /// Share of requests whose connection is dropped before a response.
    pub drop_rate: f64,
    /// The next N requests get a 429 (a rate-limit storm).
    pub rate_limit_storm: u32,
}
