//! The pure core: desired state, normalisation, diff and conditions. No I/O here.
pub mod certificates;
pub mod conditions;
pub mod desired;
pub mod diff;
pub mod normalize;
pub mod redact;
pub mod validate;
