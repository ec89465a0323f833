//! The opening of a scheduled sale: the pre-queue is drawn into line, once
//! per concert, however many instances reach the opening together.
//!
//! The waiting room hands out the pre-queue as taken (the same entries to
//! every caller; later pre-queue entries join the line instead). The order
//! is a function of the concert's seed and the entries' public ids alone
//! (`domain::room::draw`), so every instance computes the same one. The
//! store records the draw once; the waiting room places it once, ahead of
//! everyone who arrived after the opening, and admits nobody until it has.
//! A crash between the two steps is repaired by the next call: the same
//! entries give the same order.

use super::App;
use crate::domain::TokenId;
use crate::domain::room::{self, RoomState};
use crate::ports::RoomChange;
use std::collections::HashMap;

impl App {
    /// Draws the concert's pre-queue into line unless that was done.
    pub async fn open_sale(&self, concert: crate::domain::ConcertId) -> anyhow::Result<()> {
        let Some(snapshot) = self.fresh_room_of(concert).await? else {
            return Ok(());
        };
        let policy = self.policy_of(&snapshot);
        let now = self.now();
        let waiting_room = &self.adapters.waiting_room;
        let taken = waiting_room.take_pre_queue(concert, now, &policy).await?;
        if taken.placed {
            return Ok(());
        }
        let seed = snapshot.room.lottery_seed.clone().unwrap_or_default();
        let by_id: HashMap<String, TokenId> = taken
            .entries
            .iter()
            .map(|t| (room::lottery_entry_id(&t.to_string()), *t))
            .collect();
        let ids: Vec<String> = by_id.keys().cloned().collect();
        let drawn = room::draw(&seed, &ids);
        let order: Vec<TokenId> = drawn.iter().filter_map(|id| by_id.get(id)).copied().collect();
        let before = snapshot.room.state;
        let mut opened = snapshot.room.clone();
        if before == RoomState::Scheduled {
            opened.state = RoomState::Open;
        }
        let changes = [
            RoomChange {
                changed_at: now,
                field: "state".into(),
                old_value: Some(before.name().into()),
                new_value: Some(opened.state.name().into()),
            },
            RoomChange {
                changed_at: now,
                field: "lottery".into(),
                old_value: None,
                new_value: Some(format!("{} entries drawn", drawn.len())),
            },
        ];
        let event = self.room_event(&opened, before, "sale opened", &["state", "lottery"]);
        let recorded = self
            .store()
            .record_draw(concert, &drawn, now, &changes, &event)
            .await?;
        waiting_room
            .place_drawn(concert, &order, now, &policy)
            .await?;
        self.forget_room(concert);
        if recorded {
            tracing::info!(concert = %concert, entries = drawn.len(), "sale opened: pre-queue drawn into line");
        }
        Ok(())
    }
}
