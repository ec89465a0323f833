//! A sale's figures at one instant, as the operator's console charts them
//! over time: the line, the ACTIVE fans, the seats and the money taken.

use super::{ConcertId, Timestamp, Won};

/// The concert's seats at an instant, over all its dates, and what its
/// sold seats brought in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeatTally {
    /// Free, or held by a hold that has ended.
    pub available: u64,
    /// Under a live hold.
    pub held: u64,
    pub sold: u64,
    /// What the concert's reservations brought in: the prices of the
    /// confirmed ones and the fees kept on the cancelled ones.
    pub revenue: Won,
}

/// One sample of a concert's sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaleSample {
    pub concert: ConcertId,
    pub at: Timestamp,
    pub pre_queued: u64,
    pub waiting: u64,
    pub active: u64,
    /// Fans admitted since the room began counting: the console charts its
    /// differences as admissions per minute.
    pub admitted_total: u64,
    pub seats: SeatTally,
}

/// How often the sales are sampled, and how long samples are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SamplePolicy {
    pub interval_secs: u64,
    pub retention_secs: u64,
}

impl Default for SamplePolicy {
    fn default() -> Self {
        Self {
            interval_secs: 10,
            retention_secs: 7 * 24 * 3600,
        }
    }
}

impl SamplePolicy {
    /// The sampling slot `now` falls in: samples are claimed once per slot
    /// cluster-wide.
    pub fn slot_at(&self, now: Timestamp) -> i64 {
        now.as_millis().div_euclid(self.interval_ms())
    }

    /// Samples taken before this instant are deleted.
    pub fn keep_from(&self, now: Timestamp) -> Timestamp {
        let retention_ms =
            i64::try_from(self.retention_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        Timestamp::from_millis(now.as_millis().saturating_sub(retention_ms))
    }

    pub fn interval_ms(&self) -> i64 {
        i64::try_from(self.interval_secs.max(1).saturating_mul(1000)).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_within_one_interval_share_a_slot_and_the_next_interval_starts_a_new_one() {
        let policy = SamplePolicy {
            interval_secs: 10,
            retention_secs: 60,
        };
        let slot = policy.slot_at(Timestamp::from_millis(1_000_000));
        assert_eq!(policy.slot_at(Timestamp::from_millis(1_009_999)), slot);
        assert_eq!(policy.slot_at(Timestamp::from_millis(1_010_000)), slot + 1);
    }

    #[test]
    fn samples_older_than_the_retention_are_let_go() {
        let policy = SamplePolicy {
            interval_secs: 10,
            retention_secs: 60,
        };
        assert_eq!(
            policy.keep_from(Timestamp::from_millis(100_000)),
            Timestamp::from_millis(40_000)
        );
        assert_eq!(
            policy.keep_from(Timestamp::from_millis(10)),
            Timestamp::from_millis(-59_990)
        );
    }
}
