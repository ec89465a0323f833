//! The in-process side of the event bus: relayed events go to the
//! in-process handlers (ranking, token expiry) and then onward: to the
//! embedded mode's [`Inbox`] for each consumer group, or to another bus
//! (Kafka). A failure anywhere fails the hand-over, so the relay keeps the
//! event and tries again; every handler and consumer is idempotent.

use crate::domain::events::OutboxEvent;
use crate::domain::queue_token::QueuePolicy;
use crate::ports::{Clock, EventBus, Inbox, Ranking, Received, Subscription, WaitingRoom};
use crate::use_cases::{RankingUpdater, TokenExpirer};
use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::Arc;

/// Where events go after the in-process handlers.
#[derive(Debug, Clone, Default)]
pub enum Onward {
    /// Nowhere: no consumer groups run.
    #[default]
    Nowhere,
    /// Queued in the inbox for each of these consumer groups.
    Inbox {
        inbox: Arc<dyn Inbox>,
        consumers: Vec<String>,
    },
    /// Published on another bus (Kafka), whose dead-letter topics it also gets.
    Bus(Arc<dyn EventBus>),
}

#[derive(Debug, Clone)]
pub struct LocalBus {
    pub ranking: RankingUpdater,
    pub tokens: TokenExpirer,
    pub onward: Onward,
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
            onward: Onward::Nowhere,
        }
    }

    /// Sends events `onward` after the in-process handlers.
    pub fn onward(self, onward: Onward) -> Self {
        Self { onward, ..self }
    }
}

#[async_trait]
impl EventBus for LocalBus {
    async fn publish(&self, event: &OutboxEvent) -> anyhow::Result<()> {
        match &self.onward {
            Onward::Nowhere => {}
            Onward::Inbox { inbox, consumers } => {
                for consumer in consumers {
                    inbox.append(consumer, event).await?;
                }
            }
            Onward::Bus(bus) => bus.publish(event).await?,
        }
        self.ranking.handle(event).await?;
        self.tokens.handle(event).await
    }

    async fn publish_dead_letter(
        &self,
        consumer: &str,
        event: &OutboxEvent,
        error: &str,
    ) -> anyhow::Result<()> {
        match &self.onward {
            Onward::Bus(bus) => bus.publish_dead_letter(consumer, event, error).await,
            Onward::Nowhere | Onward::Inbox { .. } => Ok(()),
        }
    }
}

/// A consumer group reading its queue in the [`Inbox`]: the embedded
/// mode's stand-in for a Kafka consumer. Committing drops what was
/// processed; a restarted subscription starts again at the oldest event
/// still queued.
#[derive(Debug)]
pub struct InboxSubscription {
    inbox: Arc<dyn Inbox>,
    consumer: String,
    /// The last sequence number handed out.
    cursor: i64,
    fetched: VecDeque<(i64, OutboxEvent)>,
}

/// Events fetched from the inbox per read.
const INBOX_BATCH: u32 = 100;

impl InboxSubscription {
    pub fn new(inbox: Arc<dyn Inbox>, consumer: &str) -> Self {
        Self {
            inbox,
            consumer: consumer.to_owned(),
            cursor: 0,
            fetched: VecDeque::new(),
        }
    }
}

#[async_trait]
impl Subscription for InboxSubscription {
    async fn next(&mut self) -> anyhow::Result<Option<Received>> {
        if self.fetched.is_empty() {
            self.fetched = self
                .inbox
                .queued(&self.consumer, self.cursor, INBOX_BATCH)
                .await?
                .into();
        }
        Ok(self.fetched.pop_front().map(|(seq, event)| {
            self.cursor = seq;
            Received {
                event,
                topic: self.consumer.clone(),
                partition: 0,
                offset: seq,
            }
        }))
    }

    async fn commit(&mut self, received: &Received) -> anyhow::Result<()> {
        self.inbox
            .remove_through(&self.consumer, received.offset)
            .await
    }
}
