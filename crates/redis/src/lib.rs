//! boxoffice-redis: the Redis adapters, used when several instances share
//! one Redis: the waiting room, locks and the popular-concert ranking.
//!
//! Every multi-step operation is one Lua script, so it is atomic on the
//! server; a lock is released and extended by compare-and-act scripts, never
//! by GET then DEL. A Redis that cannot be reached, or answers too late,
//! makes calls fail fast with `Unavailable` (the API answers 503); the
//! connection manager reconnects by itself when Redis returns.
//! The adapters serve the waiting room, locks, cache and ranking.
//!
//! Layout:
//! - [`cache`]: [`RedisCache`] (cache-aside entries with `PX` expiry).
//! - [`connection`]: [`RedisSettings`], connecting, error classification.
//! - [`waiting_room`]: [`RedisWaitingRoom`] (sorted sets per concert).
//! - [`lock`]: [`RedisLock`] (`SET NX PX`, compare-and-delete).
//! - [`ranking`]: [`RedisRanking`] (`ZINCRBY` once per event id).

pub mod cache;
pub mod connection;
pub mod lock;
pub mod ranking;
pub mod waiting_room;

pub use cache::RedisCache;
pub use connection::{Redis, RedisSettings};
pub use lock::RedisLock;
pub use ranking::RedisRanking;
pub use waiting_room::RedisWaitingRoom;

#[cfg(test)]
mod contract {
    use crate::{Redis, RedisCache, RedisLock, RedisRanking, RedisSettings, RedisWaitingRoom};
    use std::sync::Arc;
    use std::time::Duration;

    /// A connection to the test Redis (`BOXOFFICE_TEST_REDIS_URL`, default
    /// the local one `scripts/services` starts) under a prefix of its own.
    fn fresh_redis() -> Redis {
        let url = std::env::var("BOXOFFICE_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379/0".to_owned());
        let settings = RedisSettings {
            url,
            key_prefix: format!("test:{}:", uuid::Uuid::new_v4().simple()),
            command_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
        };
        Redis::connect(&settings).unwrap_or_else(|e| panic!("{e:#}"))
    }

    mod waiting_room {
        use super::*;
        boxoffice_core::waiting_room_contract_tests!(Arc::new(
            RedisWaitingRoom::new(fresh_redis())
        ));
    }

    mod cache {
        use super::*;
        boxoffice_core::cache_contract_tests!(Arc::new(RedisCache::new(fresh_redis())));
    }

    mod lock {
        use super::*;
        boxoffice_core::lock_contract_tests!(Arc::new(RedisLock::new(fresh_redis())));
    }

    mod ranking {
        use super::*;
        boxoffice_core::ranking_contract_tests!(Arc::new(RedisRanking::new(fresh_redis())));
    }
}
