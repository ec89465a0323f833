//! The store in process memory: one mutex around all state, so every method
//! is trivially one atomic transaction. It answers exactly as the SQL stores
//! do (the store contract suite holds both to it); it exists so that use-case
//! tests run without a database.

use super::lock;
use crate::domain::concert::{Concert, EntryRules, NewConcert, Schedule, ScheduleAvailability};
use crate::domain::delivery::{DeadLetter, NewDeadLetter};
use crate::domain::events::{self, BalanceCharged, OutboxEvent};
use crate::domain::idempotency::{IdempotencyTicket, Recorded};
use crate::domain::identity::{FIRST_MAPPED_USER_ID, Subject};
use crate::domain::reservation::{PaymentReceipt, Reservation};
use crate::domain::room::{Flow, Room, RoomState};
use crate::domain::sample::{SaleSample, SeatTally};
use crate::domain::seat::{Seat, SeatState, SeatStatus};
use crate::domain::seat_hold::{FanHolds, Hold, HoldStatus, has_lapsed};
use crate::domain::{ConcertId, EventId, HoldId, ScheduleId, SeatNumber, Timestamp, UserId, Won};
use crate::ports::{
    ChargeAttempt, ChargeOutcome, ChargeReceipt, ChargeRefused, DeliveryLedger, HoldAttempt,
    HoldOutcome, Inbox, MoneyTotals, PaymentAttempt, PaymentOutcome, PaymentRefused,
    ReleaseOutcome, RoomChange, RoomSnapshot, Store, StoreAudit,
};
use anyhow::Context;
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

mod idempotency;
mod outbox;

#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    concerts: BTreeMap<ConcertId, Concert>,
    entry_rules: HashMap<ConcertId, EntryRules>,
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
    idempotency: HashMap<(UserId, &'static str, String), KeyRow>,
    outbox: Vec<OutboxRow>,
    consumed: HashSet<(String, EventId)>,
    dead_letters: Vec<DeadLetter>,
    /// Per consumer group: queued events by sequence number.
    inbox: HashMap<String, BTreeMap<i64, OutboxEvent>>,
    next_id: i64,
}

#[derive(Debug, Clone)]
struct OutboxRow {
    event: OutboxEvent,
    published_at: Option<Timestamp>,
    claimed_until: Option<Timestamp>,
}

impl OutboxRow {
    fn new(event: OutboxEvent) -> Self {
        Self {
            event,
            published_at: None,
            claimed_until: None,
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

    fn next_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    fn record(
        &mut self,
        ticket: Option<&IdempotencyTicket>,
        response: anyhow::Result<String>,
    ) -> anyhow::Result<()> {
        if let Some(ticket) = ticket {
            let response = response?;
            if let Some(row) = self.idempotency.get_mut(&key_of(ticket)) {
                row.response = Some(response);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn list_concerts(&self) -> anyhow::Result<Vec<Concert>> {
        Ok(lock(&self.inner).concerts.values().cloned().collect())
    }

    async fn concert(&self, id: ConcertId) -> anyhow::Result<Option<Concert>> {
        Ok(lock(&self.inner).concerts.get(&id).cloned())
    }

    async fn schedule(&self, id: ScheduleId) -> anyhow::Result<Option<Schedule>> {
        Ok(lock(&self.inner).schedules.get(&id).cloned())
    }

    async fn schedules_with_availability(
        &self,
        concert: ConcertId,
        now: Timestamp,
    ) -> anyhow::Result<Vec<ScheduleAvailability>> {
        let state = lock(&self.inner);
        let mut out: Vec<_> = state
            .schedules
            .values()
            .filter(|s| s.concert_id == concert)
            .map(|s| ScheduleAvailability {
                schedule: s.clone(),
                available_seats: state
                    .seats
                    .iter()
                    .filter(|((sid, _), row)| {
                        *sid == s.id && row.state.status_at(now) == SeatStatus::Available
                    })
                    .count() as u32,
            })
            .collect();
        out.sort_by_key(|a| (a.schedule.starts_at, a.schedule.id));
        Ok(out)
    }

    async fn seats(&self, schedule: ScheduleId, now: Timestamp) -> anyhow::Result<Vec<Seat>> {
        let state = lock(&self.inner);
        Ok(state
            .seats
            .iter()
            .filter(|((sid, _), _)| *sid == schedule)
            .map(|((_, number), row)| Seat {
                number: *number,
                grade: row.grade.clone(),
                price: row.price,
                status: row.state.status_at(now),
            })
            .collect())
    }

    async fn create_concert(
        &self,
        concert: &NewConcert,
        _now: Timestamp,
    ) -> anyhow::Result<ConcertId> {
        let mut state = lock(&self.inner);
        let id = ConcertId::new(state.next_id())?;
        state.concerts.insert(
            id,
            Concert {
                id,
                title: concert.title().to_owned(),
                artist: concert.artist().to_owned(),
            },
        );
        for new in concert.schedules() {
            let sid = ScheduleId::new(state.next_id())?;
            state.schedules.insert(
                sid,
                Schedule {
                    id: sid,
                    concert_id: id,
                    starts_at: new.starts_at,
                    venue: new.venue.clone(),
                },
            );
            for seat in concert.seats() {
                state.seats.insert(
                    (sid, seat.number),
                    SeatRow {
                        grade: seat.grade.clone(),
                        price: seat.price,
                        state: SeatState::Open,
                        hold: None,
                    },
                );
            }
        }
        Ok(id)
    }

    async fn entry_rules(&self, concert: ConcertId) -> anyhow::Result<Option<EntryRules>> {
        let state = lock(&self.inner);
        Ok(state
            .concerts
            .contains_key(&concert)
            .then(|| state.entry_rules.get(&concert).copied().unwrap_or_default()))
    }

    async fn set_entry_rules(
        &self,
        concert: ConcertId,
        rules: &EntryRules,
    ) -> anyhow::Result<bool> {
        let mut state = lock(&self.inner);
        if !state.concerts.contains_key(&concert) {
            return Ok(false);
        }
        state.entry_rules.insert(concert, *rules);
        Ok(true)
    }

    async fn room(&self, concert: ConcertId) -> anyhow::Result<Option<RoomSnapshot>> {
        let state = lock(&self.inner);
        if !state.concerts.contains_key(&concert) {
            return Ok(None);
        }
        let sellable = state
            .seats
            .iter()
            .filter(|((schedule, _), row)| {
                state.schedules.get(schedule).map(|s| s.concert_id) == Some(concert)
                    && !matches!(row.state, SeatState::Sold)
            })
            .count();
        Ok(Some(RoomSnapshot {
            room: state.room(concert),
            rules: state.entry_rules.get(&concert).copied().unwrap_or_default(),
            sellable_seats: sellable as u64,
        }))
    }

    async fn update_room(
        &self,
        room: &Room,
        expected_version: i64,
        changes: &[RoomChange],
        event: &OutboxEvent,
    ) -> anyhow::Result<bool> {
        let mut state = lock(&self.inner);
        if !state.concerts.contains_key(&room.concert) {
            return Ok(false);
        }
        let current = state.room(room.concert);
        if current.version != expected_version {
            return Ok(false);
        }
        let updated = Room {
            version: current.version + 1,
            flow: current.flow,
            drawn_at: current.drawn_at,
            lottery_seed: current.lottery_seed.or_else(|| room.lottery_seed.clone()),
            ..room.clone()
        };
        state.rooms.insert(room.concert, updated);
        state
            .room_changes
            .entry(room.concert)
            .or_default()
            .extend_from_slice(changes);
        state.outbox.push(OutboxRow::new(event.clone()));
        Ok(true)
    }

    async fn room_audit(&self, concert: ConcertId, limit: u32) -> anyhow::Result<Vec<RoomChange>> {
        let state = lock(&self.inner);
        Ok(state
            .room_changes
            .get(&concert)
            .map(|changes| changes.iter().rev().take(limit as usize).cloned().collect())
            .unwrap_or_default())
    }

    async fn record_draw(
        &self,
        concert: ConcertId,
        drawn: &[String],
        now: Timestamp,
        changes: &[RoomChange],
        event: &OutboxEvent,
    ) -> anyhow::Result<bool> {
        let mut state = lock(&self.inner);
        if !state.concerts.contains_key(&concert) || state.lotteries.contains_key(&concert) {
            return Ok(false);
        }
        let mut room = state.room(concert);
        if room.state == RoomState::Scheduled {
            room.state = RoomState::Open;
        }
        room.drawn_at = Some(now);
        room.version += 1;
        state.rooms.insert(concert, room);
        state.lotteries.insert(concert, drawn.to_vec());
        state
            .room_changes
            .entry(concert)
            .or_default()
            .extend_from_slice(changes);
        state.outbox.push(OutboxRow::new(event.clone()));
        Ok(true)
    }

    async fn lottery(&self, concert: ConcertId) -> anyhow::Result<Option<Vec<String>>> {
        Ok(lock(&self.inner).lotteries.get(&concert).cloned())
    }

    async fn record_flow(&self, concert: ConcertId, flow: &Flow) -> anyhow::Result<()> {
        let mut state = lock(&self.inner);
        if state.concerts.contains_key(&concert) {
            state
                .rooms
                .entry(concert)
                .or_insert_with(|| Room::new(concert))
                .flow = flow.clone();
        }
        Ok(())
    }

    async fn seat_tally(&self, concert: ConcertId, now: Timestamp) -> anyhow::Result<SeatTally> {
        let state = lock(&self.inner);
        let mut tally = SeatTally::default();
        let of_concert = |schedule: &ScheduleId| {
            state.schedules.get(schedule).map(|s| s.concert_id) == Some(concert)
        };
        for ((schedule, _), row) in &state.seats {
            if !of_concert(schedule) {
                continue;
            }
            match row.state.status_at(now) {
                SeatStatus::Available => tally.available += 1,
                SeatStatus::Held => tally.held += 1,
                SeatStatus::Sold => tally.sold += 1,
            }
        }
        tally.revenue = state
            .reservations
            .iter()
            .filter(|r| r.concert_id == concert)
            .try_fold(Won::ZERO, |sum, r| sum.checked_add(r.price))
            .context("revenue overflows")?;
        Ok(tally)
    }

    async fn record_samples(
        &self,
        samples: &[SaleSample],
        keep_from: Timestamp,
    ) -> anyhow::Result<()> {
        let mut state = lock(&self.inner);
        for sample in samples {
            state
                .samples
                .entry((sample.concert, sample.at))
                .or_insert(*sample);
        }
        state.samples.retain(|(_, at), _| *at >= keep_from);
        Ok(())
    }

    async fn samples(
        &self,
        concert: ConcertId,
        since: Timestamp,
        limit: u32,
    ) -> anyhow::Result<Vec<SaleSample>> {
        let state = lock(&self.inner);
        let mut newest: Vec<SaleSample> = state
            .samples
            .range((concert, since)..=(concert, Timestamp::from_millis(i64::MAX)))
            .rev()
            .take(limit as usize)
            .map(|(_, sample)| *sample)
            .collect();
        newest.reverse();
        Ok(newest)
    }

    async fn user_for_subject(&self, subject: &Subject) -> anyhow::Result<UserId> {
        let mut state = lock(&self.inner);
        if let Some(id) = state.subjects.get(subject.as_str()) {
            return Ok(*id);
        }
        let id = UserId::new(FIRST_MAPPED_USER_ID + state.subjects.len() as i64)?;
        state.subjects.insert(subject.as_str().to_owned(), id);
        Ok(id)
    }

    async fn signing_secret(&self, purpose: &str, candidate: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut state = lock(&self.inner);
        Ok(state
            .secrets
            .entry(purpose.to_owned())
            .or_insert_with(|| candidate.to_vec())
            .clone())
    }

    async fn hold_seat(&self, a: &HoldAttempt) -> anyhow::Result<HoldOutcome> {
        let mut state = lock(&self.inner);
        let mine = || state.holds.values().filter(|h| h.user_id == a.user_id);
        let fan = FanHolds {
            live: mine().filter(|h| h.is_live(a.now)).count() as u64,
            lapsed: mine()
                .filter(|h| h.expires_at > a.limits.lapsed_since)
                .filter(|h| has_lapsed(h.status, h.expires_at, a.now))
                .count() as u64,
            funded: state
                .balances
                .get(&a.user_id)
                .is_some_and(|b| b.amount() > 0),
        };
        if let Some(limit) = a.limits.refusal(fan) {
            return Ok(HoldOutcome::LimitReached(limit));
        }
        let Some(concert_id) = state.schedules.get(&a.schedule_id).map(|s| s.concert_id) else {
            return Ok(HoldOutcome::NoSuchSeat);
        };
        let Some(row) = state.seats.get_mut(&(a.schedule_id, a.seat_number)) else {
            return Ok(HoldOutcome::NoSuchSeat);
        };
        match row.state.status_at(a.now) {
            SeatStatus::Sold => return Ok(HoldOutcome::SeatSold),
            SeatStatus::Held => return Ok(HoldOutcome::SeatTaken),
            SeatStatus::Available => {}
        }
        row.state = SeatState::HeldUntil(a.expires_at);
        row.hold = Some(a.hold_id);
        let hold = Hold {
            id: a.hold_id,
            user_id: a.user_id,
            concert_id,
            schedule_id: a.schedule_id,
            seat_number: a.seat_number,
            price: row.price,
            expires_at: a.expires_at,
            status: HoldStatus::Active,
        };
        state.holds.insert(hold.id, hold.clone());
        Ok(HoldOutcome::Held(hold))
    }

    async fn release_hold(
        &self,
        user: UserId,
        hold: HoldId,
        now: Timestamp,
    ) -> anyhow::Result<ReleaseOutcome> {
        let mut state = lock(&self.inner);
        let Some(found) = state.holds.get(&hold).cloned() else {
            return Ok(ReleaseOutcome::NotFound);
        };
        if found.user_id != user {
            return Ok(ReleaseOutcome::NotYours);
        }
        if !found.is_live(now) {
            return Ok(ReleaseOutcome::NotLive);
        }
        if let Some(h) = state.holds.get_mut(&hold) {
            h.status = HoldStatus::Released;
        }
        if let Some(row) = state.seats.get_mut(&(found.schedule_id, found.seat_number))
            && row.hold == Some(hold)
        {
            row.state = SeatState::Open;
            row.hold = None;
        }
        Ok(ReleaseOutcome::Released(found.concert_id))
    }

    async fn release_expired_holds(&self, now: Timestamp, limit: u32) -> anyhow::Result<u64> {
        let mut state = lock(&self.inner);
        let ended: Vec<Hold> = state
            .holds
            .values()
            .filter(|h| h.status == HoldStatus::Active && h.expires_at <= now)
            .take(limit as usize)
            .cloned()
            .collect();
        for hold in &ended {
            if let Some(h) = state.holds.get_mut(&hold.id) {
                h.status = HoldStatus::Released;
            }
            if let Some(row) = state.seats.get_mut(&(hold.schedule_id, hold.seat_number))
                && row.hold == Some(hold.id)
            {
                row.state = SeatState::Open;
                row.hold = None;
            }
        }
        Ok(ended.len() as u64)
    }

    async fn confirm_payment(
        &self,
        a: &PaymentAttempt,
        ticket: Option<&IdempotencyTicket>,
    ) -> anyhow::Result<PaymentOutcome> {
        let mut state = lock(&self.inner);
        let hold = match a.payable(state.holds.get(&a.hold_id).cloned()) {
            Ok(hold) => hold,
            Err(refusal) => return Ok(PaymentOutcome::Refused(refusal)),
        };
        let balance = state.balances.get(&a.user_id).copied().unwrap_or_default();
        let Some(after) = balance.checked_sub(hold.price) else {
            return Ok(PaymentOutcome::Refused(
                PaymentRefused::InsufficientBalance {
                    balance,
                    price: hold.price,
                },
            ));
        };
        let reservation = a.sale(&hold);
        let receipt = reservation.receipt(after);
        // Everything below must succeed together; the only fallible step
        // (serialising the answer) goes first.
        let answer = Recorded::<&PaymentReceipt, PaymentRefused>::Done(&receipt).to_json();
        state.record(ticket, answer.map_err(Into::into))?;
        state.balances.insert(a.user_id, after);
        state.paid = state.paid.checked_add(hold.price).unwrap_or(state.paid);
        if let Some(h) = state.holds.get_mut(&hold.id) {
            h.status = HoldStatus::Consumed;
        }
        if let Some(row) = state.seats.get_mut(&(hold.schedule_id, hold.seat_number)) {
            row.state = SeatState::Sold;
            row.hold = None;
        }
        let event = events::reservation_confirmed(a.event_id, &reservation);
        state.outbox.push(OutboxRow::new(event));
        state.reservations.push(reservation);
        Ok(PaymentOutcome::Confirmed(receipt))
    }

    async fn charge_balance(
        &self,
        a: &ChargeAttempt,
        ticket: Option<&IdempotencyTicket>,
    ) -> anyhow::Result<ChargeOutcome> {
        let mut state = lock(&self.inner);
        let balance = state.balances.get(&a.user_id).copied().unwrap_or_default();
        let Some(after) = balance
            .checked_add(a.amount)
            .filter(|b| *b <= a.max_balance)
        else {
            return Ok(ChargeOutcome::Refused(ChargeRefused::LimitExceeded {
                balance,
                max: a.max_balance,
            }));
        };
        let receipt = ChargeReceipt { balance: after };
        let answer = Recorded::<ChargeReceipt, ChargeRefused>::Done(receipt).to_json();
        state.record(ticket, answer.map_err(Into::into))?;
        state.balances.insert(a.user_id, after);
        state.charged = state.charged.checked_add(a.amount).unwrap_or(state.charged);
        let event = events::balance_charged(
            a.event_id,
            BalanceCharged {
                user_id: a.user_id,
                amount: a.amount,
                balance: after,
                charged_at: a.now,
            },
        );
        state.outbox.push(OutboxRow::new(event));
        Ok(ChargeOutcome::Charged(receipt))
    }

    async fn balance(&self, user: UserId) -> anyhow::Result<Won> {
        Ok(lock(&self.inner)
            .balances
            .get(&user)
            .copied()
            .unwrap_or_default())
    }

    async fn reservations_of(&self, user: UserId) -> anyhow::Result<Vec<Reservation>> {
        let state = lock(&self.inner);
        let mut mine: Vec<_> = state
            .reservations
            .iter()
            .filter(|r| r.user_id == user)
            .cloned()
            .collect();
        mine.sort_by(|a, b| b.confirmed_at.cmp(&a.confirmed_at).then(b.id.cmp(&a.id)));
        Ok(mine)
    }

    async fn audit(&self) -> anyhow::Result<StoreAudit> {
        let state = lock(&self.inner);
        let balances = state.balances.values().map(|w| w.amount()).sum();
        let mut per_seat: HashMap<(ScheduleId, SeatNumber), u64> = HashMap::new();
        for r in &state.reservations {
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
        let events = |r: &Reservation| {
            state
                .outbox
                .iter()
                .filter(|row| {
                    row.event.event_type == events::RESERVATION_CONFIRMED
                        && row.event.aggregate_key == r.id.to_string()
                })
                .count()
        };
        Ok(StoreAudit {
            money: MoneyTotals {
                charged: state.charged,
                balances: Won::new(balances),
                paid: state.paid,
            },
            reservations: state.reservations.len() as u64,
            negative_balances: state.balances.values().filter(|w| w.amount() < 0).count() as u64,
            seats_sold_twice: per_seat.values().filter(|n| **n > 1).count() as u64,
            sales_out_of_step: out_of_step as u64,
            reservations_without_one_event: state
                .reservations
                .iter()
                .filter(|r| events(r) != 1)
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

    async fn dead_letters(&self, limit: u32) -> anyhow::Result<Vec<DeadLetter>> {
        let state = lock(&self.inner);
        let mut letters = state.dead_letters.clone();
        letters.sort_by_key(|d| std::cmp::Reverse(d.id));
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
