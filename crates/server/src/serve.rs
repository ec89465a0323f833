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

/// How the listener treats connections: the timeouts and the cap
/// (`server.*`, docs in boxoffice.example.toml).
#[derive(Debug, Clone, Copy)]
pub struct Serving {
    /// A request's headers must have arrived this long after the
    /// connection began waiting for them (also the idle keep-alive limit).
    pub header_read_timeout: Duration,
    /// A request's body must have arrived this long after its headers.
    pub body_read_timeout: Duration,
    /// Connections open at once; past it, a connection still waiting for
    /// its first request's headers is closed to make room, and if there is
    /// none, the newcomer is answered 503 at once.
    pub max_connections: usize,
}

impl Serving {
    pub fn of(settings: &Settings) -> Self {
        let server = &settings.server;
        Self {
            header_read_timeout: Duration::from_millis(server.header_read_timeout_ms),
            body_read_timeout: Duration::from_millis(server.body_read_timeout_ms),
            max_connections: if server.max_connections == 0 {
                connections_for_open_files(open_file_limit())
            } else {
                server.max_connections as usize
            },
        }
    }
}

/// The soft limit on open files (`ulimit -n`), 1,024 when unknown.
fn open_file_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        })
        .unwrap_or(1_024)
}

/// `server.max_connections = 0`: three quarters of the open-file limit,
/// less 64 for the database, Redis, Kafka and files; at least 16.
pub fn connections_for_open_files(limit: u64) -> usize {
    usize::try_from((limit / 4 * 3).saturating_sub(64).max(16)).unwrap_or(usize::MAX)
}

/// The connections the cap counts, and those still waiting for their first
/// request, oldest first: the ones closed to make room.
#[derive(Debug, Default)]
struct Gate {
    open: std::sync::atomic::AtomicUsize,
    unproven: std::sync::Mutex<
        std::collections::VecDeque<(Arc<std::sync::atomic::AtomicBool>, CancellationToken)>,
    >,
}

impl Gate {
    /// Notes a new connection as unproven, dropping from the front those
    /// that sent a request or ended since.
    fn remember(&self, proven: Arc<std::sync::atomic::AtomicBool>, close: CancellationToken) {
        let mut unproven = self
            .unproven
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while unproven.front().is_some_and(|(proven, close)| {
            proven.load(std::sync::atomic::Ordering::Acquire) || close.is_cancelled()
        }) {
            unproven.pop_front();
        }
        unproven.push_back((proven, close));
    }

    /// Closes the oldest connection that has not sent a whole request's
    /// headers yet; false when every open connection has.
    fn evict_one(&self) -> bool {
        let mut unproven = self
            .unproven
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Some((proven, close)) = unproven.pop_front() {
            if !proven.load(std::sync::atomic::Ordering::Acquire) && !close.is_cancelled() {
                close.cancel();
                return true;
            }
        }
        false
    }
}

/// The answer to a connection past the cap, written before it is closed.
fn too_many_connections() -> Vec<u8> {
    let body = r#"{"code":"SERVICE_UNAVAILABLE","message":"too many connections; retry shortly"}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves `router` on `listener` with each connection's peer address known
/// (for per-IP limits), until `shutdown`; then lets the requests in flight
/// finish (the caller bounds how long).
///
/// HTTP/1.1, as axum::serve does, with what it lacks: a header-read
/// timeout (which also closes idle keep-alive connections), a body-read
/// timeout (408 `REQUEST_TIMEOUT`), and a cap on connections that closes
/// the slowest newcomers first, so that sockets that never finish a request
/// cannot keep others out.
pub async fn http(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    serving: Serving,
) -> std::io::Result<()> {
    use std::sync::atomic::Ordering;
    use tower::Service;
    let router = router.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        serving.body_read_timeout,
    ));
    let mut make = router.into_make_service_with_connect_info::<SocketAddr>();
    let gate = Arc::new(Gate::default());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(serving.header_read_timeout)
        .max_headers(boxoffice_http::head::PARSER_MAX_HEADERS);
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if gate.open.load(Ordering::Acquire) >= serving.max_connections && !gate.evict_one() {
            metrics::counter!("boxoffice_http_connections_refused_total").increment(1);
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let mut stream = stream;
                let _ = tokio::time::timeout(Duration::from_secs(1), async {
                    stream.write_all(&too_many_connections()).await?;
                    stream.shutdown().await
                })
                .await;
            });
            continue;
        }
        let _ = stream.set_nodelay(true);
        let Ok(service) = make.call(peer).await;
        let proven = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let close = CancellationToken::new();
        gate.open.fetch_add(1, Ordering::AcqRel);
        gate.remember(proven.clone(), close.clone());
        let first_request = proven.clone();
        let service = tower::ServiceExt::map_request(
            service,
            move |req: axum::http::Request<hyper::body::Incoming>| {
                first_request.store(true, Ordering::Release);
                req
            },
        );
        let connection = http1.serve_connection(
            hyper_util::rt::TokioIo::new(stream),
            hyper_util::service::TowerToHyperService::new(service),
        );
        let connection = graceful.watch(connection);
        let gate = gate.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = connection => {}
                () = close.cancelled() => {}
            }
            close.cancel();
            gate.open.fetch_sub(1, Ordering::AcqRel);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
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
    let serving = Serving::of(&settings);
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
            if let Err(err) = http(admin_listener, admin_router, stop, serving).await {
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
    let server = http(listener, router, shutdown.clone(), serving);
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
