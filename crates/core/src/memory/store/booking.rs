//! The memory store's booking: holds and the payments that consume them.

use super::{MemoryStore, State};
use crate::domain::cancellation::{CancelTarget, CancellationReceipt};
use crate::domain::events::{self};
use crate::domain::idempotency::{IdempotencyTicket, Recorded};
use crate::domain::ledger::LedgerTransaction;
use crate::domain::reservation::{PaymentReceipt, Reservation};
use crate::domain::seat::{SeatState, SeatStatus};
use crate::domain::seat_hold::{ExtendRefusal, HoldExtension};
use crate::domain::seat_hold::{FanHolds, HeldSeat, Hold, HoldStatus, has_lapsed};
use crate::domain::{HoldId, Timestamp, UserId};
use crate::memory::lock;
use crate::ports::{
    Booking, CancelAttempt, CancelOutcome, CancelRefused, ExtendOutcome, HoldAttempt, HoldOutcome,
    PaymentAttempt, PaymentOutcome, PaymentRefused, ReleaseOutcome,
};
use anyhow::Context;
use async_trait::async_trait;

#[async_trait]
impl Booking for MemoryStore {
    async fn hold_seat(&self, a: &HoldAttempt) -> anyhow::Result<HoldOutcome> {
        Ok(lock(&self.inner).hold(a, Waiters::ComeFirst))
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
        state.free_seats_of(&found);
        Ok(ReleaseOutcome::Released(found.concert_id))
    }

    async fn extend_hold(
        &self,
        user: UserId,
        hold: HoldId,
        now: Timestamp,
        extension: HoldExtension,
    ) -> anyhow::Result<ExtendOutcome> {
        let mut state = lock(&self.inner);
        let Some(found) = state.holds.get(&hold).cloned() else {
            return Ok(ExtendOutcome::NotFound);
        };
        let until = match extension.new_expiry(&found, user, now) {
            Ok(until) => until,
            Err(refusal) => return Ok(ExtendOutcome::Refused(refusal)),
        };
        // As on SQL: a seat taken by another hold means this one is over.
        let keeps_all = found.seat_numbers().all(|number| {
            state
                .seats
                .get(&(found.schedule_id, number))
                .is_some_and(|row| row.hold == Some(hold))
        });
        if !keeps_all {
            return Ok(ExtendOutcome::Refused(ExtendRefusal::NotLive));
        }
        for number in found.seat_numbers() {
            if let Some(row) = state.seats.get_mut(&(found.schedule_id, number)) {
                row.state = SeatState::HeldUntil(until);
            }
        }
        let extended = Hold {
            expires_at: until,
            extended: true,
            ..found
        };
        state.holds.insert(hold, extended.clone());
        Ok(ExtendOutcome::Extended(extended))
    }

    async fn live_holds_of(&self, user: UserId, now: Timestamp) -> anyhow::Result<Vec<Hold>> {
        let state = lock(&self.inner);
        let mut live: Vec<Hold> = state
            .holds
            .values()
            .filter(|h| h.user_id == user && h.is_live(now))
            .cloned()
            .collect();
        live.sort_by_cached_key(|h| std::cmp::Reverse((h.held_at, h.id.to_string())));
        Ok(live)
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
            state.free_seats_of(hold);
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
        let sales = a
            .sale(&hold)
            .context("the payment brings fewer sale ids than the hold has seats")?;
        let reservations: Vec<Reservation> = sales.iter().map(|s| s.reservation.clone()).collect();
        let receipt = PaymentReceipt::of(&reservations, after).context("a hold without seats")?;
        // Everything below must succeed together; the only fallible step
        // (serialising the answer) goes first.
        let answer = Recorded::<&PaymentReceipt, PaymentRefused>::Done(&receipt).to_json();
        state.record(ticket, answer.map_err(Into::into))?;
        state.balances.insert(a.user_id, after);
        state.paid = state.paid.checked_add(hold.price).unwrap_or(state.paid);
        if let Some(h) = state.holds.get_mut(&hold.id) {
            h.status = HoldStatus::Consumed;
        }
        for sale in sales {
            let reservation = sale.reservation;
            state.post(LedgerTransaction::sale(
                reservation.id,
                a.user_id,
                reservation.concert_id,
                reservation.price,
            ));
            if let Some(row) = state
                .seats
                .get_mut(&(reservation.schedule_id, reservation.seat_number))
            {
                row.state = SeatState::Sold;
                row.hold = None;
            }
            let event = events::reservation_confirmed(sale.event_id, &reservation);
            state.append(event);
            state.reservations.push(reservation);
        }
        Ok(PaymentOutcome::Confirmed(receipt))
    }

    async fn cancel_reservation(
        &self,
        a: &CancelAttempt,
        ticket: Option<&IdempotencyTicket>,
    ) -> anyhow::Result<CancelOutcome> {
        let mut state = lock(&self.inner);
        let found = state
            .reservations
            .iter()
            .position(|r| r.id == a.reservation_id);
        let target = found.and_then(|i| {
            let r = &state.reservations[i];
            let schedule = state.schedules.get(&r.schedule_id)?;
            Some(CancelTarget {
                reservation: r.clone(),
                starts_at: schedule.starts_at,
                date_cancelled: schedule.cancelled_at.is_some(),
                concert_policy: state.cancellation_policies.get(&r.concert_id).copied(),
            })
        });
        let (reservation, quote) = match a.cancellable(target) {
            Ok(cancellable) => cancellable,
            Err(refused) => return Ok(CancelOutcome::Refused(refused)),
        };
        let balance = state.balances.get(&a.user_id).copied().unwrap_or_default();
        let after = balance
            .checked_add(quote.refund)
            .ok_or_else(|| anyhow::anyhow!("the refund overflows the balance"))?;
        let cancellation = a.cancellation(quote);
        let receipt = a.receipt(&reservation, cancellation, after);
        // Everything below must succeed together; the only fallible step
        // (serialising the answer) goes first.
        let answer = Recorded::<&CancellationReceipt, CancelRefused>::Done(&receipt).to_json();
        state.record(ticket, answer.map_err(Into::into))?;
        state.balances.insert(a.user_id, after);
        state.refunded = state
            .refunded
            .checked_add(quote.refund)
            .unwrap_or(state.refunded);
        state.post(LedgerTransaction::cancellation(
            reservation.id,
            a.user_id,
            reservation.concert_id,
            quote.refund,
            quote.fee,
        ));
        if let Some(row) = state
            .seats
            .get_mut(&(reservation.schedule_id, reservation.seat_number))
        {
            row.state = SeatState::Open;
            row.hold = None;
        }
        if let Some(i) = found {
            state.reservations[i].cancellation = Some(cancellation);
        }
        let event = events::reservation_cancelled(a.event_id, a.user_id, &receipt);
        state.append(event);
        Ok(CancelOutcome::Cancelled(receipt))
    }

    async fn reservations_to_refund(&self, limit: u32) -> anyhow::Result<Vec<Reservation>> {
        let state = lock(&self.inner);
        let called_off = |r: &&Reservation| {
            state
                .schedules
                .get(&r.schedule_id)
                .is_some_and(|s| s.cancelled_at.is_some())
        };
        let mut due: Vec<Reservation> = state
            .reservations
            .iter()
            .filter(|r| r.cancellation.is_none())
            .filter(called_off)
            .cloned()
            .collect();
        due.sort_by_key(|r| r.id.to_string());
        due.truncate(limit as usize);
        Ok(due)
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
}

/// Whether a hold is one a fan asked for, which waiting-list fans come
/// before, or a waiting-list offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Waiters {
    ComeFirst,
    AreServed,
}

impl State {
    /// Holds the basket of `a` by the booking port's rule
    /// ([`Booking::hold_seat`]).
    pub(super) fn hold(&mut self, a: &HoldAttempt, waiters: Waiters) -> HoldOutcome {
        let mine = || self.holds.values().filter(|h| h.user_id == a.user_id);
        let concert = self.schedules.get(&a.schedule_id).map(|s| s.concert_id);
        let bought = self
            .reservations
            .iter()
            .filter(|r| r.user_id == a.user_id && Some(r.concert_id) == concert)
            .filter(|r| r.cancellation.is_none())
            .count();
        let held_here: usize = mine()
            .filter(|h| h.is_live(a.now) && Some(h.concert_id) == concert)
            .map(|h| h.seats.len())
            .sum();
        let fan = FanHolds {
            concert_tickets: (bought + held_here) as u64,
            live: mine().filter(|h| h.is_live(a.now)).count() as u64,
            lapsed: mine()
                .filter(|h| h.expires_at > a.limits.lapsed_since)
                .filter(|h| has_lapsed(h.status, h.expires_at, a.now))
                .count() as u64,
            funded: self
                .balances
                .get(&a.user_id)
                .is_some_and(|b| b.amount() > 0),
        };
        if let Some(limit) = a.limits.refusal(fan, a.seats.len()) {
            return HoldOutcome::LimitReached(limit);
        }
        let Some(concert_id) = concert else {
            return HoldOutcome::NoSuchSeat;
        };
        // While fans wait on the date's list, a seat that comes back is
        // theirs: only an offer ([`Waiters::AreServed`]) may take it.
        if waiters == Waiters::ComeFirst && self.waiting_on(a.schedule_id) > 0 {
            return HoldOutcome::SeatTaken;
        }
        // All or none: every seat is checked, in ascending order as the SQL
        // stores claim them, before any is taken.
        let mut seats = Vec::with_capacity(a.seats.len());
        for &number in a.seats.seats() {
            let Some(row) = self.seats.get(&(a.schedule_id, number)) else {
                return HoldOutcome::NoSuchSeat;
            };
            match row.state.status_at(a.now) {
                SeatStatus::Sold => return HoldOutcome::SeatSold,
                SeatStatus::Held => return HoldOutcome::SeatTaken,
                SeatStatus::Available => seats.push(HeldSeat {
                    number,
                    price: row.price,
                }),
            }
        }
        for seat in &seats {
            if let Some(row) = self.seats.get_mut(&(a.schedule_id, seat.number)) {
                row.state = SeatState::HeldUntil(a.expires_at);
                row.hold = Some(a.hold_id);
            }
        }
        let hold = Hold::new(
            a.hold_id,
            a.user_id,
            concert_id,
            a.schedule_id,
            seats,
            a.now,
            a.expires_at,
        );
        self.holds.insert(hold.id, hold.clone());
        HoldOutcome::Held(hold)
    }
}
