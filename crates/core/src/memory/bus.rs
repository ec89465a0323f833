//! The embedded mode's event bus: relayed events go straight to the
//! in-process handlers. A handler failure fails the hand-over, so the relay
//! keeps the event and tries again.

use crate::domain::events::OutboxEvent;
use crate::ports::EventBus;
use crate::use_cases::{RankingUpdater, TokenExpirer};
use async_trait::async_trait;

#[derive(Debug, Clone)]
pub struct LocalBus {
    pub ranking: RankingUpdater,
    pub tokens: TokenExpirer,
}

#[async_trait]
impl EventBus for LocalBus {
    async fn publish(&self, event: &OutboxEvent) -> anyhow::Result<()> {
        self.ranking.handle(event).await?;
        self.tokens.handle(event).await
    }
}
