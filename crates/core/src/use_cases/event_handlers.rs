//! What happens after a reservation is confirmed, driven by its outbox event:
//! the concert climbs the ranking and the buyer's token is expired. Both are
//! idempotent, because an event may be delivered more than once.

use crate::domain::events::{DomainEvent, OutboxEvent};
use crate::domain::queue_token::QueuePolicy;
use crate::ports::{Clock, Ranking, WaitingRoom};
use std::sync::Arc;

/// Counts each confirmed reservation once in the popular-concert ranking.
#[derive(Debug, Clone)]
pub struct RankingUpdater {
    pub ranking: Arc<dyn Ranking>,
}

impl RankingUpdater {
    pub async fn handle(&self, event: &OutboxEvent) -> anyhow::Result<()> {
        if let Some(DomainEvent::ReservationConfirmed(body)) = DomainEvent::decode(event) {
            self.ranking
                .record_reservation(body.concert_id, event.id)
                .await?;
        }
        Ok(())
    }
}

/// Expires the buyer's queue token once their payment is confirmed.
#[derive(Debug, Clone)]
pub struct TokenExpirer {
    pub waiting_room: Arc<dyn WaitingRoom>,
    pub clock: Arc<dyn Clock>,
    pub policy: QueuePolicy,
}

impl TokenExpirer {
    pub async fn handle(&self, event: &OutboxEvent) -> anyhow::Result<()> {
        if let Some(DomainEvent::ReservationConfirmed(body)) = DomainEvent::decode(event) {
            self.waiting_room
                .expire(
                    body.concert_id,
                    body.user_id,
                    body.confirmed_at,
                    self.clock.now(),
                    &self.policy,
                )
                .await?;
        }
        Ok(())
    }
}
