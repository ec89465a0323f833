//! The waiting-list port on SQL: each date's line of fans, and the offers
//! that hold a seat that came back in the first waiter's name, written in
//! one transaction with the hold (decision 0020).

use super::booking::Waiters;
use super::*;
use crate::conn::{Conn, Tx};
use crate::rows;
use crate::values::{Record, args};
use async_trait::async_trait;
use boxoffice_core::domain::waitlist::{
    DateForWaitlist, JoinRefusal, WaitlistEntry, WaitlistStatus,
};
use boxoffice_core::domain::{HoldId, ScheduleId, Timestamp, UserId};
use boxoffice_core::ports::{
    HoldOutcome, JoinOutcome, OfferAttempt, OfferOutcome, SettledOffers, Waitlist,
};

/// An entry with its place among the date's waiters (`ahead`, itself
/// included), for [`entry`].
macro_rules! entries_sql {
    ($where:literal) => {
        concat!(
            "SELECT w.*,
                    (SELECT COUNT(*) FROM waitlist_entry o
                      WHERE o.schedule_id = w.schedule_id AND o.status = 'WAITING'
                        AND o.id <= w.id) AS ahead
               FROM waitlist_entry w WHERE ",
            $where
        )
    };
}

/// Seats of date `$1` a fan could hold at `$2`: never held, or their hold ended.
macro_rules! free_seats {
    () => {
        "FROM seat WHERE schedule_id = $1
            AND (status = 'AVAILABLE' OR (status = 'HELD' AND held_until_ms <= $2))"
    };
}

/// Closes up to `$2` open offers whose hold is as `$hold_ended` says at
/// `$1`, as `$to`.
macro_rules! settle_offers_sql {
    ($to:literal, $hold_ended:literal) => {
        concat!(
            "UPDATE waitlist_entry SET status = '",
            $to,
            "', closed_at_ms = $1
              WHERE id IN (SELECT w.id FROM waitlist_entry w
                             JOIN seat_hold h ON h.id = w.hold_id
                            WHERE w.status = 'OFFERED' AND (",
            $hold_ended,
            ") ORDER BY w.id LIMIT $2)
                AND status = 'OFFERED'"
        )
    };
}

fn entry(row: &Record) -> anyhow::Result<WaitlistEntry> {
    let text = row.text("status")?;
    let status = WaitlistStatus::parse(&text)
        .ok_or_else(|| anyhow::anyhow!("unknown waiting-list status {text:?}"))?;
    let ahead = u64::try_from(row.int("ahead")?)?;
    Ok(WaitlistEntry {
        user_id: UserId::new(row.int("user_id")?)?,
        concert_id: boxoffice_core::domain::ConcertId::new(row.int("concert_id")?)?,
        schedule_id: ScheduleId::new(row.int("schedule_id")?)?,
        joined_at: rows::ts(row, "joined_at_ms")?,
        status,
        position: (status == WaitlistStatus::Waiting).then_some(ahead),
        hold_id: row
            .opt_text("hold_id")?
            .map(|id| id.parse::<HoldId>())
            .transpose()?,
        offer_expires_at: rows::opt_ts(row, "offer_expires_at_ms")?,
    })
}

async fn open_entry<C: Conn>(
    conn: &mut C,
    user: UserId,
    schedule: ScheduleId,
) -> anyhow::Result<Option<WaitlistEntry>> {
    conn.fetch_optional(
        entries_sql!(
            "w.schedule_id = $1 AND w.user_id = $2 AND w.status IN ('WAITING', 'OFFERED')"
        ),
        args![schedule.get(), user.get()],
    )
    .await?
    .as_ref()
    .map(entry)
    .transpose()
}

#[async_trait]
impl<B: Backend> Waitlist for SqlStore<B> {
    async fn join_waitlist(
        &self,
        user: UserId,
        schedule: ScheduleId,
        now: Timestamp,
    ) -> anyhow::Result<JoinOutcome> {
        let mut tx = self.backend.begin().await?;
        let Some(date) = tx
            .fetch_optional(
                concat!(
                    "SELECT s.concert_id, s.cancelled_at_ms,
                            (SELECT COUNT(*) ",
                    free_seats!(),
                    ") AS free_seats,
                            (SELECT COUNT(*) FROM waitlist_entry w
                              WHERE w.schedule_id = $1 AND w.status = 'WAITING') AS waiting
                       FROM schedule s WHERE s.id = $1"
                ),
                args![schedule.get(), now.as_millis()],
            )
            .await?
        else {
            return Ok(JoinOutcome::Refused(JoinRefusal::ScheduleNotFound));
        };
        if let Some(found) = open_entry(&mut tx, user, schedule).await? {
            return Ok(JoinOutcome::Joined(found));
        }
        let looks = DateForWaitlist {
            called_off: rows::opt_ts(&date, "cancelled_at_ms")?.is_some(),
            free_seats: u64::try_from(date.int("free_seats")?)?,
            waiting: u64::try_from(date.int("waiting")?)?,
        };
        if let Err(refusal) = looks.joinable() {
            return Ok(JoinOutcome::Refused(refusal));
        }
        // Two joins of one fan racing: the open-entry index lets one in,
        // and the other reads the entry it made.
        tx.execute(
            "INSERT INTO waitlist_entry (schedule_id, concert_id, user_id, joined_at_ms, status)
             VALUES ($1, $2, $3, $4, 'WAITING')
             ON CONFLICT (schedule_id, user_id) WHERE status IN ('WAITING', 'OFFERED') DO NOTHING",
            args![
                schedule.get(),
                date.int("concert_id")?,
                user.get(),
                now.as_millis()
            ],
        )
        .await?;
        let joined = open_entry(&mut tx, user, schedule)
            .await?
            .ok_or_else(|| anyhow::anyhow!("a waiting-list entry just made is gone"))?;
        tx.commit().await?;
        Ok(JoinOutcome::Joined(joined))
    }

    async fn leave_waitlist(
        &self,
        user: UserId,
        schedule: ScheduleId,
        now: Timestamp,
    ) -> anyhow::Result<bool> {
        let left = self
            .backend
            .writer()
            .execute(
                "UPDATE waitlist_entry SET status = 'LEFT', closed_at_ms = $3
                  WHERE schedule_id = $1 AND user_id = $2 AND status = 'WAITING'",
                args![schedule.get(), user.get(), now.as_millis()],
            )
            .await?;
        Ok(left == 1)
    }

    async fn waitlist_of(&self, user: UserId) -> anyhow::Result<Vec<WaitlistEntry>> {
        let rows = self
            .reader()
            .fetch_all(
                entries_sql!("w.user_id = $1 ORDER BY w.id DESC"),
                args![user.get()],
            )
            .await?;
        rows.iter().map(entry).collect()
    }

    async fn dates_with_waiters(&self, limit: u32) -> anyhow::Result<Vec<ScheduleId>> {
        let rows = self
            .reader()
            .fetch_all(
                "SELECT s.id FROM schedule s
                  WHERE s.cancelled_at_ms IS NULL
                    AND EXISTS (SELECT 1 FROM waitlist_entry w
                                 WHERE w.schedule_id = s.id AND w.status = 'WAITING')
                  ORDER BY s.id LIMIT $1",
                args![limit],
            )
            .await?;
        rows.iter()
            .map(|row| Ok(ScheduleId::new(row.int("id")?)?))
            .collect()
    }

    async fn offer_seat(&self, a: &OfferAttempt) -> anyhow::Result<OfferOutcome> {
        let mut tx = self.backend.begin().await?;
        let Some(found) = tx
            .fetch_optional(
                concat!(
                    "SELECT s.concert_id, (SELECT seat_number ",
                    free_seats!(),
                    " ORDER BY seat_number LIMIT 1) AS seat
                       FROM schedule s WHERE s.id = $1 AND s.cancelled_at_ms IS NULL"
                ),
                args![a.schedule_id.get(), a.now.as_millis()],
            )
            .await?
        else {
            return Ok(OfferOutcome::NoSeat);
        };
        let Some(seat) = found.opt_int("seat")? else {
            return Ok(OfferOutcome::NoSeat);
        };
        let seat = boxoffice_core::domain::SeatNumber::new(seat)?;
        let concert = found.int("concert_id")?;
        let Some(waiter) = tx
            .fetch_optional(
                "SELECT w.id, w.user_id FROM waitlist_entry w
                  WHERE w.schedule_id = $1 AND w.status = 'WAITING'
                    AND (SELECT COUNT(*) FROM reservation r
                          WHERE r.user_id = w.user_id AND r.concert_id = $2 AND r.status = 'CONFIRMED')
                      + (SELECT COALESCE(SUM(h.seat_count), 0) FROM seat_hold h
                          WHERE h.user_id = w.user_id AND h.concert_id = $2 AND h.status = 'ACTIVE'
                            AND h.expires_at_ms > $3) < $4
                  ORDER BY w.id LIMIT 1",
                args![
                    a.schedule_id.get(),
                    concert,
                    a.now.as_millis(),
                    a.max_per_concert
                ],
            )
            .await?
        else {
            return Ok(OfferOutcome::NoWaiter);
        };
        let user = UserId::new(waiter.int("user_id")?)?;
        // The hold itself, under the fan's hold lock, counts their tickets
        // again: a hold of theirs that committed since the pick above is
        // seen, so the per-concert limit stays exact.
        let hold = match self
            .hold_in(&mut tx, &a.hold_for(user, seat), Waiters::AreServed)
            .await?
        {
            HoldOutcome::Held(hold) => hold,
            _ => return Ok(OfferOutcome::Raced),
        };
        let offered = tx
            .execute(
                "UPDATE waitlist_entry SET status = 'OFFERED', hold_id = $2, offer_expires_at_ms = $3
                  WHERE id = $1 AND status = 'WAITING'",
                args![
                    waiter.int("id")?,
                    a.hold_id.to_string(),
                    a.expires_at.as_millis()
                ],
            )
            .await?;
        if offered != 1 {
            // The fan left, or another instance's offer reached them first:
            // dropping the transaction gives the seat back.
            return Ok(OfferOutcome::Raced);
        }
        tx.commit().await?;
        Ok(OfferOutcome::Offered(hold))
    }

    async fn settle_offers(&self, now: Timestamp, limit: u32) -> anyhow::Result<SettledOffers> {
        let mut tx = self.backend.begin().await?;
        let args = || args![now.as_millis(), limit];
        // The rule of `settled_offer`: paid is bought; released, or ended
        // unpaid, is lapsed.
        let bought = tx
            .execute(
                settle_offers_sql!("BOUGHT", "h.status = 'CONSUMED'"),
                args(),
            )
            .await?;
        let lapsed = tx
            .execute(
                settle_offers_sql!(
                    "LAPSED",
                    "h.status = 'RELEASED' OR (h.status = 'ACTIVE' AND h.expires_at_ms <= $1)"
                ),
                args(),
            )
            .await?;
        tx.commit().await?;
        Ok(SettledOffers { bought, lapsed })
    }
}
