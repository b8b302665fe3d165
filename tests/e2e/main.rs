//! End-to-end tests against a real kube-apiserver + etcd (see `support`).
//!
//! All e2e tests live in this one test binary so that they share one control plane:
//! `scripts/test.sh` runs them under `scripts/with-k8s.sh` (which sets `E2E_KUBECONFIG`); a plain
//! `cargo test --test e2e` starts its own control plane on first use.

// Test code: a panic with a message is how a test (or a fixture it needs) fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod apiserver;
mod canary;
mod certificates;
mod crds;
mod deletes;
mod demo;
mod export;
#[cfg(feature = "failpoints")]
mod faults;
mod forbidden;
mod idp;
mod install;
mod leader;
mod lifecycle;
mod loginradius;
mod mistakes;
mod monitoring;
mod operator;
mod outputs;
mod private_ca;
mod qovery;
mod ratelimit;
mod restart;
mod resync;
mod saas;
mod safety;
mod scale;
mod support;
mod tenancy;
mod transport;
mod waits;
mod writers;
