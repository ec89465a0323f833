//! Holding a basket of seats of one date for `holds.ttl_secs`, for an
//! ACTIVE token holder: all of them or none.

use super::list_schedules::schedules_key;
use super::{AccessDenied, App};
use crate::domain::access::QueueCredential;
use crate::domain::seat_hold::{BasketRefusal, Hold, HoldLimitReached};
use crate::domain::{ScheduleId, SeatNumber, UserId};
use crate::ports::{HoldAttempt, HoldOutcome};

#[derive(Debug, thiserror::Error)]
pub enum HoldSeatError {
    #[error("queue token refused: {0:?}")]
    Access(AccessDenied),
    #[error("no such schedule")]
    ScheduleNotFound,
    #[error("the date is called off")]
    DateCalledOff,
    #[error("the seats do not make a basket: {0:?}")]
    Basket(BasketRefusal),
    #[error("no such seat")]
    SeatNotFound,
    #[error("the seat is held by someone else")]
    SeatAlreadyHeld,
    #[error("the seat is sold")]
    SeatAlreadySold,
    #[error("a hold limit is reached: {0:?}")]
    HoldLimitReached(HoldLimitReached),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl App {
    /// Holds `seat` for `user`: [`App::hold_seats`] with a basket of one.
    pub async fn hold_seat(
        &self,
        user: UserId,
        credential: QueueCredential,
        schedule: ScheduleId,
        seat: SeatNumber,
    ) -> Result<Hold, HoldSeatError> {
        self.hold_seats(user, credential, schedule, &[seat]).await
    }

    /// Holds `seats` together for `user`, who must be the fan `credential`
    /// was issued to, ACTIVE for the schedule's concert (asked of the
    /// waiting room even with a pass). The seats must make a basket under
    /// `holds.max_seats_per_order`.
    pub async fn hold_seats(
        &self,
        user: UserId,
        credential: QueueCredential,
        schedule: ScheduleId,
        seats: &[SeatNumber],
    ) -> Result<Hold, HoldSeatError> {
        let basket = self
            .policies
            .holds
            .basket(seats)
            .map_err(HoldSeatError::Basket)?;
        let holder = self
            .require_active(user, &credential, true)
            .await?
            .map_err(HoldSeatError::Access)?;
        let Some(found) = self.find_schedule(schedule).await? else {
            return Err(HoldSeatError::ScheduleNotFound);
        };
        if found.concert_id != holder.concert {
            return Err(HoldSeatError::Access(AccessDenied::WrongConcert));
        }
        if found.cancelled_at.is_some() {
            return Err(HoldSeatError::DateCalledOff);
        }
        let now = self.now();
        let attempt = HoldAttempt {
            hold_id: self.new_hold_id(),
            user_id: holder.user,
            schedule_id: schedule,
            seats: basket,
            now,
            expires_at: self.policies.holds.expires_at(now),
            limits: self.policies.holds.limits_at(now),
        };
        match self.booking().hold_seat(&attempt).await? {
            HoldOutcome::Held(hold) => {
                self.seats_changed(hold.concert_id, hold.schedule_id);
                self.invalidate(&[schedules_key(hold.concert_id)]).await;
                Ok(hold)
            }
            HoldOutcome::SeatTaken => Err(HoldSeatError::SeatAlreadyHeld),
            HoldOutcome::SeatSold => Err(HoldSeatError::SeatAlreadySold),
            HoldOutcome::NoSuchSeat => Err(HoldSeatError::SeatNotFound),
            HoldOutcome::LimitReached(limit) => Err(HoldSeatError::HoldLimitReached(limit)),
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
        let hold = t
            .app
            .hold_seat(user(1), a, t.schedule, seat(7))
            .await
            .unwrap();
        assert_eq!(hold.user_id, user(1));
        let err = t
            .app
            .hold_seat(user(2), b, t.schedule, seat(7))
            .await
            .unwrap_err();
        assert!(matches!(err, HoldSeatError::SeatAlreadyHeld));
    }

    #[tokio::test]
    async fn one_live_hold_per_user_by_default() {
        let t = TestApp::new().await;
        let a = t.active_token(user(1)).await;
        t.app
            .hold_seat(user(1), a, t.schedule, seat(1))
            .await
            .unwrap();
        let err = t
            .app
            .hold_seat(user(1), a, t.schedule, seat(2))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            HoldSeatError::HoldLimitReached(HoldLimitReached::Live)
        ));
    }

    #[tokio::test]
    async fn another_fans_credential_holds_nothing() {
        let t = TestApp::new().await;
        let theirs = t.active_token(user(1)).await;
        let err = t
            .app
            .hold_seat(user(2), theirs, t.schedule, seat(3))
            .await
            .unwrap_err();
        assert!(matches!(err, HoldSeatError::Access(AccessDenied::NotYours)));
        let pass = t.active_pass(user(1)).await;
        let err = t
            .app
            .hold_seat(user(2), pass, t.schedule, seat(3))
            .await
            .unwrap_err();
        assert!(matches!(err, HoldSeatError::Access(AccessDenied::NotYours)));
    }

    #[tokio::test]
    async fn a_pass_whose_admission_ended_elsewhere_holds_nothing_even_before_the_feed_says_so() {
        let t = TestApp::new().await;
        let other = t.twin();
        let pass = t.active_pass(user(1)).await;
        other.refresh_revocations_once().await.unwrap();
        t.app.revoke_admission(t.concert, user(1)).await.unwrap();
        // The other instance has not read the feed: browsing still trusts
        // the pass, a hold asks the waiting room.
        assert!(other.list_seats(user(1), pass, t.schedule).await.is_ok());
        let err = other
            .hold_seat(user(1), pass, t.schedule, seat(3))
            .await
            .unwrap_err();
        assert!(matches!(err, HoldSeatError::Access(AccessDenied::Expired)));
    }

    #[tokio::test]
    async fn a_fan_who_lets_holds_lapse_again_and_again_is_stopped() {
        let t = TestApp::new().await;
        let a = t.active_token(user(1)).await;
        let max = t.app.policies().holds.max_lapsed;
        for _ in 0..max {
            let hold = t
                .app
                .hold_seat(user(1), a, t.schedule, seat(4))
                .await
                .unwrap();
            t.app.release_hold(user(1), hold.id).await.unwrap();
        }
        let err = t
            .app
            .hold_seat(user(1), a, t.schedule, seat(4))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            HoldSeatError::HoldLimitReached(HoldLimitReached::Lapsed)
        ));
        // Someone else takes the seat meanwhile.
        let b = t.active_token(user(2)).await;
        t.app
            .hold_seat(user(2), b, t.schedule, seat(4))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_expired_hold_frees_the_seat_at_once() {
        let t = TestApp::new().await;
        let a = t.active_token(user(1)).await;
        let b = t.active_token(user(2)).await;
        t.app
            .hold_seat(user(1), a, t.schedule, seat(9))
            .await
            .unwrap();
        t.clock.advance_secs(t.app.policies().holds.ttl_secs);
        let seats = t.app.list_seats(user(2), b, t.schedule).await.unwrap();
        assert_eq!(seats[8].status, SeatStatus::Available);
        t.app
            .hold_seat(user(2), b, t.schedule, seat(9))
            .await
            .unwrap();
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
        let err = t
            .app
            .hold_seat(user(1), a, other_date, seat(1))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            HoldSeatError::Access(AccessDenied::WrongConcert)
        ));
        let err = t
            .app
            .hold_seat(user(1), a, crate::testing::schedule_id(999), seat(1))
            .await
            .unwrap_err();
        assert!(matches!(err, HoldSeatError::ScheduleNotFound));
    }
}
