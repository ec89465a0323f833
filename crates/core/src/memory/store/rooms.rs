//! The memory store's rooms: state, settings and audit of each room, the
//! pre-queue's draw, observed flow and the console's samples.

use super::MemoryStore;
use crate::domain::events::OutboxEvent;
use crate::domain::room::{Flow, Room, RoomState};
use crate::domain::sample::{SaleSample, SeatTally};
use crate::domain::seat::{SeatState, SeatStatus};
use crate::domain::{ConcertId, ScheduleId, Timestamp, Won};
use crate::memory::lock;
use crate::ports::{RoomChange, RoomSnapshot, Rooms};
use anyhow::Context;
use async_trait::async_trait;

#[async_trait]
impl Rooms for MemoryStore {
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
        state.append(event.clone());
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
        state.append(event.clone());
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
            .map(|r| r.cancellation.map_or(r.price, |c| c.fee))
            .try_fold(Won::ZERO, |sum, kept| sum.checked_add(kept))
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
}
