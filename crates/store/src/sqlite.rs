//! [`SqliteStore`]: the embedded default's source of truth, one SQLite file.
//!
//! SQLite allows one writer at a time, so writes go through a single
//! connection and open their transactions with `BEGIN IMMEDIATE` (taking the
//! write lock up front rather than failing half-way with SQLITE_BUSY); reads
//! use a separate pool and run concurrently thanks to WAL. `synchronous=FULL`
//! makes every commit durable: a sold seat or a debit is never lost to a crash.

use crate::errors::DbResult;
use crate::rows;
use anyhow::Context;
use async_trait::async_trait;
use boxoffice_core::domain::concert::{Concert, NewConcert, Schedule, ScheduleAvailability};
use boxoffice_core::domain::events::{self, BalanceCharged, OutboxEvent};
use boxoffice_core::domain::idempotency::{
    ClaimOutcome, IdempotencyClaim, IdempotencyTicket, Recorded, StoredKeyDecision, decide_claim,
};
use boxoffice_core::domain::reservation::{PaymentReceipt, Reservation};
use boxoffice_core::domain::seat::{Seat, SeatState};
use boxoffice_core::domain::seat_hold::HoldStatus;
use boxoffice_core::domain::{
    ConcertId, EventId, HoldId, ScheduleId, SeatNumber, Timestamp, UserId, Won,
};
use boxoffice_core::ports::{
    ChargeAttempt, ChargeOutcome, ChargeReceipt, ChargeRefused, HoldAttempt, HoldOutcome,
    MoneyTotals, PaymentAttempt, PaymentOutcome, PaymentRefused, ReleaseOutcome, Store,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How many read connections to keep.
const READERS: u32 = 4;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://path`) and
    /// applies pending migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("bad SQLite url {url}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .db()?;
        MIGRATOR.run(&writer).await.context("migrating SQLite")?;
        let readers = SqlitePoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.read_only(true))
            .await
            .db()?;
        Ok(Self { writer, readers })
    }

    /// Applies pending migrations without serving (`boxoffice migrate`).
    pub async fn migrate(url: &str) -> anyhow::Result<()> {
        Self::connect(url).await.map(drop)
    }

    async fn write(&self) -> anyhow::Result<Transaction<'static, Sqlite>> {
        self.writer.begin_with("BEGIN IMMEDIATE").await.db()
    }
}

async fn live_holds(
    tx: &mut Transaction<'_, Sqlite>,
    user: UserId,
    now: Timestamp,
) -> anyhow::Result<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM seat_hold WHERE user_id = $1 AND status = 'ACTIVE' AND expires_at_ms > $2",
    )
    .bind(user.get())
    .bind(now.as_millis())
    .fetch_one(&mut **tx)
    .await
    .db()
}

async fn append_event(tx: &mut Transaction<'_, Sqlite>, event: &OutboxEvent) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO outbox (id, event_type, schema_version, aggregate_key, payload, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(event.id.to_string())
    .bind(&event.event_type)
    .bind(i64::from(event.schema_version))
    .bind(&event.aggregate_key)
    .bind(&event.payload)
    .bind(event.created_at.as_millis())
    .execute(&mut **tx)
    .await
    .db()?;
    Ok(())
}

async fn append_entry(
    tx: &mut Transaction<'_, Sqlite>,
    user: UserId,
    kind: &'static str,
    amount: Won,
    after: Won,
    reference: &str,
    now: Timestamp,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO balance_entry (user_id, kind, amount, balance_after, reference, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(user.get())
    .bind(kind)
    .bind(amount.amount())
    .bind(after.amount())
    .bind(reference)
    .bind(now.as_millis())
    .execute(&mut **tx)
    .await
    .db()?;
    Ok(())
}

async fn record_answer(
    tx: &mut Transaction<'_, Sqlite>,
    ticket: Option<&IdempotencyTicket>,
    answer: serde_json::Result<String>,
) -> anyhow::Result<()> {
    let Some(ticket) = ticket else {
        return Ok(());
    };
    sqlx::query(
        "UPDATE idempotency_key SET response = $1 WHERE user_id = $2 AND scope = $3 AND key = $4",
    )
    .bind(answer?)
    .bind(ticket.user_id.get())
    .bind(ticket.scope.as_str())
    .bind(ticket.key.as_str())
    .execute(&mut **tx)
    .await
    .db()?;
    Ok(())
}

async fn current_balance(tx: &mut Transaction<'_, Sqlite>, user: UserId) -> anyhow::Result<Won> {
    let amount: Option<i64> = sqlx::query_scalar("SELECT amount FROM balance WHERE user_id = $1")
        .bind(user.get())
        .fetch_optional(&mut **tx)
        .await
        .db()?;
    Ok(Won::new(amount.unwrap_or(0)))
}

#[async_trait]
impl Store for SqliteStore {
    async fn list_concerts(&self) -> anyhow::Result<Vec<Concert>> {
        let rows = sqlx::query("SELECT id, title, artist FROM concert ORDER BY id")
            .fetch_all(&self.readers)
            .await
            .db()?;
        rows.iter().map(rows::concert).collect()
    }

    async fn concert(&self, id: ConcertId) -> anyhow::Result<Option<Concert>> {
        let row = sqlx::query("SELECT id, title, artist FROM concert WHERE id = $1")
            .bind(id.get())
            .fetch_optional(&self.readers)
            .await
            .db()?;
        row.as_ref().map(rows::concert).transpose()
    }

    async fn schedule(&self, id: ScheduleId) -> anyhow::Result<Option<Schedule>> {
        let row =
            sqlx::query("SELECT id, concert_id, starts_at_ms, venue FROM schedule WHERE id = $1")
                .bind(id.get())
                .fetch_optional(&self.readers)
                .await
                .db()?;
        row.as_ref().map(rows::schedule).transpose()
    }

    async fn schedules_with_availability(
        &self,
        concert: ConcertId,
        now: Timestamp,
    ) -> anyhow::Result<Vec<ScheduleAvailability>> {
        let rows = sqlx::query(
            "SELECT s.id, s.concert_id, s.starts_at_ms, s.venue,
                    (SELECT COUNT(*) FROM seat t
                      WHERE t.schedule_id = s.id
                        AND (t.status = 'AVAILABLE' OR (t.status = 'HELD' AND t.held_until_ms <= $2))
                    ) AS available
               FROM schedule s
              WHERE s.concert_id = $1
              ORDER BY s.starts_at_ms, s.id",
        )
        .bind(concert.get())
        .bind(now.as_millis())
        .fetch_all(&self.readers)
        .await
        .db()?;
        rows.iter()
            .map(|row| {
                Ok(ScheduleAvailability {
                    schedule: rows::schedule(row)?,
                    available_seats: u32::try_from(row.try_get::<i64, _>("available")?)?,
                })
            })
            .collect()
    }

    async fn seats(&self, schedule: ScheduleId, now: Timestamp) -> anyhow::Result<Vec<Seat>> {
        let rows = sqlx::query(
            "SELECT seat_number, grade, price, status, held_until_ms
               FROM seat WHERE schedule_id = $1 ORDER BY seat_number",
        )
        .bind(schedule.get())
        .fetch_all(&self.readers)
        .await
        .db()?;
        rows.iter()
            .map(|row| {
                let status: String = row.try_get("status")?;
                let state = match status.as_str() {
                    "AVAILABLE" => SeatState::Open,
                    "SOLD" => SeatState::Sold,
                    _ => SeatState::HeldUntil(Timestamp::from_millis(
                        row.try_get::<Option<i64>, _>("held_until_ms")?.unwrap_or(0),
                    )),
                };
                Ok(Seat {
                    number: SeatNumber::new(row.try_get("seat_number")?)?,
                    grade: row.try_get("grade")?,
                    price: rows::won(row, "price")?,
                    status: state.status_at(now),
                })
            })
            .collect()
    }

    async fn create_concert(
        &self,
        concert: &NewConcert,
        now: Timestamp,
    ) -> anyhow::Result<ConcertId> {
        let mut tx = self.write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO concert (title, artist, created_at_ms) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(concert.title())
        .bind(concert.artist())
        .bind(now.as_millis())
        .fetch_one(&mut *tx)
        .await
        .db()?;
        for schedule in concert.schedules() {
            let schedule_id: i64 = sqlx::query_scalar(
                "INSERT INTO schedule (concert_id, starts_at_ms, venue) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(id)
            .bind(schedule.starts_at.as_millis())
            .bind(&schedule.venue)
            .fetch_one(&mut *tx)
            .await
            .db()?;
            for seat in concert.seats() {
                sqlx::query(
                    "INSERT INTO seat (schedule_id, seat_number, grade, price, status)
                     VALUES ($1, $2, $3, $4, 'AVAILABLE')",
                )
                .bind(schedule_id)
                .bind(i64::from(seat.number.get()))
                .bind(&seat.grade)
                .bind(seat.price.amount())
                .execute(&mut *tx)
                .await
                .db()?;
            }
        }
        tx.commit().await.db()?;
        Ok(ConcertId::new(id)?)
    }

    async fn hold_seat(&self, a: &HoldAttempt) -> anyhow::Result<HoldOutcome> {
        let mut tx = self.write().await?;
        if live_holds(&mut tx, a.user_id, a.now).await? >= i64::from(a.max_live_holds) {
            return Ok(HoldOutcome::LimitReached);
        }
        let won_seat = sqlx::query(
            "UPDATE seat
                SET status = 'HELD', hold_id = $1, held_until_ms = $2
              WHERE schedule_id = $3 AND seat_number = $4
                AND (status = 'AVAILABLE' OR (status = 'HELD' AND held_until_ms <= $5))
          RETURNING price, (SELECT concert_id FROM schedule WHERE id = $3) AS concert_id",
        )
        .bind(a.hold_id.to_string())
        .bind(a.expires_at.as_millis())
        .bind(a.schedule_id.get())
        .bind(i64::from(a.seat_number.get()))
        .bind(a.now.as_millis())
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        let Some(row) = won_seat else {
            let status: Option<String> = sqlx::query_scalar(
                "SELECT status FROM seat WHERE schedule_id = $1 AND seat_number = $2",
            )
            .bind(a.schedule_id.get())
            .bind(i64::from(a.seat_number.get()))
            .fetch_optional(&mut *tx)
            .await
            .db()?;
            return Ok(match status.as_deref() {
                None => HoldOutcome::NoSuchSeat,
                Some("SOLD") => HoldOutcome::SeatSold,
                Some(_) => HoldOutcome::SeatTaken,
            });
        };
        let price = rows::won(&row, "price")?;
        let concert_id = ConcertId::new(row.try_get("concert_id")?)?;
        sqlx::query(
            "INSERT INTO seat_hold
                (id, user_id, concert_id, schedule_id, seat_number, price, created_at_ms, expires_at_ms, status)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'ACTIVE')",
        )
        .bind(a.hold_id.to_string())
        .bind(a.user_id.get())
        .bind(concert_id.get())
        .bind(a.schedule_id.get())
        .bind(i64::from(a.seat_number.get()))
        .bind(price.amount())
        .bind(a.now.as_millis())
        .bind(a.expires_at.as_millis())
        .execute(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()?;
        Ok(HoldOutcome::Held(boxoffice_core::domain::seat_hold::Hold {
            id: a.hold_id,
            user_id: a.user_id,
            concert_id,
            schedule_id: a.schedule_id,
            seat_number: a.seat_number,
            price,
            expires_at: a.expires_at,
            status: HoldStatus::Active,
        }))
    }

    async fn release_hold(
        &self,
        user: UserId,
        hold: HoldId,
        now: Timestamp,
    ) -> anyhow::Result<ReleaseOutcome> {
        let mut tx = self.write().await?;
        let row = sqlx::query("SELECT * FROM seat_hold WHERE id = $1")
            .bind(hold.to_string())
            .fetch_optional(&mut *tx)
            .await
            .db()?;
        let Some(found) = row.as_ref().map(rows::hold).transpose()? else {
            return Ok(ReleaseOutcome::NotFound);
        };
        if found.user_id != user {
            return Ok(ReleaseOutcome::NotYours);
        }
        if !found.is_live(now) {
            return Ok(ReleaseOutcome::NotLive);
        }
        sqlx::query("UPDATE seat_hold SET status = 'RELEASED' WHERE id = $1 AND status = 'ACTIVE'")
            .bind(hold.to_string())
            .execute(&mut *tx)
            .await
            .db()?;
        sqlx::query(
            "UPDATE seat SET status = 'AVAILABLE', hold_id = NULL, held_until_ms = NULL
              WHERE schedule_id = $1 AND seat_number = $2 AND hold_id = $3 AND status = 'HELD'",
        )
        .bind(found.schedule_id.get())
        .bind(i64::from(found.seat_number.get()))
        .bind(hold.to_string())
        .execute(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()?;
        Ok(ReleaseOutcome::Released)
    }

    async fn release_expired_holds(&self, now: Timestamp, limit: u32) -> anyhow::Result<u64> {
        let mut tx = self.write().await?;
        let released = sqlx::query(
            "UPDATE seat_hold SET status = 'RELEASED'
              WHERE id IN (SELECT id FROM seat_hold
                            WHERE status = 'ACTIVE' AND expires_at_ms <= $1
                            ORDER BY expires_at_ms LIMIT $2)",
        )
        .bind(now.as_millis())
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await
        .db()?
        .rows_affected();
        sqlx::query(
            "UPDATE seat SET status = 'AVAILABLE', hold_id = NULL, held_until_ms = NULL
              WHERE status = 'HELD' AND held_until_ms <= $1",
        )
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()?;
        Ok(released)
    }

    async fn confirm_payment(
        &self,
        a: &PaymentAttempt,
        ticket: Option<&IdempotencyTicket>,
    ) -> anyhow::Result<PaymentOutcome> {
        let refused = |r| Ok(PaymentOutcome::Refused(r));
        let mut tx = self.write().await?;
        let row = sqlx::query("SELECT * FROM seat_hold WHERE id = $1")
            .bind(a.hold_id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .db()?;
        let Some(hold) = row.as_ref().map(rows::hold).transpose()? else {
            return refused(PaymentRefused::HoldNotFound);
        };
        if let Err(refusal) = hold.check_payable(a.user_id, a.now) {
            return refused(refusal.into());
        }
        if hold.concert_id != a.concert_id {
            return refused(PaymentRefused::WrongConcert);
        }
        let consumed = sqlx::query(
            "UPDATE seat_hold SET status = 'CONSUMED'
              WHERE id = $1 AND status = 'ACTIVE' AND expires_at_ms > $2",
        )
        .bind(a.hold_id.to_string())
        .bind(a.now.as_millis())
        .execute(&mut *tx)
        .await
        .db()?
        .rows_affected();
        if consumed != 1 {
            return refused(PaymentRefused::AlreadyPaid);
        }
        let debited: Option<i64> = sqlx::query_scalar(
            "UPDATE balance SET amount = amount - $1, updated_at_ms = $3
              WHERE user_id = $2 AND amount >= $1
          RETURNING amount",
        )
        .bind(hold.price.amount())
        .bind(a.user_id.get())
        .bind(a.now.as_millis())
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        let Some(after) = debited.map(Won::new) else {
            let balance = current_balance(&mut tx, a.user_id).await?;
            // Dropping the transaction rolls the consumed hold back.
            return refused(PaymentRefused::InsufficientBalance {
                balance,
                price: hold.price,
            });
        };
        let sold = sqlx::query(
            "UPDATE seat SET status = 'SOLD', held_until_ms = NULL
              WHERE schedule_id = $1 AND seat_number = $2 AND hold_id = $3 AND status = 'HELD'",
        )
        .bind(hold.schedule_id.get())
        .bind(i64::from(hold.seat_number.get()))
        .bind(hold.id.to_string())
        .execute(&mut *tx)
        .await
        .db()?
        .rows_affected();
        anyhow::ensure!(sold == 1, "live hold {} does not hold its seat", hold.id);
        let reservation = Reservation {
            id: a.reservation_id,
            user_id: a.user_id,
            concert_id: hold.concert_id,
            schedule_id: hold.schedule_id,
            seat_number: hold.seat_number,
            price: hold.price,
            hold_id: hold.id,
            confirmed_at: a.now,
        };
        sqlx::query(
            "INSERT INTO reservation
                (id, user_id, concert_id, schedule_id, seat_number, price, hold_id, confirmed_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(reservation.id.to_string())
        .bind(reservation.user_id.get())
        .bind(reservation.concert_id.get())
        .bind(reservation.schedule_id.get())
        .bind(i64::from(reservation.seat_number.get()))
        .bind(reservation.price.amount())
        .bind(reservation.hold_id.to_string())
        .bind(a.now.as_millis())
        .execute(&mut *tx)
        .await
        .db()?;
        let reference = reservation.id.to_string();
        append_entry(
            &mut tx, a.user_id, "PAYMENT", hold.price, after, &reference, a.now,
        )
        .await?;
        append_event(
            &mut tx,
            &events::reservation_confirmed(a.event_id, &reservation),
        )
        .await?;
        let receipt = reservation.receipt(after);
        let answer = Recorded::<&PaymentReceipt, PaymentRefused>::Done(&receipt).to_json();
        record_answer(&mut tx, ticket, answer).await?;
        tx.commit().await.db()?;
        Ok(PaymentOutcome::Confirmed(receipt))
    }

    async fn charge_balance(
        &self,
        a: &ChargeAttempt,
        ticket: Option<&IdempotencyTicket>,
    ) -> anyhow::Result<ChargeOutcome> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO balance (user_id, amount, updated_at_ms) VALUES ($1, 0, $2)
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(a.user_id.get())
        .bind(a.now.as_millis())
        .execute(&mut *tx)
        .await
        .db()?;
        let charged: Option<i64> = sqlx::query_scalar(
            "UPDATE balance SET amount = amount + $1, updated_at_ms = $3
              WHERE user_id = $2 AND amount + $1 <= $4
          RETURNING amount",
        )
        .bind(a.amount.amount())
        .bind(a.user_id.get())
        .bind(a.now.as_millis())
        .bind(a.max_balance.amount())
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        let Some(after) = charged.map(Won::new) else {
            let balance = current_balance(&mut tx, a.user_id).await?;
            return Ok(ChargeOutcome::Refused(ChargeRefused::LimitExceeded {
                balance,
                max: a.max_balance,
            }));
        };
        let reference = a.event_id.to_string();
        append_entry(
            &mut tx, a.user_id, "CHARGE", a.amount, after, &reference, a.now,
        )
        .await?;
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
        record_answer(
            &mut tx,
            ticket,
            Recorded::<ChargeReceipt, ChargeRefused>::Done(receipt).to_json(),
        )
        .await?;
        tx.commit().await.db()?;
        Ok(ChargeOutcome::Charged(receipt))
    }

    async fn balance(&self, user: UserId) -> anyhow::Result<Won> {
        let amount: Option<i64> =
            sqlx::query_scalar("SELECT amount FROM balance WHERE user_id = $1")
                .bind(user.get())
                .fetch_optional(&self.readers)
                .await
                .db()?;
        Ok(Won::new(amount.unwrap_or(0)))
    }

    async fn reservations_of(&self, user: UserId) -> anyhow::Result<Vec<Reservation>> {
        let rows = sqlx::query(
            "SELECT * FROM reservation WHERE user_id = $1 ORDER BY confirmed_at_ms DESC, id DESC",
        )
        .bind(user.get())
        .fetch_all(&self.readers)
        .await
        .db()?;
        rows.iter().map(rows::reservation).collect()
    }

    async fn money_totals(&self) -> anyhow::Result<MoneyTotals> {
        let row = sqlx::query(
            "SELECT
                (SELECT COALESCE(SUM(amount), 0) FROM balance_entry WHERE kind = 'CHARGE') AS charged,
                (SELECT COALESCE(SUM(amount), 0) FROM balance) AS balances,
                (SELECT COALESCE(SUM(amount), 0) FROM balance_entry WHERE kind = 'PAYMENT') AS paid",
        )
        .fetch_one(&self.readers)
        .await
        .db()?;
        Ok(MoneyTotals {
            charged: rows::won(&row, "charged")?,
            balances: rows::won(&row, "balances")?,
            paid: rows::won(&row, "paid")?,
        })
    }

    async fn claim_idempotency_key(
        &self,
        claim: &IdempotencyClaim,
    ) -> anyhow::Result<ClaimOutcome> {
        let ticket = claim.ticket();
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "SELECT fingerprint, response, lease_until_ms FROM idempotency_key
              WHERE user_id = $1 AND scope = $2 AND key = $3",
        )
        .bind(claim.user_id.get())
        .bind(claim.scope.as_str())
        .bind(claim.key.as_str())
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        if let Some(row) = row {
            let fingerprint: String = row.try_get("fingerprint")?;
            let response: Option<String> = row.try_get("response")?;
            let lease_until = rows::ts(&row, "lease_until_ms")?;
            match decide_claim(claim, &fingerprint, response.as_deref(), lease_until) {
                StoredKeyDecision::Answer(answer) => return Ok(answer),
                StoredKeyDecision::TakeOver => {
                    sqlx::query(
                        "UPDATE idempotency_key SET lease_until_ms = $1
                          WHERE user_id = $2 AND scope = $3 AND key = $4",
                    )
                    .bind(claim.lease_until.as_millis())
                    .bind(claim.user_id.get())
                    .bind(claim.scope.as_str())
                    .bind(claim.key.as_str())
                    .execute(&mut *tx)
                    .await
                    .db()?;
                }
            }
        } else {
            sqlx::query(
                "INSERT INTO idempotency_key
                    (user_id, scope, key, fingerprint, response, lease_until_ms, created_at_ms)
                 VALUES ($1, $2, $3, $4, NULL, $5, $6)",
            )
            .bind(claim.user_id.get())
            .bind(claim.scope.as_str())
            .bind(claim.key.as_str())
            .bind(claim.fingerprint.as_str())
            .bind(claim.lease_until.as_millis())
            .bind(claim.now.as_millis())
            .execute(&mut *tx)
            .await
            .db()?;
        }
        tx.commit().await.db()?;
        Ok(ClaimOutcome::Claimed(ticket))
    }

    async fn finish_idempotency_key(
        &self,
        ticket: &IdempotencyTicket,
        response: &str,
    ) -> anyhow::Result<()> {
        let mut tx = self.write().await?;
        record_answer(&mut tx, Some(ticket), Ok(response.to_owned())).await?;
        tx.commit().await.db()
    }

    async fn abandon_idempotency_key(&self, ticket: &IdempotencyTicket) -> anyhow::Result<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "DELETE FROM idempotency_key
              WHERE user_id = $1 AND scope = $2 AND key = $3 AND response IS NULL",
        )
        .bind(ticket.user_id.get())
        .bind(ticket.scope.as_str())
        .bind(ticket.key.as_str())
        .execute(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()
    }

    async fn purge_idempotency_keys(&self, before: Timestamp) -> anyhow::Result<u64> {
        let mut tx = self.write().await?;
        let purged = sqlx::query("DELETE FROM idempotency_key WHERE created_at_ms < $1")
            .bind(before.as_millis())
            .execute(&mut *tx)
            .await
            .db()?
            .rows_affected();
        tx.commit().await.db()?;
        Ok(purged)
    }

    async fn unpublished_events(&self, limit: u32) -> anyhow::Result<Vec<OutboxEvent>> {
        // The single relay of the embedded mode reads from the writer so it
        // always sees its own latest `mark_published`.
        let rows = sqlx::query(
            "SELECT id, event_type, schema_version, aggregate_key, payload, created_at_ms
               FROM outbox WHERE published_at_ms IS NULL ORDER BY seq LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.writer)
        .await
        .db()?;
        rows.iter().map(rows::event).collect()
    }

    async fn mark_published(&self, ids: &[EventId], now: Timestamp) -> anyhow::Result<()> {
        let mut tx = self.write().await?;
        for id in ids {
            sqlx::query(
                "UPDATE outbox SET published_at_ms = $1 WHERE id = $2 AND published_at_ms IS NULL",
            )
            .bind(now.as_millis())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .db()?;
        }
        tx.commit().await.db()
    }

    async fn published_reservations_by_concert(&self) -> anyhow::Result<Vec<(ConcertId, u64)>> {
        let rows = sqlx::query(
            "SELECT r.concert_id, COUNT(*) AS n
               FROM reservation r
               JOIN outbox o ON o.aggregate_key = r.id AND o.event_type = 'ReservationConfirmed'
              WHERE o.published_at_ms IS NOT NULL
              GROUP BY r.concert_id
              ORDER BY r.concert_id",
        )
        .fetch_all(&self.readers)
        .await
        .db()?;
        rows.iter()
            .map(|row| {
                Ok((
                    ConcertId::new(row.try_get("concert_id")?)?,
                    u64::try_from(row.try_get::<i64, _>("n")?)?,
                ))
            })
            .collect()
    }

    async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1").execute(&self.readers).await.db()?;
        Ok(())
    }
}

#[cfg(test)]
mod contract {
    use super::SqliteStore;
    use std::sync::Arc;

    /// A fresh database file per test. The directory is leaked for the
    /// test's lifetime (the process), which is what keeps the file alive.
    async fn fresh() -> Arc<SqliteStore> {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite://{}", dir.path().join("store.db").display());
        std::mem::forget(dir);
        Arc::new(
            SqliteStore::connect(&url)
                .await
                .unwrap_or_else(|e| panic!("{e:#}")),
        )
    }

    boxoffice_core::store_contract_tests!(fresh().await);
}
