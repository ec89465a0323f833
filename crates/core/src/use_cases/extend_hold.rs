//! Keeping a hold a little longer, once (`holds.extend_secs`, never past
//! `holds.max_total_secs` from when it was taken), and listing the holds a
//! fan has.

use super::App;
use crate::domain::seat_hold::{ExtendRefusal, Hold};
use crate::domain::{HoldId, UserId};
use crate::ports::ExtendOutcome;

#[derive(Debug, thiserror::Error)]
pub enum ExtendHoldError {
    #[error("no such hold")]
    HoldNotFound,
    #[error("the hold belongs to someone else")]
    NotYourHold,
    #[error("the hold is paid, released or expired")]
    HoldNotLive,
    #[error("the hold was extended already")]
    AlreadyExtended,
    #[error("the hold already lasts as long as a hold may")]
    AtMaximum,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl App {
    /// Extends `user`'s live hold once. Only the holder may, and needs no
    /// queue token for it, as for a release.
    pub async fn extend_hold(&self, user: UserId, hold: HoldId) -> Result<Hold, ExtendHoldError> {
        let extension = self.policies.holds.extension();
        match self
            .booking()
            .extend_hold(user, hold, self.now(), extension)
            .await?
        {
            ExtendOutcome::Extended(hold) => Ok(hold),
            ExtendOutcome::NotFound => Err(ExtendHoldError::HoldNotFound),
            ExtendOutcome::Refused(refusal) => Err(match refusal {
                ExtendRefusal::NotYourHold => ExtendHoldError::NotYourHold,
                ExtendRefusal::NotLive => ExtendHoldError::HoldNotLive,
                ExtendRefusal::AlreadyExtended => ExtendHoldError::AlreadyExtended,
                ExtendRefusal::AtMaximum => ExtendHoldError::AtMaximum,
            }),
        }
    }

    /// The user's live holds, newest first.
    pub async fn live_holds(&self, user: UserId) -> anyhow::Result<Vec<Hold>> {
        self.booking().live_holds_of(user, self.now()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SeatNumber;
    use crate::domain::seat::SeatStatus;
    use crate::ports::Clock;
    use crate::testing::{TestApp, user};

    #[tokio::test]
    async fn an_extended_hold_keeps_its_seat_past_its_first_expiry_and_is_listed_until_it_ends() {
        let t = TestApp::new().await;
        let a = t.active_token(user(1)).await;
        let seat = SeatNumber::new(6).unwrap();
        let hold = t.app.hold_seat(user(1), a, t.schedule, seat).await.unwrap();
        assert_eq!(t.app.live_holds(user(1)).await.unwrap(), vec![hold.clone()]);
        assert!(t.app.live_holds(user(2)).await.unwrap().is_empty());
        let err = t.app.extend_hold(user(2), hold.id).await.unwrap_err();
        assert!(matches!(err, ExtendHoldError::NotYourHold), "{err:?}");

        t.clock.advance_secs(200);
        let extended = t.app.extend_hold(user(1), hold.id).await.unwrap();
        // Defaults: 120 s more, at most 600 s in all.
        assert_eq!(extended.expires_at, hold.expires_at.plus_secs(120));
        assert!(extended.extended);
        let err = t.app.extend_hold(user(1), hold.id).await.unwrap_err();
        assert!(matches!(err, ExtendHoldError::AlreadyExtended), "{err:?}");

        // Past the first expiry the seat is still held, and the hold listed.
        t.clock.advance_secs(150);
        t.app.release_expired_holds_once(100).await.unwrap();
        let seats = t.store.seats(t.schedule, t.clock.now()).await.unwrap();
        assert_eq!(seats[5].status, SeatStatus::Held);
        assert_eq!(t.app.live_holds(user(1)).await.unwrap(), vec![extended]);

        t.clock.advance_secs(70);
        assert!(t.app.live_holds(user(1)).await.unwrap().is_empty());
        let err = t.app.extend_hold(user(1), hold.id).await.unwrap_err();
        assert!(matches!(err, ExtendHoldError::HoldNotLive), "{err:?}");
        let err = t
            .app
            .extend_hold(user(1), HoldId::from_uuid(uuid::Uuid::nil()))
            .await
            .unwrap_err();
        assert!(matches!(err, ExtendHoldError::HoldNotFound), "{err:?}");
    }
}
