//! The rooms port on SQL: each room's state and audit (`room`,
//! `room_change`), the pre-queue's draw (`lottery_place`), observed flow and
//! the console's samples (`sale_sample`).

use super::*;
use crate::conn::{Conn, Tx};
use crate::rows;
use crate::values::args;
use async_trait::async_trait;
use boxoffice_core::domain::events::OutboxEvent;
use boxoffice_core::domain::room::{Flow, Room};
use boxoffice_core::domain::sample::{SaleSample, SeatTally};
use boxoffice_core::domain::{ConcertId, Timestamp};
use boxoffice_core::ports::{RoomChange, RoomSnapshot, Rooms};

#[async_trait]
impl<B: Backend> Rooms for SqlStore<B> {
    async fn room(&self, concert: ConcertId) -> anyhow::Result<Option<RoomSnapshot>> {
        let row = self
            .reader()
            .fetch_optional(ROOM_SNAPSHOT, args![concert.get()])
            .await?;
        row.map(|row| rows::room_snapshot(&row, concert))
            .transpose()
    }

    async fn update_room(
        &self,
        room: &Room,
        expected_version: i64,
        changes: &[RoomChange],
        event: &OutboxEvent,
    ) -> anyhow::Result<bool> {
        let s = &room.settings;
        let opt = |v: Option<u64>| v.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
        let mut tx = self.backend.begin().await?;
        let updated = tx
            .execute(
                "UPDATE concert SET room_state = $3, admit_batch = $4, admit_interval_secs = $5,
                        max_active = $6, active_ttl_secs = $7, abandon_after_secs = $8,
                        sale_opens_at_ms = $9, sale_closes_at_ms = $10,
                        lottery_seed_hex = COALESCE(lottery_seed_hex, NULLIF($11, '')),
                        room_version = room_version + 1
                  WHERE id = $1 AND room_version = $2",
                args![
                    room.concert.get(),
                    expected_version,
                    room.state.name(),
                    s.admit_batch.map(i64::from),
                    opt(s.admit_interval_secs),
                    s.max_active.map(i64::from),
                    opt(s.active_ttl_secs),
                    opt(s.abandon_after_secs),
                    room.sale.opens_at.map(|t| t.as_millis()),
                    room.sale.closes_at.map(|t| t.as_millis()),
                    room.lottery_seed.clone().unwrap_or_default()
                ],
            )
            .await?;
        if updated != 1 {
            return Ok(false);
        }
        record_room_changes(&mut tx, room.concert, changes).await?;
        append_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn room_audit(&self, concert: ConcertId, limit: u32) -> anyhow::Result<Vec<RoomChange>> {
        let found = self
            .reader()
            .fetch_all(
                "SELECT changed_at_ms, field, old_value, new_value FROM room_change
                  WHERE concert_id = $1 ORDER BY id DESC LIMIT $2",
                args![concert.get(), limit],
            )
            .await?;
        found
            .iter()
            .map(|row| {
                Ok(RoomChange {
                    changed_at: Timestamp::from_millis(row.int("changed_at_ms")?),
                    field: row.text("field")?,
                    old_value: row.opt_text("old_value")?,
                    new_value: row.opt_text("new_value")?,
                })
            })
            .collect()
    }

    async fn record_draw(
        &self,
        concert: ConcertId,
        drawn: &[String],
        now: Timestamp,
        changes: &[RoomChange],
        event: &OutboxEvent,
    ) -> anyhow::Result<bool> {
        let mut tx = self.backend.begin().await?;
        let updated = tx
            .execute(
                "UPDATE concert SET lottery_drawn_at_ms = $2, room_version = room_version + 1,
                        room_state = CASE WHEN room_state = 'SCHEDULED' THEN 'OPEN' ELSE room_state END
                  WHERE id = $1 AND lottery_drawn_at_ms IS NULL",
                args![concert.get(), now.as_millis()],
            )
            .await?;
        if updated != 1 {
            return Ok(false);
        }
        tx.execute(
            self.backend.dialect().insert_lottery,
            args![concert.get(), serde_json::to_string(drawn)?],
        )
        .await?;
        record_room_changes(&mut tx, concert, changes).await?;
        append_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn lottery(&self, concert: ConcertId) -> anyhow::Result<Option<Vec<String>>> {
        let drawn = self
            .reader()
            .fetch_optional(
                "SELECT lottery_drawn_at_ms FROM concert WHERE id = $1",
                args![concert.get()],
            )
            .await?;
        if drawn
            .map(|row| row.opt_int("lottery_drawn_at_ms"))
            .transpose()?
            .flatten()
            .is_none()
        {
            return Ok(None);
        }
        let entries = self
            .reader()
            .fetch_all(
                "SELECT entry_id FROM lottery_entry WHERE concert_id = $1 ORDER BY place",
                args![concert.get()],
            )
            .await?;
        entries
            .iter()
            .map(|row| row.text("entry_id"))
            .collect::<anyhow::Result<Vec<_>>>()
            .map(Some)
    }

    async fn seat_tally(&self, concert: ConcertId, now: Timestamp) -> anyhow::Result<SeatTally> {
        let row = self
            .reader()
            .fetch_one(
                "SELECT COUNT(CASE WHEN s.status = 'SOLD' THEN 1 END) AS sold,
                        COUNT(CASE WHEN s.status = 'HELD' AND s.held_until_ms > $2 THEN 1 END) AS held,
                        COUNT(*) AS seats,
                        (SELECT CAST(COALESCE(SUM(r.price - COALESCE(r.refund, 0)), 0) AS BIGINT)
                           FROM reservation r WHERE r.concert_id = $1) AS revenue
                   FROM seat s JOIN schedule d ON d.id = s.schedule_id
                  WHERE d.concert_id = $1",
                args![concert.get(), now.as_millis()],
            )
            .await?;
        let count = |col: &str| -> anyhow::Result<u64> { Ok(u64::try_from(row.int(col)?)?) };
        let (sold, held) = (count("sold")?, count("held")?);
        Ok(SeatTally {
            available: count("seats")?.saturating_sub(sold + held),
            held,
            sold,
            revenue: rows::won(&row, "revenue")?,
        })
    }

    async fn record_samples(
        &self,
        samples: &[SaleSample],
        keep_from: Timestamp,
    ) -> anyhow::Result<()> {
        let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let mut tx = self.backend.begin().await?;
        for sample in samples {
            tx.execute(
                "INSERT INTO sale_sample (concert_id, at_ms, pre_queued, waiting, active,
                        admitted_total, seats_available, seats_held, seats_sold, revenue)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (concert_id, at_ms) DO NOTHING",
                args![
                    sample.concert.get(),
                    sample.at.as_millis(),
                    int(sample.pre_queued),
                    int(sample.waiting),
                    int(sample.active),
                    int(sample.admitted_total),
                    int(sample.seats.available),
                    int(sample.seats.held),
                    int(sample.seats.sold),
                    sample.seats.revenue.amount()
                ],
            )
            .await?;
        }
        tx.execute(
            "DELETE FROM sale_sample WHERE at_ms < $1",
            args![keep_from.as_millis()],
        )
        .await?;
        tx.commit().await
    }

    async fn samples(
        &self,
        concert: ConcertId,
        since: Timestamp,
        limit: u32,
    ) -> anyhow::Result<Vec<SaleSample>> {
        let found = self
            .reader()
            .fetch_all(
                "SELECT * FROM (
                    SELECT at_ms, pre_queued, waiting, active, admitted_total, seats_available,
                           seats_held, seats_sold, revenue
                      FROM sale_sample WHERE concert_id = $1 AND at_ms >= $2
                     ORDER BY at_ms DESC LIMIT $3) newest
                  ORDER BY at_ms",
                args![concert.get(), since.as_millis(), limit],
            )
            .await?;
        found
            .iter()
            .map(|row| rows::sale_sample(row, concert))
            .collect()
    }

    async fn record_flow(&self, concert: ConcertId, flow: &Flow) -> anyhow::Result<()> {
        let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.backend
            .writer()
            .execute(
                "UPDATE concert SET flow_admitted_per_round_milli = $2, flow_no_show_permille = $3,
                        flow_admitted_total = $4, flow_abandoned_total = $5, flow_cohorts = $6,
                        flow_session_ms = $7, flow_session_spread_ms = $8, flow_observed_at_ms = $9
                  WHERE id = $1",
                args![
                    concert.get(),
                    int(flow.admitted_per_round_milli),
                    int(flow.no_show_permille),
                    int(flow.admitted_total),
                    int(flow.abandoned_total),
                    crate::rows::cohorts_text(&flow.cohorts),
                    int(flow.session_ms),
                    int(flow.session_spread_ms),
                    flow.observed_at_ms
                ],
            )
            .await?;
        Ok(())
    }
}
