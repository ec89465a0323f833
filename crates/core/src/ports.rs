//! The ports: what the use cases need from the outside world, cut at
//! transaction boundaries and named for their role. Adapters live elsewhere
//! (`memory` in this crate; SQL in `boxoffice-store`).
//!
//! Expected results of a step, including losing a race, are values
//! (`HoldOutcome::SeatTaken`); `Err` means something broke. An adapter that
//! cannot reach its backing service wraps the cause in [`Unavailable`] so the
//! API can answer 503 rather than 500.

use crate::domain::delivery::{DeadLetter, DeadLetterFilter, NewDeadLetter};
use crate::domain::events::OutboxEvent;
use crate::domain::queue_token::{Lane, QueuePolicy, QueueToken, Rejoin};
use crate::domain::{ConcertId, EventId, Timestamp, TokenId, UserId, Won};
use async_trait::async_trait;
use serde::Serialize;

mod accounts;
mod booking;
mod catalog;
mod idempotency;
mod identity;
mod outbox;
mod rooms;
mod waitlist;
pub use accounts::{Accounts, ChargeAttempt, ChargeOutcome, ChargeReceipt, ChargeRefused};
pub use booking::{
    Booking, CancelAttempt, CancelOutcome, CancelRefused, CancellationReceipt, ExtendOutcome,
    HoldAttempt, HoldOutcome, PaymentAttempt, PaymentOutcome, PaymentRefused, ReleaseOutcome,
    SaleIds,
};
pub use catalog::{CancelDatesOutcome, Catalog, UpdateConcertOutcome};
pub use idempotency::Idempotency;
pub use identity::Identity;
pub use outbox::{Outbox, OutboxBacklog};
pub use rooms::{RoomChange, RoomSnapshot, Rooms};
pub use waitlist::{JoinOutcome, OfferAttempt, OfferOutcome, SettledOffers, Waitlist};

/// A backing service (database, cache) could not be reached or did not answer
/// in time. Wrap the cause in this so callers can tell "try again later" from a bug.
#[derive(Debug, thiserror::Error)]
#[error("dependency unavailable: {0}")]
pub struct Unavailable(pub String);

/// True when `err` (or anything in its chain) says a dependency is unavailable.
pub fn is_unavailable(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| cause.is::<Unavailable>())
}

/// The current instant. The only way the core learns the time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// Unpredictable bytes from a CSPRNG, for tokens and ids.
pub trait Entropy: Send + Sync + std::fmt::Debug {
    fn fill(&self, buf: &mut [u8]);
}

/// Money totals over the whole store, for invariant checks: what was
/// charged and refunded must equal what is held plus what was paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MoneyTotals {
    pub charged: Won,
    pub balances: Won,
    pub paid: Won,
    pub refunded: Won,
}

impl MoneyTotals {
    /// Whether no money was lost or created: charged + refunded = balances + paid.
    pub fn conserved(&self) -> bool {
        self.charged.checked_add(self.refunded) == self.balances.checked_add(self.paid)
    }
}

/// What the store says about its own invariants; every count but
/// `reservations` must be zero, and the money must balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreAudit {
    pub money: MoneyTotals,
    pub reservations: u64,
    /// Of which cancelled.
    pub cancelled: u64,
    pub negative_balances: u64,
    /// Seats with more than one confirmed reservation.
    pub seats_sold_twice: u64,
    /// Seats marked SOLD with no confirmed reservation, or confirmed
    /// reservations whose seat is not SOLD.
    pub sales_out_of_step: u64,
    /// Reservations without exactly one `ReservationConfirmed` event, or
    /// without exactly one `ReservationCancelled` event once cancelled (none before).
    pub reservations_without_one_event: u64,
}

/// The source of truth: every port a database keeps, each in its own file
/// under `ports/`, plus the store-wide audit. Every method is one
/// transaction. A store is passed as one `Arc<dyn Store>`; the booking
/// port is also passed on its own ([`crate::use_cases::Adapters::booking`]),
/// so that a strategy may wrap it alone.
#[async_trait]
pub trait Store:
    Catalog
    + Rooms
    + Identity
    + Booking
    + Accounts
    + Idempotency
    + Outbox
    + Waitlist
    + Send
    + Sync
    + std::fmt::Debug
{
    /// Counts what would break an invariant (seats sold twice, negative
    /// balances, sales without events...) and the money totals.
    async fn audit(&self) -> anyhow::Result<StoreAudit>;

    /// Succeeds when the store can serve requests.
    async fn ping(&self) -> anyhow::Result<()>;
}

/// The waiting room: who is in line for which concert, and who is admitted.
/// Issuing and polling tokens is the rush's hot path, so it never touches SQL.
#[async_trait]
pub trait WaitingRoom: Send + Sync + std::fmt::Debug {
    /// Returns the user's live token for the concert, or puts `candidate` in
    /// `lane` as a new token: WAITING at the end of the line, or PRE_QUEUE.
    async fn enter(
        &self,
        concert: ConcertId,
        user: UserId,
        candidate: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
        lane: Lane,
    ) -> anyhow::Result<QueueToken>;
    /// Returns the user's live token for the concert, or reserves
    /// `candidate`: WAITING without a position until [`WaitingRoom::place`]
    /// puts it in line. Queue entry through Kafka reserves on request and
    /// places in topic order. A reserved token not polled for
    /// `abandon_after_secs` is abandoned like any WAITING token.
    async fn reserve(
        &self,
        concert: ConcertId,
        user: UserId,
        candidate: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<QueueToken>;
    /// Puts the user's reserved `token` in `lane`. A token already placed
    /// (or admitted) is left as it is; `None` when `token` is not the
    /// user's live token any more (expired, forgotten, replaced), so a
    /// repeated entry never brings a token back.
    async fn place(
        &self,
        concert: ConcertId,
        user: UserId,
        token: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
        lane: Lane,
    ) -> anyhow::Result<Option<QueueToken>>;
    /// The token's state at `now`; polling keeps a WAITING token from being
    /// abandoned. `None` for an unknown (or long-forgotten) token, or one of
    /// another concert. The concert comes from the fan's signed ticket; a
    /// room spread over shards finds the token through it.
    async fn poll(
        &self,
        concert: ConcertId,
        token: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Option<QueueToken>>;
    /// Brings back a token this room lost: the fan's ticket names an
    /// epoch of the room that is not the current one, so the room lost its
    /// line since (Redis lost its data, the process restarted) and the
    /// token did not end. `None` when the ticket is of the current epoch
    /// (the token ended, or never was), or when the fan has a live token of
    /// this epoch already; the token itself when it is back already.
    ///
    /// A fan of the line comes back WAITING without a position. The first
    /// one back starts the heal window ([`QueuePolicy::healed_at`]), in
    /// which admission waits; at its end the first round puts everyone back
    /// in `key` order, ahead of whoever arrived since the loss. One who
    /// comes back after that joins the end of the line. A fan of a
    /// pre-queue not yet taken goes back to the pre-queue.
    async fn rejoin(
        &self,
        rejoin: &Rejoin,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Option<QueueToken>>;
    /// The token's state at `now`, without counting as a poll.
    async fn peek(
        &self,
        concert: ConcertId,
        token: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Option<QueueToken>>;
    /// Many tokens of one concert at once, each as [`WaitingRoom::poll`]
    /// would answer (and kept alive like a poll): one call for every open
    /// stream of a concert.
    async fn poll_many(
        &self,
        concert: ConcertId,
        tokens: &[TokenId],
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Vec<Option<QueueToken>>>;
    /// One admission round for a concert: expire ended ACTIVE tokens, drop
    /// abandoned WAITING ones, then activate the front of the line within
    /// the batch and the cap. Admits nobody while a pre-queue taken for
    /// the draw has not been placed in line (`draw_pending`).
    async fn admit(
        &self,
        concert: ConcertId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<AdmitOutcome>;
    /// Takes the concert's pre-queue for the opening draw: from now on a
    /// pre-queue entry joins the line instead. Answers the same entries
    /// every time it is asked, and whether they are placed already.
    async fn take_pre_queue(
        &self,
        concert: ConcertId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<PreQueueDraw>;
    /// Puts the taken pre-queue in line in the drawn `order`, ahead of
    /// everyone who arrived after the opening. Entries no longer in the
    /// pre-queue (abandoned) are skipped. Once only: false when it was done.
    async fn place_drawn(
        &self,
        concert: ConcertId,
        order: &[TokenId],
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<bool>;
    /// How many fans are in the concert's pre-queue, line and ACTIVE now.
    async fn census(
        &self,
        concert: ConcertId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Census>;
    /// Expires the user's live token for the concert if it was issued at or
    /// before `issued_by` (a payment ends the token it was made with, never a
    /// newer one). Returns the token as it was before, if one was expired.
    /// An ACTIVE token's admission pass is revoked: the revocation joins
    /// the feed [`WaitingRoom::revocations_since`] reads.
    async fn expire(
        &self,
        concert: ConcertId,
        user: UserId,
        issued_by: Timestamp,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Option<QueueToken>>;
    /// Admissions ended early (their passes revoked) after `cursor`, oldest
    /// first, at most `limit`, and the cursor to read on from. The empty
    /// cursor reads the feed from its start; the feed keeps each revocation
    /// at least until its pass would have expired anyway.
    async fn revocations_since(&self, cursor: &str, limit: u32) -> anyhow::Result<RevocationPage>;
    /// Concerts with anyone pre-queued, WAITING or ACTIVE: those admission
    /// must visit. A concert whose line just emptied may still be listed
    /// until the next admission round visits it.
    async fn concerts_in_line(&self) -> anyhow::Result<Vec<ConcertId>>;

    /// Succeeds when the waiting room can serve requests.
    async fn ping(&self) -> anyhow::Result<()>;

    /// Every admission of the concert the room still records, as `(line
    /// key, admitted_at_ms)`: a smaller key was ahead in line (drawn
    /// pre-queue entries first, then arrivals in order). The audit of
    /// admission order counts the pairs admitted out of it.
    async fn admissions(&self, concert: ConcertId) -> anyhow::Result<Vec<(i64, i64)>>;
}

/// What one admission round did, and the room's running totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AdmitOutcome {
    pub admitted: u64,
    /// WAITING tokens in line when the round began (after its sweep).
    pub waiting_before: u64,
    /// ACTIVE tokens when the round began (after its sweep).
    pub active_before: u64,
    /// Tokens ever admitted to this concert's line.
    pub admitted_total: u64,
    /// Tokens that ever left this concert's line or pre-queue without being
    /// admitted: abandoned, left, revoked.
    pub abandoned_total: u64,
    /// The pre-queue was taken for the draw and is not in line yet.
    pub draw_pending: bool,
}

/// The pre-queue as taken for the draw.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PreQueueDraw {
    /// The entries taken, in no particular order.
    pub entries: Vec<TokenId>,
    /// Whether they were placed in line already.
    pub placed: bool,
}

/// Head counts of one concert's room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Census {
    pub pre_queued: u64,
    pub waiting: u64,
    pub active: u64,
}

/// An admission that ended before its pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    pub token: TokenId,
    /// When the pass would have expired by itself: after that, forget it.
    pub pass_expires_at: Timestamp,
}

/// One read of the revocation feed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RevocationPage {
    pub revocations: Vec<Revocation>,
    /// Where the next read starts; the same cursor when nothing was new.
    pub cursor: String,
}

/// Marks that something happened once, shared by every instance: a solved
/// proof-of-work challenge may open the line only once.
#[async_trait]
pub trait SingleUse: Send + Sync + std::fmt::Debug {
    /// True the first time `key` is used within `ttl_ms`; false after.
    async fn first_use(&self, key: &str, ttl_ms: u64) -> anyhow::Result<bool>;
}

/// Popular concerts by confirmed reservations.
#[async_trait]
pub trait Ranking: Send + Sync + std::fmt::Debug {
    /// Counts one reservation for the concert, once per event id.
    async fn record_reservation(&self, concert: ConcertId, event: EventId) -> anyhow::Result<bool>;
    /// The `n` concerts with the most reservations, most first.
    async fn top(&self, n: usize) -> anyhow::Result<Vec<(ConcertId, u64)>>;
    /// Replaces the counts (at start-up, from the store).
    async fn reset(&self, counts: &[(ConcertId, u64)]) -> anyhow::Result<()>;
}

/// Proof of holding a named lock: needed to extend or release it, so a
/// holder whose lease ran out cannot release someone else's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockLease {
    pub key: String,
    pub token: String,
}

/// Mutual exclusion between instances (a single process in the embedded mode).
/// Leases expire by themselves, so a crashed holder never blocks for ever.
#[async_trait]
pub trait Lock: Send + Sync + std::fmt::Debug {
    /// Takes the lock for `ttl_ms` if nobody holds it.
    async fn try_acquire(&self, key: &str, ttl_ms: u64) -> anyhow::Result<Option<LockLease>>;
    /// Pushes the expiry to `ttl_ms` from now, if the lease is still ours.
    async fn extend(&self, lease: &LockLease, ttl_ms: u64) -> anyhow::Result<bool>;
    /// Lets go, if the lease is still ours.
    async fn release(&self, lease: &LockLease) -> anyhow::Result<bool>;
}

/// A shared cache of serialised values with a time to live (cache-aside:
/// the use cases read through it and invalidate what they change).
#[async_trait]
pub trait Cache: Send + Sync + std::fmt::Debug {
    async fn get(&self, key: &str) -> anyhow::Result<Option<String>>;
    async fn set(&self, key: &str, value: &str, ttl_ms: u64) -> anyhow::Result<()>;
    async fn delete(&self, keys: &[String]) -> anyhow::Result<()>;
}

/// Where relayed outbox events go: Kafka topics, or in the embedded mode
/// in-process handlers and the [`Inbox`]. `publish` returns only once the
/// event is safely handed over; an error leaves the event in the outbox to
/// be relayed again.
#[async_trait]
pub trait EventBus: Send + Sync + std::fmt::Debug {
    async fn publish(&self, event: &OutboxEvent) -> anyhow::Result<()>;
    /// Hands an event `consumer` gave up on to the consumer's dead-letter
    /// topic, for other tools to see; the operator's list is the
    /// [`DeliveryLedger`]'s. A bus without such topics does nothing.
    async fn publish_dead_letter(
        &self,
        consumer: &str,
        event: &OutboxEvent,
        error: &str,
    ) -> anyhow::Result<()>;
}

/// An event as a consumer group receives it, with its place in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub event: OutboxEvent,
    /// The topic (Kafka) or consumer group (inbox) it came from.
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// A consumer group's view of the bus: events in order, each committed once
/// processed, so that a restarted consumer resumes after the last commit and
/// nothing processed is lost (at least once: an uncommitted event comes again).
#[async_trait]
pub trait Subscription: Send + std::fmt::Debug {
    /// The next event; `None` when none arrived within the adapter's poll wait.
    async fn next(&mut self) -> anyhow::Result<Option<Received>>;
    /// Records that `received`, and everything before it in its partition, is done.
    async fn commit(&mut self, received: &Received) -> anyhow::Result<()>;
}

/// The embedded mode's topics: relayed events wait here, one row per
/// consumer group, until the group has processed them.
#[async_trait]
pub trait Inbox: Send + Sync + std::fmt::Debug {
    /// Queues the event for `consumer`; queuing it twice keeps one copy.
    async fn append(&self, consumer: &str, event: &OutboxEvent) -> anyhow::Result<()>;
    /// The consumer's queued events, oldest first, with their sequence
    /// numbers. A row whose transaction committed late may carry a lower
    /// number than rows read before it: it is simply read next time.
    async fn queued(&self, consumer: &str, limit: u32) -> anyhow::Result<Vec<(i64, OutboxEvent)>>;
    /// Drops one processed event from the consumer's queue.
    async fn remove(&self, consumer: &str, seq: i64) -> anyhow::Result<()>;
}

/// What consumers remember, so that a redelivered event is not acted on
/// twice and an event given up on is kept for an operator.
#[async_trait]
pub trait DeliveryLedger: Send + Sync + std::fmt::Debug {
    async fn already_consumed(&self, consumer: &str, event: EventId) -> anyhow::Result<bool>;
    /// Records that `consumer` is done with `event`; false if it already was.
    async fn record_consumed(
        &self,
        consumer: &str,
        event: EventId,
        now: Timestamp,
    ) -> anyhow::Result<bool>;
    /// Keeps a dead letter; a second one for the same consumer and event
    /// replaces the first (and makes it unreplayed again).
    async fn record_dead_letter(&self, letter: &NewDeadLetter) -> anyhow::Result<()>;
    /// Up to `limit` dead letters that `filter` takes, newest (highest id)
    /// first, or oldest first when the filter says so.
    async fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        limit: u32,
    ) -> anyhow::Result<Vec<DeadLetter>>;
    async fn dead_letter(&self, id: i64) -> anyhow::Result<Option<DeadLetter>>;
    /// Marks a dead letter replayed; false if it already was.
    async fn mark_replayed(&self, id: i64, now: Timestamp) -> anyhow::Result<bool>;
    /// How many dead letters each consumer has that are not replayed.
    async fn unreplayed_dead_letters(&self) -> anyhow::Result<Vec<(String, u64)>>;
}

/// The external data platform that receives confirmed reservations.
#[async_trait]
pub trait DataPlatform: Send + Sync + std::fmt::Debug {
    /// Delivers one event; `Err` when the platform refused it or did not
    /// answer in time. The event id goes with it so the platform can drop
    /// a repeat.
    async fn deliver(&self, event: &OutboxEvent) -> anyhow::Result<()>;
    /// Whether the platform answers at all (any answer but a server error
    /// or none), to tell an outage from one event it refuses.
    async fn probe(&self) -> anyhow::Result<()>;
}
