//! Runs the five provider emulators, seeded to match `examples/`, until Ctrl-C:
//! `cargo run --bin emulators -- --env-file /tmp/emulators.env`.
//! Prints each base URL; on the control address `GET /snapshot` and `GET /writes` show what the
//! emulators hold and how many writes each received, `GET /calls` the calls per provider and
//! operation (`{"clerk": {"POST /v1/enterprise_connections": 3, ...}, ...}`), `GET /rate-limited`
//! how many requests each answered 429, `GET /contract-violations` what each saw that its
//! provider's description does not allow, and `POST /reset-calls` sets both counts to zero.
//! `--clerk-rate-limit production` makes the Clerk emulator enforce Clerk's published limit.
use std::{collections::BTreeMap, net::IpAddr, path::PathBuf, sync::Arc};

use axum::{
    Json, Router,
    routing::{get, post},
};
use clap::Parser;
use ssoperator_emulators::{
    WindowLimit,
    demo::{DemoEmulators, examples_with_endpoints},
};

#[derive(Parser)]
#[command(about = "The five provider emulators, seeded to match examples/")]
struct Args {
    /// Address the emulators listen on (each on a free port).
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port of the control endpoint (`/snapshot`, `/writes`); 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    control_port: u16,
    /// Also write `<PROVIDER>_URL=...` and `CONTROL_URL=...` lines to this file once listening.
    #[arg(long)]
    env_file: Option<PathBuf>,
    /// With --manifest: the examples directory whose documents are written there.
    #[arg(long, default_value = "examples")]
    examples: PathBuf,
    /// Write the examples to this file, each ProviderConfig's `spec.endpoint` set to its emulator.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// Clerk's Backend API limit per instance, answered with 429 and `Retry-After` as Clerk does:
    /// `development` (100 requests / 10 s), `production` (1000 / 10 s), `none`, or
    /// `<requests>/<seconds>`.
    #[arg(long, default_value = "none", value_parser = parse_clerk_limit)]
    clerk_rate_limit: Limit,
}

/// A parsed `--clerk-rate-limit` (`None` for `none`); a newtype so that clap does not take the
/// `Option` for an optional flag.
#[derive(Clone, Copy, Debug)]
struct Limit(Option<WindowLimit>);

fn parse_clerk_limit(s: &str) -> Result<Limit, String> {
    WindowLimit::parse(s, &WindowLimit::CLERK_PRESETS).map(Limit)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let emulators = Arc::new(DemoEmulators::start(args.host).await?);
    emulators
        .clerk
        .core()
        .set_window_limit(args.clerk_rate_limit.0);
    let snapshot = {
        let e = emulators.clone();
        move || async move { Json(e.snapshot()) }
    };
    let writes = {
        let e = emulators.clone();
        move || async move { Json(e.writes()) }
    };
    let calls = {
        let e = emulators.clone();
        move || async move {
            let calls: BTreeMap<_, _> = e
                .cores()
                .into_iter()
                .map(|(provider, core)| (provider, core.calls()))
                .collect();
            Json(calls)
        }
    };
    let rate_limited = {
        let e = emulators.clone();
        move || async move {
            let counts: BTreeMap<_, _> = e
                .cores()
                .into_iter()
                .map(|(provider, core)| (provider, core.rate_limited_calls()))
                .collect();
            Json(counts)
        }
    };
    let reset_calls = {
        let e = emulators.clone();
        move || async move {
            for (_, core) in e.cores() {
                core.reset_calls();
            }
            axum::http::StatusCode::NO_CONTENT
        }
    };
    let violations = {
        let e = emulators.clone();
        move || async move { Json(e.contract_violations()) }
    };
    let control = Router::new()
        .route("/snapshot", get(snapshot))
        .route("/writes", get(writes))
        .route("/calls", get(calls))
        .route("/rate-limited", get(rate_limited))
        .route("/contract-violations", get(violations))
        .route("/reset-calls", post(reset_calls));
    let listener = tokio::net::TcpListener::bind((args.host, args.control_port)).await?;
    let control_url = format!("http://{}", listener.local_addr()?);

    let mut lines: Vec<String> = emulators
        .endpoints()
        .iter()
        .map(|(provider, url)| format!("{}_URL={url}", provider.to_uppercase()))
        .collect();
    lines.push(format!("CONTROL_URL={control_url}"));
    for line in &lines {
        println!("{line}");
    }
    if let Some(limit) = args.clerk_rate_limit.0 {
        eprintln!("clerk: enforcing {limit} per instance (429 with Retry-After)");
    }
    if let Some(path) = &args.manifest {
        let docs = examples_with_endpoints(&args.examples, emulators.endpoints())?;
        let mut yaml = String::new();
        for doc in &docs {
            yaml.push_str("---\n");
            yaml.push_str(&serde_yaml::to_string(doc)?);
        }
        std::fs::write(path, yaml)?;
    }
    if let Some(path) = &args.env_file {
        // Written whole and renamed, so that a reader never sees half a file.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, lines.join("\n") + "\n")?;
        std::fs::rename(&tmp, path)?;
    }
    axum::serve(listener, control)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
