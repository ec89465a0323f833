//! Letting a hold go before it expires, so the seat returns at once.

use super::list_schedules::schedules_key;
use super::{AccessDenied, App};
use crate::domain::{HoldId, TokenId};
use crate::ports::ReleaseOutcome;

#[derive(Debug, thiserror::Error)]
pub enum ReleaseHoldError {
    #[error("queue token refused: {0:?}")]
    Access(AccessDenied),
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
    pub async fn release_hold(&self, token: TokenId, hold: HoldId) -> Result<(), ReleaseHoldError> {
        let holder = self
            .require_active(token)
            .await?
            .map_err(ReleaseHoldError::Access)?;
        match self
            .store()
            .release_hold(holder.user_id, hold, self.now())
            .await?
        {
            ReleaseOutcome::Released => {
                self.invalidate(&[schedules_key(holder.concert_id)]).await;
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
        let hold = t.app.hold_seat(a, t.schedule, seat).await.unwrap();
        let err = t.app.release_hold(b, hold.id).await.unwrap_err();
        assert!(matches!(err, ReleaseHoldError::NotYourHold));
        t.app.release_hold(a, hold.id).await.unwrap();
        let err = t.app.release_hold(a, hold.id).await.unwrap_err();
        assert!(matches!(err, ReleaseHoldError::HoldNotLive));
        t.app.hold_seat(b, t.schedule, seat).await.unwrap();
    }
}
