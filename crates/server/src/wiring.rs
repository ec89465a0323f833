//! The one place that picks adapters from the configuration and assembles
//! the application:
//! - `database.url`: `sqlite://` gives [`SqliteStore`], `postgres://` gives [`PgStore`];
//! - `database.concurrency`: the hold and balance strategy (`redis_lock`
//!   wraps the store in a [`LockedStore`]);
//! - `redis.url`: set, the waiting room, locks and ranking live in Redis
//!   (several instances may run); empty, they live in this process.

use crate::config::{ConcurrencyStrategy, Settings};
use anyhow::{bail, ensure};
use boxoffice_core::memory::{
    LocalBus, MemoryCache, MemoryLock, MemoryRanking, MemoryWaitingRoom, OsEntropy,
};
use boxoffice_core::ports::{Cache, Clock, Lock, Ranking, Store, WaitingRoom};
use boxoffice_core::use_cases::{Adapters, App};
use boxoffice_http::ApiState;
use boxoffice_redis::{Redis, RedisCache, RedisLock, RedisRanking, RedisWaitingRoom};
use boxoffice_store::{Concurrency, LockedStore, PgSettings, PgStore, SqliteStore};
use std::sync::Arc;
use std::time::Duration;

/// The waiting room, lock, cache and ranking: shared in Redis, or in this process.
struct Coordination {
    waiting_room: Arc<dyn WaitingRoom>,
    lock: Arc<dyn Lock>,
    ranking: Arc<dyn Ranking>,
    cache: Arc<dyn Cache>,
}

fn coordination(settings: &Settings) -> anyhow::Result<Coordination> {
    let r = &settings.redis;
    if r.url.is_empty() {
        return Ok(Coordination {
            waiting_room: Arc::new(MemoryWaitingRoom::default()),
            lock: Arc::new(MemoryLock::default()),
            ranking: Arc::new(MemoryRanking::default()),
            cache: Arc::new(MemoryCache::default()),
        });
    }
    let redis = Redis::connect(&boxoffice_redis::RedisSettings {
        url: r.url.clone(),
        key_prefix: r.key_prefix.clone(),
        command_timeout: Duration::from_millis(r.command_timeout_ms),
        connect_timeout: Duration::from_millis(r.connect_timeout_ms),
    })?;
    Ok(Coordination {
        waiting_room: Arc::new(RedisWaitingRoom::new(redis.clone())),
        lock: Arc::new(RedisLock::new(redis.clone())),
        ranking: Arc::new(RedisRanking::new(redis.clone())),
        cache: Arc::new(RedisCache::new(redis)),
    })
}

fn concurrency(settings: &Settings) -> Concurrency {
    match settings.database.concurrency {
        ConcurrencyStrategy::Conditional | ConcurrencyStrategy::RedisLock => {
            Concurrency::Conditional
        }
        ConcurrencyStrategy::Pessimistic => Concurrency::Pessimistic,
        ConcurrencyStrategy::Optimistic => Concurrency::Optimistic {
            max_attempts: settings.database.optimistic_max_attempts,
        },
    }
}

/// Opens the store named by `database.url` (applying migrations), creating
/// the directory of a SQLite file.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let url = settings.database.url.as_str();
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let file = path.split('?').next().unwrap_or(path);
        if let Some(dir) = std::path::Path::new(file).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        return Ok(Arc::new(
            SqliteStore::connect(url, concurrency(settings)).await?,
        ));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let pg = PgSettings {
            url: url.to_owned(),
            max_connections: settings.database.max_connections,
            acquire_timeout: Duration::from_millis(settings.database.acquire_timeout_ms),
        };
        return Ok(Arc::new(
            PgStore::connect(&pg, concurrency(settings)).await?,
        ));
    }
    bail!("unsupported database url {url:?}: use sqlite://path/to/file.db or postgres://...")
}

/// The application as configured.
pub async fn build_app(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
    let shared = coordination(settings)?;
    let mut store = open_store(settings).await?;
    if settings.database.concurrency == ConcurrencyStrategy::RedisLock {
        ensure!(
            !settings.redis.url.is_empty(),
            "the redis_lock strategy needs redis.url"
        );
        let wait = Duration::from_millis(settings.database.lock_wait_ms);
        store = Arc::new(LockedStore::new(store, shared.lock.clone(), wait));
    }
    let policies = settings.policies();
    let bus = Arc::new(LocalBus::new(
        shared.ranking.clone(),
        shared.waiting_room.clone(),
        clock.clone(),
        policies.queue,
    ));
    let app = App::new(
        Adapters {
            store,
            waiting_room: shared.waiting_room,
            ranking: shared.ranking,
            bus,
            lock: shared.lock,
            cache: shared.cache,
            clock,
            entropy: Arc::new(OsEntropy),
        },
        policies,
    );
    if let Err(err) = app.restore_ranking().await {
        // Redis may be down at start; the ranking fills as events are relayed.
        tracing::warn!(
            error = format!("{err:#}"),
            "popular-concert ranking not restored"
        );
    }
    Ok(app)
}

/// The HTTP state for `app`.
pub fn api_state(settings: &Settings, app: App) -> ApiState {
    ApiState {
        app,
        admin_key: settings.admin_key().map(Arc::from),
    }
}
