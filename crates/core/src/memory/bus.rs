//! The in-process side of the event bus: relayed events go to the
//! in-process handlers (ranking, token expiry) and then onward: to the
//! embedded mode's [`Inbox`] for each consumer group, or to another bus
//! (Kafka). A failure anywhere fails the hand-over, so the relay keeps the
//! event and tries again; every handler and consumer is idempotent.

use crate::domain::events::OutboxEvent;
use crate::domain::queue_token::QueuePolicy;
use crate::ports::{
    Clock, EventBus, Inbox, Lock, LockLease, Ranking, Received, Subscription, WaitingRoom,
};
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
    /// Queued in the inbox for each consumer group that takes the event's
    /// type, as a Kafka consumer group gets only its topic's events.
    Inbox {
        inbox: Arc<dyn Inbox>,
        /// (consumer group, event type it takes).
        consumers: Vec<(String, String)>,
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
                for (consumer, _) in consumers.iter().filter(|(_, t)| *t == event.event_type) {
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
/// mode's stand-in for a Kafka consumer. Committing drops the processed row;
/// a restarted subscription starts again at the oldest row still queued.
/// One member reads at a time: it holds the lock `inbox:<consumer>`, so two
/// instances on one database never process the same rows at once.
#[derive(Debug)]
pub struct InboxSubscription {
    inbox: Arc<dyn Inbox>,
    lock: Arc<dyn Lock>,
    consumer: String,
    lease: Option<LockLease>,
    fetched: VecDeque<(i64, OutboxEvent)>,
}

/// Events fetched from the inbox per read.
const INBOX_BATCH: u32 = 100;
/// How long the reading member's lease lasts without being renewed.
const INBOX_LEASE_MS: u64 = 15_000;

impl InboxSubscription {
    pub fn new(inbox: Arc<dyn Inbox>, lock: Arc<dyn Lock>, consumer: &str) -> Self {
        Self {
            inbox,
            lock,
            consumer: consumer.to_owned(),
            lease: None,
            fetched: VecDeque::new(),
        }
    }

    /// Takes or renews the reading lease; false when another member holds it.
    async fn hold_lease(&mut self) -> anyhow::Result<bool> {
        if let Some(lease) = &self.lease {
            if self.lock.extend(lease, INBOX_LEASE_MS).await? {
                return Ok(true);
            }
            // Lapsed, and maybe taken: what was fetched may be another's now.
            self.lease = None;
            self.fetched.clear();
        }
        let key = format!("inbox:{}", self.consumer);
        self.lease = self.lock.try_acquire(&key, INBOX_LEASE_MS).await?;
        Ok(self.lease.is_some())
    }
}

#[async_trait]
impl Subscription for InboxSubscription {
    async fn next(&mut self) -> anyhow::Result<Option<Received>> {
        if !self.hold_lease().await? {
            return Ok(None);
        }
        if self.fetched.is_empty() {
            // Everything handed out before has been committed (removed).
            self.fetched = self.inbox.queued(&self.consumer, INBOX_BATCH).await?.into();
        }
        Ok(self.fetched.pop_front().map(|(seq, event)| Received {
            event,
            topic: self.consumer.clone(),
            partition: 0,
            offset: seq,
        }))
    }

    async fn commit(&mut self, received: &Received) -> anyhow::Result<()> {
        self.inbox.remove(&self.consumer, received.offset).await
    }
}
