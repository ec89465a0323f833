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
use boxoffice_core::domain::concert::{
    Concert, EntryRules, NewConcert, Schedule, ScheduleAvailability,
};
use boxoffice_core::domain::events::{self, BalanceCharged, OutboxEvent};
use boxoffice_core::domain::idempotency::{IdempotencyTicket, Recorded};
use boxoffice_core::domain::identity::Subject;
use boxoffice_core::domain::reservation::{PaymentReceipt, Reservation};
use boxoffice_core::domain::room::{Flow, Room};
use boxoffice_core::domain::sample::{SaleSample, SeatTally};
use boxoffice_core::domain::seat::{Seat, SeatStatus};
use boxoffice_core::domain::seat_hold::{FanHolds, Hold, HoldStatus};
use boxoffice_core::domain::{ConcertId, HoldId, ScheduleId, Timestamp, UserId, Won};
use boxoffice_core::ports::{
    ChargeAttempt, ChargeOutcome, ChargeReceipt, ChargeRefused, HoldAttempt, HoldOutcome,
    MoneyTotals, PaymentAttempt, PaymentOutcome, PaymentRefused, ReleaseOutcome, RoomChange,
    RoomSnapshot, Store, StoreAudit,
};
use std::future::Future;

mod idempotency;
mod outbox;

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
            "UPDATE outbox SET claimed_until_ms = $2
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

async fn seat_claim_after_miss<C: Conn>(tx: &mut C, a: &HoldAttempt) -> anyhow::Result<SeatClaim> {
    let row = tx
        .fetch_optional(
            "SELECT status FROM seat WHERE schedule_id = $1 AND seat_number = $2",
            args![a.schedule_id.get(), i64::from(a.seat_number.get())],
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
    /// Marks the seat held by `a` if it is free at `a.now`, by the configured strategy.
    async fn claim_seat(&self, tx: &mut B::Tx, a: &HoldAttempt) -> anyhow::Result<SeatClaim> {
        let (schedule, seat) = (a.schedule_id.get(), i64::from(a.seat_number.get()));
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
                    None => seat_claim_after_miss(tx, a).await,
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

async fn record_answer<C: Conn>(
    c: &mut C,
    ticket: Option<&IdempotencyTicket>,
    answer: serde_json::Result<String>,
) -> anyhow::Result<()> {
    let Some(ticket) = ticket else {
        return Ok(());
    };
    c.execute(
        "UPDATE idempotency_key SET response = $1 WHERE user_id = $2 AND scope = $3 AND key = $4",
        args![
            answer?,
            ticket.user_id.get(),
            ticket.scope.as_str(),
            ticket.key.as_str()
        ],
    )
    .await?;
    Ok(())
}

/// What the hold limits count for a fan, in one range scan of
/// `seat_hold_by_user`: live holds, lapsed ones (released, or ended unpaid)
/// whose expiry is inside the window, and the balance. `$1` user, `$2` now,
/// `$3` start of the lapse window ([`fan_holds_args`]).
pub(crate) const FAN_HOLDS: &str = "SELECT
        COUNT(CASE WHEN status = 'ACTIVE' AND expires_at_ms > $2 THEN 1 END) AS live,
        COUNT(CASE WHEN status = 'RELEASED' OR (status = 'ACTIVE' AND expires_at_ms <= $2) THEN 1 END) AS lapsed,
        (SELECT COALESCE(MAX(b.amount), 0) FROM balance b WHERE b.user_id = $1) AS funds
      FROM seat_hold WHERE user_id = $1 AND expires_at_ms > $3";

pub(crate) fn fan_holds_args(a: &HoldAttempt) -> Vec<crate::values::Val> {
    args![
        a.user_id.get(),
        a.now.as_millis(),
        a.limits.lapsed_since.as_millis()
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

pub(crate) fn held(a: &HoldAttempt, concert_id: ConcertId, price: Won) -> Hold {
    Hold {
        id: a.hold_id,
        user_id: a.user_id,
        concert_id,
        schedule_id: a.schedule_id,
        seat_number: a.seat_number,
        price,
        expires_at: a.expires_at,
        status: HoldStatus::Active,
    }
}

pub(crate) async fn find_hold<C: Conn>(c: &mut C, hold: HoldId) -> anyhow::Result<Option<Hold>> {
    let row = c
        .fetch_optional(
            "SELECT * FROM seat_hold WHERE id = $1",
            args![hold.to_string()],
        )
        .await?;
    row.as_ref().map(rows::hold).transpose()
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
                "SELECT id, concert_id, starts_at_ms, venue FROM schedule WHERE id = $1",
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
                "SELECT s.id, s.concert_id, s.starts_at_ms, s.venue,
                        (SELECT COUNT(*) FROM seat t
                          WHERE t.schedule_id = s.id
                            AND (t.status = 'AVAILABLE' OR (t.status = 'HELD' AND t.held_until_ms <= $2))
                        ) AS available
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
                        (SELECT CAST(COALESCE(SUM(r.price), 0) AS BIGINT) FROM reservation r
                          WHERE r.concert_id = $1) AS revenue
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

    async fn user_for_subject(&self, subject: &Subject) -> anyhow::Result<UserId> {
        let mut writer = self.backend.writer();
        writer
            .execute(
                self.backend.dialect().insert_subject,
                args![subject.as_str()],
            )
            .await?;
        let row = writer
            .fetch_one(
                "SELECT user_id FROM subject WHERE subject = $1",
                args![subject.as_str()],
            )
            .await?;
        Ok(UserId::new(row.int("user_id")?)?)
    }

    async fn signing_secret(&self, purpose: &str, candidate: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut writer = self.backend.writer();
        writer
            .execute(
                "INSERT INTO signing_secret (purpose, secret_hex) VALUES ($1, $2)
                 ON CONFLICT (purpose) DO NOTHING",
                args![purpose, hex(candidate)],
            )
            .await?;
        let row = writer
            .fetch_one(
                "SELECT secret_hex FROM signing_secret WHERE purpose = $1",
                args![purpose],
            )
            .await?;
        unhex(&row.text("secret_hex")?)
    }

    async fn hold_seat(&self, a: &HoldAttempt) -> anyhow::Result<HoldOutcome> {
        if let (Concurrency::Conditional, Some(hot)) =
            (self.concurrency, self.backend.dialect().hot_paths)
        {
            return self.hold_seat_in_one_call(hot, a).await;
        }
        let mut tx = self.backend.begin().await?;
        if let Some(lock) = self.backend.dialect().lock_user_holds {
            tx.execute(lock, args![a.user_id.get()]).await?;
        }
        let counted = tx.fetch_one(FAN_HOLDS, fan_holds_args(a)).await?;
        let fan = FanHolds {
            live: u64::try_from(counted.int("live")?)?,
            lapsed: u64::try_from(counted.int("lapsed")?)?,
            funded: counted.int("funds")? > 0,
        };
        if let Some(limit) = a.limits.refusal(fan) {
            return Ok(HoldOutcome::LimitReached(limit));
        }
        let (price, concert_id) = match self.claim_seat(&mut tx, a).await? {
            SeatClaim::Won { price, concert_id } => (price, concert_id),
            SeatClaim::Taken => return Ok(HoldOutcome::SeatTaken),
            SeatClaim::Sold => return Ok(HoldOutcome::SeatSold),
            SeatClaim::Missing => return Ok(HoldOutcome::NoSuchSeat),
        };
        tx.execute(
            "INSERT INTO seat_hold
                (id, user_id, concert_id, schedule_id, seat_number, price, created_at_ms, expires_at_ms, status)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'ACTIVE')",
            args![
                a.hold_id.to_string(),
                a.user_id.get(),
                concert_id.get(),
                a.schedule_id.get(),
                i64::from(a.seat_number.get()),
                price.amount(),
                a.now.as_millis(),
                a.expires_at.as_millis()
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(HoldOutcome::Held(held(a, concert_id, price)))
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
              WHERE schedule_id = $1 AND seat_number = $2 AND hold_id = $3 AND status = 'HELD'",
            args![found.schedule_id.get(), i64::from(found.seat_number.get()), hold.to_string()],
        )
        .await?;
        tx.commit().await?;
        Ok(ReleaseOutcome::Released(found.concert_id))
    }

    async fn release_expired_holds(&self, now: Timestamp, limit: u32) -> anyhow::Result<u64> {
        let mut tx = self.backend.begin().await?;
        let released = tx
            .execute(
                "UPDATE seat_hold SET status = 'RELEASED'
                  WHERE id IN (SELECT id FROM seat_hold
                                WHERE status = 'ACTIVE' AND expires_at_ms <= $1
                                ORDER BY expires_at_ms LIMIT $2)
                    AND status = 'ACTIVE'",
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
        let sold = tx
            .execute(
                "UPDATE seat SET status = 'SOLD', held_until_ms = NULL, version = version + 1
                  WHERE schedule_id = $1 AND seat_number = $2 AND hold_id = $3 AND status = 'HELD'",
                args![
                    hold.schedule_id.get(),
                    i64::from(hold.seat_number.get()),
                    hold.id.to_string()
                ],
            )
            .await?;
        anyhow::ensure!(sold == 1, "live hold {} does not hold its seat", hold.id);
        let reservation = a.sale(&hold);
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
        let reference = reservation.id.to_string();
        let entry = Entry {
            user: a.user_id,
            kind: "PAYMENT",
            amount: hold.price,
            after,
            reference: &reference,
            now: a.now,
        };
        append_entry(&mut tx, entry).await?;
        append_event(
            &mut tx,
            &events::reservation_confirmed(a.event_id, &reservation),
        )
        .await?;
        let receipt = reservation.receipt(after);
        let answer = Recorded::<&PaymentReceipt, PaymentRefused>::Done(&receipt).to_json();
        record_answer(&mut tx, ticket, answer).await?;
        tx.commit().await?;
        Ok(PaymentOutcome::Confirmed(receipt))
    }

    async fn charge_balance(
        &self,
        a: &ChargeAttempt,
        ticket: Option<&IdempotencyTicket>,
    ) -> anyhow::Result<ChargeOutcome> {
        let mut tx = self.backend.begin().await?;
        tx.execute(
            "INSERT INTO balance (user_id, amount, updated_at_ms) VALUES ($1, 0, $2)
             ON CONFLICT (user_id) DO NOTHING",
            args![a.user_id.get(), a.now.as_millis()],
        )
        .await?;
        let charged = self
            .change_balance(&mut tx, a.user_id, a.amount.amount(), a.max_balance, a.now)
            .await?;
        let Some(after) = charged else {
            let balance = current_balance(&mut tx, a.user_id).await?;
            return Ok(ChargeOutcome::Refused(ChargeRefused::LimitExceeded {
                balance,
                max: a.max_balance,
            }));
        };
        let reference = a.event_id.to_string();
        let entry = Entry {
            user: a.user_id,
            kind: "CHARGE",
            amount: a.amount,
            after,
            reference: &reference,
            now: a.now,
        };
        append_entry(&mut tx, entry).await?;
        let event = events::balance_charged(
            a.event_id,
            BalanceCharged {
                user_id: a.user_id,
                amount: a.amount,
                balance: after,
                charged_at: a.now,
            },
        );
        append_event(&mut tx, &event).await?;
        let receipt = ChargeReceipt { balance: after };
        let answer = Recorded::<ChargeReceipt, ChargeRefused>::Done(receipt).to_json();
        record_answer(&mut tx, ticket, answer).await?;
        tx.commit().await?;
        Ok(ChargeOutcome::Charged(receipt))
    }

    async fn balance(&self, user: UserId) -> anyhow::Result<Won> {
        current_balance(&mut self.reader(), user).await
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

    async fn audit(&self) -> anyhow::Result<StoreAudit> {
        let row = self
            .reader()
            .fetch_one(
                "SELECT
                    (SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM balance_entry WHERE kind = 'CHARGE') AS charged,
                    (SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM balance) AS balances,
                    (SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM balance_entry WHERE kind = 'PAYMENT') AS paid,
                    (SELECT COUNT(*) FROM reservation) AS reservations,
                    (SELECT COUNT(*) FROM balance WHERE amount < 0) AS negative_balances,
                    (SELECT COUNT(*) FROM (SELECT schedule_id, seat_number FROM reservation
                                            GROUP BY schedule_id, seat_number HAVING COUNT(*) > 1) twice) AS sold_twice,
                    (SELECT COUNT(*) FROM seat s WHERE s.status = 'SOLD' AND NOT EXISTS
                        (SELECT 1 FROM reservation r WHERE r.schedule_id = s.schedule_id AND r.seat_number = s.seat_number))
                    + (SELECT COUNT(*) FROM reservation r WHERE NOT EXISTS
                        (SELECT 1 FROM seat s WHERE s.schedule_id = r.schedule_id AND s.seat_number = r.seat_number
                            AND s.status = 'SOLD')) AS out_of_step,
                    (SELECT COUNT(*) FROM reservation r WHERE
                        (SELECT COUNT(*) FROM outbox o WHERE o.aggregate_key = r.id
                            AND o.event_type = 'ReservationConfirmed') <> 1) AS without_one_event",
                args![],
            )
            .await?;
        let count = |col: &str| -> anyhow::Result<u64> { Ok(u64::try_from(row.int(col)?)?) };
        Ok(StoreAudit {
            money: MoneyTotals {
                charged: rows::won(&row, "charged")?,
                balances: rows::won(&row, "balances")?,
                paid: rows::won(&row, "paid")?,
            },
            reservations: count("reservations")?,
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
