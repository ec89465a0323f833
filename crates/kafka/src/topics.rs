//! Creating the topics boxoffice uses, with their partition counts. Brokers
//! need not auto-create topics (many production clusters forbid it), so the
//! service creates what it needs at start-up; a topic that exists is left
//! as it is.

use crate::detached::Detached;
use crate::settings::{KafkaSettings, TopicSpec};
use anyhow::{Context, bail};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

/// Every topic: the event topics, queue entries, and a dead-letter topic
/// per consumer group in `consumers`.
pub fn topic_specs(settings: &KafkaSettings, consumers: &[&str]) -> Vec<TopicSpec> {
    let mut specs = vec![
        settings.reservation_confirmed.clone(),
        settings.balance_charged.clone(),
        settings.queue_entered.clone(),
        settings.room_changed.clone(),
    ];
    specs.extend(consumers.iter().map(|c| TopicSpec {
        name: KafkaSettings::dead_letter_topic(c),
        partitions: settings.dead_letter_partitions,
    }));
    specs
}

/// Creates the topics that do not exist yet.
pub async fn ensure_topics(settings: &KafkaSettings, consumers: &[&str]) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = settings
        .client_config()
        .create()
        .context("creating the Kafka admin client")?;
    let admin = Detached::new(admin, "kafka-admin");
    let specs = topic_specs(settings, consumers);
    let topics: Vec<NewTopic<'_>> = specs
        .iter()
        .map(|t| {
            NewTopic::new(
                &t.name,
                t.partitions,
                TopicReplication::Fixed(settings.replication_factor),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(settings.delivery_timeout));
    let results = admin
        .create_topics(&topics, &options)
        .await
        .context("creating Kafka topics")?;
    for result in results {
        match result {
            Ok(name) => tracing::info!(topic = name, "created Kafka topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => bail!("could not create Kafka topic {name}: {code}"),
        }
    }
    Ok(())
}
