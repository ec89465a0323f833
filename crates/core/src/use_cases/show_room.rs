//! What is shown of a room: to its operator (settings, head counts, the
//! audit list), to everyone (state, sale times, the lottery's commitment),
//! and, after the opening, the lottery itself.

use super::App;
use crate::domain::queue_token::QueuePolicy;
use crate::domain::room::{self, Room, RoomPhase};
use crate::domain::{ConcertId, Timestamp};
use crate::ports::{Census, RoomChange};

/// A room as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomReport {
    pub room: Room,
    pub phase: RoomPhase,
    /// The settings the room runs on: its own over the defaults.
    pub policy: QueuePolicy,
    /// The cap admission applies now, lowered by the seats still sellable.
    pub admitting_up_to: u32,
    pub sellable_seats: u64,
    /// Head counts: the operator's report only.
    pub census: Option<Census>,
}

/// A drawn lottery, as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LotteryReveal {
    pub seed: String,
    pub commitment: String,
    pub drawn_at: Timestamp,
    /// Entry ids in their drawn places (place 1 first).
    pub entries: Vec<String>,
}

impl App {
    /// The room for its operator, read now, with head counts.
    pub async fn show_room(&self, concert: ConcertId) -> anyhow::Result<Option<RoomReport>> {
        self.report(concert, true).await
    }

    /// The room as anyone may see it, read at most a second ago.
    pub async fn public_room(&self, concert: ConcertId) -> anyhow::Result<Option<RoomReport>> {
        self.report(concert, false).await
    }

    async fn report(&self, concert: ConcertId, full: bool) -> anyhow::Result<Option<RoomReport>> {
        let found = if full {
            self.fresh_room_of(concert).await?
        } else {
            self.room_of(concert).await?
        };
        let Some(snapshot) = found else {
            return Ok(None);
        };
        let now = self.now();
        let policy = self.policy_of(&snapshot);
        let census = if full {
            Some(
                self.adapters
                    .waiting_room
                    .census(concert, now, &policy)
                    .await?,
            )
        } else {
            None
        };
        Ok(Some(RoomReport {
            phase: snapshot
                .room
                .phase_at(now, self.policies.queue.pre_queue_window_secs),
            admitting_up_to: policy.capped_by_seats(snapshot.sellable_seats).max_active,
            policy,
            sellable_seats: snapshot.sellable_seats,
            census,
            room: snapshot.room,
        }))
    }

    /// The room's latest changes, newest first; `None`: no such concert.
    pub async fn room_audit(
        &self,
        concert: ConcertId,
        limit: u32,
    ) -> anyhow::Result<Option<Vec<RoomChange>>> {
        if self.room_of(concert).await?.is_none() {
            return Ok(None);
        }
        self.store().room_audit(concert, limit).await.map(Some)
    }

    /// The concert's drawn lottery; `Ok(None)`: no such concert or no draw yet.
    pub async fn lottery(&self, concert: ConcertId) -> anyhow::Result<Option<LotteryReveal>> {
        let Some(snapshot) = self.room_of(concert).await? else {
            return Ok(None);
        };
        let (Some(seed), Some(drawn_at)) = (snapshot.room.lottery_seed, snapshot.room.drawn_at)
        else {
            return Ok(None);
        };
        let Some(entries) = self.store().lottery(concert).await? else {
            return Ok(None);
        };
        Ok(Some(LotteryReveal {
            commitment: room::commitment_of(&seed),
            seed,
            drawn_at,
            entries,
        }))
    }
}
