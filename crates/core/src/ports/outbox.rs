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
    /// Claims up to `limit` unpublished events for one relay step, named
    /// `holder` (random per step), until `lease_until`, oldest first. Only the oldest unpublished event of each
    /// aggregate key can be claimed, and an event claimed by a live lease is
    /// skipped, so relays running at once never publish two events of one key
    /// out of order. A crashed relay's claims lapse with their lease, which
    /// is short (seconds) and renewed while the relay is alive.
    async fn claim_unpublished(
        &self,
        now: Timestamp,
        holder: i64,
        lease_until: Timestamp,
        limit: u32,
    ) -> anyhow::Result<Vec<OutboxEvent>>;
    /// Marks claimed events published.
    async fn mark_published(&self, ids: &[EventId], now: Timestamp) -> anyhow::Result<()>;
    /// Extends `holder`'s claims on `ids` to `renewed_until`, and returns the
    /// ids it still holds (now renewed). A claim that lapsed and was taken
    /// by another relay, or was published, is not renewed: its first holder
    /// has lost it and must not publish it.
    async fn renew_claims(
        &self,
        ids: &[EventId],
        holder: i64,
        renewed_until: Timestamp,
    ) -> anyhow::Result<Vec<EventId>>;
    /// Gives back `holder`'s claims on `ids`, unpublished, so the next relay
    /// step retries them. A claim another relay has taken over since is
    /// left alone.
    async fn release_claims(&self, ids: &[EventId], holder: i64) -> anyhow::Result<()>;
    /// How many events wait to be published, and since when.
    async fn outbox_backlog(&self) -> anyhow::Result<OutboxBacklog>;
    /// Confirmed reservations per concert whose event has already been
    /// published: the state derived views such as the ranking start from.
    async fn published_reservations_by_concert(&self) -> anyhow::Result<Vec<(ConcertId, u64)>>;
}
