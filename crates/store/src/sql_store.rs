//! [`SqlStore`]: the `Store` port on SQL, written once for SQLite and
//! PostgreSQL. A [`Backend`] supplies connections and the few statements
//! whose text differs ([`Dialect`]); everything else, SQL included, is
//! shared, so both databases behave alike by construction and are held to
//! the same contract suite. The one exception is the hot path of a hold and
//! a payment on PostgreSQL (`hot_paths`, decision 0010), held to the same
//! suite.

use crate::conn::{Conn, Tx};
pub use crate::hot_paths::HotPaths;
use crate::rows;
use crate::values::{Record, args};
use async_trait::async_trait;
use boxoffice_core::domain::events::OutboxEvent;
use boxoffice_core::domain::idempotency::{FreshKey, IdempotencyTicket, KeyStanding, KeyTaken};
use boxoffice_core::domain::ledger::LedgerTransaction;
use boxoffice_core::domain::seat::SeatStatus;
use boxoffice_core::domain::seat_hold::{HeldSeat, Hold};
use boxoffice_core::domain::{ConcertId, HoldId, SeatNumber, Timestamp, UserId, Won};
use boxoffice_core::ports::{HoldAttempt, MoneyTotals, RoomChange, Store, StoreAudit};
use std::future::Future;

mod accounts;
#[cfg(test)]
pub(crate) use accounts::{
    a_sale_broken_behind_the_stores_back_shows_in_its_audit,
    tampering_with_a_posting_or_a_balance_is_reported,
};
mod booking;
mod catalog;
mod idempotency;
mod identity;
mod outbox;
mod rooms;
mod waitlist;

/// Statements whose text differs between databases.
#[derive(Debug)]
pub struct Dialect {
    /// Serialises one user's hold attempts so the per-user limit holds under
    /// concurrency. `None` where write transactions are already serial (SQLite).
    pub lock_user_holds: Option<&'static str>,
    /// Reads a seat's state and locks its row (pessimistic strategy).
    pub seat_for_update: &'static str,
    /// Reads a balance and locks its row (pessimistic strategy).
    pub balance_for_update: &'static str,
    /// Claims unpublished outbox events ([`claim_outbox_sql!`]).
    pub claim_outbox: &'static str,
    /// Fewer-round-trip forms of a hold and a payment, where the database
    /// can run them (decision 0010). The conditional strategy uses them.
    pub hot_paths: Option<&'static HotPaths>,
    /// Gives subject `$1` the next mapped user id, unless it has one.
    pub insert_subject: &'static str,
    /// Inserts concert `$1`'s drawn entries from `$2`, a JSON array of
    /// entry ids in place order (place 1 first), in one statement.
    pub insert_lottery: &'static str,
}

/// The outbox claim, with `$row_lock` appended to the inner `SELECT`:
/// `FOR UPDATE SKIP LOCKED` where relays in several instances may claim at
/// once (PostgreSQL), nothing where writes are serial (SQLite). An event is
/// claimable when unpublished, not under a live claim, and the oldest
/// unpublished event of its key. `$1` now, `$2` lease end, `$3` limit.
macro_rules! claim_outbox_sql {
    ($row_lock:literal) => {
        concat!(
            "UPDATE outbox SET claimed_until_ms = $2, claimed_by = $4
              WHERE seq IN (
                SELECT o.seq FROM outbox o
                 WHERE o.published_at_ms IS NULL
                   AND (o.claimed_until_ms IS NULL OR o.claimed_until_ms <= $1)
                   AND NOT EXISTS (SELECT 1 FROM outbox e
                                    WHERE e.aggregate_key = o.aggregate_key
                                      AND e.published_at_ms IS NULL
                                      AND e.seq < o.seq)
                 ORDER BY o.seq
                 LIMIT $3 ",
            $row_lock,
            ")
             RETURNING seq, id, event_type, schema_version, aggregate_key, payload, created_at_ms,
                       traceparent, request_id"
        )
    };
}
pub(crate) use claim_outbox_sql;

/// A database: where transactions and reads come from.
pub trait Backend: Send + Sync + std::fmt::Debug + 'static {
    #[allow(private_bounds)]
    type Tx: Tx + 'static;
    #[allow(private_bounds)]
    type Pool: Conn + Clone + Sync + 'static;
    /// Opens a write transaction.
    fn begin(&self) -> impl Future<Output = anyhow::Result<Self::Tx>> + Send;
    /// A connection pool for reads.
    fn reader(&self) -> Self::Pool;
    /// A connection pool for single writes that are their own transaction.
    fn writer(&self) -> Self::Pool;
    fn dialect(&self) -> &'static Dialect;
}

/// How seat holds and balance changes defend against concurrent writers.
/// All are correct; they differ in speed under contention (docs/concurrency.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Concurrency {
    /// One `UPDATE ... WHERE <still allowed> RETURNING`: losing a race is "no row".
    #[default]
    Conditional,
    /// `SELECT ... FOR UPDATE`, decide, then `UPDATE`.
    Pessimistic,
    /// Read the row's version, then `UPDATE ... WHERE version = $seen`,
    /// retrying up to `max_attempts` times when someone else changed it.
    Optimistic { max_attempts: u32 },
}

#[derive(Debug, Clone)]
pub struct SqlStore<B> {
    pub(crate) backend: B,
    concurrency: Concurrency,
}

impl<B: Backend> SqlStore<B> {
    pub fn new(backend: B, concurrency: Concurrency) -> Self {
        Self {
            backend,
            concurrency,
        }
    }

    pub(crate) fn reader(&self) -> B::Pool {
        self.backend.reader()
    }
}

/// What claiming a seat found.
enum SeatClaim {
    Won { price: Won, concert_id: ConcertId },
    Taken,
    Sold,
    Missing,
}

async fn seat_claim_after_miss<C: Conn>(
    tx: &mut C,
    a: &HoldAttempt,
    seat: SeatNumber,
) -> anyhow::Result<SeatClaim> {
    let row = tx
        .fetch_optional(
            "SELECT status FROM seat WHERE schedule_id = $1 AND seat_number = $2",
            args![a.schedule_id.get(), i64::from(seat.get())],
        )
        .await?;
    Ok(
        match row.map(|r| r.text("status")).transpose()?.as_deref() {
            None => SeatClaim::Missing,
            Some("SOLD") => SeatClaim::Sold,
            Some(_) => SeatClaim::Taken,
        },
    )
}

fn won_claim(row: &Record) -> anyhow::Result<SeatClaim> {
    Ok(SeatClaim::Won {
        price: rows::won(row, "price")?,
        concert_id: ConcertId::new(row.int("concert_id")?)?,
    })
}

impl<B: Backend> SqlStore<B> {
    /// Marks `seat` held by `a` if it is free at `a.now`, by the configured strategy.
    async fn claim_seat(
        &self,
        tx: &mut B::Tx,
        a: &HoldAttempt,
        seat_number: SeatNumber,
    ) -> anyhow::Result<SeatClaim> {
        let (schedule, seat) = (a.schedule_id.get(), i64::from(seat_number.get()));
        let hold_id = a.hold_id.to_string();
        match self.concurrency {
            Concurrency::Conditional => {
                let won = tx
                    .fetch_optional(
                        "UPDATE seat
                            SET status = 'HELD', hold_id = $1, held_until_ms = $2, version = version + 1
                          WHERE schedule_id = $3 AND seat_number = $4
                            AND (status = 'AVAILABLE' OR (status = 'HELD' AND held_until_ms <= $5))
                      RETURNING price, (SELECT concert_id FROM schedule WHERE id = $3) AS concert_id",
                        args![hold_id, a.expires_at.as_millis(), schedule, seat, a.now.as_millis()],
                    )
                    .await?;
                match won {
                    Some(row) => won_claim(&row),
                    None => seat_claim_after_miss(tx, a, seat_number).await,
                }
            }
            Concurrency::Pessimistic => {
                let sql = self.backend.dialect().seat_for_update;
                let Some(row) = tx.fetch_optional(sql, args![schedule, seat]).await? else {
                    return Ok(SeatClaim::Missing);
                };
                match rows::seat_state(&row)?.status_at(a.now) {
                    SeatStatus::Sold => return Ok(SeatClaim::Sold),
                    SeatStatus::Held => return Ok(SeatClaim::Taken),
                    SeatStatus::Available => {}
                }
                let won = tx
                    .fetch_one(
                        "UPDATE seat
                            SET status = 'HELD', hold_id = $1, held_until_ms = $2, version = version + 1
                          WHERE schedule_id = $3 AND seat_number = $4
                      RETURNING price, (SELECT concert_id FROM schedule WHERE id = $3) AS concert_id",
                        args![hold_id, a.expires_at.as_millis(), schedule, seat],
                    )
                    .await?;
                won_claim(&won)
            }
            Concurrency::Optimistic { max_attempts } => {
                for _ in 0..max_attempts.max(1) {
                    let Some(row) = tx
                        .fetch_optional(
                            "SELECT status, held_until_ms, version FROM seat
                              WHERE schedule_id = $1 AND seat_number = $2",
                            args![schedule, seat],
                        )
                        .await?
                    else {
                        return Ok(SeatClaim::Missing);
                    };
                    match rows::seat_state(&row)?.status_at(a.now) {
                        SeatStatus::Sold => return Ok(SeatClaim::Sold),
                        SeatStatus::Held => return Ok(SeatClaim::Taken),
                        SeatStatus::Available => {}
                    }
                    let won = tx
                        .fetch_optional(
                            "UPDATE seat
                                SET status = 'HELD', hold_id = $1, held_until_ms = $2, version = version + 1
                              WHERE schedule_id = $3 AND seat_number = $4 AND version = $5
                          RETURNING price, (SELECT concert_id FROM schedule WHERE id = $3) AS concert_id",
                            args![hold_id.clone(), a.expires_at.as_millis(), schedule, seat, row.int("version")?],
                        )
                        .await?;
                    if let Some(row) = won {
                        return won_claim(&row);
                    }
                }
                // Someone else kept changing the seat: they won it.
                Ok(SeatClaim::Taken)
            }
        }
    }

    /// Applies `change` to the user's balance if the result stays within
    /// `[0, max]`, by the configured strategy. Returns the new balance, or
    /// `None` (with nothing changed) when the bound would be crossed.
    async fn change_balance(
        &self,
        tx: &mut B::Tx,
        user: UserId,
        change: i64,
        max: Won,
        now: Timestamp,
    ) -> anyhow::Result<Option<Won>> {
        let user = user.get();
        let (now, max) = (now.as_millis(), max.amount());
        let fits = |amount: i64| amount.checked_add(change).filter(|v| (0..=max).contains(v));
        match self.concurrency {
            Concurrency::Conditional => {
                let row = tx
                    .fetch_optional(
                        "UPDATE balance SET amount = amount + $1, updated_at_ms = $3, version = version + 1
                          WHERE user_id = $2 AND amount + $1 >= 0 AND amount + $1 <= $4
                      RETURNING amount",
                        args![change, user, now, max],
                    )
                    .await?;
                row.map(|r| rows::won(&r, "amount")).transpose()
            }
            Concurrency::Pessimistic => {
                let sql = self.backend.dialect().balance_for_update;
                let Some(row) = tx.fetch_optional(sql, args![user]).await? else {
                    return Ok(None);
                };
                let Some(after) = fits(row.int("amount")?) else {
                    return Ok(None);
                };
                tx.execute(
                    "UPDATE balance SET amount = $1, updated_at_ms = $3, version = version + 1 WHERE user_id = $2",
                    args![after, user, now],
                )
                .await?;
                Ok(Some(Won::new(after)))
            }
            Concurrency::Optimistic { max_attempts } => {
                for _ in 0..max_attempts.max(1) {
                    let Some(row) = tx
                        .fetch_optional(
                            "SELECT amount, version FROM balance WHERE user_id = $1",
                            args![user],
                        )
                        .await?
                    else {
                        return Ok(None);
                    };
                    let Some(after) = fits(row.int("amount")?) else {
                        return Ok(None);
                    };
                    let changed = tx
                        .execute(
                            "UPDATE balance SET amount = $1, updated_at_ms = $3, version = version + 1
                              WHERE user_id = $2 AND version = $4",
                            args![after, user, now, row.int("version")?],
                        )
                        .await?;
                    if changed == 1 {
                        return Ok(Some(Won::new(after)));
                    }
                }
                anyhow::bail!(
                    "balance of user {user} kept changing: gave up after {max_attempts} attempts"
                )
            }
        }
    }
}

pub(crate) async fn current_balance<C: Conn>(c: &mut C, user: UserId) -> anyhow::Result<Won> {
    let row = c
        .fetch_optional(
            "SELECT amount FROM balance WHERE user_id = $1",
            args![user.get()],
        )
        .await?;
    Ok(row
        .map(|r| rows::won(&r, "amount"))
        .transpose()?
        .unwrap_or_default())
}

/// A concert's room, entry rules and seats not SOLD, in one read.
const ROOM_SNAPSHOT: &str =
    "SELECT c.proof_of_work_bits, c.room_state, c.room_version, c.admit_batch,
        c.admit_interval_secs, c.max_active, c.active_ttl_secs, c.abandon_after_secs,
        c.sale_opens_at_ms, c.sale_closes_at_ms, c.lottery_seed_hex, c.lottery_drawn_at_ms,
        c.flow_admitted_per_round_milli, c.flow_no_show_permille, c.flow_admitted_total,
        c.flow_abandoned_total, c.flow_cohorts, c.flow_session_ms, c.flow_session_spread_ms,
        c.flow_observed_at_ms,
        (SELECT COUNT(*) FROM seat s JOIN schedule d ON d.id = s.schedule_id
          WHERE d.concert_id = c.id AND s.status <> 'SOLD') AS sellable
   FROM concert c WHERE c.id = $1";

async fn record_room_changes<C: Conn>(
    c: &mut C,
    concert: ConcertId,
    changes: &[RoomChange],
) -> anyhow::Result<()> {
    for change in changes {
        c.execute(
            "INSERT INTO room_change (concert_id, changed_at_ms, field, old_value, new_value)
             VALUES ($1, $2, $3, NULLIF($4, ''), NULLIF($5, ''))",
            args![
                concert.get(),
                change.changed_at.as_millis(),
                &change.field,
                change.old_value.clone().unwrap_or_default(),
                change.new_value.clone().unwrap_or_default()
            ],
        )
        .await?;
    }
    Ok(())
}

async fn append_event<C: Conn>(c: &mut C, event: &OutboxEvent) -> anyhow::Result<()> {
    let [traceparent, request_id] = rows::trace_args(event);
    c.execute(
        "INSERT INTO outbox (id, event_type, schema_version, aggregate_key, payload, created_at_ms,
                             traceparent, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        args![
            event.id.to_string(),
            &event.event_type,
            i64::from(event.schema_version),
            &event.aggregate_key,
            &event.payload,
            event.created_at.as_millis(),
            traceparent,
            request_id
        ],
    )
    .await?;
    Ok(())
}

/// One row of the balance ledger.
struct Entry<'a> {
    user: UserId,
    kind: &'static str,
    amount: Won,
    after: Won,
    reference: &'a str,
    now: Timestamp,
}

async fn append_entry<C: Conn>(c: &mut C, e: Entry<'_>) -> anyhow::Result<()> {
    c.execute(
        "INSERT INTO balance_entry (user_id, kind, amount, balance_after, reference, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6)",
        args![
            e.user.get(),
            e.kind,
            e.amount.amount(),
            e.after.amount(),
            e.reference,
            e.now.as_millis()
        ],
    )
    .await?;
    Ok(())
}

/// Posts a ledger transaction, in the caller's transaction.
async fn post<C: Conn>(
    c: &mut C,
    transaction: &LedgerTransaction,
    now: Timestamp,
) -> anyhow::Result<()> {
    debug_assert!(transaction.balances(), "{transaction:?}");
    for p in transaction.postings() {
        c.execute(
            "INSERT INTO ledger_posting (transaction_id, account_kind, account_owner, amount, created_at_ms)
             VALUES ($1, $2, $3, $4, $5)",
            args![
                transaction.id(),
                p.account.kind(),
                p.account.owner(),
                p.amount,
                now.as_millis()
            ],
        )
        .await?;
    }
    Ok(())
}

async fn record_answer<C: Conn>(
    c: &mut C,
    ticket: Option<&IdempotencyTicket>,
    answer: serde_json::Result<String>,
) -> anyhow::Result<()> {
    let Some(ticket) = ticket else {
        return Ok(());
    };
    let answer = answer?;
    let fresh = match &ticket.standing {
        KeyStanding::Fresh(fresh) => fresh,
        KeyStanding::Leased(until) => {
            // The claim is answered only while its lease is this ticket's.
            let written = c
                .execute(
                    "UPDATE idempotency_key SET response = $1
                      WHERE user_id = $2 AND scope = $3 AND key = $4
                        AND response IS NULL AND lease_until_ms = $5",
                    leased_key_args(ticket, *until, answer),
                )
                .await?;
            anyhow::ensure!(written == 1, KeyTaken);
            return Ok(());
        }
    };
    // A fresh ticket writes its key with the answer. A twin in flight holds
    // the key's index entry: this waits for it, then finds the key taken.
    let written = c
        .execute(
            "INSERT INTO idempotency_key
                (user_id, scope, key, fingerprint, response, lease_until_ms, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $6)
             ON CONFLICT (user_id, scope, key) DO NOTHING",
            fresh_key_args(ticket, fresh, answer),
        )
        .await?;
    anyhow::ensure!(written == 1, KeyTaken);
    Ok(())
}

/// The arguments of a leased ticket's answer: `$1` answer, `$2` user, `$3`
/// scope, `$4` key, `$5` the lease it holds.
pub(crate) fn leased_key_args(
    ticket: &IdempotencyTicket,
    until: Timestamp,
    answer: String,
) -> Vec<crate::values::Val> {
    args![
        answer,
        ticket.user_id.get(),
        ticket.scope.as_str(),
        ticket.key.as_str(),
        until.as_millis()
    ]
}

/// The arguments of a fresh ticket's key row: `$1` user, `$2` scope, `$3`
/// key, `$4` fingerprint, `$5` answer, `$6` creation (its lease is over as
/// it is written: the row has its answer).
pub(crate) fn fresh_key_args(
    ticket: &IdempotencyTicket,
    fresh: &FreshKey,
    answer: String,
) -> Vec<crate::values::Val> {
    args![
        ticket.user_id.get(),
        ticket.scope.as_str(),
        ticket.key.as_str(),
        fresh.fingerprint.as_str(),
        answer,
        fresh.created_at.as_millis()
    ]
}

/// What the hold limits count for a fan, in one range scan of
/// `seat_hold_by_user`: live holds, lapsed ones (released, or ended unpaid)
/// whose expiry is inside the window, the seats of live holds of the concert asked for,
/// and, beside it, the balance and the fan's confirmed reservations of that concert
/// (`reservation_by_user`). `$1` user, `$2` now, `$3` start of the lapse
/// window, `$4` the schedule held ([`fan_holds_args`]).
pub(crate) const FAN_HOLDS: &str = "SELECT
        COUNT(CASE WHEN status = 'ACTIVE' AND expires_at_ms > $2 THEN 1 END) AS live,
        COUNT(CASE WHEN status = 'RELEASED' OR (status = 'ACTIVE' AND expires_at_ms <= $2) THEN 1 END) AS lapsed,
        CAST(COALESCE(SUM(CASE WHEN status = 'ACTIVE' AND expires_at_ms > $2
                    AND concert_id = (SELECT s.concert_id FROM schedule s WHERE s.id = $4)
                    THEN seat_count ELSE 0 END), 0) AS BIGINT)
            + (SELECT COUNT(*) FROM reservation r
                WHERE r.user_id = $1 AND r.status = 'CONFIRMED'
                  AND r.concert_id = (SELECT s.concert_id FROM schedule s WHERE s.id = $4))
            AS concert_tickets,
        (SELECT COALESCE(MAX(b.amount), 0) FROM balance b WHERE b.user_id = $1) AS funds
      FROM seat_hold WHERE user_id = $1 AND expires_at_ms > $3";

pub(crate) fn fan_holds_args(a: &HoldAttempt) -> Vec<crate::values::Val> {
    args![
        a.user_id.get(),
        a.now.as_millis(),
        a.limits.lapsed_since.as_millis(),
        a.schedule_id.get()
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!(
        text.len().is_multiple_of(2),
        "a stored secret is not hexadecimal"
    );
    (0..text.len())
        .step_by(2)
        .map(|i| Ok(u8::from_str_radix(&text[i..i + 2], 16)?))
        .collect()
}

/// The hold `a` made of `seats` (claimed, in ascending order).
pub(crate) fn held(a: &HoldAttempt, concert_id: ConcertId, seats: Vec<HeldSeat>) -> Hold {
    Hold::new(
        a.hold_id,
        a.user_id,
        concert_id,
        a.schedule_id,
        seats,
        a.now,
        a.expires_at,
    )
}

/// A hold's row joined to its seats ([`rows::holds`]).
macro_rules! hold_with_seats_sql {
    ($where:literal, $order:literal) => {
        concat!(
            "SELECT h.*, hs.seat_number AS held_seat, hs.price AS held_seat_price
               FROM seat_hold h LEFT JOIN hold_seat hs ON hs.hold_id = h.id
              WHERE ",
            $where,
            " ORDER BY ",
            $order
        )
    };
}
pub(crate) use hold_with_seats_sql;

pub(crate) async fn find_hold<C: Conn>(c: &mut C, hold: HoldId) -> anyhow::Result<Option<Hold>> {
    let rows = c
        .fetch_all(
            hold_with_seats_sql!("h.id = $1", "hs.seat_number"),
            args![hold.to_string()],
        )
        .await?;
    Ok(rows::holds(&rows)?.pop())
}

/// Runs the store contract suite once per [`Concurrency`] strategy against
/// stores made by `$fresh(strategy).await`.
#[cfg(test)]
macro_rules! contract_per_strategy {
    ($fresh:ident) => {
        mod conditional {
            use super::*;
            boxoffice_core::store_contract_tests!($fresh(Concurrency::Conditional).await);
        }

        mod pessimistic {
            use super::*;
            boxoffice_core::store_contract_tests!($fresh(Concurrency::Pessimistic).await);
        }

        mod optimistic {
            use super::*;
            boxoffice_core::store_contract_tests!(
                $fresh(Concurrency::Optimistic { max_attempts: 50 }).await
            );
        }

        mod delivery {
            use super::*;
            boxoffice_core::delivery_contract_tests!($fresh(Concurrency::Conditional).await);
        }
    };
}
#[cfg(test)]
pub(crate) use contract_per_strategy;

#[async_trait]
impl<B: Backend> Store for SqlStore<B> {
    async fn audit(&self) -> anyhow::Result<StoreAudit> {
        let row = self
            .reader()
            .fetch_one(
                "SELECT
                    (SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM balance_entry WHERE kind = 'CHARGE') AS charged,
                    (SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM balance) AS balances,
                    (SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM balance_entry WHERE kind = 'PAYMENT') AS paid,
                    (SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM balance_entry WHERE kind = 'REFUND') AS refunded,
                    (SELECT COUNT(*) FROM reservation) AS reservations,
                    (SELECT COUNT(*) FROM reservation WHERE status = 'CANCELLED') AS cancelled,
                    (SELECT COUNT(*) FROM balance WHERE amount < 0) AS negative_balances,
                    (SELECT COUNT(*) FROM (SELECT schedule_id, seat_number FROM reservation WHERE status = 'CONFIRMED'
                                            GROUP BY schedule_id, seat_number HAVING COUNT(*) > 1) twice) AS sold_twice,
                    (SELECT COUNT(*) FROM seat s WHERE s.status = 'SOLD' AND NOT EXISTS
                        (SELECT 1 FROM reservation r WHERE r.schedule_id = s.schedule_id AND r.seat_number = s.seat_number
                            AND r.status = 'CONFIRMED'))
                    + (SELECT COUNT(*) FROM reservation r WHERE r.status = 'CONFIRMED' AND NOT EXISTS
                        (SELECT 1 FROM seat s WHERE s.schedule_id = r.schedule_id AND s.seat_number = r.seat_number
                            AND s.status = 'SOLD')) AS out_of_step,
                    (SELECT COUNT(*) FROM reservation r WHERE
                        (SELECT COUNT(*) FROM outbox o WHERE o.aggregate_key = r.id
                            AND o.event_type = 'ReservationConfirmed') <> 1
                     OR (SELECT COUNT(*) FROM outbox o WHERE o.aggregate_key = r.id
                            AND o.event_type = 'ReservationCancelled')
                        <> CASE WHEN r.status = 'CANCELLED' THEN 1 ELSE 0 END) AS without_one_event",
                args![],
            )
            .await?;
        let count = |col: &str| -> anyhow::Result<u64> { Ok(u64::try_from(row.int(col)?)?) };
        Ok(StoreAudit {
            money: MoneyTotals {
                charged: rows::won(&row, "charged")?,
                balances: rows::won(&row, "balances")?,
                paid: rows::won(&row, "paid")?,
                refunded: rows::won(&row, "refunded")?,
            },
            reservations: count("reservations")?,
            cancelled: count("cancelled")?,
            negative_balances: count("negative_balances")?,
            seats_sold_twice: count("sold_twice")?,
            sales_out_of_step: count("out_of_step")?,
            reservations_without_one_event: count("without_one_event")?,
        })
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.reader().fetch_all("SELECT 1 AS one", args![]).await?;
        Ok(())
    }
}
