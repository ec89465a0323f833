//! Running the service: bind, serve, stop gracefully.

use crate::config::Settings;
use crate::{demo, wiring, workers};
use axum::Router;
use boxoffice_core::memory::SystemClock;
use boxoffice_core::ports::Clock;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves `router` on `listener` with each connection's peer address known
/// (for per-IP limits), until `shutdown`.
pub async fn http(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await
}

/// Binds the address a setting names, or says which setting is wrong.
async fn bind(key: &str, address: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address).await.map_err(|err| {
        let problem = format!("= {address:?}: cannot listen there: {err}");
        let error = if err.kind() == std::io::ErrorKind::AddrInUse {
            crate::config::SettingError::unreachable(key, problem)
        } else {
            crate::config::SettingError::invalid(key, problem)
        };
        anyhow::Error::new(error)
    })
}

/// Serves until SIGINT/SIGTERM, then lets in-flight requests finish.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    // Listening first: a wrong address stops the service before it connects to anything.
    let listener = bind("server.listen", &settings.server.listen).await?;
    let admin_listener = if settings.server.admin_listen.is_empty() {
        None
    } else {
        Some(bind("server.admin_listen", &settings.server.admin_listen).await?)
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let service = wiring::build(&settings, clock.clone()).await?;
    let app = service.app.clone();
    if settings.auth.mode == crate::config::AuthModeSetting::TrustedHeader {
        tracing::warn!(
            "auth.mode = \"trusted_header\": fans are who Client-Id says; run behind a gateway \
             that authenticates every request, sets Client-Id and strips the client's own"
        );
    }
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
    let state = wiring::api_state(&settings, &service);
    let mut background = workers::spawn(&service, &settings, &shutdown)?;
    background.spawn(workers::limits_housekeeping(
        state.limits.clone(),
        shutdown.clone(),
    ));
    let (router, admin) = match admin_listener {
        None => (boxoffice_http::router(state), None),
        Some(admin_listener) => {
            tracing::info!(address = %admin_listener.local_addr()?, "admin API and /metrics are served here only");
            (
                boxoffice_http::public_router(state.clone()),
                Some((admin_listener, boxoffice_http::admin_router(state))),
            )
        }
    };
    tracing::info!(
        address = %listener.local_addr()?,
        database = %crate::config::mask_url_password(&settings.database.url),
        "boxoffice is serving"
    );
    if let Some((admin_listener, admin_router)) = admin {
        let stop = shutdown.clone();
        tokio::spawn(async move {
            if let Err(err) = http(admin_listener, admin_router, stop).await {
                tracing::error!(error = %err, "the admin listener stopped");
            }
        });
    }

    let stop = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        stop.cancel();
    });
    let grace = Duration::from_secs(settings.server.shutdown_grace_secs);
    let server = http(listener, router, shutdown.clone());
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
    // Last, the Kafka clients get `grace` to close: a consumer's last
    // commits and its leave from its group.
    drop((app, service));
    let still = tokio::task::spawn_blocking(move || boxoffice_kafka::finish_closing(grace)).await;
    if still.is_ok_and(|n| n > 0) {
        tracing::warn!("grace period over; Kafka clients still closing");
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
