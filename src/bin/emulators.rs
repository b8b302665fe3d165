//! Runs the five provider emulators, seeded to match `examples/`, until Ctrl-C:
//! `cargo run --bin emulators -- --env-file /tmp/emulators.env`.
//! Prints each base URL; `GET /snapshot` and `GET /writes` on the control address show what the
//! emulators hold and how many writes each received.
use std::{net::IpAddr, path::PathBuf, sync::Arc};

use axum::{Json, Router, routing::get};
use clap::Parser;
use ssoperator::emulator::demo::DemoEmulators;

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
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let emulators = Arc::new(DemoEmulators::start(args.host).await?);
    let snapshot = {
        let e = emulators.clone();
        move || async move { Json(e.snapshot()) }
    };
    let writes = {
        let e = emulators.clone();
        move || async move { Json(e.writes()) }
    };
    let control = Router::new()
        .route("/snapshot", get(snapshot))
        .route("/writes", get(writes));
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
