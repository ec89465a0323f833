//! Calling off a concert, or one of its dates (admin), and the refund round
//! that pays every fan of a called-off date back in full.
//!
//! Calling off is one transaction: the dates are marked cancelled and their
//! live holds released, so nothing more is sold on them. The refunds come
//! after, a batch at a time, on every instance's refund round: each is the
//! fan's own cancellation path ([`crate::ports::Booking::cancel_reservation`])
//! with the organiser's terms, so each reservation is refunded once however
//! many rounds, instances or fans race for it, and a crash between two
//! refunds leaves the rest to the next round (decision 0019).

use super::change_room::RoomPatch;
use super::list_concerts::CONCERTS_KEY;
use super::list_schedules::schedules_key;
use super::{App, ChangeRoomError};
use crate::domain::cancellation::{CancelAttempt, CancelRefused, Canceller};
use crate::domain::room::RoomState;
use crate::domain::{ConcertId, ScheduleId};
use crate::ports::{CancelDatesOutcome, CancelOutcome};
use std::collections::BTreeSet;

/// What calling off came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalledOff {
    /// The dates this call cancelled; none when each was already.
    pub called_off: Vec<ScheduleId>,
    /// Live holds on them, released.
    pub released_holds: u64,
    /// Whether the concert's room is closed now (only a whole concert's is).
    pub room_closed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CallOffError {
    #[error("no such concert")]
    ConcertNotFound,
    #[error("schedule {0} is not one of the concert's dates")]
    ScheduleNotFound(ScheduleId),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl App {
    /// Calls off `only` of the concert's dates, or all of them; calling a
    /// date off again changes nothing. A whole concert's room is closed
    /// too, so that the line stops and fans in it are told.
    pub async fn call_off(
        &self,
        concert: ConcertId,
        only: Option<ScheduleId>,
    ) -> Result<CalledOff, CallOffError> {
        let (called_off, released_holds) =
            match self.store().cancel_dates(concert, only, self.now()).await? {
                CancelDatesOutcome::Cancelled {
                    called_off,
                    released_holds,
                } => (called_off, released_holds),
                CancelDatesOutcome::NotFound => return Err(CallOffError::ConcertNotFound),
                CancelDatesOutcome::ScheduleNotFound(id) => {
                    return Err(CallOffError::ScheduleNotFound(id));
                }
            };
        self.concert_seats_changed(concert);
        let mut stale = vec![CONCERTS_KEY.to_owned(), schedules_key(concert)];
        stale.extend(called_off.iter().map(|id| format!("schedule:{id}")));
        self.invalidate(&stale).await;
        if !called_off.is_empty() {
            tracing::info!(concert = %concert, dates = ?called_off, released_holds, "dates called off; their reservations are refunded by the refund round");
        }
        let room_closed = only.is_none() && self.close_room(concert).await?;
        Ok(CalledOff {
            called_off,
            released_holds,
            room_closed,
        })
    }

    /// Closes the room unless it is closed already; false when the room
    /// cannot close from where it is, which is logged.
    async fn close_room(&self, concert: ConcertId) -> anyhow::Result<bool> {
        let patch = RoomPatch {
            state: Some(RoomState::Closed),
            ..RoomPatch::default()
        };
        match self.change_room(concert, &patch).await {
            Ok(room) => Ok(room.state == RoomState::Closed),
            Err(ChangeRoomError::Unexpected(err)) => Err(err),
            Err(refused) => {
                tracing::warn!(concert = %concert, error = %refused, "a called-off concert's room did not close");
                Ok(false)
            }
        }
    }

    /// One refund round: refunds up to `limit` reservations of called-off
    /// dates in full to their fans' balances; returns how many it refunded.
    /// One a fan or another instance refunded first is passed over.
    pub async fn refund_called_off_once(&self, limit: u32) -> anyhow::Result<u64> {
        let due = self.booking().reservations_to_refund(limit).await?;
        let mut refunded = 0;
        let mut concerts = BTreeSet::new();
        for reservation in due {
            let attempt = CancelAttempt {
                user_id: reservation.user_id,
                by: Canceller::Organiser,
                reservation_id: reservation.id,
                now: self.now(),
                event_id: self.new_event_id(),
                policy: self.policies.cancellation,
            };
            match self.booking().cancel_reservation(&attempt, None).await? {
                CancelOutcome::Cancelled(_) => {
                    refunded += 1;
                    concerts.insert(reservation.concert_id);
                }
                CancelOutcome::Refused(CancelRefused::AlreadyCancelled) => {}
                CancelOutcome::Refused(other) => {
                    anyhow::bail!(
                        "reservation {} of a called-off date was not refunded: {other:?}",
                        reservation.id
                    );
                }
            }
        }
        for concert in &concerts {
            self.concert_seats_changed(*concert);
        }
        let stale: Vec<String> = concerts.iter().map(|c| schedules_key(*c)).collect();
        self.invalidate(&stale).await;
        Ok(refunded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SeatNumber;
    use crate::domain::seat::SeatStatus;
    use crate::ports::Clock;
    use crate::ports::PaymentRefused;
    use crate::testing::{TestApp, user};
    use crate::use_cases::{HoldSeatError, PayError};

    #[tokio::test]
    async fn calling_off_a_concert_refunds_every_fan_in_full_once_and_sells_nothing_more() {
        let t = TestApp::new().await;
        let first = t.buy_seat(user(1), 4).await;
        let second = t.buy_seat(user(2), 5).await;
        // A day before the show, past the service's deadline: a fan's own
        // cancellation would be refused; the organiser's refunds in full.
        let starts_at = t.starts_at().await;
        t.advance_to(starts_at.minus_secs(3_600));
        let token = t.active_token(user(3)).await;
        let held = t
            .app
            .hold_seat(user(3), token, t.schedule, SeatNumber::new(6).unwrap())
            .await
            .unwrap();
        let balances = [
            t.app.show_balance(user(1)).await.unwrap(),
            t.app.show_balance(user(2)).await.unwrap(),
        ];

        let called = t.app.call_off(t.concert, None).await.unwrap();
        assert_eq!(called.called_off.first(), Some(&t.schedule));
        assert_eq!(
            called.called_off.len(),
            t.store
                .schedules_with_availability(t.concert, t.clock.now())
                .await
                .unwrap()
                .len(),
            "every date of the concert"
        );
        assert_eq!(called.released_holds, 1);
        assert!(called.room_closed);
        assert_eq!(
            t.seat_status(6).await,
            SeatStatus::Available,
            "the released hold's seat"
        );
        assert!(matches!(
            t.app.pay_for_hold(user(3), held.id, None).await,
            Err(PayError::Refused(PaymentRefused::HoldExpired))
        ));

        assert_eq!(t.app.refund_called_off_once(1).await.unwrap(), 1);
        assert_eq!(t.app.refund_called_off_once(10).await.unwrap(), 1);
        assert_eq!(t.app.refund_called_off_once(10).await.unwrap(), 0);
        for (fan, (receipt, before)) in [(1, (&first, balances[0])), (2, (&second, balances[1]))] {
            assert_eq!(
                t.app.show_balance(user(fan)).await.unwrap(),
                before.checked_add(receipt.price).unwrap(),
                "fan {fan} gets the whole price back"
            );
            let listed = t.app.list_reservations(user(fan)).await.unwrap();
            assert_eq!(listed[0].reservation.status(), "CANCELLED");
        }
        let again = t.app.call_off(t.concert, None).await.unwrap();
        assert!(again.called_off.is_empty() && again.released_holds == 0);
        assert_eq!(t.app.refund_called_off_once(10).await.unwrap(), 0);
        let report = t.app.check_invariants().await.unwrap();
        assert!(report.violations.is_empty(), "{:?}", report.violations);
        assert_eq!(
            report.store.money.refunded,
            first.price.checked_add(second.price).unwrap(),
            "each fan refunded exactly once"
        );
    }

    #[tokio::test]
    async fn a_called_off_date_takes_no_hold() {
        let t = TestApp::new().await;
        let token = t.active_token(user(1)).await;
        t.app.call_off(t.concert, Some(t.schedule)).await.unwrap();
        let err = t
            .app
            .hold_seat(user(1), token, t.schedule, SeatNumber::new(1).unwrap())
            .await
            .unwrap_err();
        assert!(matches!(err, HoldSeatError::DateCalledOff), "{err:?}");
    }

    #[tokio::test]
    async fn an_unknown_concert_or_date_is_refused_and_changes_nothing() {
        let t = TestApp::new().await;
        let unknown = ConcertId::new(9_999).unwrap();
        assert!(matches!(
            t.app.call_off(unknown, None).await,
            Err(CallOffError::ConcertNotFound)
        ));
        let stranger = ScheduleId::new(9_999).unwrap();
        assert!(matches!(
            t.app.call_off(t.concert, Some(stranger)).await,
            Err(CallOffError::ScheduleNotFound(id)) if id == stranger
        ));
        let token = t.active_token(user(1)).await;
        t.app
            .hold_seat(user(1), token, t.schedule, SeatNumber::new(1).unwrap())
            .await
            .unwrap();
    }
}
