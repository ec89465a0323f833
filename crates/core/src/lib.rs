//! boxoffice-core: the rules of selling concert seats through a waiting room,
//! independent of any database, cache, broker or web framework.
//!
//! Layout:
//! - [`domain`]: pure values and rules (tokens, seats, holds, money, events).
//! - [`ports`]: the traits the outside world implements (`Store`,
//!   `WaitingRoom`, `Ranking`, `EventBus`, `Clock`, `Entropy`).
//! - [`use_cases`]: [`use_cases::App`], one file per thing a user or operator does.
//! - [`memory`]: in-process adapters (the embedded mode's waiting room,
//!   ranking and bus; a memory store for tests) and the system clock/CSPRNG.
//! - `testing` (tests and the `testing` feature): manual clock, fixtures and
//!   the contract suites every adapter must pass.

pub mod domain;
pub mod memory;
pub mod ports;
pub mod use_cases;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(test)]
mod contract {
    use crate::memory::{MemoryStore, MemoryWaitingRoom};
    use std::sync::Arc;

    mod store {
        use super::*;

        /// What the HTTP layer's trace scope holds, as the SQL store reads it.
        fn request_trace() -> Option<crate::domain::events::EventTrace> {
            boxoffice_trace::current().map(|c| crate::domain::events::EventTrace {
                traceparent: c.traceparent.to_string(),
                request_id: c.request_id,
            })
        }

        crate::store_contract_tests!(Arc::new(MemoryStore::with_traces(request_trace)));
    }

    mod delivery {
        use super::*;
        crate::delivery_contract_tests!(Arc::new(MemoryStore::default()));
    }

    mod cache {
        use super::*;
        crate::cache_contract_tests!(Arc::new(crate::memory::MemoryCache::default()));
    }

    mod lock {
        use super::*;
        crate::lock_contract_tests!(Arc::new(crate::memory::MemoryLock::default()));
    }

    mod ranking {
        use super::*;
        crate::ranking_contract_tests!(Arc::new(crate::memory::MemoryRanking::default()));
    }

    mod single_use {
        use super::*;
        crate::single_use_contract_tests!(Arc::new(crate::memory::MemorySingleUse::default()));
    }

    mod waiting_room {
        use super::*;
        crate::waiting_room_contract_tests!(Arc::new(MemoryWaitingRoom::default()));
    }
}
