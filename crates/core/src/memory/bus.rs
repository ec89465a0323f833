//! The embedded mode's event bus: relayed events go straight to the
//! in-process handlers. A handler failure fails the hand-over, so the relay
//! keeps the event and tries again.

use crate::domain::events::OutboxEvent;
use crate::domain::queue_token::QueuePolicy;
use crate::ports::{Clock, EventBus, Ranking, WaitingRoom};
use crate::use_cases::{RankingUpdater, TokenExpirer};
use async_trait::async_trait;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct LocalBus {
    pub ranking: RankingUpdater,
    pub tokens: TokenExpirer,
}

impl LocalBus {
    /// The in-process handlers, acting on `ranking` and `waiting_room`.
    pub fn new(
        ranking: Arc<dyn Ranking>,
        waiting_room: Arc<dyn WaitingRoom>,
        clock: Arc<dyn Clock>,
        policy: QueuePolicy,
    ) -> Self {
        Self {
            ranking: RankingUpdater { ranking },
            tokens: TokenExpirer {
                waiting_room,
                clock,
                policy,
            },
        }
    }
}

#[async_trait]
impl EventBus for LocalBus {
    async fn publish(&self, event: &OutboxEvent) -> anyhow::Result<()> {
        self.ranking.handle(event).await?;
        self.tokens.handle(event).await
    }
}
