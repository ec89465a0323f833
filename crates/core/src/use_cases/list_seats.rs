//! The seats of one date, for ACTIVE token holders of its concert: this
//! instance's map of it, at most `holds.seat_map_max_age_ms` old
//! ([`super::seat_maps`]).

use super::{AccessDenied, App};
use crate::domain::access::QueueCredential;
use crate::domain::seat::Seat;
use crate::domain::{ScheduleId, UserId};

#[derive(Debug, thiserror::Error)]
pub enum ListSeatsError {
    #[error("queue token refused: {0:?}")]
    Access(AccessDenied),
    #[error("no such schedule")]
    ScheduleNotFound,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl App {
    pub async fn list_seats(
        &self,
        user: UserId,
        credential: QueueCredential,
        schedule: ScheduleId,
    ) -> Result<std::sync::Arc<Vec<Seat>>, ListSeatsError> {
        let holder = self
            .require_active(user, &credential, false)
            .await?
            .map_err(ListSeatsError::Access)?;
        let concert = match self.seat_maps.concert_of(schedule) {
            Some(concert) => concert,
            None => {
                let Some(found) = self.find_schedule(schedule).await? else {
                    return Err(ListSeatsError::ScheduleNotFound);
                };
                self.seat_maps.remember_concert(schedule, found.concert_id);
                found.concert_id
            }
        };
        if concert != holder.concert {
            return Err(ListSeatsError::Access(AccessDenied::WrongConcert));
        }
        Ok(self.seat_map(concert, schedule).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::seat::SeatStatus;
    use crate::testing::{TestApp, schedule_id, user};

    #[tokio::test]
    async fn seats_show_holds_and_sales() {
        let t = TestApp::new().await;
        t.buy_seat(user(1), 3).await;
        let token = t.active_token(user(2)).await;
        t.app
            .hold_seat(user(2), token, t.schedule, seat(4))
            .await
            .unwrap();
        let seats = t.app.list_seats(user(2), token, t.schedule).await.unwrap();
        assert_eq!(seats.len(), 50);
        assert_eq!(seats[2].status, SeatStatus::Sold);
        assert_eq!(seats[3].status, SeatStatus::Held);
        assert_eq!(seats[4].status, SeatStatus::Available);
        let err = t
            .app
            .list_seats(user(2), token, schedule_id(999))
            .await
            .unwrap_err();
        assert!(matches!(err, ListSeatsError::ScheduleNotFound));
    }

    fn seat(n: i64) -> crate::domain::SeatNumber {
        crate::domain::SeatNumber::new(n).unwrap()
    }
}
