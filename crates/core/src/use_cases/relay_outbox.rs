//! Relaying the outbox: events committed with their change are handed to the
//! event bus, then marked published. At least once: an event whose hand-over
//! failed stays unpublished and is relayed again on the next step, in order.

use super::App;

impl App {
    /// Relays up to `limit` unpublished events in order; stops at the first
    /// failure so that no event overtakes an earlier one. Returns how many were published.
    pub async fn relay_outbox_once(&self, limit: u32) -> anyhow::Result<usize> {
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
