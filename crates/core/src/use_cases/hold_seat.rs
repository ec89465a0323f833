//! Holding a seat for `holds.ttl_secs`, for an ACTIVE token holder.

use super::list_schedules::schedules_key;
use super::{AccessDenied, App};
use crate::domain::seat_hold::Hold;
use crate::domain::{ScheduleId, SeatNumber, TokenId};
use crate::ports::{HoldAttempt, HoldOutcome};

#[derive(Debug, thiserror::Error)]
pub enum HoldSeatError {
    #[error("queue token refused: {0:?}")]
    Access(AccessDenied),
    #[error("no such schedule")]
    ScheduleNotFound,
    #[error("no such seat")]
    SeatNotFound,
    #[error("the seat is held by someone else")]
    SeatAlreadyHeld,
    #[error("the seat is sold")]
    SeatAlreadySold,
    #[error("the hold limit is reached")]
    HoldLimitReached,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl App {
    pub async fn hold_seat(
        &self,
        token: TokenId,
        schedule: ScheduleId,
        seat: SeatNumber,
    ) -> Result<Hold, HoldSeatError> {
        let holder = self
            .require_active(token)
            .await?
            .map_err(HoldSeatError::Access)?;
        let Some(found) = self.find_schedule(schedule).await? else {
            return Err(HoldSeatError::ScheduleNotFound);
        };
        if found.concert_id != holder.concert_id {
            return Err(HoldSeatError::Access(AccessDenied::WrongConcert));
        }
        let now = self.now();
        let attempt = HoldAttempt {
            hold_id: self.new_hold_id(),
            user_id: holder.user_id,
            schedule_id: schedule,
            seat_number: seat,
            now,
            expires_at: self.policies.holds.expires_at(now),
            max_live_holds: self.policies.holds.max_per_user,
        };
        match self.store().hold_seat(&attempt).await? {
            HoldOutcome::Held(hold) => {
                self.invalidate(&[schedules_key(hold.concert_id)]).await;
                Ok(hold)
            }
            HoldOutcome::SeatTaken => Err(HoldSeatError::SeatAlreadyHeld),
            HoldOutcome::SeatSold => Err(HoldSeatError::SeatAlreadySold),
            HoldOutcome::NoSuchSeat => Err(HoldSeatError::SeatNotFound),
            HoldOutcome::LimitReached => Err(HoldSeatError::HoldLimitReached),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::seat::SeatStatus;
    use crate::ports::Clock;
    use crate::testing::{TestApp, user};

    fn seat(n: i64) -> SeatNumber {
        SeatNumber::new(n).unwrap()
    }

    #[tokio::test]
    async fn holding_a_seat_someone_else_holds_is_refused() {
        let t = TestApp::new().await;
        let a = t.active_token(user(1)).await;
        let b = t.active_token(user(2)).await;
        let hold = t.app.hold_seat(a, t.schedule, seat(7)).await.unwrap();
        assert_eq!(hold.user_id, user(1));
        let err = t.app.hold_seat(b, t.schedule, seat(7)).await.unwrap_err();
        assert!(matches!(err, HoldSeatError::SeatAlreadyHeld));
    }

    #[tokio::test]
    async fn one_live_hold_per_user_by_default() {
        let t = TestApp::new().await;
        let a = t.active_token(user(1)).await;
        t.app.hold_seat(a, t.schedule, seat(1)).await.unwrap();
        let err = t.app.hold_seat(a, t.schedule, seat(2)).await.unwrap_err();
        assert!(matches!(err, HoldSeatError::HoldLimitReached));
    }

    #[tokio::test]
    async fn an_expired_hold_frees_the_seat_at_once() {
        let t = TestApp::new().await;
        let a = t.active_token(user(1)).await;
        let b = t.active_token(user(2)).await;
        t.app.hold_seat(a, t.schedule, seat(9)).await.unwrap();
        t.clock.advance_secs(t.app.policies().holds.ttl_secs);
        let seats = t.app.list_seats(b, t.schedule).await.unwrap();
        assert_eq!(seats[8].status, SeatStatus::Available);
        t.app.hold_seat(b, t.schedule, seat(9)).await.unwrap();
    }

    #[tokio::test]
    async fn unknown_schedules_are_not_found_and_other_concerts_refused() {
        let t = TestApp::new().await;
        let a = t.active_token(user(1)).await;
        let other = t.second_concert().await;
        let other_date = t
            .store
            .schedules_with_availability(other, t.clock.now())
            .await
            .unwrap()[0]
            .schedule
            .id;
        let err = t.app.hold_seat(a, other_date, seat(1)).await.unwrap_err();
        assert!(matches!(
            err,
            HoldSeatError::Access(AccessDenied::WrongConcert)
        ));
        let err = t
            .app
            .hold_seat(a, crate::testing::schedule_id(999), seat(1))
            .await
            .unwrap_err();
        assert!(matches!(err, HoldSeatError::ScheduleNotFound));
    }
}
