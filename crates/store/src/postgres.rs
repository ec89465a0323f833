//! The PostgreSQL backend: the source of truth when several instances run.
//!
//! Transactions run at READ COMMITTED; correctness comes from the shared
//! statements' conditions (a conditional update re-checks its `WHERE` on the
//! latest row version), from row locks in the pessimistic strategy, and from
//! a per-user advisory lock that keeps the live-holds limit exact.

use crate::errors::DbResult;
use crate::hot_paths::{HotPaths, settle_sale_sql};
use crate::sql_store::{Backend, Concurrency, Dialect, SqlStore};
use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

static POSTGRES: Dialect = Dialect {
    lock_user_holds: Some(
        "SELECT pg_advisory_xact_lock(hashtextextended('boxoffice.holds.' || $1::text, 0))",
    ),
    seat_for_update: "SELECT status, held_until_ms FROM seat
                       WHERE schedule_id = $1 AND seat_number = $2 FOR UPDATE",
    balance_for_update: "SELECT amount FROM balance WHERE user_id = $1 FOR UPDATE",
    claim_outbox: crate::sql_store::claim_outbox_sql!("FOR UPDATE SKIP LOCKED"),
    hot_paths: Some(&HOT_PATHS),
    insert_subject: "INSERT INTO subject (subject) VALUES ($1) ON CONFLICT (subject) DO NOTHING",
    insert_lottery: "INSERT INTO lottery_entry (concert_id, place, entry_id)
                     SELECT $1::bigint, place, entry_id
                       FROM jsonb_array_elements_text($2::text::jsonb) WITH ORDINALITY AS t(entry_id, place)",
};

/// A hold in one round trip, a payment in four (decision 0010).
static HOT_PATHS: HotPaths = HotPaths {
    hold_seat: "SELECT outcome, held_price, held_concert_id
                  FROM boxoffice_hold_seat($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    // Both updates re-check their conditions on the latest row version when
    // a concurrent payment got there first (READ COMMITTED), and take their
    // row locks in the shared payment's order: hold, balance, then seat.
    consume_and_debit: "WITH consumed AS (
                            UPDATE seat_hold SET status = 'CONSUMED'
                             WHERE id = $1 AND user_id = $2
                               AND status = 'ACTIVE' AND expires_at_ms > $3
                         RETURNING *
                        ), debited AS (
                            UPDATE balance b
                               SET amount = b.amount - c.price, updated_at_ms = $3, version = b.version + 1
                              FROM consumed c
                             WHERE b.user_id = c.user_id AND b.amount >= c.price
                         RETURNING b.amount
                        )
                        SELECT c.*, d.amount AS balance_after FROM consumed c LEFT JOIN debited d ON true",
    settle_sale: settle_sale_sql!(),
    settle_sale_with_answer: settle_sale_sql!(
        ", keyed AS (
            UPDATE idempotency_key SET response = $18
             WHERE user_id = $19 AND scope = $20 AND key = $21
               AND response IS NULL AND lease_until_ms = $22
            RETURNING 1
        )",
        ", (SELECT COUNT(*) FROM keyed) AS keyed"
    ),
    settle_sale_with_fresh_key: settle_sale_sql!(
        ", keyed AS (
            INSERT INTO idempotency_key
                (user_id, scope, key, fingerprint, response, lease_until_ms, created_at_ms)
            VALUES ($18, $19, $20, $21, $22, $23, $23)
            ON CONFLICT (user_id, scope, key) DO NOTHING
            RETURNING 1
        )",
        ", (SELECT COUNT(*) FROM keyed) AS keyed"
    ),
};

/// PostgreSQL did not let us in at start: what was tried, and why not.
#[derive(Debug)]
pub struct CannotConnect {
    /// `host:port (database "name")`.
    pub target: String,
    pub cause: String,
    /// The server (or the URL) said no: wrong TLS, credentials, database
    /// or URL. Otherwise nothing answered, and a later start may succeed.
    pub refused: bool,
}

impl std::fmt::Display for CannotConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot connect to PostgreSQL at {}: {}",
            self.target, self.cause
        )
    }
}

impl std::error::Error for CannotConnect {}

/// Every second, until the pool closes: its size, and how many of its
/// connections are idle and in use, as gauges.
async fn report_pool(pool: PgPool, max: u32) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    while !pool.is_closed() {
        every.tick().await;
        let size = pool.size();
        let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
        metrics::gauge!("boxoffice_db_pool_size").set(f64::from(max));
        metrics::gauge!("boxoffice_db_pool_connections", "state" => "idle").set(f64::from(idle));
        metrics::gauge!("boxoffice_db_pool_connections", "state" => "in_use")
            .set(f64::from(size.saturating_sub(idle)));
    }
}

/// Whether PostgreSQL (or our side of TLS) said no, rather than nothing answering.
fn refused_us(err: &sqlx::Error) -> bool {
    match err {
        // Starting up (57P03), too many connections (53300), or a
        // connection-class error (08): it may let us in later.
        sqlx::Error::Database(db) => !db
            .code()
            .is_some_and(|code| code == "57P03" || code == "53300" || code.starts_with("08")),
        sqlx::Error::Tls(_) | sqlx::Error::Configuration(_) => true,
        // rustls reports a certificate it does not accept as invalid data.
        sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::InvalidData,
        _ => false,
    }
}

/// Connection settings for PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgSettings {
    pub url: String,
    pub max_connections: u32,
    /// How long a request waits for a connection before answering 503.
    pub acquire_timeout: Duration,
}

/// The store on PostgreSQL.
pub type PgStore = SqlStore<PgBackend>;

#[derive(Debug, Clone)]
pub struct PgBackend {
    pool: PgPool,
    /// The waiting room's connections, apart from the store's so that a
    /// rush of polls never keeps a payment waiting for one, and committing
    /// without waiting for the WAL flush (`synchronous_commit = off`): a
    /// crash may lose the room's last fraction of a second, never money
    /// (decision 0003). Opened on first use.
    room_pool: PgPool,
}

impl PgBackend {
    /// Connects and applies pending migrations. Several instances may start
    /// at once: migrations take an advisory lock.
    pub async fn connect(settings: &PgSettings) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(&settings.url).map_err(|err| CannotConnect {
            target: "the URL".to_owned(),
            cause: format!("it is not a PostgreSQL URL: {err}"),
            refused: true,
        })?;
        let target = format!(
            "{}:{} (database {:?})",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("")
        );
        let pool = match PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options.clone())
            .await
        {
            Ok(pool) => pool,
            Err(err) => {
                // The pool says only that it timed out; one connection of
                // our own says why (refused, a certificate, a password).
                let err = match err {
                    sqlx::Error::PoolTimedOut => {
                        match tokio::time::timeout(
                            settings.acquire_timeout,
                            <sqlx::PgConnection as sqlx::Connection>::connect_with(&options),
                        )
                        .await
                        {
                            Ok(Err(cause)) => cause,
                            _ => sqlx::Error::PoolTimedOut,
                        }
                    }
                    other => other,
                };
                return Err(CannotConnect {
                    target,
                    refused: refused_us(&err),
                    cause: err.to_string(),
                }
                .into());
            }
        };
        MIGRATOR.run(&pool).await.context("migrating PostgreSQL")?;
        tokio::spawn(report_pool(pool.clone(), settings.max_connections));
        let room_pool = PgPoolOptions::new()
            .max_connections(room_connections(settings.max_connections))
            .acquire_timeout(settings.acquire_timeout)
            .connect_lazy_with(options.options([("synchronous_commit", "off")]));
        Ok(Self { pool, room_pool })
    }
}

/// The waiting room's pool beside a store pool of `store` connections
/// (`queue.room = "postgres"` only): half as many, at least two.
pub fn room_connections(store: u32) -> u32 {
    (store / 2).max(2)
}

impl Backend for PgBackend {
    type Tx = Transaction<'static, Postgres>;
    type Pool = PgPool;

    async fn begin(&self) -> anyhow::Result<Self::Tx> {
        let started = std::time::Instant::now();
        let tx = self.pool.begin().await;
        metrics::histogram!(crate::POOL_ACQUIRE_SECONDS).record(started.elapsed().as_secs_f64());
        tx.db()
    }

    fn reader(&self) -> PgPool {
        self.pool.clone()
    }

    fn writer(&self) -> PgPool {
        self.pool.clone()
    }

    fn dialect(&self) -> &'static Dialect {
        &POSTGRES
    }
}

impl PgStore {
    pub async fn connect(settings: &PgSettings, concurrency: Concurrency) -> anyhow::Result<Self> {
        Ok(SqlStore::new(
            PgBackend::connect(settings).await?,
            concurrency,
        ))
    }

    /// The waiting room kept in this database (`queue.room = "postgres"`),
    /// on a pool of its own ([`room_connections`]).
    pub fn waiting_room(&self) -> crate::PgWaitingRoom {
        crate::PgWaitingRoom::new(self.backend.room_pool.clone())
    }
}

#[cfg(test)]
mod contract {
    use super::{Concurrency, PgStore};
    use crate::testing::fresh_pg;
    use std::sync::Arc;

    async fn fresh(concurrency: Concurrency) -> Arc<PgStore> {
        let settings = fresh_pg().await;
        Arc::new(
            PgStore::connect(&settings, concurrency)
                .await
                .unwrap_or_else(|e| panic!("{e:#}")),
        )
    }

    crate::sql_store::contract_per_strategy!(fresh);

    #[tokio::test]
    async fn tampering_with_a_posting_or_a_balance_is_reported() {
        let store = fresh(Concurrency::Conditional).await;
        crate::sql_store::tampering_with_a_posting_or_a_balance_is_reported(&*store).await;
    }

    #[tokio::test]
    async fn a_sale_broken_behind_the_stores_back_shows_in_its_audit() {
        let store = fresh(Concurrency::Conditional).await;
        crate::sql_store::a_sale_broken_behind_the_stores_back_shows_in_its_audit(store).await;
    }
}
