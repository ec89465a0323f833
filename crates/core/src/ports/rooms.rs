//! The rooms port: each concert's room as its operator runs it (state,
//! settings, audit, the pre-queue's draw, the flow the admission rounds
//! observe) and the console's samples of the sale.

use crate::domain::concert::EntryRules;
use crate::domain::events::OutboxEvent;
use crate::domain::room::{Flow, Room};
use crate::domain::sample::{SaleSample, SeatTally};
use crate::domain::{ConcertId, Timestamp};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A room as the use cases read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSnapshot {
    pub room: Room,
    pub rules: EntryRules,
    /// Seats of the concert not SOLD (AVAILABLE or HELD).
    pub sellable_seats: u64,
}

/// One recorded change of a room: a field's old and new value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomChange {
    pub changed_at: Timestamp,
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

#[async_trait]
pub trait Rooms: Send + Sync + std::fmt::Debug {
    /// The concert's room with its entry rules and the seats that can
    /// still be sold (not SOLD: AVAILABLE, or HELD and so maybe coming
    /// back); `None`: no such concert.
    async fn room(&self, concert: ConcertId) -> anyhow::Result<Option<RoomSnapshot>>;
    /// Replaces the room's state, settings and sale times with `room`'s if
    /// it is still at `expected_version` (bumping it), recording `changes`
    /// in the room's audit list and appending `event` to the outbox, all in
    /// one transaction. False when it was changed first (or is unknown).
    async fn update_room(
        &self,
        room: &Room,
        expected_version: i64,
        changes: &[RoomChange],
        event: &OutboxEvent,
    ) -> anyhow::Result<bool>;
    /// The latest `limit` changes of the room, newest first.
    async fn room_audit(&self, concert: ConcertId, limit: u32) -> anyhow::Result<Vec<RoomChange>>;
    /// Records the pre-queue's draw, once per concert: the drawn entry ids
    /// in order, the room OPEN if it was SCHEDULED, `changes` and `event`.
    /// False when the concert's draw was recorded already.
    async fn record_draw(
        &self,
        concert: ConcertId,
        drawn: &[String],
        now: Timestamp,
        changes: &[RoomChange],
        event: &OutboxEvent,
    ) -> anyhow::Result<bool>;
    /// The drawn entry ids of the concert in their places (first is place
    /// 1); `None` before the draw.
    async fn lottery(&self, concert: ConcertId) -> anyhow::Result<Option<Vec<String>>>;
    /// Keeps what the admission rounds observed of the line.
    async fn record_flow(&self, concert: ConcertId, flow: &Flow) -> anyhow::Result<()>;

    // --- the console's samples -------------------------------------------------
    /// The concert's seats at `now`, over all its dates, and its revenue.
    async fn seat_tally(&self, concert: ConcertId, now: Timestamp) -> anyhow::Result<SeatTally>;
    /// Keeps `samples` (one already kept for its concert and instant stays
    /// as it is) and deletes every sample taken before `keep_from`.
    async fn record_samples(
        &self,
        samples: &[SaleSample],
        keep_from: Timestamp,
    ) -> anyhow::Result<()>;
    /// The newest `limit` samples of the concert taken at or after `since`,
    /// oldest first.
    async fn samples(
        &self,
        concert: ConcertId,
        since: Timestamp,
        limit: u32,
    ) -> anyhow::Result<Vec<SaleSample>>;
}
