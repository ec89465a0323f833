//! Entering the waiting room of a concert, through its bot gate when it
//! has one: a concert with `proof_of_work_bits` takes token requests only
//! with a solved challenge, each challenge bound to its fan and concert,
//! short-lived and good for one token request.

use super::App;
use crate::domain::access::{Challenge, PowAnswer};
use crate::domain::events::{self, DomainEvent, OutboxEvent, QueueEntered};
use crate::domain::queue_token::{QueueToken, TokenState};
use crate::domain::{ConcertId, Timestamp, TokenId, UserId};
use crate::ports::Unavailable;

/// How long a fan has to solve a challenge and use it.
pub const CHALLENGE_TTL_SECS: u64 = 120;

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
    /// The concert's bot gate refused the request; `challenge` is a fresh one to solve.
    #[error("proof of work refused: {refusal:?}")]
    ProofOfWork {
        refusal: PowRefusal,
        challenge: Challenge,
    },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why the bot gate refused a token request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowRefusal {
    /// No answer came with the request.
    Missing,
    /// The answer does not solve a challenge issued to this fan for this
    /// concert at its difficulty.
    Wrong,
    /// The challenge was solved too late.
    Expired,
    /// The challenge already opened the line once.
    Replayed,
}

impl App {
    /// Puts the user in line for the concert, or returns the token they
    /// already hold. `pow` is what the request brought for the bot gate.
    pub async fn issue_token(
        &self,
        user: UserId,
        concert: ConcertId,
        pow: PowAnswer,
    ) -> Result<TokenView, IssueTokenError> {
        let Some(rules) = self.entry_rules_of(concert).await? else {
            return Err(IssueTokenError::ConcertNotFound);
        };
        if let Some(bits) = rules.proof_of_work_bits {
            self.pass_bot_gate(user, concert, bits, pow).await?;
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
                    ticket_id: token.token.to_string(),
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
        let Ok(token) = entry.ticket_id.parse::<TokenId>() else {
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

    /// A challenge for `user` to solve before asking for a token for
    /// `concert`; `None` when the concert has no bot gate.
    pub async fn issue_challenge(
        &self,
        user: UserId,
        concert: ConcertId,
    ) -> Result<Option<Challenge>, IssueTokenError> {
        let Some(rules) = self.entry_rules_of(concert).await? else {
            return Err(IssueTokenError::ConcertNotFound);
        };
        Ok(rules
            .proof_of_work_bits
            .map(|bits| self.new_challenge(user, concert, bits)))
    }

    fn new_challenge(&self, user: UserId, concert: ConcertId, bits: u8) -> Challenge {
        let until = self.now().plus_secs(CHALLENGE_TTL_SECS).as_millis();
        Challenge {
            id: self.random_bytes(),
            user,
            concert,
            bits,
            expires_at: Timestamp::from_millis(until - until.rem_euclid(1_000)),
        }
    }

    /// Lets the request through the concert's bot gate, or refuses it with
    /// a fresh challenge.
    async fn pass_bot_gate(
        &self,
        user: UserId,
        concert: ConcertId,
        bits: u8,
        pow: PowAnswer,
    ) -> Result<(), IssueTokenError> {
        let now = self.now();
        let refusal = match pow {
            PowAnswer::Missing => Some(PowRefusal::Missing),
            PowAnswer::Wrong => Some(PowRefusal::Wrong),
            PowAnswer::Solved(c) if c.user != user || c.concert != concert || c.bits < bits => {
                Some(PowRefusal::Wrong)
            }
            PowAnswer::Solved(c) if c.expires_at <= now => Some(PowRefusal::Expired),
            PowAnswer::Solved(c) => {
                // Kept a second past the challenge's expiry, which is then refused anyway.
                let ttl_ms = u64::try_from(c.expires_at.as_millis() - now.as_millis())
                    .unwrap_or(0)
                    .saturating_add(1_000);
                let key = format!("pow:{}", c.id_text());
                if self.adapters.single_use.first_use(&key, ttl_ms).await? {
                    None
                } else {
                    Some(PowRefusal::Replayed)
                }
            }
        };
        match refusal {
            None => Ok(()),
            Some(refusal) => Err(IssueTokenError::ProofOfWork {
                refusal,
                challenge: self.new_challenge(user, concert, bits),
            }),
        }
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
    use crate::domain::access::PowAnswer;
    use crate::domain::queue_token::TokenState;
    use crate::testing::{TestApp, concert_id, user};

    #[tokio::test]
    async fn asking_again_while_live_returns_the_same_token() {
        let t = TestApp::new().await;
        let first = t.issue(user(1)).await;
        let again = t.issue(user(1)).await;
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
            .issue_token(user(1), concert_id(999), PowAnswer::Missing)
            .await
            .unwrap_err();
        assert!(matches!(err, super::IssueTokenError::ConcertNotFound));
    }

    #[tokio::test]
    async fn each_user_gets_a_token_of_their_own_behind_those_who_came_first() {
        let t = TestApp::new().await;
        let a = t.issue(user(1)).await;
        let b = t.issue(user(2)).await;
        assert_ne!(a.token.token, b.token.token);
        assert_eq!((a.token.user_id, b.token.user_id), (user(1), user(2)));
        assert!(a.token.issued_at <= b.token.issued_at);
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
        let first = t.issue(user(1)).await;
        let second = t.issue(user(2)).await;
        assert_eq!(first.token.state.status_name(), "WAITING");
        assert_eq!((position(first.token.state), first.eta_secs), (None, None));
        // Asking again before the entry is consumed: the same token, published again.
        let again = t.issue(user(1)).await;
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
        let ahead = t.poll(&second).await;
        assert_eq!(position(ahead.token.state), Some(1));
        let placed = t.poll(&first).await;
        assert_eq!(position(placed.token.state), Some(2));
        assert!(placed.eta_secs.is_some());
        // In line, asking again publishes nothing more.
        t.issue(user(1)).await;
        assert_eq!(topic.records().len(), 3);
    }
}

#[cfg(test)]
mod bot_gate {
    use super::{IssueTokenError, PowRefusal};
    use crate::domain::access::{Challenge, PowAnswer};
    use crate::domain::concert::EntryRules;
    use crate::testing::{TestApp, user};

    async fn gated(bits: u8) -> TestApp {
        let t = TestApp::new().await;
        let rules = EntryRules::new(Some(bits)).unwrap();
        assert!(t.app.set_entry_rules(t.concert, rules).await.unwrap());
        t
    }

    fn refusal(result: Result<super::TokenView, IssueTokenError>) -> (PowRefusal, Challenge) {
        match result {
            Err(IssueTokenError::ProofOfWork { refusal, challenge }) => (refusal, challenge),
            other => panic!("not refused by the gate: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_gated_concert_takes_each_solved_challenge_once_and_only_for_its_fan() {
        let t = gated(8).await;
        let (why, fresh) = refusal(
            t.app
                .issue_token(user(1), t.concert, PowAnswer::Missing)
                .await,
        );
        assert_eq!(why, PowRefusal::Missing);
        assert_eq!(
            (fresh.user, fresh.concert, fresh.bits),
            (user(1), t.concert, 8)
        );
        let (why, _) = refusal(
            t.app
                .issue_token(user(1), t.concert, PowAnswer::Wrong)
                .await,
        );
        assert_eq!(why, PowRefusal::Wrong);
        // A challenge issued to someone else is no answer.
        let theirs = t
            .app
            .issue_challenge(user(2), t.concert)
            .await
            .unwrap()
            .unwrap();
        let (why, _) = refusal(
            t.app
                .issue_token(user(1), t.concert, PowAnswer::Solved(theirs))
                .await,
        );
        assert_eq!(why, PowRefusal::Wrong);
        let mine = t
            .app
            .issue_challenge(user(1), t.concert)
            .await
            .unwrap()
            .unwrap();
        assert_ne!(mine.id, fresh.id);
        t.app
            .issue_token(user(1), t.concert, PowAnswer::Solved(mine))
            .await
            .unwrap();
        let (why, _) = refusal(
            t.app
                .issue_token(user(1), t.concert, PowAnswer::Solved(mine))
                .await,
        );
        assert_eq!(why, PowRefusal::Replayed);
    }

    #[tokio::test]
    async fn an_expired_or_easier_challenge_is_refused() {
        let t = gated(8).await;
        let late = t
            .app
            .issue_challenge(user(1), t.concert)
            .await
            .unwrap()
            .unwrap();
        t.clock.advance_secs(super::CHALLENGE_TTL_SECS);
        let (why, _) = refusal(
            t.app
                .issue_token(user(1), t.concert, PowAnswer::Solved(late))
                .await,
        );
        assert_eq!(why, PowRefusal::Expired);
        let mut easier = t
            .app
            .issue_challenge(user(1), t.concert)
            .await
            .unwrap()
            .unwrap();
        easier.bits = 4;
        let (why, _) = refusal(
            t.app
                .issue_token(user(1), t.concert, PowAnswer::Solved(easier))
                .await,
        );
        assert_eq!(why, PowRefusal::Wrong);
    }

    #[tokio::test]
    async fn an_ungated_concert_needs_no_challenge() {
        let t = TestApp::new().await;
        assert_eq!(
            t.app.issue_challenge(user(1), t.concert).await.unwrap(),
            None
        );
        t.app
            .issue_token(user(1), t.concert, PowAnswer::Missing)
            .await
            .unwrap();
    }
}
