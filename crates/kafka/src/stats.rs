//! [`Stats`]: the client context every producer and consumer is made with.
//! librdkafka hands it its statistics every [`INTERVAL_MS`]; it turns them
//! into the metrics an operator watches during a sale:
//!
//! - `boxoffice_kafka_producer_queue_messages`: records waiting in the
//!   producer's queue for the brokers;
//! - `boxoffice_kafka_producer_errors_total`: failed produce requests
//!   (every broker's `txerrs`, counted by their growth between reports);
//! - `boxoffice_kafka_consumer_lag{group,topic,partition}`: records a
//!   group's member has yet to read of each partition it owns (0 once it
//!   no longer owns one).

use rdkafka::ClientContext;
use rdkafka::consumer::ConsumerContext;
use rdkafka::statistics::Statistics;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// How often librdkafka reports (`statistics.interval.ms`).
pub(crate) const INTERVAL_MS: u64 = 1_000;

/// A client's context: which consumer group it reads for, if any, and
/// what it reported last.
#[derive(Debug, Default)]
pub struct Stats {
    group: Option<String>,
    /// The producer's failed requests at the last report, so that the
    /// counter grows by the difference (a rebuilt producer starts at 0).
    tx_errors: AtomicU64,
    /// The partitions the last report gave a lag for: one this member no
    /// longer owns is set to 0 here (its new owner reports it).
    owned: Mutex<BTreeSet<(String, i32)>>,
}

impl Stats {
    pub(crate) fn producer() -> Self {
        Self::default()
    }

    pub(crate) fn consumer(group: &str) -> Self {
        Self {
            group: Some(group.to_owned()),
            ..Self::default()
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
                let before = self.tx_errors.swap(errors, Ordering::Relaxed);
                metrics::counter!("boxoffice_kafka_producer_errors_total")
                    .increment(errors.saturating_sub(before));
            }
            Some(group) => {
                let lag = |topic: &str, partition: i32| {
                    metrics::gauge!(
                        "boxoffice_kafka_consumer_lag",
                        "group" => group.clone(),
                        "topic" => topic.to_owned(),
                        "partition" => partition.to_string(),
                    )
                };
                let mut now = BTreeSet::new();
                for (topic, t) in &statistics.topics {
                    for p in t.partitions.values() {
                        // -1: not known yet; the internal partition -1 is not one.
                        if p.partition < 0 || p.consumer_lag < 0 {
                            continue;
                        }
                        lag(topic, p.partition).set(p.consumer_lag as f64);
                        now.insert((topic.clone(), p.partition));
                    }
                }
                let mut owned = self.owned.lock().unwrap_or_else(PoisonError::into_inner);
                for (topic, partition) in owned.difference(&now) {
                    lag(topic, *partition).set(0.0);
                }
                *owned = now;
            }
        }
    }
}

impl ConsumerContext for Stats {}
