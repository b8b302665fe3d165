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
        // Every source file of the crate, however its folders grow.
        let mut sources = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    sources.push((
                        path.display().to_string(),
                        std::fs::read_to_string(&path).unwrap(),
                    ));
                }
            }
        }
        assert!(
            sources.len() > 30,
            "found only {} source files",
            sources.len()
        );
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
        for (path, source) in &sources {
            assert!(
                !source.contains(&operator_crate),
                "{path} refers to the operator crate"
            );
        }
    }
}
