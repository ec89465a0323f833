//! A PostgreSQL schema per test. Tests talk to the server named by
//! `BOXOFFICE_TEST_POSTGRES_URL` (default `postgres://root@127.0.0.1:5432/root`,
//! which `scripts/services` provides), in a database `boxoffice_test` created
//! on first use. Each test gets a fresh schema; schemas left by earlier runs
//! are dropped once per test process. A missing server fails the test: it
//! never passes by skipping.

use crate::postgres::PgSettings;
use sqlx::{Connection, Executor, PgConnection};
use std::time::Duration;
use tokio::sync::OnceCell;

const DATABASE: &str = "boxoffice_test";

fn server_url() -> String {
    std::env::var("BOXOFFICE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/root".to_owned())
}

fn database_url(database: &str) -> String {
    let url = server_url();
    match url.rfind('/') {
        Some(i) if i > "postgres://".len() => format!("{}/{database}", &url[..i]),
        _ => format!("{url}/{database}"),
    }
}

static READY: OnceCell<()> = OnceCell::const_new();

/// Creates the test database if needed and drops schemas of earlier runs.
async fn prepare() -> anyhow::Result<()> {
    let mut admin = PgConnection::connect(&server_url()).await?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(DATABASE)
        .fetch_optional(&mut admin)
        .await?;
    if exists.is_none() {
        // Two processes may race to create it; the loser's error is harmless.
        let _ = admin.execute("CREATE DATABASE boxoffice_test").await;
    }
    let mut db = PgConnection::connect(&database_url(DATABASE)).await?;
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 't\\_%'
           AND nspname < $1",
    )
    .bind(format!("t_{:x}", run_started_millis()))
    .fetch_all(&mut db)
    .await?;
    for schema in stale {
        let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
        let _ = db.execute(sqlx::AssertSqlSafe(drop)).await;
    }
    Ok(())
}

/// Milliseconds since the epoch when this process started its first test;
/// schema names start with it, so older runs' schemas sort before ours.
fn run_started_millis() -> u128 {
    static STARTED: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    *STARTED.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    })
}

/// Settings for a store in a brand-new, empty schema.
pub async fn fresh_pg() -> PgSettings {
    let url = server_url();
    READY
        .get_or_init(|| async {
            prepare().await.unwrap_or_else(|e| {
                panic!("PostgreSQL at {url} is needed (run scripts/services): {e:#}")
            });
        })
        .await;
    let schema = format!(
        "t_{:x}_{}",
        run_started_millis(),
        uuid::Uuid::new_v4().simple()
    );
    let mut db = PgConnection::connect(&database_url(DATABASE))
        .await
        .unwrap_or_else(|e| panic!("connecting to {DATABASE}: {e}"));
    db.execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .await
        .unwrap_or_else(|e| panic!("creating schema {schema}: {e}"));
    PgSettings {
        url: format!(
            "{}?options=-c%20search_path%3D{schema}",
            database_url(DATABASE)
        ),
        max_connections: 16,
        acquire_timeout: Duration::from_secs(5),
    }
}
