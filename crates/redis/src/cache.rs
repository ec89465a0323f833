//! [`RedisCache`]: cached values as plain strings with a `PX` expiry.

use crate::connection::{Redis, classify};
use async_trait::async_trait;
use boxoffice_core::ports::Cache;

#[derive(Debug, Clone)]
pub struct RedisCache {
    redis: Redis,
}

impl RedisCache {
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }

    fn key(&self, name: &str) -> String {
        self.redis.key(&format!("cache:{name}"))
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> anyhow::Result<Option<String>> {
        let mut conn = self.redis.conn.clone();
        redis::cmd("GET")
            .arg(self.key(key))
            .query_async(&mut conn)
            .await
            .map_err(classify)
    }

    async fn set(&self, key: &str, value: &str, ttl_ms: u64) -> anyhow::Result<()> {
        let mut conn = self.redis.conn.clone();
        redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(ttl_ms.max(1))
            .query_async::<()>(&mut conn)
            .await
            .map_err(classify)
    }

    async fn delete(&self, keys: &[String]) -> anyhow::Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut conn = self.redis.conn.clone();
        let mut del = redis::cmd("DEL");
        for key in keys {
            del.arg(self.key(key));
        }
        del.query_async::<()>(&mut conn).await.map_err(classify)
    }
}
