//! ssoperator: keeps single-sign-on configuration at SaaS providers in step with custom resources.
//!
//! Layout: `crd` (the custom resources), `core` (pure: desired state, normalisation, diff, conditions),
//! `provider` (one trait, one module per SaaS), `controller` (the reconcilers), and the operator's
//! plumbing (`config`, `metrics`, `server`, `leader`). The provider emulators are a crate of their
//! own (`emulators/`), so that they never share the clients' wire types.
pub mod apiserver;
pub mod cli;
pub mod config;
pub mod controller;
pub mod core;
pub mod crd;
pub mod leader;
pub mod metrics;
pub mod provider;
pub mod server;
