//! boxoffice-redis: the Redis adapters, used when several instances share
//! one Redis: the waiting room, locks and the popular-concert ranking.
//!
//! Every multi-step operation is one Lua script, so it is atomic on the
//! server; a lock is released and extended by compare-and-act scripts, never
//! by GET then DEL. A Redis that cannot be reached, or answers too late,
//! makes calls fail fast with `Unavailable` (the API answers 503); the
//! connection manager reconnects by itself when Redis returns.
//!
//! Layout:
//! - [`cache`]: [`RedisCache`] (cache-aside entries with `PX` expiry).
//! - [`connection`]: [`RedisSettings`], connecting, error classification.
//! - [`waiting_room`]: [`RedisWaitingRoom`] (sorted sets per concert).
//! - [`lock`]: [`RedisLock`] (`SET NX PX`, compare-and-delete).
//! - [`single_use`]: [`RedisSingleUse`] (`SET NX PX`).
//! - [`ranking`]: [`RedisRanking`] (`ZINCRBY` once per event id).

pub mod cache;
pub mod connection;
pub mod lock;
pub mod ranking;
pub mod single_use;
pub mod waiting_room;

pub use cache::RedisCache;
pub use connection::{Probe, Redis, RedisSettings, RedisTls};
pub use lock::RedisLock;
pub use ranking::RedisRanking;
pub use single_use::RedisSingleUse;
pub use waiting_room::RedisWaitingRoom;

#[cfg(test)]
mod contract {
    use crate::{
        Redis, RedisCache, RedisLock, RedisRanking, RedisSettings, RedisSingleUse, RedisWaitingRoom,
    };
    use std::sync::Arc;
    use std::time::Duration;

    /// A connection to the test Redis (`BOXOFFICE_TEST_REDIS_URL`, default
    /// the local one `scripts/services` starts) under a prefix of its own.
    fn fresh_redis() -> Redis {
        redis_with_timeout(Duration::from_secs(2))
    }

    fn redis_with_timeout(command_timeout: Duration) -> Redis {
        let url = std::env::var("BOXOFFICE_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379/0".to_owned());
        let settings = RedisSettings {
            url,
            key_prefix: format!("test:{}:", uuid::Uuid::new_v4().simple()),
            command_timeout,
            connect_timeout: Duration::from_secs(2),
            tls: None,
        };
        Redis::connect(&settings).unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Keeps the Redis server busy for `millis` (a script that spins on
    /// `TIME`): every other client's commands wait, as under overload.
    fn stall(millis: u64) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let redis = redis_with_timeout(Duration::from_secs(10));
            let mut conn = redis.conn.clone();
            redis::Script::new(
                "local t = redis.call('TIME')
                 local start = t[1] * 1000000 + t[2]
                 while true do
                   local n = redis.call('TIME')
                   if n[1] * 1000000 + n[2] - start > tonumber(ARGV[1]) * 1000 then return 1 end
                 end",
            )
            .arg(millis)
            .invoke_async::<i64>(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        })
    }

    mod timeouts {
        use super::*;
        use boxoffice_core::domain::queue_token::{Lane, QueuePolicy};
        use boxoffice_core::domain::{Timestamp, TokenId};
        use boxoffice_core::ports::{WaitingRoom, is_unavailable};
        use boxoffice_core::testing::{concert_id, user};

        const T0: Timestamp = Timestamp::from_millis(1_893_456_000_000);

        async fn enter(room: &RedisWaitingRoom, who: i64) -> anyhow::Result<()> {
            let policy = QueuePolicy::default();
            let token = TokenId::from_bytes(*uuid::Uuid::new_v4().as_bytes());
            room.enter(concert_id(1), user(who), token, T0, &policy, Lane::Line)
                .await
                .map(drop)
        }

        /// One test, so that the two stalls do not overlap.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn an_entry_that_times_out_is_tried_once_more_then_unavailable() {
            let room = RedisWaitingRoom::new(redis_with_timeout(Duration::from_millis(400)));
            // Connected, and the script loaded, before Redis stalls.
            enter(&room, 1).await.unwrap_or_else(|e| panic!("{e:#}"));

            // Busy past one timeout, not two: the second attempt answers.
            let stalled = stall(600);
            tokio::time::sleep(Duration::from_millis(50)).await;
            enter(&room, 2).await.unwrap_or_else(|e| panic!("{e:#}"));
            stalled.await.unwrap_or_else(|e| panic!("{e}"));

            // Busy past both: unavailable (the API answers 503).
            let stalled = stall(1_000);
            tokio::time::sleep(Duration::from_millis(50)).await;
            let err = enter(&room, 3).await.err();
            assert!(err.as_ref().is_some_and(is_unavailable), "{err:?}");
            stalled.await.unwrap_or_else(|e| panic!("{e}"));
        }
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

    mod single_use {
        use super::*;
        boxoffice_core::single_use_contract_tests!(Arc::new(RedisSingleUse::new(fresh_redis())));
    }

    mod ranking {
        use super::*;
        boxoffice_core::ranking_contract_tests!(Arc::new(RedisRanking::new(fresh_redis())));
    }
}
