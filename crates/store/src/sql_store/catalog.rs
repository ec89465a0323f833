//! The catalog port on SQL: concerts, schedules, seats and entry rules.

use super::*;
use crate::conn::{Conn, Tx};
use crate::rows;
use crate::values::args;
use async_trait::async_trait;
use boxoffice_core::domain::cancellation::CancellationPolicy;
use boxoffice_core::domain::concert::ConcertChange;
use boxoffice_core::domain::concert::{
    Concert, EntryRules, NewConcert, Schedule, ScheduleAvailability,
};
use boxoffice_core::domain::seat::Seat;
use boxoffice_core::domain::{ConcertId, ScheduleId, Timestamp};
use boxoffice_core::ports::{CancelDatesOutcome, Catalog, UpdateConcertOutcome};

#[async_trait]
impl<B: Backend> Catalog for SqlStore<B> {
    async fn list_concerts(&self) -> anyhow::Result<Vec<Concert>> {
        let rows = self
            .reader()
            .fetch_all("SELECT id, title, artist FROM concert ORDER BY id", args![])
            .await?;
        rows.iter().map(rows::concert).collect()
    }

    async fn concert(&self, id: ConcertId) -> anyhow::Result<Option<Concert>> {
        let row = self
            .reader()
            .fetch_optional(
                "SELECT id, title, artist FROM concert WHERE id = $1",
                args![id.get()],
            )
            .await?;
        row.as_ref().map(rows::concert).transpose()
    }

    async fn schedule(&self, id: ScheduleId) -> anyhow::Result<Option<Schedule>> {
        let row = self
            .reader()
            .fetch_optional(
                "SELECT id, concert_id, starts_at_ms, venue, cancelled_at_ms FROM schedule WHERE id = $1",
                args![id.get()],
            )
            .await?;
        row.as_ref().map(rows::schedule).transpose()
    }

    async fn schedules_with_availability(
        &self,
        concert: ConcertId,
        now: Timestamp,
    ) -> anyhow::Result<Vec<ScheduleAvailability>> {
        let rows = self
            .reader()
            .fetch_all(
                "SELECT s.id, s.concert_id, s.starts_at_ms, s.venue, s.cancelled_at_ms,
                        CASE WHEN s.cancelled_at_ms IS NOT NULL THEN 0 ELSE
                        (SELECT COUNT(*) FROM seat t
                          WHERE t.schedule_id = s.id
                            AND (t.status = 'AVAILABLE' OR (t.status = 'HELD' AND t.held_until_ms <= $2))
                        ) END AS available
                   FROM schedule s
                  WHERE s.concert_id = $1
                  ORDER BY s.starts_at_ms, s.id",
                args![concert.get(), now.as_millis()],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(ScheduleAvailability {
                    schedule: rows::schedule(row)?,
                    available_seats: u32::try_from(row.int("available")?)?,
                })
            })
            .collect()
    }

    async fn seats(&self, schedule: ScheduleId, now: Timestamp) -> anyhow::Result<Vec<Seat>> {
        let rows = self
            .reader()
            .fetch_all(
                "SELECT seat_number, grade, price, status, held_until_ms
                   FROM seat WHERE schedule_id = $1 ORDER BY seat_number",
                args![schedule.get()],
            )
            .await?;
        rows.iter().map(|row| rows::seat(row, now)).collect()
    }

    async fn create_concert(
        &self,
        concert: &NewConcert,
        now: Timestamp,
    ) -> anyhow::Result<ConcertId> {
        let mut tx = self.backend.begin().await?;
        let id = tx
            .fetch_one(
                "INSERT INTO concert (title, artist, created_at_ms) VALUES ($1, $2, $3) RETURNING id",
                args![concert.title(), concert.artist(), now.as_millis()],
            )
            .await?
            .int("id")?;
        for schedule in concert.schedules() {
            let schedule_id = tx
                .fetch_one(
                    "INSERT INTO schedule (concert_id, starts_at_ms, venue) VALUES ($1, $2, $3) RETURNING id",
                    args![id, schedule.starts_at.as_millis(), &schedule.venue],
                )
                .await?
                .int("id")?;
            for seat in concert.seats() {
                tx.execute(
                    "INSERT INTO seat (schedule_id, seat_number, grade, price, status)
                     VALUES ($1, $2, $3, $4, 'AVAILABLE')",
                    args![
                        schedule_id,
                        i64::from(seat.number.get()),
                        &seat.grade,
                        seat.price.amount()
                    ],
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(ConcertId::new(id)?)
    }

    async fn update_concert(
        &self,
        concert: ConcertId,
        change: &ConcertChange,
        now: Timestamp,
    ) -> anyhow::Result<UpdateConcertOutcome> {
        let mut tx = self.backend.begin().await?;
        if !lock_concert(&mut tx, concert).await? {
            return Ok(UpdateConcertOutcome::NotFound);
        }
        // Dates in id order, so a transaction locking seats of several
        // dates always takes them in the same order.
        let mut dates: Vec<_> = change.schedules.iter().collect();
        dates.sort_by_key(|d| d.schedule_id);
        for date in dates {
            let id = date.schedule_id;
            let owner = tx
                .fetch_optional(
                    "SELECT concert_id FROM schedule WHERE id = $1",
                    args![id.get()],
                )
                .await?;
            if owner.map(|row| row.int("concert_id")).transpose()? != Some(concert.get()) {
                return Ok(UpdateConcertOutcome::ScheduleNotFound(id));
            }
            // Lock the date's free seats: a hold of one waits for this
            // transaction and then holds the changed date. A seat held or
            // sold before the lock is counted next.
            tx.execute(
                "UPDATE seat SET version = version + 1
                  WHERE schedule_id = $1
                    AND (status = 'AVAILABLE' OR (status = 'HELD' AND held_until_ms <= $2))",
                args![id.get(), now.as_millis()],
            )
            .await?;
            let taken = tx
                .fetch_one(
                    "SELECT COUNT(*) AS taken FROM seat
                      WHERE schedule_id = $1
                        AND (status = 'SOLD' OR (status = 'HELD' AND held_until_ms > $2))",
                    args![id.get(), now.as_millis()],
                )
                .await?;
            if taken.int("taken")? > 0 {
                return Ok(UpdateConcertOutcome::ScheduleOnSale(id));
            }
            tx.execute(
                "UPDATE schedule SET starts_at_ms = COALESCE($1, starts_at_ms), venue = COALESCE($2, venue)
                  WHERE id = $3",
                args![
                    date.starts_at.map(|t| t.as_millis()),
                    date.venue.clone(),
                    id.get()
                ],
            )
            .await?;
        }
        tx.execute(
            "UPDATE concert SET title = COALESCE($1, title), artist = COALESCE($2, artist)
              WHERE id = $3",
            args![change.title.clone(), change.artist.clone(), concert.get()],
        )
        .await?;
        tx.commit().await?;
        Ok(UpdateConcertOutcome::Updated)
    }

    async fn cancel_dates(
        &self,
        concert: ConcertId,
        only: Option<ScheduleId>,
        now: Timestamp,
    ) -> anyhow::Result<CancelDatesOutcome> {
        let mut tx = self.backend.begin().await?;
        if !lock_concert(&mut tx, concert).await? {
            return Ok(CancelDatesOutcome::NotFound);
        }
        let dates = tx
            .fetch_all(
                "SELECT id, cancelled_at_ms FROM schedule WHERE concert_id = $1 ORDER BY id",
                args![concert.get()],
            )
            .await?;
        if let Some(id) = only
            && !dates.iter().any(|row| row.int("id").ok() == Some(id.get()))
        {
            return Ok(CancelDatesOutcome::ScheduleNotFound(id));
        }
        let (mut called_off, mut released_holds) = (Vec::new(), 0);
        for row in &dates {
            let id = ScheduleId::new(row.int("id")?)?;
            if only.is_some_and(|o| o != id) || row.opt_int("cancelled_at_ms")?.is_some() {
                continue;
            }
            tx.execute(
                "UPDATE schedule SET cancelled_at_ms = $2 WHERE id = $1",
                args![id.get(), now.as_millis()],
            )
            .await?;
            // Holds before seats, the order a payment takes them in: a
            // payment that got its hold first sells, and its reservation
            // is refunded by the round; one that did not finds the hold
            // released.
            released_holds += tx
                .execute(
                    "UPDATE seat_hold SET status = 'RELEASED'
                      WHERE schedule_id = $1 AND status = 'ACTIVE'",
                    args![id.get()],
                )
                .await?;
            tx.execute(
                "UPDATE seat SET status = 'AVAILABLE', hold_id = NULL, held_until_ms = NULL, version = version + 1
                  WHERE schedule_id = $1 AND status = 'HELD'
                    AND NOT EXISTS (SELECT 1 FROM seat_hold h WHERE h.id = seat.hold_id AND h.status = 'ACTIVE')",
                args![id.get()],
            )
            .await?;
            called_off.push(id);
        }
        tx.commit().await?;
        Ok(CancelDatesOutcome::Cancelled {
            called_off,
            released_holds,
        })
    }

    async fn entry_rules(&self, concert: ConcertId) -> anyhow::Result<Option<EntryRules>> {
        let row = self
            .reader()
            .fetch_optional(
                "SELECT proof_of_work_bits FROM concert WHERE id = $1",
                args![concert.get()],
            )
            .await?;
        row.map(|row| {
            let bits = row
                .opt_int("proof_of_work_bits")?
                .map(u8::try_from)
                .transpose()?;
            Ok(EntryRules::new(bits)?)
        })
        .transpose()
    }

    async fn set_entry_rules(
        &self,
        concert: ConcertId,
        rules: &EntryRules,
    ) -> anyhow::Result<bool> {
        let updated = self
            .backend
            .writer()
            .execute(
                "UPDATE concert SET proof_of_work_bits = $2 WHERE id = $1",
                args![concert.get(), rules.proof_of_work_bits.map(i64::from)],
            )
            .await?;
        Ok(updated == 1)
    }

    async fn cancellation_policy(
        &self,
        concert: ConcertId,
    ) -> anyhow::Result<Option<Option<CancellationPolicy>>> {
        let row = self
            .reader()
            .fetch_optional(
                "SELECT cancellation_policy FROM concert WHERE id = $1",
                args![concert.get()],
            )
            .await?;
        row.map(|row| rows::cancellation_policy(&row)).transpose()
    }

    async fn set_cancellation_policy(
        &self,
        concert: ConcertId,
        policy: Option<&CancellationPolicy>,
    ) -> anyhow::Result<bool> {
        let text = policy.map(serde_json::to_string).transpose()?;
        let updated = self
            .backend
            .writer()
            .execute(
                "UPDATE concert SET cancellation_policy = $2 WHERE id = $1",
                args![concert.get(), text],
            )
            .await?;
        Ok(updated == 1)
    }
}

/// Locks the concert's row in `tx`, first of all: changes and call-offs of
/// one concert then run one at a time, so the seat and hold locks they take
/// after it never cross. False for an unknown concert.
async fn lock_concert<C: Conn>(tx: &mut C, concert: ConcertId) -> anyhow::Result<bool> {
    let found = tx
        .execute(
            "UPDATE concert SET title = title WHERE id = $1",
            args![concert.get()],
        )
        .await?;
    Ok(found > 0)
}
