//! Classifying database errors: connection-level failures become
//! [`Unavailable`] (the API answers 503 and the client may retry); anything
//! else stays an unexpected error (500, logged).

use boxoffice_core::ports::Unavailable;

pub(crate) trait DbResult<T> {
    /// Converts a sqlx error, marking connection-level failures as unavailable.
    fn db(self) -> anyhow::Result<T>;
}

impl<T> DbResult<T> for Result<T, sqlx::Error> {
    fn db(self) -> anyhow::Result<T> {
        self.map_err(classify)
    }
}

fn classify(err: sqlx::Error) -> anyhow::Error {
    let unavailable = match &err {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_)
        // The peer did not speak PostgreSQL: a half-open connection through
        // a proxy answers TLS negotiation with garbage, say.
        | sqlx::Error::Protocol(_) => true,
        // SQLITE_BUSY / SQLITE_LOCKED after the busy timeout: the database is
        // overloaded, not wrong. PostgreSQL's serialization failure and
        // deadlock (40001, 40P01): the transaction was rolled back whole and
        // may simply be tried again.
        sqlx::Error::Database(db) => matches!(
            db.code().as_deref(),
            Some("5" | "6" | "517" | "40001" | "40P01")
        ),
        _ => false,
    };
    if unavailable {
        anyhow::Error::new(Unavailable(err.to_string())).context("database")
    } else {
        anyhow::Error::new(err)
    }
}
