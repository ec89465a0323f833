//! Relaying the outbox: events committed with their change are claimed,
//! handed to the event bus, then marked published. At least once: an event
//! whose hand-over failed goes back unpublished and is relayed again on a
//! later step. Any number of relays (one per instance) may run at once:
//! claims keep them from relaying the same event, and only the oldest
//! unpublished event of an aggregate can be claimed, so each aggregate's
//! events leave in the order they were written.

use super::App;
use crate::ports::OutboxBacklog;

/// The outbox backlog and its age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxLag {
    pub backlog: OutboxBacklog,
    /// How long the oldest unpublished event has waited; 0 when none waits.
    pub lag_ms: u64,
}

/// Longer than a relay step should take; a crashed relay's claims lapse after it.
const CLAIM_LEASE_MS: i64 = 30_000;

impl App {
    /// Relays up to `limit` unpublished events; stops at the first failure
    /// (a bus that fails once is likely down), or when half the claim's
    /// lease is spent, and gives the rest back.
    /// Returns how many were published.
    pub async fn relay_outbox_once(&self, limit: u32) -> anyhow::Result<usize> {
        let now = self.now();
        let events = self
            .store()
            .claim_unpublished(now, now.plus_millis(CLAIM_LEASE_MS), limit)
            .await?;
        let mut published = Vec::with_capacity(events.len());
        let mut failure = None;
        for event in &events {
            if self.now().as_millis() - now.as_millis() > CLAIM_LEASE_MS / 2 {
                // Leave the rest before the claims could lapse under us (one
                // publish takes at most kafka.delivery_timeout_ms, <= 10 s).
                break;
            }
            match self.adapters.bus.publish(event).await {
                Ok(()) => published.push(event.id),
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
        }
        if !published.is_empty() {
            self.store().mark_published(&published, self.now()).await?;
        }
        let unsent: Vec<_> = events[published.len()..].iter().map(|e| e.id).collect();
        if !unsent.is_empty()
            && let Err(release) = self.store().release_claims(&unsent).await
        {
            // The claims lapse with their lease instead.
            tracing::warn!(error = %release, "could not release outbox claims");
        }
        match failure {
            Some(err) => Err(err.context("relaying the outbox")),
            None => Ok(published.len()),
        }
    }

    /// The relay's backlog, for metrics: how many events wait and the age
    /// of the oldest (the outbox lag).
    pub async fn outbox_lag(&self) -> anyhow::Result<OutboxLag> {
        let backlog = self.store().outbox_backlog().await?;
        let lag_ms = backlog.oldest_created_at.map_or(0, |oldest| {
            u64::try_from(self.now().as_millis() - oldest.as_millis()).unwrap_or(0)
        });
        Ok(OutboxLag { backlog, lag_ms })
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestApp, user};

    #[tokio::test]
    async fn relayed_events_are_published_once_and_leave_the_backlog() {
        let t = TestApp::new().await;
        t.charge(user(1), 10_000).await;
        t.charge(user(2), 10_000).await;
        t.clock.advance_millis(1_500);
        let lag = t.app.outbox_lag().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lag.backlog.unpublished, 2);
        assert_eq!(lag.lag_ms, 1_500);
        assert_eq!(t.app.relay_outbox_once(10).await.ok(), Some(2));
        assert_eq!(t.app.relay_outbox_once(10).await.ok(), Some(0));
        let lag = t.app.outbox_lag().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lag.backlog.unpublished, 0);
        assert_eq!(lag.lag_ms, 0);
    }
}
