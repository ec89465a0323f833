//! The store in process memory: one mutex around all state, so every method
//! is trivially one atomic transaction. It answers exactly as the SQL stores
//! do (the store contract suite holds both to it); it exists so that use-case
//! tests run without a database.

use super::lock;
use crate::domain::cancellation::CancellationPolicy;
use crate::domain::concert::{Concert, EntryRules, Schedule};
use crate::domain::delivery::{DeadLetter, DeadLetterFilter, NewDeadLetter};
use crate::domain::events::{self, OutboxEvent};
use crate::domain::idempotency::{IdempotencyTicket, KeyStanding, KeyTaken};
use crate::domain::ledger::{LedgerTransaction, Posting};
use crate::domain::reservation::Reservation;
use crate::domain::room::Room;
use crate::domain::sample::SaleSample;
use crate::domain::seat::SeatState;
use crate::domain::seat_hold::Hold;
use crate::domain::waitlist::{WaitlistEntry, WaitlistStatus};
use crate::domain::{ConcertId, EventId, HoldId, ScheduleId, SeatNumber, Timestamp, UserId, Won};
use crate::ports::{DeliveryLedger, Inbox, MoneyTotals, RoomChange, Store, StoreAudit};
use async_trait::async_trait;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

mod accounts;
mod booking;
mod catalog;
mod idempotency;
mod identity;
mod outbox;
mod rooms;
mod waitlist;

#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<State>,
}

impl MemoryStore {
    /// A store that stamps each event it appends with what `source` says
    /// of the request being served (unless the event carries a trace
    /// already), as the SQL store stamps its rows from the request's trace
    /// context. Without one, events carry none: the core crate reads no
    /// task-local of its own.
    pub fn with_traces(source: fn() -> Option<events::EventTrace>) -> Self {
        let store = Self::default();
        lock(&store.inner).traces = Traces(Some(source));
        store
    }
}

/// Where the store learns the trace of the request being served.
#[derive(Default)]
struct Traces(Option<fn() -> Option<events::EventTrace>>);

impl std::fmt::Debug for Traces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Traces(stamped)"
        } else {
            "Traces(none)"
        })
    }
}

#[derive(Debug, Default)]
struct State {
    concerts: BTreeMap<ConcertId, Concert>,
    entry_rules: HashMap<ConcertId, EntryRules>,
    cancellation_policies: HashMap<ConcertId, CancellationPolicy>,
    /// Rooms that differ from a new concert's.
    rooms: HashMap<ConcertId, Room>,
    room_changes: HashMap<ConcertId, Vec<RoomChange>>,
    lotteries: HashMap<ConcertId, Vec<String>>,
    /// Mapped subjects and their user ids.
    subjects: HashMap<String, UserId>,
    secrets: HashMap<String, Vec<u8>>,
    schedules: BTreeMap<ScheduleId, Schedule>,
    seats: BTreeMap<(ScheduleId, SeatNumber), SeatRow>,
    holds: HashMap<HoldId, Hold>,
    balances: HashMap<UserId, Won>,
    reservations: Vec<Reservation>,
    /// The console's samples by concert and instant.
    samples: BTreeMap<(ConcertId, Timestamp), SaleSample>,
    charged: Won,
    paid: Won,
    refunded: Won,
    /// The ledger's postings, by transaction id.
    ledger: Vec<(String, Posting)>,
    idempotency: HashMap<(UserId, &'static str, String), KeyRow>,
    outbox: Vec<OutboxRow>,
    traces: Traces,
    consumed: HashSet<(String, EventId)>,
    dead_letters: Vec<DeadLetter>,
    /// Per consumer group: queued events by sequence number.
    inbox: HashMap<String, BTreeMap<i64, OutboxEvent>>,
    /// Every waiting-list entry, open and past, in the order fans joined.
    waitlist: Vec<WaitlistEntry>,
    next_id: i64,
}

impl State {
    /// Appends `event` to the outbox, stamped with the current request's
    /// trace when the store was given a source and the event has none.
    fn append(&mut self, mut event: OutboxEvent) {
        if event.trace.is_none()
            && let Traces(Some(source)) = self.traces
        {
            event.trace = source();
        }
        self.outbox.push(OutboxRow::new(event));
    }
}

#[derive(Debug, Clone)]
struct OutboxRow {
    event: OutboxEvent,
    published_at: Option<Timestamp>,
    claimed_until: Option<Timestamp>,
    /// The relay step that claimed it last.
    claimed_by: i64,
}

impl OutboxRow {
    fn new(event: OutboxEvent) -> Self {
        Self {
            event,
            published_at: None,
            claimed_until: None,
            claimed_by: 0,
        }
    }
}

#[derive(Debug, Clone)]
struct SeatRow {
    grade: String,
    price: Won,
    state: SeatState,
    hold: Option<HoldId>,
}

#[derive(Debug, Clone)]
struct KeyRow {
    fingerprint: String,
    response: Option<String>,
    lease_until: Timestamp,
    created_at: Timestamp,
}

impl KeyRow {
    /// Whether this row is an unanswered claim leased until `until`.
    fn holds_lease(&self, until: Timestamp) -> bool {
        self.response.is_none() && self.lease_until == until
    }
}

fn key_of(ticket: &IdempotencyTicket) -> (UserId, &'static str, String) {
    (
        ticket.user_id,
        ticket.scope.as_str(),
        ticket.key.as_str().to_owned(),
    )
}

impl State {
    /// The concert's room: as changed, or as a new concert has it.
    fn room(&self, concert: ConcertId) -> Room {
        self.rooms
            .get(&concert)
            .cloned()
            .unwrap_or_else(|| Room::new(concert))
    }

    /// Fans waiting on the date's list now.
    fn waiting_on(&self, schedule: ScheduleId) -> usize {
        self.waitlist
            .iter()
            .filter(|w| w.schedule_id == schedule && w.status == WaitlistStatus::Waiting)
            .count()
    }

    fn next_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// Puts the seats `hold` still holds back on sale.
    fn free_seats_of(&mut self, hold: &Hold) {
        for number in hold.seat_numbers() {
            if let Some(row) = self.seats.get_mut(&(hold.schedule_id, number))
                && row.hold == Some(hold.id)
            {
                row.state = SeatState::Open;
                row.hold = None;
            }
        }
    }

    /// Posts a transaction to the ledger.
    fn post(&mut self, transaction: LedgerTransaction) {
        let id = transaction.id();
        self.ledger
            .extend(transaction.postings().iter().map(|&p| (id.to_owned(), p)));
    }

    fn record(
        &mut self,
        ticket: Option<&IdempotencyTicket>,
        response: anyhow::Result<String>,
    ) -> anyhow::Result<()> {
        let Some(ticket) = ticket else {
            return Ok(());
        };
        let response = response?;
        let key = key_of(ticket);
        // Either way, a refusal here goes first: the caller changes nothing.
        match &ticket.standing {
            // A fresh ticket writes its key with its answer, unless the key
            // is there.
            KeyStanding::Fresh(fresh) => match self.idempotency.entry(key) {
                Entry::Occupied(_) => return Err(KeyTaken.into()),
                Entry::Vacant(slot) => {
                    slot.insert(KeyRow {
                        fingerprint: fresh.fingerprint.as_str().to_owned(),
                        response: Some(response),
                        lease_until: fresh.created_at,
                        created_at: fresh.created_at,
                    });
                }
            },
            // A leased ticket answers its claim, if the lease is still its.
            KeyStanding::Leased(until) => match self.idempotency.get_mut(&key) {
                Some(row) if row.holds_lease(*until) => row.response = Some(response),
                _ => return Err(KeyTaken.into()),
            },
        }
        Ok(())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn audit(&self) -> anyhow::Result<StoreAudit> {
        let state = lock(&self.inner);
        let balances = state.balances.values().map(|w| w.amount()).sum();
        let mut per_seat: HashMap<(ScheduleId, SeatNumber), u64> = HashMap::new();
        for r in state
            .reservations
            .iter()
            .filter(|r| r.cancellation.is_none())
        {
            *per_seat.entry((r.schedule_id, r.seat_number)).or_default() += 1;
        }
        let sold = |key: &(ScheduleId, SeatNumber)| {
            state
                .seats
                .get(key)
                .is_some_and(|row| row.state == SeatState::Sold)
        };
        let out_of_step = state
            .seats
            .iter()
            .filter(|(key, row)| row.state == SeatState::Sold && !per_seat.contains_key(key))
            .count()
            + per_seat.keys().filter(|key| !sold(key)).count();
        let events = |r: &Reservation, kind: &str| {
            state
                .outbox
                .iter()
                .filter(|row| {
                    row.event.event_type == kind && row.event.aggregate_key == r.id.to_string()
                })
                .count()
        };
        let in_step = |r: &Reservation| {
            events(r, events::RESERVATION_CONFIRMED) == 1
                && events(r, events::RESERVATION_CANCELLED) == usize::from(r.cancellation.is_some())
        };
        Ok(StoreAudit {
            money: MoneyTotals {
                charged: state.charged,
                balances: Won::new(balances),
                paid: state.paid,
                refunded: state.refunded,
            },
            reservations: state.reservations.len() as u64,
            cancelled: state
                .reservations
                .iter()
                .filter(|r| r.cancellation.is_some())
                .count() as u64,
            negative_balances: state.balances.values().filter(|w| w.amount() < 0).count() as u64,
            seats_sold_twice: per_seat.values().filter(|n| **n > 1).count() as u64,
            sales_out_of_step: out_of_step as u64,
            reservations_without_one_event: state
                .reservations
                .iter()
                .filter(|r| !in_step(r))
                .count() as u64,
        })
    }

    async fn ping(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

#[async_trait]
impl DeliveryLedger for MemoryStore {
    async fn already_consumed(&self, consumer: &str, event: EventId) -> anyhow::Result<bool> {
        Ok(lock(&self.inner)
            .consumed
            .contains(&(consumer.to_owned(), event)))
    }

    async fn record_consumed(
        &self,
        consumer: &str,
        event: EventId,
        _now: Timestamp,
    ) -> anyhow::Result<bool> {
        Ok(lock(&self.inner)
            .consumed
            .insert((consumer.to_owned(), event)))
    }

    async fn record_dead_letter(&self, letter: &NewDeadLetter) -> anyhow::Result<()> {
        let mut state = lock(&self.inner);
        let kept = DeadLetter {
            id: 0,
            consumer: letter.consumer.clone(),
            event: letter.event.clone(),
            attempts: letter.attempts,
            last_error: letter.last_error.clone(),
            failed_at: letter.failed_at,
            replayed_at: None,
        };
        let existing = state
            .dead_letters
            .iter()
            .position(|d| d.consumer == letter.consumer && d.event.id == letter.event.id);
        match existing {
            Some(i) => {
                let id = state.dead_letters[i].id;
                state.dead_letters[i] = DeadLetter { id, ..kept };
            }
            None => {
                let id = state.next_id();
                state.dead_letters.push(DeadLetter { id, ..kept });
            }
        }
        Ok(())
    }

    async fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        limit: u32,
    ) -> anyhow::Result<Vec<DeadLetter>> {
        let state = lock(&self.inner);
        let mut letters: Vec<DeadLetter> = state
            .dead_letters
            .iter()
            .filter(|d| filter.matches(d))
            .cloned()
            .collect();
        letters.sort_by_key(|d| std::cmp::Reverse(d.id));
        if filter.oldest_first {
            letters.reverse();
        }
        letters.truncate(limit as usize);
        Ok(letters)
    }

    async fn dead_letter(&self, id: i64) -> anyhow::Result<Option<DeadLetter>> {
        let state = lock(&self.inner);
        Ok(state.dead_letters.iter().find(|d| d.id == id).cloned())
    }

    async fn unreplayed_dead_letters(&self) -> anyhow::Result<Vec<(String, u64)>> {
        let state = lock(&self.inner);
        let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
        for letter in state
            .dead_letters
            .iter()
            .filter(|d| d.replayed_at.is_none())
        {
            *counts.entry(letter.consumer.clone()).or_default() += 1;
        }
        Ok(counts.into_iter().collect())
    }

    async fn mark_replayed(&self, id: i64, now: Timestamp) -> anyhow::Result<bool> {
        let mut state = lock(&self.inner);
        match state
            .dead_letters
            .iter_mut()
            .find(|d| d.id == id && d.replayed_at.is_none())
        {
            Some(letter) => {
                letter.replayed_at = Some(now);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

#[async_trait]
impl Inbox for MemoryStore {
    async fn append(&self, consumer: &str, event: &OutboxEvent) -> anyhow::Result<()> {
        let mut state = lock(&self.inner);
        let queued = state
            .inbox
            .get(consumer)
            .is_some_and(|q| q.values().any(|e| e.id == event.id));
        if !queued {
            let seq = state.next_id();
            state
                .inbox
                .entry(consumer.to_owned())
                .or_default()
                .insert(seq, event.clone());
        }
        Ok(())
    }

    async fn queued(&self, consumer: &str, limit: u32) -> anyhow::Result<Vec<(i64, OutboxEvent)>> {
        let state = lock(&self.inner);
        Ok(state
            .inbox
            .get(consumer)
            .map(|q| {
                q.iter()
                    .take(limit as usize)
                    .map(|(seq, e)| (*seq, e.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn remove(&self, consumer: &str, seq: i64) -> anyhow::Result<()> {
        let mut state = lock(&self.inner);
        if let Some(q) = state.inbox.get_mut(consumer) {
            q.remove(&seq);
        }
        Ok(())
    }
}
