//! Connecting to Redis, with time limits, and classifying its errors.

use anyhow::Context;
use boxoffice_core::ports::Unavailable;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

/// Where Redis is and how long to wait for it.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `redis://127.0.0.1:6379/0`
    pub url: String,
    /// Prepended to every key, so several deployments (or tests) can share a server.
    pub key_prefix: String,
    /// How long one command may take before the call fails with 503.
    pub command_timeout: Duration,
    /// How long a (re)connection attempt may take.
    pub connect_timeout: Duration,
}

/// A shared, self-reconnecting connection and the key prefix.
#[derive(Clone)]
pub struct Redis {
    pub(crate) conn: ConnectionManager,
    pub(crate) prefix: String,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Redis {
    /// Prepares a connection. It is made lazily, so the service starts (and
    /// answers 503 where Redis is needed) even while Redis is down.
    pub fn connect(settings: &RedisSettings) -> anyhow::Result<Self> {
        let client = redis::Client::open(settings.url.as_str())
            .with_context(|| format!("bad Redis url {}", settings.url))?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(settings.command_timeout))
            .set_connection_timeout(Some(settings.connect_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config).map_err(classify)?;
        Ok(Self {
            conn,
            prefix: settings.key_prefix.clone(),
        })
    }

    /// Succeeds when Redis answers.
    pub async fn ping(&self) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map_err(classify)?;
        Ok(())
    }

    pub(crate) fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

/// Connection-level failures become [`Unavailable`]; anything else (a
/// script error, a wrong type) is a bug and stays an ordinary error.
pub(crate) fn classify(err: redis::RedisError) -> anyhow::Error {
    let unavailable = err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal();
    if unavailable {
        anyhow::Error::new(Unavailable(err.to_string())).context("redis")
    } else {
        anyhow::Error::new(err).context("redis")
    }
}
