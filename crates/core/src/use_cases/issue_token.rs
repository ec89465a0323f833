//! Entering the waiting room of a concert.

use super::App;
use crate::domain::events::{self, DomainEvent, OutboxEvent, QueueEntered};
use crate::domain::queue_token::{QueueToken, TokenState};
use crate::domain::{ConcertId, TokenId, UserId};
use crate::ports::Unavailable;

/// A token with its estimated wait, as shown to its holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenView {
    pub token: QueueToken,
    /// Seconds until admission, for WAITING tokens.
    pub eta_secs: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum IssueTokenError {
    #[error("no such concert")]
    ConcertNotFound,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl App {
    /// Puts the user in line for the concert, or returns the token they already hold.
    pub async fn issue_token(
        &self,
        user: UserId,
        concert: ConcertId,
    ) -> Result<TokenView, IssueTokenError> {
        if !self.concert_exists(concert).await? {
            return Err(IssueTokenError::ConcertNotFound);
        }
        let (room, now, policy) = (
            &self.adapters.waiting_room,
            self.now(),
            &self.policies.queue,
        );
        let candidate = self.new_token_id();
        let Some(entries) = &self.adapters.queue_entries else {
            let token = room.enter(concert, user, candidate, now, policy).await?;
            return Ok(self.view_of(token));
        };
        let token = room.reserve(concert, user, candidate, now, policy).await?;
        if let TokenState::Waiting { position: None, .. } = token.state {
            // Published again on every request until it is in line, so an
            // entry whose publication failed is not stranded; the line
            // ignores repeats.
            let entry = events::queue_entered(
                self.new_event_id(),
                QueueEntered {
                    concert_id: concert,
                    user_id: user,
                    token: token.token.to_string(),
                    requested_at: now,
                },
            );
            entries.publish(&entry).await.map_err(|err| {
                anyhow::Error::from(Unavailable(format!("queue entry not published: {err:#}")))
            })?;
        }
        Ok(self.view_of(token))
    }

    /// Places a consumed queue entry in its concert's line; entries are
    /// consumed in topic order, so the line keeps that order. A repeat, an
    /// entry whose token has ended, or anything that is not a queue entry,
    /// changes nothing. `Err` only when the waiting room failed (retry).
    pub async fn enter_line_once(&self, event: &OutboxEvent) -> anyhow::Result<()> {
        let Some(DomainEvent::QueueEntered(entry)) = DomainEvent::decode(event) else {
            // Unreadable or not ours: retrying would block the partition for ever.
            tracing::warn!(event = %event.id, kind = event.event_type, "skipping a record that is not a queue entry");
            return Ok(());
        };
        let Ok(token) = entry.token.parse::<TokenId>() else {
            tracing::warn!(event = %event.id, "skipping a queue entry with a malformed token");
            return Ok(());
        };
        self.adapters
            .waiting_room
            .place(
                entry.concert_id,
                entry.user_id,
                token,
                self.now(),
                &self.policies.queue,
            )
            .await?;
        Ok(())
    }

    pub(super) fn view_of(&self, token: QueueToken) -> TokenView {
        let eta_secs = match token.state {
            TokenState::Waiting { position, .. } => {
                position.map(|position| self.policies.queue.eta_secs(position))
            }
            TokenState::Active { .. } | TokenState::Expired { .. } => None,
        };
        TokenView { token, eta_secs }
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::queue_token::TokenState;
    use crate::testing::{TestApp, concert_id, user};

    #[tokio::test]
    async fn asking_again_while_live_returns_the_same_token() {
        let t = TestApp::new().await;
        let first = t.app.issue_token(user(1), t.concert).await.unwrap();
        let again = t.app.issue_token(user(1), t.concert).await.unwrap();
        assert_eq!(first.token.token, again.token.token);
        assert!(matches!(
            first.token.state,
            TokenState::Waiting {
                position: Some(1),
                ..
            }
        ));
        assert_eq!(
            first.eta_secs,
            Some(t.app.policies().queue.admit_interval_secs)
        );
    }

    #[tokio::test]
    async fn tokens_for_unknown_concerts_are_refused() {
        let t = TestApp::new().await;
        let err = t
            .app
            .issue_token(user(1), concert_id(999))
            .await
            .unwrap_err();
        assert!(matches!(err, super::IssueTokenError::ConcertNotFound));
    }

    #[tokio::test]
    async fn tokens_are_unguessable_and_distinct_per_user() {
        let t = TestApp::new().await;
        let a = t.app.issue_token(user(1), t.concert).await.unwrap();
        let b = t.app.issue_token(user(2), t.concert).await.unwrap();
        assert_ne!(a.token.token, b.token.token);
        assert!(matches!(
            b.token.state,
            TokenState::Waiting {
                position: Some(2),
                ..
            }
        ));
    }
}

#[cfg(test)]
mod through_a_bus {
    use crate::domain::events::{OutboxEvent, QUEUE_ENTERED};
    use crate::domain::queue_token::TokenState;
    use crate::ports::EventBus;
    use crate::testing::{TestApp, user};
    use async_trait::async_trait;
    use std::sync::{Arc, Mutex};

    /// Keeps what is published, as a topic would.
    #[derive(Debug, Default)]
    struct Topic(Mutex<Vec<OutboxEvent>>);

    #[async_trait]
    impl EventBus for Topic {
        async fn publish(&self, event: &OutboxEvent) -> anyhow::Result<()> {
            self.0
                .lock()
                .unwrap_or_else(|e| panic!("{e}"))
                .push(event.clone());
            Ok(())
        }

        async fn publish_dead_letter(
            &self,
            _: &str,
            _: &OutboxEvent,
            _: &str,
        ) -> anyhow::Result<()> {
            Ok(())
        }
    }

    impl Topic {
        fn records(&self) -> Vec<OutboxEvent> {
            self.0.lock().unwrap_or_else(|e| panic!("{e}")).clone()
        }
    }

    fn position(state: TokenState) -> Option<u64> {
        match state {
            TokenState::Waiting { position, .. } => position,
            TokenState::Active { .. } | TokenState::Expired { .. } => None,
        }
    }

    #[tokio::test]
    async fn a_token_waits_without_a_position_until_its_entry_is_consumed_in_topic_order() {
        let topic = Arc::new(Topic::default());
        let t = TestApp::with_queue_entries(topic.clone()).await;
        let first = t.app.issue_token(user(1), t.concert).await.unwrap();
        let second = t.app.issue_token(user(2), t.concert).await.unwrap();
        assert_eq!(first.token.state.status_name(), "WAITING");
        assert_eq!((position(first.token.state), first.eta_secs), (None, None));
        // Asking again before the entry is consumed: the same token, published again.
        let again = t.app.issue_token(user(1), t.concert).await.unwrap();
        assert_eq!(again.token.token, first.token.token);
        let records = topic.records();
        assert_eq!(records.len(), 3);
        assert!(records.iter().all(|r| r.event_type == QUEUE_ENTERED));
        assert!(
            records
                .iter()
                .all(|r| r.aggregate_key == t.concert.to_string())
        );
        // The topic's order is the line's: user 2's entry is consumed first.
        for record in [&records[1], &records[0], &records[2]] {
            t.app.enter_line_once(record).await.unwrap();
        }
        let ahead = t.app.poll_token(second.token.token).await.unwrap();
        assert_eq!(position(ahead.token.state), Some(1));
        let placed = t.app.poll_token(first.token.token).await.unwrap();
        assert_eq!(position(placed.token.state), Some(2));
        assert!(placed.eta_secs.is_some());
        // In line, asking again publishes nothing more.
        t.app.issue_token(user(1), t.concert).await.unwrap();
        assert_eq!(topic.records().len(), 3);
    }
}
