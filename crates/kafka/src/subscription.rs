//! [`KafkaSubscription`]: one consumer group on one topic, with offsets
//! committed by hand after processing, never automatically: a consumer
//! that dies mid-event leaves it uncommitted and the group gets it again.

use crate::detached::Detached;
use crate::record;
use crate::settings::KafkaSettings;
use crate::stats::{self, Stats};
use anyhow::Context;
use async_trait::async_trait;
use boxoffice_core::ports::{Received, Subscription};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};

pub struct KafkaSubscription {
    consumer: Detached<StreamConsumer<Stats>>,
    topic: String,
    poll_wait: std::time::Duration,
}

impl std::fmt::Debug for KafkaSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSubscription")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl KafkaSubscription {
    /// Joins consumer group `group` (after the configured prefix) reading
    /// `topic`. A group with no committed offset starts at the earliest record.
    pub fn new(settings: &KafkaSettings, group: &str, topic: &str) -> anyhow::Result<Self> {
        let group_id = format!("{}{group}", settings.group_prefix);
        let consumer: StreamConsumer<Stats> = settings
            .client_config()
            .set("group.id", &group_id)
            .set("statistics.interval.ms", stats::INTERVAL_MS.to_string())
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set(
                "fetch.wait.max.ms",
                settings.fetch_wait_max.as_millis().to_string(),
            )
            .set(
                "session.timeout.ms",
                settings.session_timeout.as_millis().to_string(),
            )
            .create_with_context(Stats::consumer(&group_id))
            .context("creating the Kafka consumer")?;
        consumer
            .subscribe(&[topic])
            .with_context(|| format!("subscribing to {topic}"))?;
        Ok(Self {
            consumer: Detached::new(consumer, "kafka-consumer"),
            topic: topic.to_owned(),
            poll_wait: settings.poll_wait,
        })
    }
}

#[async_trait]
impl Subscription for KafkaSubscription {
    async fn next(&mut self) -> anyhow::Result<Option<Received>> {
        loop {
            let message = match tokio::time::timeout(self.poll_wait, self.consumer.recv()).await {
                Err(_) => return Ok(None),
                Ok(message) => message.context("receiving from Kafka")?,
            };
            match record::event(&message) {
                Ok(event) => {
                    return Ok(Some(Received {
                        event,
                        topic: message.topic().to_owned(),
                        partition: message.partition(),
                        offset: message.offset(),
                    }));
                }
                Err(err) => {
                    // Not an event this service wrote: nothing can process
                    // it, so it is logged and passed over.
                    tracing::warn!(
                        topic = message.topic(),
                        partition = message.partition(),
                        offset = message.offset(),
                        error = %err,
                        "skipping a record that is not a boxoffice event"
                    );
                    let skipped = TopicPartitionList::from_topic_map(
                        &[(
                            (message.topic().to_owned(), message.partition()),
                            Offset::Offset(message.offset() + 1),
                        )]
                        .into_iter()
                        .collect(),
                    )?;
                    self.consumer.commit(&skipped, CommitMode::Async)?;
                }
            }
        }
    }

    async fn commit(&mut self, received: &Received) -> anyhow::Result<()> {
        let mut done = TopicPartitionList::new();
        done.add_partition_offset(
            &received.topic,
            received.partition,
            Offset::Offset(received.offset + 1),
        )?;
        self.consumer
            .commit(&done, CommitMode::Async)
            .context("committing a Kafka offset")
    }
}
