//! Delivering relayed events to consumers that may fail: how long to wait
//! between attempts, when to give up, and what a given-up event (a dead
//! letter) records.

use super::Timestamp;
use super::events::OutboxEvent;

/// The consumer group that forwards confirmed reservations to the data platform.
pub const DATA_PLATFORM_CONSUMER: &str = "boxoffice.dataplatform";
/// The consumer group that places queue entries in line (`queue.entry = kafka`).
pub const QUEUE_ENTRY_CONSUMER: &str = "boxoffice.queue-entry";

/// How a consumer retries a failing event before dead-lettering it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; at least 1.
    pub max_attempts: u32,
    /// The wait after the first failure; it doubles after each further one.
    pub initial_backoff_ms: u64,
    /// The longest wait between two attempts.
    pub max_backoff_ms: u64,
    /// Failed attempts in a row, whatever their events, that open the
    /// circuit breaker: the platform is taken to be down.
    pub breaker_failures: u32,
    /// While the breaker is open, how often the platform is probed.
    pub probe_every_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            initial_backoff_ms: 200,
            max_backoff_ms: 30_000,
            breaker_failures: 5,
            probe_every_ms: 5_000,
        }
    }
}

impl RetryPolicy {
    /// Whether attempt number `attempt` (1-based) failing means giving up.
    pub fn gives_up_after(&self, attempt: u32) -> bool {
        attempt >= self.max_attempts.max(1)
    }

    /// The wait after failed attempt number `attempt` (1-based): exponential,
    /// capped, with "equal jitter" (half fixed, half drawn from `random`), so
    /// that consumers failing together do not retry together and no wait is
    /// shorter than half its nominal value.
    pub fn backoff_ms(&self, attempt: u32, random: u64) -> u64 {
        let doublings = attempt.saturating_sub(1).min(32);
        let nominal = self
            .initial_backoff_ms
            .saturating_mul(1_u64 << doublings)
            .min(self.max_backoff_ms);
        let half = nominal / 2;
        half + random % (nominal - half + 1)
    }
}

/// A consumer's circuit breaker: whether the platform is taken to be down.
///
/// Closed, it counts failed attempts in a row, whatever their events; at
/// [`RetryPolicy::breaker_failures`] it opens. Open, the consumer spends no
/// attempts and sends no event: each step, [`RetryPolicy::probe_every_ms`]
/// apart, probes the platform, and the first answered probe closes it. An
/// event is dead-lettered only on its last attempt with the platform
/// answering probes, so only a message that fails on its own (a poison
/// message) is, never the events of an outage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Breaker {
    failures_in_a_row: u32,
    open: bool,
}

impl Breaker {
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// The platform answered (a delivery or a probe): closed, counting afresh.
    pub fn answered(&mut self) {
        *self = Breaker::default();
    }

    /// A delivery failed; true when the breaker is open after it.
    pub fn failed(&mut self, policy: &RetryPolicy) -> bool {
        self.failures_in_a_row = self.failures_in_a_row.saturating_add(1);
        if self.failures_in_a_row >= policy.breaker_failures.max(1) {
            self.open = true;
        }
        self.open
    }

    /// A probe went unanswered: open.
    pub fn unanswered(&mut self) {
        self.open = true;
    }
}

/// Which dead letters a listing or a bulk replay takes; every field left
/// `None` matches all. Listings come newest first (`oldest_first` turns
/// them round), and `before_id` pages through a newest-first listing: the
/// next page starts below the last id of the previous one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterFilter {
    pub consumer: Option<String>,
    pub event_type: Option<String>,
    /// `Some(false)`: only letters waiting for a replay; `Some(true)`: only
    /// replayed ones.
    pub replayed: Option<bool>,
    /// Failed at or after this instant.
    pub failed_from: Option<Timestamp>,
    /// Failed before this instant.
    pub failed_before: Option<Timestamp>,
    /// Only letters with an id below this one.
    pub before_id: Option<i64>,
    /// Lowest id first, as a bulk replay takes them, so that a key's events
    /// go again in the order they were written.
    pub oldest_first: bool,
}

impl DeadLetterFilter {
    /// Whether `letter` is one this filter takes.
    pub fn matches(&self, letter: &DeadLetter) -> bool {
        self.consumer.as_ref().is_none_or(|c| *c == letter.consumer)
            && self
                .event_type
                .as_ref()
                .is_none_or(|t| *t == letter.event.event_type)
            && self
                .replayed
                .is_none_or(|r| r == letter.replayed_at.is_some())
            && self.failed_from.is_none_or(|t| letter.failed_at >= t)
            && self.failed_before.is_none_or(|t| letter.failed_at < t)
            && self.before_id.is_none_or(|id| letter.id < id)
    }
}

/// An event a consumer gave up on, kept until an operator replays it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub id: i64,
    pub consumer: String,
    pub event: OutboxEvent,
    pub attempts: u32,
    pub last_error: String,
    pub failed_at: Timestamp,
    /// Set once a replay delivered it.
    pub replayed_at: Option<Timestamp>,
}

/// A dead letter to record (the store assigns its id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeadLetter {
    pub consumer: String,
    pub event: OutboxEvent,
    pub attempts: u32,
    pub last_error: String,
    pub failed_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 5,
        initial_backoff_ms: 100,
        max_backoff_ms: 1_000,
        breaker_failures: 3,
        probe_every_ms: 2_000,
    };

    #[test]
    fn the_breaker_opens_on_failures_in_a_row_and_closes_when_answered() {
        let mut b = Breaker::default();
        assert!(!b.failed(&POLICY));
        assert!(!b.failed(&POLICY));
        // An answer in between counts afresh.
        b.answered();
        assert!(!b.failed(&POLICY));
        assert!(!b.failed(&POLICY));
        assert!(b.failed(&POLICY));
        assert!(b.is_open());
        b.answered();
        assert!(!b.is_open());
        // An unanswered probe opens it at once.
        b.unanswered();
        assert!(b.is_open());
    }

    #[test]
    fn waits_double_up_to_the_cap() {
        // With the largest draw, the wait is the nominal one.
        let top: Vec<u64> = (1..=6)
            .map(|a| POLICY.backoff_ms(a, u64::MAX - 1))
            .collect();
        assert!(top[0] <= 100 && top[0] >= 50);
        assert_eq!(POLICY.backoff_ms(4, 0), 400);
        assert_eq!(POLICY.backoff_ms(5, 0), 500);
        assert_eq!(POLICY.backoff_ms(6, 0), 500);
    }

    #[test]
    fn the_last_attempt_gives_up() {
        assert!(!POLICY.gives_up_after(4));
        assert!(POLICY.gives_up_after(5));
        let never_retry = RetryPolicy {
            max_attempts: 0,
            ..POLICY
        };
        assert!(never_retry.gives_up_after(1));
    }

    proptest! {
        #[test]
        fn a_wait_stays_between_half_and_all_of_its_nominal_value(
            attempt in 1u32..64, random in any::<u64>()
        ) {
            let nominal = (100u64.saturating_mul(1 << (attempt - 1).min(32))).min(1_000);
            let wait = POLICY.backoff_ms(attempt, random);
            prop_assert!(wait >= nominal / 2 && wait <= nominal);
        }
    }
}
