//! Consumer loops: one consumer group member reading its [`Subscription`]
//! and handing each event to a use case's single step. An event is
//! committed only once settled, so stopping a loop at any point (shutdown,
//! crash) loses nothing: the group gets the uncommitted event again, and
//! every step is idempotent (the data-platform sender through its ledger,
//! the line because entering twice changes nothing).
//!
//! - [`forward_to_platform`]: confirmed reservations to the data platform,
//!   with retries, backoff and dead letters.
//! - [`admit_queue_entries`]: queue entries into their concerts' lines, in
//!   topic order.

use boxoffice_core::ports::{Received, Subscription};
use boxoffice_core::use_cases::{App, DeliveryStep};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long to wait after the ledger, the waiting room or the subscription failed.
const TROUBLE_WAIT: Duration = Duration::from_secs(1);

/// Sleeps, or returns false at once if `shutdown` fires first.
async fn pause(shutdown: &CancellationToken, wait: Duration) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => false,
        () = tokio::time::sleep(wait) => true,
    }
}

/// What a consumer group does with each event.
#[derive(Debug, Clone, Copy)]
enum Step {
    DeliverToPlatform,
    EnterLine,
}

/// Receives, settles and commits events until `shutdown`.
async fn consume(
    app: App,
    step: Step,
    mut subscription: Box<dyn Subscription>,
    idle_wait: Duration,
    shutdown: &CancellationToken,
) {
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => return,
            next = subscription.next() => next,
        };
        let received = match next {
            Ok(Some(received)) => received,
            Ok(None) => {
                if pause(shutdown, idle_wait).await {
                    continue;
                }
                return;
            }
            Err(err) => {
                tracing::warn!(
                    error = format!("{err:#}"),
                    "consumer could not receive; retrying"
                );
                if pause(shutdown, TROUBLE_WAIT).await {
                    continue;
                }
                return;
            }
        };
        let settled = match step {
            Step::DeliverToPlatform => deliver(&app, &received, shutdown).await,
            Step::EnterLine => enter_line(&app, &received, shutdown).await,
        };
        if !settled {
            // Shut down first: the event stays uncommitted.
            return;
        }
        if let Err(err) = subscription.commit(&received).await {
            // Processed already; the repeat this causes changes nothing.
            tracing::warn!(
                error = format!("{err:#}"),
                "could not commit a consumed event"
            );
        }
    }
}

/// Forwards events to the data platform until `shutdown`.
pub async fn forward_to_platform(
    app: App,
    subscription: Box<dyn Subscription>,
    idle_wait: Duration,
    shutdown: CancellationToken,
) {
    consume(
        app,
        Step::DeliverToPlatform,
        subscription,
        idle_wait,
        &shutdown,
    )
    .await;
}

/// Attempts the delivery until it settles; false if shut down first.
async fn deliver(app: &App, received: &Received, shutdown: &CancellationToken) -> bool {
    let mut attempt = 1;
    loop {
        let step = app.deliver_to_platform_once(&received.event, attempt).await;
        if let Ok(step) = &step {
            let outcome = match step {
                DeliveryStep::Delivered => "delivered",
                DeliveryStep::Skipped => "skipped",
                DeliveryStep::RetryAfter(_) => "retried",
                DeliveryStep::DeadLettered => "dead_lettered",
                DeliveryStep::Paused(_) => "paused",
            };
            metrics::counter!("boxoffice_platform_deliveries_total", "outcome" => outcome)
                .increment(1);
        }
        match step {
            Ok(DeliveryStep::RetryAfter(ms)) => {
                attempt += 1;
                if !pause(shutdown, Duration::from_millis(ms)).await {
                    return false;
                }
            }
            // The platform is down: the same attempt, once it answers.
            Ok(DeliveryStep::Paused(ms)) => {
                if !pause(shutdown, Duration::from_millis(ms)).await {
                    return false;
                }
            }
            Ok(DeliveryStep::Delivered | DeliveryStep::Skipped | DeliveryStep::DeadLettered) => {
                return true;
            }
            Err(err) => {
                tracing::warn!(
                    event = %received.event.id,
                    error = format!("{err:#}"),
                    "delivery bookkeeping failed; retrying"
                );
                if !pause(shutdown, TROUBLE_WAIT).await {
                    return false;
                }
            }
        }
    }
}

/// Places queue entries in line until `shutdown`. An entry that cannot be
/// placed (the waiting room is down) is retried, never skipped: skipping
/// would let later entries overtake it.
pub async fn admit_queue_entries(
    app: App,
    subscription: Box<dyn Subscription>,
    idle_wait: Duration,
    shutdown: CancellationToken,
) {
    consume(app, Step::EnterLine, subscription, idle_wait, &shutdown).await;
}

/// Places one entry, retrying while the waiting room fails; false if shut down first.
async fn enter_line(app: &App, received: &Received, shutdown: &CancellationToken) -> bool {
    loop {
        match app.enter_line_once(&received.event).await {
            Ok(()) => return true,
            Err(err) => {
                tracing::warn!(
                    event = %received.event.id,
                    error = format!("{err:#}"),
                    "queue entry not placed; retrying"
                );
                if !pause(shutdown, TROUBLE_WAIT).await {
                    return false;
                }
            }
        }
    }
}
