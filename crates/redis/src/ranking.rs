//! [`RedisRanking`]: reservations per concert in one sorted set, each event
//! counted once (a marker key per event id, set in the same script). The
//! set and the markers share the hash tag `{ranking}`, so the script runs
//! on one node of a cluster.

use crate::connection::{Redis, classify};
use async_trait::async_trait;
use boxoffice_core::domain::{ConcertId, EventId};
use boxoffice_core::ports::Ranking;
use redis::Script;
use std::sync::LazyLock;

/// The sorted set; its markers are `{RANKING}:seen:{event}`.
const RANKING: &str = "{ranking}";

/// How long an event id is remembered against redelivery.
const SEEN_TTL_MS: u64 = 7 * 24 * 3600 * 1000;

static RECORD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "#!lua
         if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then
             redis.call('ZINCRBY', KEYS[1], 1, ARGV[1])
             return 1
         end
         return 0",
    )
});

#[derive(Debug, Clone)]
pub struct RedisRanking {
    redis: Redis,
}

impl RedisRanking {
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }
}

#[async_trait]
impl Ranking for RedisRanking {
    async fn record_reservation(&self, concert: ConcertId, event: EventId) -> anyhow::Result<bool> {
        let mut conn = self.redis.conn.clone();
        let counted: i64 = RECORD
            .key(self.redis.key(RANKING))
            .key(self.redis.key(&format!("{RANKING}:seen:{event}")))
            .arg(concert.get())
            .arg(SEEN_TTL_MS)
            .invoke_async(&mut conn)
            .await
            .map_err(classify)?;
        Ok(counted == 1)
    }

    async fn top(&self, n: usize) -> anyhow::Result<Vec<(ConcertId, u64)>> {
        let mut conn = self.redis.conn.clone();
        // Concerts are few; reading all of them lets ties sort by id, as everywhere.
        let all: Vec<(i64, f64)> = redis::cmd("ZRANGE")
            .arg(self.redis.key(RANKING))
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await
            .map_err(classify)?;
        let mut counted: Vec<(ConcertId, u64)> = all
            .into_iter()
            .filter_map(|(id, score)| {
                let id = ConcertId::new(id).ok()?;
                (score >= 1.0).then_some((id, score as u64))
            })
            .collect();
        counted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        counted.truncate(n);
        Ok(counted)
    }

    async fn reset(&self, counts: &[(ConcertId, u64)]) -> anyhow::Result<()> {
        let mut conn = self.redis.conn.clone();
        let key = self.redis.key(RANKING);
        let mut pipe = redis::pipe();
        pipe.atomic().del(&key);
        for (concert, n) in counts.iter().filter(|(_, n)| *n > 0) {
            pipe.zadd(&key, concert.get(), *n);
        }
        pipe.query_async::<()>(&mut conn).await.map_err(classify)?;
        Ok(())
    }
}
