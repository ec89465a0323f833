//! Connecting to Redis, with time limits, and classifying its errors.

use anyhow::Context;
use boxoffice_core::ports::Unavailable;
use redis::IntoConnectionInfo;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// Where Redis is and how long to wait for it.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `redis://127.0.0.1:6379/0`; with `cluster`, seed nodes separated by commas.
    pub url: String,
    /// A Redis Cluster: commands go to the node serving their key's slot.
    pub cluster: bool,
    /// Non-empty: `url` lists Sentinels, and this is the name of the
    /// primary they watch. The primary is asked of them at the first
    /// command and again after a failure that may mean it moved.
    pub sentinel_service: String,
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
    /// Keys that span concerts live on other shards than a concert's, so
    /// scripts may not touch them (see the waiting room).
    pub(crate) cluster: bool,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("prefix", &self.prefix)
            .field("cluster", &self.cluster)
            .finish()
    }
}

impl Redis {
    /// Prepares a connection. It is made lazily, so the service starts (and
    /// answers 503 where Redis is needed) even while Redis is down.
    pub fn connect(settings: &RedisSettings) -> anyhow::Result<Self> {
        if settings.key_prefix.contains(['{', '}']) {
            anyhow::bail!(
                "the key prefix {:?} has a brace: braces are kept for the hash tags",
                settings.key_prefix
            );
        }
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(settings.command_timeout))
            .set_connection_timeout(Some(settings.connect_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let link = if settings.cluster {
            Link::Cluster(Arc::new(LazyCluster {
                client: Self::cluster_client(settings)?,
                conn: OnceCell::new(),
            }))
        } else if !settings.sentinel_service.is_empty() {
            Link::Sentinel(Arc::new(SentinelLink {
                sentinels: tokio::sync::Mutex::new(Self::sentinel_client(settings)?),
                config,
                connect_timeout: settings.connect_timeout,
                primary: std::sync::Mutex::new(None),
            }))
        } else {
            Link::One(
                ConnectionManager::new_lazy_with_config(Self::client(settings)?, config)
                    .map_err(classify)?,
            )
        };
        Ok(Self {
            conn: Timed(link),
            prefix: settings.key_prefix.clone(),
            cluster: settings.cluster,
        })
    }

    /// The seed nodes of a cluster, or the one URL.
    fn urls(settings: &RedisSettings) -> Vec<&str> {
        settings
            .url
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect()
    }

    fn certificates(tls: &RedisTls) -> redis::TlsCertificates {
        redis::TlsCertificates {
            client_tls: tls
                .client
                .as_ref()
                .map(|(cert, key)| redis::ClientTlsConfig {
                    client_cert: cert.clone(),
                    client_key: key.clone(),
                }),
            root_cert: tls.ca.clone(),
        }
    }

    /// A client of one node: the URL's, or a cluster's first seed (for the probe).
    fn client(settings: &RedisSettings) -> anyhow::Result<redis::Client> {
        let url = Self::urls(settings).first().copied().unwrap_or_default();
        let client = match &settings.tls {
            None => redis::Client::open(url),
            Some(tls) => redis::Client::build_with_tls(url, Self::certificates(tls)),
        };
        client.with_context(|| format!("not a Redis URL: {}", redact(url)))
    }

    /// Sentinels that name the primary of `sentinel_service`. The first
    /// URL's user, password and database are used for the Sentinels and
    /// the primary alike; `rediss://` means TLS to both.
    fn sentinel_client(settings: &RedisSettings) -> anyhow::Result<SentinelClient> {
        let urls = Self::urls(settings);
        let shown = || urls.iter().map(|u| redact(u)).collect::<Vec<_>>().join(",");
        let infos = urls
            .iter()
            .map(|u| u.into_connection_info())
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("not Redis Sentinel URLs: {}", shown()))?;
        let Some(first) = infos.first() else {
            anyhow::bail!("no Redis Sentinel URL");
        };
        let mut builder = SentinelClientBuilder::new(
            infos.iter().map(|info| info.addr().clone()),
            &settings.sentinel_service,
            SentinelServerType::Master,
        )?
        .set_client_to_redis_db(first.redis_settings().db());
        if let Some(user) = first.redis_settings().username() {
            builder = builder
                .set_client_to_redis_username(user)
                .set_client_to_sentinel_username(user);
        }
        if let Some(password) = first.redis_settings().password() {
            builder = builder
                .set_client_to_redis_password(password)
                .set_client_to_sentinel_password(password);
        }
        if matches!(first.addr(), redis::ConnectionAddr::TcpTls { .. }) {
            builder = builder
                .set_client_to_redis_tls_mode(redis::TlsMode::Secure)
                .set_client_to_sentinel_tls_mode(redis::TlsMode::Secure);
        }
        if let Some(tls) = &settings.tls {
            builder = builder
                .set_client_to_redis_certificates(Self::certificates(tls))
                .set_client_to_sentinel_certificates(Self::certificates(tls));
        }
        builder
            .build()
            .with_context(|| format!("not Redis Sentinel URLs: {}", shown()))
    }

    fn cluster_client(settings: &RedisSettings) -> anyhow::Result<ClusterClient> {
        let urls = Self::urls(settings);
        let mut builder = ClusterClient::builder(urls.iter().map(|u| (*u).to_owned()))
            .connection_timeout(settings.connect_timeout)
            .response_timeout(settings.command_timeout)
            .retries(1);
        if let Some(tls) = &settings.tls {
            builder = builder.certs(Self::certificates(tls));
        }
        builder.build().with_context(|| {
            let shown: Vec<String> = urls.iter().map(|u| redact(u)).collect();
            format!("not Redis Cluster seed URLs: {}", shown.join(","))
        })
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
pub(crate) struct Timed(Link);

/// One Redis (reconnecting by itself), a cluster, or a primary found
/// through Sentinels.
#[derive(Clone)]
enum Link {
    One(ConnectionManager),
    Cluster(Arc<LazyCluster>),
    Sentinel(Arc<SentinelLink>),
}

/// The primary the Sentinels named last, asked again after a failure that
/// may mean a failover moved it: a dropped or refused connection, or a
/// write refused by a node that is a replica now.
struct SentinelLink {
    sentinels: tokio::sync::Mutex<SentinelClient>,
    config: ConnectionManagerConfig,
    connect_timeout: Duration,
    primary: std::sync::Mutex<Option<ConnectionManager>>,
}

impl SentinelLink {
    fn known(&self) -> Option<ConnectionManager> {
        self.primary.lock().ok().and_then(|p| p.clone())
    }

    async fn conn(&self) -> redis::RedisResult<ConnectionManager> {
        if let Some(conn) = self.known() {
            return Ok(conn);
        }
        let mut sentinels = self.sentinels.lock().await;
        // Another caller may have asked while this one waited.
        if let Some(conn) = self.known() {
            return Ok(conn);
        }
        let client = tokio::time::timeout(self.connect_timeout * 2, sentinels.async_get_client())
            .await
            .map_err(|_| {
                redis::RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no Sentinel named the primary in time",
                ))
            })??;
        let conn = ConnectionManager::new_lazy_with_config(client, self.config.clone())?;
        if let Ok(mut primary) = self.primary.lock() {
            *primary = Some(conn.clone());
        }
        Ok(conn)
    }

    /// Forgets the primary when `result` says it may have moved.
    fn after<T>(&self, result: &redis::RedisResult<T>) {
        if let Err(err) = result
            && (err.is_connection_dropped()
                || err.is_connection_refusal()
                || err.is_io_error()
                || moved(err))
            && let Ok(mut primary) = self.primary.lock()
        {
            tracing::warn!(error = %err, "asking the Redis Sentinels for the primary again");
            *primary = None;
        }
    }
}

/// A node that answers it is not (or not yet) the one to write to.
fn moved(err: &redis::RedisError) -> bool {
    matches!(
        err.code(),
        Some("READONLY" | "MASTERDOWN" | "LOADING" | "TRYAGAIN" | "CLUSTERDOWN")
    )
}

/// A cluster connection made at its first use, so that the service starts
/// (and answers 503 where Redis is needed) while the cluster is down. Once
/// made, it follows slot moves and reconnects to nodes by itself.
struct LazyCluster {
    client: ClusterClient,
    conn: OnceCell<ClusterConnection>,
}

impl LazyCluster {
    async fn conn(&self) -> redis::RedisResult<ClusterConnection> {
        self.conn
            .get_or_try_init(|| self.client.get_async_connection())
            .await
            .cloned()
    }
}

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
            let result = match &mut self.0 {
                Link::One(conn) => conn.req_packed_command(cmd).await,
                Link::Cluster(lazy) => match lazy.conn().await {
                    Ok(mut conn) => conn.req_packed_command(cmd).await,
                    Err(err) => Err(err),
                },
                Link::Sentinel(link) => match link.conn().await {
                    Ok(mut conn) => {
                        let result = conn.req_packed_command(cmd).await;
                        link.after(&result);
                        result
                    }
                    Err(err) => Err(err),
                },
            };
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
            let result = match &mut self.0 {
                Link::One(conn) => conn.req_packed_commands(pipeline, offset, count).await,
                Link::Cluster(lazy) => match lazy.conn().await {
                    Ok(mut conn) => conn.req_packed_commands(pipeline, offset, count).await,
                    Err(err) => Err(err),
                },
                Link::Sentinel(link) => match link.conn().await {
                    Ok(mut conn) => {
                        let result = conn.req_packed_commands(pipeline, offset, count).await;
                        link.after(&result);
                        result
                    }
                    Err(err) => Err(err),
                },
            };
            Self::record("pipeline".to_owned(), started, &result);
            result
        })
    }

    fn get_db(&self) -> i64 {
        match &self.0 {
            Link::One(conn) => conn.get_db(),
            Link::Cluster(_) | Link::Sentinel(_) => 0,
        }
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
        || err.is_connection_refusal()
        || moved(&err);
    if unavailable {
        anyhow::Error::new(Unavailable(err.to_string())).context("redis")
    } else {
        anyhow::Error::new(err).context("redis")
    }
}
