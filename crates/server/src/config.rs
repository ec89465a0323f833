//! Configuration: built-in defaults, then an optional TOML file, then
//! environment variables `BOXOFFICE__SECTION__KEY` (e.g.
//! `BOXOFFICE__QUEUE__ADMIT_INTERVAL_SECS=1`), then command-line flags.
//! `boxoffice.example.toml` at the repository root documents every key.

use anyhow::{Context, ensure};
use boxoffice_core::domain::Won;
use boxoffice_core::domain::balance::BalancePolicy;
use boxoffice_core::domain::delivery::RetryPolicy;
use boxoffice_core::domain::queue_token::QueuePolicy;
use boxoffice_core::domain::seat_hold::HoldPolicy;
use boxoffice_core::use_cases::{IdempotencyPolicy, Policies};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub queue: QueueSettings,
    pub holds: HoldSettings,
    pub balance: BalanceSettings,
    pub idempotency: IdempotencySettings,
    pub outbox: OutboxSettings,
    pub kafka: KafkaSettings,
    pub dataplatform: DataPlatformSettings,
    pub admin: AdminSettings,
    pub demo: DemoSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on.
    pub listen: String,
    /// Seconds in-flight requests and background steps get to finish after
    /// SIGINT/SIGTERM before the process exits anyway.
    pub shutdown_grace_secs: u64,
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
    /// `redis://host:port/db`. Empty: the waiting room, locks and ranking
    /// stay in process (one instance only).
    pub url: String,
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
    pub admit_batch: u32,
    pub admit_interval_secs: u64,
    pub max_active: u32,
    pub active_ttl_secs: u64,
    pub abandon_after_secs: u64,
    pub expired_retention_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldSettings {
    pub ttl_secs: u64,
    pub max_per_user: u32,
    /// How often ended holds are marked released.
    pub sweep_interval_secs: u64,
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
}

/// The external data platform that receives confirmed reservations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataPlatformSettings {
    /// Where events are POSTed; empty: none is sent.
    pub url: String,
    /// How long one delivery may take.
    pub timeout_ms: u64,
    /// Attempts before an event goes to the dead-letter list.
    pub max_attempts: u32,
    /// The wait after the first failure; doubles after each further one, with jitter.
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// How long the embedded consumer waits before looking at an empty inbox again.
    pub idle_poll_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// The `X-Admin-Key` for admin endpoints; empty disables them.
    pub api_key: String,
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
        let delivery = RetryPolicy::default();
        Self {
            server: ServerSettings {
                listen: "127.0.0.1:8080".into(),
                shutdown_grace_secs: 10,
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
                key_prefix: "boxoffice:".into(),
                command_timeout_ms: 500,
                connect_timeout_ms: 500,
            },
            queue: QueueSettings {
                entry: QueueEntry::Direct,
                admit_batch: queue.admit_batch,
                admit_interval_secs: queue.admit_interval_secs,
                max_active: queue.max_active,
                active_ttl_secs: queue.active_ttl_secs,
                abandon_after_secs: queue.abandon_after_secs,
                expired_retention_secs: queue.expired_retention_secs,
            },
            holds: HoldSettings {
                ttl_secs: holds.ttl_secs,
                max_per_user: holds.max_per_user,
                sweep_interval_secs: 5,
            },
            balance: BalanceSettings {
                max: BalancePolicy::default().max.amount(),
            },
            idempotency: IdempotencySettings {
                lease_secs: idem.lease_secs,
                retention_secs: idem.retention_secs,
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
                dead_letter_partitions: 1,
                replication_factor: 1,
                delivery_timeout_ms: 10_000,
                batch_num_messages: 10_000,
                poll_wait_ms: 500,
                fetch_wait_max_ms: 20,
                session_timeout_ms: 10_000,
            },
            dataplatform: DataPlatformSettings {
                url: String::new(),
                timeout_ms: 2_000,
                max_attempts: delivery.max_attempts,
                initial_backoff_ms: delivery.initial_backoff_ms,
                max_backoff_ms: delivery.max_backoff_ms,
                idle_poll_ms: 200,
            },
            admin: AdminSettings {
                api_key: String::new(),
            },
            demo: DemoSettings { seed: true },
        }
    }
}

impl Settings {
    /// Defaults, then `file` if given, then `BOXOFFICE__*` variables.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        Self::load_with_env(file, None)
    }

    /// As [`Settings::load`], reading variables from `env` instead of the
    /// process environment when given.
    pub fn load_with_env(
        file: Option<&Path>,
        env: Option<HashMap<String, String>>,
    ) -> anyhow::Result<Self> {
        let mut builder =
            config::Config::builder().add_source(config::Config::try_from(&Settings::default())?);
        if let Some(path) = file {
            builder = builder.add_source(config::File::from(path).required(true));
        }
        let settings: Settings = builder
            .add_source(
                config::Environment::with_prefix("BOXOFFICE")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    .source(env),
            )
            .build()
            .context("reading configuration")?
            .try_deserialize()
            .context("invalid configuration")?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let q = &self.queue;
        ensure!(q.admit_batch > 0, "queue.admit_batch must be positive");
        ensure!(
            q.admit_interval_secs > 0,
            "queue.admit_interval_secs must be positive"
        );
        ensure!(
            q.expired_retention_secs > 0,
            "queue.expired_retention_secs must be positive"
        );
        ensure!(
            self.idempotency.retention_secs >= self.idempotency.lease_secs,
            "idempotency.retention_secs must be at least idempotency.lease_secs"
        );
        ensure!(q.max_active > 0, "queue.max_active must be positive");
        ensure!(
            q.active_ttl_secs > 0,
            "queue.active_ttl_secs must be positive"
        );
        ensure!(
            q.abandon_after_secs > 0,
            "queue.abandon_after_secs must be positive"
        );
        ensure!(self.holds.ttl_secs > 0, "holds.ttl_secs must be positive");
        ensure!(
            self.holds.max_per_user > 0,
            "holds.max_per_user must be positive"
        );
        ensure!(
            self.holds.sweep_interval_secs > 0,
            "holds.sweep_interval_secs must be positive"
        );
        ensure!(self.balance.max > 0, "balance.max must be positive");
        ensure!(
            self.database.max_connections > 0,
            "database.max_connections must be positive"
        );
        ensure!(
            self.database.optimistic_max_attempts > 0,
            "database.optimistic_max_attempts must be positive"
        );
        ensure!(
            self.database.concurrency != ConcurrencyStrategy::RedisLock
                || !self.redis.url.is_empty(),
            "database.concurrency = \"redis_lock\" needs redis.url"
        );
        ensure!(
            self.redis.command_timeout_ms > 0,
            "redis.command_timeout_ms must be positive"
        );
        ensure!(
            self.idempotency.lease_secs > 0,
            "idempotency.lease_secs must be positive"
        );
        ensure!(
            self.outbox.relay_interval_ms > 0,
            "outbox.relay_interval_ms must be positive"
        );
        ensure!(
            self.outbox.relay_batch > 0,
            "outbox.relay_batch must be positive"
        );
        ensure!(
            self.queue.entry == QueueEntry::Direct || !self.kafka.brokers.is_empty(),
            "queue.entry = \"kafka\" needs kafka.brokers"
        );
        let k = &self.kafka;
        for (partitions, name) in [
            (
                k.reservation_confirmed_partitions,
                "reservation_confirmed_partitions",
            ),
            (k.balance_charged_partitions, "balance_charged_partitions"),
            (k.queue_entered_partitions, "queue_entered_partitions"),
            (k.dead_letter_partitions, "dead_letter_partitions"),
            (k.replication_factor, "replication_factor"),
        ] {
            ensure!(partitions > 0, "kafka.{name} must be positive");
        }
        ensure!(
            k.batch_num_messages > 0,
            "kafka.batch_num_messages must be positive"
        );
        ensure!(k.poll_wait_ms > 0, "kafka.poll_wait_ms must be positive");
        ensure!(
            k.session_timeout_ms > 0,
            "kafka.session_timeout_ms must be positive"
        );
        // A relay step claims its events for 30 s; one publish must fit well inside.
        ensure!(
            (1..=10_000).contains(&k.delivery_timeout_ms),
            "kafka.delivery_timeout_ms must be between 1 and 10000"
        );
        let d = &self.dataplatform;
        ensure!(
            d.url.is_empty() || d.url.starts_with("http://") || d.url.starts_with("https://"),
            "dataplatform.url must be an http:// or https:// URL"
        );
        ensure!(
            d.max_attempts > 0,
            "dataplatform.max_attempts must be positive"
        );
        ensure!(d.timeout_ms > 0, "dataplatform.timeout_ms must be positive");
        ensure!(
            d.max_backoff_ms >= d.initial_backoff_ms,
            "dataplatform.max_backoff_ms must be at least dataplatform.initial_backoff_ms"
        );
        ensure!(
            d.idle_poll_ms > 0,
            "dataplatform.idle_poll_ms must be positive"
        );
        Ok(())
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
            },
            holds: HoldPolicy {
                ttl_secs: self.holds.ttl_secs,
                max_per_user: self.holds.max_per_user,
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
            },
        }
    }

    pub fn admin_key(&self) -> Option<&str> {
        Some(self.admin.api_key.as_str()).filter(|k| !k.is_empty())
    }
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
}
