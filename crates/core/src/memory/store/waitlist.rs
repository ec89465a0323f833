//! The memory store's waiting lists and the offers made from them.

use super::booking::Waiters;
use super::{MemoryStore, State};
use crate::domain::seat::SeatStatus;
use crate::domain::waitlist::{
    DateForWaitlist, JoinRefusal, WaitlistEntry, WaitlistStatus, settled_offer,
};
use crate::domain::{ConcertId, ScheduleId, SeatNumber, Timestamp, UserId};
use crate::memory::lock;
use crate::ports::{HoldOutcome, JoinOutcome, OfferAttempt, OfferOutcome, SettledOffers, Waitlist};
use async_trait::async_trait;

impl State {
    /// The user's open entry on the date, as an index into the list.
    fn open_entry(&self, user: UserId, schedule: ScheduleId) -> Option<usize> {
        self.waitlist
            .iter()
            .position(|w| w.user_id == user && w.schedule_id == schedule && w.status.is_open())
    }

    /// The entry as the fan sees it: with its place in line while waiting.
    fn shown(&self, i: usize) -> WaitlistEntry {
        let entry = &self.waitlist[i];
        let position = (entry.status == WaitlistStatus::Waiting).then(|| {
            self.waitlist[..=i]
                .iter()
                .filter(|w| w.schedule_id == entry.schedule_id)
                .filter(|w| w.status == WaitlistStatus::Waiting)
                .count() as u64
        });
        WaitlistEntry {
            position,
            ..entry.clone()
        }
    }

    /// The date's seats a fan could hold at `now`, lowest first.
    fn free_seats(&self, schedule: ScheduleId, now: Timestamp) -> impl Iterator<Item = SeatNumber> {
        self.seats
            .iter()
            .filter(move |((s, _), _)| *s == schedule)
            .filter(move |(_, row)| row.state.status_at(now) == SeatStatus::Available)
            .map(|((_, number), _)| *number)
    }

    /// Seats of `concert` the user holds live or bought.
    fn tickets_of(&self, user: UserId, concert: ConcertId, now: Timestamp) -> u64 {
        let bought = self
            .reservations
            .iter()
            .filter(|r| r.user_id == user && r.concert_id == concert && r.cancellation.is_none())
            .count();
        let held: usize = self
            .holds
            .values()
            .filter(|h| h.user_id == user && h.concert_id == concert && h.is_live(now))
            .map(|h| h.seats.len())
            .sum();
        (bought + held) as u64
    }
}

#[async_trait]
impl Waitlist for MemoryStore {
    async fn join_waitlist(
        &self,
        user: UserId,
        schedule: ScheduleId,
        now: Timestamp,
    ) -> anyhow::Result<JoinOutcome> {
        let mut state = lock(&self.inner);
        let Some(date) = state.schedules.get(&schedule).cloned() else {
            return Ok(JoinOutcome::Refused(JoinRefusal::ScheduleNotFound));
        };
        if let Some(i) = state.open_entry(user, schedule) {
            return Ok(JoinOutcome::Joined(state.shown(i)));
        }
        let looks = DateForWaitlist {
            called_off: date.cancelled_at.is_some(),
            free_seats: state.free_seats(schedule, now).count() as u64,
            waiting: state.waiting_on(schedule) as u64,
        };
        if let Err(refusal) = looks.joinable() {
            return Ok(JoinOutcome::Refused(refusal));
        }
        state.waitlist.push(WaitlistEntry {
            user_id: user,
            concert_id: date.concert_id,
            schedule_id: schedule,
            joined_at: now,
            status: WaitlistStatus::Waiting,
            position: None,
            hold_id: None,
            offer_expires_at: None,
        });
        let last = state.waitlist.len() - 1;
        Ok(JoinOutcome::Joined(state.shown(last)))
    }

    async fn leave_waitlist(
        &self,
        user: UserId,
        schedule: ScheduleId,
        _now: Timestamp,
    ) -> anyhow::Result<bool> {
        let mut state = lock(&self.inner);
        match state.open_entry(user, schedule) {
            Some(i) if state.waitlist[i].status == WaitlistStatus::Waiting => {
                state.waitlist[i].status = WaitlistStatus::Left;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn waitlist_of(&self, user: UserId) -> anyhow::Result<Vec<WaitlistEntry>> {
        let state = lock(&self.inner);
        Ok((0..state.waitlist.len())
            .rev()
            .filter(|&i| state.waitlist[i].user_id == user)
            .map(|i| state.shown(i))
            .collect())
    }

    async fn dates_with_waiters(&self, limit: u32) -> anyhow::Result<Vec<ScheduleId>> {
        let state = lock(&self.inner);
        let mut dates: Vec<ScheduleId> = state
            .waitlist
            .iter()
            .filter(|w| w.status == WaitlistStatus::Waiting)
            .map(|w| w.schedule_id)
            .filter(|s| {
                state
                    .schedules
                    .get(s)
                    .is_some_and(|date| date.cancelled_at.is_none())
            })
            .collect();
        dates.sort_unstable();
        dates.dedup();
        dates.truncate(limit as usize);
        Ok(dates)
    }

    async fn offer_seat(&self, a: &OfferAttempt) -> anyhow::Result<OfferOutcome> {
        let mut state = lock(&self.inner);
        let Some(date) = state.schedules.get(&a.schedule_id).cloned() else {
            return Ok(OfferOutcome::NoSeat);
        };
        if date.cancelled_at.is_some() {
            return Ok(OfferOutcome::NoSeat);
        }
        let Some(seat) = state.free_seats(a.schedule_id, a.now).next() else {
            return Ok(OfferOutcome::NoSeat);
        };
        let waiter = state.waitlist.iter().position(|w| {
            w.schedule_id == a.schedule_id
                && w.status == WaitlistStatus::Waiting
                && state.tickets_of(w.user_id, date.concert_id, a.now)
                    < u64::from(a.max_per_concert)
        });
        let Some(i) = waiter else {
            return Ok(OfferOutcome::NoWaiter);
        };
        let attempt = a.hold_for(state.waitlist[i].user_id, seat);
        match state.hold(&attempt, Waiters::AreServed) {
            HoldOutcome::Held(hold) => {
                let entry = &mut state.waitlist[i];
                entry.status = WaitlistStatus::Offered;
                entry.hold_id = Some(hold.id);
                entry.offer_expires_at = Some(hold.expires_at);
                Ok(OfferOutcome::Offered(hold))
            }
            _ => Ok(OfferOutcome::Raced),
        }
    }

    async fn settle_offers(&self, now: Timestamp, limit: u32) -> anyhow::Result<SettledOffers> {
        let mut state = lock(&self.inner);
        let mut settled = SettledOffers::default();
        let mut closed = 0;
        for i in 0..state.waitlist.len() {
            if closed == limit {
                break;
            }
            let entry = &state.waitlist[i];
            if entry.status != WaitlistStatus::Offered {
                continue;
            }
            let Some(hold) = entry.hold_id.and_then(|id| state.holds.get(&id)) else {
                continue;
            };
            let Some(status) = settled_offer(hold.status, hold.expires_at, now) else {
                continue;
            };
            match status {
                WaitlistStatus::Bought => settled.bought += 1,
                _ => settled.lapsed += 1,
            }
            state.waitlist[i].status = status;
            closed += 1;
        }
        Ok(settled)
    }
}
