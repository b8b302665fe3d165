//! The operator binary: flags -> logging -> metrics/health server -> leader election -> controllers.
//!
//! Exit codes: 0 after SIGTERM/SIGINT (the Lease is released first); 1 when leadership is lost
//! (no renewal within the renew deadline, or another replica took the Lease), when a controller
//! ends or panics, or on a startup error. Kubernetes restarts the container in each case.

use std::{
    process::ExitCode,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use clap::Parser;
use ssoperator::{
    config::Config,
    controller::{self, Guard},
    leader::{Fence, FenceLayer, LeaderElector},
    metrics::{Metrics, provider_writes, sum_samples},
    server::{self, Health, Heartbeat},
};
use tracing_subscriber::EnvFilter;

/// How long a graceful shutdown waits for the controllers before it gives the Lease up anyway.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    // Test builds only: FAILPOINTS=<point>=<action> turns named fault-injection points on.
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut config = Config::parse();
    // `ssoperator export|diff|validate`: the CLI, with its own exit codes (0, 1, 2).
    if let Some(command) = config.command.take() {
        // --provider-ca-bundle (before the subcommand) or SSOPERATOR_PROVIDER_CA_BUNDLE.
        let roots = match config.provider_roots() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("ssoperator: {e}");
                return ExitCode::from(ssoperator::cli::EXIT_ERROR);
            }
        };
        return runtime.block_on(ssoperator::cli::run(command, roots.into()));
    }
    let code = match runtime.block_on(run(config)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = %e, "ssoperator failed");
            eprintln!("ssoperator: {e}");
            ExitCode::FAILURE
        }
    };
    if code != ExitCode::SUCCESS {
        // Do not wait for tasks that are stuck (a blocked controller thread): leave at once.
        std::process::exit(1);
    }
    code
}

async fn run(mut config: Config) -> Result<ExitCode, Box<dyn std::error::Error>> {
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
    // A bad CA bundle stops the operator here, with the flag and the file named.
    config.provider_roots()?;

    let kube_config = kube::Config::infer().await?;
    // The elector's client writes the Lease while not leading; the controllers' client cannot
    // write anything unless the fence is open.
    let lease_client = kube::Client::try_from(kube_config.clone())?;
    let fence = if config.leader_elect {
        Fence::closed()
    } else {
        Fence::open()
    };
    let client = ssoperator::apiserver::builder(kube_config, config.api_server_http2)?
        .with_layer(&FenceLayer(fence.clone()))
        .build();
    let metrics = Arc::new(Metrics::default());
    let heartbeat = Heartbeat::default();
    let health = Health {
        metrics: metrics.clone(),
        ready: Arc::default(),
        heartbeat: heartbeat.clone(),
        liveness_timeout: config.liveness_timeout,
    };
    let addr = config.metrics_addr;
    let server_health = health.clone();
    tokio::spawn(async move {
        if let Err(e) = server::serve(addr, server_health).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });

    let mut elector = config.leader_elect.then(|| {
        LeaderElector::new(
            lease_client,
            &config.lease_namespace,
            &config.lease_name,
            &identity,
        )
    });
    let mut signal = std::pin::pin!(shutdown_signal());
    health.ready.store(true, Ordering::Relaxed);
    if let Some(e) = elector.as_mut() {
        tracing::info!(identity, "waiting for leadership");
        tokio::select! {
            _ = e.acquire(&fence, &heartbeat) => tracing::info!(identity, "became leader"),
            _ = &mut signal => return Ok(ExitCode::SUCCESS),
        }
    }

    // The leader (or the only replica, without leader election) from here until it stops.
    metrics.leader.set(1);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let guard = Guard {
        fence: fence.clone(),
        heartbeat: heartbeat.clone(),
    };
    let mut controllers = tokio::spawn(controller::run_guarded(
        client,
        config,
        metrics.clone(),
        guard,
        async {
            let _ = stop_rx.await;
        },
    ));
    let lost = async {
        match elector.as_mut() {
            Some(e) => e.hold(&fence).await,
            None => std::future::pending().await,
        }
    };
    enum Outcome {
        Signal,
        Lost(ssoperator::leader::Lost),
        Stopped(String),
    }
    let outcome = tokio::select! {
        _ = &mut signal => Outcome::Signal,
        why = lost => Outcome::Lost(why),
        ended = &mut controllers => Outcome::Stopped(match ended {
            Ok(Ok(())) => "the controllers returned".into(),
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("the controllers' task failed: {e}"),
        }),
    };
    metrics.leader.set(0);
    let text = metrics.render();
    let status_writes = sum_samples(&text, "ssoperator_status_writes_total");
    let provider_writes = provider_writes(&text);
    match outcome {
        Outcome::Signal => {
            tracing::info!("signal received; stopping the controllers");
            let _ = stop_tx.send(());
            if tokio::time::timeout(STOP_TIMEOUT, &mut controllers)
                .await
                .is_err()
            {
                controllers.abort();
            }
            fence.close();
            if let Some(e) = elector.as_mut() {
                e.release().await;
            }
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Lost(why) => {
            // The fence is closed already: nothing this process still runs can write.
            fence.close();
            controllers.abort();
            tracing::error!(
                identity,
                reason = %why,
                status_writes,
                provider_writes,
                "leadership lost; exiting so that only one replica writes"
            );
            Ok(ExitCode::FAILURE)
        }
        Outcome::Stopped(why) => {
            fence.close();
            controllers.abort();
            tracing::error!(
                identity,
                reason = %why,
                status_writes,
                provider_writes,
                "a controller stopped; exiting"
            );
            // Still the holder: hand the Lease over so that the standby takes over at once.
            if let Some(e) = elector.as_mut() {
                e.release().await;
            }
            Ok(ExitCode::FAILURE)
        }
    }
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
