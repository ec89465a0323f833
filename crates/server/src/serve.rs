//! Running the service: bind, serve, stop gracefully.

use crate::config::Settings;
use crate::{demo, wiring, workers};
use boxoffice_core::memory::SystemClock;
use boxoffice_core::ports::Clock;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves until SIGINT/SIGTERM, then lets in-flight requests finish.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let service = wiring::build(&settings, clock.clone()).await?;
    let app = service.app.clone();
    if settings.demo.seed {
        // Demo data is a convenience: failing to seed (Redis down at start,
        // say) must not keep the service from starting.
        match demo::seed_if_empty(&app, clock.as_ref()).await {
            Ok(0) => {}
            Ok(seeded) => tracing::info!(concerts = seeded, "seeded demo data"),
            Err(err) => tracing::warn!(error = format!("{err:#}"), "demo data not seeded"),
        }
    }
    let shutdown = CancellationToken::new();
    let mut background = workers::spawn(&service, &settings, &shutdown)?;
    let router = boxoffice_http::router(wiring::api_state(&settings, app));
    let listener = TcpListener::bind(&settings.server.listen).await?;
    tracing::info!(address = %listener.local_addr()?, database = %settings.database.url, "boxoffice is serving");

    let stop = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        stop.cancel();
    });
    let grace = Duration::from_secs(settings.server.shutdown_grace_secs);
    let server = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .into_future();
    let deadline = async {
        shutdown.cancelled().await;
        tokio::time::sleep(grace).await;
    };
    // In-flight requests get `grace` after the signal to finish.
    tokio::select! {
        served = server => served?,
        () = deadline => tracing::warn!("grace period over; dropping unfinished requests"),
    }
    // Then the workers get `grace` to finish their current step.
    let drained = tokio::time::timeout(grace, async {
        while background.join_next().await.is_some() {}
    });
    if drained.await.is_err() {
        tracing::warn!("grace period over; stopping background work mid-step");
    }
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
