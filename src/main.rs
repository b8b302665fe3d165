//! The operator binary: flags -> logging -> metrics/health server -> leader election -> controllers.

use std::sync::{Arc, atomic::Ordering};

use clap::Parser;
use ssoperator::{
    config::Config,
    controller,
    leader::LeaderElector,
    metrics::Metrics,
    server::{self, Health},
};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Test builds only: FAILPOINTS=<point>=<action> turns named fault-injection points on.
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    let mut config = Config::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if config.log_format == "json" {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let identity = config.identity.clone().unwrap_or_else(|| {
        std::env::var("HOSTNAME").unwrap_or_else(|_| format!("ssoperator-{}", std::process::id()))
    });
    config.identity = Some(identity.clone());

    let client = kube::Client::try_default().await?;
    let metrics = Arc::new(Metrics::default());
    let health = Health {
        metrics: metrics.clone(),
        ready: Arc::default(),
    };
    let addr = config.metrics_addr;
    let server_health = health.clone();
    tokio::spawn(async move {
        if let Err(e) = server::serve(addr, server_health).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });

    let elector = config.leader_elect.then(|| {
        LeaderElector::new(
            client.clone(),
            &config.lease_namespace,
            &config.lease_name,
            &identity,
        )
    });
    health.ready.store(true, Ordering::Relaxed);
    if let Some(e) = &elector {
        tracing::info!(identity, "waiting for leadership");
        tokio::select! {
            _ = e.acquire() => tracing::info!(identity, "became leader"),
            _ = shutdown_signal() => return Ok(()),
        }
    }
    let lost = async {
        match &elector {
            Some(e) => e.hold().await,
            None => std::future::pending().await,
        }
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(controller::run(client, config, metrics, async {
        let _ = stop_rx.await;
    }));
    tokio::select! {
        _ = shutdown_signal() => tracing::info!("signal received"),
        _ = lost => tracing::error!("leadership lost; stopping so that only one replica writes"),
    }
    let _ = stop_tx.send(());
    let _ = run.await;
    if let Some(e) = &elector {
        e.release().await;
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
