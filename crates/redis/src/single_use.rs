//! [`RedisSingleUse`]: a mark is `SET once:{key} 1 NX PX ttl`; the first
//! `SET` to land wins, on whichever instance it ran.

use crate::connection::{Redis, classify};
use async_trait::async_trait;
use boxoffice_core::ports::SingleUse;

#[derive(Debug, Clone)]
pub struct RedisSingleUse {
    redis: Redis,
}

impl RedisSingleUse {
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }
}

#[async_trait]
impl SingleUse for RedisSingleUse {
    async fn first_use(&self, key: &str, ttl_ms: u64) -> anyhow::Result<bool> {
        let mut conn = self.redis.conn.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(self.redis.key(&format!("once:{key}")))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms.max(1))
            .query_async(&mut conn)
            .await
            .map_err(classify)?;
        Ok(set.is_some())
    }
}
