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

/// Whether a database's error code says "not now" rather than "wrong": the
/// statement never committed anything, and the same call may be tried again.
fn means_unavailable(code: &str) -> bool {
    matches!(
        code,
        // SQLite: SQLITE_BUSY, SQLITE_LOCKED and SQLITE_BUSY_RECOVERY after
        // the busy timeout, the database overloaded, not wrong.
        "5" | "6" | "261" | "517"
        // PostgreSQL: a serialization failure or a deadlock, the transaction
        // rolled back whole;
        | "40001" | "40P01"
        // the server shutting down, crashed, or starting (a restart, a
        // failover): 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03
        // cannot_connect_now;
        | "57P01" | "57P02" | "57P03"
        // out of connection slots, memory or disk;
        | "53000" | "53100" | "53200" | "53300"
        // a read-only server: the old primary after a failover;
        | "25006"
        // a statement or lock timeout, or a cancelled query;
        | "57014" | "55P03"
    ) || code.starts_with("08") // every connection exception (class 08)
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
        sqlx::Error::Database(db) => db.code().as_deref().is_some_and(means_unavailable),
        _ => false,
    };
    if unavailable {
        anyhow::Error::new(Unavailable(err.to_string())).context("database")
    } else {
        anyhow::Error::new(err)
    }
}

#[cfg(test)]
mod tests {
    use super::DbResult;
    use boxoffice_core::ports::is_unavailable;
    use std::borrow::Cow;

    /// A database error with only a code, as a driver reports one.
    #[derive(Debug)]
    struct Coded(&'static str);

    impl std::fmt::Display for Coded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "error {}", self.0)
        }
    }

    impl std::error::Error for Coded {}

    impl sqlx::error::DatabaseError for Coded {
        fn message(&self) -> &str {
            self.0
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn unavailable(code: &'static str) -> bool {
        let failed: Result<(), sqlx::Error> = Err(sqlx::Error::Database(Box::new(Coded(code))));
        is_unavailable(&failed.db().unwrap_err())
    }

    #[test]
    fn a_server_going_away_or_out_of_room_is_unavailable_and_a_wrong_statement_is_not() {
        // A restart, a crash, a start-up, a failover to a read-only server,
        // connection failures, exhaustion, timeouts and rolled-back races.
        for code in [
            "57P01", "57P02", "57P03", "08006", "08003", "08001", "53300", "53200", "25006",
            "57014", "55P03", "40001", "40P01", "5", "517",
        ] {
            assert!(unavailable(code), "{code} should answer 503");
        }
        // Constraint violations, syntax errors and missing tables are bugs or
        // refusals the caller must see as they are.
        for code in ["23505", "23514", "42601", "42P01", "22001", "19"] {
            assert!(!unavailable(code), "{code} should not answer 503");
        }
        let io: Result<(), sqlx::Error> = Err(sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert!(is_unavailable(&io.db().unwrap_err()), "a connection reset");
    }
}
