//! Background work: admission rounds, the hold sweeper, the refund round
//! of called-off dates, the waiting lists' offer round, the outbox relay,
//! the revocation feed of admission passes, the JWKS refresh,
//! the queue-entry consumer group when tokens enter the line through Kafka,
//! and the data-platform consumer group when a platform is configured. Each loop
//! wraps a single use-case step and stops on shutdown; a failed step is
//! logged and retried on the next tick.

use crate::config::{QueueEntry, Settings};
use crate::consumers;
use crate::wiring::Service;
use boxoffice_auth::KeyRing;
use boxoffice_core::use_cases::App;
use boxoffice_http::Limits;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How often the admission loop looks for due rounds.
const ADMISSION_TICK: Duration = Duration::from_millis(250);

/// Reservations the refund round refunds a tick, each its own transaction.
const REFUND_BATCH: u32 = 500;

/// How often the offer round hands seats that came back to waiting lists,
/// and how many dates (and settled offers) it takes a tick.
const OFFER_TICK: Duration = Duration::from_secs(1);
const OFFER_BATCH: u32 = 200;

/// Starts every worker; they stop when `shutdown` is cancelled.
pub fn spawn(
    service: &Service,
    settings: &Settings,
    shutdown: &CancellationToken,
) -> anyhow::Result<JoinSet<()>> {
    let app = &service.app;
    let mut workers = JoinSet::new();
    // Each concert's rounds follow its own interval (claimed once per
    // interval cluster-wide); the loop only looks often enough to start
    // each round within a quarter of a second of its time.
    let admit_every = ADMISSION_TICK;
    let sweep_every = Duration::from_secs(settings.holds.sweep_interval_secs);
    let relay_every = Duration::from_millis(settings.outbox.relay_interval_ms);
    let relay_batch = settings.outbox.relay_batch;

    let a = app.clone();
    workers.spawn(every(
        "admission",
        admit_every,
        shutdown.clone(),
        move || {
            let a = a.clone();
            async move {
                for (concert, admitted) in a.activate_batch_if_due().await? {
                    metrics::histogram!(
                        "boxoffice_room_round_admitted",
                        "concert" => concert.to_string()
                    )
                    .record(admitted as f64);
                }
                Ok(())
            }
        },
    ));
    let a = app.clone();
    workers.spawn(every(
        "hold sweeper",
        sweep_every,
        shutdown.clone(),
        move || {
            let a = a.clone();
            async move {
                let released = a.release_expired_holds_once(1_000).await?;
                metrics::counter!("boxoffice_holds_ended_total", "how" => "expired")
                    .increment(released);
                Ok(())
            }
        },
    ));
    // Called-off dates' refunds, a batch a tick until none is left; the
    // called-off mark is stored, so a restart carries on where it stopped.
    let a = app.clone();
    workers.spawn(every(
        "refund round",
        sweep_every,
        shutdown.clone(),
        move || {
            let a = a.clone();
            async move {
                let refunded = a.refund_called_off_once(REFUND_BATCH).await?;
                metrics::counter!("boxoffice_organiser_refunds_total").increment(refunded);
                Ok(())
            }
        },
    ));
    // Seats that came back on dates with a waiting list go to its fans: an
    // offer passes on once it ends unpaid. The list and offers are stored,
    // so any instance's round carries on after another stops.
    let a = app.clone();
    workers.spawn(every(
        "offer round",
        OFFER_TICK,
        shutdown.clone(),
        move || {
            let a = a.clone();
            async move {
                let round = a.offer_returned_seats_once(OFFER_BATCH).await?;
                for (what, n) in [
                    ("offered", round.offered),
                    ("bought", round.bought),
                    ("lapsed", round.lapsed),
                ] {
                    metrics::counter!("boxoffice_waitlist_offers_total", "what" => what)
                        .increment(n);
                }
                Ok(())
            }
        },
    ));
    let a = app.clone();
    workers.spawn(every(
        "outbox relay",
        relay_every,
        shutdown.clone(),
        move || {
            let a = a.clone();
            async move {
                let relayed = a.relay_outbox_once(relay_batch).await?;
                metrics::histogram!("boxoffice_outbox_relay_batch_events").record(relayed as f64);
                Ok(())
            }
        },
    ));
    // Each interval's samples are claimed once cluster-wide; looking four
    // times an interval takes each within a quarter of it.
    let sample_every =
        Duration::from_millis((settings.console.sample_interval_secs * 1000 / 4).clamp(250, 5_000));
    let a = app.clone();
    workers.spawn(every(
        "sales sampler",
        sample_every,
        shutdown.clone(),
        move || {
            let a = a.clone();
            async move { a.sample_sales_if_due().await.map(drop) }
        },
    ));
    let streams = service.streams.clone();
    let stop = shutdown.clone();
    workers.spawn(async move {
        tokio::select! {
            () = streams.run() => {}
            () = stop.cancelled() => {}
        }
    });
    workers.spawn(revocation_feed(
        app.clone(),
        Duration::from_millis(settings.auth.pass_revocation_poll_ms),
        shutdown.clone(),
    ));
    if let Some(keys) = jwks_of(service) {
        workers.spawn(jwks_refresh(
            keys,
            Duration::from_secs(settings.auth.jwks_refresh_secs),
            shutdown.clone(),
        ));
    }
    if settings.queue.entry == QueueEntry::Kafka {
        workers.spawn(consumers::admit_queue_entries(
            app.clone(),
            service.feed.queue_entries()?,
            // A Kafka subscription already waits for records itself.
            Duration::ZERO,
            shutdown.clone(),
        ));
    }
    if !settings.dataplatform.url.is_empty() {
        workers.spawn(consumers::forward_to_platform(
            app.clone(),
            service.feed.data_platform()?,
            Duration::from_millis(settings.dataplatform.idle_poll_ms),
            shutdown.clone(),
        ));
    }
    Ok(workers)
}

/// Reads the revocation feed every `period`, so that a pass revoked on
/// another instance stops working here within it.
pub async fn revocation_feed(app: App, period: Duration, shutdown: CancellationToken) {
    every("revocation feed", period, shutdown, move || {
        let a = app.clone();
        async move { a.refresh_revocations_once().await.map(drop) }
    })
    .await;
}

/// The key ring to refresh, when keys come from a JWKS URL.
pub fn jwks_of(service: &Service) -> Option<Arc<KeyRing>> {
    service
        .auth
        .verifier
        .as_ref()
        .map(|v| v.keys().clone())
        .filter(|k| k.fetches_jwks())
}

/// Fetches the identity provider's JWKS again every `period` (keys it
/// rotated in are also fetched at once, when a token names them).
pub async fn jwks_refresh(keys: Arc<KeyRing>, period: Duration, shutdown: CancellationToken) {
    every("JWKS refresh", period, shutdown, move || {
        let keys = keys.clone();
        async move { keys.refresh().await.map(drop) }
    })
    .await;
}

/// Drops rate-limit state of clients back to a full budget, every minute.
pub async fn limits_housekeeping(limits: Arc<Limits>, shutdown: CancellationToken) {
    every(
        "rate-limit housekeeping",
        Duration::from_secs(60),
        shutdown,
        move || {
            limits.housekeep();
            async { Ok(()) }
        },
    )
    .await;
}

async fn every<F, Fut>(
    name: &'static str,
    period: Duration,
    shutdown: CancellationToken,
    mut step: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = ticks.tick() => {
                if let Err(err) = step().await {
                    tracing::warn!(worker = name, error = format!("{err:#}"), "background step failed; retrying next tick");
                }
            }
        }
    }
}
