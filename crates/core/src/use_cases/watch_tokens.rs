//! Many fans watching their tokens at once (the event streams): one
//! waiting-room call for all the watched tokens of a concert.

use super::{App, TokenView};
use crate::domain::ConcertId;
use crate::domain::access::Ticket;

impl App {
    /// The views of `tickets`, all of `concert`, each `None` when its token
    /// is unknown or not its fan's. Counts as a poll of each; a token the
    /// room lost is brought back, as a poll does.
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
        let mut views = Vec::with_capacity(tickets.len());
        for (ticket, token) in tickets.iter().zip(found) {
            let token = match token {
                // Lost with the room's line: the fan is back in their place.
                None if ticket.epoch != 0 => self.rejoin(ticket, &room).await?,
                found => found,
            };
            views.push(
                token
                    .filter(|t| t.user_id == ticket.user && t.concert_id == concert)
                    .map(|t| self.view_of(t, &room)),
            );
        }
        Ok(views)
    }
}
