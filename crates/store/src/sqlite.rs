//! The SQLite backend: the embedded default's source of truth, one file.
//!
//! SQLite allows one writer at a time, so writes go through a single
//! connection and open their transactions with `BEGIN IMMEDIATE` (taking the
//! write lock up front rather than failing half-way with SQLITE_BUSY); reads
//! use a separate pool and run concurrently thanks to WAL. `synchronous=FULL`
//! makes every commit durable: a sold seat or a debit is never lost to a crash.

use crate::errors::DbResult;
use crate::sql_store::{Backend, Concurrency, Dialect, SqlStore};
use anyhow::Context;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How many read connections to keep.
const READERS: u32 = 4;

/// Write transactions are serial in SQLite, so no statement needs a row lock.
static SQLITE: Dialect = Dialect {
    lock_user_holds: None,
    seat_for_update: "SELECT status, held_until_ms FROM seat WHERE schedule_id = $1 AND seat_number = $2",
    balance_for_update: "SELECT amount FROM balance WHERE user_id = $1",
    claim_outbox: crate::sql_store::claim_outbox_sql!(""),
    hot_paths: None,
    // The one writer hands out ids in order; `WHERE true` parts the
    // SELECT from the upsert clause.
    insert_subject: "INSERT INTO subject (subject, user_id)
                     SELECT $1, COALESCE(MAX(user_id) + 1, 4503599627370496) FROM subject WHERE true
                     ON CONFLICT (subject) DO NOTHING",
    insert_lottery: "INSERT INTO lottery_entry (concert_id, place, entry_id)
                     SELECT $1, key + 1, value FROM json_each($2)",
};

/// The store on SQLite.
pub type SqliteStore = SqlStore<SqliteBackend>;

#[derive(Debug, Clone)]
pub struct SqliteBackend {
    writer: SqlitePool,
    readers: SqlitePool,
}

impl SqliteBackend {
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
}

impl Backend for SqliteBackend {
    type Tx = Transaction<'static, Sqlite>;
    type Pool = SqlitePool;

    async fn begin(&self) -> anyhow::Result<Self::Tx> {
        self.writer.begin_with("BEGIN IMMEDIATE").await.db()
    }

    fn reader(&self) -> SqlitePool {
        self.readers.clone()
    }

    fn writer(&self) -> SqlitePool {
        self.writer.clone()
    }

    fn dialect(&self) -> &'static Dialect {
        &SQLITE
    }
}

impl SqliteStore {
    /// Opens the SQLite store at `url` with the given concurrency strategy.
    pub async fn connect(url: &str, concurrency: Concurrency) -> anyhow::Result<Self> {
        Ok(SqlStore::new(
            SqliteBackend::connect(url).await?,
            concurrency,
        ))
    }
}

#[cfg(test)]
mod contract {
    use super::{Concurrency, SqliteStore};
    use std::sync::Arc;

    /// A fresh database file per test. The directory is leaked for the
    /// test's lifetime (the process), which is what keeps the file alive.
    async fn fresh(concurrency: Concurrency) -> Arc<SqliteStore> {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite://{}", dir.path().join("store.db").display());
        std::mem::forget(dir);
        Arc::new(
            SqliteStore::connect(&url, concurrency)
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
