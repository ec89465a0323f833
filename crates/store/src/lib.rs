//! boxoffice-store: the SQL adapters of the `Store` port.
//!
//! Every `Store` method is one transaction. Seat holds and balance changes
//! are single conditional statements (`UPDATE ... WHERE <still allowed>
//! RETURNING ...`), so losing a race shows up as "no row", never as a
//! double sale or a negative balance; the schema's constraints
//! (`reservation_one_per_seat`, `amount >= 0`) back that up.
//!
//! Layout:
//! - [`sqlite`]: [`SqliteStore`], the embedded default (WAL, one writer
//!   connection with `BEGIN IMMEDIATE`, a pool of readers).
//! - `rows`: decoding rows into domain values, shared by the adapters.
//! - `errors`: telling "database unavailable" (503) from bugs (500).
//! - migrations/sqlite: the schema, applied at start-up and by `boxoffice migrate`.

mod errors;
mod rows;
pub mod sqlite;

pub use sqlite::SqliteStore;
