//! In-process adapters: the embedded default's waiting room, ranking and
//! event bus, and a store kept in memory. They are real implementations held
//! to the same contract suites as the SQL and Redis adapters; the embedded
//! mode runs on the first three, tests run the use cases on all four.
//!
//! Layout:
//! - [`waiting_room`]: [`MemoryWaitingRoom`], with an order-statistics index for positions.
//! - [`cache`]: [`MemoryCache`], entries with expiry.
//! - [`lock`]: [`MemoryLock`], leases within one process.
//! - [`single_use`]: [`MemorySingleUse`], marks that something happened once.
//! - [`ranking`]: the popular-concert counts ([`MemoryRanking`]).
//! - [`bus`]: [`LocalBus`], delivering relayed events to in-process handlers
//!   and onward; [`InboxSubscription`], a consumer group on the [`Inbox`](crate::ports::Inbox).
//! - [`store`]: the whole store in memory ([`MemoryStore`]), with the
//!   delivery ledger and inbox.
//! - [`system`]: [`SystemClock`] and [`OsEntropy`], the real clock and CSPRNG.
//! - [`in_process_app`]: the application assembled on these adapters.

pub mod bus;
pub mod cache;
pub mod lock;
pub mod ranking;
pub mod single_use;
pub mod store;
pub mod system;
pub mod waiting_room;

pub use bus::{InboxSubscription, LocalBus, Onward};
pub use cache::MemoryCache;
pub use lock::MemoryLock;
pub use ranking::MemoryRanking;
pub use single_use::MemorySingleUse;
pub use store::MemoryStore;
pub use system::{OsEntropy, SystemClock};
pub use waiting_room::MemoryWaitingRoom;

/// Locks a mutex, recovering the data if a panicking thread poisoned it: every
/// critical section here leaves the state consistent before anything can panic.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

use crate::ports::{Clock, DeliveryLedger, Store};
use crate::use_cases::{Adapters, App, Policies};
use std::sync::Arc;

/// The application on `store` and `ledger` with everything else in process
/// and no data platform: the assembly use-case tests run on.
pub fn in_process_app(
    store: Arc<dyn Store>,
    ledger: Arc<dyn DeliveryLedger>,
    clock: Arc<dyn Clock>,
    policies: Policies,
) -> App {
    let waiting_room = Arc::new(MemoryWaitingRoom::default());
    let ranking = Arc::new(MemoryRanking::default());
    let bus = Arc::new(LocalBus::new(
        ranking.clone(),
        waiting_room.clone(),
        clock.clone(),
        policies.queue,
    ));
    App::new(
        Adapters {
            booking: store.clone(),
            store,
            waiting_room,
            ranking,
            bus,
            ledger,
            queue_entries: None,
            data_platform: None,
            lock: Arc::new(MemoryLock::default()),
            single_use: Arc::new(MemorySingleUse::default()),
            cache: Arc::new(MemoryCache::default()),
            clock,
            entropy: Arc::new(OsEntropy),
        },
        policies,
    )
}
