//! Checking a token's place in line (which also keeps it from being
//! abandoned), with its ticket, as the fan it was issued to.

use super::{App, TokenView};
use crate::domain::UserId;
use crate::domain::access::Ticket;

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
        let found = self
            .adapters
            .waiting_room
            .poll(
                ticket.concert,
                ticket.token,
                self.now(),
                &self.policy_of(&room),
            )
            .await?;
        found
            .filter(|t| t.user_id == user && t.concert_id == ticket.concert)
            .map(|t| self.view_of(t, &room))
            .ok_or(PollTokenError::UnknownToken)
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
