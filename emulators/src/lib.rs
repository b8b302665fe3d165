//! Faithful in-memory emulators of the five provider APIs, for tests and for trying ssoperator
//! without a provider account. Each one is an axum router over its own state plus the shared
//! [`EmulatorCore`]: credential checks are per provider; call counting, fault injection and the
//! provider-style rate limit are shared middleware here.

pub mod atlas;
pub mod auth0;
pub mod clerk;
pub mod contract;
pub mod demo;
mod emulator_core;
mod faults;
pub mod loginradius;
pub mod qovery;
mod ratelimit;

use std::net::SocketAddr;

use axum::Router;

pub use emulator_core::{Dialect, EmulatorCore, shared_layer, with_core};
pub use faults::Faults;
pub use ratelimit::{Bucket, WindowLimit};

/// A running emulator: its address and a handle that stops it when dropped.
pub struct Running {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `router` on `addr` (use port 0 for a free loopback port) in the background.
pub async fn serve(router: Router, addr: SocketAddr) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "emulator stopped");
        }
    });
    Ok(Running { addr, task })
}

/// A fresh id of `len` lower-case hex digits.
pub fn hex_id(len: usize) -> String {
    (0..len)
        .map(|_| char::from_digit(rand::random_range(0..16u32), 16).unwrap_or('0'))
        .collect()
}

/// A fresh id of `len` base62 characters.
pub fn base62_id(len: usize) -> String {
    const CHARS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    (0..len)
        .map(|_| CHARS[rand::random_range(0..CHARS.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {

    /// An emulator that shared the operator's wire types would share its mistakes, and no test
    /// could see them: this crate must not depend on the operator crate, by name or by path.
    #[test]
    fn emulators_do_not_depend_on_the_operator_crate() {
        let manifest = include_str!("../Cargo.toml");
        let sources = [
            include_str!("lib.rs"),
            include_str!("emulator_core.rs"),
            include_str!("faults.rs"),
            include_str!("ratelimit.rs"),
            include_str!("main.rs"),
            include_str!("atlas/mod.rs"),
            include_str!("atlas/routes.rs"),
            include_str!("atlas/state.rs"),
            include_str!("atlas/tests.rs"),
            include_str!("atlas/validation.rs"),
            include_str!("atlas/wire.rs"),
            include_str!("auth0/mod.rs"),
            include_str!("auth0/routes.rs"),
            include_str!("auth0/state.rs"),
            include_str!("auth0/tests.rs"),
            include_str!("auth0/validation.rs"),
            include_str!("auth0/wire.rs"),
            include_str!("clerk/mod.rs"),
            include_str!("clerk/routes.rs"),
            include_str!("clerk/state.rs"),
            include_str!("clerk/validation.rs"),
            include_str!("clerk/wire.rs"),
            include_str!("demo.rs"),
            include_str!("loginradius/mod.rs"),
            include_str!("loginradius/routes.rs"),
            include_str!("loginradius/state.rs"),
            include_str!("loginradius/tests.rs"),
            include_str!("loginradius/validation.rs"),
            include_str!("loginradius/wire.rs"),
            include_str!("qovery/mod.rs"),
            include_str!("qovery/routes.rs"),
            include_str!("qovery/state.rs"),
            include_str!("qovery/tests.rs"),
            include_str!("qovery/validation.rs"),
            include_str!("qovery/wire.rs"),
        ];
        for line in manifest.lines().map(str::trim) {
            let depends = line.starts_with("ssoperator =")
                || line.starts_with("ssoperator.")
                || line.contains("path = \"..\"")
                || line.contains("path = \"../\"");
            assert!(
                !depends,
                "emulators/Cargo.toml depends on the operator: {line}"
            );
        }
        let operator_crate = ["ssoperator", "::"].concat();
        for source in sources {
            assert!(
                !source.contains(&operator_crate),
                "an emulator refers to the operator crate"
            );
        }
    }
}
