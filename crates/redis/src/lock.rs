//! [`RedisLock`]: a lease is `SET key token NX PX ttl`; releasing and
//! extending compare the token first, in one script, so a holder whose lease
//! ran out can never release or extend the next holder's.

use crate::connection::{Redis, classify};
use async_trait::async_trait;
use boxoffice_core::ports::{Lock, LockLease};
use redis::Script;
use std::sync::LazyLock;

static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "#!lua
         if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
    )
});

static EXTEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "#!lua
         if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0",
    )
});

#[derive(Debug, Clone)]
pub struct RedisLock {
    redis: Redis,
}

impl RedisLock {
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }

    fn key(&self, name: &str) -> String {
        self.redis.key(&format!("lock:{name}"))
    }
}

fn new_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("random generator failed: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[async_trait]
impl Lock for RedisLock {
    async fn try_acquire(&self, key: &str, ttl_ms: u64) -> anyhow::Result<Option<LockLease>> {
        let token = new_token()?;
        let mut conn = self.redis.conn.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms.max(1))
            .query_async(&mut conn)
            .await
            .map_err(classify)?;
        Ok(set.map(|_| LockLease {
            key: key.to_owned(),
            token,
        }))
    }

    async fn extend(&self, lease: &LockLease, ttl_ms: u64) -> anyhow::Result<bool> {
        let mut conn = self.redis.conn.clone();
        let extended: i64 = EXTEND
            .key(self.key(&lease.key))
            .arg(&lease.token)
            .arg(ttl_ms.max(1))
            .invoke_async(&mut conn)
            .await
            .map_err(classify)?;
        Ok(extended == 1)
    }

    async fn release(&self, lease: &LockLease) -> anyhow::Result<bool> {
        let mut conn = self.redis.conn.clone();
        let released: i64 = RELEASE
            .key(self.key(&lease.key))
            .arg(&lease.token)
            .invoke_async(&mut conn)
            .await
            .map_err(classify)?;
        Ok(released == 1)
    }
}
