//! The outbox port: events committed with the change that caused them,
//! handed to the relay in order and marked once published (decisions 0001 and 0008).
//! Events are appended by the store's own steps, in their transactions;
//! this port is the relay's side.

use crate::domain::events::OutboxEvent;
use crate::domain::{ConcertId, EventId, Timestamp};
use async_trait::async_trait;

/// Unpublished events: the relay's backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxBacklog {
    pub unpublished: u64,
    /// When the oldest unpublished event was appended.
    pub oldest_created_at: Option<Timestamp>,
}

#[async_trait]
pub trait Outbox: Send + Sync + std::fmt::Debug {
    /// Claims up to `limit` unpublished events for one relay until
    /// `lease_until`, oldest first. Only the oldest unpublished event of each
    /// aggregate key can be claimed, and an event claimed by a live lease is
    /// skipped, so relays running at once never publish two events of one key
    /// out of order. A crashed relay's claims lapse with their lease.
    async fn claim_unpublished(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> anyhow::Result<Vec<OutboxEvent>>;
    /// Marks claimed events published.
    async fn mark_published(&self, ids: &[EventId], now: Timestamp) -> anyhow::Result<()>;
    /// Gives claimed events back, unpublished, so the next relay step retries them.
    async fn release_claims(&self, ids: &[EventId]) -> anyhow::Result<()>;
    /// How many events wait to be published, and since when.
    async fn outbox_backlog(&self) -> anyhow::Result<OutboxBacklog>;
    /// Confirmed reservations per concert whose event has already been
    /// published: the state derived views such as the ranking start from.
    async fn published_reservations_by_concert(&self) -> anyhow::Result<Vec<(ConcertId, u64)>>;
}
