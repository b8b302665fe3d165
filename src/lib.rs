//! ssoperator: keeps single-sign-on configuration at SaaS providers in step with custom resources.
pub mod core;
pub mod crd;
pub mod emulator;
pub mod provider;
