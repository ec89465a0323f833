//! Configuration: built-in defaults, then an optional TOML file, then
//! environment variables `BOXOFFICE__SECTION__KEY` (e.g.
//! `BOXOFFICE__QUEUE__ADMIT_INTERVAL_SECS=1`), then command-line flags.
//! `boxoffice.example.toml` at the repository root documents every key.

use anyhow::Context;
use boxoffice_core::domain::Won;
use boxoffice_core::domain::balance::BalancePolicy;
use boxoffice_core::domain::cancellation::{CancellationPolicy, FeeTier};
use boxoffice_core::domain::delivery::RetryPolicy;
use boxoffice_core::domain::queue_token::QueuePolicy;
use boxoffice_core::domain::sample::SamplePolicy;
use boxoffice_core::domain::seat_hold::{Basket, HoldPolicy};
use boxoffice_core::domain::waitlist::WaitlistPolicy;
use boxoffice_core::use_cases::{IdempotencyPolicy, Policies};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// A setting the service cannot run with, or a dependency a setting names
/// that could not be reached at start. `main` prints it with where the
/// setting came from and exits with [`SettingError::exit_code`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    /// Its dotted path, as in the file: `redis.url`.
    pub key: String,
    pub problem: String,
    pub kind: SettingErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingErrorKind {
    /// Wrong as written: starting again will not help.
    Invalid,
    /// What it names did not answer; a later start may succeed.
    Unreachable,
}

impl SettingError {
    pub fn invalid(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            problem: problem.into(),
            kind: SettingErrorKind::Invalid,
        }
    }

    pub fn unreachable(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            problem: problem.into(),
            kind: SettingErrorKind::Unreachable,
        }
    }

    /// `EX_CONFIG` (78) for a wrong setting, so that a supervisor can stop
    /// restarting (systemd's `RestartPreventExitStatus=78`);
    /// `EX_UNAVAILABLE` (69) for a dependency that did not answer.
    pub fn exit_code(&self) -> i32 {
        match self.kind {
            SettingErrorKind::Invalid => 78,
            SettingErrorKind::Unreachable => 69,
        }
    }
}

impl std::fmt::Display for SettingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.key, self.problem)
    }
}

impl std::error::Error for SettingError {}

/// `check!(condition, "section.key", "problem {with} {args}")`: a
/// [`SettingError::invalid`] naming the key when the condition is false.
macro_rules! check {
    ($cond:expr, $key:literal, $($problem:tt)+) => {
        if !$cond {
            return Err(SettingError::invalid(format!($key), format!($($problem)+)).into());
        }
    };
}

/// Where a key's value came from, for an error message: a flag, an
/// environment variable, the file, or the built-in default.
pub fn origin_of(key: &str, file: Option<&Path>, flags: &[&str]) -> String {
    if flags.contains(&key) {
        return "the command line".to_owned();
    }
    let var = format!("BOXOFFICE__{}", key.replace('.', "__").to_uppercase());
    if std::env::var_os(&var).is_some() {
        return format!("the environment variable {var}");
    }
    if let Some(path) = file {
        let written = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| text.parse::<toml::Table>().ok())
            .is_some_and(|table| {
                let mut value: Option<&toml::Value> = None;
                let mut current = &table;
                for (i, part) in key.split('.').enumerate() {
                    match current.get(part) {
                        Some(toml::Value::Table(t)) => current = t,
                        Some(v) if i + 1 == key.split('.').count() => value = Some(v),
                        _ => return false,
                    }
                }
                value.is_some() || key.split('.').count() == 1
            });
        if written {
            return format!("{}", path.display());
        }
    }
    "the built-in default".to_owned()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub queue: QueueSettings,
    pub holds: HoldSettings,
    pub sales: SalesSettings,
    pub cancellation: CancellationSettings,
    pub waitlist: WaitlistSettings,
    pub balance: BalanceSettings,
    pub idempotency: IdempotencySettings,
    pub outbox: OutboxSettings,
    pub kafka: KafkaSettings,
    pub dataplatform: DataPlatformSettings,
    pub admin: AdminSettings,
    pub auth: AuthSettings,
    pub rate_limit: RateLimitSettings,
    pub demo: DemoSettings,
    pub console: ConsoleSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on.
    pub listen: String,
    /// Seconds in-flight requests and background steps get to finish after
    /// SIGINT/SIGTERM before the process exits anyway.
    pub shutdown_grace_secs: u64,
    /// How long a connection may take to send a request's headers, counted
    /// from when it began waiting for them: a slow client is cut off, and
    /// an idle keep-alive connection closed.
    pub header_read_timeout_ms: u64,
    /// How long a request's body may take to arrive after its headers
    /// (408 `REQUEST_TIMEOUT`).
    pub body_read_timeout_ms: u64,
    /// Connections open at once per listener; 0: three quarters of the
    /// open-file limit less 64. Past it the oldest connection that has not
    /// sent a whole request yet is closed to make room, or, if every one
    /// has, the newcomer is answered 503 at once.
    pub max_connections: u32,
    /// Token issues (`POST /queue/tokens`, `/queue/challenges`) served at
    /// once per instance; 0: no budget. Past it a token request is shed:
    /// 503 with `Retry-After: 1` at once, before it queues on the waiting
    /// room, so holds and payments (which have no budget) keep their share.
    pub max_in_flight_token_issues: u32,
    /// Polls (`GET`, `DELETE /queue/tokens/current`, and opening a token
    /// stream) served at once per instance; 0: no budget.
    pub max_in_flight_polls: u32,
    /// Where the admin API and `/metrics` are served; empty: on `listen`
    /// with everything else. Set, they are served there only.
    pub admin_listen: String,
    /// Origins (`https://shop.example`) whose pages may call the API; empty: none.
    #[serde(default)]
    pub cors_allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path/to/file.db` (created if missing) or
    /// `postgres://user@host:port/database`.
    pub url: String,
    /// PostgreSQL pool size per instance.
    pub max_connections: u32,
    /// How long a request waits for a database connection before answering 503.
    pub acquire_timeout_ms: u64,
    /// How holds and balance changes defend against concurrent writers.
    pub concurrency: ConcurrencyStrategy,
    /// Retries of the optimistic strategy before giving up.
    pub optimistic_max_attempts: u32,
    /// How long the redis_lock strategy waits for a lock before answering 503.
    pub lock_wait_ms: u64,
}

/// How a new token reaches its concert's line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueEntry {
    /// The waiting room places it at once.
    Direct,
    /// It is reserved at once and placed when its `queue.entered` record is
    /// consumed, so the line's order is the topic's order.
    Kafka,
}

/// Where the waiting room keeps its lines and tokens (decision 0003).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueRoom {
    /// Redis when `redis.url` is set, else process memory.
    Auto,
    /// Process memory: one instance only.
    Memory,
    /// Redis (needs `redis.url`).
    Redis,
    /// The PostgreSQL database of `database.url`: several instances
    /// without Redis, at the cost of a poll counting the line in SQL.
    Postgres,
}

/// See docs/concurrency.md for what each costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConcurrencyStrategy {
    /// One conditional `UPDATE ... WHERE <still allowed>` (the default).
    Conditional,
    /// `SELECT ... FOR UPDATE`, then `UPDATE`.
    Pessimistic,
    /// Version column and bounded retry.
    Optimistic,
    /// A Redis lock around a conditional-update transaction (needs redis.url).
    RedisLock,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://host:port/db`, or `rediss://` for TLS. Empty: the waiting
    /// room, locks and ranking stay in process (one instance only). With
    /// `cluster`: one or more seed nodes, comma-separated.
    pub url: String,
    /// Redis Cluster: `url` lists seed nodes, and each concert's keys
    /// share one hash slot.
    pub cluster: bool,
    /// Non-empty: `url` lists Redis Sentinels (comma-separated), and this
    /// names the primary they watch; a failover is followed.
    pub sentinel_service: String,
    /// With `rediss://`: PEM certificates to trust instead of the system's.
    pub ca_file: String,
    /// With `rediss://`: a PEM client certificate and its key, for servers
    /// that ask for one (`tls-auth-clients yes`).
    pub cert_file: String,
    pub key_file: String,
    /// Prepended to every key.
    pub key_prefix: String,
    /// How long one Redis command may take before the call answers 503.
    pub command_timeout_ms: u64,
    /// How long a (re)connection attempt may take.
    pub connect_timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSettings {
    /// How a token joins the line: `direct` (at once) or `kafka` (through
    /// the `queue.entered` topic, in topic order; needs kafka.brokers).
    pub entry: QueueEntry,
    /// Where the waiting room is kept: `auto` (Redis when redis.url is
    /// set, else this process), `memory`, `redis` or `postgres`.
    pub room: QueueRoom,
    pub admit_batch: u32,
    pub admit_interval_secs: u64,
    pub max_active: u32,
    pub active_ttl_secs: u64,
    pub abandon_after_secs: u64,
    pub expired_retention_secs: u64,
    /// How long before a scheduled sale opens its pre-queue takes fans.
    pub pre_queue_window_secs: u64,
    /// ACTIVE fans allowed per seat still sellable (0: no such cap).
    pub max_active_per_seat: u32,
    /// How long an admitted fan is expected to stay ACTIVE, for the wait
    /// estimates until a sale has shown its own.
    pub expected_checkout_secs: u64,
    /// After the waiting room lost its line (Redis lost its data, the
    /// embedded process restarted), how long admission waits from the
    /// first fan back, so that every fan still polling is back in place
    /// first. At least the longest `pollAfterSecs` (30 s) covers them all.
    pub heal_window_secs: u64,
    /// How often each instance refreshes its open token streams (one
    /// waiting-room call per concert with streams).
    pub stream_refresh_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldSettings {
    pub ttl_secs: u64,
    pub max_per_user: u32,
    /// Live holds a fan with a zero balance may have (capped by max_per_user).
    pub max_unfunded: u32,
    /// Holds a fan may release or leave unpaid within lapse_window_secs
    /// before they may hold no more until the oldest leaves the window.
    pub max_lapsed: u32,
    pub lapse_window_secs: u64,
    /// How much longer a fan may keep a live hold, once (0: never).
    pub extend_secs: u64,
    /// The longest a hold lasts from when it was taken, extended or not.
    pub max_total_secs: u64,
    /// Seats one hold may take together, all or none (1 to 10).
    pub max_seats_per_order: u32,
    /// How often ended holds are marked released.
    pub sweep_interval_secs: u64,
    /// How long an instance shows a date's seats as it read them, in
    /// milliseconds (0: read the store on every look). Its own holds,
    /// releases, payments and cancellations show at once; other
    /// instances' within this.
    pub seat_map_max_age_ms: u64,
}

/// How fans are identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthModeSetting {
    /// `Authorization: Bearer <JWT>` on every fan call.
    Jwt,
    /// `Client-Id`, set by an authenticating gateway in front.
    TrustedHeader,
}

/// Whether the development sign-in (`POST /api/v1/dev/sessions`) is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DevSignIn {
    /// On with a SQLite database (the embedded mode), off with PostgreSQL.
    Auto,
    On,
    Off,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub mode: AuthModeSetting,
    /// HS256 shared secret (at least 32 bytes). Empty in the embedded mode:
    /// one is generated next to the database file and kept.
    pub hs256_secret: String,
    /// A PEM public key: RSA (RS256), EC P-256 (ES256) or Ed25519 (EdDSA).
    pub public_key_file: String,
    /// A JWKS document on disk.
    pub jwks_file: String,
    /// Where the identity provider publishes its JWKS (http or https).
    pub jwks_url: String,
    /// How often the JWKS is fetched again (an unknown kid fetches it at once).
    pub jwks_refresh_secs: u64,
    /// Required `iss`; empty: not checked.
    pub issuer: String,
    /// Required `aud`; empty: not checked.
    pub audience: String,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway_secs: u64,
    /// Dotted path of the claim holding roles (`realm_access.roles`,
    /// `roles`, `scope`); empty: admins use the key only.
    pub admin_claim: String,
    pub admin_role: String,
    pub dev_sign_in: DevSignIn,
    /// How long a dev sign-in's access token lasts.
    pub dev_session_ttl_secs: u64,
    /// How often each instance reads the revocation feed of admission passes.
    pub pass_revocation_poll_ms: u64,
}

/// One route class's limits; a rate of 0 turns that limit off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassRateSettings {
    pub per_user_per_sec: f64,
    pub per_user_burst: u32,
    pub per_ip_per_sec: f64,
    pub per_ip_burst: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    pub enabled: bool,
    /// Proxies (IPs or CIDRs) whose `X-Forwarded-For` is believed.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Networks the per-IP limits skip (the failure budget still applies).
    #[serde(default)]
    pub exempt: Vec<String>,
    /// Failed admin keys, admin tokens and refused sign-ins allowed per IP
    /// per minute, and at once; past them the address gets 429 on admin and
    /// sign-in routes until the budget refills.
    pub failures_per_minute: u32,
    pub failures_burst: u32,
    pub token_issue: ClassRateSettings,
    pub poll: ClassRateSettings,
    pub booking: ClassRateSettings,
    pub money: ClassRateSettings,
    pub admin: ClassRateSettings,
    pub sign_in: ClassRateSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesSettings {
    /// Seats of one concert a fan may have, held and bought together.
    pub max_tickets_per_user_per_concert: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancellationSettings {
    /// Reservations may be cancelled until this long before their date starts.
    pub deadline_secs: u64,
    /// The fee by the time left to the show: each tier takes `percent` of
    /// the price when cancelling less than `within_secs` before it; the
    /// highest matching tier applies, none is free. At most four.
    pub fees: Vec<FeeTier>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitlistSettings {
    /// How long a fan first on a sold-out date's waiting list holds a seat
    /// that came back, to pay for it, before it passes to the next fan.
    pub offer_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalanceSettings {
    /// The most a balance may hold, in whole won.
    pub max: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdempotencySettings {
    pub lease_secs: u64,
    pub retention_secs: u64,
}

/// The operator's console: how often each sale is sampled for its charts,
/// and how long the samples are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSettings {
    pub sample_interval_secs: u64,
    pub sample_retention_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSettings {
    pub relay_interval_ms: u64,
    pub relay_batch: u32,
}

/// The event bus. Empty `brokers`: relayed events stay in this process
/// (handlers run in-process, consumer groups read the database inbox).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    /// `host:port[,host:port...]`; empty for the in-process bus.
    pub brokers: String,
    pub client_id: String,
    /// Prepended to consumer group ids (`boxoffice.dataplatform`,
    /// `boxoffice.queue-entry`), so that several deployments can share a
    /// cluster.
    pub group_prefix: String,
    pub reservation_confirmed_topic: String,
    pub reservation_confirmed_partitions: i32,
    pub balance_charged_topic: String,
    pub balance_charged_partitions: i32,
    pub queue_entered_topic: String,
    pub queue_entered_partitions: i32,
    pub room_changed_topic: String,
    pub room_changed_partitions: i32,
    /// Partitions of each consumer group's `<group>.dlq` topic.
    pub dead_letter_partitions: i32,
    pub replication_factor: i32,
    /// How long the producer tries to deliver a record before the relay
    /// gives up on this attempt (the event stays in the outbox).
    pub delivery_timeout_ms: u64,
    /// librdkafka `batch.num.messages`. Real Kafka: leave the default; the
    /// tansu broker used in tests needs 1 (docs/events.md).
    pub batch_num_messages: u32,
    /// How long a consumer waits for a record before checking for shutdown.
    pub poll_wait_ms: u64,
    /// librdkafka `fetch.wait.max.ms`: the longest a fetch waits on the
    /// broker for new records. Low keeps queue entry quick on brokers that
    /// do not answer a fetch as soon as records arrive.
    pub fetch_wait_max_ms: u64,
    pub session_timeout_ms: u64,
    /// `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl` (librdkafka's
    /// `security.protocol`).
    pub security_protocol: KafkaSecurity,
    /// With `ssl` or `sasl_ssl`: PEM certificates to trust instead of the system's.
    pub ssl_ca_file: String,
    /// With `ssl` or `sasl_ssl`: a client certificate and key (mutual TLS).
    pub ssl_cert_file: String,
    pub ssl_key_file: String,
    /// With `sasl_*`: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub sasl_mechanism: String,
    pub sasl_username: String,
    pub sasl_password: String,
}

/// How the Kafka client talks to the brokers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KafkaSecurity {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl KafkaSecurity {
    pub fn tls(self) -> bool {
        matches!(self, KafkaSecurity::Ssl | KafkaSecurity::SaslSsl)
    }

    pub fn sasl(self) -> bool {
        matches!(self, KafkaSecurity::SaslPlaintext | KafkaSecurity::SaslSsl)
    }

    /// librdkafka's name for it.
    pub fn librdkafka_name(self) -> &'static str {
        match self {
            KafkaSecurity::Plaintext => "plaintext",
            KafkaSecurity::Ssl => "ssl",
            KafkaSecurity::SaslPlaintext => "sasl_plaintext",
            KafkaSecurity::SaslSsl => "sasl_ssl",
        }
    }
}

/// The external data platform that receives confirmed reservations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataPlatformSettings {
    /// Where events are POSTed (`http://` or `https://`); empty: none is sent.
    pub url: String,
    /// With `https://`: PEM certificates to trust besides the built-in roots.
    pub ca_file: String,
    /// How long one delivery may take.
    pub timeout_ms: u64,
    /// Attempts before an event goes to the dead-letter list.
    pub max_attempts: u32,
    /// The wait after the first failure; doubles after each further one, with jitter.
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// Failed attempts in a row, of any events, that open the circuit
    /// breaker: the consumer then spends no attempts and probes instead.
    pub breaker_failures: u32,
    /// While the breaker is open, how often the platform is probed (`HEAD`).
    pub probe_interval_ms: u64,
    /// How long the embedded consumer waits before looking at an empty inbox again.
    pub idle_poll_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// The `X-Admin-Key` for admin endpoints; empty disables them, unless
    /// a key is generated (`generate_key`) or admins sign in with tokens.
    pub api_key: String,
    /// In the embedded mode, with no `api_key` and no admin tokens: make a
    /// key once, keep it beside the SQLite file (`admin.key`), and take it.
    pub generate_key: bool,
}

/// How log lines are written to standard output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// Non-empty: request spans are exported over OTLP/HTTP to this URL
    /// (`http://collector:4318/v1/traces`); needs a build with the `otlp`
    /// feature.
    pub otlp_endpoint: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// JSON when standard output is not a terminal (a file, a pipe, a
    /// collector), text when it is.
    Auto,
    /// One JSON object per line.
    Json,
    /// Human-readable lines; coloured only on a terminal.
    Text,
}

impl LogFormat {
    /// Whether lines are JSON, given whether standard output is a terminal.
    pub fn is_json(self, stdout_is_terminal: bool) -> bool {
        match self {
            LogFormat::Auto => !stdout_is_terminal,
            LogFormat::Json => true,
            LogFormat::Text => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoSettings {
    /// Create demo concerts when the database has none.
    pub seed: bool,
}

impl Default for Settings {
    fn default() -> Self {
        let queue = QueuePolicy::default();
        let holds = HoldPolicy::default();
        let idem = IdempotencyPolicy::default();
        let samples = SamplePolicy::default();
        let delivery = RetryPolicy::default();
        Self {
            server: ServerSettings {
                listen: "127.0.0.1:8080".into(),
                shutdown_grace_secs: 10,
                header_read_timeout_ms: 10_000,
                body_read_timeout_ms: 10_000,
                max_connections: 0,
                max_in_flight_token_issues: 16,
                max_in_flight_polls: 64,
                admin_listen: String::new(),
                cors_allowed_origins: Vec::new(),
            },
            database: DatabaseSettings {
                url: "sqlite://data/boxoffice.db".into(),
                max_connections: 32,
                acquire_timeout_ms: 2_000,
                concurrency: ConcurrencyStrategy::Conditional,
                optimistic_max_attempts: 20,
                lock_wait_ms: 2_000,
            },
            redis: RedisSettings {
                url: String::new(),
                cluster: false,
                sentinel_service: String::new(),
                ca_file: String::new(),
                cert_file: String::new(),
                key_file: String::new(),
                key_prefix: "boxoffice:".into(),
                command_timeout_ms: 500,
                connect_timeout_ms: 500,
            },
            queue: QueueSettings {
                entry: QueueEntry::Direct,
                room: QueueRoom::Auto,
                admit_batch: queue.admit_batch,
                admit_interval_secs: queue.admit_interval_secs,
                max_active: queue.max_active,
                active_ttl_secs: queue.active_ttl_secs,
                abandon_after_secs: queue.abandon_after_secs,
                expired_retention_secs: queue.expired_retention_secs,
                pre_queue_window_secs: queue.pre_queue_window_secs,
                max_active_per_seat: queue.max_active_per_seat,
                expected_checkout_secs: queue.expected_checkout_secs,
                heal_window_secs: queue.heal_window_secs,
                stream_refresh_ms: 500,
            },
            holds: HoldSettings {
                ttl_secs: holds.ttl_secs,
                max_per_user: holds.max_per_user,
                max_unfunded: holds.max_unfunded,
                max_lapsed: holds.max_lapsed,
                lapse_window_secs: holds.lapse_window_secs,
                extend_secs: holds.extend_secs,
                max_total_secs: holds.max_total_secs,
                max_seats_per_order: holds.max_seats_per_order,
                sweep_interval_secs: 5,
                seat_map_max_age_ms: holds.seat_map_max_age_ms,
            },
            sales: SalesSettings {
                max_tickets_per_user_per_concert: holds.max_tickets_per_concert,
            },
            cancellation: {
                let policy = CancellationPolicy::default();
                CancellationSettings {
                    deadline_secs: policy.deadline_secs,
                    fees: policy.tiers().collect(),
                }
            },
            waitlist: WaitlistSettings {
                offer_secs: WaitlistPolicy::default().offer_secs,
            },
            balance: BalanceSettings {
                max: BalancePolicy::default().max.amount(),
            },
            idempotency: IdempotencySettings {
                lease_secs: idem.lease_secs,
                retention_secs: idem.retention_secs,
            },
            console: ConsoleSettings {
                sample_interval_secs: samples.interval_secs,
                sample_retention_secs: samples.retention_secs,
            },
            outbox: OutboxSettings {
                relay_interval_ms: 200,
                relay_batch: 500,
            },
            kafka: KafkaSettings {
                brokers: String::new(),
                client_id: "boxoffice".into(),
                group_prefix: String::new(),
                reservation_confirmed_topic: "reservation.confirmed".into(),
                reservation_confirmed_partitions: 6,
                balance_charged_topic: "balance.charged".into(),
                balance_charged_partitions: 6,
                queue_entered_topic: "queue.entered".into(),
                queue_entered_partitions: 3,
                room_changed_topic: "room.changed".into(),
                room_changed_partitions: 3,
                dead_letter_partitions: 1,
                replication_factor: 1,
                delivery_timeout_ms: 10_000,
                batch_num_messages: 10_000,
                poll_wait_ms: 500,
                fetch_wait_max_ms: 20,
                session_timeout_ms: 10_000,
                security_protocol: KafkaSecurity::Plaintext,
                ssl_ca_file: String::new(),
                ssl_cert_file: String::new(),
                ssl_key_file: String::new(),
                sasl_mechanism: String::new(),
                sasl_username: String::new(),
                sasl_password: String::new(),
            },
            dataplatform: DataPlatformSettings {
                url: String::new(),
                ca_file: String::new(),
                timeout_ms: 2_000,
                max_attempts: delivery.max_attempts,
                initial_backoff_ms: delivery.initial_backoff_ms,
                max_backoff_ms: delivery.max_backoff_ms,
                breaker_failures: delivery.breaker_failures,
                probe_interval_ms: delivery.probe_every_ms,
                idle_poll_ms: 200,
            },
            admin: AdminSettings {
                api_key: String::new(),
                generate_key: true,
            },
            auth: AuthSettings {
                mode: AuthModeSetting::Jwt,
                hs256_secret: String::new(),
                public_key_file: String::new(),
                jwks_file: String::new(),
                jwks_url: String::new(),
                jwks_refresh_secs: 300,
                issuer: String::new(),
                audience: String::new(),
                leeway_secs: 30,
                admin_claim: String::new(),
                admin_role: "boxoffice-admin".into(),
                dev_sign_in: DevSignIn::Auto,
                dev_session_ttl_secs: 12 * 3600,
                pass_revocation_poll_ms: 200,
            },
            rate_limit: RateLimitSettings {
                enabled: true,
                trusted_proxies: Vec::new(),
                exempt: vec!["127.0.0.0/8".into(), "::1/128".into()],
                failures_per_minute: 10,
                failures_burst: 10,
                token_issue: class_rates(2.0, 10, 50.0, 200),
                poll: class_rates(10.0, 20, 500.0, 1_000),
                booking: class_rates(20.0, 40, 500.0, 1_000),
                money: class_rates(10.0, 20, 200.0, 400),
                admin: class_rates(0.0, 0, 50.0, 100),
                sign_in: class_rates(0.0, 0, 5.0, 20),
            },
            demo: DemoSettings { seed: true },
            log: LogSettings {
                format: LogFormat::Auto,
                otlp_endpoint: String::new(),
            },
        }
    }
}

fn class_rates(user: f64, user_burst: u32, ip: f64, ip_burst: u32) -> ClassRateSettings {
    ClassRateSettings {
        per_user_per_sec: user,
        per_user_burst: user_burst,
        per_ip_per_sec: ip,
        per_ip_burst: ip_burst,
    }
}

const MASK: &str = "********";

/// A configuration that does not parse or deserialize, as a
/// [`SettingError`] naming the key when the parser knows it.
fn unreadable(err: config::ConfigError) -> SettingError {
    use config::ConfigError;
    let key = match &err {
        ConfigError::Type { key: Some(key), .. } | ConfigError::At { key: Some(key), .. } => {
            key.clone()
        }
        ConfigError::FileParse { uri, .. } => {
            format!("the file {}", uri.as_deref().unwrap_or("given"))
        }
        _ => "the configuration".to_owned(),
    };
    SettingError::invalid(key, format!("cannot be read: {err}"))
}

/// `scheme://user:secret@host/...` with the secret masked; query
/// parameters named like a password are masked too.
/// [`mask_url_password`] for each of a comma-separated list of URLs.
pub fn mask_url_passwords(urls: &str) -> String {
    urls.split(',')
        .map(mask_url_password)
        .collect::<Vec<_>>()
        .join(",")
}

pub fn mask_url_password(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest = scheme_end + 3;
        let authority_end = out[rest..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| rest + i);
        if let Some(at) = out[rest..authority_end].rfind('@').map(|i| rest + i)
            && let Some(colon) = out[rest..at].find(':').map(|i| rest + i)
        {
            out.replace_range(colon + 1..at, MASK);
        }
    }
    if let Some(query_start) = out.find('?') {
        let (head, query) = out.split_at(query_start + 1);
        let masked: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if name.to_ascii_lowercase().contains("password") => {
                    format!("{name}={MASK}")
                }
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{head}{}", masked.join("&"));
    }
    out
}

/// A dependency's CA, certificate and key files: only with TLS on, readable,
/// and the certificate with its key.
fn certificate_files(
    tls: bool,
    without_tls: &str,
    [ca, cert, key]: [(&str, &String); 3],
) -> anyhow::Result<()> {
    for (name, file) in [ca, cert, key] {
        if !file.is_empty() && !tls {
            return Err(SettingError::invalid(name, without_tls).into());
        }
        readable(name, file)?;
    }
    if cert.1.is_empty() != key.1.is_empty() {
        return Err(SettingError::invalid(cert.0, format!("and {} go together", key.0)).into());
    }
    Ok(())
}

/// A certificate or key file named by `key` must be readable at start.
fn readable(key: &str, path: &str) -> anyhow::Result<()> {
    if path.is_empty() {
        return Ok(());
    }
    std::fs::File::open(path)
        .map(|_| ())
        .map_err(|e| SettingError::invalid(key, format!("cannot read {path}: {e}")).into())
}

/// Keys that take a comma-separated list from the environment.
const LIST_KEYS: [&str; 3] = [
    "server.cors_allowed_origins",
    "rate_limit.trusted_proxies",
    "rate_limit.exempt",
];

impl Settings {
    /// Defaults, then `file` if given, then `BOXOFFICE__*` variables.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        Self::load_with_env(file, None)
    }

    /// As [`Settings::load`], with `adjust` (the command line's flags)
    /// applied before the settings are checked.
    pub fn load_adjusted(
        file: Option<&Path>,
        adjust: impl FnOnce(&mut Settings),
    ) -> anyhow::Result<Self> {
        let mut settings = Self::read(file, None)?;
        adjust(&mut settings);
        settings.validate()?;
        Ok(settings)
    }

    /// As [`Settings::load`], reading variables from `env` instead of the
    /// process environment when given.
    pub fn load_with_env(
        file: Option<&Path>,
        env: Option<HashMap<String, String>>,
    ) -> anyhow::Result<Self> {
        let settings = Self::read(file, env)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Defaults, the file and the environment, not yet checked.
    fn read(file: Option<&Path>, env: Option<HashMap<String, String>>) -> anyhow::Result<Self> {
        let mut builder =
            config::Config::builder().add_source(config::Config::try_from(&Settings::default())?);
        if let Some(path) = file {
            builder = builder.add_source(config::File::from(path).required(true));
        }
        let mut environment = config::Environment::with_prefix("BOXOFFICE")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .source(env);
        for key in LIST_KEYS {
            environment = environment.with_list_parse_key(key);
        }
        let settings: Settings = builder
            .add_source(environment)
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(unreadable)?;
        Ok(settings)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let q = &self.queue;
        check!(q.admit_batch > 0, "queue.admit_batch", "must be positive");
        check!(
            q.admit_interval_secs > 0,
            "queue.admit_interval_secs",
            "must be positive"
        );
        check!(
            q.expired_retention_secs > 0,
            "queue.expired_retention_secs",
            "must be positive"
        );
        let console = &self.console;
        check!(
            (1..=3600).contains(&console.sample_interval_secs),
            "console.sample_interval_secs",
            "must be from 1 to 3600"
        );
        check!(
            console.sample_retention_secs >= console.sample_interval_secs,
            "console.sample_retention_secs",
            "must be at least console.sample_interval_secs"
        );
        check!(
            self.idempotency.retention_secs >= self.idempotency.lease_secs,
            "idempotency.retention_secs",
            "must be at least idempotency.lease_secs"
        );
        check!(q.max_active > 0, "queue.max_active", "must be positive");
        check!(
            (100..=60_000).contains(&q.stream_refresh_ms),
            "queue.stream_refresh_ms",
            "must be between 100 and 60000"
        );
        check!(
            q.active_ttl_secs > 0,
            "queue.active_ttl_secs",
            "must be positive"
        );
        check!(
            q.abandon_after_secs > 0,
            "queue.abandon_after_secs",
            "must be positive"
        );
        check!(
            q.expected_checkout_secs > 0,
            "queue.expected_checkout_secs",
            "must be positive"
        );
        check!(
            q.heal_window_secs <= 3_600,
            "queue.heal_window_secs",
            "must be at most 3600: admission waits that long after a loss"
        );
        check!(
            self.holds.ttl_secs > 0,
            "holds.ttl_secs",
            "must be positive"
        );
        check!(
            self.holds.max_per_user > 0,
            "holds.max_per_user",
            "must be positive"
        );
        check!(
            (1..=Basket::MOST_SEATS).contains(&self.holds.max_seats_per_order),
            "holds.max_seats_per_order",
            "must be between 1 and 10"
        );
        check!(
            self.holds.sweep_interval_secs > 0,
            "holds.sweep_interval_secs",
            "must be positive"
        );
        check!(
            self.holds.seat_map_max_age_ms <= 5_000,
            "holds.seat_map_max_age_ms",
            "must be at most 5000 (fans would see seats long gone)"
        );
        check!(
            self.waitlist.offer_secs > 0,
            "waitlist.offer_secs",
            "must be positive"
        );
        check!(self.balance.max > 0, "balance.max", "must be positive");
        check!(
            self.database.max_connections > 0,
            "database.max_connections",
            "must be positive"
        );
        check!(
            self.database.optimistic_max_attempts > 0,
            "database.optimistic_max_attempts",
            "must be positive"
        );
        check!(
            self.database.concurrency != ConcurrencyStrategy::RedisLock
                || !self.redis.url.is_empty(),
            "database.concurrency",
            "= \"redis_lock\" needs redis.url"
        );
        check!(
            self.redis.command_timeout_ms > 0,
            "redis.command_timeout_ms",
            "must be positive"
        );
        check!(
            self.idempotency.lease_secs > 0,
            "idempotency.lease_secs",
            "must be positive"
        );
        check!(
            self.outbox.relay_interval_ms > 0,
            "outbox.relay_interval_ms",
            "must be positive"
        );
        check!(
            self.outbox.relay_batch > 0,
            "outbox.relay_batch",
            "must be positive"
        );
        check!(
            self.queue.entry == QueueEntry::Direct || !self.kafka.brokers.is_empty(),
            "queue.entry",
            "= \"kafka\" needs kafka.brokers"
        );
        check!(
            self.server.header_read_timeout_ms > 0,
            "server.header_read_timeout_ms",
            "must be positive"
        );
        check!(
            self.server.body_read_timeout_ms > 0,
            "server.body_read_timeout_ms",
            "must be positive"
        );
        check!(
            self.queue.room != QueueRoom::Redis || !self.redis.url.is_empty(),
            "queue.room",
            "= \"redis\" needs redis.url"
        );
        check!(
            self.queue.room != QueueRoom::Postgres
                || self.database.url.starts_with("postgres://")
                || self.database.url.starts_with("postgresql://"),
            "queue.room",
            "= \"postgres\" needs a postgres:// database.url"
        );
        let k = &self.kafka;
        for (partitions, name) in [
            (
                k.reservation_confirmed_partitions,
                "reservation_confirmed_partitions",
            ),
            (k.balance_charged_partitions, "balance_charged_partitions"),
            (k.queue_entered_partitions, "queue_entered_partitions"),
            (k.room_changed_partitions, "room_changed_partitions"),
            (k.dead_letter_partitions, "dead_letter_partitions"),
            (k.replication_factor, "replication_factor"),
        ] {
            check!(partitions > 0, "kafka.{name}", "must be positive");
        }
        check!(
            k.batch_num_messages > 0,
            "kafka.batch_num_messages",
            "must be positive"
        );
        check!(k.poll_wait_ms > 0, "kafka.poll_wait_ms", "must be positive");
        check!(
            k.session_timeout_ms > 0,
            "kafka.session_timeout_ms",
            "must be positive"
        );
        // A relay renews its 5 s claims between publishes; one publish past that lease can be published twice.
        check!(
            (1..=10_000).contains(&k.delivery_timeout_ms),
            "kafka.delivery_timeout_ms",
            "must be between 1 and 10000"
        );
        let d = &self.dataplatform;
        check!(
            d.url.is_empty() || d.url.starts_with("http://") || d.url.starts_with("https://"),
            "dataplatform.url",
            "must be an http:// or https:// URL"
        );
        check!(
            d.max_attempts > 0,
            "dataplatform.max_attempts",
            "must be positive"
        );
        // A dead-letter replay holds its letter's lock for two minutes.
        check!(
            (1..=60_000).contains(&d.timeout_ms),
            "dataplatform.timeout_ms",
            "must be between 1 and 60000"
        );
        check!(
            d.max_backoff_ms >= d.initial_backoff_ms,
            "dataplatform.max_backoff_ms",
            "must be at least dataplatform.initial_backoff_ms"
        );
        check!(
            d.idle_poll_ms > 0,
            "dataplatform.idle_poll_ms",
            "must be positive"
        );
        check!(
            d.breaker_failures > 0,
            "dataplatform.breaker_failures",
            "must be positive"
        );
        check!(
            (1..=600_000).contains(&d.probe_interval_ms),
            "dataplatform.probe_interval_ms",
            "must be between 1 and 600000"
        );
        check!(
            self.holds.max_lapsed > 0,
            "holds.max_lapsed",
            "must be positive"
        );
        check!(
            self.holds.lapse_window_secs > 0,
            "holds.lapse_window_secs",
            "must be positive"
        );
        check!(
            self.sales.max_tickets_per_user_per_concert > 0,
            "sales.max_tickets_per_user_per_concert",
            "must be positive"
        );
        if let Err(problem) = self.cancellation_policy() {
            return Err(
                SettingError::invalid("cancellation.fees".to_owned(), problem.to_string()).into(),
            );
        }
        check!(
            self.holds.max_total_secs >= self.holds.ttl_secs,
            "holds.max_total_secs",
            "must be at least holds.ttl_secs"
        );
        self.validate_auth()?;
        self.validate_limits()?;
        self.validate_tls()?;
        self.validate_addresses()?;
        Ok(())
    }

    /// The addresses and URLs a start would refuse, refused here already,
    /// so that `check-config` finds them too.
    fn validate_addresses(&self) -> anyhow::Result<()> {
        for (key, address) in [
            ("server.listen", &self.server.listen),
            ("server.admin_listen", &self.server.admin_listen),
        ] {
            if key == "server.admin_listen" && address.is_empty() {
                continue;
            }
            let usable = address
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            check!(
                usable,
                "{key}",
                "= {address:?}: not an address to listen on (host:port)"
            );
        }
        let db = &self.database.url;
        check!(
            db.starts_with("sqlite:")
                || db.starts_with("postgres://")
                || db.starts_with("postgresql://"),
            "database.url",
            "= {:?} is not supported: use sqlite://path/to/file.db or postgres://...",
            mask_url_password(db)
        );
        let redis = &self.redis.url;
        let urls: Vec<&str> = redis.split(',').map(str::trim).collect();
        check!(
            redis.is_empty()
                || urls
                    .iter()
                    .all(|u| u.starts_with("redis://") || u.starts_with("rediss://")),
            "redis.url",
            "= {:?}: not a redis:// or rediss:// URL",
            mask_url_passwords(redis)
        );
        let sentinel = !self.redis.sentinel_service.is_empty();
        check!(
            urls.len() == 1 || self.redis.cluster || sentinel,
            "redis.url",
            "= {:?}: several nodes need redis.cluster = true or redis.sentinel_service",
            mask_url_passwords(redis)
        );
        check!(
            !(sentinel && self.redis.cluster),
            "redis.sentinel_service",
            "= {:?}: a Redis Cluster fails over by itself; set redis.cluster or redis.sentinel_service, not both",
            self.redis.sentinel_service
        );
        check!(
            !sentinel || !redis.is_empty(),
            "redis.sentinel_service",
            "= {:?} needs the Sentinels' URLs in redis.url",
            self.redis.sentinel_service
        );
        check!(
            !self.redis.cluster || !redis.is_empty(),
            "redis.cluster",
            "= true needs the cluster's seed nodes in redis.url"
        );
        check!(
            urls.iter()
                .all(|u| u.starts_with("rediss://") == urls[0].starts_with("rediss://")),
            "redis.url",
            "= {:?}: mixes redis:// and rediss:// nodes",
            mask_url_passwords(redis)
        );
        let otlp = &self.log.otlp_endpoint;
        check!(
            otlp.is_empty() || cfg!(feature = "otlp"),
            "log.otlp_endpoint",
            "= {:?}: this binary was built without OTLP export (cargo build --release --features otlp)",
            mask_url_password(otlp)
        );
        check!(
            otlp.is_empty() || otlp.starts_with("http://") || otlp.starts_with("https://"),
            "log.otlp_endpoint",
            "= {:?}: not an http:// or https:// URL",
            mask_url_password(otlp)
        );
        check!(
            !self.redis.key_prefix.contains(['{', '}']),
            "redis.key_prefix",
            "= {:?}: braces are reserved for the hash tags that keep a concert on one cluster slot",
            self.redis.key_prefix
        );
        Ok(())
    }

    /// TLS asked for where it cannot be had, and certificate files that
    /// cannot be read, stop the service before it starts.
    fn validate_tls(&self) -> anyhow::Result<()> {
        let r = &self.redis;
        certificate_files(
            r.url.starts_with("rediss://"),
            "needs a rediss:// redis.url (TLS)",
            [
                ("redis.ca_file", &r.ca_file),
                ("redis.cert_file", &r.cert_file),
                ("redis.key_file", &r.key_file),
            ],
        )?;
        let k = &self.kafka;
        certificate_files(
            k.security_protocol.tls(),
            "needs kafka.security_protocol = \"ssl\" or \"sasl_ssl\"",
            [
                ("kafka.ssl_ca_file", &k.ssl_ca_file),
                ("kafka.ssl_cert_file", &k.ssl_cert_file),
                ("kafka.ssl_key_file", &k.ssl_key_file),
            ],
        )?;
        if k.security_protocol.sasl() {
            check!(
                ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"].contains(&k.sasl_mechanism.as_str()),
                "kafka.sasl_mechanism",
                "must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 with kafka.security_protocol = \"{}\"",
                k.security_protocol.librdkafka_name()
            );
            check!(
                !k.sasl_username.is_empty() && !k.sasl_password.is_empty(),
                "kafka.sasl_username",
                "and kafka.sasl_password are needed with SASL"
            );
        } else {
            check!(
                k.sasl_mechanism.is_empty()
                    && k.sasl_username.is_empty()
                    && k.sasl_password.is_empty(),
                "kafka.sasl_mechanism",
                "needs kafka.security_protocol = \"sasl_plaintext\" or \"sasl_ssl\""
            );
        }
        let d = &self.dataplatform;
        check!(
            d.ca_file.is_empty() || d.url.starts_with("https://"),
            "dataplatform.ca_file",
            "needs an https:// dataplatform.url"
        );
        readable("dataplatform.ca_file", &d.ca_file)?;
        Ok(())
    }

    /// The effective settings as TOML, with every secret masked: what
    /// `boxoffice check-config` prints.
    pub fn to_masked_toml(&self) -> anyhow::Result<String> {
        let mut shown = self.clone();
        for secret in [
            &mut shown.admin.api_key,
            &mut shown.auth.hs256_secret,
            &mut shown.kafka.sasl_password,
        ] {
            if !secret.is_empty() {
                *secret = MASK.to_owned();
            }
        }
        for url in [
            &mut shown.database.url,
            &mut shown.redis.url,
            &mut shown.dataplatform.url,
            &mut shown.auth.jwks_url,
            &mut shown.log.otlp_endpoint,
        ] {
            *url = mask_url_passwords(url);
        }
        toml::to_string(&shown).context("writing the settings as TOML")
    }

    /// Whether the database is a SQLite file: the embedded mode.
    pub fn embedded(&self) -> bool {
        self.database.url.starts_with("sqlite:")
    }

    /// Whether the development sign-in is on.
    pub fn dev_sign_in(&self) -> bool {
        match self.auth.dev_sign_in {
            DevSignIn::On => true,
            DevSignIn::Off => false,
            DevSignIn::Auto => self.embedded() && self.auth.mode == AuthModeSetting::Jwt,
        }
    }

    /// Whether any key to verify access tokens is configured.
    pub fn has_access_keys(&self) -> bool {
        let a = &self.auth;
        !(a.hs256_secret.is_empty()
            && a.public_key_file.is_empty()
            && a.jwks_file.is_empty()
            && a.jwks_url.is_empty())
    }

    fn validate_auth(&self) -> anyhow::Result<()> {
        let a = &self.auth;
        check!(
            a.hs256_secret.is_empty() || a.hs256_secret.len() >= 32,
            "auth.hs256_secret",
            "must be at least 32 bytes"
        );
        check!(
            a.jwks_url.is_empty()
                || a.jwks_url.starts_with("https://")
                || a.jwks_url.starts_with("http://"),
            "auth.jwks_url",
            "must be an http:// or https:// URL"
        );
        check!(
            a.jwks_refresh_secs > 0,
            "auth.jwks_refresh_secs",
            "must be positive"
        );
        check!(
            a.dev_session_ttl_secs > 0,
            "auth.dev_session_ttl_secs",
            "must be positive"
        );
        check!(
            (1..=1_000).contains(&a.pass_revocation_poll_ms),
            "auth.pass_revocation_poll_ms",
            "must be between 1 and 1000 (a revoked pass must stop working within a second)"
        );
        let generated_secret = self.embedded();
        if a.mode == AuthModeSetting::Jwt {
            check!(
                self.has_access_keys() || generated_secret,
                "auth.mode",
                "= \"jwt\" needs a key to verify access tokens: set auth.hs256_secret, \
                 auth.public_key_file, auth.jwks_file or auth.jwks_url (or run behind an \
                 authenticating gateway with auth.mode = \"trusted_header\")"
            );
        }
        check!(
            !self.dev_sign_in() || !a.hs256_secret.is_empty() || generated_secret,
            "auth.dev_sign_in",
            "needs auth.hs256_secret, shared by every instance"
        );
        check!(
            !self.dev_sign_in() || a.mode == AuthModeSetting::Jwt,
            "auth.dev_sign_in",
            "needs auth.mode = \"jwt\""
        );
        check!(
            a.admin_claim.is_empty() || self.has_access_keys() || generated_secret,
            "auth.admin_claim",
            "needs a key to verify access tokens"
        );
        Ok(())
    }

    fn validate_limits(&self) -> anyhow::Result<()> {
        let r = &self.rate_limit;
        for (name, list) in [
            ("trusted_proxies", &r.trusted_proxies),
            ("exempt", &r.exempt),
        ] {
            for entry in list {
                check!(
                    parse_net(entry).is_some(),
                    "rate_limit.{name}",
                    "{entry:?} is not an IP address or network"
                );
            }
        }
        for (name, c) in [
            ("token_issue", &r.token_issue),
            ("poll", &r.poll),
            ("booking", &r.booking),
            ("money", &r.money),
            ("admin", &r.admin),
            ("sign_in", &r.sign_in),
        ] {
            for (what, rate, burst) in [
                ("per_user", c.per_user_per_sec, c.per_user_burst),
                ("per_ip", c.per_ip_per_sec, c.per_ip_burst),
            ] {
                check!(
                    rate.is_finite() && rate >= 0.0,
                    "rate_limit.{name}.{what}_per_sec",
                    "must be zero or positive"
                );
                check!(
                    rate == 0.0 || burst > 0,
                    "rate_limit.{name}.{what}_burst",
                    "must be positive when {what}_per_sec is"
                );
            }
        }
        for origin in &self.server.cors_allowed_origins {
            check!(
                (origin.starts_with("https://") || origin.starts_with("http://"))
                    && !origin.trim_end_matches('/').contains(['?', '#'])
                    && origin.split('/').count() <= 3,
                "server.cors_allowed_origins",
                "{origin:?} is not an origin like https://shop.example"
            );
        }
        Ok(())
    }

    fn cancellation_policy(
        &self,
    ) -> Result<CancellationPolicy, boxoffice_core::domain::cancellation::PolicyRejected> {
        CancellationPolicy::new(self.cancellation.deadline_secs, &self.cancellation.fees)
    }

    pub fn policies(&self) -> Policies {
        let q = &self.queue;
        Policies {
            queue: QueuePolicy {
                admit_batch: q.admit_batch,
                admit_interval_secs: q.admit_interval_secs,
                max_active: q.max_active,
                active_ttl_secs: q.active_ttl_secs,
                abandon_after_secs: q.abandon_after_secs,
                expired_retention_secs: q.expired_retention_secs,
                pre_queue_window_secs: q.pre_queue_window_secs,
                max_active_per_seat: q.max_active_per_seat,
                expected_checkout_secs: q.expected_checkout_secs,
                heal_window_secs: q.heal_window_secs,
            },
            holds: HoldPolicy {
                ttl_secs: self.holds.ttl_secs,
                max_per_user: self.holds.max_per_user,
                max_unfunded: self.holds.max_unfunded,
                max_lapsed: self.holds.max_lapsed,
                lapse_window_secs: self.holds.lapse_window_secs,
                extend_secs: self.holds.extend_secs,
                max_total_secs: self.holds.max_total_secs,
                max_tickets_per_concert: self.sales.max_tickets_per_user_per_concert,
                max_seats_per_order: self.holds.max_seats_per_order,
                seat_map_max_age_ms: self.holds.seat_map_max_age_ms,
            },
            balance: BalancePolicy {
                max: Won::new(self.balance.max),
            },
            idempotency: IdempotencyPolicy {
                lease_secs: self.idempotency.lease_secs,
                retention_secs: self.idempotency.retention_secs,
            },
            delivery: RetryPolicy {
                max_attempts: self.dataplatform.max_attempts,
                initial_backoff_ms: self.dataplatform.initial_backoff_ms,
                max_backoff_ms: self.dataplatform.max_backoff_ms,
                breaker_failures: self.dataplatform.breaker_failures,
                probe_every_ms: self.dataplatform.probe_interval_ms,
            },
            samples: SamplePolicy {
                interval_secs: self.console.sample_interval_secs,
                retention_secs: self.console.sample_retention_secs,
            },
            // Validated with the rest (`validate`); the default otherwise.
            cancellation: self.cancellation_policy().unwrap_or_default(),
            waitlist: WaitlistPolicy {
                offer_secs: self.waitlist.offer_secs,
            },
        }
    }

    pub fn admin_key(&self) -> Option<&str> {
        Some(self.admin.api_key.as_str()).filter(|k| !k.is_empty())
    }

    /// Whether the admin key is the one generated beside the SQLite file.
    pub fn generates_admin_key(&self) -> bool {
        self.admin.generate_key
            && self.embedded()
            && self.admin_key().is_none()
            && self.auth.admin_claim.is_empty()
    }
}

/// An IP address (a network of one) or a CIDR network.
pub fn parse_net(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_then_the_environment_override_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("boxoffice.toml");
        std::fs::write(&path, "[queue]\nadmit_batch = 7\nmax_active = 70\n").unwrap();
        let env = HashMap::from([("BOXOFFICE__QUEUE__MAX_ACTIVE".to_owned(), "71".to_owned())]);
        let settings = Settings::load_with_env(Some(&path), Some(env));
        let settings = settings.unwrap();
        assert_eq!(settings.queue.admit_batch, 7);
        assert_eq!(settings.queue.max_active, 71);
        assert_eq!(settings.holds.ttl_secs, 300);
    }

    #[test]
    fn the_example_file_states_the_defaults() {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../boxoffice.example.toml");
        let loaded =
            Settings::load_with_env(Some(Path::new(example)), Some(HashMap::new())).unwrap();
        assert_eq!(loaded, Settings::default());
    }

    fn with(env: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::load_with_env(None, Some(env))
    }

    #[test]
    fn a_redis_cluster_or_sentinels_take_several_urls_and_every_refusal_names_its_key() {
        let seeds = "redis://a:7101, redis://:secret@b:7102,redis://c:7103";
        let cluster = with(&[
            ("BOXOFFICE__REDIS__URL", seeds),
            ("BOXOFFICE__REDIS__CLUSTER", "true"),
        ])
        .unwrap();
        assert!(cluster.redis.cluster);
        let refused = |env: &[(&str, &str)]| format!("{:#}", with(env).unwrap_err());
        let several = refused(&[("BOXOFFICE__REDIS__URL", seeds)]);
        assert!(
            several.contains("redis.url") && several.contains("redis.cluster = true"),
            "{several}"
        );
        assert!(
            !several.contains("secret"),
            "a password in a message: {several}"
        );
        let empty = refused(&[("BOXOFFICE__REDIS__CLUSTER", "true")]);
        assert!(empty.contains("redis.cluster"), "{empty}");
        let mixed = refused(&[
            ("BOXOFFICE__REDIS__URL", "redis://a:7101,rediss://b:7102"),
            ("BOXOFFICE__REDIS__CLUSTER", "true"),
        ]);
        assert!(
            mixed.contains("redis.url") && mixed.contains("mixes"),
            "{mixed}"
        );
        let not_redis = refused(&[
            ("BOXOFFICE__REDIS__URL", "redis://a:7101,http://b:7102"),
            ("BOXOFFICE__REDIS__CLUSTER", "true"),
        ]);
        assert!(not_redis.contains("not a redis://"), "{not_redis}");
        let sentinels = with(&[
            ("BOXOFFICE__REDIS__URL", "redis://s1:26379,redis://s2:26379"),
            ("BOXOFFICE__REDIS__SENTINEL_SERVICE", "primary"),
        ])
        .unwrap();
        assert_eq!(sentinels.redis.sentinel_service, "primary");
        let both = refused(&[
            ("BOXOFFICE__REDIS__URL", seeds),
            ("BOXOFFICE__REDIS__CLUSTER", "true"),
            ("BOXOFFICE__REDIS__SENTINEL_SERVICE", "primary"),
        ]);
        assert!(
            both.contains("redis.sentinel_service") && both.contains("not both"),
            "{both}"
        );
        let no_sentinels = refused(&[("BOXOFFICE__REDIS__SENTINEL_SERVICE", "primary")]);
        assert!(
            no_sentinels.contains("redis.sentinel_service"),
            "{no_sentinels}"
        );
        let braces = refused(&[("BOXOFFICE__REDIS__KEY_PREFIX", "bo{x}:")]);
        assert!(braces.contains("redis.key_prefix"), "{braces}");
        let shown = cluster.to_masked_toml().unwrap();
        assert!(
            shown.contains(":********@b:7102") && !shown.contains(":secret@"),
            "{shown}"
        );
    }

    #[test]
    fn an_otlp_endpoint_needs_the_feature_and_an_http_url() {
        let endpoint = [(
            "BOXOFFICE__LOG__OTLP_ENDPOINT",
            "http://collector:4318/v1/traces",
        )];
        if cfg!(feature = "otlp") {
            with(&endpoint).unwrap();
        } else {
            let err = format!("{:#}", with(&endpoint).unwrap_err());
            assert!(
                err.contains("log.otlp_endpoint") && err.contains("--features otlp"),
                "{err}"
            );
        }
        let err = format!(
            "{:#}",
            with(&[("BOXOFFICE__LOG__OTLP_ENDPOINT", "collector:4318")]).unwrap_err()
        );
        assert!(err.contains("log.otlp_endpoint"), "{err}");
    }

    #[test]
    fn logs_are_json_off_a_terminal_unless_text_is_asked_for() {
        let auto = with(&[]).unwrap().log.format;
        assert_eq!(auto, LogFormat::Auto);
        assert!(auto.is_json(false));
        assert!(!auto.is_json(true));
        let text = with(&[("BOXOFFICE__LOG__FORMAT", "text")])
            .unwrap()
            .log
            .format;
        assert!(!text.is_json(false));
        let json = with(&[("BOXOFFICE__LOG__FORMAT", "json")])
            .unwrap()
            .log
            .format;
        assert!(json.is_json(true));
        assert!(with(&[("BOXOFFICE__LOG__FORMAT", "xml")]).is_err());
    }

    #[test]
    fn the_dev_sign_in_is_on_by_default_only_in_the_embedded_jwt_mode() {
        assert!(with(&[]).unwrap().dev_sign_in());
        let gateway = with(&[("BOXOFFICE__AUTH__MODE", "trusted_header")]).unwrap();
        assert!(
            !gateway.dev_sign_in(),
            "trusted_header on SQLite starts without it"
        );
        let pg = [
            ("BOXOFFICE__DATABASE__URL", "postgres://db/boxoffice"),
            (
                "BOXOFFICE__AUTH__HS256_SECRET",
                "0123456789abcdef0123456789abcdef",
            ),
        ];
        assert!(!with(&pg).unwrap().dev_sign_in());
        let mut on = pg.to_vec();
        on.push(("BOXOFFICE__AUTH__DEV_SIGN_IN", "on"));
        assert!(with(&on).unwrap().dev_sign_in());
    }

    #[test]
    fn postgresql_in_jwt_mode_needs_a_key_and_an_explicit_dev_sign_in_needs_a_shared_secret() {
        let err = with(&[("BOXOFFICE__DATABASE__URL", "postgres://db/boxoffice")]).unwrap_err();
        assert!(format!("{err:#}").contains("auth.hs256_secret"), "{err:#}");
        with(&[
            ("BOXOFFICE__DATABASE__URL", "postgres://db/boxoffice"),
            ("BOXOFFICE__AUTH__MODE", "trusted_header"),
        ])
        .unwrap();
        let err = with(&[
            ("BOXOFFICE__DATABASE__URL", "postgres://db/boxoffice"),
            ("BOXOFFICE__AUTH__JWKS_URL", "https://id.example/certs"),
            ("BOXOFFICE__AUTH__DEV_SIGN_IN", "on"),
        ])
        .unwrap_err();
        assert!(format!("{err:#}").contains("dev_sign_in"), "{err:#}");
        assert!(with(&[("BOXOFFICE__AUTH__HS256_SECRET", "short")]).is_err());
        assert!(with(&[("BOXOFFICE__AUTH__PASS_REVOCATION_POLL_MS", "5000")]).is_err());
        assert!(
            with(&[(
                "BOXOFFICE__RATE_LIMIT__TRUSTED_PROXIES",
                "10.0.0.0/8,not-an-ip"
            )])
            .is_err()
        );
        let listed = with(&[
            (
                "BOXOFFICE__RATE_LIMIT__TRUSTED_PROXIES",
                "10.0.0.0/8,192.0.2.1",
            ),
            (
                "BOXOFFICE__SERVER__CORS_ALLOWED_ORIGINS",
                "https://a.example,https://b.example",
            ),
        ])
        .unwrap();
        assert_eq!(
            listed.rate_limit.trusted_proxies,
            ["10.0.0.0/8", "192.0.2.1"]
        );
        assert_eq!(listed.server.cors_allowed_origins.len(), 2);
        assert!(
            with(&[(
                "BOXOFFICE__SERVER__CORS_ALLOWED_ORIGINS",
                "https://a.example/path"
            )])
            .is_err()
        );
    }

    #[test]
    fn unknown_keys_and_nonsense_values_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let typo = dir.path().join("typo.toml");
        std::fs::write(&typo, "[queue]\nadmit_bach = 7\n").unwrap();
        assert!(Settings::load(Some(&typo)).is_err());
        let zero = dir.path().join("zero.toml");
        std::fs::write(&zero, "[holds]\nttl_secs = 0\n").unwrap();
        assert!(Settings::load(Some(&zero)).is_err());
    }

    #[test]
    fn a_seat_map_may_be_kept_off_or_up_to_five_seconds_and_longer_is_refused_naming_its_key() {
        let mut settings = Settings::default();
        for age in [0, 250, 5_000] {
            settings.holds.seat_map_max_age_ms = age;
            assert!(settings.validate().is_ok(), "{age} ms refused");
            assert_eq!(settings.policies().holds.seat_map_max_age_ms, age);
        }
        settings.holds.seat_map_max_age_ms = 5_001;
        let refused = settings.validate().unwrap_err();
        let named = refused
            .chain()
            .find_map(|e| e.downcast_ref::<SettingError>())
            .map(|e| e.key.clone());
        assert_eq!(
            named.as_deref(),
            Some("holds.seat_map_max_age_ms"),
            "{refused:#}"
        );
    }

    #[test]
    fn a_room_in_redis_or_postgresql_needs_its_server_and_a_refusal_names_queue_room() {
        let refused_key = |settings: &Settings| {
            settings
                .validate()
                .unwrap_err()
                .chain()
                .find_map(|e| e.downcast_ref::<SettingError>())
                .map(|e| e.key.clone())
        };
        let mut settings = Settings::default();
        for room in [QueueRoom::Auto, QueueRoom::Memory] {
            settings.queue.room = room;
            assert!(settings.validate().is_ok(), "{room:?} refused");
        }
        settings.queue.room = QueueRoom::Redis;
        assert_eq!(refused_key(&settings).as_deref(), Some("queue.room"));
        settings.redis.url = "redis://127.0.0.1:6379/0".into();
        assert!(settings.validate().is_ok());
        // The embedded default's SQLite file cannot keep the room.
        settings.queue.room = QueueRoom::Postgres;
        assert_eq!(refused_key(&settings).as_deref(), Some("queue.room"));
        settings.database.url = "postgres://boxoffice@db/boxoffice".into();
        settings.auth.hs256_secret = "a-secret-of-at-least-thirty-two-bytes".into();
        settings.redis.url.clear();
        if let Err(e) = settings.validate() {
            panic!("{e:#}")
        }
        let from_env = with(&[
            ("BOXOFFICE__QUEUE__ROOM", "postgres"),
            (
                "BOXOFFICE__DATABASE__URL",
                "postgres://boxoffice@db/boxoffice",
            ),
            (
                "BOXOFFICE__AUTH__HS256_SECRET",
                "a-secret-of-at-least-thirty-two-bytes",
            ),
        ])
        .unwrap();
        assert_eq!(from_env.queue.room, QueueRoom::Postgres);
        assert!(with(&[("BOXOFFICE__QUEUE__ROOM", "mysql")]).is_err());
    }
}
