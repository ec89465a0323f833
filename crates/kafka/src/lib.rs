//! boxoffice-kafka: the event bus on Kafka. rdkafka lives only here.
//!
//! - [`KafkaPublisher`]: the outbox relay's `EventBus`. An idempotent
//!   producer with `acks=all`; each event goes to its type's topic, keyed by
//!   its aggregate id, with its id, type, schema version and creation time in
//!   headers. Dead letters go to `<consumer group>.dlq`.
//! - [`KafkaSubscription`]: one consumer group's `Subscription`, committing
//!   offsets by hand once an event is processed.
//! - [`ensure_topics`]: creates the configured topics at start-up (and again
//!   if a broker lost them).
//!
//! Layout: `settings` (what is configurable), `record` (events to and from
//! Kafka records), `topics`, `publisher`, `subscription`, `stats` (the
//! clients' statistics as metrics: producer queue and errors, consumer lag), and `detached`
//! (clients closed on a thread of their own, since a librdkafka close can
//! block for ever).

mod detached;
mod publisher;
mod record;
mod settings;
mod stats;
mod subscription;
mod topics;

pub use detached::finish_closing;
pub use publisher::KafkaPublisher;
pub use settings::{ClientProperties, KafkaSettings, TopicSpec};
pub use subscription::KafkaSubscription;
pub use topics::ensure_topics;
