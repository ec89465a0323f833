//! Checking a token's place in line (which also keeps it from being
//! abandoned), with its ticket, as the fan it was issued to. A ticket of
//! an earlier epoch of the room, whose token the room lost, brings the fan
//! back to their place.

use super::{App, TokenView};
use crate::domain::UserId;
use crate::domain::access::Ticket;
use crate::domain::queue_token::{Lane, QueueToken, Rejoin};
use crate::domain::room::{self, RoomPhase};
use crate::ports::RoomSnapshot;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum PollTokenError {
    #[error("unknown queue token")]
    UnknownToken,
    #[error("the ticket was issued to another fan")]
    NotYours,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl App {
    /// The token of `ticket`, seen by `user`. Another fan's ticket is
    /// refused before the waiting room is asked, so it is not even kept alive.
    pub async fn poll_token(
        &self,
        user: UserId,
        ticket: Ticket,
    ) -> Result<TokenView, PollTokenError> {
        if ticket.user != user {
            return Err(PollTokenError::NotYours);
        }
        let Some(room) = self.room_of(ticket.concert).await? else {
            return Err(PollTokenError::UnknownToken);
        };
        let policy = self.policy_of(&room);
        let mut found = self
            .adapters
            .waiting_room
            .poll(ticket.concert, ticket.token, self.now(), &policy)
            .await?;
        if found.is_none() && ticket.epoch != 0 {
            found = self.rejoin(&ticket, &room).await?;
        }
        found
            .filter(|t| t.user_id == user && t.concert_id == ticket.concert)
            .map(|t| self.view_of(t, &room))
            .ok_or(PollTokenError::UnknownToken)
    }
}

/// Each drawn entry's 0-based place in a concert's opening draw, by its
/// published entry id.
pub(super) type DrawPlaces = Arc<HashMap<String, usize>>;

impl App {
    /// Brings back the token of `ticket`, which the waiting room lost: to
    /// the pre-queue while the sale has not opened, else to its place in
    /// line, that of the draw for a fan drawn at the opening, or that of
    /// the ticket's arrival.
    pub(super) async fn rejoin(
        &self,
        ticket: &Ticket,
        room: &RoomSnapshot,
    ) -> anyhow::Result<Option<QueueToken>> {
        let now = self.now();
        let phase = room
            .room
            .phase_at(now, self.policies.queue.pre_queue_window_secs);
        let lane = match phase {
            RoomPhase::NotYetOpen { .. } | RoomPhase::PreQueue { .. } => Lane::PreQueue,
            _ => Lane::Line,
        };
        let drawn = match lane {
            // Only a scheduled sale is ever drawn.
            Lane::Line => Some(
                self.draw_places(ticket, room.room.sale.opens_at.is_some())
                    .await?,
            ),
            Lane::PreQueue => None,
        };
        let entry = room::lottery_entry_id(&ticket.token.to_string());
        let key = drawn
            .and_then(|places| places.get(&entry).copied())
            .map_or(ticket.issued_at.as_millis(), Rejoin::drawn_key);
        let rejoin = Rejoin {
            concert: ticket.concert,
            user: ticket.user,
            token: ticket.token,
            issued_at: ticket.issued_at,
            epoch: ticket.epoch,
            lane,
            key,
        };
        let back = self
            .adapters
            .waiting_room
            .rejoin(&rejoin, now, &self.policy_of(room))
            .await?;
        if back.is_some() {
            tracing::debug!(concert = %ticket.concert, "a fan came back to a room that lost its line");
        }
        Ok(back)
    }

    /// Each drawn entry's 0-based place in the concert's opening draw, by
    /// its published entry id; empty without a draw. Read once per process:
    /// a draw never changes, and a sale that is not scheduled (`!scheduled`)
    /// is never drawn, so a line of fans coming back costs one read, not
    /// one each.
    async fn draw_places(&self, ticket: &Ticket, scheduled: bool) -> anyhow::Result<DrawPlaces> {
        if let Ok(known) = self.draws.read()
            && let Some(places) = known.get(&ticket.concert)
        {
            return Ok(places.clone());
        }
        let lottery = self.store().lottery(ticket.concert).await?;
        let places: DrawPlaces = Arc::new(
            lottery
                .iter()
                .flatten()
                .enumerate()
                .map(|(place, entry)| (entry.clone(), place))
                .collect(),
        );
        if (lottery.is_some() || !scheduled)
            && let Ok(mut known) = self.draws.write()
        {
            known.insert(ticket.concert, places.clone());
        }
        Ok(places)
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::TokenId;
    use crate::domain::access::Ticket;
    use crate::domain::queue_token::TokenState;
    use crate::testing::{TestApp, user};

    #[tokio::test]
    async fn polling_shows_admission_and_unknown_tokens_are_refused() {
        let t = TestApp::new().await;
        let issued = t.issue(user(1)).await;
        t.app.activate_batch_once().await.unwrap();
        let polled = t.poll(&issued).await;
        assert!(matches!(polled.token.state, TokenState::Active { .. }));
        assert_eq!(polled.eta_secs(), None);
        let unknown = Ticket {
            token: TokenId::from_bytes([7; 16]),
            ..TestApp::ticket_of(&issued)
        };
        let refused = t.app.poll_token(user(1), unknown).await;
        assert!(matches!(refused, Err(super::PollTokenError::UnknownToken)));
    }

    #[tokio::test]
    async fn another_fans_ticket_is_refused_and_not_kept_alive() {
        let t = TestApp::new().await;
        let theirs = t.issue(user(1)).await;
        let ticket = TestApp::ticket_of(&theirs);
        let refused = t.app.poll_token(user(2), ticket).await;
        assert!(matches!(refused, Err(super::PollTokenError::NotYours)));
        // The refused poll did not count as a sign of life for user 1's token.
        t.clock
            .advance_secs(t.app.policies().queue.abandon_after_secs);
        let polled = t.poll(&theirs).await;
        assert!(matches!(polled.token.state, TokenState::Expired { .. }));
    }
}
