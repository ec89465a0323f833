//! Instants as integer milliseconds since the Unix epoch.
//!
//! The domain never reads a clock: callers pass `now` in, which keeps every
//! rule deterministic and lets tests move time instead of sleeping.

use serde::{Deserialize, Serialize};

/// An instant, in milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    pub const fn plus_secs(self, secs: u64) -> Self {
        Self(self.0.saturating_add((secs as i64).saturating_mul(1000)))
    }

    pub const fn plus_millis(self, millis: i64) -> Self {
        Self(self.0.saturating_add(millis))
    }

    pub const fn minus_secs(self, secs: u64) -> Self {
        Self(self.0.saturating_sub((secs as i64).saturating_mul(1000)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_time_moves_the_instant() {
        let t = Timestamp::from_millis(10_000);
        assert_eq!(t.plus_secs(3).as_millis(), 13_000);
        assert_eq!(t.plus_millis(-1_000).as_millis(), 9_000);
        assert_eq!(t.minus_secs(4).as_millis(), 6_000);
    }
}
