//! Many fans watching their tokens at once (the event streams): one
//! waiting-room call for all the watched tokens of a concert.

use super::{App, TokenView};
use crate::domain::ConcertId;
use crate::domain::access::Ticket;

impl App {
    /// The views of `tickets`, all of `concert`, each `None` when its token
    /// is unknown or not its fan's. Counts as a poll of each.
    pub async fn watch_tokens(
        &self,
        concert: ConcertId,
        tickets: &[Ticket],
    ) -> anyhow::Result<Vec<Option<TokenView>>> {
        let Some(room) = self.room_of(concert).await? else {
            return Ok(vec![None; tickets.len()]);
        };
        let policy = self.policy_of(&room);
        let tokens: Vec<_> = tickets.iter().map(|t| t.token).collect();
        let found = self
            .adapters
            .waiting_room
            .poll_many(concert, &tokens, self.now(), &policy)
            .await?;
        Ok(tickets
            .iter()
            .zip(found)
            .map(|(ticket, token)| {
                token
                    .filter(|t| t.user_id == ticket.user && t.concert_id == concert)
                    .map(|t| self.view_of(t, &room))
            })
            .collect())
    }
}
