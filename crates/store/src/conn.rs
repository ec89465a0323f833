//! [`Conn`] and [`Tx`]: what the shared transaction code needs from a
//! driver (run a statement, read rows, commit), implemented for SQLite and
//! PostgreSQL pools and transactions by one macro.

use crate::errors::DbResult;
use crate::values::{Cell, Record, Val};
use std::future::Future;

/// Something statements run on: a pool (reads) or a transaction.
pub(crate) trait Conn: Send {
    fn fetch_all(
        &mut self,
        sql: &'static str,
        args: Vec<Val>,
    ) -> impl Future<Output = anyhow::Result<Vec<Record>>> + Send;

    /// Rows affected.
    fn execute(
        &mut self,
        sql: &'static str,
        args: Vec<Val>,
    ) -> impl Future<Output = anyhow::Result<u64>> + Send;

    fn fetch_optional(
        &mut self,
        sql: &'static str,
        args: Vec<Val>,
    ) -> impl Future<Output = anyhow::Result<Option<Record>>> + Send {
        async move { Ok(self.fetch_all(sql, args).await?.into_iter().next()) }
    }

    fn fetch_one(
        &mut self,
        sql: &'static str,
        args: Vec<Val>,
    ) -> impl Future<Output = anyhow::Result<Record>> + Send {
        async move {
            self.fetch_optional(sql, args)
                .await?
                .ok_or_else(|| anyhow::anyhow!("expected a row from: {sql}"))
        }
    }
}

/// A write transaction: rolled back when dropped without [`Tx::commit`].
pub(crate) trait Tx: Conn {
    fn commit(self) -> impl Future<Output = anyhow::Result<()>> + Send;
}

macro_rules! impl_conn {
    ($db:ty, $row:ty) => {
        fn bind_all<'q>(
            mut query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
            args: Vec<Val>,
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments> {
            for arg in args {
                query = match arg {
                    Val::Int(v) => query.bind(v),
                    Val::Text(v) => query.bind(v),
                    Val::NullInt => query.bind(None::<i64>),
                    Val::NullText => query.bind(None::<String>),
                };
            }
            query
        }

        fn record(row: &$row) -> anyhow::Result<Record> {
            use sqlx::{Column, Row};
            let mut cells = Vec::with_capacity(row.len());
            for (i, column) in row.columns().iter().enumerate() {
                let cell = if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
                    v.map_or(Cell::Null, Cell::Int)
                } else if let Ok(v) = row.try_get::<Option<i32>, _>(i) {
                    v.map_or(Cell::Null, |v| Cell::Int(i64::from(v)))
                } else {
                    row.try_get::<Option<String>, _>(i)
                        .map_err(anyhow::Error::new)?
                        .map_or(Cell::Null, Cell::Text)
                };
                cells.push((column.name().to_owned(), cell));
            }
            Ok(Record(cells))
        }

        /// A connection from the pool, the wait recorded.
        async fn acquire(
            pool: &sqlx::Pool<$db>,
        ) -> anyhow::Result<sqlx::pool::PoolConnection<$db>> {
            let started = std::time::Instant::now();
            let conn = pool.acquire().await;
            metrics::histogram!(crate::POOL_ACQUIRE_SECONDS)
                .record(started.elapsed().as_secs_f64());
            conn.db()
        }

        impl Conn for sqlx::Pool<$db> {
            async fn fetch_all(
                &mut self,
                sql: &'static str,
                args: Vec<Val>,
            ) -> anyhow::Result<Vec<Record>> {
                let mut conn = acquire(self).await?;
                let rows = bind_all(sqlx::query(sql), args)
                    .fetch_all(&mut *conn)
                    .await
                    .db()?;
                rows.iter().map(record).collect()
            }

            async fn execute(&mut self, sql: &'static str, args: Vec<Val>) -> anyhow::Result<u64> {
                let mut conn = acquire(self).await?;
                Ok(bind_all(sqlx::query(sql), args)
                    .execute(&mut *conn)
                    .await
                    .db()?
                    .rows_affected())
            }
        }

        impl Conn for sqlx::Transaction<'static, $db> {
            async fn fetch_all(
                &mut self,
                sql: &'static str,
                args: Vec<Val>,
            ) -> anyhow::Result<Vec<Record>> {
                let rows = bind_all(sqlx::query(sql), args)
                    .fetch_all(&mut **self)
                    .await
                    .db()?;
                rows.iter().map(record).collect()
            }

            async fn execute(&mut self, sql: &'static str, args: Vec<Val>) -> anyhow::Result<u64> {
                Ok(bind_all(sqlx::query(sql), args)
                    .execute(&mut **self)
                    .await
                    .db()?
                    .rows_affected())
            }
        }

        impl Tx for sqlx::Transaction<'static, $db> {
            async fn commit(self) -> anyhow::Result<()> {
                sqlx::Transaction::commit(self).await.db()
            }
        }
    };
}

mod sqlite {
    use super::*;
    impl_conn!(sqlx::Sqlite, sqlx::sqlite::SqliteRow);
}

mod postgres {
    use super::*;
    impl_conn!(sqlx::Postgres, sqlx::postgres::PgRow);
}
