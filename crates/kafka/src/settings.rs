//! What the Kafka adapters need to know; filled from the server's `[kafka]`
//! configuration section.

use boxoffice_core::domain::events::{
    BALANCE_CHARGED, QUEUE_ENTERED, RESERVATION_CANCELLED, RESERVATION_CONFIRMED, ROOM_CHANGED,
};
use rdkafka::ClientConfig;
use std::time::Duration;

/// A topic and how many partitions it is created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// `host:port[,host:port...]`.
    pub brokers: String,
    pub client_id: String,
    /// Prepended to consumer group ids.
    pub group_prefix: String,
    /// `ReservationConfirmed` and `ReservationCancelled` events, keyed by
    /// reservation id.
    pub reservation_confirmed: TopicSpec,
    /// `BalanceCharged` events, keyed by user id.
    pub balance_charged: TopicSpec,
    /// Queue entries, keyed by concert id so each concert's stay in order.
    pub queue_entered: TopicSpec,
    /// `RoomChanged` events, keyed by concert id.
    pub room_changed: TopicSpec,
    /// Partitions of each consumer group's dead-letter topic (`<group>.dlq`).
    pub dead_letter_partitions: i32,
    pub replication_factor: i32,
    /// How long the producer keeps trying to deliver one record before the
    /// relay gets an error (and keeps the event in the outbox).
    pub delivery_timeout: Duration,
    /// librdkafka's `batch.num.messages`: records per produce request.
    pub batch_num_messages: u32,
    /// How long a consumer waits for a record before reporting none.
    pub poll_wait: Duration,
    /// librdkafka `fetch.wait.max.ms`.
    pub fetch_wait_max: Duration,
    pub session_timeout: Duration,
    /// librdkafka properties set on every client: security (TLS, SASL).
    pub client_properties: ClientProperties,
}

/// librdkafka properties by name; `Debug` hides the values of secrets.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ClientProperties(pub Vec<(String, String)>);

impl std::fmt::Debug for ClientProperties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in &self.0 {
            let secret = name.contains("password") || name.contains("secret");
            map.entry(name, if secret { &"***" } else { value });
        }
        map.finish()
    }
}

impl KafkaSettings {
    /// The topic an event type is published to.
    pub fn topic_for(&self, event_type: &str) -> Option<&str> {
        match event_type {
            // A reservation's events share its topic and key, so they
            // reach a consumer in order (decision 0016).
            RESERVATION_CONFIRMED | RESERVATION_CANCELLED => Some(&self.reservation_confirmed.name),
            BALANCE_CHARGED => Some(&self.balance_charged.name),
            QUEUE_ENTERED => Some(&self.queue_entered.name),
            ROOM_CHANGED => Some(&self.room_changed.name),
            _ => None,
        }
    }

    /// The dead-letter topic of a consumer group.
    pub fn dead_letter_topic(consumer: &str) -> String {
        format!("{consumer}.dlq")
    }

    pub(crate) fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.client_id)
            // librdkafka may otherwise resolve a name to an address family
            // the broker does not listen on.
            .set("broker.address.family", "v4");
        for (name, value) in &self.client_properties.0 {
            config.set(name, value);
        }
        config
    }
}
