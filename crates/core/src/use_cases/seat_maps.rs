//! This instance's seat maps: each date's seats as last read from the
//! store, served for up to `holds.seat_map_max_age_ms`, so that a rush of
//! fans looking at the same dates costs the store one read per date and
//! interval rather than one per look. The map only shows what is free; the
//! hold statement stays the authority, so a stale map can make a fan try a
//! seat that is gone (and be told so), never sell one twice.
//!
//! A change this instance makes to a date (a hold, a release, a payment, a
//! cancellation, a waiting-list offer) drops that date's map at once, so a
//! fan who calls the same instance sees their own change. Changes made on
//! other instances show within the age.
//!
//! Also kept here: which concert each date belongs to, which never
//! changes, so a look at a date needs no cache round trip to check the
//! fan's admission is for that concert.

use super::App;
use crate::domain::seat::Seat;
use crate::domain::{ConcertId, ScheduleId, Timestamp};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Dates whose maps are kept at most; past that, the maps older than
/// their age are dropped before one is added.
const MOST_MAPS: usize = 20_000;

/// One date's seats as read.
#[derive(Debug, Clone)]
struct SeatMap {
    concert: ConcertId,
    seats: Arc<Vec<Seat>>,
    read_at: Timestamp,
}

/// The maps and the date-to-concert pairs of this instance.
#[derive(Debug, Default)]
pub(super) struct SeatMaps {
    maps: RwLock<HashMap<ScheduleId, SeatMap>>,
    concerts: RwLock<HashMap<ScheduleId, ConcertId>>,
}

impl SeatMaps {
    fn fresh(
        &self,
        schedule: ScheduleId,
        now: Timestamp,
        max_age_ms: u64,
    ) -> Option<Arc<Vec<Seat>>> {
        let maps = self.maps.read().ok()?;
        let map = maps.get(&schedule)?;
        let age = now.as_millis().saturating_sub(map.read_at.as_millis());
        (u64::try_from(age).unwrap_or(u64::MAX) < max_age_ms).then(|| map.seats.clone())
    }

    fn keep(&self, schedule: ScheduleId, map: SeatMap, max_age_ms: u64) {
        let Ok(mut maps) = self.maps.write() else {
            return;
        };
        if maps.len() >= MOST_MAPS {
            let now = map.read_at.as_millis();
            maps.retain(|_, m| {
                u64::try_from(now.saturating_sub(m.read_at.as_millis())).unwrap_or(u64::MAX)
                    < max_age_ms
            });
        }
        // A read that started before a drop may land after it: keep the newer.
        match maps.get(&schedule) {
            Some(known) if known.read_at > map.read_at => {}
            _ => {
                maps.insert(schedule, map);
            }
        }
    }

    fn forget(&self, schedule: ScheduleId) {
        if let Ok(mut maps) = self.maps.write() {
            maps.remove(&schedule);
        }
    }

    fn forget_concert(&self, concert: ConcertId) {
        if let Ok(mut maps) = self.maps.write() {
            maps.retain(|_, m| m.concert != concert);
        }
    }

    pub(super) fn concert_of(&self, schedule: ScheduleId) -> Option<ConcertId> {
        self.concerts.read().ok()?.get(&schedule).copied()
    }

    pub(super) fn remember_concert(&self, schedule: ScheduleId, concert: ConcertId) {
        if let Ok(mut concerts) = self.concerts.write() {
            if concerts.len() >= MOST_MAPS * 5 {
                concerts.clear();
            }
            concerts.insert(schedule, concert);
        }
    }
}

impl App {
    /// `schedule`'s seats (of `concert`) at now: this instance's map when
    /// it is younger than `holds.seat_map_max_age_ms`, or else the store's.
    pub(super) async fn seat_map(
        &self,
        concert: ConcertId,
        schedule: ScheduleId,
    ) -> anyhow::Result<Arc<Vec<Seat>>> {
        let max_age_ms = self.policies.holds.seat_map_max_age_ms;
        let now = self.now();
        if max_age_ms == 0 {
            return Ok(Arc::new(self.store().seats(schedule, now).await?));
        }
        if let Some(seats) = self.seat_maps.fresh(schedule, now, max_age_ms) {
            return Ok(seats);
        }
        let seats = Arc::new(self.store().seats(schedule, now).await?);
        let map = SeatMap {
            concert,
            seats: seats.clone(),
            read_at: now,
        };
        self.seat_maps.keep(schedule, map, max_age_ms);
        Ok(seats)
    }

    /// A change this instance made to `schedule`'s seats: its map is read
    /// again on the next look.
    pub(super) fn seats_changed(&self, schedule: ScheduleId) {
        self.seat_maps.forget(schedule);
    }

    /// A change this instance made to seats of `concert`, date unknown.
    pub(super) fn concert_seats_changed(&self, concert: ConcertId) {
        self.seat_maps.forget_concert(concert);
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::seat::SeatStatus;
    use crate::domain::{SeatNumber, Won};
    use crate::testing::{TestApp, user};

    fn seat(n: i64) -> SeatNumber {
        SeatNumber::new(n).unwrap()
    }

    #[tokio::test]
    async fn a_map_is_served_for_its_age_then_read_again_and_a_change_here_shows_at_once() {
        let t = TestApp::new().await;
        let mine = t.active_token(user(1)).await;
        let before = t.app.list_seats(user(1), mine, t.schedule).await.unwrap();
        assert_eq!(before[5].status, SeatStatus::Available);
        // Another instance (the same store, a map of its own) sells seat 6.
        let other = t.twin();
        other
            .charge_balance(user(2), Won::new(150_000), None)
            .await
            .unwrap();
        let theirs = t.active_token(user(2)).await;
        let hold = other
            .hold_seat(user(2), theirs, t.schedule, seat(6))
            .await
            .unwrap();
        other.pay_for_hold(user(2), hold.id, None).await.unwrap();
        let cached = t.app.list_seats(user(1), mine, t.schedule).await.unwrap();
        assert_eq!(
            cached[5].status,
            SeatStatus::Available,
            "within its age, this instance's map is served"
        );
        let age = t.app.policies().holds.seat_map_max_age_ms;
        t.clock.advance_millis(i64::try_from(age).unwrap());
        let later = t.app.list_seats(user(1), mine, t.schedule).await.unwrap();
        assert_eq!(
            later[5].status,
            SeatStatus::Sold,
            "past its age, read again"
        );
        // A hold made here shows here at once, whatever the map's age.
        t.app
            .hold_seat(user(1), mine, t.schedule, seat(7))
            .await
            .unwrap();
        let now = t.app.list_seats(user(1), mine, t.schedule).await.unwrap();
        assert_eq!(now[6].status, SeatStatus::Held);
    }
}
