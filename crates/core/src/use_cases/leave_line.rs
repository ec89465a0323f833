//! A fan leaving the line (or giving up their admission): the token ends at
//! once and its slot goes to the next fan.

use super::{App, PollTokenError};
use crate::domain::UserId;
use crate::domain::access::Ticket;

impl App {
    /// Ends the token of `ticket`, as its own fan. False when it had ended
    /// already (or a newer token replaced it, which is left alone).
    pub async fn leave_line(&self, user: UserId, ticket: Ticket) -> Result<bool, PollTokenError> {
        if ticket.user != user {
            return Err(PollTokenError::NotYours);
        }
        let policy = self.queue_policy(ticket.concert).await?;
        let now = self.now();
        let ended = self
            .adapters
            .waiting_room
            .expire(ticket.concert, user, ticket.issued_at, now, &policy)
            .await?;
        match ended {
            Some(token) if token.token == ticket.token => {
                self.revoke_locally(&token);
                Ok(true)
            }
            Some(_) | None => Ok(false),
        }
    }
}
