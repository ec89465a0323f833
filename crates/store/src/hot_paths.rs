//! A hold and a payment in fewer round trips, where the database can run
//! them (decision 0010). The shared transactions in `sql_store` send one
//! statement at a time: six round trips for a hold, ten for a payment. On
//! PostgreSQL, the conditional strategy instead:
//!
//! - holds one seat with one call of `boxoffice_hold_seat` (migration 0003,
//!   with the hold limits since migration 0004, the per-concert ticket
//!   limit since migration 0010 and the seats of baskets counted since
//!   migration 0014); a basket of several seats takes the shared
//!   transaction,
//!   which runs the shared hold's statements in their order, server-side,
//!   as its own transaction;
//! - pays in a transaction of two statements: one consumes the hold and
//!   debits its price, the other sells the seat and writes the reservation,
//!   the ledger entry, the outbox event and the idempotent answer (with
//!   its key, for a first request). Between
//!   them the domain builds the event and the receipt, as in the shared
//!   code. A basket, found consumed by the first statement, is settled by
//!   the shared code in the same transaction.
//!
//! Both keep every guard of the shared code (each write is conditional on
//! what it changes still being allowed) and answer as it does: the same
//! store contract suite runs on both forms. One race answers differently: a
//! hold released or swept while its payment waits for the row is refused
//! as expired here (the hold is classified after the attempt), where the
//! shared code, having read it live before, says already paid.

use crate::conn::{Conn, Tx};
use crate::rows;
use crate::sql_store::{
    Backend, SqlStore, current_balance, find_hold, fresh_key_args, held, leased_key_args,
};
use crate::values::args;
use anyhow::Context;
use boxoffice_core::domain::events;
use boxoffice_core::domain::idempotency::{IdempotencyTicket, KeyStanding, KeyTaken, Recorded};
use boxoffice_core::domain::reservation::PaymentReceipt;
use boxoffice_core::domain::seat_hold::{HeldSeat, HoldLimitReached};
use boxoffice_core::domain::{ConcertId, Won};
use boxoffice_core::ports::{
    HoldAttempt, HoldOutcome, PaymentAttempt, PaymentOutcome, PaymentRefused,
};

/// The statements of the fewer-round-trip forms.
#[derive(Debug)]
pub struct HotPaths {
    /// Holds a seat in one call. `$1` hold id, `$2` user, `$3` schedule,
    /// `$4` seat, `$5` now, `$6` expiry, `$7` to `$11` the hold limits
    /// (live, live with an empty balance, lapsed, lapse window start, seats
    /// per concert); answers `outcome` (`HELD`, `LAPSED_LIMIT`, `LIVE_LIMIT`,
    /// `UNFUNDED_LIMIT`, `CONCERT_LIMIT`, `NO_SUCH_SEAT`, `SEAT_SOLD`,
    /// `SEAT_TAKEN`), and `held_price`, `held_concert_id` when held.
    pub hold_seat: &'static str,
    /// Consumes a live hold of the payer and debits its price if the
    /// balance covers it. `$1` hold, `$2` user, `$3` now. No row: nothing was consumed. A row with a NULL
    /// `balance_after`: the hold was consumed but the balance is short (the
    /// caller rolls back).
    pub consume_and_debit: &'static str,
    /// Sells the held seat, inserts the reservation, the balance entry, the
    /// sale's ledger postings (as `LedgerTransaction::sale` makes them) and
    /// the outbox event; answers `sold` (1, or 0 when the seat was not held
    /// by the hold: the caller rolls back). See [`settle_sale_sql!`].
    pub settle_sale: &'static str,
    /// [`HotPaths::settle_sale`] that also records the idempotent answer
    /// under a leased ticket's claim row (`$18`-`$22` as `leased_key_args`
    /// orders them); answers `keyed` too (0 when the lease was lost: the
    /// caller rolls back).
    pub settle_sale_with_answer: &'static str,
    /// [`HotPaths::settle_sale`] that also writes a fresh ticket's key with
    /// its answer (`$18`-`$23` as `fresh_key_args` orders them); answers
    /// `keyed` too (0 when the key was taken: the caller rolls back).
    pub settle_sale_with_fresh_key: &'static str,
}

/// The sale statement, with an optional extra CTE and answer column. `$1` schedule, `$2`
/// seat, `$3` hold, `$4` reservation, `$5` user, `$6` concert, `$7` price,
/// `$8` now, `$9` balance after, `$10`-`$15` the outbox event (id, type,
/// schema version, key, payload, creation), `$16`-`$17` its trace.
macro_rules! settle_sale_sql {
    () => {
        settle_sale_sql!("", "")
    };
    ($extra:literal, $column:literal) => {
        concat!(
            "WITH sold AS (
                UPDATE seat SET status = 'SOLD', held_until_ms = NULL, version = version + 1
                 WHERE schedule_id = $1 AND seat_number = $2 AND hold_id = $3 AND status = 'HELD'
             RETURNING seat_number
            ), reserved AS (
                INSERT INTO reservation
                    (id, user_id, concert_id, schedule_id, seat_number, price, hold_id, confirmed_at_ms)
                SELECT $4, $5, $6, $1, $2, $7, $3, $8 FROM sold
            ), entry AS (
                INSERT INTO balance_entry (user_id, kind, amount, balance_after, reference, created_at_ms)
                VALUES ($5, 'PAYMENT', $7, $9, $4, $8)
            ), posted AS (
                INSERT INTO ledger_posting (transaction_id, account_kind, account_owner, amount, created_at_ms)
                SELECT 'sale:' || $4, 'FAN', $5, -$7, $8 FROM sold
                 UNION ALL
                SELECT 'sale:' || $4, 'REVENUE', $6, $7, $8 FROM sold
            ), event AS (
                INSERT INTO outbox (id, event_type, schema_version, aggregate_key, payload, created_at_ms,
                                    traceparent, request_id)
                VALUES ($10, $11, $12, $13, $14, $15, $16, $17)
            )",
            $extra,
            " SELECT COUNT(*) AS sold",
            $column,
            " FROM sold"
        )
    };
}
pub(crate) use settle_sale_sql;

impl<B: Backend> SqlStore<B> {
    pub(crate) async fn hold_seat_in_one_call(
        &self,
        hot: &HotPaths,
        a: &HoldAttempt,
    ) -> anyhow::Result<HoldOutcome> {
        let row = self
            .backend
            .writer()
            .fetch_one(
                hot.hold_seat,
                args![
                    a.hold_id.to_string(),
                    a.user_id.get(),
                    a.schedule_id.get(),
                    i64::from(a.seats.lowest().get()),
                    a.now.as_millis(),
                    a.expires_at.as_millis(),
                    a.limits.max_live,
                    a.limits.max_live_unfunded,
                    a.limits.max_lapsed,
                    a.limits.lapsed_since.as_millis(),
                    a.limits.max_per_concert
                ],
            )
            .await?;
        Ok(match row.text("outcome")?.as_str() {
            "HELD" => {
                let concert_id = ConcertId::new(row.int("held_concert_id")?)?;
                let seat = HeldSeat {
                    number: a.seats.lowest(),
                    price: rows::won(&row, "held_price")?,
                };
                HoldOutcome::Held(held(a, concert_id, vec![seat]))
            }
            "LAPSED_LIMIT" => HoldOutcome::LimitReached(HoldLimitReached::Lapsed),
            "LIVE_LIMIT" => HoldOutcome::LimitReached(HoldLimitReached::Live),
            "UNFUNDED_LIMIT" => HoldOutcome::LimitReached(HoldLimitReached::Unfunded),
            "CONCERT_LIMIT" => HoldOutcome::LimitReached(HoldLimitReached::PerConcert),
            "NO_SUCH_SEAT" => HoldOutcome::NoSuchSeat,
            "SEAT_SOLD" => HoldOutcome::SeatSold,
            "SEAT_TAKEN" => HoldOutcome::SeatTaken,
            other => anyhow::bail!("boxoffice_hold_seat answered an unknown outcome {other:?}"),
        })
    }

    pub(crate) async fn confirm_payment_in_two_statements(
        &self,
        hot: &HotPaths,
        a: &PaymentAttempt,
        ticket: Option<&IdempotencyTicket>,
    ) -> anyhow::Result<PaymentOutcome> {
        let refused = |r| Ok(PaymentOutcome::Refused(r));
        let mut tx = self.backend.begin().await?;
        let consumed = tx
            .fetch_optional(
                hot.consume_and_debit,
                args![a.hold_id.to_string(), a.user_id.get(), a.now.as_millis()],
            )
            .await?;
        let Some(consumed) = consumed else {
            // Nothing changed: say why, as the shared code would have before
            // trying. A hold that looks payable lost a race to another payment.
            let found = find_hold(&mut tx, a.hold_id).await?;
            return refused(
                a.payable(found)
                    .err()
                    .unwrap_or(PaymentRefused::AlreadyPaid),
            );
        };
        let hold = rows::hold(&consumed)?;
        let Some(after) = consumed.opt_int("balance_after")?.map(Won::new) else {
            let balance = current_balance(&mut tx, a.user_id).await?;
            // Dropping the transaction rolls the consumed hold back.
            return refused(PaymentRefused::InsufficientBalance {
                balance,
                price: hold.price,
            });
        };
        if consumed.int("seat_count")? > 1 {
            // A basket: its seats are read, and sold by the shared code.
            let hold = find_hold(&mut tx, a.hold_id)
                .await?
                .context("a consumed hold vanished")?;
            let receipt = self.settle_sale(&mut tx, a, &hold, after, ticket).await?;
            tx.commit().await?;
            return Ok(PaymentOutcome::Confirmed(receipt));
        }
        let [sale] = a
            .sale(&hold)
            .context("the payment brings no sale ids")?
            .try_into()
            .map_err(|_| anyhow::anyhow!("a hold of one seat made other than one sale"))?;
        let reservation = sale.reservation;
        let event = events::reservation_confirmed(sale.event_id, &reservation);
        let [traceparent, request_id] = rows::trace_args(&event);
        let receipt = PaymentReceipt::of(std::slice::from_ref(&reservation), after)
            .context("a sale without a reservation")?;
        let mut sale_args = args![
            hold.schedule_id.get(),
            i64::from(reservation.seat_number.get()),
            hold.id.to_string(),
            reservation.id.to_string(),
            a.user_id.get(),
            hold.concert_id.get(),
            hold.price.amount(),
            a.now.as_millis(),
            after.amount(),
            event.id.to_string(),
            event.event_type,
            i64::from(event.schema_version),
            event.aggregate_key,
            event.payload,
            event.created_at.as_millis(),
            traceparent,
            request_id
        ];
        let answer = || Recorded::<&PaymentReceipt, PaymentRefused>::Done(&receipt).to_json();
        let statement = match ticket {
            None => hot.settle_sale,
            Some(
                ticket @ IdempotencyTicket {
                    standing: KeyStanding::Leased(until),
                    ..
                },
            ) => {
                sale_args.extend(leased_key_args(ticket, *until, answer()?));
                hot.settle_sale_with_answer
            }
            Some(
                ticket @ IdempotencyTicket {
                    standing: KeyStanding::Fresh(fresh),
                    ..
                },
            ) => {
                sale_args.extend(fresh_key_args(ticket, fresh, answer()?));
                hot.settle_sale_with_fresh_key
            }
        };
        let row = tx.fetch_one(statement, sale_args).await?;
        if ticket.is_some() {
            // The key taken, or the lease: dropping the transaction rolls
            // the sale back.
            anyhow::ensure!(row.int("keyed")? == 1, KeyTaken);
        }
        let sold = row.int("sold")?;
        anyhow::ensure!(sold == 1, "live hold {} does not hold its seat", hold.id);
        tx.commit().await?;
        Ok(PaymentOutcome::Confirmed(receipt))
    }
}
