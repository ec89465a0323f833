//! The real clock and the operating system's CSPRNG.

use crate::domain::Timestamp;
use crate::ports::{Clock, Entropy};
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp::from_millis(millis)
    }
}

/// Bytes from the operating system's CSPRNG (getrandom).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, buf: &mut [u8]) {
        // The OS generator failing means the machine cannot make secrets at
        // all; carrying on with predictable tokens would be worse than stopping.
        #[allow(clippy::expect_used)]
        getrandom::fill(buf).expect("the operating system's random generator failed");
    }
}
