//! The one place that picks adapters from the configuration and assembles
//! the application:
//! - `database.url`: `sqlite://` gives [`SqliteStore`], `postgres://` gives [`PgStore`];
//! - `database.concurrency`: the hold and balance strategy (`redis_lock`
//!   wraps the store's booking port in a [`LockedStore`]);
//! - `redis.url`: set, the waiting room, locks and ranking live in Redis
//!   (several instances may run); empty, they live in this process.
//! - `queue.room`: `postgres` keeps the waiting room in the database
//!   instead ([`PgWaitingRoom`](boxoffice_store::PgWaitingRoom)), `memory`
//!   in this process, `redis` or `auto` as above.
//! - `kafka.brokers`: set, relayed events go to Kafka topics and consumer
//!   groups read them there; empty, consumer groups read the database's
//!   inbox table (the in-process bus).
//! - `dataplatform.url`: set, confirmed reservations are forwarded to it.
//! - `auth.*`: how fans are identified (bearer tokens and their keys, or
//!   the gateway's `Client-Id`), and the secret queue credentials are
//!   sealed with (kept in the database, shared by every instance).
//! - `rate_limit.*`: the limits per route class.

use crate::config::{
    AuthModeSetting, ConcurrencyStrategy, QueueEntry, QueueRoom, SettingError, Settings,
    mask_url_password, mask_url_passwords, parse_net,
};
use crate::dataplatform::HttpDataPlatform;
use anyhow::{Context, bail, ensure};
use boxoffice_auth::dev::DevSigner;
use boxoffice_auth::{AccessSettings, AccessVerifier, KeyRing, KeySources, QueueSeal};
use boxoffice_core::domain::delivery::{DATA_PLATFORM_CONSUMER, QUEUE_ENTRY_CONSUMER};
use boxoffice_core::domain::events::{RESERVATION_CANCELLED, RESERVATION_CONFIRMED};
use boxoffice_core::memory::{
    InboxSubscription, LocalBus, MemoryCache, MemoryLock, MemoryRanking, MemorySingleUse,
    MemoryWaitingRoom, Onward, OsEntropy,
};
use boxoffice_core::ports::{
    Booking, Cache, Clock, DataPlatform, DeliveryLedger, Entropy, EventBus, Inbox, Lock, Ranking,
    SingleUse, Store, Subscription, WaitingRoom,
};
use boxoffice_core::use_cases::{Adapters, App};
use boxoffice_http::limits::{ClassLimits, LimitSettings, Rate};
use boxoffice_http::{ApiState, Auth, AuthMode, Limits, RouteClass, Streams};
use boxoffice_kafka::{KafkaPublisher, KafkaSubscription, TopicSpec};
use boxoffice_redis::{
    Probe, Redis, RedisCache, RedisLock, RedisRanking, RedisSingleUse, RedisTls, RedisWaitingRoom,
};
use boxoffice_store::{CannotConnect, Concurrency, LockedStore, PgSettings, PgStore, SqliteStore};
use std::sync::Arc;
use std::time::Duration;

/// The waiting room, lock, cache and ranking: shared in Redis, or in this process.
struct Coordination {
    waiting_room: Arc<dyn WaitingRoom>,
    lock: Arc<dyn Lock>,
    single_use: Arc<dyn SingleUse>,
    ranking: Arc<dyn Ranking>,
    cache: Arc<dyn Cache>,
}

async fn coordination(settings: &Settings) -> anyhow::Result<Coordination> {
    let r = &settings.redis;
    if r.url.is_empty() {
        return Ok(Coordination {
            waiting_room: Arc::new(MemoryWaitingRoom::default()),
            lock: Arc::new(MemoryLock::default()),
            single_use: Arc::new(MemorySingleUse::default()),
            ranking: Arc::new(MemoryRanking::default()),
            cache: Arc::new(MemoryCache::default()),
        });
    }
    let redis_settings = redis_settings(settings)?;
    let named = |err: anyhow::Error| SettingError::invalid("redis.url", format!("{err:#}"));
    match Redis::probe(&redis_settings).await.map_err(named)? {
        Probe::Answered => {}
        Probe::Unreachable(why) => tracing::warn!(
            error = why,
            "Redis does not answer at start; calls that need it answer 503 until it does"
        ),
        Probe::Refused(why) => {
            return Err(SettingError::invalid(
                "redis.url",
                format!(
                    "= {:?}: Redis refused the connection: {why}",
                    mask_url_passwords(&r.url)
                ),
            )
            .into());
        }
    }
    let redis = Redis::connect(&redis_settings).map_err(named)?;
    Ok(Coordination {
        waiting_room: Arc::new(RedisWaitingRoom::new(redis.clone())),
        lock: Arc::new(RedisLock::new(redis.clone())),
        single_use: Arc::new(RedisSingleUse::new(redis.clone())),
        ranking: Arc::new(RedisRanking::new(redis.clone())),
        cache: Arc::new(RedisCache::new(redis)),
    })
}

/// The Redis adapters' settings, certificates read from their files.
fn redis_settings(settings: &Settings) -> anyhow::Result<boxoffice_redis::RedisSettings> {
    let r = &settings.redis;
    let tls = if r.url.starts_with("rediss://") {
        let ca = non_empty(&r.ca_file)
            .map(|path| read_file("redis.ca_file", &path))
            .transpose()?;
        let client = match (non_empty(&r.cert_file), non_empty(&r.key_file)) {
            (Some(cert), Some(key)) => Some((
                read_file("redis.cert_file", &cert)?,
                read_file("redis.key_file", &key)?,
            )),
            _ => None,
        };
        (ca.is_some() || client.is_some()).then_some(RedisTls { ca, client })
    } else {
        None
    };
    Ok(boxoffice_redis::RedisSettings {
        url: r.url.clone(),
        cluster: r.cluster,
        sentinel_service: r.sentinel_service.clone(),
        key_prefix: r.key_prefix.clone(),
        command_timeout: Duration::from_millis(r.command_timeout_ms),
        connect_timeout: Duration::from_millis(r.connect_timeout_ms),
        tls,
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

/// The database: the store, and the consumer-side tables kept in it.
#[derive(Debug)]
pub struct Database {
    pub store: Arc<dyn Store>,
    pub ledger: Arc<dyn DeliveryLedger>,
    pub inbox: Arc<dyn Inbox>,
    /// The waiting room kept in this database, on PostgreSQL.
    pub waiting_room: Option<Arc<dyn WaitingRoom>>,
}

fn database<T: Store + DeliveryLedger + Inbox + 'static>(db: T) -> Database {
    let db = Arc::new(db);
    Database {
        store: db.clone(),
        ledger: db.clone(),
        inbox: db,
        waiting_room: None,
    }
}

/// Opens the database named by `database.url` (applying migrations),
/// creating the directory of a SQLite file.
pub async fn open_database(settings: &Settings) -> anyhow::Result<Database> {
    let url = settings.database.url.as_str();
    if let Some(file) = sqlite_file(url) {
        if let Some(dir) = file.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        return Ok(database(
            SqliteStore::connect(url, concurrency(settings)).await?,
        ));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let pg = PgSettings {
            url: url.to_owned(),
            max_connections: settings.database.max_connections,
            acquire_timeout: Duration::from_millis(settings.database.acquire_timeout_ms),
        };
        let store = PgStore::connect(&pg, concurrency(settings))
            .await
            .map_err(|err| match err.downcast_ref::<CannotConnect>() {
                Some(c) if c.refused => SettingError::invalid("database.url", c.to_string()).into(),
                Some(c) => SettingError::unreachable("database.url", c.to_string()).into(),
                None => err,
            })?;
        let waiting_room: Arc<dyn WaitingRoom> = Arc::new(store.waiting_room());
        return Ok(Database {
            waiting_room: Some(waiting_room),
            ..database(store)
        });
    }
    Err(SettingError::invalid(
        "database.url",
        format!(
            "= {:?} is not supported: use sqlite://path/to/file.db or postgres://...",
            mask_url_password(url)
        ),
    )
    .into())
}

/// The Kafka adapters' settings, from the `[kafka]` section.
pub fn kafka_settings(settings: &Settings) -> boxoffice_kafka::KafkaSettings {
    let k = &settings.kafka;
    boxoffice_kafka::KafkaSettings {
        brokers: k.brokers.clone(),
        client_id: k.client_id.clone(),
        group_prefix: k.group_prefix.clone(),
        reservation_confirmed: TopicSpec {
            name: k.reservation_confirmed_topic.clone(),
            partitions: k.reservation_confirmed_partitions,
        },
        balance_charged: TopicSpec {
            name: k.balance_charged_topic.clone(),
            partitions: k.balance_charged_partitions,
        },
        queue_entered: TopicSpec {
            name: k.queue_entered_topic.clone(),
            partitions: k.queue_entered_partitions,
        },
        room_changed: TopicSpec {
            name: k.room_changed_topic.clone(),
            partitions: k.room_changed_partitions,
        },
        dead_letter_partitions: k.dead_letter_partitions,
        replication_factor: k.replication_factor,
        delivery_timeout: Duration::from_millis(k.delivery_timeout_ms),
        batch_num_messages: k.batch_num_messages,
        poll_wait: Duration::from_millis(k.poll_wait_ms),
        fetch_wait_max: Duration::from_millis(k.fetch_wait_max_ms),
        session_timeout: Duration::from_millis(k.session_timeout_ms),
        client_properties: boxoffice_kafka::ClientProperties(kafka_security(k)),
    }
}

/// librdkafka's security properties for `[kafka]`.
fn kafka_security(k: &crate::config::KafkaSettings) -> Vec<(String, String)> {
    let mut properties = vec![(
        "security.protocol".to_owned(),
        k.security_protocol.librdkafka_name().to_owned(),
    )];
    for (name, value) in [
        ("ssl.ca.location", &k.ssl_ca_file),
        ("ssl.certificate.location", &k.ssl_cert_file),
        ("ssl.key.location", &k.ssl_key_file),
        ("sasl.mechanisms", &k.sasl_mechanism),
        ("sasl.username", &k.sasl_username),
        ("sasl.password", &k.sasl_password),
    ] {
        if !value.is_empty() {
            properties.push((name.to_owned(), value.clone()));
        }
    }
    properties
}

/// Where consumer groups read relayed events from.
#[derive(Debug, Clone)]
pub enum Feed {
    /// The database inbox (no Kafka configured), read under `lock`.
    Inbox {
        inbox: Arc<dyn Inbox>,
        lock: Arc<dyn Lock>,
    },
    Kafka(Box<boxoffice_kafka::KafkaSettings>),
}

impl Feed {
    /// The data-platform consumer group's subscription.
    pub fn data_platform(&self) -> anyhow::Result<Box<dyn Subscription>> {
        Ok(match self {
            Feed::Inbox { inbox, lock } => Box::new(InboxSubscription::new(
                inbox.clone(),
                lock.clone(),
                DATA_PLATFORM_CONSUMER,
            )),
            Feed::Kafka(kafka) => Box::new(KafkaSubscription::new(
                kafka,
                DATA_PLATFORM_CONSUMER,
                &kafka.reservation_confirmed.name,
            )?),
        })
    }

    /// The queue-entry consumer group's subscription (Kafka only).
    pub fn queue_entries(&self) -> anyhow::Result<Box<dyn Subscription>> {
        match self {
            Feed::Kafka(kafka) => Ok(Box::new(KafkaSubscription::new(
                kafka,
                QUEUE_ENTRY_CONSUMER,
                &kafka.queue_entered.name,
            )?)),
            Feed::Inbox { .. } => bail!("queue entry through Kafka needs kafka.brokers"),
        }
    }
}

/// The application, where its consumer groups read from, and identity.
#[derive(Debug, Clone)]
pub struct Service {
    pub app: App,
    pub feed: Feed,
    pub auth: Arc<Auth>,
    /// This instance's open token streams, refreshed by a worker.
    pub streams: Arc<Streams>,
}

/// Consumer groups that run when a data platform is configured.
fn consumer_groups(settings: &Settings) -> Vec<&'static str> {
    if settings.dataplatform.url.is_empty() {
        Vec::new()
    } else {
        vec![DATA_PLATFORM_CONSUMER]
    }
}

/// The event bus (in-process handlers, then Kafka or the inbox), where
/// consumer groups read, and where queue entries are published when they
/// go through Kafka.
struct Buses {
    bus: LocalBus,
    feed: Feed,
    queue_entries: Option<Arc<dyn EventBus>>,
}

async fn event_bus(
    settings: &Settings,
    shared: &Coordination,
    inbox: &Arc<dyn Inbox>,
    clock: &Arc<dyn Clock>,
) -> anyhow::Result<Buses> {
    let local = LocalBus::new(
        shared.ranking.clone(),
        shared.waiting_room.clone(),
        clock.clone(),
        settings.policies().queue,
    );
    let groups = consumer_groups(settings);
    if settings.kafka.brokers.is_empty() {
        let onward = if groups.is_empty() {
            Onward::Nowhere
        } else {
            Onward::Inbox {
                inbox: inbox.clone(),
                // The data platform takes reservations' events, as its
                // Kafka group reads the reservation topic.
                consumers: groups
                    .iter()
                    .flat_map(|g| {
                        [RESERVATION_CONFIRMED, RESERVATION_CANCELLED]
                            .map(|kind| ((*g).to_owned(), kind.to_owned()))
                    })
                    .collect(),
            }
        };
        return Ok(Buses {
            bus: local.onward(onward),
            feed: Feed::Inbox {
                inbox: inbox.clone(),
                lock: shared.lock.clone(),
            },
            queue_entries: None,
        });
    }
    let kafka = kafka_settings(settings);
    if let Err(err) = boxoffice_kafka::ensure_topics(&kafka, &groups).await {
        // The broker may be down at start; the relay retries, and the
        // publisher creates missing topics when a send reports them.
        tracing::warn!(
            error = format!("{err:#}"),
            "Kafka topics not checked at start-up"
        );
    }
    let publisher: Arc<dyn EventBus> =
        Arc::new(KafkaPublisher::new(kafka.clone(), groups).map_err(|err| {
            SettingError::invalid(
                "kafka.security_protocol",
                format!("and the other [kafka] settings do not make a client: {err:#}"),
            )
        })?);
    let queue_entries = match settings.queue.entry {
        QueueEntry::Kafka => Some(publisher.clone()),
        QueueEntry::Direct => None,
    };
    Ok(Buses {
        bus: local.onward(Onward::Bus(publisher)),
        feed: Feed::Kafka(Box::new(kafka)),
        queue_entries,
    })
}

/// The application as configured.
pub async fn build_app(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
    Ok(build(settings, clock).await?.app)
}

/// The application and its consumer feed, as configured.
pub async fn build(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Service> {
    let mut shared = coordination(settings).await?;
    let db = open_database(settings).await?;
    match settings.queue.room {
        // What `coordination` chose: Redis when it is configured.
        QueueRoom::Auto | QueueRoom::Redis => {}
        QueueRoom::Memory => shared.waiting_room = Arc::new(MemoryWaitingRoom::default()),
        QueueRoom::Postgres => {
            shared.waiting_room = db
                .waiting_room
                .clone()
                .context("queue.room = \"postgres\" needs a PostgreSQL database.url")?;
        }
    }
    let store = db.store;
    let mut booking: Arc<dyn Booking> = store.clone();
    if settings.database.concurrency == ConcurrencyStrategy::RedisLock {
        ensure!(
            !settings.redis.url.is_empty(),
            "the redis_lock strategy needs redis.url"
        );
        let wait = Duration::from_millis(settings.database.lock_wait_ms);
        booking = Arc::new(LockedStore::new(booking, shared.lock.clone(), wait));
    }
    let buses = event_bus(settings, &shared, &db.inbox, &clock).await?;
    let data_platform: Option<Arc<dyn DataPlatform>> = if settings.dataplatform.url.is_empty() {
        None
    } else {
        let ca = non_empty(&settings.dataplatform.ca_file)
            .map(|path| read_file("dataplatform.ca_file", &path))
            .transpose()?;
        Some(Arc::new(
            HttpDataPlatform::new(
                &settings.dataplatform.url,
                Duration::from_millis(settings.dataplatform.timeout_ms),
                ca.as_deref(),
            )
            .map_err(|err| {
                let key = if settings.dataplatform.ca_file.is_empty() {
                    "dataplatform.url"
                } else {
                    "dataplatform.ca_file"
                };
                SettingError::invalid(key, format!("{err:#}"))
            })?,
        ))
    };
    let app = App::new(
        Adapters {
            store,
            booking,
            waiting_room: shared.waiting_room,
            ranking: shared.ranking,
            bus: Arc::new(buses.bus),
            ledger: db.ledger,
            queue_entries: buses.queue_entries,
            data_platform,
            lock: shared.lock,
            single_use: shared.single_use,
            cache: shared.cache,
            clock,
            entropy: Arc::new(OsEntropy),
        },
        settings.policies(),
    );
    let auth = Arc::new(auth(settings, &app).await?);
    if let Err(err) = app.restore_ranking().await {
        // Redis may be down at start; the ranking fills as events are relayed.
        tracing::warn!(
            error = format!("{err:#}"),
            "popular-concert ranking not restored"
        );
    }
    Ok(Service {
        streams: Streams::new(
            app.clone(),
            Duration::from_millis(settings.queue.stream_refresh_ms),
        ),
        app,
        feed: buses.feed,
        auth,
    })
}

/// Where the embedded mode keeps its generated HS256 secret: beside the
/// SQLite file, so it survives restarts with the data it signs for.
pub fn generated_secret_path(settings: &Settings) -> Option<std::path::PathBuf> {
    sqlite_file(&settings.database.url).map(|file| file.with_file_name("auth-hs256.secret"))
}

/// The file of a `sqlite://path?options` URL; `None` for other databases.
fn sqlite_file(url: &str) -> Option<&std::path::Path> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    Some(std::path::Path::new(path.split('?').next().unwrap_or(path)))
}

/// The embedded mode's HS256 secret: read from its file, or made and
/// written (readable by this user only) the first time.
fn generated_secret(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let secret = text.trim().as_bytes().to_vec();
        ensure!(
            secret.len() >= 32,
            "{} holds a secret shorter than 32 bytes",
            path.display()
        );
        return Ok(secret);
    }
    let mut bytes = [0u8; 32];
    OsEntropy.fill(&mut bytes);
    let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    write_private(path, &text)?;
    tracing::info!(file = %path.display(), "generated a secret");
    Ok(text.into_bytes())
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    Ok(std::fs::write(path, text)?)
}

fn read_file(key: &str, path: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| SettingError::invalid(key, format!("cannot read {path}: {e}")).into())
}

/// The keys that verify access tokens, from `[auth]`.
fn key_sources(settings: &Settings) -> anyhow::Result<KeySources> {
    let a = &settings.auth;
    let mut hs256_secret = non_empty(&a.hs256_secret).map(String::into_bytes);
    // The embedded mode makes one when nothing else verifies tokens, or the
    // dev sign-in needs one to sign with.
    let needs_secret = hs256_secret.is_none()
        && (a.mode == AuthModeSetting::Jwt && !settings.has_access_keys()
            || settings.dev_sign_in());
    if needs_secret && let Some(path) = generated_secret_path(settings) {
        hs256_secret = Some(generated_secret(&path)?);
    }
    Ok(KeySources {
        hs256_secret,
        public_key_pem: (!a.public_key_file.is_empty())
            .then(|| read_file("auth.public_key_file", &a.public_key_file))
            .transpose()?,
        jwks_json: (!a.jwks_file.is_empty())
            .then(|| {
                read_file("auth.jwks_file", &a.jwks_file).and_then(|b| Ok(String::from_utf8(b)?))
            })
            .transpose()?,
        jwks_url: non_empty(&a.jwks_url),
    })
}

fn non_empty(s: &str) -> Option<String> {
    Some(s.to_owned()).filter(|s| !s.is_empty())
}

/// Identity, as `[auth]` and `[admin]` say, with the queue credentials'
/// secret from the store.
async fn auth(settings: &Settings, app: &App) -> anyhow::Result<Auth> {
    let a = &settings.auth;
    let sources = key_sources(settings)?;
    let verifier = if sources.is_empty() {
        None
    } else {
        let keys = Arc::new(KeyRing::new(&sources)?);
        if keys.fetches_jwks() {
            match keys.refresh().await {
                Ok(n) => {
                    tracing::info!(keys = n, url = %a.jwks_url, "fetched the identity provider's JWKS")
                }
                // Tokens answer 503 until a refresh succeeds; the service still starts.
                Err(err) => tracing::warn!(
                    error = format!("{err:#}"),
                    "JWKS not fetched at start; retrying in the background"
                ),
            }
        }
        Some(AccessVerifier::new(
            keys,
            AccessSettings {
                issuer: non_empty(&a.issuer),
                audience: non_empty(&a.audience),
                leeway_secs: a.leeway_secs,
                admin_claim: non_empty(&a.admin_claim),
                admin_role: a.admin_role.clone(),
            },
        ))
    };
    let dev = match (settings.dev_sign_in(), &sources.hs256_secret) {
        (true, Some(secret)) => {
            tracing::warn!(
                "the development sign-in is ON: anyone can sign in as any fan at POST /api/v1/dev/sessions; \
                 set auth.dev_sign_in = \"off\" for a real sale"
            );
            Some(DevSigner::new(
                secret,
                non_empty(&a.issuer),
                non_empty(&a.audience),
                a.dev_session_ttl_secs,
            ))
        }
        _ => None,
    };
    let mut candidate = [0u8; 32];
    OsEntropy.fill(&mut candidate);
    let secret = app
        .adapters()
        .store
        .signing_secret(boxoffice_auth::seal::SECRET_PURPOSE, &candidate)
        .await?;
    Ok(Auth {
        mode: match a.mode {
            AuthModeSetting::Jwt => AuthMode::Jwt,
            AuthModeSetting::TrustedHeader => AuthMode::TrustedHeader,
        },
        admin_by_token: verifier.is_some() && !a.admin_claim.is_empty(),
        verifier,
        seal: QueueSeal::new(&secret),
        dev,
        admin_key: admin_key(settings)?,
    })
}

/// The admin key: the configured one, or in the embedded mode the one kept
/// beside the SQLite file (made the first time).
fn admin_key(settings: &Settings) -> anyhow::Result<Option<Arc<str>>> {
    if let Some(key) = settings.admin_key() {
        return Ok(Some(Arc::from(key)));
    }
    let Some(path) = generated_admin_key_path(settings) else {
        return Ok(None);
    };
    let key = String::from_utf8(generated_secret(&path)?)?;
    tracing::info!(
        file = %path.display(),
        "the admin API and the console at /admin take the admin key kept in this file"
    );
    Ok(Some(Arc::from(key)))
}

/// Where the embedded mode keeps its generated admin key, when it makes one.
fn generated_admin_key_path(settings: &Settings) -> Option<std::path::PathBuf> {
    if !settings.generates_admin_key() {
        return None;
    }
    sqlite_file(&settings.database.url).map(|file| file.with_file_name("admin.key"))
}

/// The rate limits, from `[rate_limit]`.
pub fn limit_settings(settings: &Settings) -> LimitSettings {
    let r = &settings.rate_limit;
    let rate =
        |per_second: f64, burst: u32| (per_second > 0.0).then_some(Rate { per_second, burst });
    let class = |c: &crate::config::ClassRateSettings| ClassLimits {
        per_user: rate(c.per_user_per_sec, c.per_user_burst),
        per_ip: rate(c.per_ip_per_sec, c.per_ip_burst),
    };
    let mut classes = [ClassLimits::default(); 6];
    for (i, c) in RouteClass::ALL.iter().enumerate() {
        classes[i] = class(match c {
            RouteClass::TokenIssue => &r.token_issue,
            RouteClass::Poll => &r.poll,
            RouteClass::Booking => &r.booking,
            RouteClass::Money => &r.money,
            RouteClass::Admin => &r.admin,
            RouteClass::SignIn => &r.sign_in,
        });
    }
    LimitSettings {
        enabled: r.enabled,
        classes,
        failures: rate(f64::from(r.failures_per_minute) / 60.0, r.failures_burst),
        trusted_proxies: r
            .trusted_proxies
            .iter()
            .filter_map(|s| parse_net(s))
            .collect(),
        exempt: r.exempt.iter().filter_map(|s| parse_net(s)).collect(),
        in_flight: RouteClass::ALL.map(|c| match c {
            RouteClass::TokenIssue => settings.server.max_in_flight_token_issues,
            RouteClass::Poll => settings.server.max_in_flight_polls,
            // Booking and money are never shed: they are what a rush is for.
            _ => 0,
        }),
    }
}

/// The HTTP state for `service`.
pub fn api_state(settings: &Settings, service: &Service) -> ApiState {
    let cors_origins: Vec<_> = settings
        .server
        .cors_allowed_origins
        .iter()
        .filter_map(|o| o.trim_end_matches('/').parse().ok())
        .collect();
    ApiState {
        app: service.app.clone(),
        auth: service.auth.clone(),
        limits: Arc::new(Limits::new(&limit_settings(settings))),
        cors_origins: cors_origins.into(),
        streams: service.streams.clone(),
        seat_bodies: Arc::default(),
    }
}
