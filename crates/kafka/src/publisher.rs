//! [`KafkaPublisher`]: the relay's event bus on Kafka.
//!
//! The producer is idempotent with `acks=all`, so a retried send never
//! duplicates or reorders records within a partition, and `publish` returns
//! only once the brokers have the record: the relay then marks the event
//! published. Any failure leaves it in the outbox.
//!
//! Two failures need more than a retry:
//! - When the producer's identity is no longer accepted (librdkafka reports
//!   a fatal error, or the broker answers ProducerFenced, an epoch or
//!   sequence error), every later send would fail the same way. This can
//!   happen after records timed out during a broker outage. The producer is
//!   then rebuilt, and the new one gets a new producer id.
//! - A topic the broker does not know is created again before the event is
//!   retried.

use crate::detached::Detached;
use crate::record::{self, DEAD_LETTER_ERROR};
use crate::settings::KafkaSettings;
use crate::stats::{self, Stats};
use crate::topics::ensure_topics;
use anyhow::{Context, anyhow};
use async_trait::async_trait;
use boxoffice_core::domain::events::{EventTrace, OutboxEvent};
use boxoffice_core::ports::EventBus;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Header;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use std::sync::{Arc, RwLock};

/// The relay's producer, closed on a thread of its own when dropped.
type Producer = Detached<FutureProducer<Stats>>;

#[derive(Clone)]
pub struct KafkaPublisher {
    settings: Arc<KafkaSettings>,
    /// The producer, numbered so that concurrent failures rebuild it once.
    producer: Arc<RwLock<(u64, Arc<Producer>)>>,
    /// Consumer groups whose dead-letter topics are (re)created with the rest.
    consumers: Arc<Vec<&'static str>>,
}

impl std::fmt::Debug for KafkaPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaPublisher")
            .field("brokers", &self.settings.brokers)
            .finish_non_exhaustive()
    }
}

fn producer(settings: &KafkaSettings) -> anyhow::Result<Arc<Producer>> {
    let producer = settings
        .client_config()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set(
            "message.timeout.ms",
            settings.delivery_timeout.as_millis().to_string(),
        )
        .set(
            "batch.num.messages",
            settings.batch_num_messages.to_string(),
        )
        .set("linger.ms", "1")
        .set("statistics.interval.ms", stats::INTERVAL_MS.to_string())
        .create_with_context(Stats::producer())
        .context("creating the Kafka producer")?;
    Ok(Arc::new(Detached::new(producer, "kafka-producer")))
}

impl KafkaPublisher {
    /// A publisher; `consumers` names the groups whose dead-letter topics it writes.
    pub fn new(settings: KafkaSettings, consumers: Vec<&'static str>) -> anyhow::Result<Self> {
        let producer = producer(&settings)?;
        Ok(Self {
            settings: Arc::new(settings),
            producer: Arc::new(RwLock::new((0, producer))),
            consumers: Arc::new(consumers),
        })
    }

    fn current(&self) -> (u64, Arc<Producer>) {
        self.producer
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces producer number `generation` after `err`, if `err` says its
    /// identity is spent; a producer another send already replaced is left.
    fn renew_if_spent(&self, generation: u64, used: &FutureProducer<Stats>, err: &KafkaError) {
        let fatal = used.client().fatal_error();
        if fatal.is_none() && !identity_refused(err) {
            return;
        }
        let mut current = self
            .producer
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.0 != generation {
            return;
        }
        tracing::warn!(error = %err, ?fatal, "Kafka producer identity refused; creating a new producer");
        match producer(&self.settings) {
            Ok(fresh) => *current = (generation + 1, fresh),
            Err(create) => tracing::warn!(error = %create, "could not create a new Kafka producer"),
        }
    }

    async fn send(
        &self,
        topic: &str,
        event: &OutboxEvent,
        extra: Option<(&str, &str)>,
    ) -> anyhow::Result<()> {
        let (generation, producer) = self.current();
        // An event that skipped the outbox (a queue entry) takes the trace
        // of the request that sends it.
        let traced;
        let event = match (&event.trace, boxoffice_trace::current()) {
            (None, Some(context)) => {
                traced = OutboxEvent {
                    trace: Some(EventTrace {
                        traceparent: context.traceparent.to_string(),
                        request_id: context.request_id,
                    }),
                    ..event.clone()
                };
                &traced
            }
            _ => event,
        };
        let mut headers = record::headers(event);
        if let Some((key, value)) = extra {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        let record = FutureRecord::to(topic)
            .key(&event.aggregate_key)
            .payload(&event.payload)
            .headers(headers);
        match producer.send(record, self.settings.delivery_timeout).await {
            Ok(_) => Ok(()),
            Err((err, _)) => {
                self.renew_if_spent(generation, &producer, &err);
                if is_unknown_topic(&err) {
                    // A broker that lost its topics; the next relay step retries.
                    let consumers: Vec<&str> = self.consumers.iter().copied().collect();
                    if let Err(create) = ensure_topics(&self.settings, &consumers).await {
                        tracing::warn!(error = %create, "could not re-create Kafka topics");
                    }
                }
                Err(anyhow!(err).context(format!("publishing event {} to {topic}", event.id)))
            }
        }
    }
}

/// Errors after which this producer id will never be accepted again.
fn identity_refused(err: &KafkaError) -> bool {
    matches!(
        err.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::InvalidProducerEpoch
                | RDKafkaErrorCode::OutOfOrderSequenceNumber
                | RDKafkaErrorCode::UnknownProducerId
                | RDKafkaErrorCode::InvalidProducerIdMapping
                | RDKafkaErrorCode::Fatal
        )
    )
}

fn is_unknown_topic(err: &KafkaError) -> bool {
    matches!(
        err.rdkafka_error_code(),
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic)
    )
}

#[async_trait]
impl EventBus for KafkaPublisher {
    async fn publish(&self, event: &OutboxEvent) -> anyhow::Result<()> {
        let topic = self
            .settings
            .topic_for(&event.event_type)
            .ok_or_else(|| anyhow!("no topic for event type {}", event.event_type))?
            .to_owned();
        self.send(&topic, event, None).await
    }

    async fn publish_dead_letter(
        &self,
        consumer: &str,
        event: &OutboxEvent,
        error: &str,
    ) -> anyhow::Result<()> {
        let topic = KafkaSettings::dead_letter_topic(consumer);
        self.send(&topic, event, Some((DEAD_LETTER_ERROR, error)))
            .await
    }
}
