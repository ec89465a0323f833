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

/// Dates whose maps are kept at most; past that, the entries older than
/// the age are dropped, and while still full no map is kept.
const MOST_MAPS: usize = 20_000;

/// One date's seats as read (`None`: dropped by a change made here, and
/// not read again since).
#[derive(Debug, Clone)]
struct SeatMap {
    concert: ConcertId,
    seats: Option<Arc<Vec<Seat>>>,
    /// When the read began, or when the drop was made.
    read_at: Timestamp,
}

/// The maps and the date-to-concert pairs of this instance.
#[derive(Debug, Default)]
pub(super) struct SeatMaps {
    maps: RwLock<HashMap<ScheduleId, SeatMap>>,
    /// When this instance last changed seats of a concert, dates unknown.
    concert_drops: RwLock<HashMap<ConcertId, Timestamp>>,
    concerts: RwLock<HashMap<ScheduleId, ConcertId>>,
}

fn age_ms(now: Timestamp, then: Timestamp) -> Option<u64> {
    u64::try_from(now.as_millis() - then.as_millis()).ok()
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
        let seats = map.seats.as_ref()?;
        // A map from the future (the clock stepped back) is not fresh.
        (age_ms(now, map.read_at)? < max_age_ms).then(|| seats.clone())
    }

    /// Keeps a read that began at `map.read_at` and landed at `landed`,
    /// unless a change made here since it began (a drop of its date or its
    /// concert) or a newer read makes it stale already.
    fn keep(&self, schedule: ScheduleId, map: SeatMap, landed: Timestamp, max_age_ms: u64) {
        if let Ok(drops) = self.concert_drops.read()
            && drops.get(&map.concert).is_some_and(|at| *at >= map.read_at)
        {
            return;
        }
        let Ok(mut maps) = self.maps.write() else {
            return;
        };
        if maps.len() >= MOST_MAPS {
            maps.retain(|_, m| age_ms(landed, m.read_at).is_some_and(|age| age < max_age_ms));
            if maps.len() >= MOST_MAPS {
                return;
            }
        }
        match maps.get(&schedule) {
            // A drop at or after the read began: the read may predate the change.
            Some(known) if known.seats.is_none() && known.read_at >= map.read_at => {}
            // A newer read landed first (an entry from the future, after
            // the clock stepped back, is not newer).
            Some(known) if known.read_at > map.read_at && known.read_at <= landed => {}
            _ => {
                maps.insert(schedule, map);
            }
        }
    }

    fn forget(&self, schedule: ScheduleId, concert: ConcertId, now: Timestamp) {
        if let Ok(mut maps) = self.maps.write() {
            maps.insert(
                schedule,
                SeatMap {
                    concert,
                    seats: None,
                    read_at: now,
                },
            );
        }
    }

    fn forget_concert(&self, concert: ConcertId, now: Timestamp) {
        if let Ok(mut drops) = self.concert_drops.write() {
            drops.insert(concert, now);
        }
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
            seats: Some(seats.clone()),
            read_at: now,
        };
        self.seat_maps.keep(schedule, map, self.now(), max_age_ms);
        Ok(seats)
    }

    /// A change this instance made to `schedule`'s seats (of `concert`):
    /// its map is read again on the next look, and a read that began
    /// before the change is not kept.
    pub(super) fn seats_changed(&self, concert: ConcertId, schedule: ScheduleId) {
        self.seat_maps.forget(schedule, concert, self.now());
    }

    /// A change this instance made to seats of `concert`, dates unknown.
    pub(super) fn concert_seats_changed(&self, concert: ConcertId) {
        self.seat_maps.forget_concert(concert, self.now());
    }
}

#[cfg(test)]
mod tests {
    use super::{SeatMap, SeatMaps};
    use crate::domain::seat::SeatStatus;
    use crate::domain::{ConcertId, ScheduleId, SeatNumber, Timestamp, Won};
    use crate::testing::{TestApp, user};
    use std::sync::Arc;

    #[test]
    fn a_read_that_began_before_a_change_made_here_is_not_kept() {
        let maps = SeatMaps::default();
        let concert = ConcertId::new(1).unwrap();
        let (date, other) = (ScheduleId::new(1).unwrap(), ScheduleId::new(2).unwrap());
        let at = Timestamp::from_millis;
        let read = |read_at| SeatMap {
            concert,
            seats: Some(Arc::new(Vec::new())),
            read_at: at(read_at),
        };
        // A read begins at 100, a hold made here at 120 drops the map, the
        // read lands at 130: it may predate the hold, so it is not kept.
        maps.forget(date, concert, at(120));
        maps.keep(date, read(100), at(130), 250);
        assert!(maps.fresh(date, at(140), 250).is_none());
        // Nor is one that began in the same millisecond as the drop.
        maps.forget(date, concert, at(125));
        maps.keep(date, read(125), at(135), 250);
        assert!(maps.fresh(date, at(140), 250).is_none());
        // One that began after the drop is.
        maps.keep(date, read(126), at(135), 250);
        assert!(maps.fresh(date, at(140), 250).is_some());
        assert!(maps.fresh(date, at(376), 250).is_none(), "past its age");
        // The same after a release, which drops the whole concert.
        maps.forget_concert(concert, at(200));
        maps.keep(other, read(190), at(210), 250);
        assert!(maps.fresh(other, at(220), 250).is_none());
        // A map from the future (the clock stepped back) is never fresh,
        // and gives way to a read that lands.
        maps.keep(other, read(10_000), at(10_001), 250);
        assert!(maps.fresh(other, at(320), 250).is_none());
        maps.keep(other, read(300), at(310), 250);
        assert!(maps.fresh(other, at(320), 250).is_some());
    }

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
