//! [`LockedStore`]: the "distributed lock around the transaction" strategy.
//! Holds take a lock named for the seat, payments and charges one named for
//! the user's balance, then run the wrapped store's transaction. It exists
//! to be measured against the conditional update (docs/concurrency.md):
//! correctness never depends on it, since the wrapped store is correct alone.

use async_trait::async_trait;
use boxoffice_core::domain::concert::{
    Concert, EntryRules, NewConcert, Schedule, ScheduleAvailability,
};
use boxoffice_core::domain::events::OutboxEvent;
use boxoffice_core::domain::idempotency::{ClaimOutcome, IdempotencyClaim, IdempotencyTicket};
use boxoffice_core::domain::identity::Subject;
use boxoffice_core::domain::reservation::Reservation;
use boxoffice_core::domain::room::{Flow, Room};
use boxoffice_core::domain::sample::{SaleSample, SeatTally};
use boxoffice_core::domain::seat::Seat;
use boxoffice_core::domain::{ConcertId, EventId, HoldId, ScheduleId, Timestamp, UserId, Won};
use boxoffice_core::ports::{
    ChargeAttempt, ChargeOutcome, HoldAttempt, HoldOutcome, Idempotency, Lock, LockLease, Outbox,
    OutboxBacklog, PaymentAttempt, PaymentOutcome, ReleaseOutcome, RoomChange, RoomSnapshot, Store,
    StoreAudit, Unavailable,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a lock is leased: far longer than one transaction, short enough
/// that a crashed holder frees it soon.
const LEASE_MS: u64 = 5_000;

#[derive(Debug, Clone)]
pub struct LockedStore {
    inner: Arc<dyn Store>,
    lock: Arc<dyn Lock>,
    /// How long to wait for a busy lock before giving up with `Unavailable`.
    wait: Duration,
}

impl LockedStore {
    pub fn new(inner: Arc<dyn Store>, lock: Arc<dyn Lock>, wait: Duration) -> Self {
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
impl Store for LockedStore {
    async fn hold_seat(&self, attempt: &HoldAttempt) -> anyhow::Result<HoldOutcome> {
        let key = format!("seat:{}:{}", attempt.schedule_id, attempt.seat_number);
        let lease = self.acquire(key).await?;
        let outcome = self.inner.hold_seat(attempt).await;
        self.release(lease).await;
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

    async fn charge_balance(
        &self,
        attempt: &ChargeAttempt,
        ticket: Option<&IdempotencyTicket>,
    ) -> anyhow::Result<ChargeOutcome> {
        let lease = self.acquire(format!("balance:{}", attempt.user_id)).await?;
        let outcome = self.inner.charge_balance(attempt, ticket).await;
        self.release(lease).await;
        outcome
    }

    // Everything else goes straight through.

    async fn list_concerts(&self) -> anyhow::Result<Vec<Concert>> {
        self.inner.list_concerts().await
    }
    async fn concert(&self, id: ConcertId) -> anyhow::Result<Option<Concert>> {
        self.inner.concert(id).await
    }
    async fn schedule(&self, id: ScheduleId) -> anyhow::Result<Option<Schedule>> {
        self.inner.schedule(id).await
    }
    async fn schedules_with_availability(
        &self,
        concert: ConcertId,
        now: Timestamp,
    ) -> anyhow::Result<Vec<ScheduleAvailability>> {
        self.inner.schedules_with_availability(concert, now).await
    }
    async fn seats(&self, schedule: ScheduleId, now: Timestamp) -> anyhow::Result<Vec<Seat>> {
        self.inner.seats(schedule, now).await
    }
    async fn create_concert(
        &self,
        concert: &NewConcert,
        now: Timestamp,
    ) -> anyhow::Result<ConcertId> {
        self.inner.create_concert(concert, now).await
    }
    async fn entry_rules(&self, concert: ConcertId) -> anyhow::Result<Option<EntryRules>> {
        self.inner.entry_rules(concert).await
    }
    async fn set_entry_rules(
        &self,
        concert: ConcertId,
        rules: &EntryRules,
    ) -> anyhow::Result<bool> {
        self.inner.set_entry_rules(concert, rules).await
    }
    async fn room(&self, concert: ConcertId) -> anyhow::Result<Option<RoomSnapshot>> {
        self.inner.room(concert).await
    }
    async fn update_room(
        &self,
        room: &Room,
        expected_version: i64,
        changes: &[RoomChange],
        event: &OutboxEvent,
    ) -> anyhow::Result<bool> {
        self.inner
            .update_room(room, expected_version, changes, event)
            .await
    }
    async fn room_audit(&self, concert: ConcertId, limit: u32) -> anyhow::Result<Vec<RoomChange>> {
        self.inner.room_audit(concert, limit).await
    }
    async fn record_draw(
        &self,
        concert: ConcertId,
        drawn: &[String],
        now: Timestamp,
        changes: &[RoomChange],
        event: &OutboxEvent,
    ) -> anyhow::Result<bool> {
        self.inner
            .record_draw(concert, drawn, now, changes, event)
            .await
    }
    async fn lottery(&self, concert: ConcertId) -> anyhow::Result<Option<Vec<String>>> {
        self.inner.lottery(concert).await
    }
    async fn record_flow(&self, concert: ConcertId, flow: &Flow) -> anyhow::Result<()> {
        self.inner.record_flow(concert, flow).await
    }
    async fn seat_tally(&self, concert: ConcertId, now: Timestamp) -> anyhow::Result<SeatTally> {
        self.inner.seat_tally(concert, now).await
    }
    async fn record_samples(
        &self,
        samples: &[SaleSample],
        keep_from: Timestamp,
    ) -> anyhow::Result<()> {
        self.inner.record_samples(samples, keep_from).await
    }
    async fn samples(
        &self,
        concert: ConcertId,
        since: Timestamp,
        limit: u32,
    ) -> anyhow::Result<Vec<SaleSample>> {
        self.inner.samples(concert, since, limit).await
    }
    async fn user_for_subject(&self, subject: &Subject) -> anyhow::Result<UserId> {
        self.inner.user_for_subject(subject).await
    }
    async fn signing_secret(&self, purpose: &str, candidate: &[u8]) -> anyhow::Result<Vec<u8>> {
        self.inner.signing_secret(purpose, candidate).await
    }
    async fn release_hold(
        &self,
        user: UserId,
        hold: HoldId,
        now: Timestamp,
    ) -> anyhow::Result<ReleaseOutcome> {
        self.inner.release_hold(user, hold, now).await
    }
    async fn release_expired_holds(&self, now: Timestamp, limit: u32) -> anyhow::Result<u64> {
        self.inner.release_expired_holds(now, limit).await
    }
    async fn balance(&self, user: UserId) -> anyhow::Result<Won> {
        self.inner.balance(user).await
    }
    async fn reservations_of(&self, user: UserId) -> anyhow::Result<Vec<Reservation>> {
        self.inner.reservations_of(user).await
    }
    async fn audit(&self) -> anyhow::Result<StoreAudit> {
        self.inner.audit().await
    }
    async fn ping(&self) -> anyhow::Result<()> {
        self.inner.ping().await
    }
}

/// Keys are claimed in their own statements, under no seat lock.
#[async_trait]
impl Idempotency for LockedStore {
    async fn claim_idempotency_key(
        &self,
        claim: &IdempotencyClaim,
    ) -> anyhow::Result<ClaimOutcome> {
        self.inner.claim_idempotency_key(claim).await
    }
    async fn finish_idempotency_key(
        &self,
        ticket: &IdempotencyTicket,
        response: &str,
    ) -> anyhow::Result<()> {
        self.inner.finish_idempotency_key(ticket, response).await
    }
    async fn abandon_idempotency_key(&self, ticket: &IdempotencyTicket) -> anyhow::Result<()> {
        self.inner.abandon_idempotency_key(ticket).await
    }
    async fn purge_idempotency_keys(&self, before: Timestamp) -> anyhow::Result<u64> {
        self.inner.purge_idempotency_keys(before).await
    }
}

/// The relay's claims take no lock: the store orders and leases them.
#[async_trait]
impl Outbox for LockedStore {
    async fn claim_unpublished(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> anyhow::Result<Vec<OutboxEvent>> {
        self.inner.claim_unpublished(now, lease_until, limit).await
    }
    async fn mark_published(&self, ids: &[EventId], now: Timestamp) -> anyhow::Result<()> {
        self.inner.mark_published(ids, now).await
    }
    async fn release_claims(&self, ids: &[EventId]) -> anyhow::Result<()> {
        self.inner.release_claims(ids).await
    }
    async fn outbox_backlog(&self) -> anyhow::Result<OutboxBacklog> {
        self.inner.outbox_backlog().await
    }
    async fn published_reservations_by_concert(&self) -> anyhow::Result<Vec<(ConcertId, u64)>> {
        self.inner.published_reservations_by_concert().await
    }
}

#[cfg(test)]
mod contract {
    use super::LockedStore;
    use crate::testing::fresh_pg;
    use crate::{Concurrency, PgStore};
    use boxoffice_core::memory::MemoryLock;
    use std::sync::Arc;
    use std::time::Duration;

    async fn fresh() -> Arc<LockedStore> {
        let pg = PgStore::connect(&fresh_pg().await, Concurrency::Conditional)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        Arc::new(LockedStore::new(
            Arc::new(pg),
            Arc::new(MemoryLock::default()),
            Duration::from_secs(5),
        ))
    }

    boxoffice_core::store_contract_tests!(fresh().await);
}
