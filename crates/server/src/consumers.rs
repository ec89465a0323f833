//! The consumer loop: one consumer group reading its [`Subscription`] and
//! forwarding each event to the data platform through the use case's
//! single step. An event is committed only once settled (delivered,
//! skipped or dead-lettered), so stopping the loop at any point (shutdown,
//! crash) loses nothing: the group gets the uncommitted event again and the
//! delivery ledger turns the repeat into a no-op.

use boxoffice_core::ports::{Received, Subscription};
use boxoffice_core::use_cases::{App, DeliveryStep};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long to wait after the ledger or the subscription failed.
const TROUBLE_WAIT: Duration = Duration::from_secs(1);

/// Sleeps, or returns false at once if `shutdown` fires first.
async fn pause(shutdown: &CancellationToken, wait: Duration) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => false,
        () = tokio::time::sleep(wait) => true,
    }
}

/// Forwards events to the data platform until `shutdown`.
pub async fn forward_to_platform(
    app: App,
    mut subscription: Box<dyn Subscription>,
    idle_wait: Duration,
    shutdown: CancellationToken,
) {
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => return,
            next = subscription.next() => next,
        };
        let received = match next {
            Ok(Some(received)) => received,
            Ok(None) => {
                if pause(&shutdown, idle_wait).await {
                    continue;
                }
                return;
            }
            Err(err) => {
                tracing::warn!(
                    error = format!("{err:#}"),
                    "consumer could not receive; retrying"
                );
                if pause(&shutdown, TROUBLE_WAIT).await {
                    continue;
                }
                return;
            }
        };
        if !settle(&app, &received, &shutdown).await {
            return;
        }
        if let Err(err) = subscription.commit(&received).await {
            // Delivered already; the repeat this causes is skipped by the ledger.
            tracing::warn!(
                error = format!("{err:#}"),
                "could not commit a consumed event"
            );
        }
    }
}

/// Attempts the delivery until it settles; false if shut down first.
async fn settle(app: &App, received: &Received, shutdown: &CancellationToken) -> bool {
    let mut attempt = 1;
    loop {
        match app.deliver_to_platform_once(&received.event, attempt).await {
            Ok(DeliveryStep::RetryAfter(ms)) => {
                attempt += 1;
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
