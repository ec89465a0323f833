//! Relaying the outbox: events committed with their change are handed to the
//! event bus, then marked published. At least once: an event whose hand-over
//! failed stays unpublished and is relayed again on the next step, in order.

use super::App;

const RELAY_LOCK: &str = "outbox-relay";
/// Longer than any relay step should take; a crashed relay's lease lapses after it.
const RELAY_LOCK_TTL_MS: u64 = 30_000;

impl App {
    /// Relays up to `limit` unpublished events in order; stops at the first
    /// failure so that no event overtakes an earlier one. Returns how many were published.
    pub async fn relay_outbox_once(&self, limit: u32) -> anyhow::Result<usize> {
        // One relay at a time across instances keeps events in order.
        let Some(lease) = self
            .adapters
            .lock
            .try_acquire(RELAY_LOCK, RELAY_LOCK_TTL_MS)
            .await?
        else {
            return Ok(0);
        };
        let relayed = self.relay_batch(limit).await;
        if let Err(err) = self.adapters.lock.release(&lease).await {
            // The lease expires by itself; another instance relays after it.
            tracing::warn!(error = %err, "could not release the relay lock");
        }
        relayed
    }

    async fn relay_batch(&self, limit: u32) -> anyhow::Result<usize> {
        let events = self.store().unpublished_events(limit).await?;
        let mut published = Vec::with_capacity(events.len());
        let mut failure = None;
        for event in &events {
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
        match failure {
            Some(err) => Err(err.context("relaying the outbox")),
            None => Ok(published.len()),
        }
    }
}
