//! [`LockedStore`]: the "distributed lock around the transaction" strategy,
//! wrapping a store's booking port and nothing else. Holds take a lock
//! named for each seat, payments and cancellations one named for the fan's
//! balance, then run the wrapped store's transaction. It exists to be measured against the
//! conditional update (docs/concurrency.md): correctness never depends on
//! it, since the wrapped store is correct alone. Charges are in the
//! accounts port, which it does not wrap: they rely on the store's own
//! conditional update, as payments do under every other strategy.

use async_trait::async_trait;
use boxoffice_core::domain::idempotency::IdempotencyTicket;
use boxoffice_core::domain::reservation::Reservation;
use boxoffice_core::domain::seat_hold::{Hold, HoldExtension};
use boxoffice_core::domain::{HoldId, Timestamp, UserId};
use boxoffice_core::ports::{
    Booking, CancelAttempt, CancelOutcome, ExtendOutcome, HoldAttempt, HoldOutcome, Lock,
    LockLease, PaymentAttempt, PaymentOutcome, ReleaseOutcome, Unavailable,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a lock is leased: far longer than one transaction, short enough
/// that a crashed holder frees it soon.
const LEASE_MS: u64 = 5_000;

#[derive(Debug, Clone)]
pub struct LockedStore {
    inner: Arc<dyn Booking>,
    lock: Arc<dyn Lock>,
    /// How long to wait for a busy lock before giving up with `Unavailable`.
    wait: Duration,
}

impl LockedStore {
    pub fn new(inner: Arc<dyn Booking>, lock: Arc<dyn Lock>, wait: Duration) -> Self {
        Self { inner, lock, wait }
    }

    /// Waits for the lock, retrying with short, growing pauses.
    async fn acquire(&self, key: String) -> anyhow::Result<LockLease> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            if let Some(lease) = self.lock.try_acquire(&key, LEASE_MS).await? {
                return Ok(lease);
            }
            if started.elapsed() >= self.wait {
                return Err(Unavailable(format!("lock {key} busy for {:?}", self.wait)).into());
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    async fn release(&self, lease: LockLease) {
        if let Err(err) = self.lock.release(&lease).await {
            tracing::warn!(error = %err, key = lease.key, "lock not released; it expires by itself");
        }
    }
}

#[async_trait]
impl Booking for LockedStore {
    async fn hold_seat(&self, attempt: &HoldAttempt) -> anyhow::Result<HoldOutcome> {
        // A lock per seat of the basket, taken in ascending seat order (the
        // basket's), so baskets sharing seats never wait on each other in a
        // cycle.
        let mut leases = Vec::with_capacity(attempt.seats.len());
        for seat in attempt.seats.seats() {
            match self
                .acquire(format!("seat:{}:{seat}", attempt.schedule_id))
                .await
            {
                Ok(lease) => leases.push(lease),
                Err(err) => {
                    for lease in leases {
                        self.release(lease).await;
                    }
                    return Err(err);
                }
            }
        }
        let outcome = self.inner.hold_seat(attempt).await;
        for lease in leases {
            self.release(lease).await;
        }
        outcome
    }

    async fn confirm_payment(
        &self,
        attempt: &PaymentAttempt,
        ticket: Option<&IdempotencyTicket>,
    ) -> anyhow::Result<PaymentOutcome> {
        let lease = self.acquire(format!("balance:{}", attempt.user_id)).await?;
        let outcome = self.inner.confirm_payment(attempt, ticket).await;
        self.release(lease).await;
        outcome
    }

    async fn cancel_reservation(
        &self,
        attempt: &CancelAttempt,
        ticket: Option<&IdempotencyTicket>,
    ) -> anyhow::Result<CancelOutcome> {
        // A refund changes the balance, as a payment does.
        let lease = self.acquire(format!("balance:{}", attempt.user_id)).await?;
        let outcome = self.inner.cancel_reservation(attempt, ticket).await;
        self.release(lease).await;
        outcome
    }

    // The rest goes straight through: a release or a sweep only ends
    // holds, an extension changes a hold only if it is still as read, and
    // a read changes nothing.

    async fn release_hold(
        &self,
        user: UserId,
        hold: HoldId,
        now: Timestamp,
    ) -> anyhow::Result<ReleaseOutcome> {
        self.inner.release_hold(user, hold, now).await
    }
    async fn extend_hold(
        &self,
        user: UserId,
        hold: HoldId,
        now: Timestamp,
        extension: HoldExtension,
    ) -> anyhow::Result<ExtendOutcome> {
        self.inner.extend_hold(user, hold, now, extension).await
    }
    async fn live_holds_of(&self, user: UserId, now: Timestamp) -> anyhow::Result<Vec<Hold>> {
        self.inner.live_holds_of(user, now).await
    }
    async fn release_expired_holds(&self, now: Timestamp, limit: u32) -> anyhow::Result<u64> {
        self.inner.release_expired_holds(now, limit).await
    }
    async fn reservations_to_refund(&self, limit: u32) -> anyhow::Result<Vec<Reservation>> {
        self.inner.reservations_to_refund(limit).await
    }
    async fn reservations_of(&self, user: UserId) -> anyhow::Result<Vec<Reservation>> {
        self.inner.reservations_of(user).await
    }
}

#[cfg(test)]
mod contract {
    use super::LockedStore;
    use crate::testing::fresh_pg;
    use crate::{Concurrency, PgStore};
    use boxoffice_core::memory::MemoryLock;
    use boxoffice_core::ports::{Booking, Store};
    use std::sync::Arc;
    use std::time::Duration;

    async fn fresh() -> Arc<dyn Store> {
        Arc::new(
            PgStore::connect(&fresh_pg().await, Concurrency::Conditional)
                .await
                .unwrap_or_else(|e| panic!("{e:#}")),
        )
    }

    fn locked(store: Arc<dyn Store>) -> Arc<dyn Booking> {
        Arc::new(LockedStore::new(
            store,
            Arc::new(MemoryLock::default()),
            Duration::from_secs(5),
        ))
    }

    boxoffice_core::store_contract_tests!(fresh().await, booking = locked);
}
