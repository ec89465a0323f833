//! The memory store's catalog: concerts, their dates and seats.

use super::{MemoryStore, SeatRow};
use crate::domain::cancellation::CancellationPolicy;
use crate::domain::concert::ConcertChange;
use crate::domain::concert::{Concert, EntryRules, NewConcert, Schedule, ScheduleAvailability};
use crate::domain::seat::{Seat, SeatState, SeatStatus};
use crate::domain::seat_hold::{Hold, HoldStatus};
use crate::domain::{ConcertId, ScheduleId, Timestamp};
use crate::memory::lock;
use crate::ports::{CancelDatesOutcome, Catalog, UpdateConcertOutcome};
use async_trait::async_trait;

#[async_trait]
impl Catalog for MemoryStore {
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
                        *sid == s.id
                            && s.cancelled_at.is_none()
                            && row.state.status_at(now) == SeatStatus::Available
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
                    cancelled_at: None,
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

    async fn update_concert(
        &self,
        concert: ConcertId,
        change: &ConcertChange,
        now: Timestamp,
    ) -> anyhow::Result<UpdateConcertOutcome> {
        let mut state = lock(&self.inner);
        if !state.concerts.contains_key(&concert) {
            return Ok(UpdateConcertOutcome::NotFound);
        }
        let mut dates: Vec<_> = change.schedules.iter().collect();
        dates.sort_by_key(|d| d.schedule_id);
        for date in dates {
            let id = date.schedule_id;
            if state.schedules.get(&id).map(|s| s.concert_id) != Some(concert) {
                return Ok(UpdateConcertOutcome::ScheduleNotFound(id));
            }
            let on_sale = state
                .seats
                .iter()
                .filter(|((schedule, _), _)| *schedule == id)
                .any(|(_, row)| row.state.status_at(now) != SeatStatus::Available);
            if on_sale {
                return Ok(UpdateConcertOutcome::ScheduleOnSale(id));
            }
        }
        for date in &change.schedules {
            if let Some(s) = state.schedules.get_mut(&date.schedule_id) {
                if let Some(at) = date.starts_at {
                    s.starts_at = at;
                }
                if let Some(venue) = &date.venue {
                    s.venue.clone_from(venue);
                }
            }
        }
        if let Some(c) = state.concerts.get_mut(&concert) {
            if let Some(title) = &change.title {
                c.title.clone_from(title);
            }
            if let Some(artist) = &change.artist {
                c.artist.clone_from(artist);
            }
        }
        Ok(UpdateConcertOutcome::Updated)
    }

    async fn cancel_dates(
        &self,
        concert: ConcertId,
        only: Option<ScheduleId>,
        now: Timestamp,
    ) -> anyhow::Result<CancelDatesOutcome> {
        let mut state = lock(&self.inner);
        if !state.concerts.contains_key(&concert) {
            return Ok(CancelDatesOutcome::NotFound);
        }
        if let Some(id) = only
            && state.schedules.get(&id).map(|s| s.concert_id) != Some(concert)
        {
            return Ok(CancelDatesOutcome::ScheduleNotFound(id));
        }
        let mut called_off: Vec<ScheduleId> = state
            .schedules
            .values()
            .filter(|s| s.concert_id == concert && s.cancelled_at.is_none())
            .filter(|s| only.is_none_or(|o| o == s.id))
            .map(|s| s.id)
            .collect();
        called_off.sort();
        for id in &called_off {
            if let Some(s) = state.schedules.get_mut(id) {
                s.cancelled_at = Some(now);
            }
        }
        let released: Vec<Hold> = state
            .holds
            .values()
            .filter(|h| h.status == HoldStatus::Active && called_off.contains(&h.schedule_id))
            .cloned()
            .collect();
        for hold in &released {
            if let Some(h) = state.holds.get_mut(&hold.id) {
                h.status = HoldStatus::Released;
            }
            state.free_seats_of(hold);
        }
        Ok(CancelDatesOutcome::Cancelled {
            called_off,
            released_holds: released.len() as u64,
        })
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

    async fn cancellation_policy(
        &self,
        concert: ConcertId,
    ) -> anyhow::Result<Option<Option<CancellationPolicy>>> {
        let state = lock(&self.inner);
        Ok(state
            .concerts
            .contains_key(&concert)
            .then(|| state.cancellation_policies.get(&concert).copied()))
    }

    async fn set_cancellation_policy(
        &self,
        concert: ConcertId,
        policy: Option<&CancellationPolicy>,
    ) -> anyhow::Result<bool> {
        let mut state = lock(&self.inner);
        if !state.concerts.contains_key(&concert) {
            return Ok(false);
        }
        match policy {
            Some(policy) => _ = state.cancellation_policies.insert(concert, *policy),
            None => _ = state.cancellation_policies.remove(&concert),
        }
        Ok(true)
    }
}
