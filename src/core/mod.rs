//! The pure core: desired state, normalisation, diff and conditions. No I/O here.
pub mod cel;
pub mod certificates;
pub mod conditions;
pub mod desired;
pub mod diff;
pub mod export;
pub mod lockout;
pub mod normalize;
pub mod plan;
pub mod reason;
pub mod redact;
pub mod validate;
