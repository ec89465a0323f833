//! [`Stats`]: the client context every producer and consumer is made with.
//! librdkafka hands it its statistics every [`INTERVAL_MS`]; it turns them
//! into the metrics an operator watches during a sale:
//!
//! - `boxoffice_kafka_producer_queue_messages`: records waiting in the
//!   producer's queue for the brokers;
//! - `boxoffice_kafka_producer_errors_total`: failed produce requests
//!   (the sum of every broker's `txerrs`, since the producer was made);
//! - `boxoffice_kafka_consumer_lag{group,topic,partition}`: records a
//!   group's member has yet to read of each partition it owns.

use rdkafka::ClientContext;
use rdkafka::consumer::ConsumerContext;
use rdkafka::statistics::Statistics;

/// How often librdkafka reports (`statistics.interval.ms`).
pub(crate) const INTERVAL_MS: u64 = 1_000;

/// A client's context: which consumer group it reads for, if any.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    group: Option<String>,
}

impl Stats {
    pub(crate) fn producer() -> Self {
        Self { group: None }
    }

    pub(crate) fn consumer(group: &str) -> Self {
        Self {
            group: Some(group.to_owned()),
        }
    }
}

impl ClientContext for Stats {
    fn stats(&self, statistics: Statistics) {
        match &self.group {
            None => {
                metrics::gauge!("boxoffice_kafka_producer_queue_messages")
                    .set(statistics.msg_cnt as f64);
                let errors: u64 = statistics.brokers.values().map(|b| b.txerrs).sum();
                metrics::counter!("boxoffice_kafka_producer_errors_total").absolute(errors);
            }
            Some(group) => {
                for (topic, t) in &statistics.topics {
                    for (partition, p) in &t.partitions {
                        // -1: not known yet; the internal partition -1 is not one.
                        if p.partition < 0 || p.consumer_lag < 0 {
                            continue;
                        }
                        metrics::gauge!(
                            "boxoffice_kafka_consumer_lag",
                            "group" => group.clone(),
                            "topic" => topic.clone(),
                            "partition" => partition.to_string(),
                        )
                        .set(p.consumer_lag as f64);
                    }
                }
            }
        }
    }
}

impl ConsumerContext for Stats {}
