//! ssoperator: keeps single-sign-on configuration at SaaS providers in step with custom resources.
//!
//! Layout: `crd` (the custom resources), `core` (pure: desired state, normalisation, diff, conditions),
//! `provider` (one trait, one module per SaaS), `emulator` (in-memory provider APIs for tests and demos),
//! `controller` (the reconcilers), and the operator's plumbing (`config`, `metrics`, `server`, `leader`).
pub mod config;
pub mod controller;
pub mod core;
pub mod crd;
pub mod emulator;
pub mod leader;
pub mod metrics;
pub mod provider;
pub mod server;
