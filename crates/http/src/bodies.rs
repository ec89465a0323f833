//! Answers made once and sent many times. A date's seat list is the same
//! for every fan who looks at it while this instance serves one seat map
//! of it (`holds.seat_map_max_age_ms`, `boxoffice_core`'s seat maps), so
//! its JSON body is made once per map and shared, rather than serialised
//! again for each fan.

use crate::envelope::Envelope;
use axum::body::Bytes;
use boxoffice_core::domain::ScheduleId;
use boxoffice_core::domain::seat::Seat;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Dates whose body is kept at most; past that, the kept ones are let go.
const MOST_BODIES: usize = 20_000;

/// A body and the seat map it was made from.
type MadeFrom = (Arc<Vec<Seat>>, Bytes);

/// The body last made for each date, with the map it was made from.
#[derive(Debug, Default)]
pub struct SeatBodies(Mutex<HashMap<ScheduleId, MadeFrom>>);

impl SeatBodies {
    /// The envelope of `items(seats)` as JSON: the one made before when
    /// `seats` is the same map (the same allocation, not merely equal
    /// seats), or else a new one, kept for the next look.
    pub(crate) fn body<'s, T: Serialize>(
        &self,
        schedule: ScheduleId,
        seats: &'s Arc<Vec<Seat>>,
        items: impl FnOnce(&'s [Seat]) -> T,
    ) -> Result<Bytes, serde_json::Error> {
        if let Ok(bodies) = self.0.lock()
            && let Some((known, body)) = bodies.get(&schedule)
            && Arc::ptr_eq(known, seats)
        {
            return Ok(body.clone());
        }
        let body = Bytes::from(serde_json::to_vec(&Envelope {
            code: "SUCCESS",
            message: "ok",
            data: items(seats),
        })?);
        if let Ok(mut bodies) = self.0.lock() {
            if bodies.len() >= MOST_BODIES {
                bodies.clear();
            }
            bodies.insert(schedule, (seats.clone(), body.clone()));
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_core::domain::seat::SeatStatus;
    use boxoffice_core::domain::{SeatNumber, Won};

    fn map(status: SeatStatus) -> Arc<Vec<Seat>> {
        Arc::new(vec![Seat {
            number: SeatNumber::new(1).unwrap(),
            grade: "R".into(),
            price: Won::new(1_000),
            status,
        }])
    }

    #[test]
    fn a_body_is_made_once_per_map_and_again_for_a_new_map() {
        let bodies = SeatBodies::default();
        let schedule = ScheduleId::new(1).unwrap();
        let first = map(SeatStatus::Available);
        let made = std::cell::Cell::new(0);
        let items = |seats: &[Seat]| {
            made.set(made.get() + 1);
            seats.iter().map(|s| s.status.as_str()).collect::<Vec<_>>()
        };
        let a = bodies.body(schedule, &first, items).unwrap();
        let b = bodies.body(schedule, &first, items).unwrap();
        assert_eq!((a.clone(), made.get()), (b, 1), "the same map: made once");
        assert_eq!(
            std::str::from_utf8(&a).unwrap(),
            r#"{"code":"SUCCESS","message":"ok","data":["AVAILABLE"]}"#
        );
        // An equal map read again is a new map: its body is made anew.
        let again = map(SeatStatus::Sold);
        let c = bodies.body(schedule, &again, items).unwrap();
        assert_eq!(made.get(), 2);
        assert!(std::str::from_utf8(&c).unwrap().contains("SOLD"));
    }
}
