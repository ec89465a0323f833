//! [`Detached`]: a librdkafka client whose destruction never blocks the
//! caller.
//!
//! Dropping a librdkafka client is a blocking call: a producer flushes for
//! up to half a second, and a group consumer closes by leaving its group,
//! which waits on the broker and, after a connection was lost and
//! re-established mid-rebalance, can wait for ever (rust-rdkafka issue
//! #509, librdkafka issues #1002 and #1376). Dropped inside a Tokio task or
//! at the end of a test, that stalls a runtime worker or the whole
//! shutdown. A [`Detached`] client is handed to a thread of its own when
//! dropped instead; the process never waits for it, and a close that takes
//! long is logged.

use std::ops::Deref;
use std::time::{Duration, Instant};

/// How long a close may take before it is reported as stuck.
const SLOW_CLOSE: Duration = Duration::from_secs(10);

pub(crate) struct Detached<T: Send + 'static> {
    client: Option<T>,
    what: &'static str,
}

impl<T: Send + 'static> Detached<T> {
    /// `what` names the client in the log line of a slow close.
    pub(crate) fn new(client: T, what: &'static str) -> Self {
        Self {
            client: Some(client),
            what,
        }
    }
}

impl<T: Send + 'static> Deref for Detached<T> {
    type Target = T;

    // The client is only taken in `drop`, after which nothing can deref.
    #[allow(clippy::expect_used)]
    fn deref(&self) -> &T {
        self.client
            .as_ref()
            .expect("a detached client is only taken when dropped")
    }
}

impl<T: Send + 'static> Drop for Detached<T> {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let what = self.what;
        let closing = std::thread::Builder::new()
            .name(format!("close-{what}"))
            .spawn(move || {
                let started = Instant::now();
                let watchdog = std::thread::spawn(move || {
                    std::thread::park_timeout(SLOW_CLOSE);
                    if started.elapsed() >= SLOW_CLOSE {
                        tracing::warn!(client = what, "a Kafka client is still closing after 10 s; the process does not wait for it");
                    }
                });
                drop(client);
                watchdog.thread().unpark();
            });
        if let Err(err) = closing {
            // No thread to spare: close here, blocking, rather than leak.
            tracing::warn!(client = what, error = %err, "closing a Kafka client on the calling thread");
        }
    }
}
