//! The user's confirmed reservations, newest first, with the concert and the
//! date each is for, so a buyer can tell them apart.

use super::App;
use crate::domain::concert::{Concert, Schedule};
use crate::domain::reservation::Reservation;
use crate::domain::{ConcertId, ScheduleId, UserId};
use anyhow::Context;
use std::collections::HashMap;

/// A reservation, with its concert and its date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationView {
    pub reservation: Reservation,
    pub concert: Concert,
    pub schedule: Schedule,
}

impl App {
    pub async fn list_reservations(&self, user: UserId) -> anyhow::Result<Vec<ReservationView>> {
        let reservations = self.booking().reservations_of(user).await?;
        let mut concerts: HashMap<ConcertId, Concert> = self
            .list_concerts()
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let mut schedules: HashMap<ScheduleId, Schedule> = HashMap::new();
        let mut views = Vec::with_capacity(reservations.len());
        for reservation in reservations {
            let schedule = match schedules.get(&reservation.schedule_id) {
                Some(known) => known.clone(),
                None => {
                    let found = self
                        .store()
                        .schedule(reservation.schedule_id)
                        .await?
                        .with_context(|| format!("no schedule {}", reservation.schedule_id))?;
                    schedules.insert(found.id, found.clone());
                    found
                }
            };
            // The cached catalog may predate a concert added a moment ago.
            let concert = match concerts.get(&reservation.concert_id) {
                Some(known) => known.clone(),
                None => {
                    let found = self
                        .store()
                        .concert(reservation.concert_id)
                        .await?
                        .with_context(|| format!("no concert {}", reservation.concert_id))?;
                    concerts.insert(found.id, found.clone());
                    found
                }
            };
            views.push(ReservationView {
                reservation,
                concert,
                schedule,
            });
        }
        Ok(views)
    }
}

#[cfg(test)]
mod tests {
    use crate::ports::Clock as _;
    use crate::testing::{TestApp, user};

    #[tokio::test]
    async fn a_reservation_names_its_concert_and_its_date() {
        let t = TestApp::new().await;
        t.buy_seat(user(1), 3).await;
        let views = t.app.list_reservations(user(1)).await.unwrap();
        assert_eq!(views.len(), 1);
        let view = &views[0];
        assert_eq!(view.concert.id, t.concert);
        assert_eq!(view.schedule.id, t.schedule);
        assert_eq!(view.reservation.schedule_id, t.schedule);
        let dates = t
            .store
            .schedules_with_availability(t.concert, t.clock.now())
            .await
            .unwrap();
        assert_eq!(view.schedule.starts_at, dates[0].schedule.starts_at);
        assert_eq!(view.schedule.venue, dates[0].schedule.venue);
        assert!(t.app.list_reservations(user(2)).await.unwrap().is_empty());
    }
}
