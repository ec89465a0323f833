//! Letting a hold go before it expires, so the seat returns at once.

use super::App;
use super::list_schedules::schedules_key;
use crate::domain::{HoldId, UserId};
use crate::ports::ReleaseOutcome;

#[derive(Debug, thiserror::Error)]
pub enum ReleaseHoldError {
    #[error("no such hold")]
    HoldNotFound,
    #[error("the hold belongs to someone else")]
    NotYourHold,
    #[error("the hold is paid, released or expired")]
    HoldNotLive,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl App {
    /// Lets `user`'s hold go. Only the holder may, and needs no queue
    /// token for it: a fan whose token was lost can still give the seat back.
    pub async fn release_hold(&self, user: UserId, hold: HoldId) -> Result<(), ReleaseHoldError> {
        match self.booking().release_hold(user, hold, self.now()).await? {
            ReleaseOutcome::Released(concert) => {
                self.concert_seats_changed(concert);
                self.invalidate(&[schedules_key(concert)]).await;
                self.offer_after_release().await;
                Ok(())
            }
            ReleaseOutcome::NotFound => Err(ReleaseHoldError::HoldNotFound),
            ReleaseOutcome::NotYours => Err(ReleaseHoldError::NotYourHold),
            ReleaseOutcome::NotLive => Err(ReleaseHoldError::HoldNotLive),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SeatNumber;
    use crate::testing::{TestApp, user};

    #[tokio::test]
    async fn a_released_seat_can_be_held_by_the_next_buyer() {
        let t = TestApp::new().await;
        let a = t.active_token(user(1)).await;
        let b = t.active_token(user(2)).await;
        let seat = SeatNumber::new(5).unwrap();
        let hold = t.app.hold_seat(user(1), a, t.schedule, seat).await.unwrap();
        let err = t.app.release_hold(user(2), hold.id).await.unwrap_err();
        assert!(matches!(err, ReleaseHoldError::NotYourHold));
        t.app.release_hold(user(1), hold.id).await.unwrap();
        let err = t.app.release_hold(user(1), hold.id).await.unwrap_err();
        assert!(matches!(err, ReleaseHoldError::HoldNotLive));
        t.app.hold_seat(user(2), b, t.schedule, seat).await.unwrap();
    }
}
