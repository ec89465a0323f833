//! Connecting to Redis, with time limits, and classifying its errors.

use anyhow::Context;
use boxoffice_core::ports::Unavailable;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::{Duration, Instant};

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
    /// For a `rediss://` URL: PEM roots to trust instead of the system's,
    /// and a client certificate with its key. `None`: the system's roots.
    pub tls: Option<RedisTls>,
}

/// Certificates for TLS to Redis, in PEM.
#[derive(Clone, Default)]
pub struct RedisTls {
    pub ca: Option<Vec<u8>>,
    /// Certificate and key.
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for RedisTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTls")
            .field("ca", &self.ca.is_some())
            .field("client", &self.client.is_some())
            .finish()
    }
}

/// What one connection made at start found.
#[derive(Debug)]
pub enum Probe {
    /// Redis answered.
    Answered,
    /// Nothing answered (refused, timed out): Redis may come up later.
    Unreachable(String),
    /// Something answered, but the TLS handshake or the sign-in failed:
    /// a setting is wrong, and waiting will not help.
    Refused(String),
}

/// A shared, self-reconnecting connection and the key prefix.
#[derive(Clone)]
pub struct Redis {
    pub(crate) conn: Timed,
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
        let client = Self::client(settings)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(settings.command_timeout))
            .set_connection_timeout(Some(settings.connect_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config).map_err(classify)?;
        Ok(Self {
            conn: Timed(conn),
            prefix: settings.key_prefix.clone(),
        })
    }

    fn client(settings: &RedisSettings) -> anyhow::Result<redis::Client> {
        let client = match &settings.tls {
            None => redis::Client::open(settings.url.as_str()),
            Some(tls) => redis::Client::build_with_tls(
                settings.url.as_str(),
                redis::TlsCertificates {
                    client_tls: tls
                        .client
                        .as_ref()
                        .map(|(cert, key)| redis::ClientTlsConfig {
                            client_cert: cert.clone(),
                            client_key: key.clone(),
                        }),
                    root_cert: tls.ca.clone(),
                },
            ),
        };
        client.with_context(|| format!("not a Redis URL: {}", redact(&settings.url)))
    }

    /// Makes one connection of its own and sends `PING`, so that a start
    /// can tell a Redis that is down (start anyway: calls answer 503 until
    /// it is back) from one that refuses us (stop, naming the setting).
    pub async fn probe(settings: &RedisSettings) -> anyhow::Result<Probe> {
        let client = Self::client(settings)?;
        let attempt = async {
            let mut conn = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut conn).await
        };
        let outcome = match tokio::time::timeout(
            settings.connect_timeout + settings.command_timeout,
            attempt,
        )
        .await
        {
            Err(_) => Probe::Unreachable("no answer in time".to_owned()),
            Ok(Ok(_)) => Probe::Answered,
            Ok(Err(err)) if refuses_us(&err) => Probe::Refused(err.to_string()),
            // Refused, reset, unresolvable, still loading its data: down, for now.
            Ok(Err(err)) => Probe::Unreachable(err.to_string()),
        };
        Ok(outcome)
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

/// The connection, timing every command it sends and counting its errors:
/// `boxoffice_redis_command_duration_seconds{command}` and
/// `boxoffice_redis_errors_total{command}`, where `command` is the Redis
/// command's name (`EVALSHA` for the scripts) or `pipeline`.
#[derive(Clone)]
pub(crate) struct Timed(ConnectionManager);

/// The histogram of command latencies (bucketed by the HTTP crate's exporter).
pub const REDIS_COMMAND_SECONDS: &str = "boxoffice_redis_command_duration_seconds";

impl Timed {
    fn record<T>(command: String, started: Instant, result: &redis::RedisResult<T>) {
        metrics::histogram!(REDIS_COMMAND_SECONDS, "command" => command.clone())
            .record(started.elapsed().as_secs_f64());
        if result.is_err() {
            metrics::counter!("boxoffice_redis_errors_total", "command" => command).increment(1);
        }
    }
}

/// A command's name, upper-cased; one of a small set, so a fit label.
fn command_name(cmd: &redis::Cmd) -> String {
    cmd.args_iter()
        .next()
        .and_then(|arg| match arg {
            redis::Arg::Simple(bytes) => std::str::from_utf8(bytes).ok(),
            _ => None,
        })
        .map_or_else(|| "unknown".to_owned(), str::to_ascii_uppercase)
}

impl redis::aio::ConnectionLike for Timed {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        Box::pin(async move {
            let started = Instant::now();
            let result = self.0.req_packed_command(cmd).await;
            Self::record(command_name(cmd), started, &result);
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        Box::pin(async move {
            let started = Instant::now();
            let result = self.0.req_packed_commands(pipeline, offset, count).await;
            Self::record("pipeline".to_owned(), started, &result);
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.0.get_db()
    }
}

/// Whether Redis answered but will not have us: a TLS handshake that
/// failed (a certificate refused either way, or a protocol mismatch), or a
/// refused sign-in.
fn refuses_us(err: &redis::RedisError) -> bool {
    if matches!(
        err.kind(),
        redis::ErrorKind::AuthenticationFailed | redis::ErrorKind::InvalidClientConfig
    ) || matches!(err.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM"))
    {
        return true;
    }
    // The redis crate keeps the I/O error behind an `Arc`, and an I/O
    // error's `source` skips what it wraps, so unwrap both by hand.
    let mut cause = std::error::Error::source(err);
    while let Some(e) = cause {
        let io = e.downcast_ref::<std::io::Error>().or_else(|| {
            e.downcast_ref::<std::sync::Arc<dyn std::error::Error + Send + Sync>>()
                .and_then(|shared| shared.downcast_ref::<std::io::Error>())
        });
        if io
            .and_then(std::io::Error::get_ref)
            .is_some_and(|inner| inner.is::<rustls::Error>())
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// The URL with any password hidden, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
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
