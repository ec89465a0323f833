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
//! dropped instead, and a close that takes long is logged. A stopping
//! service waits a bounded time for those threads ([`finish_closing`]).

use std::ops::Deref;
use std::sync::Mutex;
use std::thread::JoinHandle;
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
        let (closed, watched) = std::sync::mpsc::channel::<()>();
        let closing = std::thread::Builder::new()
            .name(format!("close-{what}"))
            .spawn(move || {
                let watchdog = std::thread::spawn(move || {
                    if watched.recv_timeout(SLOW_CLOSE).is_err() {
                        tracing::warn!(client = what, "a Kafka client is still closing after 10 s");
                    }
                });
                drop(client);
                let _ = closed.send(());
                let _ = watchdog.join();
            });
        match closing {
            Ok(thread) => lock_closing().push(thread),
            // The closure, and the client in it, were dropped by the
            // failed spawn: closed on this thread, blocking.
            Err(err) => {
                tracing::warn!(client = what, error = %err, "no thread to close a Kafka client on: it was closed on the calling thread")
            }
        }
    }
}

/// Closes still running, for [`finish_closing`].
static CLOSING: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

fn lock_closing() -> std::sync::MutexGuard<'static, Vec<JoinHandle<()>>> {
    CLOSING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits up to `within` for the Kafka clients dropped so far to finish
/// closing (a consumer's last commits and its leave from the group), so that
/// a stopping service does not cut them off; returns how many are still
/// closing then. Blocks: call it from a blocking context.
pub fn finish_closing(within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let mut closing = lock_closing();
        closing.retain(|thread| !thread.is_finished());
        if closing.is_empty() || Instant::now() >= deadline {
            return closing.len();
        }
        drop(closing);
        std::thread::sleep(Duration::from_millis(20));
    }
}
