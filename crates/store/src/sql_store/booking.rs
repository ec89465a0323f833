//! The booking port on SQL: holds on seats and the payments that consume
//! them, by the configured [`super::Concurrency`] strategy; PostgreSQL's
//! conditional strategy runs the hot paths (`hot_paths`, decision 0010).

use super::*;
use crate::conn::{Conn, Tx};
use crate::rows;
use crate::values::args;
use anyhow::Context;
use async_trait::async_trait;
use boxoffice_core::domain::cancellation::{CancelTarget, CancellationReceipt};
use boxoffice_core::domain::events::{self};
use boxoffice_core::domain::idempotency::{IdempotencyTicket, Recorded};
use boxoffice_core::domain::ledger::LedgerTransaction;
use boxoffice_core::domain::reservation::{PaymentReceipt, Reservation};
use boxoffice_core::domain::seat_hold::FanHolds;
use boxoffice_core::domain::seat_hold::{ExtendRefusal, HeldSeat, Hold, HoldExtension};
use boxoffice_core::domain::{HoldId, Timestamp, UserId, Won};
use boxoffice_core::ports::{
    Booking, CancelAttempt, CancelOutcome, CancelRefused, ExtendOutcome, HoldAttempt, HoldOutcome,
    PaymentAttempt, PaymentOutcome, PaymentRefused, ReleaseOutcome,
};

#[async_trait]
impl<B: Backend> Booking for SqlStore<B> {
    async fn hold_seat(&self, a: &HoldAttempt) -> anyhow::Result<HoldOutcome> {
        if let (Concurrency::Conditional, Some(hot), 1) = (
            self.concurrency,
            self.backend.dialect().hot_paths,
            a.seats.len(),
        ) {
            return self.hold_seat_in_one_call(hot, a).await;
        }
        let mut tx = self.backend.begin().await?;
        let outcome = self.hold_in(&mut tx, a, Waiters::ComeFirst).await?;
        if matches!(outcome, HoldOutcome::Held(_)) {
            tx.commit().await?;
        }
        Ok(outcome)
    }

    async fn release_hold(
        &self,
        user: UserId,
        hold: HoldId,
        now: Timestamp,
    ) -> anyhow::Result<ReleaseOutcome> {
        let mut tx = self.backend.begin().await?;
        let Some(found) = find_hold(&mut tx, hold).await? else {
            return Ok(ReleaseOutcome::NotFound);
        };
        if found.user_id != user {
            return Ok(ReleaseOutcome::NotYours);
        }
        let released = tx
            .execute(
                "UPDATE seat_hold SET status = 'RELEASED'
                  WHERE id = $1 AND status = 'ACTIVE' AND expires_at_ms > $2",
                args![hold.to_string(), now.as_millis()],
            )
            .await?;
        if released != 1 {
            return Ok(ReleaseOutcome::NotLive);
        }
        tx.execute(
            "UPDATE seat SET status = 'AVAILABLE', hold_id = NULL, held_until_ms = NULL, version = version + 1
              WHERE schedule_id = $1 AND hold_id = $2 AND status = 'HELD'",
            args![found.schedule_id.get(), hold.to_string()],
        )
        .await?;
        tx.commit().await?;
        Ok(ReleaseOutcome::Released(found.concert_id))
    }

    async fn extend_hold(
        &self,
        user: UserId,
        hold: HoldId,
        now: Timestamp,
        extension: HoldExtension,
    ) -> anyhow::Result<ExtendOutcome> {
        let mut tx = self.backend.begin().await?;
        let Some(found) = find_hold(&mut tx, hold).await? else {
            return Ok(ExtendOutcome::NotFound);
        };
        let until = match extension.new_expiry(&found, user, now) {
            Ok(until) => until,
            Err(refusal) => return Ok(ExtendOutcome::Refused(refusal)),
        };
        // Conditional on the hold being as read: a payment, a release or
        // another extension that committed first leaves no row to change.
        let extended = tx
            .execute(
                "UPDATE seat_hold SET expires_at_ms = $1, extended = 1
                  WHERE id = $2 AND status = 'ACTIVE' AND extended = 0
                    AND expires_at_ms = $3 AND expires_at_ms > $4",
                args![
                    until.as_millis(),
                    hold.to_string(),
                    found.expires_at.as_millis(),
                    now.as_millis()
                ],
            )
            .await?;
        if extended != 1 {
            drop(tx);
            let now_found = find_hold(&mut self.reader(), hold).await?;
            let refusal = now_found
                .and_then(|h| extension.new_expiry(&h, user, now).err())
                .unwrap_or(ExtendRefusal::NotLive);
            return Ok(ExtendOutcome::Refused(refusal));
        }
        let seats = tx
            .execute(
                "UPDATE seat SET held_until_ms = $1, version = version + 1
                  WHERE schedule_id = $2 AND hold_id = $3 AND status = 'HELD'",
                args![until.as_millis(), found.schedule_id.get(), hold.to_string()],
            )
            .await?;
        if seats != found.seats.len() as u64 {
            // Another instance, its clock ahead of ours, took a seat as the
            // hold ended: the hold is over. Dropping the transaction rolls
            // the extension back.
            return Ok(ExtendOutcome::Refused(ExtendRefusal::NotLive));
        }
        tx.commit().await?;
        Ok(ExtendOutcome::Extended(Hold {
            expires_at: until,
            extended: true,
            ..found
        }))
    }

    async fn live_holds_of(&self, user: UserId, now: Timestamp) -> anyhow::Result<Vec<Hold>> {
        let rows = self
            .reader()
            .fetch_all(
                hold_with_seats_sql!(
                    "h.user_id = $1 AND h.expires_at_ms > $2 AND h.status = 'ACTIVE'",
                    "h.created_at_ms DESC, h.id DESC, hs.seat_number"
                ),
                args![user.get(), now.as_millis()],
            )
            .await?;
        rows::holds(&rows)
    }

    async fn release_expired_holds(&self, now: Timestamp, limit: u32) -> anyhow::Result<u64> {
        let mut tx = self.backend.begin().await?;
        let released = tx
            .execute(
                "UPDATE seat_hold SET status = 'RELEASED'
                  WHERE id IN (SELECT id FROM seat_hold
                                WHERE status = 'ACTIVE' AND expires_at_ms <= $1
                                ORDER BY expires_at_ms LIMIT $2)
                    AND status = 'ACTIVE' AND expires_at_ms <= $1",
                args![now.as_millis(), limit],
            )
            .await?;
        tx.execute(
            "UPDATE seat SET status = 'AVAILABLE', hold_id = NULL, held_until_ms = NULL, version = version + 1
              WHERE status = 'HELD' AND held_until_ms <= $1",
            args![now.as_millis()],
        )
        .await?;
        tx.commit().await?;
        Ok(released)
    }

    async fn confirm_payment(
        &self,
        a: &PaymentAttempt,
        ticket: Option<&IdempotencyTicket>,
    ) -> anyhow::Result<PaymentOutcome> {
        if let (Concurrency::Conditional, Some(hot)) =
            (self.concurrency, self.backend.dialect().hot_paths)
        {
            return self.confirm_payment_in_two_statements(hot, a, ticket).await;
        }
        let refused = |r| Ok(PaymentOutcome::Refused(r));
        let mut tx = self.backend.begin().await?;
        let hold = match a.payable(find_hold(&mut tx, a.hold_id).await?) {
            Ok(hold) => hold,
            Err(refusal) => return refused(refusal),
        };
        // The guard against paying twice: only one transaction turns this
        // hold from ACTIVE to CONSUMED.
        let consumed = tx
            .execute(
                "UPDATE seat_hold SET status = 'CONSUMED'
                  WHERE id = $1 AND status = 'ACTIVE' AND expires_at_ms > $2",
                args![a.hold_id.to_string(), a.now.as_millis()],
            )
            .await?;
        if consumed != 1 {
            return refused(PaymentRefused::AlreadyPaid);
        }
        let debit = -hold.price.amount();
        let Some(after) = self
            .change_balance(&mut tx, a.user_id, debit, Won::new(i64::MAX), a.now)
            .await?
        else {
            let balance = current_balance(&mut tx, a.user_id).await?;
            // Dropping the transaction rolls the consumed hold back.
            return refused(PaymentRefused::InsufficientBalance {
                balance,
                price: hold.price,
            });
        };
        let receipt = self.settle_sale(&mut tx, a, &hold, after, ticket).await?;
        tx.commit().await?;
        Ok(PaymentOutcome::Confirmed(receipt))
    }

    async fn cancel_reservation(
        &self,
        a: &CancelAttempt,
        ticket: Option<&IdempotencyTicket>,
    ) -> anyhow::Result<CancelOutcome> {
        let mut tx = self.backend.begin().await?;
        let found = tx
            .fetch_optional(
                "SELECT r.*, s.starts_at_ms, s.cancelled_at_ms AS date_cancelled_at_ms,
                        c.cancellation_policy
                   FROM reservation r
                   JOIN schedule s ON s.id = r.schedule_id
                   JOIN concert c ON c.id = r.concert_id
                  WHERE r.id = $1",
                args![a.reservation_id.to_string()],
            )
            .await?;
        let target = found
            .map(|row| {
                anyhow::Ok(CancelTarget {
                    reservation: rows::reservation(&row)?,
                    starts_at: rows::ts(&row, "starts_at_ms")?,
                    date_cancelled: rows::opt_ts(&row, "date_cancelled_at_ms")?.is_some(),
                    concert_policy: rows::cancellation_policy(&row)?,
                })
            })
            .transpose()?;
        let (reservation, quote) = match a.cancellable(target) {
            Ok(cancellable) => cancellable,
            Err(refused) => return Ok(CancelOutcome::Refused(refused)),
        };
        // The guard against refunding twice: only one transaction turns
        // this reservation from CONFIRMED to CANCELLED.
        let cancelled = tx
            .execute(
                "UPDATE reservation
                    SET status = 'CANCELLED', cancelled_at_ms = $2, refund = $3, fee = $4
                  WHERE id = $1 AND status = 'CONFIRMED'",
                args![
                    a.reservation_id.to_string(),
                    a.now.as_millis(),
                    quote.refund.amount(),
                    quote.fee.amount()
                ],
            )
            .await?;
        if cancelled != 1 {
            return Ok(CancelOutcome::Refused(CancelRefused::AlreadyCancelled));
        }
        let after = if quote.refund > Won::ZERO {
            let after = self
                .change_balance(
                    &mut tx,
                    a.user_id,
                    quote.refund.amount(),
                    Won::new(i64::MAX),
                    a.now,
                )
                .await?
                .with_context(|| format!("no balance of user {} to refund", a.user_id))?;
            let reference = reservation.id.to_string();
            let entry = Entry {
                user: a.user_id,
                kind: "REFUND",
                amount: quote.refund,
                after,
                reference: &reference,
                now: a.now,
            };
            append_entry(&mut tx, entry).await?;
            after
        } else {
            current_balance(&mut tx, a.user_id).await?
        };
        let freed = tx
            .execute(
                "UPDATE seat SET status = 'AVAILABLE', hold_id = NULL, held_until_ms = NULL, version = version + 1
                  WHERE schedule_id = $1 AND seat_number = $2 AND hold_id = $3 AND status = 'SOLD'",
                args![
                    reservation.schedule_id.get(),
                    i64::from(reservation.seat_number.get()),
                    reservation.hold_id.to_string()
                ],
            )
            .await?;
        anyhow::ensure!(
            freed == 1,
            "confirmed reservation {} does not own its sold seat",
            reservation.id
        );
        let returned = LedgerTransaction::cancellation(
            reservation.id,
            a.user_id,
            reservation.concert_id,
            quote.refund,
            quote.fee,
        );
        post(&mut tx, &returned, a.now).await?;
        let receipt = a.receipt(&reservation, a.cancellation(quote), after);
        append_event(
            &mut tx,
            &events::reservation_cancelled(a.event_id, a.user_id, &receipt),
        )
        .await?;
        let answer = Recorded::<&CancellationReceipt, CancelRefused>::Done(&receipt).to_json();
        record_answer(&mut tx, ticket, answer).await?;
        tx.commit().await?;
        Ok(CancelOutcome::Cancelled(receipt))
    }

    async fn reservations_to_refund(&self, limit: u32) -> anyhow::Result<Vec<Reservation>> {
        let rows = self
            .reader()
            .fetch_all(
                "SELECT r.* FROM schedule s
                   JOIN reservation r ON r.schedule_id = s.id AND r.status = 'CONFIRMED'
                  WHERE s.cancelled_at_ms IS NOT NULL
                  ORDER BY r.id LIMIT $1",
                args![limit],
            )
            .await?;
        rows.iter().map(rows::reservation).collect()
    }

    async fn reservations_of(&self, user: UserId) -> anyhow::Result<Vec<Reservation>> {
        let rows = self
            .reader()
            .fetch_all(
                "SELECT * FROM reservation WHERE user_id = $1 ORDER BY confirmed_at_ms DESC, id DESC",
                args![user.get()],
            )
            .await?;
        rows.iter().map(rows::reservation).collect()
    }
}

/// Whether a hold is one a fan asked for, which waiting-list fans come
/// before, or a waiting-list offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Waiters {
    ComeFirst,
    AreServed,
}

/// A fan waiting on date `$1`'s list, if any.
pub(super) const WAITER_ON_DATE: &str =
    "SELECT 1 AS waiting FROM waitlist_entry WHERE schedule_id = $1 AND status = 'WAITING' LIMIT 1";

impl<B: Backend> SqlStore<B> {
    /// Holds the basket of `a` in `tx` by the booking port's rule
    /// ([`Booking::hold_seat`]); the caller commits when it is held. A
    /// refusal leaves claimed seats in `tx`, to be rolled back.
    pub(super) async fn hold_in(
        &self,
        tx: &mut B::Tx,
        a: &HoldAttempt,
        waiters: Waiters,
    ) -> anyhow::Result<HoldOutcome> {
        if let Some(lock) = self.backend.dialect().lock_user_holds {
            tx.execute(lock, args![a.user_id.get()]).await?;
        }
        let counted = tx.fetch_one(FAN_HOLDS, fan_holds_args(a)).await?;
        let fan = FanHolds {
            live: u64::try_from(counted.int("live")?)?,
            lapsed: u64::try_from(counted.int("lapsed")?)?,
            funded: counted.int("funds")? > 0,
            concert_tickets: u64::try_from(counted.int("concert_tickets")?)?,
        };
        if let Some(limit) = a.limits.refusal(fan, a.seats.len()) {
            return Ok(HoldOutcome::LimitReached(limit));
        }
        // While fans wait on the date's list, a seat that comes back is
        // theirs: only an offer (`Waiters::AreServed`) may take it.
        if waiters == Waiters::ComeFirst
            && tx
                .fetch_optional(WAITER_ON_DATE, args![a.schedule_id.get()])
                .await?
                .is_some()
        {
            return Ok(HoldOutcome::SeatTaken);
        }
        // All or none: the seats are claimed in ascending order, and the
        // first that cannot be had drops the transaction, which rolls back
        // the ones claimed before it.
        let mut seats = Vec::with_capacity(a.seats.len());
        let mut concert = None;
        for &number in a.seats.seats() {
            match self.claim_seat(tx, a, number).await? {
                SeatClaim::Won { price, concert_id } => {
                    seats.push(HeldSeat { number, price });
                    concert = Some(concert_id);
                }
                SeatClaim::Taken => return Ok(HoldOutcome::SeatTaken),
                SeatClaim::Sold => return Ok(HoldOutcome::SeatSold),
                SeatClaim::Missing => return Ok(HoldOutcome::NoSuchSeat),
            }
        }
        let concert_id = concert.context("a basket without seats")?;
        let hold = held(a, concert_id, seats);
        tx.execute(
            "INSERT INTO seat_hold
                (id, user_id, concert_id, schedule_id, seat_number, price, created_at_ms, expires_at_ms,
                 status, seat_count)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'ACTIVE', $9)",
            args![
                a.hold_id.to_string(),
                a.user_id.get(),
                concert_id.get(),
                a.schedule_id.get(),
                i64::from(a.seats.lowest().get()),
                hold.price.amount(),
                a.now.as_millis(),
                a.expires_at.as_millis(),
                i64::try_from(hold.seats.len())?
            ],
        )
        .await?;
        for seat in &hold.seats {
            tx.execute(
                "INSERT INTO hold_seat (hold_id, seat_number, price) VALUES ($1, $2, $3)",
                args![
                    a.hold_id.to_string(),
                    i64::from(seat.number.get()),
                    seat.price.amount()
                ],
            )
            .await?;
        }
        Ok(HoldOutcome::Held(hold))
    }
}

impl<B: Backend> SqlStore<B> {
    /// The rest of a payment once `hold` is consumed and its price debited
    /// in `tx`, leaving `after`: sells its seats, and per seat writes the
    /// reservation, the balance entry, the sale's ledger postings and the
    /// `ReservationConfirmed` event; then records the answer under `ticket`.
    pub(crate) async fn settle_sale(
        &self,
        tx: &mut B::Tx,
        a: &PaymentAttempt,
        hold: &Hold,
        after: Won,
        ticket: Option<&IdempotencyTicket>,
    ) -> anyhow::Result<PaymentReceipt> {
        let sales = a
            .sale(hold)
            .context("the payment brings fewer sale ids than the hold has seats")?;
        let sold = tx
            .execute(
                "UPDATE seat SET status = 'SOLD', held_until_ms = NULL, version = version + 1
                  WHERE schedule_id = $1 AND hold_id = $2 AND status = 'HELD'",
                args![hold.schedule_id.get(), hold.id.to_string()],
            )
            .await?;
        anyhow::ensure!(
            sold == hold.seats.len() as u64,
            "live hold {} holds {sold} of its {} seats",
            hold.id,
            hold.seats.len()
        );
        // One debit paid for every seat; each seat's entry shows the
        // balance as if they were paid one after another.
        let mut balance = after
            .checked_add(hold.price)
            .context("the balance before the payment overflows")?;
        for sale in &sales {
            let reservation = &sale.reservation;
            tx.execute(
                "INSERT INTO reservation
                    (id, user_id, concert_id, schedule_id, seat_number, price, hold_id, confirmed_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                args![
                    reservation.id.to_string(),
                    reservation.user_id.get(),
                    reservation.concert_id.get(),
                    reservation.schedule_id.get(),
                    i64::from(reservation.seat_number.get()),
                    reservation.price.amount(),
                    reservation.hold_id.to_string(),
                    a.now.as_millis()
                ],
            )
            .await?;
            balance = balance
                .checked_sub(reservation.price)
                .context("a seat costs more than the hold")?;
            let reference = reservation.id.to_string();
            let entry = Entry {
                user: a.user_id,
                kind: "PAYMENT",
                amount: reservation.price,
                after: balance,
                reference: &reference,
                now: a.now,
            };
            append_entry(tx, entry).await?;
            let posted = LedgerTransaction::sale(
                reservation.id,
                a.user_id,
                reservation.concert_id,
                reservation.price,
            );
            post(tx, &posted, a.now).await?;
            append_event(
                tx,
                &events::reservation_confirmed(sale.event_id, reservation),
            )
            .await?;
        }
        let reservations: Vec<Reservation> = sales.into_iter().map(|s| s.reservation).collect();
        let receipt = PaymentReceipt::of(&reservations, after).context("a hold without seats")?;
        let answer = Recorded::<&PaymentReceipt, PaymentRefused>::Done(&receipt).to_json();
        record_answer(tx, ticket, answer).await?;
        Ok(receipt)
    }
}
