//! Entering the waiting room of a concert, as its room allows (not before
//! the pre-queue opens, not once closed or sold out; the pre-queue before
//! a scheduled opening, the line after), through its bot gate when it has
//! one: a concert with `proof_of_work_bits` takes token requests only with
//! a solved challenge, each challenge bound to its fan and concert,
//! short-lived and good for one token request. Also: what a fan is shown
//! of their token (status, wait, when to check again).

use super::App;
use crate::domain::access::{Challenge, PowAnswer};
use crate::domain::events::{self, DomainEvent, OutboxEvent, QueueEntered};
use crate::domain::queue_token::{Lane, QueuePolicy, QueueToken, TokenState};
use crate::domain::room::{self, Eta, RoomPhase};
use crate::domain::{ConcertId, Timestamp, TokenId, UserId};
use crate::ports::{RoomSnapshot, Unavailable};

/// How long a fan has to solve a challenge and use it.
pub const CHALLENGE_TTL_SECS: u64 = 120;

/// A token with its estimated wait, as shown to its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenView {
    pub token: QueueToken,
    /// The wait until admission, with its range, for WAITING tokens with a
    /// place in a line that moves.
    pub eta: Option<Eta>,
    /// What overrides a WAITING or PRE_QUEUE status: sold out, paused, closed.
    pub notice: Option<Notice>,
    /// When to check again, for tokens still waiting for something.
    pub poll_after_secs: Option<u64>,
    /// PRE_QUEUE: when the sale opens (`None`: when the operator opens it).
    pub opens_at: Option<Timestamp>,
    /// The token's public id in the pre-queue draw, for a token that
    /// entered the pre-queue.
    pub lottery_entry: Option<String>,
}

/// What a fan still waiting is told instead of their place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// No seat can be sold (none AVAILABLE or HELD): the line stands still
    /// until one comes back.
    SoldOut,
    Paused,
    Closed,
}

impl TokenView {
    /// Seconds until admission, when there is an estimate.
    pub fn eta_secs(&self) -> Option<u64> {
        self.eta.map(|e| e.secs)
    }

    /// The status shown: the notice over a waiting status, else the token's.
    pub fn status(&self) -> &'static str {
        match self.notice {
            Some(Notice::SoldOut) => "SOLD_OUT",
            Some(Notice::Paused) => "PAUSED",
            Some(Notice::Closed) => "CLOSED",
            None => self.token.state.status_name(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IssueTokenError {
    #[error("no such concert")]
    ConcertNotFound,
    /// The concert's sale is scheduled and its pre-queue opens later.
    #[error("the sale has not opened")]
    SaleNotOpen { pre_queue_opens_at: Timestamp },
    #[error("the sale is closed")]
    SaleClosed,
    #[error("sold out")]
    SoldOut,
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
        let Some(mut room) = self.room_of(concert).await? else {
            return Err(IssueTokenError::ConcertNotFound);
        };
        let phase = room
            .room
            .phase_at(self.now(), self.policies.queue.pre_queue_window_secs);
        match phase {
            RoomPhase::NotYetOpen { pre_queue_opens_at } => {
                return Err(IssueTokenError::SaleNotOpen { pre_queue_opens_at });
            }
            RoomPhase::Closed => return Err(IssueTokenError::SaleClosed),
            _ if room.sellable_seats == 0 => return Err(IssueTokenError::SoldOut),
            _ => {}
        }
        if let Some(bits) = room.rules.proof_of_work_bits {
            self.pass_bot_gate(user, concert, bits, pow).await?;
        }
        if let RoomPhase::Open { draw_due: true } = phase {
            // The first arrival after the opening draws the pre-queue, so
            // that every later arrival is placed behind it.
            self.open_sale(concert).await?;
            room = self
                .fresh_room_of(concert)
                .await?
                .ok_or(IssueTokenError::ConcertNotFound)?;
        }
        let lane = match phase {
            RoomPhase::PreQueue { .. } => Lane::PreQueue,
            _ => Lane::Line,
        };
        let (waiting_room, now, policy) = (
            &self.adapters.waiting_room,
            self.now(),
            self.policy_of(&room),
        );
        let candidate = self.new_token_id();
        let Some(entries) = &self.adapters.queue_entries else {
            let mut token = waiting_room
                .enter(concert, user, candidate, now, &policy, lane)
                .await?;
            if phase == RoomPhase::PassThrough
                && let TokenState::Waiting { .. } = token.state
            {
                token = self.pass_through(&room, token).await?;
            }
            return Ok(self.view_of(token, &room));
        };
        let token = waiting_room
            .reserve(concert, user, candidate, now, &policy)
            .await?;
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
        Ok(self.view_of(token, &room))
    }

    /// In a PASS_THROUGH room a fan is admitted on arrival while the room
    /// is under its cap: an admission round for the concert right away,
    /// with no batch limit, then the token as it is after it.
    async fn pass_through(
        &self,
        room: &RoomSnapshot,
        token: QueueToken,
    ) -> anyhow::Result<QueueToken> {
        let capped = self.policy_of(room).capped_by_seats(room.sellable_seats);
        let policy = QueuePolicy {
            admit_batch: capped.max_active,
            ..capped
        };
        let waiting_room = &self.adapters.waiting_room;
        let now = self.now();
        waiting_room.admit(token.concert_id, now, &policy).await?;
        Ok(waiting_room
            .peek(token.concert_id, token.token, now, &policy)
            .await?
            .unwrap_or(token))
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
        let Some(room) = self.room_of(entry.concert_id).await? else {
            tracing::warn!(event = %event.id, "skipping a queue entry for an unknown concert");
            return Ok(());
        };
        // Asked for before a scheduled opening: the pre-queue, which is the
        // line once the pre-queue has been drawn.
        let lane = match (room.room.sale.opens_at, room.room.lottery_seed.as_ref()) {
            (Some(opens_at), Some(_)) if entry.requested_at < opens_at => Lane::PreQueue,
            _ => Lane::Line,
        };
        self.adapters
            .waiting_room
            .place(
                entry.concert_id,
                entry.user_id,
                token,
                self.now(),
                &self.policy_of(&room),
                lane,
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
        let Some(room) = self.room_of(concert).await? else {
            return Err(IssueTokenError::ConcertNotFound);
        };
        Ok(room
            .rules
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

    /// What the token's holder is shown, in the room as read.
    pub(super) fn view_of(&self, token: QueueToken, room: &RoomSnapshot) -> TokenView {
        let now = self.now();
        let policy = self.policy_of(room);
        let phase = room
            .room
            .phase_at(now, self.policies.queue.pre_queue_window_secs);
        let waiting = matches!(
            token.state,
            TokenState::Waiting { .. } | TokenState::PreQueue { .. }
        );
        let notice = match phase {
            _ if !waiting => None,
            _ if room.sellable_seats == 0 => Some(Notice::SoldOut),
            RoomPhase::Closed => Some(Notice::Closed),
            RoomPhase::Paused => Some(Notice::Paused),
            _ => None,
        };
        let eta = match (token.state, notice) {
            (
                TokenState::Waiting {
                    position: Some(position),
                    ..
                },
                None,
            ) => Some(room::eta(
                position,
                &policy.capped_by_seats(room.sellable_seats),
                &room.room.flow,
                now,
            )),
            _ => None,
        };
        let opens_at = match token.state {
            TokenState::PreQueue { .. } => room.room.sale.opens_at,
            _ => None,
        };
        let poll_after = match (token.state, notice) {
            (TokenState::Active { .. } | TokenState::Expired { .. }, _) => None,
            (_, Some(_)) => Some(room::MAX_POLL_AFTER_SECS),
            (TokenState::PreQueue { .. }, None) => {
                Some(opens_at.map_or(room::MAX_POLL_AFTER_SECS, |at| {
                    let until_open =
                        u64::try_from(at.as_millis() - now.as_millis()).unwrap_or(0) / 1000;
                    room::poll_after_secs(until_open)
                }))
            }
            (TokenState::Waiting { .. }, None) => {
                Some(eta.map_or(1, |eta| room::poll_after_secs(eta.secs)))
            }
        }
        // Never so long apart that polling fails to keep the token alive.
        .map(|secs| secs.min(policy.abandon_after_secs / 4).max(1));
        let pre_queued = matches!(token.state, TokenState::PreQueue { .. })
            || room.room.drawn_at.is_some_and(|at| token.issued_at < at);
        let lottery_entry = (pre_queued && room.room.lottery_seed.is_some())
            .then(|| room::lottery_entry_id(&token.token.to_string()));
        TokenView {
            token,
            eta,
            notice,
            poll_after_secs: poll_after,
            opens_at,
            lottery_entry,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::TokenId;
    use crate::domain::access::{PowAnswer, QueueCredential, Ticket};
    use crate::domain::seat_hold::Hold;
    use crate::domain::{ConcertId, ScheduleId, UserId};
    use crate::testing::{TestApp, seat, user};
    use crate::use_cases::{IssueTokenError, PollTokenError};

    /// `fan` enters `concert`, is admitted and holds `seat_number`.
    async fn admitted_hold(
        t: &TestApp,
        fan: UserId,
        concert: ConcertId,
        schedule: ScheduleId,
        seat_number: i64,
    ) -> Hold {
        t.charge(fan, 100_000).await;
        let view = t.issue_for(fan, concert).await;
        t.app.activate_batch_once().await.unwrap();
        let credential = QueueCredential::Ticket(TestApp::ticket_of(&view));
        t.app
            .hold_seat(fan, credential, schedule, seat(seat_number))
            .await
            .unwrap()
    }

    /// A token is a bearer secret (the ticket around it is signed, but
    /// readable by whoever holds it): it must not be guessable from other
    /// tokens, nor usable by another fan who learns it. 2,000 fans' tokens:
    /// no two alike; each shown as 32 hex digits that read back as its 16
    /// bytes; each of the 128 bit positions set in 40 % to 60 % of them
    /// (for fair coins, 8.9 standard deviations from 50 %), so no bit is
    /// fixed, counted or derived from the fan. And another fan is refused
    /// both ways: with the owner's ticket, and with a ticket of their own
    /// naming the owner's token.
    #[tokio::test]
    async fn tokens_are_distinct_128_bit_values_with_every_bit_balanced_and_refused_to_another_fan()
    {
        const FANS: i64 = 2_000;
        let t = TestApp::new().await;
        let mut views = Vec::new();
        for fan in 1..=FANS {
            views.push(t.issue(user(fan)).await);
        }
        let tokens: Vec<TokenId> = views.iter().map(|v| v.token.token).collect();
        let distinct: std::collections::HashSet<_> = tokens.iter().collect();
        assert_eq!(distinct.len(), tokens.len(), "a token was issued twice");
        let mut ones = [0u32; 128];
        for token in &tokens {
            let text = token.to_string();
            assert_eq!(text.len(), 32, "{text}");
            assert!(
                text.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
            let read: TokenId = text.parse().unwrap();
            assert_eq!(read.as_bytes(), token.as_bytes());
            for (bit, count) in ones.iter_mut().enumerate() {
                *count += u32::from(token.as_bytes()[bit / 8] >> (7 - bit % 8) & 1);
            }
        }
        let (low, high) = (FANS as u32 * 2 / 5, FANS as u32 * 3 / 5);
        for (bit, count) in ones.iter().enumerate() {
            assert!(
                (low..=high).contains(count),
                "bit {bit} is set in {count} of {FANS} tokens"
            );
        }
        for (i, owner) in views.iter().enumerate() {
            let other = user(if i == 0 { FANS } else { i as i64 });
            let theirs = TestApp::ticket_of(owner);
            let presented = t.app.poll_token(other, theirs).await;
            assert!(
                matches!(presented, Err(PollTokenError::NotYours)),
                "{presented:?}"
            );
            let renamed = Ticket {
                user: other,
                ..theirs
            };
            let renamed = t.app.poll_token(other, renamed).await;
            assert!(
                matches!(renamed, Err(PollTokenError::UnknownToken)),
                "{renamed:?}"
            );
        }
        // The owner's own ticket still works.
        assert_eq!(t.poll(&views[0]).await.token.token, tokens[0]);
    }

    #[tokio::test]
    async fn the_line_turns_sold_out_within_a_second_of_the_last_sale() {
        let t = TestApp::new().await;
        let (concert, schedule) = t.small_concert(2).await;
        let first = admitted_hold(&t, user(1), concert, schedule, 1).await;
        t.app.pay_for_hold(user(1), first.id, None).await.unwrap();
        let last = admitted_hold(&t, user(2), concert, schedule, 2).await;
        // The cap follows the sellable seats: 1 seat, 2 per seat, 1 ACTIVE already.
        let waiting = t.issue_for(user(3), concert).await;
        let behind = t.issue_for(user(4), concert).await;
        t.app.activate_batch_once().await.unwrap();
        assert_eq!(t.poll(&waiting).await.status(), "ACTIVE");
        assert_eq!(t.poll(&behind).await.status(), "WAITING");
        // A HELD seat may come back: not sold out yet.
        let other = t.twin();
        assert_eq!(
            other
                .poll_token(user(4), TestApp::ticket_of(&behind))
                .await
                .unwrap()
                .status(),
            "WAITING"
        );
        t.app.pay_for_hold(user(2), last.id, None).await.unwrap();
        // This instance knows at once; another within a second of the sale.
        assert_eq!(t.poll(&behind).await.status(), "SOLD_OUT");
        t.clock.advance_millis(1_000);
        let told = other
            .poll_token(user(4), TestApp::ticket_of(&behind))
            .await
            .unwrap();
        assert_eq!(told.status(), "SOLD_OUT");
        assert_eq!(told.eta_secs(), None);
        let refused = other
            .issue_token(user(5), concert, PowAnswer::Missing)
            .await;
        assert!(matches!(refused, Err(IssueTokenError::SoldOut)));
        assert_eq!(
            t.app.activate_batch_once().await.unwrap(),
            0,
            "nobody is let in to find nothing"
        );
    }

    #[tokio::test]
    async fn a_waiting_fan_is_told_when_to_check_again_by_their_distance() {
        let t = TestApp::with_queue_policy(crate::domain::queue_token::QueuePolicy {
            admit_batch: 1,
            admit_interval_secs: 2,
            ..Default::default()
        })
        .await;
        let front = t.issue(user(1)).await;
        for u in 2..=400 {
            t.issue(user(u)).await;
        }
        let back = t.issue(user(401)).await;
        assert_eq!(front.poll_after_secs, Some(1));
        assert_eq!(back.eta_secs(), Some(802));
        assert_eq!(back.poll_after_secs, Some(30));
        let eta = back.eta.unwrap();
        assert!(eta.low <= eta.secs && eta.secs <= eta.high);
    }
}
