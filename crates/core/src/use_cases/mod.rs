//! What users and operators can do, one verb-named file each. Every use case
//! is an `impl App` method with its own error enum: expected failures as
//! variants, and `Unexpected` for anything that broke.
//!
//! Layout:
//! - access: the ticket and pass check shared by booking calls;
//!   revocations: the revoked admission passes every instance keeps.
//! - identify_fan: a fan's subject to their user id.
//! - cached: reading through the cache, single-flight, jittered TTLs.
//! - idempotent: running a command at most once per `Idempotency-Key`.
//! - issue_token, poll_token, leave_line, watch_tokens: the fan in the
//!   waiting room; change_room, open_sale, show_room: the operator's room,
//!   the opening draw, and what is published of it.
//! - list_concerts, list_popular_concerts, list_schedules, list_seats: browsing;
//!   seat_maps: each date's seats as this instance last read them.
//! - hold_seat, extend_hold, release_hold, pay_for_hold, cancel_reservation:
//!   booking.
//! - charge_balance, show_balance, list_reservations: the buyer's account.
//! - join_waitlist: a sold-out date's waiting list; offer_returned_seats:
//!   the round that offers seats that come back to its fans first.
//! - create_concert, update_concert, set_entry_rules, set_cancellation_policy,
//!   revoke_admission, call_off_dates: the admin's catalog, bot gates,
//!   cancellation terms, revocations and called-off dates (with the refund
//!   round that pays their fans back); check_invariants, reconcile_ledger: the post-load audit.
//! - activate_batch, release_expired_holds, relay_outbox, event_handlers,
//!   deliver_to_platform: background work, each a single step (`*_once`)
//!   that workers loop over and tests call directly.
//! - replay_dead_letter: the operator's dead-letter list and replays;
//!   sample_sales: the figures the operator's console charts over time.

mod access;
mod activate_batch;
mod cached;
mod call_off_dates;
mod cancel_reservation;
mod change_room;
mod charge_balance;
mod check_invariants;
mod create_concert;
mod deliver_to_platform;
mod event_handlers;
mod extend_hold;
mod hold_seat;
mod idempotent;
mod identify_fan;
mod issue_token;
mod join_waitlist;
mod leave_line;
mod list_concerts;
mod list_popular_concerts;
mod list_reservations;
mod list_schedules;
mod list_seats;
mod offer_returned_seats;
mod open_sale;
mod pay_for_hold;
mod poll_token;
mod reconcile_ledger;
mod relay_outbox;
mod release_expired_holds;
mod release_hold;
mod replay_dead_letter;
mod revocations;
mod revoke_admission;
mod sample_sales;
mod seat_maps;
mod set_cancellation_policy;
mod set_entry_rules;
mod show_balance;
mod show_room;
mod update_concert;
mod watch_tokens;

pub use access::AccessDenied;
pub use call_off_dates::{CallOffError, CalledOff};
pub use cancel_reservation::CancelError;
pub use change_room::{ChangeRoomError, RoomPatch};
pub use charge_balance::ChargeError;
pub use check_invariants::InvariantReport;
pub use create_concert::CreateConcertError;
pub use deliver_to_platform::DeliveryStep;
pub use event_handlers::{RankingUpdater, TokenExpirer};
pub use extend_hold::ExtendHoldError;
pub use hold_seat::HoldSeatError;
pub use idempotent::IdempotencyConflict;
pub use issue_token::{CHALLENGE_TTL_SECS, IssueTokenError, Notice, PowRefusal, TokenView};
pub use join_waitlist::{JoinWaitlistError, LeaveWaitlistError};
pub use list_popular_concerts::PopularConcert;
pub use list_reservations::ReservationView;
pub use list_schedules::ListSchedulesError;
pub use list_seats::ListSeatsError;
pub use offer_returned_seats::OfferRound;
pub use pay_for_hold::PayError;
pub use poll_token::PollTokenError;
pub use relay_outbox::OutboxLag;
pub use release_hold::ReleaseHoldError;
pub use replay_dead_letter::{BulkReplay, ReplayError};
pub use revocations::RevokedPasses;
pub use set_cancellation_policy::ConcertCancellationPolicy;
pub use show_room::{LotteryReveal, RoomReport};
pub use update_concert::UpdateConcertError;

use crate::domain::balance::BalancePolicy;
use crate::domain::cancellation::CancellationPolicy;
use crate::domain::delivery::RetryPolicy;
use crate::domain::payment::{SALE_IDS_PER_PAYMENT, SaleIds};
use crate::domain::queue_token::QueuePolicy;
use crate::domain::sample::SamplePolicy;
use crate::domain::seat_hold::HoldPolicy;
use crate::domain::waitlist::WaitlistPolicy;
use crate::domain::{ConcertId, EventId, HoldId, ReservationId, Timestamp, TokenId};
use crate::ports::{
    Booking, Cache, Clock, DataPlatform, DeliveryLedger, Entropy, EventBus, Lock, Ranking,
    RoomSnapshot, SingleUse, Store, WaitingRoom,
};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use uuid::Uuid;

/// Schedules are immutable; they are cached for long.
const SCHEDULE_TTL_MS: u64 = 600_000;

/// How long an instance trusts the room it read (state, settings, entry
/// rules, seats still sellable): a change, or the last seat sold, reaches
/// every instance within this.
const ROOM_TTL_MS: i64 = 1_000;

/// A room as this instance last read it.
#[derive(Debug, Clone)]
struct KnownRoom {
    room: RoomSnapshot,
    read_at: Timestamp,
    /// Since when a request has been reading it again; the others answer
    /// with this one meanwhile, rather than all asking the store at once. A
    /// read that never lands (its request dropped) is taken over after
    /// `ROOM_TTL_MS`.
    refreshing: Option<Timestamp>,
}

/// Whether another request is reading `known` again right now.
fn refreshing_at(known: &KnownRoom, now: Timestamp) -> bool {
    known
        .refreshing
        .is_some_and(|since| now.as_millis() - since.as_millis() < ROOM_TTL_MS)
}

/// Every business setting the use cases apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policies {
    pub queue: QueuePolicy,
    pub holds: HoldPolicy,
    pub balance: BalancePolicy,
    pub idempotency: IdempotencyPolicy,
    /// How consumers retry failing deliveries.
    pub delivery: RetryPolicy,
    /// How often the console's samples are taken, and how long kept.
    pub samples: SamplePolicy,
    /// Until when, and at what fee, fans may cancel reservations.
    pub cancellation: CancellationPolicy,
    /// How long a waiting-list offer stays open.
    pub waitlist: WaitlistPolicy,
}

/// How long idempotency records live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencyPolicy {
    /// How long a running request owns its key before a repeat may take it over.
    pub lease_secs: u64,
    /// How long a finished answer is kept for repeats.
    pub retention_secs: u64,
}

impl Default for IdempotencyPolicy {
    fn default() -> Self {
        Self {
            lease_secs: 30,
            retention_secs: 24 * 3600,
        }
    }
}

/// The adapters the application runs on.
#[derive(Debug, Clone)]
pub struct Adapters {
    pub store: Arc<dyn Store>,
    /// Holds and payments: the store itself, or the store's booking port
    /// wrapped by a concurrency strategy (the `redis_lock` strategy's
    /// `LockedStore`). Use cases hold and pay only through this.
    pub booking: Arc<dyn Booking>,
    pub waiting_room: Arc<dyn WaitingRoom>,
    pub ranking: Arc<dyn Ranking>,
    pub bus: Arc<dyn EventBus>,
    /// Consumers' memory of what they processed and gave up on.
    pub ledger: Arc<dyn DeliveryLedger>,
    /// Where queue entries are published when they go through Kafka
    /// (`queue.entry = kafka`); `None`: tokens enter the line directly.
    pub queue_entries: Option<Arc<dyn EventBus>>,
    /// Where confirmed reservations are forwarded; `None` when no platform is configured.
    pub data_platform: Option<Arc<dyn DataPlatform>>,
    pub lock: Arc<dyn Lock>,
    /// Single-use marks (solved challenges), shared by every instance.
    pub single_use: Arc<dyn SingleUse>,
    pub cache: Arc<dyn Cache>,
    pub clock: Arc<dyn Clock>,
    pub entropy: Arc<dyn Entropy>,
}

/// The application: adapters plus policies. Cheap to clone.
#[derive(Debug, Clone)]
pub struct App {
    adapters: Adapters,
    policies: Policies,
    /// Rooms of concerts known to exist, with when they were read: spares
    /// the token hot path a SQL read, at the cost of a change taking up to
    /// `ROOM_TTL_MS` to apply. Concerts are never deleted, so existence is
    /// never stale.
    rooms: Arc<RwLock<HashMap<ConcertId, KnownRoom>>>,
    /// Subjects already mapped to user ids (a subject's id never changes).
    subjects: Arc<identify_fan::KnownSubjects>,
    /// Admission passes revoked before they expired, as this instance knows them.
    revoked: Arc<RevokedPasses>,
    /// Cache loads in progress, so concurrent misses share one.
    flights: Arc<cached::Flights>,
    /// Each date's seats as this instance last read them, and each date's concert.
    seat_maps: Arc<seat_maps::SeatMaps>,
    /// Each drawn concert's draw, by entry id: where a fan drawn at the
    /// opening goes back to if the waiting room loses its line.
    draws: Arc<RwLock<HashMap<ConcertId, poll_token::DrawPlaces>>>,
    /// Whether this process's data-platform consumer takes the platform to
    /// be down.
    breaker: Arc<std::sync::Mutex<crate::domain::delivery::Breaker>>,
}

impl App {
    pub fn new(adapters: Adapters, policies: Policies) -> Self {
        Self {
            adapters,
            policies,
            rooms: Arc::default(),
            subjects: Arc::default(),
            revoked: Arc::default(),
            flights: Arc::default(),
            seat_maps: Arc::default(),
            draws: Arc::default(),
            breaker: Arc::default(),
        }
    }

    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    pub fn adapters(&self) -> &Adapters {
        &self.adapters
    }

    /// How many revoked passes this instance keeps.
    pub fn revoked_passes(&self) -> usize {
        self.revoked.len()
    }

    fn store(&self) -> &dyn Store {
        self.adapters.store.as_ref()
    }

    fn booking(&self) -> &dyn Booking {
        self.adapters.booking.as_ref()
    }

    fn now(&self) -> crate::domain::Timestamp {
        self.adapters.clock.now()
    }

    fn random_bytes<const N: usize>(&self) -> [u8; N] {
        let mut buf = [0u8; N];
        self.adapters.entropy.fill(&mut buf);
        buf
    }

    fn new_token_id(&self) -> TokenId {
        TokenId::from_bytes(self.random_bytes())
    }

    fn new_random_uuid(&self) -> Uuid {
        uuid::Builder::from_random_bytes(self.random_bytes()).into_uuid()
    }

    fn new_hold_id(&self) -> HoldId {
        HoldId::from_uuid(self.new_random_uuid())
    }

    /// The ids a payment brings for its sales ([`PaymentAttempt::sales`]):
    /// a random reservation id and a UUIDv7 event id per seat, drawn from
    /// the entropy source in one call.
    ///
    /// [`PaymentAttempt::sales`]: crate::domain::payment::PaymentAttempt::sales
    fn new_sale_ids(&self) -> Vec<SaleIds> {
        const PER_SALE: usize = 16 + 10;
        let millis = u64::try_from(self.now().as_millis()).unwrap_or(0);
        let mut buf = [0u8; PER_SALE * SALE_IDS_PER_PAYMENT];
        self.adapters.entropy.fill(&mut buf);
        buf.chunks_exact(PER_SALE)
            .map(|chunk| {
                let (reservation, event) = chunk.split_at(16);
                let reservation: [u8; 16] = reservation.try_into().unwrap_or_default();
                let event: [u8; 10] = event.try_into().unwrap_or_default();
                SaleIds {
                    reservation_id: ReservationId::from_uuid(
                        uuid::Builder::from_random_bytes(reservation).into_uuid(),
                    ),
                    event_id: EventId::from_uuid(
                        uuid::Builder::from_unix_timestamp_millis(millis, &event).into_uuid(),
                    ),
                }
            })
            .collect()
    }

    /// UUIDv7: time-ordered, so outbox ids sort by creation.
    fn new_event_id(&self) -> EventId {
        let millis = u64::try_from(self.now().as_millis()).unwrap_or(0);
        let random: [u8; 10] = self.random_bytes();
        EventId::from_uuid(uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid())
    }

    /// A schedule, through the cache. An operator's change of a date
    /// (`update_concert`) invalidates its entry.
    async fn find_schedule(
        &self,
        id: crate::domain::ScheduleId,
    ) -> anyhow::Result<Option<crate::domain::concert::Schedule>> {
        let store = self.adapters.store.clone();
        // Only found schedules are cached: an id may come into existence later.
        self.cached(
            format!("schedule:{id}"),
            SCHEDULE_TTL_MS,
            Option::is_some,
            move || async move { store.schedule(id).await },
        )
        .await
    }

    /// The concert's room (`None`: no such concert), from memory when read
    /// less than `ROOM_TTL_MS` ago. When it is older, one request reads it
    /// again and the others answer with it as it was until that read lands,
    /// so a busy concert costs the store one read a second, not one per
    /// request that came in the moment it went stale.
    async fn room_of(&self, concert: ConcertId) -> anyhow::Result<Option<RoomSnapshot>> {
        let now = self.now();
        let stale = {
            let Ok(known) = self.rooms.read() else {
                return self.fresh_room_of(concert).await;
            };
            match known.get(&concert) {
                Some(k) if now.as_millis() - k.read_at.as_millis() < ROOM_TTL_MS => {
                    return Ok(Some(k.room.clone()));
                }
                Some(k) if refreshing_at(k, now) => return Ok(Some(k.room.clone())),
                Some(_) => true,
                None => false,
            }
        };
        if stale && let Ok(mut known) = self.rooms.write() {
            match known.get_mut(&concert) {
                Some(k) if refreshing_at(k, now) => return Ok(Some(k.room.clone())),
                Some(k) => k.refreshing = Some(now),
                None => {}
            }
        }
        let read = self.fresh_room_of(concert).await;
        if read.is_err()
            && let Ok(mut known) = self.rooms.write()
            && let Some(k) = known.get_mut(&concert)
        {
            k.refreshing = None;
        }
        read
    }

    /// The concert's room as the store has it now.
    async fn fresh_room_of(&self, concert: ConcertId) -> anyhow::Result<Option<RoomSnapshot>> {
        let now = self.now();
        let room = self.store().room(concert).await?;
        if let Some(room) = &room
            && let Ok(mut known) = self.rooms.write()
        {
            known.insert(
                concert,
                KnownRoom {
                    room: room.clone(),
                    read_at: now,
                    refreshing: None,
                },
            );
        }
        Ok(room)
    }

    /// Makes the next read of the concert's room go to the store.
    fn forget_room(&self, concert: ConcertId) {
        if let Ok(mut known) = self.rooms.write() {
            known.remove(&concert);
        }
    }

    /// The queue policy of a room: the configured defaults with its settings.
    fn policy_of(&self, room: &RoomSnapshot) -> QueuePolicy {
        room.room.settings.apply(&self.policies.queue)
    }

    /// The queue policy of a concert, the defaults for an unknown one.
    async fn queue_policy(&self, concert: ConcertId) -> anyhow::Result<QueuePolicy> {
        Ok(self
            .room_of(concert)
            .await?
            .map_or(self.policies.queue, |room| self.policy_of(&room)))
    }
}
