//! boxoffice-store: the SQL adapters of the `Store` port, SQLite (the
//! embedded default) and PostgreSQL (several instances).
//!
//! Every `Store` method is one transaction, written once in [`SqlStore`]
//! for both databases. Seat holds and balance changes default to single
//! conditional statements (`UPDATE ... WHERE <still allowed> RETURNING
//! ...`), so losing a race shows up as "no row", never as a double sale or a
//! negative balance; the schema's constraints (`reservation_one_per_seat`,
//! `amount >= 0`) back that up. Pessimistic and optimistic strategies exist
//! to be measured against it ([`Concurrency`]).
//!
//! Layout:
//! - [`sql_store`]: [`SqlStore`], the shared transactions, [`Backend`] and [`Dialect`].
//! - [`sqlite`]: [`SqliteStore`] (WAL, one writer with `BEGIN IMMEDIATE`, pooled readers).
//! - [`postgres`]: [`PgStore`], with an advisory lock per user for the hold limit.
//! - `hot_paths`: a hold in one round trip and a payment in four, on
//!   PostgreSQL with the conditional strategy (decision 0010).
//! - `delivery`: the consumer side on SQL: the delivery ledger (processed
//!   events, dead letters) and the embedded mode's inbox.
//! - [`locked`]: [`LockedStore`], the "distributed lock around the
//!   transaction" strategy, over any store and any `Lock`.
//! - [`waiting_room`]: [`PgWaitingRoom`], the waiting room in PostgreSQL
//!   (`queue.room = "postgres"`), held to the same contract as Redis's.
//! - `conn`, `values`: the thin driver interface the shared code runs on.
//! - `rows`: decoding rows into domain values.
//! - `errors`: telling "database unavailable" (503) from bugs (500).
//! - migrations/sqlite, migrations/postgres: the schema, applied at start-up.

mod conn;
mod delivery;
mod errors;
mod hot_paths;
pub mod locked;
pub mod postgres;
mod rows;
pub mod sql_store;
pub mod sqlite;
mod values;
pub mod waiting_room;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use locked::LockedStore;

/// How long a statement waited for a pooled connection (a transaction: for
/// its connection and `BEGIN`), in seconds: a histogram.
pub const POOL_ACQUIRE_SECONDS: &str = "boxoffice_db_pool_acquire_seconds";
pub use postgres::{CannotConnect, PgSettings, PgStore};
pub use sql_store::{Concurrency, SqlStore};
pub use sqlite::SqliteStore;
pub use waiting_room::PgWaitingRoom;
